/**
 * `auditMysql2` against a real MariaDB (127.0.0.1:3306, root without password, database test).
 */
import mysql from "mysql2";
import mysqlPromise from "mysql2/promise";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditMysql2 } from "../../src/integrations/mysql2/index.js";
import { ofType, type TestEngine, testEngine } from "./helpers.js";

const connection = { host: "127.0.0.1", port: 3306, user: "root", database: "test" };
const table = `vigil_my_${process.pid}_${Date.now()}`;

let t: TestEngine;
let admin: mysqlPromise.Connection;
const closers: (() => Promise<unknown>)[] = [];

const queries = (): AuditEvent[] => ofType(t.events(), "QUERY_EXECUTION");
const promisify = <T>(fn: (cb: (err: unknown, res: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, res) => (err ? reject(err) : resolve(res))));

const callbackConnection = () => {
  const conn = mysql.createConnection(connection);
  closers.push(() => new Promise((r) => conn.end(r)));
  return conn;
};
const callbackPool = (connectionLimit = 4) => {
  const pool = mysql.createPool({ ...connection, connectionLimit });
  closers.push(() => new Promise((r) => pool.end(r)));
  return pool;
};

beforeAll(async () => {
  admin = await mysqlPromise.createConnection(connection);
  await admin.query(
    `CREATE TABLE ${table} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE, api_key VARCHAR(64))`,
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
  for (const close of closers.splice(0).reverse()) await close();
  await t.dispose();
});

describe("auditMysql2", () => {
  it("audits a callback connection's query and execute, with results unchanged", async () => {
    const raw = callbackConnection();
    const conn = auditMysql2(raw, { engine: t.engine });
    expect(conn).toBe(raw);
    const ins = await promisify<mysql.ResultSetHeader>((cb) =>
      conn.query(`INSERT INTO ${table} (name) VALUES (?), (?)`, ["a", "b"], (e, r) =>
        cb(e, r as mysql.ResultSetHeader),
      ),
    );
    expect(ins.affectedRows).toBe(2);
    const rows = await promisify<mysql.RowDataPacket[]>((cb) =>
      conn.execute(`SELECT name FROM ${table} WHERE name <> ? ORDER BY name`, ["z"], (e, r) =>
        cb(e, r as mysql.RowDataPacket[]),
      ),
    );
    expect(rows.map((r) => r.name)).toEqual(["a", "b"]);
    const viaOptions = await promisify<mysql.RowDataPacket[]>((cb) =>
      conn.query({ sql: `SELECT name FROM ${table} WHERE name = ?`, values: ["a"] }, (e, r) =>
        cb(e, r as mysql.RowDataPacket[]),
      ),
    );
    expect(viaOptions).toHaveLength(1);
    const [i, s, o] = queries();
    expect(i!.action).toMatchObject({
      category: "DATABASE",
      method: "INSERT",
      resource: { type: "database", name: "test" },
    });
    expect(i!.params).toEqual({ sql: `INSERT INTO ${table} (name) VALUES (?), (?)`, values: ["a", "b"] });
    expect(i!.result).toMatchObject({ status: "SUCCESS", count: 2 });
    expect(i!.metadata).toEqual({ driver: "mysql2" });
    expect(s!.result.count).toBe(2);
    expect(s!.action.method).toBe("SELECT");
    expect(o!.params).toEqual({ sql: `SELECT name FROM ${table} WHERE name = ?`, values: ["a"] });
    expect(o!.result.count).toBe(1);
  });

  it("audits the promise API, from mysql2/promise and through .promise()", async () => {
    const pool = auditMysql2(await mysqlPromise.createPool({ ...connection, connectionLimit: 2 }), {
      engine: t.engine,
    });
    closers.push(() => pool.end());
    const [res] = await pool.query<mysqlPromise.ResultSetHeader>(`INSERT INTO ${table} (name) VALUES (?)`, [
      "p",
    ]);
    expect(res.affectedRows).toBe(1);
    const [rows] = await pool.execute<mysqlPromise.RowDataPacket[]>(`SELECT * FROM ${table} WHERE name = ?`, [
      "p",
    ]);
    expect(rows).toHaveLength(1);
    const conn = auditMysql2(callbackConnection(), { engine: t.engine }).promise();
    const [r2] = await conn.query<mysqlPromise.RowDataPacket[]>("SELECT 7 AS n");
    expect(r2).toEqual([{ n: 7 }]);
    const single = auditMysql2(await mysqlPromise.createConnection(connection), { engine: t.engine });
    closers.push(() => single.end());
    await single.query("SELECT 8 AS n");
    expect(queries().map((e) => [e.action.method, e.result.count])).toEqual([
      ["INSERT", 1],
      ["SELECT", 1],
      ["SELECT", 1],
      ["SELECT", 1],
    ]);
  });

  it("records failures with the server's error code and hands the caller the same error", async () => {
    const conn = auditMysql2(callbackConnection(), { engine: t.engine });
    const err = await promisify((cb) => conn.query("SELECT * FROM vigil_no_such_table_xyz", cb)).catch(
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe("ER_NO_SUCH_TABLE");
    const p = conn.promise();
    await p.query(`INSERT INTO ${table} (name) VALUES ('dup')`);
    const dup = await p.query(`INSERT INTO ${table} (name) VALUES ('dup')`).catch((e: unknown) => e);
    expect((dup as { code?: string }).code).toBe("ER_DUP_ENTRY");
    const [missing, , duplicate] = queries();
    expect(missing!.result.status).toBe("FAILURE");
    expect(missing!.severity).toBe("ERROR");
    expect(missing!.result.error).toMatchObject({ code: "ER_NO_SUCH_TABLE" });
    expect(duplicate!.result.error?.code).toBe("ER_DUP_ENTRY");
  });

  it("records emitter-mode queries when they end, without adding listeners", async () => {
    const conn = auditMysql2(callbackConnection(), { engine: t.engine });
    await promisify((cb) => conn.query(`INSERT INTO ${table} (name) VALUES ('e1'), ('e2'), ('e3')`, cb));
    const rows: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const q = conn.query(`SELECT name FROM ${table} ORDER BY name`);
      expect(q.listenerCount("error")).toBe(0);
      q.on("result", (row) => rows.push(row));
      q.on("error", reject);
      q.on("end", () => resolve());
    });
    expect(rows).toHaveLength(3);
    const failed = await new Promise<unknown>((resolve) => {
      const q = conn.query("SELECT * FROM vigil_no_such_table_xyz");
      q.on("error", resolve);
    });
    expect((failed as { code?: string }).code).toBe("ER_NO_SUCH_TABLE");
    const [, select, missing] = queries();
    expect(select!.result).toMatchObject({ status: "SUCCESS", count: 3 });
    expect(missing!.result).toMatchObject({ status: "FAILURE", error: { code: "ER_NO_SUCH_TABLE" } });
  });

  it("audits a pool's connections until release, without double events from pool.query on them afterwards", async () => {
    const pool = auditMysql2(callbackPool(1), { engine: t.engine });
    const conn = await promisify<mysql.PoolConnection>((cb) => pool.getConnection(cb));
    await promisify<void>((cb) => conn.beginTransaction((e) => cb(e, undefined)));
    await promisify((cb) => conn.query(`INSERT INTO ${table} (name) VALUES (?)`, ["tx"], cb));
    await promisify<void>((cb) => conn.commit((e) => cb(e, undefined)));
    // a query waiting for the only connection receives it straight from release()
    const waiting = promisify((cb) => pool.query(`SELECT * FROM ${table}`, cb));
    conn.release();
    await waiting;
    await promisify((cb) => pool.execute("SELECT ? AS n", [1], cb));
    const pp = pool.promise();
    const pc = await pp.getConnection();
    await pc.query("SELECT 2");
    pc.release();
    await pp.query("SELECT 3");
    expect(queries().map((e) => (e.params as { sql: string }).sql)).toEqual([
      "START TRANSACTION",
      `INSERT INTO ${table} (name) VALUES (?)`,
      "COMMIT",
      `SELECT * FROM ${table}`,
      "SELECT ? AS n",
      "SELECT 2",
      "SELECT 3",
    ]);
  });

  it("skips statements and can leave values out; redacts values of statements naming a secret column", async () => {
    const conn = auditMysql2(callbackConnection(), {
      engine: t.engine,
      skip: (sql) => sql.startsWith("SELECT 1"),
    });
    await promisify((cb) => conn.query("SELECT 1", cb));
    await promisify((cb) =>
      conn.query(`INSERT INTO ${table} (name, api_key) VALUES (?, ?)`, ["k", "sk_live_abcdef"], cb),
    );
    const quiet = auditMysql2(callbackConnection(), { engine: t.engine, captureValues: false });
    await promisify((cb) => quiet.query("SELECT ? AS v", ["hidden"], cb));
    const [secret, noValues] = queries();
    expect((secret!.params as { values: unknown }).values).toEqual(["[REDACTED]", "[REDACTED]"]);
    expect(noValues!.params).toEqual({ sql: "SELECT ? AS v" });
    expect(JSON.stringify(t.events())).not.toContain("sk_live_abcdef");
  });

  it("carries the scope in force when the statement was issued, across 60 concurrent scopes on 2 connections", async () => {
    const pool = auditMysql2(callbackPool(2), { engine: t.engine });
    const pp = pool.promise();
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        withAuditScope({ actor: { username: `u${i}` }, correlation: { request_id: `r${i}` } }, async () => {
          if (i % 2 === 0) await pp.query("SELECT ? AS i, SLEEP(0.001)", [i]);
          else await promisify((cb) => pool.query("SELECT ? AS i", [i], cb));
        }),
      ),
    );
    await promisify((cb) => pool.query("SELECT -1", cb));
    const events = queries();
    expect(events).toHaveLength(61);
    for (const e of events.slice(0, 60)) {
      const i = (e.params as { values: number[] }).values[0];
      expect(e.actor?.username).toBe(`u${i}`);
      expect(e.correlation?.request_id).toBe(`r${i}`);
    }
    expect(events[60]!.actor).toBeUndefined();
  });

  it("audits prepared statements: each execute once, a failed prepare, callback and promise APIs", async () => {
    const conn = auditMysql2(callbackConnection(), { engine: t.engine });
    const stmt = await promisify<mysql.PrepareStatementInfo>((cb) =>
      conn.prepare(`INSERT INTO ${table} (name) VALUES (?)`, cb),
    );
    await promisify((cb) => stmt.execute(["p1"], cb));
    await promisify((cb) => stmt.execute(["p2"], cb));
    const again = await promisify<mysql.PrepareStatementInfo>((cb) =>
      conn.prepare(`INSERT INTO ${table} (name) VALUES (?)`, cb),
    );
    const dup = await promisify((cb) => again.execute(["p1"], cb)).catch((e: unknown) => e);
    expect((dup as { code?: string }).code).toBe("ER_DUP_ENTRY");
    stmt.close();
    const bad = await promisify((cb) => conn.prepare("SELEC nonsense", cb)).catch((e: unknown) => e);
    expect((bad as { code?: string }).code).toBe("ER_PARSE_ERROR");
    const pconn = await mysqlPromise.createConnection(connection);
    closers.push(() => pconn.end());
    auditMysql2(pconn, { engine: t.engine });
    const pstmt = await pconn.prepare(`SELECT name FROM ${table} WHERE name LIKE ? ORDER BY name`);
    const [rows] = await pstmt.execute(["p%"]);
    expect((rows as { name: string }[]).map((r) => r.name)).toEqual(["p1", "p2"]);
    await pstmt.close();
    await pconn.execute(`SELECT name FROM ${table} WHERE name = ?`, ["p1"]);
    const events = queries();
    expect(events.map((e) => [e.action.method, e.result.status, e.result.count])).toEqual([
      ["INSERT", "SUCCESS", 1],
      ["INSERT", "SUCCESS", 1],
      ["INSERT", "FAILURE", undefined],
      ["SELEC", "FAILURE", undefined],
      ["SELECT", "SUCCESS", 2],
      ["SELECT", "SUCCESS", 1],
    ]);
    expect(events[1]!.params).toEqual({ sql: `INSERT INTO ${table} (name) VALUES (?)`, values: ["p2"] });
    expect(events[2]!.result.error?.code).toBe("ER_DUP_ENTRY");
    expect(events[3]!.result.error?.code).toBe("ER_PARSE_ERROR");
  });

  it("rejects what is not a mysql2 object", () => {
    expect(() => auditMysql2(null as never)).toThrow(
      /auditMysql2: expected a mysql2 connection, pool or pool cluster/,
    );
    expect(() => auditMysql2({ of: 1 } as never)).toThrow(/auditMysql2: expected/);
  });
});

describe("auditMysql2 on pool clusters", () => {
  const callbackCluster = () => {
    const cluster = mysql.createPoolCluster();
    cluster.add("primary", { ...connection, connectionLimit: 2 });
    cluster.add("replica1", { ...connection, connectionLimit: 2 });
    cluster.add("replica2", { ...connection, connectionLimit: 2 });
    closers.push(() => new Promise((r) => cluster.end(r)));
    return cluster;
  };

  it("audits of(pattern).query/execute once each, callback and emitter forms, errors with their code", async () => {
    const raw = callbackCluster();
    const cluster = auditMysql2(raw, { engine: t.engine });
    expect(cluster).toBe(raw);
    expect(auditMysql2(raw, { engine: t.engine })).toBe(raw);
    const primary = cluster.of("primary");
    const ins = await promisify<mysql.ResultSetHeader>((cb) =>
      primary.query(`INSERT INTO ${table} (name) VALUES (?), (?)`, ["a", "b"], (e, r) =>
        cb(e, r as mysql.ResultSetHeader),
      ),
    );
    expect(ins.affectedRows).toBe(2);
    const rows = await promisify<mysql.RowDataPacket[]>((cb) =>
      cluster
        .of("replica*")
        .execute(`SELECT name FROM ${table} WHERE name <> ? ORDER BY name`, ["z"], (e, r) =>
          cb(e, r as mysql.RowDataPacket[]),
        ),
    );
    expect(rows.map((r) => r.name)).toEqual(["a", "b"]);
    const streamed = await new Promise<number>((resolve, reject) => {
      let n = 0;
      cluster
        .of("replica*")
        .query(`SELECT name FROM ${table}`)
        .on("result", () => n++)
        .on("error", reject)
        .on("end", () => resolve(n));
    });
    expect(streamed).toBe(2);
    const err = await promisify((cb) => primary.query("SELECT * FROM vigil_no_such_table", cb)).catch(
      (e: unknown) => e,
    );
    expect((err as { code?: string }).code).toBe("ER_NO_SUCH_TABLE");
    const events = queries();
    expect(events.map((e) => e.action.method)).toEqual(["INSERT", "SELECT", "SELECT", "SELECT"]);
    expect(events[0]!.result).toMatchObject({ status: "SUCCESS", count: 2 });
    expect(events[0]!.params).toEqual({
      sql: `INSERT INTO ${table} (name) VALUES (?), (?)`,
      values: ["a", "b"],
    });
    expect(events[0]!.action.resource).toEqual({ type: "database", name: "test" });
    expect(events[1]!.result.count).toBe(2);
    expect(events[2]!.result.count).toBe(2);
    expect(events[3]!.result).toMatchObject({ status: "FAILURE", error: { code: "ER_NO_SUCH_TABLE" } });
  });

  it("audits a connection checked out with getConnection(pattern) until it is released", async () => {
    const cluster = auditMysql2(callbackCluster(), { engine: t.engine });
    const conn = await promisify<mysql.PoolConnection>((cb) => cluster.getConnection("replica*", cb));
    await promisify((cb) => conn.query("SELECT 1 AS leased", cb));
    await promisify((cb) => conn.execute("SELECT ? AS leased", [2], cb));
    conn.release();
    // the node pool reuses that connection for the namespace's own query: recorded once
    await promisify((cb) => cluster.of("replica*").query("SELECT 3 AS after_release", cb));
    const other = await promisify<mysql.PoolConnection>((cb) => cluster.of("primary").getConnection(cb));
    await promisify((cb) => other.query("SELECT 4 AS via_namespace", cb));
    other.release();
    expect(queries().map((e) => (e.params as { sql: string }).sql)).toEqual([
      "SELECT 1 AS leased",
      "SELECT ? AS leased",
      "SELECT 3 AS after_release",
      "SELECT 4 AS via_namespace",
    ]);
  });

  it("audits mysql2/promise clusters, in the issuing scope across 60 concurrent scopes on 2 connections", async () => {
    const cluster = mysqlPromise.createPoolCluster();
    cluster.add("only", { ...connection, connectionLimit: 2 });
    closers.push(() => cluster.end());
    auditMysql2(cluster, { engine: t.engine });
    const ns = cluster.of("only");
    await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        withAuditScope({ actor: { username: `u${i}` }, correlation: { request_id: `r${i}` } }, async () => {
          if (i % 3 === 0) await ns.query("SELECT ? AS i, SLEEP(0.001)", [i]);
          else if (i % 3 === 1) await ns.execute("SELECT ? AS i", [i]);
          else {
            const conn = await cluster.getConnection("only");
            try {
              await conn.query("SELECT ? AS i", [i]);
            } finally {
              conn.release();
            }
          }
        }),
      ),
    );
    const events = queries();
    expect(events).toHaveLength(60);
    for (const e of events) {
      const i = (e.params as { values: number[] }).values[0];
      expect(e.actor?.username).toBe(`u${i}`);
      expect(e.correlation?.request_id).toBe(`r${i}`);
    }
  });
});
