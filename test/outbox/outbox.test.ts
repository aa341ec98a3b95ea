/**
 * The transactional outbox on SQLite (better-sqlite3 files) and the real PostgreSQL
 * (127.0.0.1:5432, database test): rollback leaves nothing, commit is relayed exactly once
 * in commit order, through pg, better-sqlite3, Kysely and Drizzle transactions, and a
 * process killed between commit and relay — or between storing and deleting — loses and
 * duplicates nothing.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sql as dsql } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditSqlite } from "../../src/integrations/better-sqlite3/index.js";
import { auditPg } from "../../src/integrations/pg/index.js";
import { type AuditOutbox, createAuditOutbox } from "../../src/outbox/index.js";
import { eventually } from "../integrations/helpers.js";

const connection = { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" };
const SECRET = "outbox-test-secret-0123456789abcdef";
const CHILD = join(import.meta.dirname, "child.ts");
const suffix = () => `${process.pid}_${randomBytes(3).toString("hex")}`;

let dir: string;
let engine: AuditEngine;
let admin: pg.Client;
const cleanup: (() => Promise<unknown> | unknown)[] = [];
const pgTables: string[] = [];

function newEngine(logs: string): AuditEngine {
  return new AuditEngine({
    env: {},
    config: {
      core: { application_name: "outbox" },
      storage: { backends: [{ type: "file", directory: logs }] },
      performance: { async: { enabled: false } },
      security: { signing: { enabled: true, algorithm: "hmac-sha256", secret_key: SECRET } },
    },
  });
}

/** The events of a store directory, in the order they were written (file, then line). */
function stored(logs: string): AuditEvent[] {
  const out: AuditEvent[] = [];
  if (!existsSync(logs)) return out;
  for (const name of readdirSync(logs).sort()) {
    if (!name.endsWith(".jsonl") && !name.endsWith(".log") && !name.includes("audit")) continue;
    for (const line of readFileSync(join(logs, name), "utf8").split("\n"))
      if (line.trim() !== "") out.push(JSON.parse(line) as AuditEvent);
  }
  return out.filter((e) => e.action !== undefined).sort((a, b) => a.integrity!.seq - b.integrity!.seq);
}

const business = () => stored(join(dir, "logs")).filter((e) => e.action.category === "BUSINESS");

beforeAll(async () => {
  admin = new pg.Client(connection);
  await admin.connect();
});
afterAll(async () => {
  for (const t of pgTables)
    await admin.query(
      `DROP TABLE IF EXISTS ${t}; DROP SEQUENCE IF EXISTS ${t}_commit_seq; DROP FUNCTION IF EXISTS ${t}_at_commit()`,
    );
  await admin.end();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-outbox-"));
  engine = newEngine(join(dir, "logs"));
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh outbox (and application table) in one dialect. */
interface Setup {
  readonly outbox: AuditOutbox;
  readonly app: string;
  /** Run `fn` in an application transaction that commits, or rolls back when it throws. */
  transaction(fn: (tx: object) => Promise<void> | void): Promise<void>;
  /** Rows in the outbox table. */
  rows(): Promise<number>;
  /** Application rows. */
  appRows(): Promise<number>;
}

async function setupSqlite(): Promise<Setup & { db: Database.Database }> {
  const t = `outbox_${suffix()}`;
  const app = `app_${suffix()}`;
  const db = new Database(join(dir, "app.db"));
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE ${app} (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT)`);
  const outbox = createAuditOutbox({ engine, database: db, table: t, intervalMs: 20 });
  await outbox.migrate();
  cleanup.push(
    () => db.close(),
    () => outbox.close(),
  );
  return {
    db,
    outbox,
    app,
    async transaction(fn) {
      // what db.transaction() does, around an async function (other cases use db.transaction itself)
      db.exec("BEGIN");
      try {
        await fn(db);
        db.exec("COMMIT");
      } catch (error) {
        db.exec("ROLLBACK");
        throw error;
      }
    },
    rows: async () => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n,
    appRows: async () => (db.prepare(`SELECT count(*) AS n FROM ${app}`).get() as { n: number }).n,
  };
}

async function setupPg(): Promise<Setup & { pool: pg.Pool }> {
  const t = `outbox_${suffix()}`;
  const app = `app_${suffix()}`;
  pgTables.push(t, app);
  await admin.query(`CREATE TABLE ${app} (id serial PRIMARY KEY, status text)`);
  const pool = new pg.Pool({ ...connection, max: 12 });
  const outbox = createAuditOutbox({ engine, database: pool, table: t, intervalMs: 20 });
  await outbox.migrate();
  cleanup.push(
    () => pool.end(),
    () => outbox.close(),
  );
  return {
    pool,
    outbox,
    app,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        await fn(client);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      } finally {
        client.release();
      }
    },
    rows: async () => (await admin.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0].n,
    appRows: async () => (await admin.query(`SELECT count(*)::int AS n FROM ${app}`)).rows[0].n,
  };
}

const setups = { sqlite: setupSqlite, postgres: setupPg };

/** Write one application row and its audit event in `tx`. */
async function change(s: Setup, tx: object, order: string): Promise<string | undefined> {
  const input = { action: "ORDER_PAID", category: "BUSINESS", resource: { type: "order", id: order } };
  if (s.outbox.dialect === "sqlite") {
    (tx as Database.Database).prepare(`INSERT INTO ${s.app} (status) VALUES (?)`).run(order);
    return s.outbox.logSync(tx, input);
  }
  await (tx as pg.PoolClient).query(`INSERT INTO ${s.app} (status) VALUES ($1)`, [order]);
  return s.outbox.log(tx, input);
}

describe.each(["sqlite", "postgres"] as const)("outbox on %s", (dialect) => {
  it("a rolled-back transaction leaves no record; a committed one is relayed once, with its scope, and deleted", async () => {
    const s = await setups[dialect]();
    await expect(
      s.transaction(async (tx) => {
        await change(s, tx, "1");
        throw new Error("payment declined");
      }),
    ).rejects.toThrow("payment declined");
    let id: string | undefined;
    await withAuditScope(
      { actor: { id: "alice" }, correlation: { request_id: "req-9" }, tenant: "acme" },
      () =>
        s.transaction(async (tx) => {
          id = await change(s, tx, "2");
        }),
    );
    expect(await s.appRows()).toBe(1);
    expect(await s.rows()).toBe(1);
    expect(await s.outbox.pending()).toBe(1);
    expect(business()).toHaveLength(0); // nothing reaches the store before the relay
    expect(await s.outbox.relayOnce()).toEqual({ relayed: 1, recovered: 0 });
    const events = business();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id,
      actor: { id: "alice" },
      correlation: { request_id: "req-9" },
      tenant: "acme",
      action: { type: "ORDER_PAID", resource: { type: "order", id: "2" } },
      result: { status: "SUCCESS" },
    });
    expect(await s.rows()).toBe(0);
    expect(await s.outbox.relayOnce()).toEqual({ relayed: 0, recovered: 0 });
    expect(business()).toHaveLength(1);
    expect((await engine.verify()).ok).toBe(true);
  });

  it("redacts the event before it is written into the application's database", async () => {
    const s = await setups[dialect]();
    await s.transaction(async (tx) => {
      const input = {
        action: "PASSWORD_CHANGED",
        category: "BUSINESS",
        params: { password: "hunter2-secret" },
      };
      if (dialect === "sqlite") s.outbox.logSync(tx, input);
      else await s.outbox.log(tx, input);
    });
    const payload =
      dialect === "sqlite"
        ? JSON.stringify(
            (s as Awaited<ReturnType<typeof setupSqlite>>).db
              .prepare(`SELECT payload FROM ${s.outbox.table}`)
              .all(),
          )
        : JSON.stringify((await admin.query(`SELECT payload FROM ${s.outbox.table}`)).rows);
    expect(payload).toContain("PASSWORD_CHANGED");
    expect(payload).not.toContain("hunter2-secret");
  });

  it("relays in commit order", async () => {
    const s = await setups[dialect]();
    if (dialect === "postgres") {
      // inserted first, committed last
      const { pool } = s as Awaited<ReturnType<typeof setupPg>>;
      const a = await pool.connect();
      const b = await pool.connect();
      try {
        await a.query("BEGIN");
        const first = await change(s, a, "inserted-first");
        await b.query("BEGIN");
        const second = await change(s, b, "inserted-second");
        await b.query("COMMIT");
        await a.query("COMMIT");
        expect(await s.outbox.relayOnce()).toEqual({ relayed: 2, recovered: 0 });
        expect(business().map((e) => e.id)).toEqual([second, first]);
        // a transaction still open is not waited for, and does not hold back what committed before it
        await a.query("BEGIN");
        const open = await change(s, a, "still-open");
        await b.query("BEGIN");
        const done = await change(s, b, "committed");
        await b.query("COMMIT");
        expect(await s.outbox.relayOnce()).toEqual({ relayed: 1, recovered: 0 });
        await a.query("COMMIT");
        expect(await s.outbox.relayOnce()).toEqual({ relayed: 1, recovered: 0 });
        expect(business().map((e) => e.id)).toEqual([second, first, done, open]);
      } finally {
        a.release();
        b.release();
      }
      // and many concurrent transactions: the store's order is the order their commits finished
      const committed: string[] = [];
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const c = await pool.connect();
          try {
            await c.query("BEGIN");
            await change(s, c, `c${i}`);
            await new Promise((r) => setTimeout(r, (i * 7) % 13));
            await c.query("COMMIT");
            committed.push(`c${i}`);
          } finally {
            c.release();
          }
        }),
      );
      await s.outbox.relayOnce();
      const relayed = business()
        .slice(4)
        .map((e) => e.action.resource!.id);
      expect(await s.rows()).toBe(0);
      expect(new Set(relayed)).toEqual(new Set(committed));
    } else {
      // two connections to one file: SQLite runs one write transaction at a time
      const { db } = s as Awaited<ReturnType<typeof setupSqlite>>;
      const other = new Database(join(dir, "app.db"));
      cleanup.push(() => other.close());
      const order: string[] = [];
      for (let i = 0; i < 30; i++) {
        const conn = i % 2 === 0 ? db : other;
        conn.transaction(() => {
          change(s, conn, `s${i}`);
        })();
        order.push(`s${i}`);
      }
      await s.outbox.relayOnce();
      expect(business().map((e) => e.action.resource!.id)).toEqual(order);
    }
  });

  it.each(["file", "sql"] as const)(
    "survives a SIGKILL between commit and relay, and between storing and deleting, without loss or duplicates (%s store)",
    async (store) => {
      const s = await setups[dialect]();
      const backend =
        store === "sql"
          ? { type: "database", connection: { dialect: "sqlite", filename: join(dir, "logs.db") } }
          : { type: "file", directory: join(dir, "logs") };
      /** A fresh engine on the children's store. */
      const reader = () =>
        new AuditEngine({
          env: {},
          config: {
            core: { application_name: "outbox-child" }, // the file store names its files after it
            storage: { backends: [backend] },
            performance: { async: { enabled: false } },
            security: { signing: { enabled: true, algorithm: "hmac-sha256", secret_key: SECRET } },
          } as never,
        });
      const business = async (): Promise<string[]> => {
        const r = reader();
        try {
          return (await r.search({ query: "action.category:BUSINESS", limit: 100 })).map((e) => e.id);
        } finally {
          await r.close();
        }
      };
      await s.outbox.close();
      const env = {
        ...process.env,
        DIALECT: dialect,
        DB: join(dir, "app.db"),
        TABLE: s.outbox.table,
        APP_TABLE: s.app,
        LOGS: join(dir, "logs"),
        STORE: store,
      };
      const run = (mode: string) =>
        new Promise<{ out: string; signal: NodeJS.Signals | null }>((resolve) => {
          const p = spawn(process.execPath, ["--import", "tsx", CHILD], {
            env: { ...env, MODE: mode },
            stdio: ["ignore", "pipe", "pipe"],
          });
          let out = "";
          p.stdout.on("data", (d) => (out += d));
          p.stderr.on("data", (d) => (out += d));
          p.on("exit", (_code, signal) => resolve({ out, signal }));
        });
      // 1. the process dies right after the commit: the change and its event are in the database
      const died = await run("commit-and-die");
      expect(died.signal).toBe("SIGKILL");
      const id = /COMMITTED (\S+)/.exec(died.out)?.[1];
      expect(id, died.out).toMatch(/^[0-9a-f-]{36}$/);
      expect(await s.appRows()).toBe(1);
      expect(await s.rows()).toBe(1);
      expect(await business()).toEqual([]);
      // 2. a relay stores it, and dies before deleting the row
      const halfway = await run("relay-and-die");
      expect(halfway.signal, halfway.out).toBe("SIGKILL");
      expect(await business()).toEqual([id]);
      expect(await s.rows()).toBe(1);
      // 3. the next relay finds it stored: it deletes the row and stores nothing twice
      const after = await run("relay");
      expect(after.out).toContain("RELAYED 0 1");
      expect(await business()).toEqual([id]);
      expect(await s.rows()).toBe(0);
      // 4. and once more, nothing left to do
      expect((await run("relay")).out).toContain("RELAYED 0 0");
      expect(await business()).toEqual([id]);
      const r = reader();
      try {
        // one event, in one chain, nothing modified, inserted or duplicated; the killed relay's
        // last event may lack its signed checkpoint (unverifiable), which is vigil's crash rule
        const verdict = await r.verify();
        expect(verdict.events, JSON.stringify(verdict)).toBe(1);
        expect(verdict.status, JSON.stringify(verdict)).not.toBe("tampered");
        expect(
          verdict.problems.filter((p) => p.kind !== "unverifiable"),
          JSON.stringify(verdict),
        ).toEqual([]);
      } finally {
        await r.close();
      }
    },
    60_000,
  );

  it("relays in the background after each commit", async () => {
    const s = await setups[dialect]();
    s.outbox.startRelay();
    for (let i = 0; i < 5; i++)
      await s.transaction(async (tx) => {
        await change(s, tx, `bg${i}`);
      });
    await eventually(() => (business().length === 5 ? true : undefined), "five relayed events");
    expect(business().map((e) => e.action.resource!.id)).toEqual(["bg0", "bg1", "bg2", "bg3", "bg4"]);
    // rows are deleted once their events are stored
    let left = -1;
    for (let i = 0; i < 200 && left !== 0; i++) {
      left = await s.rows();
      if (left !== 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(left).toBe(0);
  });

  it("fails the transaction when the outbox row cannot be written", async () => {
    const s = await setups[dialect]();
    const broken = createAuditOutbox({
      engine,
      database:
        dialect === "sqlite" ? new Database(":memory:") : (s as Awaited<ReturnType<typeof setupPg>>).pool,
      table: `missing_${suffix()}`,
    });
    await expect(
      s.transaction(async (tx) => {
        await change({ ...s, outbox: broken }, tx, "x");
      }),
    ).rejects.toMatchObject({
      code: "VIGIL_ERR_OUTBOX",
      message: expect.stringMatching(/must not commit without it/),
    });
    expect(await s.appRows()).toBe(0);
  });
});

describe("outbox with query builders and wrapped drivers", () => {
  it("Kysely and Drizzle transactions on PostgreSQL, a pg client audited by auditPg", async () => {
    const s = await setupPg();
    const kysely = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: s.pool }) });
    await kysely.transaction().execute(async (trx) => {
      await s.outbox.log(trx, { action: "K_COMMIT", category: "BUSINESS" });
    });
    await expect(
      kysely.transaction().execute(async (trx) => {
        await s.outbox.log(trx, { action: "K_ROLLBACK", category: "BUSINESS" });
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    const drizzle = drizzlePg(s.pool);
    await drizzle.transaction(async (tx) => {
      await tx.execute(dsql.raw(`INSERT INTO ${s.app} (status) VALUES ('d')`));
      await s.outbox.log(tx, { action: "D_COMMIT", category: "BUSINESS" });
    });
    await expect(
      drizzle.transaction(async (tx) => {
        await s.outbox.log(tx, { action: "D_ROLLBACK", category: "BUSINESS" });
        tx.rollback();
      }),
    ).rejects.toThrow();
    const audited = auditPg(new pg.Client(connection), { engine });
    await audited.connect();
    cleanup.push(() => audited.end());
    await audited.query("BEGIN");
    await s.outbox.log(audited, { action: "PG_COMMIT", category: "BUSINESS" });
    await audited.query("COMMIT");
    await s.outbox.relayOnce();
    expect(business().map((e) => e.action.type)).toEqual(["K_COMMIT", "D_COMMIT", "PG_COMMIT"]);
    // the outbox's own statements are not audited as statements
    const statements = stored(join(dir, "logs")).filter((e) => e.action.type === "QUERY_EXECUTION");
    expect(statements.map((e) => e.action.method)).toEqual(["BEGIN", "COMMIT"]);
  });

  it("Kysely and Drizzle transactions on SQLite, a database audited by auditSqlite", async () => {
    const s = await setupSqlite();
    const db = auditSqlite(s.db, { engine });
    db.transaction(() => {
      s.outbox.logSync(db, { action: "SQLITE_COMMIT", category: "BUSINESS" });
    })();
    const drizzle = drizzleSqlite(s.db);
    drizzle.transaction((tx) => {
      s.outbox.logSync(tx, { action: "D_COMMIT", category: "BUSINESS" });
    });
    expect(() =>
      drizzle.transaction((tx) => {
        s.outbox.logSync(tx, { action: "D_ROLLBACK", category: "BUSINESS" });
        throw new Error("no");
      }),
    ).toThrow("no");
    const kysely = new Kysely<Record<string, never>>({ dialect: new SqliteDialect({ database: s.db }) });
    await kysely.transaction().execute(async (trx) => {
      await s.outbox.log(trx, { action: "K_COMMIT", category: "BUSINESS" });
    });
    // the relay shares the application's connection: inside an open transaction it sees
    // uncommitted rows, so it relays nothing until the transaction has ended
    await expect(
      kysely.transaction().execute(async (trx) => {
        await s.outbox.log(trx, { action: "K_ROLLBACK", category: "BUSINESS" });
        expect(await s.outbox.relayOnce()).toEqual({ relayed: 0, recovered: 0 });
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    await s.outbox.relayOnce();
    expect(business().map((e) => e.action.type)).toEqual(["SQLITE_COMMIT", "D_COMMIT", "K_COMMIT"]);
    // auditSqlite's transaction id reaches the relayed event through the scope
    const tx = stored(join(dir, "logs")).find((e) => e.action.type === "TRANSACTION");
    expect(business()[0]!.metadata).toMatchObject({ transaction_id: tx!.metadata!.transaction_id });
  });

  it("rejects what is not a transaction, and malformed options", async () => {
    const s = await setupSqlite();
    const pool = new pg.Pool(connection);
    cleanup.push(() => pool.end());
    expect(() => s.outbox.logSync(s.db, { action: "X" })).toThrow(/not inside a transaction/);
    await expect(s.outbox.log(pool, { action: "X" })).rejects.toThrow(/a pg Pool is not a transaction/);
    const client = new pg.Client(connection);
    expect(() => s.outbox.logSync(client, { action: "X" })).toThrow(
      /outbox.logSync: the transaction is asynchronous/,
    );
    const kysely = new Kysely<Record<string, never>>({ dialect: new SqliteDialect({ database: s.db }) });
    await expect(s.outbox.log(kysely, { action: "X" })).rejects.toThrow(
      /a Kysely instance is not a transaction/,
    );
    await expect(s.outbox.log(42 as never, { action: "X" })).rejects.toThrow(
      /outbox.log: expected a transaction/,
    );
    expect(() => createAuditOutbox({ engine, database: s.db, table: "bad name" })).toThrow(
      /options.table must be a plain identifier/,
    );
    expect(() => createAuditOutbox({ engine, database: {} })).toThrow(/options.database must be/);
    expect(() => createAuditOutbox({ engine, database: s.db, batchSize: 0 })).toThrow(
      /options.batchSize must be an integer from 1 to 10000, found 0/,
    );
  });
});
