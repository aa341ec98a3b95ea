import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import {
  databaseConfig,
  dropTable,
  MARIADB,
  mysqlQuery,
  POSTGRES,
  pgQuery,
  uniqueTable,
} from "../../../test/conformance/sql-servers.js";
import { TcpProxy } from "../../../test/conformance/tcp-proxy.js";
import { tempDir } from "../../../test/helpers.js";
import type { DatabaseConnectionConfig } from "../../config/types.js";
import { AuditEngine } from "../../engine.js";
import { StorageError } from "../../errors.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import { reconnectDelay } from "./backend.js";
import type { SqlBackendOptions } from "./dialect.js";
import { createSqlBackend, type SqlBackend, SqlWriteError } from "./index.js";

const temp = tempDir("vigil-sql-outage-");
afterAll(() => temp.cleanup());

let serial = 0;
function batch(size: number): StoredRecord[] {
  return Array.from({ length: size }, () => {
    serial++;
    const event = {
      schema_version: 1,
      id: `0193a000-0000-7000-8000-${String(serial).padStart(12, "0")}`,
      timestamp: new Date(Date.UTC(2026, 10, 26) + serial).toISOString(),
      severity: "INFO",
      security_event: false,
      application: { name: "outage-test" },
      action: { type: "QUERY", category: "DATABASE" },
      result: { status: "SUCCESS" },
      metadata: { serial },
    } as AuditEvent;
    return { event, line: JSON.stringify(event) };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What happened to each write while events flowed. */
interface Flow {
  readonly acknowledged: string[];
  readonly buffered: string[];
  readonly dropped: string[];
  unhealthySeen: boolean;
}

/**
 * Writes batches of 20 every 10 ms for `durationMs`, calling `disrupt` once at the start;
 * records which events were acknowledged, buffered or dropped.
 */
async function flow(backend: SqlBackend, durationMs: number, disrupt: () => Promise<void>): Promise<Flow> {
  const result: Flow = { acknowledged: [], buffered: [], dropped: [], unhealthySeen: false };
  const end = Date.now() + durationMs;
  const disruption = disrupt();
  while (Date.now() < end) {
    const b = batch(20);
    const ids = b.map((r) => r.event.id);
    try {
      await backend.write(b, { sync: false });
      result.acknowledged.push(...ids);
    } catch (error) {
      if (!(error instanceof SqlWriteError)) throw error;
      (error.buffered ? result.buffered : result.dropped).push(...ids);
    }
    if (!backend.health().healthy) result.unhealthySeen = true;
    await sleep(10);
  }
  await disruption;
  return result;
}

/** Waits until the backend has written everything it buffered. */
async function settle(backend: SqlBackend, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (backend.pendingEvents() > 0) {
    if (Date.now() > end) throw new Error(`${backend.pendingEvents()} events still buffered`);
    await backend.drain().catch(() => undefined);
    await sleep(50);
  }
}

const RETRY = { retryInitialMs: 50, retryMaxMs: 400, connectTimeoutMs: 1000 } as const;

/**
 * Runs `fn` with a backend on a fresh table of `server`, reached through a proxy the test
 * controls; closes the backend, stops the proxy and drops the table afterwards.
 */
async function throughProxy(
  server: DatabaseConnectionConfig,
  prefix: string,
  options: SqlBackendOptions,
  fn: (ctx: { backend: SqlBackend; proxy: TcpProxy; table: string }) => Promise<void>,
): Promise<void> {
  const dialect = server.dialect as "postgresql" | "mysql";
  const proxy = new TcpProxy(server.host as string, server.port as number);
  await proxy.start();
  const table = uniqueTable(`${prefix}_${dialect.slice(0, 2)}`);
  const backend = createSqlBackend(databaseConfig({ ...server, port: proxy.port }, table), {
    ...RETRY,
    ...options,
  });
  try {
    await fn({ backend, proxy, table });
  } finally {
    await backend.close().catch(() => undefined);
    await proxy.stop();
    await dropTable(dialect, table);
  }
}

describe.each([
  { dialect: "postgresql" as const, server: POSTGRES, query: pgQuery, q: (t: string) => `"${t}"` },
  { dialect: "mysql" as const, server: MARIADB, query: mysqlQuery, q: (t: string) => `\`${t}\`` },
])("$dialect cut away by a TCP proxy", ({ dialect, server, query, q }) => {
  it("answers reads on a database cut away with a StorageError naming the backend, never a raw driver error", async () => {
    const proxy = new TcpProxy(server.host as string, server.port as number);
    await proxy.start();
    const table = uniqueTable(`outread_${dialect.slice(0, 2)}`);
    const backend = createSqlBackend(databaseConfig({ ...server, port: proxy.port }, table), RETRY);
    try {
      await backend.open();
      await backend.write(batch(5), { sync: true });
      expect(await backend.count({ order: "asc" })).toBe(5);
      await proxy.cut();
      const reads: [string, () => Promise<unknown>][] = [
        ["count", () => backend.count({ order: "asc" })],
        [
          "query",
          async () => {
            for await (const _ of backend.query({ order: "asc" }));
          },
        ],
      ];
      for (const [name, read] of reads) {
        const error = await read().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, name).toBeInstanceOf(StorageError);
        expect((error as StorageError).backend, name).toBe(backend.name);
      }
    } finally {
      await proxy.restore();
      await backend.close().catch(() => undefined);
      await proxy.stop();
      await dropTable(dialect, table);
    }
  }, 60_000);

  it("loses no acknowledged or buffered event and writes none twice", async () => {
    const proxy = new TcpProxy(server.host as string, server.port as number);
    await proxy.start();
    const table = uniqueTable(`outage_${dialect.slice(0, 2)}`);
    const warnings: string[] = [];
    const backend = createSqlBackend(databaseConfig({ ...server, port: proxy.port }, table), {
      ...RETRY,
      onWarning: (w) => warnings.push(w),
    });
    try {
      await backend.open();
      const result = await flow(backend, 3500, async () => {
        await sleep(500);
        await proxy.cut();
        await sleep(2000);
        await proxy.restore();
      });
      await settle(backend);
      expect(result.dropped).toEqual([]);
      expect(result.buffered.length).toBeGreaterThan(0);
      expect(result.acknowledged.length).toBeGreaterThan(0);
      expect(result.unhealthySeen).toBe(true);
      expect(backend.health().healthy).toBe(true);
      expect(warnings.some((w) => /unreachable/.test(w))).toBe(true);
      expect(warnings.some((w) => /reachable again/.test(w))).toBe(true);
      const rows = await query(`SELECT id FROM ${q(table)} ORDER BY id`);
      const expected = [...result.acknowledged, ...result.buffered].sort();
      expect(rows.map((r) => r.id)).toEqual(expected);
    } finally {
      await backend.close().catch(() => undefined);
      await proxy.stop();
      await dropTable(dialect, table);
    }
  }, 60_000);

  it("keeps at most bufferLimit events and says which batches it could not keep", async () => {
    const proxy = new TcpProxy(server.host as string, server.port as number);
    await proxy.start();
    const table = uniqueTable(`bound_${dialect.slice(0, 2)}`);
    const backend = createSqlBackend(databaseConfig({ ...server, port: proxy.port }, table), {
      ...RETRY,
      bufferLimit: 50,
    });
    try {
      await backend.open();
      await proxy.cut();
      const outcomes: (boolean | "written")[] = [];
      const kept: string[] = [];
      for (let i = 0; i < 4; i++) {
        const b = batch(20);
        const outcome = await backend.write(b, { sync: false }).then(
          () => "written" as const,
          (e: SqlWriteError) => e.buffered,
        );
        outcomes.push(outcome);
        if (outcome === true) kept.push(...b.map((r) => r.event.id));
      }
      expect(outcomes).toEqual([true, true, false, false]);
      expect(backend.pendingEvents()).toBe(40);
      await proxy.restore();
      await settle(backend);
      const rows = await query(`SELECT id FROM ${q(table)} ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual(kept);
    } finally {
      await backend.close().catch(() => undefined);
      await proxy.stop();
      await dropTable(dialect, table);
    }
  }, 60_000);
});

describe("postgresql connections killed with pg_terminate_backend", () => {
  it("reconnects and loses nothing while its sessions are terminated mid-stream", async () => {
    const table = uniqueTable("terminate");
    const backend = createSqlBackend(databaseConfig(POSTGRES, table, table), RETRY);
    try {
      await backend.open();
      let terminated = 0;
      const result = await flow(backend, 3000, async () => {
        for (let round = 0; round < 5; round++) {
          await sleep(400);
          const rows = await pgQuery(
            "SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1",
            [`vigil:${table}`],
          );
          terminated += rows.length;
        }
      });
      await settle(backend);
      expect(terminated).toBeGreaterThan(0);
      expect(result.dropped).toEqual([]);
      const rows = await pgQuery(`SELECT id FROM "${table}" ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual([...result.acknowledged, ...result.buffered].sort());
    } finally {
      await backend.close().catch(() => undefined);
      await dropTable("postgresql", table);
    }
  }, 60_000);
});

describe("sqlite locked by another process", () => {
  it("buffers while the file is locked and writes everything, in order, once it is free", async () => {
    const file = `${temp.dir}/locked.db`;
    const backend = createSqlBackend(databaseConfig({ dialect: "sqlite", filename: file }, "events"), {
      ...RETRY,
      connectTimeoutMs: 50,
    });
    await backend.open();
    const other = new Database(file);
    try {
      const first = batch(10);
      await backend.write(first, { sync: true });
      other.exec("BEGIN EXCLUSIVE");
      const during = batch(10);
      const error = await backend.write(during, { sync: true }).catch((e: unknown) => e);
      expect(error).toMatchObject({ buffered: true, events: 10 });
      expect(backend.health().healthy).toBe(false);
      other.exec("COMMIT");
      const after = batch(10);
      await settle(backend);
      await backend.write(after, { sync: true });
      const ids = other.prepare("SELECT id FROM events ORDER BY rowid").all() as { id: string }[];
      expect(ids.map((r) => r.id)).toEqual([...first, ...during, ...after].map((r) => r.event.id));
      expect(backend.health().healthy).toBe(true);
    } finally {
      other.close();
      await backend.close();
    }
  });
});

describe.each([
  { dialect: "postgresql" as const, server: POSTGRES, query: pgQuery, q: (t: string) => `"${t}"` },
  { dialect: "mysql" as const, server: MARIADB, query: mysqlQuery, q: (t: string) => `\`${t}\`` },
])("an engine writing to $dialect through an outage", ({ dialect, server, query, q }) => {
  /** An engine on `table` behind `proxy`: async, batches of 100, the given queue_size. */
  const engineOn = (proxy: TcpProxy, table: string, queueSize: number) =>
    new AuditEngine({
      config: {
        storage: {
          backends: [
            { type: "database", name: "db", connection: { ...server, port: proxy.port }, table_name: table },
          ],
        },
        performance: { async: { enabled: true, queue_size: queueSize }, batching: { batch_size: 100 } },
      },
      env: {},
    });

  /** Logs `n` numbered events, 200 per turn of the event loop; returns those log() accepted. */
  async function logMany(engine: AuditEngine, n: number): Promise<{ ids: string[]; dropped: number }> {
    const ids: string[] = [];
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const e = engine.log({ action: "OUTAGE", metadata: { i } });
      if (e) ids.push(e.id);
      else dropped++;
      if (i % 200 === 199) await sleep(1);
    }
    return { ids, dropped };
  }

  async function drained(engine: AuditEngine): Promise<void> {
    const end = Date.now() + 30_000;
    for (;;) {
      await engine.flush();
      if (engine.metrics().queue_depth === 0) return;
      if (Date.now() > end) throw new Error(`${engine.metrics().queue_depth} events still held`);
      await sleep(100);
    }
  }

  it("keeps every event it accepted while the database is away, whatever queue_size allows (the backend's buffer follows it)", async () => {
    const proxy = new TcpProxy(server.host as string, server.port as number);
    await proxy.start();
    const table = uniqueTable(`engq_${dialect.slice(0, 2)}`);
    const engine = engineOn(proxy, table, 15_000);
    engine.on("error", () => {});
    engine.on("warning", () => {});
    try {
      await engine.logDurable({ action: "READY" });
      await proxy.cut();
      // 12,000 events while the database is away: more than the backend's old fixed buffer
      const { ids, dropped } = await logMany(engine, 12_000);
      expect(dropped).toBe(0);
      expect(engine.metrics().backends.db!.buffered).toBeGreaterThan(10_000);
      await proxy.restore();
      await drained(engine);
      await engine.close();
      const rows = await query(`SELECT id FROM ${q(table)} WHERE type = 'OUTAGE'`);
      const stored = new Set(rows.map((r) => String(r.id)));
      expect(ids.filter((id) => !stored.has(id))).toEqual([]);
      expect(rows.length).toBe(ids.length);
    } finally {
      await engine.close().catch(() => undefined);
      await proxy.stop();
      await dropTable(dialect, table);
    }
  }, 60_000);

  it("holds at most queue_size events through an outage: the rest is dropped, counted and recorded as EVENTS_DROPPED", async () => {
    const proxy = new TcpProxy(server.host as string, server.port as number);
    await proxy.start();
    const table = uniqueTable(`engb_${dialect.slice(0, 2)}`);
    const engine = engineOn(proxy, table, 1000);
    const warnings: string[] = [];
    engine.on("error", () => {});
    engine.on("warning", (w) => warnings.push(w));
    try {
      await engine.logDurable({ action: "READY" });
      await proxy.cut();
      const { ids, dropped } = await logMany(engine, 5000);
      const depth = engine.metrics().queue_depth;
      expect(depth).toBeLessThanOrEqual(1000 + 4 * 101);
      expect(ids.length).toBeLessThanOrEqual(1000 + 4 * 101);
      expect(dropped).toBe(5000 - ids.length);
      expect(engine.metrics().dropped).toBe(dropped);
      expect(warnings.some((w) => /dropped and counted/.test(w))).toBe(true);
      await proxy.restore();
      await drained(engine);
      await engine.close();
      const rows = await query(`SELECT id, type FROM ${q(table)}`);
      const stored = new Set(rows.filter((r) => r.type === "OUTAGE").map((r) => String(r.id)));
      expect(ids.filter((id) => !stored.has(id))).toEqual([]);
      const recorded = await query(
        dialect === "postgresql"
          ? `SELECT line AS e FROM ${q(table)} WHERE type = 'EVENTS_DROPPED'`
          : `SELECT CAST(COALESCE(line, event) AS CHAR) AS e FROM ${q(table)} WHERE type = 'EVENTS_DROPPED'`,
      );
      const counted = recorded.reduce(
        (n, r) => n + Number((JSON.parse(String(r.e)) as { result: { count: number } }).result.count),
        0,
      );
      expect(counted).toBe(dropped);
    } finally {
      await engine.close().catch(() => undefined);
      await proxy.stop();
      await dropTable(dialect, table);
    }
  }, 60_000);
});

describe("reconnection", () => {
  it("tries again at least every 2 s by default, starting at 200 ms and doubling, with up to a quarter of jitter", () => {
    const late = Array.from({ length: 12 }, (_, a) => reconnectDelay(a, {}, () => 1));
    expect(late).toEqual([200, 400, 800, 1600, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000]);
    const early = Array.from({ length: 6 }, (_, a) => reconnectDelay(a, {}, () => 0));
    expect(early).toEqual([150, 300, 600, 1200, 1500, 1500]);
    expect(reconnectDelay(40, { retryInitialMs: 50, retryMaxMs: 400 }, () => 1)).toBe(400);
  });
});

describe.each([
  { dialect: "postgresql" as const, server: POSTGRES, query: pgQuery, q: (t: string) => `"${t}"` },
  { dialect: "mysql" as const, server: MARIADB, query: mysqlQuery, q: (t: string) => `\`${t}\`` },
])("$dialect over a slow or lossy network path", ({ server, query, q }) => {
  it("retries a batch whose commit went unanswered and stores it once, without reporting a refusal", async () => {
    const warnings: string[] = [];
    await throughProxy(
      server,
      "ack",
      { onWarning: (w) => warnings.push(w) },
      async ({ backend, proxy, table }) => {
        await backend.open();
        const first = batch(50);
        await backend.write(first, { sync: true });
        // the server commits the next batch, but its answer never comes back
        proxy.mute();
        const lost = batch(50);
        const writing = backend.write(lost, { sync: true }).then(
          () => "written",
          (e: unknown) => e,
        );
        const count = async () => Number((await query(`SELECT COUNT(*) AS n FROM ${q(table)}`))[0]?.n);
        const end = Date.now() + 20_000;
        while ((await count()) < 100) {
          if (Date.now() > end) throw new Error("the server never committed the batch");
          await sleep(20);
        }
        await proxy.cut();
        const outcome = await writing;
        expect(outcome).toBeInstanceOf(SqlWriteError);
        expect((outcome as SqlWriteError).buffered).toBe(true);
        proxy.mute(false);
        await proxy.restore();
        await settle(backend);
        const after = batch(10);
        await backend.write(after, { sync: true });
        const rows = await query(`SELECT id FROM ${q(table)} ORDER BY id`);
        expect(rows.map((r) => r.id)).toEqual([...first, ...lost, ...after].map((r) => r.event.id).sort());
        expect(warnings.filter((w) => /refused/.test(w))).toEqual([]);
      },
    );
  }, 60_000);

  it("drains what it buffered through an outage in few round trips (buffered batches merged into one statement)", async () => {
    await throughProxy(server, "drain", { poolSize: 1 }, async ({ backend, proxy, table }) => {
      await backend.open();
      await proxy.cut();
      const kept: string[] = [];
      for (let i = 0; i < 10; i++) {
        const b = batch(100);
        await backend.write(b, { sync: false }).catch(() => undefined);
        kept.push(...b.map((r) => r.event.id));
      }
      expect(backend.pendingEvents()).toBe(1000);
      proxy.turns = 0;
      await proxy.restore();
      await settle(backend);
      // connecting (a turn or two) and one statement; one statement per batch before: 10 or more
      expect(proxy.turns).toBeLessThanOrEqual(4);
      const rows = await query(`SELECT id FROM ${q(table)} ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual(kept.sort());
    });
  }, 60_000);

  it("commits a batch in one round trip (one statement, no BEGIN and COMMIT around it)", async () => {
    await throughProxy(server, "trip", { poolSize: 1 }, async ({ backend, proxy }) => {
      await backend.open();
      await backend.write(batch(100), { sync: true }); // the statement is prepared once (MariaDB)
      proxy.turns = 0;
      await backend.write(batch(100), { sync: true });
      expect(proxy.turns).toBe(1);
      expect(await backend.count({ order: "asc" })).toBe(200);
    });
  }, 60_000);
});
