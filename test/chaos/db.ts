/**
 * Databases misbehaving (issue 12, item 4): an application logs at a steady rate through
 * the database backend while its database is stopped and started (PostgreSQL, `pg_ctl stop
 * -m fast`), killed and restarted (MariaDB, SIGKILL), reached over a slowed network path (a
 * latency proxy), or while the application's own `pg` pool is exhausted.
 *
 * For each fault: the caller's cost of `log()` (p50/p99 per phase: before, during, after),
 * the largest backlog (`metrics().queue_depth`: the queue plus what a database is still
 * committing or holds for a reconnection) against `queue_size`, heap growth, how long after
 * the fault the backlog was back to normal, and — read back from the real table by id —
 * events lost or doubled against what the application logged minus the drops counted and
 * recorded as `EVENTS_DROPPED`. `logDurable()` probes run throughout: every one that resolved
 * must be in the table.
 *
 * Servers are private (`private-db.ts`): the shared ones are never stopped.
 * Run alone: `npm run chaos db`.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditPg } from "../../src/integrations/pg/index.js";
import { TcpProxy } from "../conformance/tcp-proxy.js";
import {
  dropPrivateTable,
  type PrivateServer,
  privateMariadb,
  privatePostgres,
  privateQuery,
} from "./private-db.js";

export type DbFault = "pg-restart" | "mariadb-kill" | "latency" | "pool-exhausted";
export const DB_FAULTS: readonly DbFault[] = ["pg-restart", "mariadb-kill", "latency", "pool-exhausted"];

/** The private servers a run uses: PostgreSQL for every fault but the MariaDB kill. */
export interface DbServers {
  readonly postgres: PrivateServer;
  readonly mariadb: PrivateServer;
}

/** Starts both private servers; when one fails, the other is destroyed before rejecting. */
export async function startDbServers(): Promise<DbServers> {
  const [postgres, mariadb] = await Promise.allSettled([privatePostgres(), privateMariadb()]);
  if (postgres.status === "fulfilled" && mariadb.status === "fulfilled")
    return { postgres: postgres.value, mariadb: mariadb.value };
  for (const s of [postgres, mariadb]) if (s.status === "fulfilled") await s.value.destroy();
  throw (postgres.status === "rejected" ? postgres : (mariadb as PromiseRejectedResult)).reason;
}

/** Stops both servers for good and removes their files. */
export async function destroyDbServers(servers: DbServers | undefined): Promise<void> {
  await Promise.all([servers?.postgres.destroy(), servers?.mariadb.destroy()]);
}

export interface DbOptions {
  readonly fault: DbFault;
  /** Events per second the application logs. */
  readonly rate: number;
  /** Milliseconds logged before the fault, during it, and after it ends. */
  readonly beforeMs: number;
  readonly faultMs: number;
  readonly afterMs: number;
  readonly queueSize: number;
  /** The latency proxy's delay per chunk, each way, in ms (`latency`). Default 25. */
  readonly delayMs?: number;
}

export interface PhaseFigures {
  readonly phase: "before" | "during" | "after";
  readonly calls: number;
  /** The caller's cost of one `log()`, in microseconds. */
  readonly p50Us: number;
  readonly p99Us: number;
}

export interface DbCell {
  readonly fault: DbFault;
  readonly dialect: "postgresql" | "mysql";
  readonly rate: number;
  readonly queueSize: number;
  readonly phases: readonly PhaseFigures[];
  /** Events `log()` returned (accepted). */
  readonly logged: number;
  /** Events `log()` refused (returned undefined): the application's own count. */
  readonly droppedSeen: number;
  /** Of those, refused after the fault ended (the server back, the path fast again). */
  readonly droppedAfter: number;
  /** `metrics().dropped`, and the sum of the `EVENTS_DROPPED` counts stored in the table. */
  readonly droppedMetric: number;
  readonly droppedRecorded: number;
  /** Accepted events found in the table, missing from it, and stored more than once. */
  readonly stored: number;
  readonly missing: number;
  readonly duplicates: number;
  /** The largest `metrics().queue_depth` seen, and the bound it must stay within. */
  readonly maxBacklog: number;
  /**
   * Stop and kill faults: events accepted but not committed when the server came back —
   * accepted by then minus rows committed before the stop, read from the table: what the
   * process held in memory, measured from outside the engine. 0 for the other faults.
   */
  readonly outageBacklog: number;
  readonly backlogBound: number;
  /** Largest heap growth over the first sample, in MB. */
  readonly heapGrowthMb: number;
  /** From the end of the fault (the server accepting connections again) until the backend was healthy, in ms. */
  readonly reconnectedMs: number;
  /** From the end of the fault until the backlog was below two batches again, in ms. */
  readonly recoveredMs: number;
  /** Events per second the application actually logged (the target is `rate`). */
  readonly achievedRate: number;
  /** Whether the backend reported itself unhealthy at some point. */
  readonly unhealthySeen: boolean;
  /** logDurable() probes: resolved, rejected, and resolved but absent from the table (must be 0). */
  readonly durableResolved: number;
  readonly durableRejected: number;
  readonly durableLost: number;
  /** Errors the engine reported through on("error"). */
  readonly errors: number;
  /** What the application's own statements did meanwhile (`pool-exhausted`): audited statements run. */
  readonly appStatements: number;
  /** Events of the application's statements (`auditPg`: `QUERY_EXECUTION`) found in the table. */
  readonly appAudited: number;
}

const BATCH_SIZE = 100;
/** Batches the engine lets await their commit at once (engine.ts). */
const BATCHES_IN_FLIGHT = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Runs one fault on a fresh table of its server; the servers are left running. */
export async function dbCell(servers: DbServers, options: DbOptions): Promise<DbCell> {
  const server = options.fault === "mariadb-kill" ? servers.mariadb : servers.postgres;
  if (!server.running) await server.start();
  const dialect = server.connection.dialect as "postgresql" | "mysql";
  const table = `chaos_db_${randomBytes(4).toString("hex")}`;
  const proxy =
    options.fault === "latency"
      ? new TcpProxy(server.connection.host as string, server.connection.port as number)
      : undefined;
  if (proxy) await proxy.start();
  const connection = proxy ? { ...server.connection, port: proxy.port } : server.connection;
  const engine = new AuditEngine({
    config: {
      core: { application_name: "chaos-db" },
      storage: { backends: [{ type: "database", name: "db", connection, table_name: table }] },
      processing: { sanitization: { enabled: false } },
      performance: {
        async: { enabled: true, queue_size: options.queueSize },
        batching: { batch_size: BATCH_SIZE, batch_timeout_seconds: 0.05 },
      },
    } as never,
    env: {},
  });
  let errors = 0;
  engine.on("error", () => errors++);
  engine.on("warning", () => {});
  // the application's own pool, audited by vigil (the pool-exhausted fault)
  const appPool =
    options.fault === "pool-exhausted"
      ? auditPg(
          new pg.Pool({
            host: server.connection.host,
            port: server.connection.port,
            database: server.connection.database,
            user: server.connection.username,
            max: 4,
          }),
          { engine },
        )
      : undefined;
  let appStatements = 0;

  const accepted = new Set<string>();
  let droppedSeen = 0;
  let droppedAfter = 0;
  let seq = 0;
  const costs: Record<PhaseFigures["phase"], number[]> = { before: [], during: [], after: [] };
  let phase: PhaseFigures["phase"] = "before";
  const durableResolved: string[] = [];
  let durableRejected = 0;
  const durableWaits: Promise<void>[] = [];

  // a warm-up event: the table exists and the connection is up before measuring
  await engine.logDurable({ action: "CHAOS_WARMUP", category: "CHAOS" });

  // a steady rate: each tick logs what is due since the start (a late tick catches up, up
  // to a tenth of a second's worth, so a starved machine does not turn into a burst)
  const started = performance.now();
  const perTick = Math.max(1, Math.round(options.rate / 100));
  let ticks = 0;
  const app = setInterval(() => {
    const list = costs[phase];
    const due = Math.floor(((performance.now() - started) * options.rate) / 1000);
    const n = Math.min(Math.max(0, due - seq), perTick * 10);
    for (let k = 0; k < n; k++) {
      const input = { action: "CHAOS_DB", category: "CHAOS", metadata: { seq: seq++ } };
      const t0 = process.hrtime.bigint();
      const event = engine.log(input);
      const t1 = process.hrtime.bigint();
      list.push(Number(t1 - t0) / 1000);
      if (event === undefined) {
        droppedSeen++;
        if (phase === "after") droppedAfter++;
      } else accepted.add(event.id);
    }
    if (++ticks % 10 === 0) {
      // one caller in a hundred waits for the database
      durableWaits.push(
        engine.logDurable({ action: "CHAOS_DURABLE", category: "CHAOS", metadata: { seq: -ticks } }).then(
          (e: AuditEvent | undefined) => {
            if (e) durableResolved.push(e.id);
          },
          () => {
            durableRejected++;
          },
        ),
      );
    }
  }, 10);

  let maxBacklog = 0;
  let unhealthySeen = false;
  let heap0 = 0;
  let heapMax = 0;
  let faultEnded = 0;
  let recoveredAt = 0;
  let reconnectedAt = 0;
  const sampler = setInterval(() => {
    const m = engine.metrics();
    maxBacklog = Math.max(maxBacklog, m.queue_depth);
    if (m.backends.db?.healthy === false) unhealthySeen = true;
    const heap = process.memoryUsage().heapUsed;
    if (heap0 === 0) heap0 = heap;
    heapMax = Math.max(heapMax, heap);
    if (faultEnded > 0 && reconnectedAt === 0 && m.backends.db?.healthy) reconnectedAt = Date.now();
    if (faultEnded > 0 && recoveredAt === 0 && m.queue_depth < 2 * BATCH_SIZE && m.backends.db?.healthy)
      recoveredAt = Date.now();
  }, 20);

  const text = dialect === "postgresql" ? "line" : "COALESCE(line, event)";
  const quoted = dialect === "postgresql" ? `"${table}"` : `\`${table}\``;
  const committed = async () =>
    Number(
      (
        await privateQuery(server.connection, `SELECT COUNT(*) AS n FROM ${quoted} WHERE type = 'CHAOS_DB'`)
      )[0]?.n,
    );
  let outageBacklog = 0;
  let loggingMs = 1;
  const clients: pg.PoolClient[] = [];
  const appQueries: Promise<unknown>[] = [];
  try {
    await sleep(options.beforeMs);
    phase = "during";
    switch (options.fault) {
      case "pg-restart":
      case "mariadb-kill": {
        const before = await committed();
        await server.stop();
        await sleep(options.faultMs);
        outageBacklog = accepted.size - before;
        await server.start();
        break;
      }
      case "latency":
        proxy!.slow(options.delayMs ?? 25);
        await sleep(options.faultMs);
        proxy!.slow(0);
        break;
      case "pool-exhausted": {
        // every client of the application's pool checked out and held; its callers queue up
        for (let i = 0; i < 4; i++) clients.push(await appPool!.connect());
        for (let i = 0; i < 20; i++)
          appQueries.push(appPool!.query("SELECT 1 AS one").then(() => appStatements++));
        await sleep(options.faultMs);
        for (const c of clients) c.release();
        clients.length = 0;
        await Promise.all(appQueries);
        break;
      }
    }
    faultEnded = Date.now();
    phase = "after";
    await sleep(options.afterMs);
  } finally {
    clearInterval(app);
    loggingMs = performance.now() - started;
    for (const c of clients) c.release();
    if (!server.running) await server.start();
    proxy?.slow(0);
  }
  // everything accepted must reach the table: wait until nothing is left in memory
  const deadline = Date.now() + 60_000;
  for (;;) {
    await engine.flush();
    if (engine.metrics().queue_depth === 0 || Date.now() > deadline) break;
    await sleep(100);
  }
  if (recoveredAt === 0) recoveredAt = Date.now();
  if (reconnectedAt === 0) reconnectedAt = Date.now();
  clearInterval(sampler);
  await Promise.all(durableWaits);
  const droppedMetric = engine.metrics().dropped;
  await engine.close().catch(() => undefined);
  await appPool?.end();
  await proxy?.stop();

  try {
    const rows = await privateQuery(server.connection, `SELECT id, ${text} AS line FROM ${quoted}`);
    const ids = new Map<string, number>();
    const seqs = new Map<number, number>();
    let droppedRecorded = 0;
    let appAudited = 0;
    for (const row of rows) {
      const id = String(row.id);
      ids.set(id, (ids.get(id) ?? 0) + 1);
      const event = JSON.parse(String(row.line)) as {
        action: { type: string };
        result?: { count?: number };
        metadata?: { seq?: number };
      };
      if (event.action.type === "EVENTS_DROPPED") droppedRecorded += event.result?.count ?? 0;
      if (event.action.type === "QUERY_EXECUTION") appAudited++;
      const s = event.metadata?.seq;
      if (typeof s === "number") seqs.set(s, (seqs.get(s) ?? 0) + 1);
    }
    let stored = 0;
    for (const id of accepted) if (ids.has(id)) stored++;
    let duplicates = 0;
    for (const n of [...ids.values(), ...seqs.values()]) if (n > 1) duplicates += n - 1;
    const phases = (["before", "during", "after"] as const).map((p) => {
      const sorted = Float64Array.from(costs[p]).sort();
      return {
        phase: p,
        calls: sorted.length,
        p50Us: percentile(sorted, 0.5),
        p99Us: percentile(sorted, 0.99),
      };
    });
    return {
      fault: options.fault,
      dialect,
      rate: options.rate,
      queueSize: options.queueSize,
      phases,
      logged: accepted.size,
      droppedSeen,
      droppedAfter,
      droppedMetric,
      droppedRecorded,
      stored,
      missing: accepted.size - stored,
      duplicates,
      maxBacklog,
      outageBacklog,
      backlogBound: options.queueSize + BATCHES_IN_FLIGHT * (BATCH_SIZE + 1),
      heapGrowthMb: Math.max(0, heapMax - heap0) / 1_048_576,
      reconnectedMs: Math.max(0, reconnectedAt - faultEnded),
      recoveredMs: Math.max(0, recoveredAt - faultEnded),
      achievedRate: Math.round((seq * 1000) / loggingMs),
      unhealthySeen,
      durableResolved: durableResolved.length,
      durableRejected,
      durableLost: durableResolved.filter((id) => !ids.has(id)).length,
      errors,
      appStatements,
      appAudited,
    };
  } finally {
    await dropPrivateTable(server.connection, table);
  }
}
