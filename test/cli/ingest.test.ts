/**
 * `vigil ingest` as a program: it serves Prometheus metrics, records what it dead-letters as an
 * `INGEST_MESSAGE_REJECTED` event in the central store, ends on SIGTERM with status 0, and
 * refuses a configuration it cannot run with status 2 and one clear line.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { dropTable, POSTGRES, pgQuery, uniqueTable } from "../conformance/sql-servers.js";
import { HMAC_SECRET } from "../integrity/store.js";
import { deleteStream, PrivateNats, SHARED_NATS, uniqueStream } from "../nats/nats-helpers.js";
import { run, start } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "vigil-cli-ingest-"));
const u = uniqueStream();
const table = uniqueTable("nats_cli_ingest");
afterAll(async () => {
  await deleteStream(SHARED_NATS, u.stream);
  await dropTable("postgresql", table);
  rmSync(dir, { recursive: true, force: true });
});

const signing = { enabled: true, algorithm: "hmac-sha256", secret_key: HMAC_SECRET } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A central configuration: PostgreSQL `table`, reading `stream` from `server`. */
function centralYaml(
  table: string,
  server: string,
  stream: { stream: string; subject_prefix: string },
): string {
  return `vigil:
  storage:
    backends:
      - type: database
        connection: { dialect: postgresql, host: ${POSTGRES.host}, port: ${POSTGRES.port}, database: ${POSTGRES.database}, username: ${POSTGRES.username} }
        table_name: ${table}
  ingest:
    source: { servers: ["${server}"], stream: ${stream.stream}, subject_prefix: ${stream.subject_prefix}, durable: cli-${stream.subject_prefix} }
  security:
    signing: { enabled: true, algorithm: hmac-sha256, secret_key: "${HMAC_SECRET}" }
`;
}

/** `vigil ingest --config FILE --metrics-port 0` as a child, with what it printed so far. */
function spawnWorker(file: string) {
  const child = start(["ingest", "--config", file, "--metrics-port", "0"], { cwd: dir });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  let code: number | null | undefined;
  const exit = new Promise<number | null>((resolve) =>
    child.on("exit", (c) => {
      code = c;
      resolve(c);
    }),
  );
  /** Polls `done` every 100 ms for up to 30 s. */
  const until = async (done: () => boolean | Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      if (await done()) return;
      if (code !== undefined) throw new Error(`vigil ingest exited (${code}):\n${stderr}`);
      await sleep(100);
    }
    throw new Error(`vigil ingest: not reached in 30 s:\n${stderr}`);
  };
  return {
    stderr: () => stderr,
    exited: () => code !== undefined,
    until,
    async metricsUrl(): Promise<string> {
      await until(() => /metrics on (http:\/\/\S+)/.test(stderr));
      return /metrics on (http:\/\/\S+)/.exec(stderr)![1]!;
    },
    async stop(): Promise<number | null> {
      child.kill("SIGTERM");
      return exit;
    },
  };
}

describe("vigil ingest", () => {
  it("serves metrics, records a dead-lettered message as an event, and exits 0 on SIGTERM", async () => {
    writeFileSync(join(dir, "central.yaml"), centralYaml(table, SHARED_NATS, u));
    const producer = new AuditEngine({
      config: {
        storage: { backends: [{ type: "nats", servers: [SHARED_NATS], ...u }] },
        security: { signing },
      },
    });
    for (let i = 0; i < 20; i++) producer.log({ action: "LOGIN", category: "AUTH" });
    await producer.close();
    const nc = await connect({ servers: SHARED_NATS });
    await jetstream(nc).publish(`${u.subject_prefix}.events.stray`, "<html>not an event</html>");
    await nc.close();

    const child = start(["ingest", "--config", "central.yaml", "--metrics-port", "0", "--batch-size", "7"], {
      cwd: dir,
    });
    let stderr = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let url: string | undefined;
    for (let i = 0; i < 300 && url === undefined; i++) {
      url = /metrics on (http:\/\/\S+)/.exec(stderr)?.[1];
      await sleep(100);
    }
    expect(url, stderr).toBeDefined();
    let metrics = "";
    for (let i = 0; i < 300; i++) {
      metrics = await (await fetch(url!)).text();
      if (
        /vigil_ingest_events_written_total\{[^}]*\} 20\n/.test(metrics) &&
        /lag_messages\{[^}]*\} 0\n/.test(metrics)
      )
        break;
      await sleep(100);
    }
    expect(metrics).toContain("# TYPE vigil_ingest_lag_messages gauge");
    expect(metrics).toMatch(
      new RegExp(`vigil_ingest_events_written_total\\{durable="cli-${u.subject_prefix}"\\} 20\\n`),
    );
    expect(metrics).toMatch(/vigil_ingest_dead_lettered_total\{[^}]*\} 1\n/);
    expect(metrics).toMatch(/vigil_ingest_backends_up\{[^}]*\} 1\n/);
    child.kill("SIGTERM");
    expect(await exit, stderr).toBe(0);
    expect(stderr).toContain("stopped: 20 event(s)");
    const rejected = await pgQuery(`SELECT id FROM "${table}" WHERE type = 'INGEST_MESSAGE_REJECTED'`);
    expect(rejected.length).toBe(1);
    const verify = await run(["verify", "--config", "central.yaml"], { cwd: dir });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    // the 20 producer events and the worker's own report, each in its chain
    expect(verify.stdout).toMatch(/^OK: 21 events in 2 chains/m);
  }, 60_000);

  it("starts without its NATS server, shows itself unhealthy, consumes once the server comes, exits 0 on SIGTERM", async () => {
    const nats = await PrivateNats.reserve(); // a free port, no server on it yet
    const late = uniqueStream();
    const lateTable = uniqueTable("nats_cli_late");
    try {
      writeFileSync(join(dir, "late.yaml"), centralYaml(lateTable, nats.url, late));
      const worker = spawnWorker("late.yaml");
      const url = await worker.metricsUrl();
      // waiting, unhealthy: said once, and in the metrics
      await worker.until(() => /cannot reach the NATS server/.test(worker.stderr()));
      let metrics = await (await fetch(url)).text();
      expect(metrics).toMatch(/vigil_ingest_source_up\{[^}]*\} 0\n/);
      await worker.until(async () =>
        /vigil_ingest_errors_total\{[^}]*\} (?:[2-9]|\d\d+)\n/.test(await (await fetch(url)).text()),
      );
      expect(worker.stderr().match(/cannot reach the NATS server/g)).toHaveLength(1);
      expect(worker.exited()).toBe(false);

      await nats.start();
      const producer = new AuditEngine({
        config: {
          storage: { backends: [{ type: "nats", servers: [nats.url], ...late }] },
          security: { signing },
        },
      });
      for (let i = 0; i < 10; i++) producer.log({ action: "LOGIN", category: "AUTH" });
      await producer.close();
      await worker.until(async () => {
        metrics = await (await fetch(url)).text();
        return /vigil_ingest_events_written_total\{[^}]*\} 10\n/.test(metrics);
      });
      expect(metrics).toMatch(/vigil_ingest_source_up\{[^}]*\} 1\n/);
      expect(worker.stderr()).toMatch(
        /connected to the NATS server \(nats:\/\/127\.0\.0\.1:\d+\) after \d+ attempts/,
      );
      expect(await worker.stop()).toBe(0);
      const rows = await pgQuery(`SELECT COUNT(*)::int AS n FROM "${lateTable}" WHERE type = 'LOGIN'`);
      expect(rows[0]?.n).toBe(10);
    } finally {
      await nats.destroy();
      await dropTable("postgresql", lateTable);
    }
  }, 90_000);

  it("exits 0 on SIGTERM while it still waits for its NATS server", async () => {
    const nats = await PrivateNats.reserve();
    const waitTable = uniqueTable("nats_cli_wait");
    try {
      writeFileSync(join(dir, "wait.yaml"), centralYaml(waitTable, nats.url, uniqueStream()));
      const worker = spawnWorker("wait.yaml");
      await worker.metricsUrl();
      await worker.until(() => /cannot reach the NATS server/.test(worker.stderr()));
      expect(await worker.stop()).toBe(0);
      expect(worker.stderr()).toContain("stopped: 0 event(s)");
      expect(worker.stderr()).not.toContain("ingesting stream");
    } finally {
      await nats.destroy();
      await dropTable("postgresql", waitTable);
    }
  }, 60_000);

  it("refuses a configuration without vigil.ingest.source: status 2, one line", async () => {
    writeFileSync(join(dir, "plain.yaml"), "vigil:\n  storage:\n    backends:\n      - type: file\n");
    const r = await run(["ingest", "--config", "plain.yaml"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "vigil: vigil ingest: the configuration has no vigil.ingest.source (the stream to read)\n",
    );
  });
});
