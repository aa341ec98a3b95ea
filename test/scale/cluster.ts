/**
 * The scale-out scenario (issue 14): producer processes with a `type: nats` backend → a
 * private NATS JetStream server → `vigil ingest` workers → PostgreSQL. Mid-run one ingest
 * worker is killed with SIGKILL (a replacement starts, as a supervisor would start one) and
 * the NATS server is restarted. At the end: every event exactly once in the central table
 * (by id), every chain verifies (`vigil verify`), every worker ends on SIGTERM with status 0.
 *
 * Used by `cluster.test.ts` (small) and `npm run demo:cluster` (larger, with figures).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { run, start } from "../cli/helpers.js";
import { dropTable, POSTGRES, pgQuery, uniqueTable } from "../conformance/sql-servers.js";
import { HMAC_SECRET } from "../integrity/store.js";
import { PrivateNats, uniqueStream } from "../nats/nats-helpers.js";

const PRODUCER = fileURLToPath(new URL("./producer.ts", import.meta.url));

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  readonly producers: number;
  readonly workers: number;
  /** Events per producer. */
  readonly events: number;
  /** Over about this many milliseconds. */
  readonly spreadMs: number;
  /** Progress lines (the demo prints them). */
  readonly log?: (line: string) => void;
}

/** What {@link runCluster} found. */
export interface ClusterResult {
  readonly logged: number;
  readonly rows: number;
  readonly distinct: number;
  readonly missing: number;
  readonly unexpected: number;
  readonly producerExits: readonly (number | null)[];
  readonly workerExits: readonly (number | null)[];
  readonly killedWorkerSignal: NodeJS.Signals | null;
  readonly verifyCode: number | null;
  readonly verifyOutput: string;
  /** From the first producer's start to the last event in the table. */
  readonly elapsedMs: number;
  /** The deepest consumer lag seen (messages not yet acknowledged). */
  readonly maxLag: number;
  /** Producers still running when NATS went down: the restart happened mid-run for them. */
  readonly producersRunningAtRestart: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Runs the scenario; cleans up its NATS server, table and files whatever happens. */
export async function runCluster(options: ClusterOptions): Promise<ClusterResult> {
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), "vigil-cluster-"));
  const nats = await PrivateNats.start();
  const table = uniqueTable("nats_cluster");
  const { stream, subject_prefix } = uniqueStream();
  const durable = "vigil-ingest";
  const signing = `    signing: { enabled: true, algorithm: hmac-sha256, secret_key: "${HMAC_SECRET}", checkpoint_every: 250 }`;
  const nats_keys = `servers: ["${nats.url}"], stream: ${stream}, subject_prefix: ${subject_prefix}`;
  writeFileSync(
    join(dir, "producer.yaml"),
    `vigil:
  core: { application_name: cluster-producer }
  storage:
    backends:
      - { type: nats, ${nats_keys} }
  performance:
    batching: { batch_size: 100, batch_timeout_seconds: 0.2 }
  security:
${signing}
`,
  );
  writeFileSync(
    join(dir, "central.yaml"),
    `vigil:
  core: { application_name: cluster-central }
  storage:
    backends:
      - type: database
        connection: { dialect: postgresql, host: ${POSTGRES.host}, port: ${POSTGRES.port}, database: ${POSTGRES.database}, username: ${POSTGRES.username} }
        table_name: ${table}
  ingest:
    source: { ${nats_keys}, durable: ${durable} }
  security:
${signing}
`,
  );
  const children: ChildProcess[] = [];
  // if this process ends first (a test timeout), take the scenario's processes with it
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    nats.killNow();
  };
  process.once("exit", killAll);
  const startWorker = (n: number) => {
    const child = start(["ingest", "--config", "central.yaml", "--ack-wait", "3", "--batch-size", "200"], {
      cwd: dir,
    });
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      err += s;
      for (const line of s.split("\n")) if (line.trim()) log(`  worker ${n}: ${line}`);
    });
    children.push(child);
    return Object.assign(child, { stderrText: () => err });
  };
  const count = async () =>
    Number((await pgQuery(`SELECT COUNT(*) AS n FROM "${table}"`).catch(() => [{ n: 0 }]))[0]!.n);
  const lag = async () => {
    const nc = await connect({ servers: nats.url, timeout: 1000 });
    try {
      const info = await (await jetstreamManager(nc)).consumers.info(stream, durable);
      return info.num_pending + info.num_ack_pending;
    } finally {
      await nc.close();
    }
  };
  try {
    const workers = Array.from({ length: options.workers }, (_, i) => startWorker(i + 1));
    const started = Date.now();
    const producers = Array.from({ length: options.producers }, (_, i) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          import.meta.resolve("tsx"),
          PRODUCER,
          join(dir, "producer.yaml"),
          join(dir, `ids-${i}.txt`),
          String(options.events),
          String(options.spreadMs),
        ],
        { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
      );
      child.stderr!.setEncoding("utf8").on("data", (s: string) => {
        for (const line of s.split("\n")) if (line.trim()) log(`  producer ${i + 1}: ${line}`);
      });
      children.push(child);
      return child;
    });
    const total = options.producers * options.events;
    log(`${options.producers} producers x ${options.events} events, ${options.workers} ingest workers`);

    // chaos, once a fifth of the events are in the central table
    for (let i = 0; i < 1200 && (await count()) < total / 5; i++) {
      if (producers.every((p) => p.exitCode !== null)) break; // they failed early: the checks below say how
      await sleep(100);
    }
    log(`${await count()} rows: SIGKILL worker 1`);
    const victim = workers[0]!;
    victim.kill("SIGKILL");
    const killed = await exited(victim);
    await sleep(300);
    const producersRunningAtRestart = producers.filter((p) => p.exitCode === null).length;
    log(`restarting NATS (${producersRunningAtRestart} producers running)`);
    await nats.stop();
    await sleep(1500);
    await nats.start();
    log(`NATS back; ${await count()} rows; a replacement worker starts`);
    workers[0] = startWorker(options.workers + 1);

    const producerExits = (await Promise.all(producers.map(exited))).map((e) => e.code);
    log(`producers done (exit ${producerExits.join(", ")})`);
    let maxLag = 0;
    let last = -1;
    let stable = 0;
    for (let i = 0; i < 1200 && producerExits.every((c) => c === 0); i++) {
      const n = await count();
      const l = await lag().catch(() => Number.POSITIVE_INFINITY);
      if (Number.isFinite(l)) maxLag = Math.max(maxLag, l);
      if (n >= total && l === 0) break;
      stable = n === last ? stable + 1 : 0;
      last = n;
      if (stable > 0 && stable % 20 === 0) log(`waiting: ${n} rows, lag ${l}`);
      await sleep(100);
    }
    const elapsedMs = Date.now() - started;
    for (const w of workers) w.kill("SIGTERM");
    const workerExits = (await Promise.all(workers.map(exited))).map((e) => e.code);
    log(`workers stopped (exit ${workerExits.join(", ")})`);

    const logged = new Set<string>();
    for (let i = 0; i < options.producers; i++) {
      const file = join(dir, `ids-${i}.txt`);
      const text = existsSync(file) ? readFileSync(file, "utf8") : ""; // a producer that failed wrote none
      for (const id of text.split("\n")) if (id) logged.add(id);
    }
    const rows = await pgQuery(`SELECT id::text AS id FROM "${table}"`);
    const stored = new Set(rows.map((r) => String(r.id)));
    const verify = await run(["verify", "--config", "central.yaml"], { cwd: dir });
    return {
      logged: logged.size,
      rows: rows.length,
      distinct: stored.size,
      missing: [...logged].filter((id) => !stored.has(id)).length,
      unexpected: [...stored].filter((id) => !logged.has(id)).length,
      producerExits,
      workerExits,
      killedWorkerSignal: killed.signal,
      verifyCode: verify.code,
      verifyOutput: verify.stdout + verify.stderr,
      elapsedMs,
      maxLag,
      producersRunningAtRestart,
    };
  } finally {
    process.off("exit", killAll);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await nats.destroy();
    await dropTable("postgresql", table).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
