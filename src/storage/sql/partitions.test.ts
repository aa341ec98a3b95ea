import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { dropTable, POSTGRES, pgQuery, uniqueTable } from "../../../test/conformance/sql-servers.js";
import { HMAC_SECRET } from "../../../test/integrity/store.js";
import { loadConfig } from "../../config/index.js";
import type { DatabaseBackendConfig, Partitioning, VigilConfig } from "../../config/types.js";
import { AuditEngine } from "../../engine.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import { createSqlBackend } from "./index.js";
import { partitionBounds, partitionKey } from "./partitions.js";

const tables: string[] = [];
afterAll(async () => {
  for (const t of tables) await dropTable("postgresql", t);
});

function newTable(prefix: string): string {
  const table = uniqueTable(prefix);
  tables.push(table);
  return table;
}

function backendConfig(table: string, partitioning: Partitioning): DatabaseBackendConfig {
  return {
    type: "database",
    name: "db",
    enabled: true,
    connection: POSTGRES,
    table_name: table,
    partitioning,
  };
}

function event(timestamp: string, n = 0): AuditEvent {
  return {
    schema_version: 1,
    id: randomUUID(),
    timestamp,
    severity: "INFO",
    security_event: false,
    application: { name: "traffictracer" },
    action: { type: "QUERY", category: "DATABASE" },
    result: { status: "SUCCESS" },
    metadata: { n },
  } as AuditEvent;
}

const record = (e: AuditEvent): StoredRecord => ({ event: e, line: JSON.stringify(e) });

/** The partitions of a table, by name, with their rows. */
async function partitions(table: string): Promise<Record<string, number>> {
  const rows = await pgQuery(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1) ORDER BY 1`,
    [`"${table}"`],
  );
  const out: Record<string, number> = {};
  for (const r of rows) {
    const [count] = await pgQuery(`SELECT COUNT(*)::int AS n FROM "${String(r.name)}"`);
    out[String(r.name).slice(table.length + 1)] = Number(count?.n);
  }
  return out;
}

const dayKey = (offsetDays: number) =>
  partitionKey("daily", new Date(Date.now() + offsetDays * 86_400_000).toISOString());

describe("partition keys and bounds", () => {
  it("cut UTC days and months, also across a year's end and a leap day", () => {
    expect(partitionKey("daily", "2026-12-31T23:59:59.999Z")).toBe("20261231");
    expect(partitionKey("monthly", "2026-12-31T23:59:59.999Z")).toBe("202612");
    const day = partitionBounds("daily", "20261231");
    expect([day.from.toISOString(), day.to.toISOString()]).toEqual([
      "2026-12-31T00:00:00.000Z",
      "2027-01-01T00:00:00.000Z",
    ]);
    const leap = partitionBounds("daily", "20280229");
    expect(leap.to.toISOString()).toBe("2028-03-01T00:00:00.000Z");
    const month = partitionBounds("monthly", "202612");
    expect([month.from.toISOString(), month.to.toISOString()]).toEqual([
      "2026-12-01T00:00:00.000Z",
      "2027-01-01T00:00:00.000Z",
    ]);
    expect(partitionBounds("daily", "00500101").from.toISOString()).toBe("0050-01-01T00:00:00.000Z");
  });
});

describe("a PostgreSQL table partitioned by day", () => {
  it("is created partitioned, with partitions from yesterday to a week ahead and a BRIN index on time", async () => {
    const table = newTable("part_new");
    const backend = createSqlBackend(backendConfig(table, "daily"));
    await backend.open();
    await backend.close();
    const [kind] = await pgQuery("SELECT relkind FROM pg_class WHERE oid = to_regclass($1)", [`"${table}"`]);
    expect(kind?.relkind).toBe("p");
    const names = Object.keys(await partitions(table));
    for (let d = -1; d <= 7; d++) expect(names).toContain(`p${dayKey(d)}`);
    expect(names).toHaveLength(9);
    const indexes = await pgQuery("SELECT indexdef FROM pg_indexes WHERE tablename = $1", [table]);
    expect(indexes.some((i) => /USING brin \(ts\)/.test(String(i.indexdef)))).toBe(true);
    const versions = await pgQuery(`SELECT version FROM "${table}_migrations" ORDER BY version`);
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("creates the partition a backdated event needs, answers across partitions in order, and ignores a retried batch", async () => {
    const table = newTable("part_write");
    const backend = createSqlBackend(backendConfig(table, "daily"));
    await backend.open();
    try {
      const events = [
        event("2019-05-04T10:00:00.000Z", 1),
        event(new Date(Date.now() - 3_600_000).toISOString(), 2),
        event("2019-05-04T09:00:00.000Z", 3),
        event("2021-01-01T00:00:00.000Z", 4),
      ];
      await backend.write(events.map(record), { sync: true });
      await backend.write(events.map(record), { sync: true }); // a retry after a lost acknowledgement
      const parts = await partitions(table);
      expect(parts.p20190504).toBe(2);
      expect(parts.p20210101).toBe(1);
      expect(parts[`p${dayKey(0)}`] ?? 0).toBe(
        partitionKey("daily", events[1]!.timestamp) === dayKey(0) ? 1 : 0,
      );

      const asc: number[] = [];
      for await (const e of backend.query({ order: "asc" })) asc.push(Number(e.metadata?.n));
      expect(asc).toEqual([3, 1, 4, 2]);
      const desc: number[] = [];
      for await (const e of backend.query({ order: "desc", limit: 3 })) desc.push(Number(e.metadata?.n));
      expect(desc).toEqual([2, 4, 1]);
      const inRange = await backend.count({
        order: "asc",
        from: new Date("2019-01-01T00:00:00.000Z"),
        to: new Date("2020-01-01T00:00:00.000Z"),
      });
      expect(inRange).toBe(2);
    } finally {
      await backend.close();
    }
  });

  it("brings a version-5 table to version 6: the status index on the parent, on every partition and on those made after", async () => {
    const table = newTable("part_v6");
    const first = createSqlBackend(backendConfig(table, "daily"));
    await first.open();
    const written = [event("2019-05-04T10:00:00.000Z", 1), event("2019-05-05T10:00:00.000Z", 2)];
    await first.write(written.map(record), { sync: true });
    await first.close();
    // take it back to version 5, as the vigil before this one left it
    await pgQuery(`DROP INDEX "${table}_status_ts_idx"`);
    await pgQuery(`DELETE FROM "${table}_migrations" WHERE version = 6`);
    const statusIndexes = async () =>
      (
        await pgQuery(
          `SELECT tablename AS t FROM pg_indexes WHERE tablename LIKE $1 AND indexdef LIKE '%(lower((status COLLATE "C")), ts, id)' ORDER BY 1`,
          [`${table}%`],
        )
      ).map((r) => String(r.t).slice(table.length));
    expect(await statusIndexes()).toEqual([]);
    const before = await pgQuery(`SELECT id, ts, line FROM "${table}" ORDER BY id`);

    const reopened = createSqlBackend(backendConfig(table, "daily"));
    await reopened.open();
    try {
      await reopened.write([record(event("2019-05-06T10:00:00.000Z", 3))], { sync: true }); // a new partition
      const expected = ["", ...Object.keys(await partitions(table)).map((p) => `_${p}`)].sort();
      expect(expected).toContain("_p20190506");
      expect(await statusIndexes()).toEqual(expected);
      const versions = await pgQuery(`SELECT version FROM "${table}_migrations" ORDER BY version`);
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6]);
      const after = await pgQuery(
        `SELECT id, ts, line FROM "${table}" WHERE id = ANY($1::uuid[]) ORDER BY id`,
        [written.map((e) => e.id)],
      );
      expect(after).toEqual(before);
    } finally {
      await reopened.close();
    }
  });

  it("never drops a partition holding a row written after the rows retention signed for", async () => {
    const table = newTable("part_late");
    const backend = createSqlBackend(backendConfig(table, "daily"));
    await backend.open();
    try {
      const day = ["2019-05-04T01:00:00.000Z", "2019-05-04T02:00:00.000Z", "2019-05-04T03:00:00.000Z"];
      for (const ts of day) await backend.write([record(event(ts))], { sync: true });
      const [{ m }] = (await pgQuery(`SELECT MAX(row_id)::int AS m FROM "${table}"`)) as [{ m: number }];
      // the retention pass read (and signed) rows up to m - 1; row m arrived after
      const deleted = await backend.deleteRetained(new Date("2019-05-05T00:00:00.000Z"), m - 1);
      expect(deleted).toBe(2);
      const left = await pgQuery(`SELECT row_id FROM "${table}_p20190504"`);
      expect(left.map((r) => Number(r.row_id))).toEqual([m]);
    } finally {
      await backend.close();
    }
  });

  it("keeps retention verifiable: signs the rows, drops the partitions wholly before the cutoff, deletes the rest", async () => {
    const table = newTable("part_ret");
    const config: VigilConfig = loadConfig({
      core: { application_name: "partitions" },
      storage: {
        backends: [{ type: "database", connection: POSTGRES, table_name: table, partitioning: "daily" }],
      },
      processing: { sanitization: { enabled: false } },
      security: {
        signing: { enabled: true, algorithm: "hmac-sha256", secret_key: HMAC_SECRET, checkpoint_every: 50 },
      },
    });
    const start = Date.parse("2026-03-01T00:00:00.000Z");
    const writer = new AuditEngine({ config, env: {} });
    for (let i = 0; i < 300; i++) {
      // 100 events a day on March 1st, 2nd and 3rd
      writer.log({ action: "QUERY", category: "DATABASE", timestamp: start + i * 864_000, metadata: { i } });
    }
    await writer.close();
    expect(await partitions(table)).toMatchObject({ p20260301: 100, p20260302: 100, p20260303: 100 });

    const engine = new AuditEngine({ config, env: {} });
    try {
      // cutoff: March 2nd, 12:00 — March 1st goes whole, half of March 2nd row by row
      const [result] = await engine.applyRetention({ days: 1, now: new Date("2026-03-03T12:00:00.000Z") });
      expect(result).toMatchObject({ backend: "database", deletedEvents: 150 });
      const parts = await partitions(table);
      expect(parts.p20260301).toBeUndefined();
      expect(parts.p20260302).toBe(50);
      const verified = await engine.verify();
      expect(verified.problems).toEqual([]);
      expect(verified.ok).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it("refuses an existing unpartitioned table, and a partitioned one configured as unpartitioned, changing nothing", async () => {
    const table = newTable("part_refuse");
    const plain = createSqlBackend(backendConfig(table, "none"));
    await plain.open();
    await plain.write([record(event(new Date().toISOString()))], { sync: true });
    await plain.close();

    const partitioned = createSqlBackend(backendConfig(table, "daily"));
    const error = await partitioned.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    await partitioned.close();
    expect(String(error)).toContain(
      `table ${table} exists and is not partitioned, but partitioning is daily: vigil does not convert a table in place`,
    );
    const [kind] = await pgQuery("SELECT relkind FROM pg_class WHERE oid = to_regclass($1)", [`"${table}"`]);
    expect(kind?.relkind).toBe("r");
    const [rows] = await pgQuery(`SELECT COUNT(*)::int AS n FROM "${table}"`);
    expect(rows?.n).toBe(1);

    const other = newTable("part_other");
    const made = createSqlBackend(backendConfig(other, "monthly"));
    await made.open();
    await made.close();
    expect(Object.keys(await partitions(other))).toContain(
      `p${partitionKey("monthly", new Date().toISOString())}`,
    );
    const unpartitioned = createSqlBackend(backendConfig(other, "none"));
    const refused = await unpartitioned.open().then(
      () => undefined,
      (e: unknown) => e,
    );
    await unpartitioned.close();
    expect(String(refused)).toContain(`table ${other} is partitioned: set partitioning`);
  });
});

describe("the partitioning key", () => {
  it("is refused on a dialect other than PostgreSQL, and misspelt values are named", () => {
    const load = (backend: Record<string, unknown>) => () =>
      loadConfig({ storage: { backends: [{ type: "database", ...backend }] } });
    expect(load({ connection: { dialect: "sqlite" }, partitioning: "daily" })).toThrow(
      /vigil\.storage\.backends\[0\]\.partitioning: expected none: partitioning is a PostgreSQL feature, found "daily" with dialect "sqlite"/,
    );
    expect(
      load({ connection: { dialect: "postgresql", host: "h", database: "d" }, partitioning: "weekly" }),
    ).toThrow(/partitioning: expected one of none, daily, monthly/);
  });
});
