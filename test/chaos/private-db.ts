/**
 * Private database servers for outage scenarios: a PostgreSQL cluster and a MariaDB
 * server of the test's own, in a temporary directory on a free port, that a test may stop,
 * kill and start again. The shared servers (PostgreSQL on 5432, MariaDB on 3306) serve
 * everybody else's tests and are never touched.
 *
 * - PostgreSQL: Debian's binaries (`/usr/lib/postgresql/<newest>/bin`), `initdb` as the
 *   `postgres` user (the server refuses to run as root), trust authentication on
 *   127.0.0.1 only, stopped and started with `pg_ctl` (`stop -m fast`, as
 *   `pg_ctlcluster ... stop` does).
 * - MariaDB: `mariadb-install-db` into the directory, `mariadbd --user=root` on its own
 *   port and socket, without grant tables (any user, no password, loopback only), killed
 *   with SIGKILL and started again (InnoDB recovers its log).
 *
 * @module
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { DatabaseConnectionConfig } from "../../src/config/types.js";
import { dropTable, mysqlConnect, pgConnect } from "../conformance/sql-servers.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A server of the test's own. */
export interface PrivateServer {
  readonly connection: DatabaseConnectionConfig;
  /** Starts it (again) and resolves when it accepts connections. */
  start(): Promise<void>;
  /** Stops it: a fast shutdown (PostgreSQL) or SIGKILL (MariaDB). */
  stop(): Promise<void>;
  /** Whether it is running now. */
  readonly running: boolean;
  /** Stops it for good and removes its files. */
  destroy(): Promise<void>;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null) throw new Error("no free port");
  return address.port;
}

/** Resolves once something accepts TCP connections on `port` (or rejects after `timeoutMs`). */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The newest PostgreSQL server binaries Debian installed. */
function postgresBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] === undefined) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return join(root, versions[0], "bin");
}

/** Runs a PostgreSQL tool as the `postgres` user when we are root (as this machine's CI is). */
function asPostgres(tool: string, args: readonly string[]): Promise<unknown> {
  const [file, argv] = postgresCommand(tool, args);
  return run(file, argv);
}

function postgresCommand(tool: string, args: readonly string[]): [string, string[]] {
  const path = join(postgresBin(), tool);
  return userInfo().uid === 0 ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, [...args]];
}

/** A private PostgreSQL cluster (database `postgres`, user `postgres`, trust), started. */
export async function privatePostgres(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-pg-"));
  if (userInfo().uid === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const uid = Number(stdout.trim());
    const { stdout: g } = await run("id", ["-g", "postgres"]);
    chownSync(dir, uid, Number(g.trim()));
  }
  const data = join(dir, "data");
  const port = await freePort();
  await asPostgres("initdb", ["-D", data, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  let running = false;
  // never leave a server behind a test process that died
  const stopNow = () => {
    if (!running) return;
    try {
      execFileSync(...postgresCommand("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]), {
        stdio: "ignore",
      });
    } catch {
      // already gone
    }
  };
  process.once("exit", stopNow);
  const server: PrivateServer = {
    connection: {
      dialect: "postgresql",
      host: "127.0.0.1",
      port,
      database: "postgres",
      username: "postgres",
    },
    get running() {
      return running;
    },
    async start() {
      await asPostgres("pg_ctl", [
        "-D",
        data,
        "-l",
        join(dir, "server.log"),
        "-w",
        "-o",
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=40`,
        "start",
      ]);
      running = true;
    },
    async stop() {
      running = false;
      await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    },
    async destroy() {
      if (running) await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      running = false;
      process.removeListener("exit", stopNow);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** A private MariaDB server (database `test`, any user, no password), started. */
export async function privateMariadb(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-mariadb-"));
  const data = join(dir, "data");
  const port = await freePort();
  const small = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M"];
  await run("mariadb-install-db", [
    "--no-defaults",
    `--datadir=${data}`,
    "--user=root",
    "--auth-root-authentication-method=normal",
    "--skip-test-db",
    ...small,
  ]);
  let child: ChildProcess | undefined;
  const killNow = () => child?.kill("SIGKILL");
  process.once("exit", killNow); // never leave a server behind a test process that died
  const server: PrivateServer = {
    connection: {
      dialect: "mysql",
      host: "127.0.0.1",
      port,
      database: "test",
      username: "root",
      password: "",
    },
    get running() {
      return child !== undefined;
    },
    async start() {
      const proc = spawn(
        "mariadbd",
        [
          "--no-defaults",
          `--datadir=${data}`,
          `--port=${port}`,
          `--socket=${join(dir, "mysqld.sock")}`,
          "--bind-address=127.0.0.1",
          "--user=root",
          "--skip-grant-tables",
          `--pid-file=${join(dir, "mysqld.pid")}`,
          `--log-error=${join(dir, "error.log")}`,
          "--max-connections=60",
          ...small,
        ],
        { stdio: "ignore" },
      );
      child = proc;
      const exited = new Promise<never>((_, reject) =>
        proc.once("exit", (code) =>
          reject(new Error(`mariadbd exited with ${String(code)}; see ${dir}/error.log`)),
        ),
      );
      exited.catch(() => undefined);
      await Promise.race([listening(port, 30_000), exited]);
      const conn = await mysqlConnect({ ...server.connection, database: undefined });
      try {
        await conn.query("CREATE DATABASE IF NOT EXISTS test");
      } finally {
        await conn.end();
      }
    },
    async stop() {
      const proc = child;
      child = undefined;
      if (proc === undefined || proc.exitCode !== null) return;
      const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      proc.kill("SIGKILL");
      await gone;
    },
    async destroy() {
      await server.stop();
      process.removeListener("exit", killNow);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

/** Runs SQL on a private server directly (not through vigil). */
export async function privateQuery(
  connection: DatabaseConnectionConfig,
  text: string,
  values: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  if (connection.dialect === "postgresql") {
    const client = await pgConnect(connection);
    try {
      return (await client.query(text, values)).rows;
    } finally {
      await client.end();
    }
  }
  const conn = await mysqlConnect(connection);
  try {
    const [rows] = await conn.query(text, values);
    return rows as Record<string, unknown>[];
  } finally {
    await conn.end();
  }
}

/** Drops a vigil table and everything created with it on a private server. */
export function dropPrivateTable(connection: DatabaseConnectionConfig, table: string): Promise<void> {
  return dropTable(connection.dialect as "postgresql" | "mysql", table, (text) =>
    privateQuery(connection, text),
  );
}
