import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import {
  databaseConfig,
  dropTable,
  POSTGRES,
  pgQuery,
  uniqueTable,
} from "../../../test/conformance/sql-servers.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import { createSqlBackend, SqlWriteError } from "./index.js";

const tables: string[] = [];
afterAll(async () => {
  for (const t of tables) await dropTable("postgresql", t);
});

function event(timestamp: string, id: string = randomUUID()): AuditEvent {
  return {
    schema_version: 1,
    id,
    timestamp,
    severity: "INFO",
    security_event: false,
    application: { name: "traffictracer" },
    action: { type: "QUERY", category: "DATABASE" },
    result: { status: "SUCCESS" },
  } as AuditEvent;
}

const record = (e: AuditEvent): StoredRecord => ({ event: e, line: JSON.stringify(e) });
const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000).toISOString();

async function openTable(table: string) {
  const backend = createSqlBackend(databaseConfig(POSTGRES, table, "postgresql"));
  await backend.open();
  return backend;
}

async function ids(backend: Awaited<ReturnType<typeof openTable>>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of backend.query({ order: "asc" })) out.push(e.id);
  return out;
}

/** Takes a table back to the text columns of schema versions 1 to 4 (and without version 6's index). */
async function revertToText(table: string): Promise<void> {
  await pgQuery(`DROP INDEX "${table}_status_ts_idx"`);
  await pgQuery(`DELETE FROM "${table}_migrations" WHERE version >= 5`);
  await pgQuery(
    `ALTER TABLE "${table}" ALTER COLUMN id TYPE text COLLATE "C", ALTER COLUMN ts TYPE text COLLATE "C" USING to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  );
}

const columnTypes = async (table: string) =>
  pgQuery(
    `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 AND column_name IN ('id', 'ts') ORDER BY column_name`,
    [table],
  );

describe("the PostgreSQL table's native types", () => {
  it("keeps id as uuid and ts as timestamptz, so SQL on the table needs no casts", async () => {
    const table = uniqueTable("pg_native");
    tables.push(table);
    const backend = await openTable(table);
    try {
      const recent = event(hoursAgo(2));
      const old = event(hoursAgo(72));
      await backend.write([record(old), record(recent)], { sync: true });
      expect(await columnTypes(table)).toEqual([
        { column_name: "id", data_type: "uuid" },
        { column_name: "ts", data_type: "timestamp with time zone" },
      ]);
      const lastDay = await pgQuery(`SELECT id FROM "${table}" WHERE ts > now() - interval '1 day'`);
      expect(lastDay.map((r) => r.id)).toEqual([recent.id]);
      // what vigil reads back is the event as written, timestamp text included
      expect(await ids(backend)).toEqual([old.id, recent.id]);
      const newest: AuditEvent[] = [];
      for await (const e of backend.query({ order: "desc", limit: 1 })) newest.push(e);
      expect(newest).toEqual([recent]);
    } finally {
      await backend.close();
    }
  });

  it("refuses an event it cannot store natively by itself, naming it; the rest of the batch is written", async () => {
    const table = uniqueTable("pg_refuse");
    tables.push(table);
    const backend = await openTable(table);
    try {
      const good = event(hoursAgo(1));
      const badId = event(hoursAgo(1), "not-a-uuid");
      const badTime = event("+012026-01-01T00:00:00.000Z");
      const error = await backend.write([record(good), record(badId), record(badTime)], { sync: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SqlWriteError);
      expect((error as SqlWriteError).failedIds).toEqual(["not-a-uuid", badTime.id]);
      expect((error as Error).message).toMatch(
        /refused 2 of 3 event\(s\): postgresql stores event ids as uuid; found id "not-a-uuid"/,
      );
      expect(await ids(backend)).toEqual([good.id]);
      expect(backend.health().healthy).toBe(true);
    } finally {
      await backend.close();
    }
  });

  it("migrates a text table of an earlier version, keeping every row and its order", async () => {
    const table = uniqueTable("pg_migrate");
    tables.push(table);
    const written = [
      event("2026-03-01T00:00:00.000Z"),
      event("2026-03-01T00:00:00.000Z"),
      event(hoursAgo(1)),
    ];
    const first = await openTable(table);
    await first.write(written.map(record), { sync: true });
    await first.close();
    await revertToText(table);
    expect((await columnTypes(table)).map((c) => c.data_type)).toEqual(["text", "text"]);

    const reopened = await openTable(table);
    try {
      expect((await columnTypes(table)).map((c) => c.data_type)).toEqual([
        "uuid",
        "timestamp with time zone",
      ]);
      const expected = [...written].sort((a, b) =>
        a.timestamp === b.timestamp ? (a.id < b.id ? -1 : 1) : a.timestamp < b.timestamp ? -1 : 1,
      );
      expect(await ids(reopened)).toEqual(expected.map((e) => e.id));
    } finally {
      await reopened.close();
    }
  });

  it("leaves a table it cannot migrate exactly as it was, and says which value stopped it", async () => {
    const table = uniqueTable("pg_nomigrate");
    tables.push(table);
    const first = await openTable(table);
    const kept = event(hoursAgo(1));
    await first.write([record(kept)], { sync: true });
    await first.close();
    await revertToText(table);
    // a row an earlier vigil accepted that no uuid column can hold
    await pgQuery(
      `INSERT INTO "${table}" (id, ts, security_event, line) VALUES ('legacy-1', '2025-01-01T00:00:00.000Z', false, '{}')`,
    );

    const reopened = createSqlBackend(databaseConfig(POSTGRES, table, "postgresql"));
    const error = await reopened.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    await reopened.close();
    expect(String(error)).toMatch(
      /cannot bring the audit table to schema version 5 \(native types: id uuid, ts timestamptz\): invalid input syntax for type uuid: "legacy-1"/,
    );
    expect((await columnTypes(table)).map((c) => c.data_type)).toEqual(["text", "text"]);
    const versions = await pgQuery(`SELECT version FROM "${table}_migrations" ORDER BY version`);
    expect(versions.map((r) => r.version)).toEqual([1, 2, 3, 4]);
    const rows = await pgQuery(`SELECT id FROM "${table}" ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual([kept.id, "legacy-1"].sort());
  });
});
