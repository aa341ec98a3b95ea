/**
 * MariaDB's schema version 5: `ts` from ISO text to `DATETIME(3)`. A signed store written
 * before it (a table brought back to the text column of version 4) is converted on the
 * next start, also when an earlier start stopped between the conversion's statements or
 * two processes start together, and verifies afterwards; a stored timestamp that does not
 * convert stops the backend with a coded error naming it.
 */
import { randomUUID } from "node:crypto";
import type { Connection } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { ErrorCodes } from "../../src/errors.js";
import type { AuditEvent } from "../../src/event/types.js";
import { createSqlBackend, SqlWriteError } from "../../src/storage/sql/index.js";
import { connectMysql } from "../../src/storage/sql/mysql.js";
import { derivedName, migrate } from "../../src/storage/sql/schema.js";
import { databaseConfig, dropTable, MARIADB, mysqlConnect, uniqueTable } from "../conformance/sql-servers.js";
import { HMAC_SECRET, logEvents } from "../integrity/store.js";

const N = 300;

function config(table: string): VigilConfig {
  return {
    core: { application_name: "mariadb-native-ts" },
    storage: { backends: [{ type: "database", name: "db", connection: MARIADB, table_name: table }] },
    processing: { sanitization: { enabled: false } },
    performance: { async: { enabled: true }, batching: { batch_size: 100 } },
    security: {
      signing: { enabled: true, algorithm: "hmac-sha256", secret_key: HMAC_SECRET, checkpoint_every: 50 },
    },
  } as VigilConfig;
}

let conn: Connection;
const tables: string[] = [];
beforeAll(async () => {
  conn = await mysqlConnect();
});
afterAll(async () => {
  await conn.end();
  for (const t of tables) await dropTable("mysql", t);
}, 60_000);

async function rows(sql: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  return (await conn.query(sql, values))[0] as Record<string, unknown>[];
}

async function tsType(table: string): Promise<string> {
  const r = await rows(
    "SELECT COLUMN_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'ts'",
    [table],
  );
  return String(r[0]?.t);
}

/** A signed store of {@link N} events, its `ts` turned back into version 4's text column. */
async function oldStore(prefix: string): Promise<string> {
  const table = uniqueTable(prefix);
  tables.push(table);
  const engine = new AuditEngine({ config: config(table), env: {} });
  logEvents(engine, N);
  await engine.close();
  expect(await tsType(table)).toBe("datetime(3)");
  const keys = ["ts_idx", "category_ts_idx", "type_ts_idx", "actor_ts_idx", "tenant_ts_idx"];
  const lead = ["", "category, ", "type, ", "actor_username, ", "tenant, "];
  // version 4 had no status index (version 6)
  await conn.query(`ALTER TABLE \`${table}\` DROP KEY \`${derivedName(table, "status_ts_idx")}\``);
  await conn.query(
    `ALTER TABLE \`${table}\` ADD COLUMN ts_text VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL`,
  );
  await conn.query(
    `UPDATE \`${table}\` SET ts_text = CONCAT(LEFT(DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')`,
  );
  await conn.query(
    `ALTER TABLE \`${table}\` ${keys.map((k) => `DROP KEY \`${derivedName(table, k)}\``).join(", ")}, DROP COLUMN ts,
     CHANGE COLUMN ts_text ts VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL AFTER id,
     ${keys.map((k, i) => `ADD KEY \`${derivedName(table, k)}\` (${lead[i]}ts, id)`).join(", ")}`,
  );
  await conn.query(`DELETE FROM \`${derivedName(table, "migrations")}\` WHERE version >= 5`);
  expect(await tsType(table)).toBe("varchar(64)");
  return table;
}

/** The first `k` statements of version 5, as a start stopped after them left the table. */
async function stopAfter(table: string, k: number): Promise<void> {
  const { client, dialect } = await connectMysql(MARIADB, table, {});
  try {
    const v5 = dialect.migration.migrations.find((m) => m.version === 5);
    await client.exec(v5!.statements.slice(0, k));
  } finally {
    await client.close();
  }
}

async function expectConvertedAndVerified(table: string): Promise<void> {
  const engine = new AuditEngine({ config: config(table), env: {}, readOnly: true });
  try {
    const events = await engine.search({ limit: N + 10 });
    expect(events).toHaveLength(N);
    const result = await engine.verify();
    expect(result.ok).toBe(true);
  } finally {
    await engine.close();
  }
  expect(await tsType(table)).toBe("datetime(3)");
  const stored = await rows(
    `SELECT CONCAT(LEFT(DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z') AS t, COALESCE(line, event) AS e FROM \`${table}\``,
  );
  expect(stored).toHaveLength(N);
  for (const r of stored) expect(r.t).toBe((JSON.parse(String(r.e)) as { timestamp: string }).timestamp);
  const keys = await rows(
    "SELECT INDEX_NAME AS k, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS c FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? GROUP BY INDEX_NAME",
    [table],
  );
  const byName = new Map(keys.map((r) => [String(r.k), String(r.c)]));
  expect(byName.get(derivedName(table, "ts_idx"))).toBe("ts,id");
  expect(byName.get(derivedName(table, "tenant_ts_idx"))).toBe("tenant,ts,id");
  expect(byName.get(derivedName(table, "status_ts_idx"))).toBe("status,ts,id");
  const versions = await rows(`SELECT MAX(version) AS v FROM \`${derivedName(table, "migrations")}\``);
  expect(Number(versions[0]?.v)).toBe(6);
}

describe("MariaDB ts DATETIME(3) (schema version 5)", () => {
  it("converts a signed store's text column on the next start", async () => {
    const table = await oldStore("mdt_plain");
    await expectConvertedAndVerified(table);
  }, 120_000);

  for (const k of [1, 2, 3]) {
    it(`finishes a conversion stopped after statement ${k} of 3`, async () => {
      const table = await oldStore(`mdt_stop${k}`);
      await stopAfter(table, k);
      await expectConvertedAndVerified(table);
    }, 120_000);
  }

  it("converts once when two processes start together", async () => {
    const table = await oldStore("mdt_two");
    const start = async () => {
      const { client, dialect } = await connectMysql(MARIADB, table, {});
      try {
        return await migrate(client, dialect.migration);
      } finally {
        await client.close();
      }
    };
    const applied = await Promise.all([start(), start()]);
    expect(applied.map((a) => a.join(",")).sort()).toEqual(["", "5,6"]);
    await expectConvertedAndVerified(table);
  }, 120_000);

  it("stops with a coded error naming a stored timestamp that does not convert", async () => {
    const table = await oldStore("mdt_bad");
    await stopAfter(table, 1);
    const [first] = await rows(`SELECT row_id AS r FROM \`${table}\` ORDER BY row_id LIMIT 1`);
    // the append-only guard would refuse the change; a hand-edited table has none
    await conn.query(`DROP TRIGGER \`${derivedName(table, "no_update")}\``);
    await conn.query(`UPDATE \`${table}\` SET ts = '2026-02-30T00:00:00.000Z' WHERE row_id = ?`, [first?.r]);
    const { client, dialect } = await connectMysql(MARIADB, table, {});
    try {
      const error = await migrate(client, dialect.migration).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCodes.STORAGE });
      expect(String((error as Error).message)).toContain("'2026-02-30T00:00:00.000Z' does not convert");
      expect(await tsType(table)).toBe("varchar(64)");
    } finally {
      await client.close();
    }
  }, 120_000);

  it("keeps the years DATETIME(3) holds, refuses others by themselves, and answers in the canonical text", async () => {
    const table = uniqueTable("mdt_range");
    tables.push(table);
    const backend = createSqlBackend(databaseConfig(MARIADB, table));
    await backend.open();
    try {
      const event = (timestamp: string): AuditEvent =>
        ({
          schema_version: 1,
          id: randomUUID(),
          timestamp,
          severity: "INFO",
          security_event: false,
          application: { name: "mdt" },
          action: { type: "QUERY", category: "DATABASE" },
          result: { status: "SUCCESS" },
        }) as AuditEvent;
      const early = event("0500-06-01T00:00:00.001Z");
      const late = event("9999-12-31T23:59:59.999Z");
      const beyond = event("+012026-01-01T00:00:00.000Z");
      const error = await backend
        .write(
          [early, late, beyond].map((e) => ({ event: e, line: JSON.stringify(e) })),
          { sync: true },
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(SqlWriteError);
      expect((error as SqlWriteError).failedIds).toEqual([beyond.id]);
      expect((error as Error).message).toContain('has timestamp "+012026-01-01T00:00:00.000Z"');
      const found: string[] = [];
      for await (const e of backend.query({ order: "desc" })) found.push(e.timestamp);
      expect(found).toEqual([late.timestamp, early.timestamp]);
      const stored = await rows(`SELECT CAST(ts AS CHAR) AS t FROM \`${table}\` ORDER BY ts`);
      expect(stored.map((r) => r.t)).toEqual(["0500-06-01 00:00:00.001", "9999-12-31 23:59:59.999"]);
      expect(await backend.count({ order: "asc", from: new Date("0600-01-01T00:00:00.000Z") })).toBe(1);
    } finally {
      await backend.close();
    }
  });
});
