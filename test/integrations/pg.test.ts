/**
 * `auditPg` against a real PostgreSQL (127.0.0.1:5432, user postgres, database test).
 */
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditPg } from "../../src/integrations/pg/index.js";
import { ofType, type TestEngine, testEngine } from "./helpers.js";

const connection = { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" };
const table = `vigil_pg_${process.pid}_${Date.now()}`;

let t: TestEngine;
let admin: pg.Client;
const pools: pg.Pool[] = [];
const clients: pg.Client[] = [];

const queries = (): AuditEvent[] => ofType(t.events(), "QUERY_EXECUTION");
const newPool = (max = 4) => {
  const pool = new pg.Pool({ ...connection, max });
  pools.push(pool);
  return pool;
};
const newClient = async () => {
  const client = new pg.Client(connection);
  clients.push(client);
  await client.connect();
  return client;
};

beforeAll(async () => {
  admin = new pg.Client(connection);
  await admin.connect();
  await admin.query(
    `CREATE TABLE ${table} (id serial PRIMARY KEY, name text NOT NULL UNIQUE, password_hash text)`,
  );
});
afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.end();
});
beforeEach(async () => {
  t = testEngine();
  await admin.query(`TRUNCATE ${table}`);
});
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
  await Promise.all(clients.splice(0).map((c) => c.end()));
  await t.dispose();
});

describe("auditPg", () => {
  it("returns the same pool and records a QUERY_EXECUTION event per pool.query", async () => {
    const raw = newPool();
    const pool = auditPg(raw, { engine: t.engine });
    expect(pool).toBe(raw);
    const res = await pool.query(`INSERT INTO ${table} (name) VALUES ($1), ($2) RETURNING id`, ["a", "b"]);
    expect(res.rowCount).toBe(2);
    expect(res.rows).toHaveLength(2);
    const sel = await pool.query(`SELECT name FROM ${table} ORDER BY name`);
    expect(sel.rows).toEqual([{ name: "a" }, { name: "b" }]);
    const [ins, select] = queries();
    expect(ins!.action).toMatchObject({
      type: "QUERY_EXECUTION",
      category: "DATABASE",
      method: "INSERT",
      resource: { type: "database", name: "test" },
    });
    expect(ins!.params).toEqual({
      sql: `INSERT INTO ${table} (name) VALUES ($1), ($2) RETURNING id`,
      values: ["a", "b"],
    });
    expect(ins!.result).toMatchObject({ status: "SUCCESS", count: 2 });
    expect(typeof ins!.result.duration_ms).toBe("number");
    expect(ins!.metadata).toEqual({ driver: "pg" });
    expect(select!.action.method).toBe("SELECT");
    expect(select!.result.count).toBe(2);
    expect(select!.params).toEqual({ sql: `SELECT name FROM ${table} ORDER BY name` });
  });

  it("supports every callback form and the config-object form, with results unchanged", async () => {
    const pool = auditPg(newPool(), { engine: t.engine });
    const viaCallback = <T>(fn: (cb: (err: Error | null, res: T) => void) => void) =>
      new Promise<T>((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));
    const r1 = await viaCallback<pg.QueryResult>((cb) => pool.query("SELECT 1 AS one", cb));
    const r2 = await viaCallback<pg.QueryResult>((cb) => pool.query("SELECT $1::int AS n", [2], cb));
    const r3 = await pool.query({ text: "SELECT $1::int AS n", values: [3], rowMode: "array" });
    const client = auditPg(await newClient(), { engine: t.engine });
    const r4 = await viaCallback<pg.QueryResult>((cb) =>
      client.query({ text: "SELECT $1::int AS n", values: [4] }, cb),
    );
    const r5 = await viaCallback<pg.QueryResult>((cb) =>
      client.query({ text: "SELECT $1::int AS n", values: [5], callback: cb } as pg.QueryConfig),
    );
    const r6 = await client.query({ name: "named-six", text: "SELECT $1::int AS n", values: [6] });
    expect(r1.rows).toEqual([{ one: 1 }]);
    expect(r2.rows).toEqual([{ n: 2 }]);
    expect(r3.rows).toEqual([[3]]);
    expect(r4.rows).toEqual([{ n: 4 }]);
    expect(r5.rows).toEqual([{ n: 5 }]);
    expect(r6.rows).toEqual([{ n: 6 }]);
    const events = queries();
    expect(events.map((e) => (e.params as { values?: unknown[] }).values?.[0] ?? null)).toEqual([
      null,
      2,
      3,
      4,
      5,
      6,
    ]);
    expect(events.every((e) => e.result.status === "SUCCESS" && e.result.count === 1)).toBe(true);
  });

  it("records failures with the SQLSTATE code and hands the caller the same error", async () => {
    const pool = auditPg(newPool(), { engine: t.engine });
    const err = await pool.query("SELECT * FROM vigil_no_such_table_xyz").catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe("42P01");
    const cbErr = await new Promise<unknown>((resolve) => pool.query("SELEC broken", (e) => resolve(e)));
    expect((cbErr as { code?: string }).code).toBe("42601");
    await pool.query(`INSERT INTO ${table} (name) VALUES ('dup')`);
    const dup = await pool.query(`INSERT INTO ${table} (name) VALUES ('dup')`).catch((e: unknown) => e);
    expect((dup as { code?: string }).code).toBe("23505");
    const [missing, syntax, , unique] = queries();
    expect(missing!.result.status).toBe("FAILURE");
    expect(missing!.severity).toBe("ERROR");
    expect(missing!.result.error).toMatchObject({ type: "error", code: "42P01" });
    expect(missing!.result.error?.message).toContain("vigil_no_such_table_xyz");
    expect(missing!.result.count).toBeUndefined();
    expect(syntax!.result.error?.code).toBe("42601");
    expect(unique!.result.error?.code).toBe("23505");
  });

  it("skips statements by exact text and by RegExp", async () => {
    const pool = auditPg(newPool(), { engine: t.engine, skip: ["select 1", /pg_catalog/] });
    await pool.query("SELECT 1;");
    await pool.query("SELECT count(*) FROM pg_catalog.pg_tables");
    await pool.query("SELECT 2");
    expect(queries().map((e) => (e.params as { sql: string }).sql)).toEqual(["SELECT 2"]);
  });

  it("can leave values out, and redacts all values of statements naming a secret column", async () => {
    const noValues = auditPg(newPool(), { engine: t.engine, captureValues: false });
    await noValues.query(`INSERT INTO ${table} (name) VALUES ($1)`, ["x1"]);
    const pool = auditPg(newPool(), { engine: t.engine });
    await pool.query(`INSERT INTO ${table} (name, password_hash) VALUES ($1, $2)`, [
      "x2",
      "$2b$10$abcdefghijk",
    ]);
    await pool.query(`SELECT * FROM ${table} WHERE name = $1`, ["jane.doe@example.com"]);
    const [a, b, c] = queries();
    expect(a!.params).toEqual({ sql: `INSERT INTO ${table} (name) VALUES ($1)` });
    expect((b!.params as { values: unknown[] }).values).toEqual(["[REDACTED]", "[REDACTED]"]);
    expect((c!.params as { values: unknown[] }).values).toEqual(["j***@example.com"]);
    expect(JSON.stringify(t.events())).not.toContain("abcdefghijk");
  });

  it("audits a checked-out client until release, without double events from pool.query afterwards", async () => {
    const pool = auditPg(newPool(1), { engine: t.engine });
    const client = await pool.connect();
    await client.query("BEGIN");
    await client.query(`INSERT INTO ${table} (name) VALUES ($1)`, ["tx"]);
    await client.query("COMMIT");
    client.release();
    // the only connection of the pool is the one above: pool.query must record once
    await pool.query(`SELECT * FROM ${table}`);
    await new Promise<void>((resolve, reject) =>
      pool.connect((err, c, release) => {
        if (err || !c) return reject(err);
        c.query("SELECT 42 AS n", (e) => {
          release();
          return e ? reject(e) : resolve();
        });
      }),
    );
    await pool.query("SELECT 43");
    expect(queries().map((e) => e.action.method)).toEqual([
      "BEGIN",
      "INSERT",
      "COMMIT",
      "SELECT",
      "SELECT",
      "SELECT",
    ]);
  });

  it("audits a client checked out of an un-audited pool until it is released", async () => {
    const pool = newPool(1);
    const client = auditPg(await pool.connect(), { engine: t.engine });
    await client.query("SELECT 1");
    client.release();
    await pool.query("SELECT 2");
    expect(queries()).toHaveLength(1);
  });

  it("records a submittable when it ends", async () => {
    const client = auditPg(await newClient(), { engine: t.engine });
    const rows: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const q = client.query(new pg.Query(`SELECT g AS n FROM generate_series(1, 3) g`));
      q.on("row", (row: unknown) => rows.push(row));
      q.on("end", () => resolve());
      q.on("error", reject);
    });
    expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const [e] = queries();
    expect(e!.result).toMatchObject({ status: "SUCCESS", count: 3 });
  });

  it("carries the scope in force when the statement was issued, across 60 concurrent scopes on 2 connections", async () => {
    const pool = auditPg(newPool(2), { engine: t.engine });
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        withAuditScope({ actor: { username: `u${i}` }, correlation: { request_id: `r${i}` } }, async () => {
          if (i % 2 === 0) await pool.query("SELECT $1::int AS i, pg_sleep(0.001)", [i]);
          else
            await new Promise<void>((resolve, reject) =>
              pool.query("SELECT $1::int AS i", [i], (err) => (err ? reject(err) : resolve())),
            );
        }),
      ),
    );
    // statements issued outside any scope carry no actor, even on a connection opened inside one
    await new Promise<void>((resolve, reject) =>
      pool.query("SELECT -1", (err) => (err ? reject(err) : resolve())),
    );
    const events = queries();
    expect(events).toHaveLength(61);
    for (const e of events.slice(0, 60)) {
      const i = (e.params as { values: number[] }).values[0];
      expect(e.actor?.username).toBe(`u${i}`);
      expect(e.correlation?.request_id).toBe(`r${i}`);
    }
    expect(events[60]!.actor).toBeUndefined();
    expect(events[60]!.correlation).toBeUndefined();
  });

  it("is idempotent and rejects what is not a pg object", async () => {
    const pool = newPool();
    auditPg(pool, { engine: t.engine });
    auditPg(pool, { engine: t.engine });
    await pool.query("SELECT 1");
    expect(queries()).toHaveLength(1);
    expect(() => auditPg({} as never)).toThrow(/auditPg: expected a pg Pool or Client/);
    expect(() => auditPg(newPool(), { skip: [1] as never })).toThrow(
      /auditPg: options\.skip\[0\] must be a string or a RegExp/,
    );
  });

  it("records nothing when the engine is disabled", async () => {
    const off = testEngine({ core: { application_name: "t", enabled: false } });
    try {
      const pool = auditPg(newPool(), { engine: off.engine });
      expect((await pool.query("SELECT 1 AS x")).rows).toEqual([{ x: 1 }]);
      expect(off.events()).toEqual([]);
    } finally {
      await off.dispose();
    }
  });
});
