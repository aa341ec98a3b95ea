/**
 * PostgreSQL range partitions of the audit table on `ts` (`partitioning: daily | monthly`).
 *
 * Partitions are named `<table>_p<key>` (`events_p20261203`, `events_p202612`) and cover
 * `[start, next start)` of their day or month in UTC. They are created ahead of need (from
 * the unit before the current one to a week or two months ahead) when the backend opens
 * and as the clock moves on, and on demand for any other time a batch brings (a backdated
 * event), always under an advisory lock so that processes starting together do not race —
 * an insert never meets a missing partition. Retention drops every partition that lies
 * wholly before the cutoff, once its signed retention record is committed, and only when
 * no row in it was written after the rows the record covers.
 *
 * @module
 */
import type { StoredRecord } from "../backend.js";
import type { DeletionPath } from "./dialect.js";
import type { SqlClient } from "./driver.js";
import { derivedName } from "./schema.js";

/** The partition unit of a partitioned table. */
export type PartitionUnit = "daily" | "monthly";

/** Units created ahead of the current one. */
const AHEAD: Readonly<Record<PartitionUnit, number>> = { daily: 7, monthly: 2 };

const KEY_OF_NAME = /_p(\d{8}|\d{6})$/;

/** The key of the partition holding a canonical timestamp: `20261203` (daily) or `202612`. */
export function partitionKey(unit: PartitionUnit, timestamp: string): string {
  const month = timestamp.slice(0, 4) + timestamp.slice(5, 7);
  return unit === "daily" ? month + timestamp.slice(8, 10) : month;
}

function utc(year: number, month: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day); // years below 100 stay themselves
  return d;
}

/** The first instant of a key's day or month, and of the next one. */
export function partitionBounds(unit: PartitionUnit, key: string): { from: Date; to: Date } {
  const year = Number(key.slice(0, 4));
  const month = Number(key.slice(4, 6)) - 1;
  if (unit === "daily") {
    const day = Number(key.slice(6, 8));
    return { from: utc(year, month, day), to: utc(year, month, day + 1) };
  }
  return { from: utc(year, month, 1), to: utc(year, month + 1, 1) };
}

/** The key of the unit `steps` units after the one holding `at` (negative: before). */
function keyAfter(unit: PartitionUnit, at: Date, steps: number): string {
  const d =
    unit === "daily"
      ? utc(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate() + steps)
      : utc(at.getUTCFullYear(), at.getUTCMonth() + steps, 1);
  return partitionKey(unit, d.toISOString());
}

/** The partitions of one table: which exist, creating what is missing, dropping what is old. */
export class PartitionSet {
  readonly unit: PartitionUnit;
  readonly #table: string;
  readonly #tableName: string;
  readonly #schema: string;
  readonly #base: string;
  readonly #known = new Set<string>();
  /** The current unit's key when partitions ahead were last made sure of. */
  #aheadFrom = "";

  /**
   * @param table - the quoted, qualified table (`"audit"."events"`)
   * @param tableName - `table_name` as configured, for the lock's name
   * @param schema - the quoted schema and a dot, or `""`
   * @param base - the table's unquoted name
   */
  constructor(unit: PartitionUnit, table: string, tableName: string, schema: string, base: string) {
    this.unit = unit;
    this.#table = table;
    this.#tableName = tableName;
    this.#schema = schema;
    this.#base = base;
  }

  #name(key: string): string {
    return `${this.#schema}"${derivedName(this.#base, `p${key}`)}"`;
  }

  /** The keys of the partitions that exist now, read from the catalog. */
  async #existing(client: SqlClient): Promise<string[]> {
    const rows = await client.all({
      text: "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass($1)",
      values: [this.#table],
    });
    const keys: string[] = [];
    for (const row of rows) {
      const key = KEY_OF_NAME.exec(String(row.name))?.[1];
      if (key !== undefined && key.length === (this.unit === "daily" ? 8 : 6)) keys.push(key);
    }
    return keys;
  }

  /** Learns which partitions exist (again, after the table was rebuilt) and creates those around the present. */
  async prepare(client: SqlClient, now = new Date()): Promise<void> {
    this.#known.clear();
    this.#aheadFrom = "";
    for (const key of await this.#existing(client)) this.#known.add(key);
    await this.#ensureAhead(client, now);
  }

  /** Makes sure every partition a batch needs exists before it is inserted. */
  async beforeInsert(client: SqlClient, records: readonly StoredRecord[], now = new Date()): Promise<void> {
    await this.#ensureAhead(client, now);
    const missing = new Set<string>();
    for (const r of records) {
      const key = partitionKey(this.unit, r.event.timestamp);
      if (!this.#known.has(key)) missing.add(key);
    }
    await this.#ensure(client, [...missing]);
  }

  async #ensureAhead(client: SqlClient, now: Date): Promise<void> {
    const current = keyAfter(this.unit, now, 0);
    if (current === this.#aheadFrom) return;
    const keys: string[] = [];
    for (let step = -1; step <= AHEAD[this.unit]; step++) keys.push(keyAfter(this.unit, now, step));
    await this.#ensure(
      client,
      keys.filter((k) => !this.#known.has(k)),
    );
    this.#aheadFrom = current;
  }

  async #ensure(client: SqlClient, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await client.withLock(`vigil:${this.#tableName}:partitions`, async (locked) => {
      await locked.exec(
        keys.map((key) => {
          const { from, to } = partitionBounds(this.unit, key);
          return `CREATE TABLE IF NOT EXISTS ${this.#name(key)} PARTITION OF ${this.#table} FOR VALUES FROM ('${from.toISOString()}') TO ('${to.toISOString()}')`;
        }),
      );
    });
    for (const key of keys) this.#known.add(key);
  }

  /**
   * Drops each partition wholly before `cutoff`, each in its own transaction: the partition
   * is locked, and dropped only if none of its rows has a row id above `maxRow` (a row
   * written after the retention record was signed). Returns the rows dropped; what is left
   * before the cutoff is for the row-by-row deletion.
   */
  async dropBefore(
    client: SqlClient,
    cutoff: Date,
    deletion: DeletionPath,
    maxRow?: number,
  ): Promise<number> {
    let dropped = 0;
    for (const key of (await this.#existing(client)).sort()) {
      if (partitionBounds(this.unit, key).to.getTime() > cutoff.getTime()) continue;
      const name = this.#name(key);
      const rows = await client.transaction(async (s) => {
        await s.run({ text: `LOCK TABLE ${name} IN ACCESS EXCLUSIVE MODE`, values: [] });
        const [row] = await s.all({
          text: `SELECT COUNT(*) AS n, MAX(row_id) AS m FROM ${name}`,
          values: [],
        });
        const newest = row?.m === null || row?.m === undefined ? undefined : Number(row.m);
        if (maxRow !== undefined && newest !== undefined && newest > maxRow) return undefined;
        await s.run({ text: `DROP TABLE ${name}`, values: [] });
        return Number(row?.n ?? 0);
      }, deletion);
      if (rows === undefined) continue;
      dropped += rows;
      this.#known.delete(key);
    }
    return dropped;
  }
}
