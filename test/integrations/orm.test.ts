/**
 * `auditKysely` and `auditDrizzle`, each on SQLite (better-sqlite3) and the real PostgreSQL
 * (127.0.0.1:5432, user postgres, database test): the same statement events as the driver
 * wrappers, failures, transactions, and 200 concurrent scopes that never mix actors.
 */
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import { sql as dsql, eq } from "drizzle-orm";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { int, mysqlTable, varchar } from "drizzle-orm/mysql-core";
import { drizzle as drizzleMysql, type MySql2Database } from "drizzle-orm/mysql2";
import { drizzle as drizzlePg } from "drizzle-orm/node-postgres";
import { integer as pgInteger, pgTable, text as pgText } from "drizzle-orm/pg-core";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { Kysely, PostgresDialect, SqliteDialect, sql } from "kysely";
import mysqlCallback from "mysql2";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import type { AuditEvent } from "../../src/event/types.js";
import { auditDrizzle } from "../../src/integrations/drizzle/index.js";
import { auditKysely } from "../../src/integrations/kysely/index.js";
import { ofType, type TestEngine, testEngine } from "./helpers.js";

const connection = { host: "127.0.0.1", port: 5432, user: "postgres", database: "test" };
const mariadb = { host: "127.0.0.1", port: 3306, user: "root", database: "test" };
const table = `vigil_orm_${process.pid}_${randomBytes(3).toString("hex")}`;

interface Items {
  id: number;
  name: string;
  password_hash: string | null;
}

/** One way of talking to one database, the operations every case below uses. */
interface Subject {
  readonly driver: string;
  readonly orm: string;
  readonly database: string | undefined;
  insert(name: string, passwordHash?: string): Promise<void>;
  names(): Promise<string[]>;
  /** Rows deleted. */
  remove(name: string): Promise<void>;
  /** A statement that fails (unique violation). */
  duplicate(name: string): Promise<void>;
  /** A statement echoing one value, for the concurrency case. */
  echo(value: string): Promise<string>;
  /** Insert `names` in a transaction, throwing after the last when `fail`. */
  transaction(names: readonly string[], fail: boolean): Promise<void>;
  close(): Promise<void>;
}

let t: TestEngine;
let admin: pg.Client;
let mysqlAdmin: mysql.Connection;
let sqliteFile: Database.Database;

const queries = (): AuditEvent[] => ofType(t.events(), "QUERY_EXECUTION");

function kyselySubject(
  db: Kysely<{ [table]: Items }>,
  driver: string,
  database: string | undefined,
): Subject {
  return {
    driver,
    orm: "kysely",
    database,
    async insert(name, passwordHash) {
      await db
        .insertInto(table)
        .values((passwordHash === undefined ? { name } : { name, password_hash: passwordHash }) as never)
        .execute();
    },
    async names() {
      const rows = await db.selectFrom(table).select("name").orderBy("name").execute();
      return rows.map((r) => r.name);
    },
    async remove(name) {
      await db.deleteFrom(table).where("name", "=", name).execute();
    },
    async duplicate(name) {
      await db
        .insertInto(table)
        .values({ name } as never)
        .execute();
    },
    async echo(value) {
      const r = await sql<{ v: string }>`select ${value} as v`.execute(db);
      return r.rows[0]!.v;
    },
    async transaction(names, fail) {
      await db.transaction().execute(async (trx) => {
        for (const name of names)
          await trx
            .insertInto(table)
            .values({ name } as never)
            .execute();
        if (fail) throw new Error("changed my mind");
      });
    },
    close: () => db.destroy(),
  };
}

const sqliteItems = sqliteTable(table, {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  password_hash: text("password_hash"),
});
const pgItems = pgTable(table, {
  id: pgInteger("id").primaryKey().generatedAlwaysAsIdentity(),
  name: pgText("name").notNull().unique(),
  password_hash: pgText("password_hash"),
});

function drizzleSqliteSubject(db: ReturnType<typeof drizzleSqlite>): Subject {
  return {
    driver: "better-sqlite3",
    orm: "drizzle",
    database: ":memory:",
    async insert(name, passwordHash) {
      db.insert(sqliteItems)
        .values(passwordHash === undefined ? { name } : { name, password_hash: passwordHash })
        .run();
    },
    async names() {
      const rows = db.select({ name: sqliteItems.name }).from(sqliteItems).orderBy(sqliteItems.name).all();
      return rows.map((r) => r.name);
    },
    async remove(name) {
      db.delete(sqliteItems).where(eq(sqliteItems.name, name)).run();
    },
    async duplicate(name) {
      db.insert(sqliteItems).values({ name }).run();
    },
    async echo(value) {
      // better-sqlite3 is synchronous: yield once so the scopes interleave
      await new Promise((r) => setImmediate(r));
      const row = db.get<{ v: string }>(dsql`select ${value} as v`);
      return row.v;
    },
    async transaction(names, fail) {
      db.transaction((tx) => {
        for (const name of names) tx.insert(sqliteItems).values({ name }).run();
        if (fail) throw new Error("changed my mind");
      });
    },
    async close() {},
  };
}

function drizzlePgSubject(db: ReturnType<typeof drizzlePg<Record<string, never>, pg.Pool>>): Subject {
  return {
    driver: "pg",
    orm: "drizzle",
    database: "test",
    async insert(name, passwordHash) {
      await db
        .insert(pgItems)
        .values(passwordHash === undefined ? { name } : { name, password_hash: passwordHash });
    },
    async names() {
      const rows = await db.select({ name: pgItems.name }).from(pgItems).orderBy(pgItems.name);
      return rows.map((r) => r.name);
    },
    async remove(name) {
      await db.delete(pgItems).where(eq(pgItems.name, name));
    },
    async duplicate(name) {
      await db.insert(pgItems).values({ name });
    },
    async echo(value) {
      const r = await db.execute<{ v: string }>(dsql`select ${value}::text as v`);
      return r.rows[0]!.v;
    },
    async transaction(names, fail) {
      await db.transaction(async (tx) => {
        for (const name of names) await tx.insert(pgItems).values({ name });
        if (fail) throw new Error("changed my mind");
      });
    },
    close: () => db.$client.end(),
  };
}

const mysqlItems = mysqlTable(table, {
  id: int("id").primaryKey().autoincrement(),
  name: varchar("name", { length: 64 }).notNull().unique(),
  password_hash: varchar("password_hash", { length: 64 }),
});

function drizzleMysqlSubject(db: MySql2Database, end: () => Promise<void>): Subject {
  return {
    driver: "mysql2",
    orm: "drizzle",
    database: "test",
    async insert(name, passwordHash) {
      await db
        .insert(mysqlItems)
        .values(passwordHash === undefined ? { name } : { name, password_hash: passwordHash });
    },
    async names() {
      const rows = await db.select({ name: mysqlItems.name }).from(mysqlItems).orderBy(mysqlItems.name);
      return rows.map((r) => r.name);
    },
    async remove(name) {
      await db.delete(mysqlItems).where(eq(mysqlItems.name, name));
    },
    async duplicate(name) {
      await db.insert(mysqlItems).values({ name });
    },
    async echo(value) {
      const [rows] = (await db.execute(dsql`select ${value} as v`)) as unknown as [{ v: string }[]];
      return rows[0]!.v;
    },
    async transaction(names, fail) {
      await db.transaction(async (tx) => {
        for (const name of names) await tx.insert(mysqlItems).values({ name });
        if (fail) throw new Error("changed my mind");
      });
    },
    close: end,
  };
}

const subjects: Record<string, () => Subject> = {
  "kysely on SQLite": () =>
    kyselySubject(
      new Kysely({ dialect: auditKysely(new SqliteDialect({ database: sqliteFile }), { engine: t.engine }) }),
      "better-sqlite3",
      undefined,
    ),
  "kysely on PostgreSQL": () =>
    kyselySubject(
      new Kysely({
        dialect: auditKysely(new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 4 }) }), {
          engine: t.engine,
          database: "test",
        }),
      }),
      "pg",
      "test",
    ),
  "drizzle on SQLite": () =>
    drizzleSqliteSubject(auditDrizzle(drizzleSqlite(sqliteFile), { engine: t.engine })),
  "drizzle on MariaDB (mysql2/promise pool)": () => {
    const pool = mysql.createPool({ ...mariadb, connectionLimit: 4 });
    return drizzleMysqlSubject(auditDrizzle(drizzleMysql(pool), { engine: t.engine }), () => pool.end());
  },
  "drizzle on MariaDB (mysql2 callback pool)": () => {
    const pool = mysqlCallback.createPool({ ...mariadb, connectionLimit: 4 });
    return drizzleMysqlSubject(
      auditDrizzle(drizzleMysql(pool), { engine: t.engine }),
      () => new Promise<void>((resolve) => pool.end(() => resolve())),
    );
  },
  "drizzle on PostgreSQL": () =>
    drizzlePgSubject(
      auditDrizzle(drizzlePg(new pg.Pool({ ...connection, max: 4 })), {
        engine: t.engine,
      }),
    ),
};

beforeAll(async () => {
  admin = new pg.Client(connection);
  await admin.connect();
  await admin.query(
    `CREATE TABLE ${table} (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL UNIQUE, password_hash text)`,
  );
  mysqlAdmin = await mysql.createConnection(mariadb);
  await mysqlAdmin.query(
    `CREATE TABLE ${table} (id int AUTO_INCREMENT PRIMARY KEY, name varchar(64) NOT NULL UNIQUE, password_hash varchar(64))`,
  );
});
afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${table}`);
  await admin.end();
  await mysqlAdmin.query(`DROP TABLE IF EXISTS ${table}`);
  await mysqlAdmin.end();
});
beforeEach(async () => {
  t = testEngine();
  await admin.query(`TRUNCATE ${table}`);
  await mysqlAdmin.query(`TRUNCATE ${table}`);
  // a fresh database per case: auditing is per database object
  sqliteFile = new Database(":memory:");
  sqliteFile.exec(
    `CREATE TABLE ${table} (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, password_hash TEXT)`,
  );
});
afterEach(async () => {
  await t.dispose();
  sqliteFile.close();
});

describe.each(Object.keys(subjects))("%s", (name) => {
  const open = subjects[name]!;

  it("records each statement: SQL, values, method, row count, duration, driver and orm", async () => {
    const s = open();
    try {
      await s.insert("alice");
      await s.insert("bob");
      expect(await s.names()).toEqual(["alice", "bob"]);
      await s.remove("bob");
      const events = queries();
      expect(events.map((e) => e.action.method)).toEqual(["INSERT", "INSERT", "SELECT", "DELETE"]);
      const [ins, , sel, del] = events;
      expect(ins!.action).toMatchObject({ category: "DATABASE", type: "QUERY_EXECUTION" });
      expect(ins!.action.resource).toEqual(
        s.database ? { type: "database", name: s.database } : { type: "database" },
      );
      expect((ins!.params as { sql: string }).sql).toMatch(new RegExp(`insert into ["\`]${table}["\`]`, "i"));
      // (Drizzle's INSERT names every column, password_hash included: its values are redacted)
      expect(del!.params).toEqual({ sql: expect.stringMatching(/^delete from/i), values: ["bob"] });
      expect(ins!.result).toMatchObject({ status: "SUCCESS", count: 1 });
      expect(typeof ins!.result.duration_ms).toBe("number");
      expect(sel!.result.count).toBe(2);
      expect(del!.result.count).toBe(1);
      expect(ins!.metadata).toEqual({ driver: s.driver, orm: s.orm });
    } finally {
      await s.close();
    }
  });

  it("records a failing statement with the driver's code, and the caller gets the same error", async () => {
    const s = open();
    try {
      await s.insert("carol");
      const error = await s.duplicate("carol").then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(error).toBeInstanceOf(Error);
      const failed = queries().filter((e) => e.result.status === "FAILURE");
      expect(failed).toHaveLength(1);
      expect(failed[0]!.severity).toBe("ERROR");
      const codes: Record<string, string> = {
        pg: "23505",
        "better-sqlite3": "SQLITE_CONSTRAINT_UNIQUE",
        mysql2: "ER_DUP_ENTRY",
      };
      expect(failed[0]!.result.error?.code).toBe(codes[s.driver]);
      expect(failed[0]!.result.count).toBeUndefined();
      expect(await s.names()).toEqual(["carol"]);
    } finally {
      await s.close();
    }
  });

  it("redacts the values of a statement naming a secret column", async () => {
    const s = open();
    try {
      await s.insert("dave", "s3cret-hash");
      const [ins] = queries();
      expect(JSON.stringify(ins!.params)).not.toContain("s3cret-hash");
    } finally {
      await s.close();
    }
  });

  it("audits the statements of a committed and of a rolled-back transaction", async () => {
    const s = open();
    try {
      await s.transaction(["erin", "frank"], false);
      await expect(s.transaction(["gina"], true)).rejects.toThrow("changed my mind");
      expect(await s.names()).toEqual(["erin", "frank"]);
      const events = t.events();
      const inserts = ofType(events, "QUERY_EXECUTION").filter((e) => e.action.method === "INSERT");
      expect(inserts).toHaveLength(3);
      // the end of each transaction is on record: a statement (pg, Kysely) or better-sqlite3's TRANSACTION event
      const ends = events.filter(
        (e) =>
          e.action.method === "COMMIT" || e.action.method === "ROLLBACK" || e.action.type === "TRANSACTION",
      );
      expect(ends.map((e) => e.action.method)).toEqual(["COMMIT", "ROLLBACK"]);
    } finally {
      await s.close();
    }
  });

  it("carries each scope's actor through 200 concurrent scopes", async () => {
    const s = open();
    try {
      const echoed = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          withAuditScope({ actor: { id: `user-${i}` }, correlation: { request_id: `req-${i}` } }, () =>
            s.echo(`user-${i}`),
          ),
        ),
      );
      expect(echoed).toEqual(Array.from({ length: 200 }, (_, i) => `user-${i}`));
      const events = queries();
      expect(events).toHaveLength(200);
      for (const e of events) {
        const value = (e.params as { values: string[] }).values[0]!;
        expect(e.actor?.id).toBe(value);
        expect(e.correlation?.request_id).toBe(value.replace("user", "req"));
      }
    } finally {
      await s.close();
    }
  });
});

describe("entry points", () => {
  it("reject what is not a dialect or a Drizzle database, and malformed options", () => {
    expect(() => auditKysely({} as never)).toThrow(/auditKysely: expected a Kysely dialect/);
    expect(() => auditDrizzle({ $client: 42 } as never)).toThrow(/auditDrizzle: expected a Drizzle database/);
    expect(() => auditKysely(new SqliteDialect({ database: sqliteFile }), { skip: 3 as never })).toThrow(
      /auditKysely: options.skip must be/,
    );
    expect(() => auditDrizzle(drizzleSqlite(sqliteFile), { captureValues: "no" as never })).toThrow(
      /auditDrizzle: options.captureValues must be a boolean/,
    );
  });

  it("kysely: skip applies to the SQL Kysely compiled", async () => {
    const db = new Kysely<{ [table]: Items }>({
      dialect: auditKysely(new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 2 }) }), {
        engine: t.engine,
        skip: [/^select 1$/i],
      }),
    });
    try {
      await sql`select 1`.execute(db);
      expect(queries()).toHaveLength(0);
      const s = kyselySubject(db, "pg", undefined);
      await s.insert("x1");
      await s.insert("x2");
      expect(queries()).toHaveLength(2);
    } finally {
      await db.destroy();
    }
  });

  it("kysely on SQLite: a streamed select records the rows it yielded", async () => {
    sqliteFile.exec(`INSERT INTO ${table} (name) VALUES ('a'), ('b'), ('c')`);
    const db = new Kysely<{ [table]: Items }>({
      dialect: auditKysely(new SqliteDialect({ database: sqliteFile }), { engine: t.engine }),
    });
    try {
      const seen: string[] = [];
      for await (const row of db.selectFrom(table).select("name").orderBy("name").stream())
        seen.push(row.name);
      expect(seen).toEqual(["a", "b", "c"]);
      const [sel] = queries();
      expect(sel!.result).toMatchObject({ status: "SUCCESS", count: 3 });
    } finally {
      await db.destroy();
    }
  });
});
