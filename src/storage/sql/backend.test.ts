import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  databaseConfig,
  dropTable,
  MARIADB,
  mysqlQuery,
  POSTGRES,
  pgQuery,
  uniqueTable,
} from "../../../test/conformance/sql-servers.js";
import { tempDir } from "../../../test/helpers.js";
import type { DatabaseConnectionConfig } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { AuditEvent } from "../../event/types.js";
import { parse } from "../../query/parse.js";
import type { StoredRecord } from "../backend.js";
import { loadDriver } from "./driver.js";
import { createSqlBackend, type SqlBackend, SqlWriteError } from "./index.js";
import { derivedName } from "./schema.js";

const temp = tempDir("vigil-sql-backend-");
afterAll(() => temp.cleanup());

let serial = 0;
function event(overrides: Record<string, unknown> = {}): AuditEvent {
  serial++;
  return {
    schema_version: 1,
    id: `0192f0c4-0000-7000-8000-${String(serial).padStart(12, "0")}`,
    timestamp: new Date(Date.UTC(2026, 10, 26, 12, 0, 0, serial)).toISOString(),
    severity: "INFO",
    security_event: false,
    application: { name: "traffictracer" },
    actor: { id: "42", username: "alice", roles: ["admin"] },
    action: { type: "QUERY", category: "DATABASE", resource: { path: "/api/v1/health" } },
    result: { status: "SUCCESS", duration_ms: 3.2 },
    ...overrides,
  } as AuditEvent;
}

const record = (e: AuditEvent): StoredRecord => ({ event: e, line: JSON.stringify(e) });

interface Target {
  readonly dialect: "sqlite" | "postgresql" | "mysql";
  connection(): DatabaseConnectionConfig;
  /** Runs SQL directly through the driver, not through vigil. */
  raw(text: string): Promise<Record<string, unknown>[]>;
  cleanup(table: string): Promise<void>;
}

const sqliteFile = `${temp.dir}/audit.db`;
const TARGETS: readonly Target[] = [
  {
    dialect: "sqlite",
    connection: () => ({ dialect: "sqlite", filename: sqliteFile }),
    raw: async (text) => {
      const db = new Database(sqliteFile);
      try {
        const statement = db.prepare(text);
        if (statement.reader) return statement.all() as Record<string, unknown>[];
        statement.run();
        return [];
      } finally {
        db.close();
      }
    },
    cleanup: async () => {},
  },
  {
    dialect: "postgresql",
    connection: () => POSTGRES,
    raw: (text) => pgQuery(text),
    cleanup: (table) => dropTable("postgresql", table),
  },
  {
    dialect: "mysql",
    connection: () => MARIADB,
    raw: (text) => mysqlQuery(text),
    cleanup: (table) => dropTable("mysql", table),
  },
];

const quote = (dialect: Target["dialect"], name: string) =>
  dialect === "mysql" ? `\`${name}\`` : `"${name}"`;

/** A `ts` column's value as the event's timestamp text (PostgreSQL returns a `Date`). */
const tsText = (value: unknown) => (value instanceof Date ? value.toISOString() : value);

/** The key columns of the index `name` on `table`, in order (PostgreSQL: their expressions); none when it does not exist. */
async function indexColumns(target: Target, table: string, name: string): Promise<string[]> {
  const text = {
    sqlite: `SELECT name AS c FROM pragma_index_info('${name}') ORDER BY seqno`,
    mysql: `SELECT COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${table}' AND INDEX_NAME = '${name}' ORDER BY SEQ_IN_INDEX`,
    postgresql: `SELECT pg_get_indexdef(i.indexrelid, k, true) AS c FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid, generate_series(1, i.indnatts) k WHERE x.relname = '${name}' ORDER BY k`,
  }[target.dialect];
  return (await target.raw(text)).map((r) => String(r.c));
}

describe.each(TARGETS)("the $dialect backend", (target) => {
  const table = uniqueTable(`t_${target.dialect.slice(0, 2)}`);
  const q = quote(target.dialect, table);
  // Version 5 gives PostgreSQL's `id` and `ts` (MariaDB's `ts`) their native types; SQLite records it empty.
  const versions = [1, 2, 3, 4, 5, 6];
  const tables: string[] = [table];
  let backend: SqlBackend;

  beforeAll(async () => {
    backend = createSqlBackend(databaseConfig(target.connection(), table, target.dialect));
    await backend.open();
  });

  afterAll(async () => {
    await backend.close();
    for (const t of tables) await target.cleanup(t);
  }, 30_000);

  it("creates its table on first use and records every schema version; reopening changes nothing", async () => {
    const rows = await target.raw(
      `SELECT version, description FROM ${quote(target.dialect, `${table}_migrations`)}`,
    );
    expect(rows.map((r) => Number(r.version))).toEqual(versions);
    const again = createSqlBackend(databaseConfig(target.connection(), table));
    await again.open();
    await again.close();
    const after = await target.raw(`SELECT version FROM ${quote(target.dialect, `${table}_migrations`)}`);
    expect(after.map((r) => Number(r.version))).toEqual(versions);
  });

  it("migrates a version-2 table: adds the tenant column and its index, keeps the rows", async () => {
    const old = uniqueTable(`m_${target.dialect.slice(0, 2)}`);
    tables.push(old);
    const oq = quote(target.dialect, old);
    const first = createSqlBackend(databaseConfig(target.connection(), old));
    await first.open();
    const before = event(); // a vigil before tenants wrote none
    await first.write([record(before)], { sync: true });
    await first.close();
    // without version 6's status index, which a dropped `ts` would otherwise leave cut short on MariaDB
    const status = quote(target.dialect, derivedName(old, "status_ts_idx"));
    await target.raw(target.dialect === "mysql" ? `DROP INDEX ${status} ON ${oq}` : `DROP INDEX ${status}`);
    if (target.dialect === "mysql") {
      // the ISO text ts of versions 1 to 4 (MariaDB), while the update guard still knows its columns
      const keys = ["ts_idx", "category_ts_idx", "type_ts_idx", "actor_ts_idx", "tenant_ts_idx"].map((k) =>
        quote("mysql", derivedName(old, k)),
      );
      const text = "VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin";
      await target.raw(`ALTER TABLE ${oq} ADD COLUMN ts_text ${text} NULL`);
      await target.raw(
        `UPDATE ${oq} SET ts_text = CONCAT(LEFT(DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')`,
      );
      await target.raw(
        `ALTER TABLE ${oq} ${keys.map((k) => `DROP KEY ${k}`).join(", ")}, DROP COLUMN ts, CHANGE COLUMN ts_text ts ${text} NOT NULL AFTER id, ` +
          `ADD KEY ${keys[0]} (ts, id), ADD KEY ${keys[1]} (category, ts, id), ADD KEY ${keys[2]} (type, ts, id), ADD KEY ${keys[3]} (actor_username, ts, id), ADD KEY ${keys[4]} (tenant, ts, id)`,
      );
    }
    // take the table back to version 2, as a vigil before tenants left it
    const index = quote(target.dialect, derivedName(old, "tenant_ts_idx"));
    await target.raw(target.dialect === "mysql" ? `DROP INDEX ${index} ON ${oq}` : `DROP INDEX ${index}`);
    await target.raw(`ALTER TABLE ${oq} DROP COLUMN tenant`);
    await target.raw(`DELETE FROM ${quote(target.dialect, `${old}_migrations`)} WHERE version >= 3`);
    if (target.dialect === "postgresql") {
      // and back to the text columns of versions 1 to 4
      await target.raw(
        `ALTER TABLE ${oq} ALTER COLUMN id TYPE text COLLATE "C", ALTER COLUMN ts TYPE text COLLATE "C" USING to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
      );
    }

    const reopened = createSqlBackend(databaseConfig(target.connection(), old));
    await reopened.open();
    try {
      const applied = await target.raw(`SELECT version FROM ${quote(target.dialect, `${old}_migrations`)}`);
      expect(applied.map((r) => Number(r.version))).toEqual(versions);
      if (target.dialect === "mysql") {
        const type = await target.raw(
          `SELECT DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '${old}' AND COLUMN_NAME = 'ts'`,
        );
        expect(type.map((r) => r.t)).toEqual(["datetime"]);
      }
      const after = event({ tenant: "acme" });
      await reopened.write([record(after)], { sync: true });
      const rows = await target.raw(`SELECT id, tenant FROM ${oq} ORDER BY id`);
      expect(rows.map((r) => ({ id: String(r.id), tenant: r.tenant }))).toEqual([
        { id: before.id, tenant: null }, // written before the column existed
        { id: after.id, tenant: "acme" },
      ]);
      const found: string[] = [];
      for await (const e of reopened.query({ order: "asc", tenant: "acme" })) found.push(e.id);
      expect(found).toEqual([after.id]);
      expect(await reopened.count({ order: "asc", where: parse("tenant:acme") })).toBe(1);
      expect(await reopened.count({ order: "asc" })).toBe(2);
    } finally {
      await reopened.close();
    }
  });

  it("brings a version-5 table to version 6: the status index covers the rows written before, which stay as they were", async () => {
    const old = uniqueTable(`s_${target.dialect.slice(0, 2)}`);
    tables.push(old);
    const oq = quote(target.dialect, old);
    const name = derivedName(old, "status_ts_idx");
    const written = [
      event({ result: { status: "FAILURE" } }),
      event(),
      event({ result: { status: "Failure" } }),
    ];
    const first = createSqlBackend(databaseConfig(target.connection(), old));
    await first.open();
    await first.write(written.map(record), { sync: true });
    await first.close();
    // take the table back to version 5, as the vigil before this one left it
    const index = quote(target.dialect, name);
    await target.raw(target.dialect === "mysql" ? `DROP INDEX ${index} ON ${oq}` : `DROP INDEX ${index}`);
    await target.raw(`DELETE FROM ${quote(target.dialect, `${old}_migrations`)} WHERE version = 6`);
    expect(await indexColumns(target, old, name)).toEqual([]);
    const before = await target.raw(`SELECT id FROM ${oq} ORDER BY id`);

    const reopened = createSqlBackend(databaseConfig(target.connection(), old));
    await reopened.open();
    try {
      const applied = await target.raw(`SELECT version FROM ${quote(target.dialect, `${old}_migrations`)}`);
      expect(applied.map((r) => Number(r.version))).toEqual(versions);
      // PostgreSQL's is on the ASCII fold its queries compare
      const status = target.dialect === "postgresql" ? 'lower(status COLLATE "C")' : "status";
      expect(await indexColumns(target, old, name)).toEqual([status, "ts", "id"]);
      expect(await target.raw(`SELECT id FROM ${oq} ORDER BY id`)).toEqual(before);
      const failed: string[] = [];
      for await (const e of reopened.query({ order: "asc", where: parse("result.status:FAILURE") })) {
        failed.push(e.id);
      }
      expect(failed).toEqual([written[0]!.id, written[2]!.id]);
    } finally {
      await reopened.close();
    }
  });

  it("binds a tenant exactly through the column, also when case differs", async () => {
    const [a, b, c] = [event({ tenant: "Acme" }), event({ tenant: "acme" }), event({ tenant: "ACME " })];
    await backend.write([record(a), record(b), record(c)], { sync: true });
    const ids = async (tenant: string) => {
      const out: string[] = [];
      for await (const e of backend.query({ order: "asc", tenant })) out.push(e.id);
      return out;
    };
    expect(await ids("acme")).toEqual([b.id]);
    expect(await ids("Acme")).toEqual([a.id]);
    expect(await backend.count({ order: "asc", tenant: "ACME " })).toBe(1);
    expect(await backend.count({ order: "asc", tenant: "ACME" })).toBe(0);
  });

  it("fills the indexed columns from the event and keeps its JSON verbatim", async () => {
    const long = "ü".repeat(300);
    const e = event({
      security_event: true,
      actor: { id: "7", username: long },
      integrity: { chain: "web-1:4711:abc", seq: 12, prev: "00", hash: "ff" },
    });
    await backend.write([record(e)], { sync: true });
    const [row] = await target.raw(
      `SELECT id, ts, severity, category, type, actor_username, actor_id, status, resource_path, security_event,
       integrity_chain, integrity_seq, integrity_hash FROM ${q} WHERE id = '${e.id}'`,
    );
    expect({ ...row, ts: tsText(row?.ts) }).toMatchObject({
      id: e.id,
      ts: e.timestamp,
      severity: "INFO",
      category: "DATABASE",
      type: "QUERY",
      actor_username: "ü".repeat(200),
      actor_id: "7",
      status: "SUCCESS",
      resource_path: "/api/v1/health",
      integrity_chain: "web-1:4711:abc",
      integrity_hash: "ff",
    });
    expect(Number(row?.integrity_seq)).toBe(12);
    expect([true, 1]).toContain(row?.security_event);
    const found: AuditEvent[] = [];
    for await (const x of backend.query({ where: parse(`user:${long}`), order: "asc" })) found.push(x);
    expect(found.map((x) => JSON.stringify(x))).toEqual([JSON.stringify(e)]);
  });

  it("refuses UPDATE and DELETE of audit rows from outside vigil", async () => {
    const e = event();
    await backend.write([record(e)], { sync: true });
    await expect(target.raw(`UPDATE ${q} SET severity = 'ERROR' WHERE id = '${e.id}'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(target.raw(`DELETE FROM ${q} WHERE id = '${e.id}'`)).rejects.toThrow(/append-only/);
    expect(await backend.count({ where: parse(`id:${e.id}`), order: "asc" })).toBe(1);
  });

  it("deletes through retention, and the guard is back in place afterwards", async () => {
    const old = event({ timestamp: "2020-01-01T00:00:00.000Z" });
    const young = event();
    await backend.write([record(old), record(young)], { sync: true });
    const cutoff = new Date("2021-01-01T00:00:00.000Z");
    expect(await backend.applyRetention(cutoff, { dryRun: true })).toEqual({ deletedEvents: 1 });
    expect(await backend.applyRetention(cutoff, { dryRun: false })).toEqual({ deletedEvents: 1 });
    expect(await backend.count({ where: parse(`id:${old.id} OR id:${young.id}`), order: "asc" })).toBe(1);
    await expect(target.raw(`DELETE FROM ${q} WHERE id = '${young.id}'`)).rejects.toThrow(/append-only/);
  });

  it("erases one person's events through the same guarded path", async () => {
    const mallory = [event({ actor: { username: "mallory" } }), event({ actor: { username: "Mallory" } })];
    const other = event({ actor: { username: "trent" } });
    await backend.write([...mallory, other].map(record), { sync: true });
    expect(await backend.erase(parse("user:mallory"), { dryRun: true })).toBe(2);
    expect(await backend.erase(parse("user:mallory"), { dryRun: false })).toBe(2);
    expect(await backend.count({ where: parse("user:mallory OR user:trent"), order: "asc" })).toBe(1);
    await expect(target.raw(`DELETE FROM ${q} WHERE id = '${other.id}'`)).rejects.toThrow(/append-only/);
  });

  it("writes the rest of a batch when the database refuses one row, and names it", async () => {
    const good = [event(), event()];
    const bad = event();
    const batch = [
      record(good[0] as AuditEvent),
      { event: bad, line: "{not json" },
      record(good[1] as AuditEvent),
    ];
    const error = await backend.write(batch, { sync: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SqlWriteError);
    expect(error).toMatchObject({ buffered: false, failedIds: [bad.id], code: ErrorCodes.STORAGE });
    const ids = good.map((g) => `id:${g.id}`).join(" OR ");
    expect(await backend.count({ where: parse(`${ids} OR id:${bad.id}`), order: "asc" })).toBe(2);
    expect(backend.health().healthy).toBe(true);
  });

  it("commits the batches that queue behind a commit together, in order, each told its own outcome", async () => {
    const before = backend.commitStats();
    const batches = [0, 1, 2, 3].map(() => [record(event()), record(event())]);
    await Promise.all(batches.map((b) => backend.write(b, { sync: true })));
    const after = backend.commitStats();
    expect(after.commits - before.commits).toBe(1);
    expect(after.events - before.events).toBe(8);
    const ids = batches.flat().map((r) => r.event.id);
    const stored: string[] = [];
    for await (const { line } of backend.storedLines()) {
      const id = (JSON.parse(line) as AuditEvent).id;
      if (ids.includes(id)) stored.push(id);
    }
    expect(stored).toEqual(ids);

    // one refused row fails only the batch that carried it
    const bad = event();
    const mixed = [0, 1, 2].map(() => [record(event())]);
    mixed[1]!.push({ event: bad, line: "{not json" });
    const outcomes = await Promise.allSettled(mixed.map((b) => backend.write(b, { sync: true })));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({
      buffered: false,
      failedIds: [bad.id],
      events: 1,
    });
    const good = mixed.flat().filter((r) => r.event.id !== bad.id);
    const query = good.map((r) => `id:${r.event.id}`).join(" OR ");
    expect(await backend.count({ where: parse(`${query} OR id:${bad.id}`), order: "asc" })).toBe(3);

    // a batch handed over again (a retry) adds no row
    await backend.write(batches[0]!, { sync: true });
    expect(
      await backend.count({ where: parse(ids.map((id) => `id:${id}`).join(" OR ")), order: "asc" }),
    ).toBe(8);
  });

  it("stores events whose JSON the database's JSON type refuses (NUL, unpaired surrogates) and finds them", async () => {
    const odd = [
      event({ metadata: { note: "nul\u0000inside" } }),
      event({ metadata: { note: "lone \ud800 surrogate" } }),
      event({ metadata: { note: "literal \\u0000 text" } }),
    ];
    await backend.write(odd.map(record), { sync: true });
    for (const [query, expected] of [
      ['metadata.note:"nul\u0000inside"', [odd[0]]],
      ["metadata.note:lone*", [odd[1]]],
      ['"\\\\u0000"', [odd[2]]],
      ["_exists_:metadata.note AND NOT metadata.note:lone*", [odd[0], odd[2]]],
    ] as const) {
      const got: string[] = [];
      const where = parse(query);
      for await (const x of backend.query({ where, order: "asc" })) got.push(JSON.stringify(x));
      expect(got).toEqual(expected.map((x) => JSON.stringify(x)));
      expect(await backend.count({ where, order: "asc" })).toBe(expected.length);
    }
  });

  it("treats an order other than asc as desc: only ASC or DESC ever reaches SQL", async () => {
    const spec = { where: parse("category:database"), limit: 5 };
    const desc: string[] = [];
    for await (const x of backend.query({ ...spec, order: "desc" })) desc.push(x.id);
    const odd: string[] = [];
    const order = "asc; DROP TABLE x; --" as unknown as "asc";
    for await (const x of backend.query({ ...spec, order })) odd.push(x.id);
    expect(odd).toEqual(desc);
  });

  it.each([
    "events; DROP TABLE users",
    "a b",
    'x"; DROP TABLE y; --',
    "x`; DROP TABLE y; --",
    "1abc",
    "a.b.c",
    "",
    "a".repeat(64),
  ])("rejects the table name %j before touching the database", (name) => {
    expect(() => createSqlBackend(databaseConfig(target.connection(), name))).toThrow(
      expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }),
    );
  });

  it("works with a 63-character table name (derived names stay within limits)", async () => {
    const name = `${uniqueTable("long")}_${"x".repeat(63)}`.slice(0, 63);
    tables.push(name);
    const b = createSqlBackend(databaseConfig(target.connection(), name));
    await b.open();
    const e = event();
    await b.write([record(e)], { sync: true });
    expect(await b.count({ order: "asc" })).toBe(1);
    await b.close();
  });

  it(`writes synchronously only where the driver is synchronous (${target.dialect})`, async () => {
    const e = event();
    const written = backend.writeSync([record(e)], { sync: true });
    expect(written).toBe(target.dialect === "sqlite");
    expect(await backend.count({ where: parse(`id:${e.id}`), order: "asc" })).toBe(written ? 1 : 0);
  });
});

describe("a synchronous SQLite write behind batches waiting for their commit", () => {
  it("writes the waiting batches first, in order, and tells them they are committed", async () => {
    const b = createSqlBackend(
      databaseConfig({ dialect: "sqlite", filename: `${temp.dir}/sync.db` }, "t_sync"),
    );
    await b.open();
    try {
      const first = [record(event()), record(event())];
      const second = [record(event())];
      const waiting = b.write(first, { sync: true });
      expect(b.writeSync(second, { sync: true })).toBe(true);
      await waiting;
      const lines: string[] = [];
      for await (const { line } of b.storedLines()) lines.push((JSON.parse(line) as AuditEvent).id);
      expect(lines).toEqual([...first, ...second].map((r) => r.event.id));
    } finally {
      await b.close();
    }
  });
});

describe("schema-qualified table names", () => {
  it("uses a PostgreSQL schema", async () => {
    const schema = uniqueTable("vigil_schema");
    await pgQuery(`CREATE SCHEMA ${schema}`);
    try {
      const b = createSqlBackend(databaseConfig(POSTGRES, `${schema}.events`));
      await b.open();
      await b.write([record(event())], { sync: true });
      expect(await b.count({ order: "asc" })).toBe(1);
      await b.close();
      const rows = await pgQuery(`SELECT count(*)::int AS n FROM ${schema}.events`);
      expect(rows[0]?.n).toBe(1);
    } finally {
      await pgQuery(`DROP SCHEMA ${schema} CASCADE`);
    }
  });

  it("uses a MariaDB database", async () => {
    const table = uniqueTable("qualified");
    const b = createSqlBackend(databaseConfig(MARIADB, `test.${table}`));
    try {
      await b.open();
      await b.write([record(event())], { sync: true });
      expect(await b.count({ order: "asc" })).toBe(1);
    } finally {
      await b.close();
      await dropTable("mysql", table);
    }
  });
});

describe("durability and connection problems", () => {
  it("warns that an in-memory SQLite database is not durable", async () => {
    const warnings: string[] = [];
    const b = createSqlBackend(databaseConfig({ dialect: "sqlite", filename: ":memory:" }, "events"), {
      onWarning: (w) => warnings.push(w),
    });
    await b.open();
    expect(warnings).toEqual([expect.stringMatching(/in memory/)]);
    expect(b.warnings()).toEqual(warnings);
    await b.close();
  });

  it("opens SQLite files in WAL mode without a durability warning, whatever the durability", async () => {
    for (const durability of ["batch", "event", "none"] as const) {
      const file = `${temp.dir}/sync-${durability}.db`;
      const b = createSqlBackend(databaseConfig({ dialect: "sqlite", filename: file }, "events"), {
        durability,
      });
      await b.open();
      expect(b.warnings()).toEqual([]);
      await b.close();
      const db = new Database(file);
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      db.close();
    }
  });

  it("warns when PostgreSQL would not keep a committed batch (synchronous_commit = off)", async () => {
    const table = uniqueTable("t_durable");
    const url = `postgresql://${POSTGRES.username}@${POSTGRES.host}:${POSTGRES.port}/${POSTGRES.database}?options=-c%20synchronous_commit%3Doff`;
    const b = createSqlBackend(databaseConfig({ dialect: "postgresql", url }, table));
    try {
      await b.open();
      expect(b.warnings()).toEqual([expect.stringMatching(/synchronous_commit is off/)]);
    } finally {
      await b.close();
      await dropTable("postgresql", table);
    }
  });

  it("does not warn on this machine's MariaDB, which flushes at every commit", async () => {
    const table = uniqueTable("t_durable");
    const b = createSqlBackend(databaseConfig(MARIADB, table));
    try {
      await b.open();
      const [row] = await mysqlQuery("SELECT @@innodb_flush_log_at_trx_commit AS f");
      expect(b.warnings()).toEqual(
        Number(row?.f) === 1 ? [] : [expect.stringMatching(/innodb_flush_log_at_trx_commit/)],
      );
    } finally {
      await b.close();
      await dropTable("mysql", table);
    }
  });

  it("rejects open() for problems retrying cannot fix: unknown database, unknown user", async () => {
    await expect(
      createSqlBackend(databaseConfig({ ...POSTGRES, database: "vigil_no_such_db" }, "events")).open(),
    ).rejects.toMatchObject({ code: "3D000" });
    await expect(
      createSqlBackend(databaseConfig({ ...MARIADB, database: "vigil_no_such_db" }, "events")).open(),
    ).rejects.toMatchObject({ code: "ER_BAD_DB_ERROR" });
    await expect(
      createSqlBackend(databaseConfig({ ...POSTGRES, username: "vigil_no_such_role" }, "events")).open(),
    ).rejects.toMatchObject({ code: "28000" });
  });

  it("opens unhealthy when the server is unreachable, buffers writes, and reports the loss on close", async () => {
    const b = createSqlBackend(databaseConfig({ ...POSTGRES, port: 1 }, "events"), {
      connectTimeoutMs: 500,
      retryInitialMs: 60_000,
    });
    await b.open();
    expect(b.health()).toMatchObject({ healthy: false, error: expect.stringMatching(/unreachable/) });
    const error = await b.write([record(event())], { sync: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({ buffered: true, events: 1 });
    expect(b.pendingEvents()).toBe(1);
    await expect(b.query({ order: "asc" })[Symbol.asyncIterator]().next()).rejects.toMatchObject({
      code: ErrorCodes.STORAGE,
    });
    await expect(b.close()).rejects.toMatchObject({ buffered: false, events: 1 });
  });

  it("names the package to install when a driver is missing", async () => {
    const error = await loadDriver("vigil-no-such-driver", "vigil-no-such-driver", "postgresql").catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VigilError);
    expect(error).toMatchObject({
      code: ErrorCodes.MISSING_DEPENDENCY,
      message:
        "the postgresql backend needs the 'vigil-no-such-driver' package: npm install vigil-no-such-driver",
    });
  });
});
