/**
 * `auditSqlite` against a real in-memory better-sqlite3 database.
 */
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditSqlite } from "../../src/integrations/better-sqlite3/index.js";
import { ofType, type TestEngine, testEngine } from "./helpers.js";

let t: TestEngine;
let raw: Database.Database;
let db: Database.Database;
const queries = (): AuditEvent[] => ofType(t.events(), "QUERY_EXECUTION");

beforeEach(() => {
  t = testEngine();
  raw = new Database(":memory:");
  raw.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, secret_token TEXT)");
  db = auditSqlite(raw, { engine: t.engine });
});
afterEach(async () => {
  raw.close();
  await t.dispose();
});

describe("auditSqlite", () => {
  it("returns the same database and audits run, get and all with counts", () => {
    expect(db).toBe(raw);
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    const info = insert.run("a");
    expect(info.changes).toBe(1);
    insert.run("b");
    expect(db.prepare("SELECT name FROM items WHERE name = ?").get("a")).toEqual({ name: "a" });
    expect(db.prepare("SELECT name FROM items WHERE name = ?").get("zz")).toBeUndefined();
    expect(db.prepare("SELECT name FROM items ORDER BY name").all()).toEqual([{ name: "a" }, { name: "b" }]);
    const events = queries();
    expect(events.map((e) => [e.action.method, e.result.count])).toEqual([
      ["INSERT", 1],
      ["INSERT", 1],
      ["SELECT", 1],
      ["SELECT", 0],
      ["SELECT", 2],
    ]);
    expect(events[0]!.params).toEqual({ sql: "INSERT INTO items (name) VALUES (?)", values: ["a"] });
    expect(events[0]!.action.resource).toEqual({ type: "database", name: ":memory:" });
    expect(events[0]!.metadata).toEqual({ driver: "better-sqlite3" });
    expect(events[4]!.params).toEqual({ sql: "SELECT name FROM items ORDER BY name" });
  });

  it("records named parameters, bind() values, and keeps pluck/raw working", () => {
    db.prepare("INSERT INTO items (name) VALUES (@name)").run({ name: "named" });
    const stmt = db.prepare("SELECT id, name FROM items WHERE name = ?").bind("named");
    expect(stmt.raw().get()).toEqual([1, "named"]);
    expect(db.prepare("SELECT name FROM items").pluck().all()).toEqual(["named"]);
    const [named, bound, plucked] = queries();
    expect((named!.params as { values: unknown }).values).toEqual({ name: "named" });
    expect((bound!.params as { values: unknown }).values).toEqual(["named"]);
    expect(plucked!.result.count).toBe(1);
  });

  it("audits iterate() by the rows consumed, also when the loop stops early", () => {
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    for (const n of ["a", "b", "c", "d"]) insert.run(n);
    const names: string[] = [];
    for (const row of db.prepare("SELECT name FROM items ORDER BY name").iterate() as Iterable<{
      name: string;
    }>) {
      names.push(row.name);
    }
    for (const row of db.prepare("SELECT name FROM items ORDER BY name").iterate() as Iterable<{
      name: string;
    }>) {
      if (row.name === "b") break;
    }
    expect(names).toEqual(["a", "b", "c", "d"]);
    const [full, early] = queries().slice(4);
    expect(full!.result).toMatchObject({ status: "SUCCESS", count: 4 });
    expect(early!.result).toMatchObject({ status: "SUCCESS", count: 2 });
  });

  it("records failures with SQLite's code, including statements that fail to prepare, and rethrows the same error", () => {
    db.prepare("INSERT INTO items (name) VALUES (?)").run("dup");
    let thrown: unknown;
    try {
      db.prepare("INSERT INTO items (name) VALUES (?)").run("dup");
    } catch (err) {
      thrown = err;
    }
    expect((thrown as { code?: string }).code).toBe("SQLITE_CONSTRAINT_UNIQUE");
    expect(() => db.prepare("SELECT * FROM missing_table")).toThrow(/no such table/);
    expect(() => db.exec("CREATE TABLE items (x)")).toThrow(/already exists/);
    const [, dup, prep, exec] = queries();
    expect(dup!.result).toMatchObject({
      status: "FAILURE",
      error: { type: "SqliteError", code: "SQLITE_CONSTRAINT_UNIQUE" },
    });
    expect(dup!.severity).toBe("ERROR");
    expect(prep!.params).toEqual({ sql: "SELECT * FROM missing_table" });
    expect(prep!.result.error?.message).toContain("no such table");
    expect(exec!.action.method).toBe("CREATE");
    expect(exec!.result.status).toBe("FAILURE");
  });

  it("audits exec() scripts and skips what options.skip names", () => {
    const quiet = new Database(":memory:");
    try {
      const audited = auditSqlite(quiet, { engine: t.engine, skip: ["SELECT 1", /^\s*PRAGMA/i] });
      audited.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);");
      audited.prepare("SELECT 1").get();
      audited.prepare("PRAGMA user_version").get();
      audited.prepare("SELECT x FROM t").all();
      expect(queries().map((e) => (e.params as { sql: string }).sql)).toEqual([
        "CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        "SELECT x FROM t",
      ]);
    } finally {
      quiet.close();
    }
  });

  it("redacts all values of statements naming a secret column and honours captureValues: false", () => {
    db.prepare("INSERT INTO items (name, secret_token) VALUES (?, ?)").run("s", "tok_123456");
    const bare = new Database(":memory:");
    try {
      auditSqlite(bare, { engine: t.engine, captureValues: false }).prepare("SELECT ? AS v").get("visible?");
    } finally {
      bare.close();
    }
    const [secret, bareEvent] = queries();
    expect((secret!.params as { values: unknown }).values).toEqual(["[REDACTED]", "[REDACTED]"]);
    expect(bareEvent!.params).toEqual({ sql: "SELECT ? AS v" });
    expect(JSON.stringify(t.events())).not.toContain("tok_123456");
  });

  it("gives each statement the scope in force at the call", () => {
    const stmt = db.prepare("SELECT ? AS who");
    withAuditScope({ actor: { username: "ann" }, correlation: { request_id: "r-ann" } }, () =>
      stmt.get("ann"),
    );
    withAuditScope({ actor: { username: "ben" } }, () => stmt.get("ben"));
    stmt.get("nobody");
    const [a, b, c] = queries();
    expect(a!.actor).toEqual({ username: "ann" });
    expect(a!.correlation).toEqual({ request_id: "r-ann" });
    expect(b!.actor).toEqual({ username: "ben" });
    expect(c!.actor).toBeUndefined();
  });

  it("is idempotent and rejects what is not a Database", () => {
    auditSqlite(db, { engine: t.engine });
    db.prepare("INSERT INTO items (name) VALUES (?)").run("once");
    expect(queries()).toHaveLength(1);
    expect(() => auditSqlite({ prepare() {} } as never)).toThrow(
      /auditSqlite: expected a better-sqlite3 Database/,
    );
  });
});

describe("auditSqlite transactions and pragmas", () => {
  const transactions = (): AuditEvent[] => ofType(t.events(), "TRANSACTION");
  const names = () => raw.prepare("SELECT name FROM items ORDER BY name").pluck().all() as string[];

  it("records one TRANSACTION event per committed call, its statements carrying its transaction_id", () => {
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    const addAll = db.transaction((list: string[]) => {
      for (const n of list) insert.run(n);
      return list.length;
    });
    const returned = withAuditScope({ actor: { username: "tess" } }, () => addAll(["x", "y"]));
    expect(returned).toBe(2);
    const all = t.events();
    expect(all.map((e) => `${e.action.type}:${e.action.method}`)).toEqual([
      "QUERY_EXECUTION:INSERT",
      "QUERY_EXECUTION:INSERT",
      "TRANSACTION:COMMIT",
    ]);
    const [tx] = transactions();
    expect(tx!.action).toMatchObject({
      category: "DATABASE",
      resource: { type: "database", name: ":memory:" },
    });
    expect(tx!.result.status).toBe("SUCCESS");
    expect(tx!.severity).toBe("INFO");
    expect(tx!.result.duration_ms).toBeGreaterThanOrEqual(0);
    expect(tx!.actor).toEqual({ username: "tess" });
    const id = (tx!.metadata as { transaction_id: string }).transaction_id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tx!.metadata).toEqual({ driver: "better-sqlite3", transaction_id: id, mode: "default" });
    for (const q of queries()) {
      expect(q.metadata).toEqual({ driver: "better-sqlite3", transaction_id: id });
      expect(q.actor).toEqual({ username: "tess" });
    }
    expect(names()).toEqual(["x", "y"]);
    addAll(["z"]);
    const second = transactions()[1]!;
    expect((second.metadata as { transaction_id: string }).transaction_id).not.toBe(id);
    expect(queries()[3]!.metadata).toEqual({
      driver: "better-sqlite3",
      transaction_id: (second.metadata as { transaction_id: string }).transaction_id,
    });
  });

  it("records a rollback as FAILURE with the error, which reaches the caller unchanged", () => {
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    const boom = new Error("stock check failed");
    const failing = db.transaction(() => {
      insert.run("gone");
      throw boom;
    });
    expect(() => failing()).toThrow(boom);
    const duplicate = db.transaction(() => {
      insert.run("dup");
      insert.run("dup");
    });
    expect(() => duplicate()).toThrow(/UNIQUE constraint failed/);
    expect(names()).toEqual([]);
    const [first, second] = transactions();
    expect(first!.action.method).toBe("ROLLBACK");
    expect(first!.result).toMatchObject({
      status: "FAILURE",
      error: { type: "Error", message: "stock check failed" },
    });
    expect(first!.severity).toBe("ERROR");
    expect(second!.result.error).toMatchObject({ code: "SQLITE_CONSTRAINT_UNIQUE" });
    // the failing statement is recorded too, inside its transaction
    const failed = queries().filter((q) => q.result.status === "FAILURE");
    expect(failed).toHaveLength(1);
    expect((failed[0]!.metadata as { transaction_id: string }).transaction_id).toBe(
      (second!.metadata as { transaction_id: string }).transaction_id,
    );
  });

  it("records a nested transaction as a savepoint of the outer one (RELEASE / ROLLBACK TO)", () => {
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    const inner = db.transaction((name: string, fail: boolean) => {
      insert.run(name);
      if (fail) throw new Error(`inner ${name} failed`);
    });
    const outer = db.transaction(() => {
      insert.run("outer");
      inner("kept", false);
      try {
        inner("undone", true);
      } catch {
        // the savepoint rolled back; the outer transaction goes on
      }
    });
    outer();
    expect(names()).toEqual(["kept", "outer"]);
    const [kept, undone, top] = transactions();
    const id = (top!.metadata as { transaction_id: string }).transaction_id;
    expect(top!.action.method).toBe("COMMIT");
    expect(kept!.action.method).toBe("RELEASE");
    expect(kept!.metadata).toMatchObject({ transaction_id: id, savepoint: 1 });
    expect(undone!.action.method).toBe("ROLLBACK TO");
    expect(undone!.result).toMatchObject({ status: "FAILURE", error: { message: "inner undone failed" } });
    expect(undone!.metadata).toMatchObject({ transaction_id: id, savepoint: 1 });
    const [o, k, u] = queries();
    expect(o!.metadata).toEqual({ driver: "better-sqlite3", transaction_id: id });
    expect(k!.metadata).toEqual({ driver: "better-sqlite3", transaction_id: id, savepoint: 1 });
    expect(u!.metadata).toEqual({ driver: "better-sqlite3", transaction_id: id, savepoint: 1 });
  });

  it("audits the deferred, immediate and exclusive variants, which keep better-sqlite3's shape", () => {
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    const add = db.transaction((n: string) => insert.run(n).changes);
    const shape = add as unknown as Record<string, Record<string, Record<string, Record<string, unknown>>>>;
    expect(shape.database).toBe(raw);
    expect(shape.immediate!.exclusive!.deferred!.default).toBe(add);
    expect(add.immediate("i")).toBe(1);
    expect(add.exclusive("e")).toBe(1);
    expect(add.deferred("d")).toBe(1);
    expect(transactions().map((e) => (e.metadata as { mode: string }).mode)).toEqual([
      "immediate",
      "exclusive",
      "deferred",
    ]);
  });

  it("records nothing for transactions when skip matches BEGIN, statements still audited", () => {
    const quiet = new Database(":memory:");
    try {
      auditSqlite(quiet, { engine: t.engine, skip: ["BEGIN"] });
      quiet.exec("CREATE TABLE n (v INTEGER)");
      const insert = quiet.prepare("INSERT INTO n VALUES (?)");
      quiet.transaction(() => insert.run(1))();
      expect(transactions()).toEqual([]);
      expect(queries().map((e) => e.action.method)).toEqual(["CREATE", "INSERT"]);
      expect(queries()[1]!.metadata).toEqual({ driver: "better-sqlite3" });
    } finally {
      quiet.close();
    }
  });

  it("records each pragma as a PRAGMA statement, failures included, with results unchanged", () => {
    expect(db.pragma("user_version = 7")).toEqual([]);
    expect(db.pragma("user_version", { simple: true })).toBe(7);
    expect(db.pragma("foreign_keys = ON")).toEqual([]);
    expect(db.pragma("table_info(items)")).toHaveLength(3);
    expect(() => db.pragma("user_version = (")).toThrow();
    const events = queries();
    expect(events.map((e) => [(e.params as { sql: string }).sql, e.action.method, e.result.status])).toEqual([
      ["PRAGMA user_version = 7", "PRAGMA", "SUCCESS"],
      ["PRAGMA user_version", "PRAGMA", "SUCCESS"],
      ["PRAGMA foreign_keys = ON", "PRAGMA", "SUCCESS"],
      ["PRAGMA table_info(items)", "PRAGMA", "SUCCESS"],
      ["PRAGMA user_version = (", "PRAGMA", "FAILURE"],
    ]);
    expect(events[3]!.result.count).toBe(3);
    expect(events[4]!.result.error?.code).toBe("SQLITE_ERROR");
  });
});
