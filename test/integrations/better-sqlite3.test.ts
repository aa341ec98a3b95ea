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

  it("does not record transaction control and pragma statements, and is idempotent", () => {
    auditSqlite(db, { engine: t.engine });
    const insert = db.prepare("INSERT INTO items (name) VALUES (?)");
    db.transaction((names: string[]) => {
      for (const n of names) insert.run(n);
    })(["x", "y"]);
    db.pragma("user_version");
    expect(queries().map((e) => e.action.method)).toEqual(["INSERT", "INSERT"]);
    expect(() => auditSqlite({ prepare() {} } as never)).toThrow(
      /auditSqlite: expected a better-sqlite3 Database/,
    );
  });
});
