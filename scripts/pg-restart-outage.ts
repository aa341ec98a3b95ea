/**
 * Outage check against the real PostgreSQL server: events flow through an
 * {@link AuditEngine} whose only backend is a PostgreSQL `type: database` backend while
 * the server itself is stopped (`pg_ctlcluster … stop -m fast`) and started again.
 * Afterwards every event must be in the table exactly once.
 *
 * Run (as root or the cluster owner, on the machine that runs the server):
 *
 * ```sh
 * node --import tsx scripts/pg-restart-outage.ts [--events 20000] [--seconds 20] \
 *   [--at 8] [--down 5] [--batch 20] [--cluster 15] [--json]
 * ```
 *
 * - `--events` events logged at a steady rate over `--seconds` (default 20,000 over 20 s),
 *   each with its sequence number in `metadata.seq`;
 * - `--at` seconds after the start, the server is stopped; `--down` seconds after the
 *   stop completed, it is started again (defaults 8 and 5);
 * - `--batch` the engine's batch size (default 20; async mode, 50 ms batch timeout);
 * - `--cluster` the PostgreSQL version directory under `/etc/postgresql` (default: the
 *   one whose `main` cluster listens on the port below);
 * - `--json` also prints the result as one JSON line.
 *
 * Connection: `VIGIL_TEST_PG_HOST` (127.0.0.1), `VIGIL_TEST_PG_PORT` (5432),
 * `VIGIL_TEST_PG_DATABASE` (test), `VIGIL_TEST_PG_USER` (postgres) — the same variables as
 * the test suite. The table is `vigil_restart_<pid>_<epoch ms>`, dropped at the end.
 *
 * **This stops the server**: every other client of it is disconnected for the outage, so
 * run it when nothing else (the test suite in particular) uses PostgreSQL. Whatever
 * happens — an error, Ctrl-C, SIGTERM — the script starts the server again before it exits.
 *
 * Exit status: 0 when no event is missing and none is stored twice; 1 when some are;
 * 2 when the run could not be carried out or proved nothing (the server could not be
 * stopped, no outage was observed, the rows could not be read).
 *
 * @module
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs, promisify } from "node:util";
import pg from "pg";
import type { DatabaseBackendConfig, DatabaseConnectionConfig } from "../src/config/types.js";
import { AuditEngine } from "../src/engine.js";
import { ErrorCodes, VigilError } from "../src/errors.js";
import { createSqlBackend, type SqlBackend, SqlWriteError } from "../src/storage/sql/index.js";
import { derivedName } from "../src/storage/sql/schema.js";

const execFileAsync = promisify(execFile);

/** The server under test (same variables and defaults as `test/conformance/sql-servers.ts`). */
const PG = {
  host: process.env.VIGIL_TEST_PG_HOST ?? "127.0.0.1",
  port: Number(process.env.VIGIL_TEST_PG_PORT ?? 5432),
  database: process.env.VIGIL_TEST_PG_DATABASE ?? "test",
  user: process.env.VIGIL_TEST_PG_USER ?? "postgres",
} as const;

/** How long to wait for the buffer to drain, for the server to come back, for close(). */
const SETTLE_MS = 60_000;

/** Command-line settings, checked. */
interface Options {
  readonly events: number;
  readonly seconds: number;
  readonly at: number;
  readonly down: number;
  readonly batch: number;
  readonly cluster: string | undefined;
  readonly json: boolean;
}

function positive(name: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `--${name}: expected a positive ${integer ? "integer" : "number"}, found ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

function parseOptions(argv: readonly string[]): Options {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        events: { type: "string" },
        seconds: { type: "string" },
        at: { type: "string" },
        down: { type: "string" },
        batch: { type: "string" },
        cluster: { type: "string" },
        json: { type: "boolean" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `${(error as Error).message}; expected --events N --seconds S --at S --down S --batch N --cluster VERSION --json`,
    );
  }
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const seconds = positive("seconds", str("seconds"), 20, false);
  const at = positive("at", str("at"), seconds * 0.4, false);
  if (at >= seconds) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `--at: expected a time before the end of logging (--seconds ${seconds}), found ${at}`,
    );
  }
  const cluster = str("cluster");
  if (cluster !== undefined && !/^\d+(\.\d+)?$/.test(cluster)) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `--cluster: expected a PostgreSQL version directory such as 15, found ${JSON.stringify(cluster)}`,
    );
  }
  return {
    events: positive("events", str("events"), 20_000, true),
    seconds,
    at,
    down: positive("down", str("down"), 5, false),
    batch: positive("batch", str("batch"), 20, true),
    cluster,
    json: values.json === true,
  };
}

/**
 * The version directory under `/etc/postgresql` whose `main` cluster serves `port`:
 * the only one there, or the one whose `postgresql.conf` sets that port.
 */
function findClusterVersion(requested: string | undefined, port: number): string {
  const root = "/etc/postgresql";
  const conf = (v: string) => `${root}/${v}/main/postgresql.conf`;
  if (requested !== undefined) {
    if (!existsSync(conf(requested))) {
      throw new VigilError(ErrorCodes.INVALID_ARGUMENT, `--cluster: ${conf(requested)} does not exist`);
    }
    return requested;
  }
  const versions = existsSync(root)
    ? readdirSync(root, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(conf(d.name)))
        .map((d) => d.name)
    : [];
  if (versions.length === 1) return versions[0] as string;
  const onPort = versions.filter((v) => {
    const match = /^\s*port\s*=\s*(\d+)/m.exec(readFileSync(conf(v), "utf8"));
    return Number(match?.[1] ?? 5432) === port;
  });
  if (onPort.length === 1) return onPort[0] as string;
  throw new VigilError(
    ErrorCodes.INVALID_ARGUMENT,
    `cannot tell which PostgreSQL cluster to stop: found ${versions.length === 0 ? "no" : versions.join(", ")} ` +
      `version director${versions.length === 1 ? "y" : "ies"} with a main cluster under ${root}` +
      `${onPort.length > 1 ? `, several on port ${port}` : ""}; pass --cluster VERSION`,
  );
}

/** A fresh connection outside vigil (so a dead server cannot crash the process). */
async function connect(timeoutMs: number): Promise<pg.Client> {
  const client = new pg.Client({ ...PG, connectionTimeoutMillis: timeoutMs });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

/** Whether the server accepts connections and answers a query now. */
async function isAccepting(): Promise<boolean> {
  let client: pg.Client | undefined;
  try {
    client = await connect(1000);
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Polls until the server accepts connections; resolves false after `timeoutMs`. */
async function waitAccepting(timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await isAccepting()) return true;
    if (Date.now() > end) return false;
    await sleep(100);
  }
}

/** Stops and starts one cluster with `pg_ctlcluster`, and always leaves it running. */
class ServerControl {
  readonly version: string;
  #stopIssued = false;

  constructor(version: string) {
    this.version = version;
  }

  #args(action: "start" | "stop"): string[] {
    const args = ["--skip-systemctl-redirect", this.version, "main", action];
    return action === "stop" ? [...args, "-m", "fast"] : args;
  }

  /** The command, for messages. */
  command(action: "start" | "stop"): string {
    return `pg_ctlcluster ${this.#args(action).join(" ")}`;
  }

  async stop(): Promise<void> {
    this.#stopIssued = true;
    await execFileAsync("pg_ctlcluster", this.#args("stop"));
  }

  /** Starts the cluster; "already running" (exit status 2) counts as success. */
  async start(): Promise<void> {
    try {
      await execFileAsync("pg_ctlcluster", this.#args("start"));
    } catch (error) {
      if ((error as { code?: unknown }).code !== 2) throw error;
    }
  }

  /** After a stop was issued: starts the server if it does not answer, and waits for it. */
  async ensureRunning(): Promise<void> {
    if (!this.#stopIssued || (await isAccepting())) return;
    console.error(`PostgreSQL is not answering: ${this.command("start")}`);
    await this.start().catch((error: unknown) =>
      console.error(`  start failed: ${(error as Error).message}`),
    );
    if (!(await waitAccepting(SETTLE_MS))) {
      console.error(
        `!!! PostgreSQL did not come back within ${SETTLE_MS / 1000} s; run: ${this.command("start")}`,
      );
    }
  }

  /** From a signal handler: start the server synchronously if a stop was issued. */
  ensureRunningSync(): void {
    if (!this.#stopIssued) return;
    try {
      execFileSync("pg_ctlcluster", this.#args("start"), { stdio: "ignore" });
    } catch {
      // exit status 2: already running
    }
  }
}

/** When each step of the outage happened, in ms since logging started. */
interface OutageTimes {
  stopIssued?: number;
  stopDone?: number;
  startIssued?: number;
  startDone?: number;
  accepting?: number;
}

/** One look at the backend. */
interface HealthSample {
  readonly t: number;
  readonly healthy: boolean;
  readonly pending: number;
  readonly error: string | undefined;
}

/** Errors the engine reported through `on("error")`. */
interface ErrorTally {
  total: number;
  bufferedBatches: number;
  bufferedEvents: number;
  droppedBatches: number;
  droppedEvents: number;
  other: number;
  readonly samples: string[];
}

/** What the table holds once everything settled. */
interface Verification {
  readonly rows: number;
  readonly distinctIds: number;
  readonly missing: readonly number[];
  readonly duplicated: readonly number[];
  readonly wrongIds: number;
  readonly foreign: number;
}

/** `[1, 2, 3, 7]` → `1–3, 7` (at most `max` ranges). */
function ranges(values: readonly number[], max = 20): string {
  const out: string[] = [];
  for (let i = 0; i < values.length; ) {
    let j = i;
    while (j + 1 < values.length && (values[j + 1] as number) === (values[j] as number) + 1) j++;
    out.push(i === j ? `${values[i]}` : `${values[i]}–${values[j]}`);
    i = j + 1;
  }
  return out.length > max
    ? `${out.slice(0, max).join(", ")}, … (${out.length - max} more ranges)`
    : out.join(", ");
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(Math.max(0, ms), "timeout" as const, { signal: timer.signal }).catch(() => "timeout" as const),
    ]);
  } finally {
    timer.abort();
  }
}

async function dropTable(table: string): Promise<void> {
  const client = await connect(5000);
  try {
    await client.query(`DROP TABLE IF EXISTS "${table}" CASCADE`);
    await client.query(`DROP TABLE IF EXISTS "${derivedName(table, "migrations")}"`);
    await client.query(`DROP FUNCTION IF EXISTS "${derivedName(table, "guard")}"()`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Reads every row back and compares it with what was logged. */
async function verify(table: string, loggedIds: readonly (string | undefined)[]): Promise<Verification> {
  const client = await connect(5000);
  try {
    const { rows } = await client.query<{ id: string; seq: string | null }>(
      `SELECT id, line::jsonb #>> '{metadata,seq}' AS seq FROM "${table}"`,
    );
    const ids = new Set<string>();
    const counts = new Map<number, number>();
    let wrongIds = 0;
    let foreign = 0;
    for (const row of rows) {
      ids.add(row.id);
      const seq = row.seq === null ? Number.NaN : Number(row.seq);
      if (!Number.isInteger(seq) || seq < 0 || seq >= loggedIds.length) {
        foreign++;
        continue;
      }
      counts.set(seq, (counts.get(seq) ?? 0) + 1);
      if (loggedIds[seq] !== undefined && loggedIds[seq] !== row.id) wrongIds++;
    }
    const missing: number[] = [];
    const duplicated: number[] = [];
    for (let seq = 0; seq < loggedIds.length; seq++) {
      const n = counts.get(seq) ?? 0;
      if (n === 0) missing.push(seq);
      else if (n > 1) duplicated.push(seq);
    }
    return { rows: rows.length, distinctIds: ids.size, missing, duplicated, wrongIds, foreign };
  } finally {
    await client.end().catch(() => undefined);
  }
}

const seconds = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const server = new ServerControl(findClusterVersion(options.cluster, PG.port));
  if (!(await isAccepting())) {
    throw new VigilError(
      ErrorCodes.STORAGE,
      `PostgreSQL at ${PG.host}:${PG.port}/${PG.database} does not accept connections before the run; nothing was stopped`,
    );
  }
  const table = `vigil_restart_${process.pid}_${Date.now()}`;
  const connection: DatabaseConnectionConfig = {
    dialect: "postgresql",
    host: PG.host,
    port: PG.port,
    database: PG.database,
    username: PG.user,
  };
  const dbConfig: DatabaseBackendConfig = {
    type: "database",
    name: "postgres",
    enabled: true,
    connection,
    table_name: table,
  };

  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: making sure PostgreSQL runs, then exiting (table ${table} is left behind)`);
    server.ensureRunningSync();
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const warnings: string[] = [];
  const errors: ErrorTally = {
    total: 0,
    bufferedBatches: 0,
    bufferedEvents: 0,
    droppedBatches: 0,
    droppedEvents: 0,
    other: 0,
    samples: [],
  };
  const times: OutageTimes = {};
  const samples: HealthSample[] = [];
  const stopOutage = new AbortController();
  let outage: Promise<void> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let engine: AuditEngine | undefined;
  let t0 = Date.now();
  const now = () => Date.now() - t0;

  try {
    // The backend is built here (as createBackends would) so that the script can read
    // pendingEvents(); the configuration names it disabled only because a configuration
    // needs at least one backend — the engine's one backend is this instance.
    const backend: SqlBackend = createSqlBackend(dbConfig, {
      durability: "batch",
      bufferLimit: Math.max(10_000, options.events),
      retryMaxMs: 2000,
      onWarning: (w) => warnings.push(`t=${seconds(now())} ${w}`),
    });
    engine = new AuditEngine({
      config: {
        core: { application_name: "vigil-restart-outage" },
        storage: { backends: [{ ...dbConfig, enabled: false }] },
        performance: {
          async: { enabled: true },
          batching: { enabled: true, batch_size: options.batch, batch_timeout_seconds: 0.05 },
          durability: "batch",
        },
      },
      backends: [backend],
      env: {},
    });
    engine.on("error", (error) => {
      errors.total++;
      if (error instanceof SqlWriteError) {
        if (error.buffered) {
          errors.bufferedBatches++;
          errors.bufferedEvents += error.events;
        } else {
          errors.droppedBatches++;
          errors.droppedEvents += error.events;
        }
      } else errors.other++;
      const text = error.message.slice(0, 200);
      if (errors.samples.length < 5 && !errors.samples.includes(text)) errors.samples.push(text);
    });
    engine.on("warning", (w) => warnings.push(`t=${seconds(now())} ${w}`));
    await backend.open();
    if (!backend.health().healthy) {
      throw new VigilError(
        ErrorCodes.STORAGE,
        `the backend is unhealthy before the run: ${backend.health().error}`,
      );
    }

    console.log(
      `PostgreSQL restart outage: ${options.events} events over ${options.seconds} s into ` +
        `${PG.host}:${PG.port}/${PG.database} table ${table} (cluster ${server.version}/main); ` +
        `stop at t=${options.at} s, down ${options.down} s`,
    );
    t0 = Date.now();
    sampler = setInterval(() => {
      const h = backend.health();
      samples.push({ t: now(), healthy: h.healthy, pending: backend.pendingEvents(), error: h.error });
    }, 100);

    const signal = stopOutage.signal;
    outage = (async () => {
      await sleep(options.at * 1000, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      times.stopIssued = now();
      console.log(`t=${seconds(times.stopIssued)} ${server.command("stop")}`);
      try {
        await server.stop();
        times.stopDone = now();
        await sleep(options.down * 1000, undefined, { signal }).catch(() => undefined);
      } finally {
        times.startIssued = now();
        console.log(`t=${seconds(times.startIssued)} ${server.command("start")}`);
        await server.start();
        times.startDone = now();
        if (await waitAccepting(SETTLE_MS)) times.accepting = now();
        console.log(
          `t=${seconds(now())} server ${times.accepting === undefined ? "NOT " : ""}accepting connections`,
        );
      }
    })();
    // An outage failure must not go unhandled while logging continues; it is awaited below.
    outage.catch(() => undefined);

    // Log at a steady rate; every event carries its sequence number.
    const loggedIds: (string | undefined)[] = new Array<string | undefined>(options.events).fill(undefined);
    const rate = options.events / options.seconds;
    let seq = 0;
    let nextProgress = 2000;
    while (seq < options.events) {
      const due = Math.min(options.events, Math.floor((now() / 1000) * rate));
      for (; seq < due; seq++) {
        const event = engine.log({
          action: "RESTART_PROBE",
          category: "DATABASE",
          resource: `/probe/${seq}`,
          metadata: { seq, run: table },
        });
        loggedIds[seq] = event?.id;
      }
      if (now() >= nextProgress) {
        nextProgress += 2000;
        const h = backend.health();
        console.log(
          `t=${seconds(now())} logged ${seq}, buffered ${backend.pendingEvents()}, ${h.healthy ? "healthy" : "UNHEALTHY"}`,
        );
      }
      await sleep(5);
    }
    const loggingDone = now();
    await outage;
    if (times.stopDone === undefined) {
      throw new VigilError(ErrorCodes.STORAGE, `the server was not stopped (${server.command("stop")})`);
    }

    // Bounded wait: the engine's queue, then the backend's buffer.
    const deadline = Date.now() + SETTLE_MS;
    if ((await withTimeout(engine.flush(), deadline - Date.now())) === "timeout") {
      console.error(`engine.flush() did not finish within ${SETTLE_MS / 1000} s`);
    }
    while (backend.pendingEvents() > 0 && Date.now() < deadline) await sleep(100);
    const drainedAt = backend.pendingEvents() === 0 ? now() : undefined;
    if (drainedAt === undefined) {
      console.error(
        `${backend.pendingEvents()} events still buffered after ${SETTLE_MS / 1000} s; one last drain()`,
      );
      await backend.drain().catch((e: unknown) => console.error(`  drain() failed: ${(e as Error).message}`));
    }
    clearInterval(sampler);
    sampler = undefined;
    const finalHealth = backend.health();
    const closing = engine.close();
    engine = undefined;
    if ((await withTimeout(closing, SETTLE_MS)) === "timeout") console.error("engine.close() timed out");

    const result = await verify(table, loggedIds);
    const notAccepted = loggedIds.filter((id) => id === undefined).length;

    // Health while the server was away (stop issued → accepting again).
    const outageEnd = times.accepting ?? times.startDone ?? now();
    const during = samples.filter((s) => s.t >= (times.stopIssued ?? 0) && s.t <= outageEnd);
    const firstUnhealthy = samples.find((s) => !s.healthy);
    const healthyAgain =
      firstUnhealthy === undefined ? undefined : samples.find((s) => s.t > firstUnhealthy.t && s.healthy);
    const maxPending = samples.reduce((m, s) => Math.max(m, s.pending), 0);
    const outageSeen = firstUnhealthy !== undefined || errors.bufferedEvents > 0;
    const pass = result.missing.length === 0 && result.duplicated.length === 0 && result.wrongIds === 0;

    const lines = [
      "",
      `PostgreSQL restart outage — ${table}, cluster ${server.version}/main, batches of ${options.batch}, async`,
      `  events logged          ${options.events - notAccepted} of ${options.events} in ${seconds(loggingDone)} (${Math.round(rate)}/s)${notAccepted > 0 ? `; ${notAccepted} refused by log()` : ""}`,
      `  server stopped         stop issued t=${seconds(times.stopIssued)}, done t=${seconds(times.stopDone)}; start issued t=${seconds(times.startIssued)}, accepting t=${seconds(times.accepting)}`,
      `  server down            ${seconds(times.accepting === undefined || times.stopIssued === undefined ? undefined : times.accepting - times.stopIssued)} (stop issued → accepting again; ${seconds(times.accepting === undefined || times.stopDone === undefined ? undefined : times.accepting - times.stopDone)} fully stopped)`,
      `  health during outage   ${during.filter((s) => !s.healthy).length} of ${during.length} samples unhealthy; unhealthy from t=${seconds(firstUnhealthy?.t)} to t=${seconds(healthyAgain?.t)}; at most ${maxPending} events buffered`,
      ...(firstUnhealthy?.error !== undefined
        ? [`                         e.g. "${firstUnhealthy.error.slice(0, 160)}"`]
        : []),
      `  buffer drained         ${drainedAt === undefined ? "NO (after the bounded wait)" : `t=${seconds(drainedAt)}`}; final health ${finalHealth.healthy ? "healthy" : `UNHEALTHY (${finalHealth.error})`}`,
      `  errors reported        ${errors.total}: ${errors.bufferedBatches} batches buffered (${errors.bufferedEvents} events), ${errors.droppedBatches} batches not kept (${errors.droppedEvents} events), ${errors.other} other`,
      ...errors.samples.map((s) => `                         "${s}"`),
      `  rows stored            ${result.rows} (${result.distinctIds} distinct ids${result.foreign > 0 ? `, ${result.foreign} rows without a known sequence number` : ""})`,
      `  missing                ${result.missing.length}${result.missing.length > 0 ? `: seq ${ranges(result.missing)}` : ""}`,
      `  duplicated             ${result.duplicated.length}${result.duplicated.length > 0 ? `: seq ${ranges(result.duplicated)}` : ""}`,
      ...(result.wrongIds > 0 ? [`  rows with another id   ${result.wrongIds}`] : []),
      `  warnings               ${warnings.length}`,
      ...warnings.slice(0, 8).map((w) => `    ${w.slice(0, 200)}`),
    ];
    console.log(lines.join("\n"));
    if (options.json) {
      console.log(
        JSON.stringify({
          table,
          cluster: server.version,
          events: options.events,
          logged: options.events - notAccepted,
          seconds: loggingDone / 1000,
          batchSize: options.batch,
          times,
          downMs:
            times.accepting === undefined || times.stopIssued === undefined
              ? null
              : times.accepting - times.stopIssued,
          unhealthySamplesDuringOutage: during.filter((s) => !s.healthy).length,
          samplesDuringOutage: during.length,
          maxPending,
          drainedAtMs: drainedAt ?? null,
          errors: { ...errors },
          rows: result.rows,
          distinctIds: result.distinctIds,
          missing: result.missing.length,
          duplicated: result.duplicated.length,
          wrongIds: result.wrongIds,
          pass,
        }),
      );
    }
    if (!pass) {
      console.log("RESULT: FAIL — events were lost or written twice");
      return 1;
    }
    if (!outageSeen) {
      console.log("RESULT: INCONCLUSIVE — nothing lost, but the backend never noticed the outage");
      return 2;
    }
    console.log(
      `RESULT: PASS — all ${options.events} events stored exactly once across a ${seconds(
        times.accepting === undefined || times.stopIssued === undefined
          ? undefined
          : times.accepting - times.stopIssued,
      )} server outage`,
    );
    return 0;
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    stopOutage.abort();
    await outage?.catch((e: unknown) => console.error(`outage step failed: ${(e as Error).message}`));
    await server.ensureRunning();
    if (engine !== undefined) {
      await withTimeout(
        engine.close().catch(() => undefined),
        SETTLE_MS,
      );
    }
    await dropTable(table).catch((e: unknown) =>
      console.error(`could not drop table ${table}: ${(e as Error).message}`),
    );
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`pg-restart-outage: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
