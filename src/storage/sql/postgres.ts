/**
 * PostgreSQL through `pg` (an optional peer dependency). The event is stored twice:
 * `line`, its JSON text verbatim (what queries return; JSONB would reorder keys), and
 * `event` as JSONB for the JSON path predicates. JSONB cannot hold `\u0000` or an
 * unpaired surrogate; such an event gets `event = NULL` and every JSON predicate treats
 * it as a candidate for the evaluator to judge. Text compares folded with
 * `lower(x COLLATE "C")`, which folds exactly `A`–`Z` (as the query language does), and
 * the indexes are built on that same expression.
 *
 * Append-only guard: a row trigger raises on `UPDATE` and `DELETE` (and a statement
 * trigger on `TRUNCATE`) unless the transaction ran `SET LOCAL vigil.allow_delete = 'on'`,
 * which only the deletion path does.
 *
 * @module
 */
import type { DatabaseConnectionConfig, Partitioning } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { asciiLower } from "../../query/wildcard.js";
import type { StoredRecord } from "../backend.js";
import {
  type Cond,
  type EqualityTarget,
  exact,
  guardNullEvent,
  type LeafCompiler,
  type NumericBound,
  type Pred,
  type TextColumn,
} from "./compile.js";
import {
  type Connected,
  type Dialect,
  isCanonicalTs,
  type KeysetPosition,
  type SqlBackendOptions,
} from "./dialect.js";
import {
  connectionClient,
  loadDriver,
  PooledClient,
  type Row,
  type SqlClient,
  type SqlSession,
  type TransactionOptions,
} from "./driver.js";
import { PartitionSet } from "./partitions.js";
import {
  BASE_COLUMNS,
  baseRow,
  derivedName,
  type Migration,
  parseTableName,
  rewriteColumns,
} from "./schema.js";
import { join, type Rendered, raw, render, type Sql, sql, type TypedParam, typed } from "./sql.js";

/** The slice of a `pg` query result that vigil uses. */
interface PgResult {
  readonly rows: Row[];
  readonly rowCount: number | null;
}

/** The slice of a pooled `pg` client that vigil uses. */
interface PgPoolClient {
  query(text: string, values?: readonly unknown[]): Promise<PgResult>;
  release(destroy?: boolean | Error): void;
  on(event: "error", listener: (error: Error) => void): unknown;
  off(event: "error", listener: (error: Error) => void): unknown;
}

/** The slice of `pg.Pool` that vigil uses. */
interface PgPool {
  query(text: string, values?: readonly unknown[]): Promise<PgResult>;
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** The slice of the `pg` module that vigil uses. */
interface PgModule {
  readonly Pool: new (config: Readonly<Record<string, unknown>>) => PgPool;
}

function session(conn: { query(text: string, values?: readonly unknown[]): Promise<PgResult> }): SqlSession {
  return {
    all: async (s) => (await conn.query(s.text, s.values)).rows,
    run: async (s) => (await conn.query(s.text, s.values)).rowCount ?? 0,
  };
}

class PgClient extends PooledClient {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    super(session(pool), (text) => pool.query(text));
    this.#pool = pool;
  }

  /**
   * Checks a connection out of the pool. While it is out, the pool does not listen for
   * its errors: a connection killed between two statements would otherwise emit an
   * unhandled `error` and crash the process. The next statement on it fails instead.
   */
  async #checkout(): Promise<{ conn: PgPoolClient; release: (error?: Error) => void }> {
    const conn = await this.#pool.connect();
    let lost: Error | undefined;
    const onError = (error: Error) => {
      lost = error;
    };
    conn.on("error", onError);
    return {
      conn,
      release: (error) => {
        conn.off("error", onError);
        conn.release(error ?? lost);
      },
    };
  }

  async transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const { conn, release } = await this.#checkout();
    let broken: Error | undefined;
    try {
      await conn.query("BEGIN");
      for (const s of options?.prelude ?? []) await conn.query(s.text, s.values);
      const result = await fn(session(conn));
      for (const s of options?.epilogue ?? []) await conn.query(s.text, s.values);
      await conn.query("COMMIT");
      return result;
    } catch (error) {
      try {
        await conn.query("ROLLBACK");
      } catch (rollbackError) {
        // The connection is gone: destroy it rather than return it to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    } finally {
      for (const s of options?.finally ?? []) {
        if (broken !== undefined) break;
        await conn.query(s.text, s.values).catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e));
        });
      }
      release(broken);
    }
  }

  withLock<T>(name: string, fn: (client: SqlClient) => Promise<T>): Promise<T> {
    // A transaction-scoped advisory lock: released at COMMIT or when the connection dies.
    let locked: SqlClient | undefined;
    return this.#withConnection(async (conn) => {
      locked = connectionClient(session(conn), (text) => conn.query(text));
      await conn.query("BEGIN");
      try {
        await conn.query("SELECT pg_advisory_xact_lock(hashtext($1))", [name]);
        const result = await fn(locked);
        await conn.query("COMMIT");
        return result;
      } catch (error) {
        await conn.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    });
  }

  async #withConnection<T>(fn: (conn: PgPoolClient) => Promise<T>): Promise<T> {
    const { conn, release } = await this.#checkout();
    try {
      return await fn(conn);
    } finally {
      release();
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * `ts` (a `timestamptz`) as the event's canonical text, `2026-03-01T12:00:00.000Z`, in
 * code-unit order (collation "C") — what a bound that is not a timestamp compares with.
 */
const TS_TEXT = `(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') COLLATE "C")`;
/** `id` (a `uuid`) as text in code-unit order. */
const ID_TEXT = `(id::text COLLATE "C")`;

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The `ts` side of a comparison with `value`: native when `value` is canonical, text otherwise. */
function tsOperand(value: string): { column: string; value: TypedParam } {
  return isCanonicalTs(value)
    ? { column: "ts", value: typed("timestamptz", value) }
    : { column: TS_TEXT, value: typed("text", value) };
}

/** The `id` side of a comparison with `value`: native for a lower-case UUID, text otherwise. */
function idOperand(value: string): { column: string; value: TypedParam } {
  return CANONICAL_UUID.test(value)
    ? { column: "id", value: typed("uuid", value) }
    : { column: ID_TEXT, value: typed("text", value) };
}

/** Keyset paging over the native columns, comparing by code units as every backend does. */
function pgKeyset(after: KeysetPosition, desc: boolean): Sql {
  const cmp = desc ? "<" : ">";
  const t = tsOperand(after.timestamp);
  const i = idOperand(after.id);
  return sql(
    [`${t.column} ${cmp}= `, ` AND (${t.column} ${cmp} `, ` OR ${i.column} ${cmp} `, ")"],
    t.value,
    t.value,
    i.value,
  );
}

/**
 * Checks what the native columns will accept, so that one foreign event cannot fail a
 * whole batch with a cast error deep in the database.
 */
function checkNative(record: StoredRecord): void {
  const { id, timestamp } = record.event;
  if (typeof id !== "string" || !CANONICAL_UUID.test(id.toLowerCase())) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `postgresql stores event ids as uuid; found id ${JSON.stringify(id)} (expected a UUID such as vigil's UUIDv7)`,
    );
  }
  if (typeof timestamp !== "string" || !isCanonicalTs(timestamp)) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `postgresql stores event times as timestamptz; event ${id} has timestamp ${JSON.stringify(timestamp)} (expected ISO 8601 in UTC with milliseconds, years 0001–9999)`,
    );
  }
}
/**
 * The array type of each column the insert unnests, in {@link BASE_COLUMNS} order, then the
 * line and whether it also goes into the JSONB column.
 */
const UNNEST_TYPES = [
  "uuid",
  "timestamptz",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "boolean",
  "text",
  "int8",
  "text",
  "text",
  "text",
  "boolean",
] as const;

/** ASCII-only lower case: under the "C" collation, PostgreSQL's lower() folds exactly A–Z. */
const fold = (x: string) => `lower((${x}) COLLATE "C")`;

/** Events whose JSON JSONB refuses (`\u0000`, unpaired surrogates). False positives only cost speed. */
const NOT_JSONB = /\\u0000|\\ud[89a-f]/i;

/** PostgreSQL's leaf SQL; `e.v` walks the value at a path, or its elements when it is an array. */
export class PgLeaves implements LeafCompiler {
  #path(path: readonly string[]): Sql {
    return sql`${typed("text[]", `{${path.map((s) => `"${s}"`).join(",")}}`)}`;
  }

  #value(path: readonly string[]): Sql {
    return sql`(event #> ${this.#path(path)})`;
  }

  #each(path: readonly string[], tests: readonly Sql[]): Cond {
    if (tests.length === 0) return false;
    const v = this.#value(path);
    return sql`EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${v}) = 'array' THEN ${v} ELSE jsonb_build_array(${v}) END) AS e(v) WHERE ${join(tests, " OR ")})`;
  }

  /** Rows without JSONB (`event IS NULL`) are candidates, never certain matches. */
  #guard(pred: Pred): Pred {
    return guardNullEvent(pred);
  }

  #string(): Sql {
    return raw(fold("e.v #>> '{}'"));
  }

  equals(path: readonly string[], target: EqualityTarget): Pred {
    const tests: Sql[] = [];
    let isExactLeaf = true;
    if (target.lowered !== undefined) {
      tests.push(
        sql`(jsonb_typeof(e.v) = 'string' AND ${this.#string()} = ${typed("text", target.lowered)})`,
      );
    } else {
      isExactLeaf = false;
    }
    if (target.number !== undefined) {
      tests.push(
        sql`(jsonb_typeof(e.v) = 'number' AND e.v = ${typed("jsonb", JSON.stringify(target.number))})`,
      );
    }
    if (target.bool !== undefined) tests.push(raw(`e.v = '${target.bool}'::jsonb`));
    const cond = this.#each(path, tests);
    if (isExactLeaf) return this.#guard(exact(cond));
    const sup = this.#each(path, [...tests, raw("jsonb_typeof(e.v) = 'string'")]);
    return this.#guard({ sup, sub: cond });
  }

  like(path: readonly string[], pattern: string): Pred {
    const text = sql`(jsonb_typeof(e.v) = 'string' AND ${this.#string()} LIKE ${typed("text", pattern)} ESCAPE '!')`;
    return this.#guard({
      sup: this.#each(path, [text, raw("jsonb_typeof(e.v) = 'number'")]),
      sub: this.#each(path, [text]),
    });
  }

  exists(path: readonly string[]): Pred {
    return this.#guard(exact(sql`COALESCE(jsonb_typeof(${this.#value(path)}) <> 'null', false)`));
  }

  comparable(path: readonly string[], low: NumericBound | undefined, high: NumericBound | undefined): Pred {
    const numeric: Sql[] = [raw("jsonb_typeof(e.v) = 'number'")];
    // JSONB keeps the number's decimal text, so numeric comparison is exact.
    if (low !== undefined) {
      numeric.push(
        sql([`(e.v)::numeric ${low.inclusive ? ">=" : ">"} `, ""], typed("numeric", String(low.value))),
      );
    }
    if (high !== undefined) {
      numeric.push(
        sql([`(e.v)::numeric ${high.inclusive ? "<=" : "<"} `, ""], typed("numeric", String(high.value))),
      );
    }
    return this.#guard({
      sup: this.#each(path, [raw("jsonb_typeof(e.v) = 'string'"), sql`(${join(numeric, " AND ")})`]),
      sub: false,
    });
  }

  contains(needles: readonly string[]): Sql {
    return sql`(${join(
      needles.map((n) => sql([`strpos(${fold("line")}, `, ") > 0"], typed("text", n))),
      " AND ",
    )})`;
  }

  columnEquals(column: TextColumn, lowered: string): Pred {
    // Exact, and the very expression the indexes are built on.
    return exact(sql([`${fold(column)} = `, ""], typed("text", lowered)));
  }

  groupKey(column: TextColumn): string {
    return column;
  }

  columnIs(column: TextColumn, text: string): Sql {
    // the folded comparison is the indexed expression; the plain one is exact
    return sql(
      [`(${fold(column)} = `, ` AND ${column} = `, ")"],
      typed("text", asciiLower(text)),
      typed("text", text),
    );
  }

  timestampCompare(op: ">" | ">=" | "<" | "<=", value: string): Sql {
    const t = tsOperand(value);
    return sql([`${t.column} ${op} `, ""], t.value);
  }

  timestampEquals(lowered: string): Sql {
    // Stored timestamps are canonical: their only letters are T and Z.
    const upper = lowered.toUpperCase();
    if (isCanonicalTs(upper)) return sql`ts = ${typed("timestamptz", upper)}`;
    return sql([`${fold(TS_TEXT)} = `, ""], typed("text", lowered));
  }

  not(cond: Sql): Sql {
    return sql`(NOT COALESCE(${cond}, false))`;
  }
}

/** The columns after `id` and `ts` that every shape of the table has. */
const EVENT_COLUMNS = `  severity text,
  category text,
  type text,
  actor_username text,
  actor_id text,
  status text,
  resource_path text,
  security_event boolean NOT NULL,
  integrity_chain text,
  integrity_seq bigint,
  integrity_hash text,
  line text NOT NULL,
  event jsonb`;

/** The table of schema version 1, unpartitioned: text `id` and `ts` until version 5. */
function createPlain(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id text COLLATE "C" NOT NULL PRIMARY KEY,
  ts text COLLATE "C" NOT NULL,
${EVENT_COLUMNS}
)`;
}

/**
 * A partitioned table (`partitioning: daily | monthly`) is created at its latest shape at
 * once: native types, `tenant`, `row_id`. Its primary key holds the partition key, `ts`, with
 * `id`: a retried event has both the same, so inserts stay idempotent.
 */
function createPartitioned(table: string, base: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  id uuid NOT NULL,
  ts timestamptz NOT NULL,
${EVENT_COLUMNS},
  row_id bigint GENERATED ALWAYS AS IDENTITY,
  tenant text,
  CONSTRAINT ${q(derivedName(base, "pkey"))} PRIMARY KEY (id, ts)
) PARTITION BY RANGE (ts)`;
}

function migrations(table: string, schema: string, base: string, partitioned: boolean): Migration[] {
  const idx = (suffix: string, columns: string) =>
    `CREATE INDEX IF NOT EXISTS ${q(derivedName(base, suffix))} ON ${table} (${columns})`;
  const fn = `${schema}${q(derivedName(base, "guard"))}`;
  const trigger = q(derivedName(base, "guard"));
  const truncate = q(derivedName(base, "guard_truncate"));
  const records = `${schema}${q(derivedName(base, "checkpoints"))}`;
  const recordsFn = `${schema}${q(derivedName(base, "checkpoints_guard"))}`;
  const recordsTrigger = q(derivedName(base, "checkpoints_guard"));
  const recordsTruncate = q(derivedName(base, "checkpoints_guard_truncate"));
  return [
    {
      version: 1,
      description: "audit table, indexes, append-only guard",
      statements: [
        partitioned ? createPartitioned(table, base) : createPlain(table),
        idx("ts_idx", "ts, id"),
        idx("category_ts_idx", `${fold("category")}, ts, id`),
        idx("type_ts_idx", `${fold("type")}, ts, id`),
        idx("actor_ts_idx", `${fold("actor_username")}, ts, id`),
        // partitions hold rows in time order: a BRIN index finds a range's blocks for a few pages
        ...(partitioned
          ? [`CREATE INDEX IF NOT EXISTS ${q(derivedName(base, "ts_brin_idx"))} ON ${table} USING brin (ts)`]
          : []),
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $vigil$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('vigil.allow_delete', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'vigil: audit rows are append-only (% on %); delete them through vigil retention', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$vigil$`,
        `DROP TRIGGER IF EXISTS ${trigger} ON ${table}`,
        `CREATE TRIGGER ${trigger} BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
        `DROP TRIGGER IF EXISTS ${truncate} ON ${table}`,
        `CREATE TRIGGER ${truncate} BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
      ],
    },
    {
      version: 2,
      description: "row ids in insertion order; signed records table (checkpoints, retention records)",
      statements: [
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS row_id bigint GENERATED ALWAYS AS IDENTITY`,
        // a unique index on a partitioned table must hold the partition key: identity suffices there
        `CREATE ${partitioned ? "" : "UNIQUE "}INDEX IF NOT EXISTS ${q(derivedName(base, "row_idx"))} ON ${table} (row_id)`,
        `CREATE TABLE IF NOT EXISTS ${records} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  type text NOT NULL,
  chain text NOT NULL,
  seq bigint NOT NULL,
  record text NOT NULL
)`,
        `CREATE OR REPLACE FUNCTION ${recordsFn}() RETURNS trigger LANGUAGE plpgsql AS $vigil$
BEGIN
  RAISE EXCEPTION 'vigil: signed records are append-only (% on %)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$vigil$`,
        `DROP TRIGGER IF EXISTS ${recordsTrigger} ON ${records}`,
        `CREATE TRIGGER ${recordsTrigger} BEFORE UPDATE OR DELETE ON ${records} FOR EACH ROW EXECUTE FUNCTION ${recordsFn}()`,
        `DROP TRIGGER IF EXISTS ${recordsTruncate} ON ${records}`,
        `CREATE TRIGGER ${recordsTruncate} BEFORE TRUNCATE ON ${records} FOR EACH STATEMENT EXECUTE FUNCTION ${recordsFn}()`,
      ],
    },
    {
      version: 3,
      description: "tenant column and index",
      statements: [
        `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS tenant text`,
        idx("tenant_ts_idx", `${fold("tenant")}, ts, id`),
      ],
    },
    {
      version: 4,
      description:
        "erasure by rewriting: a row may be updated in place, keeping its ids, inside the erasure path",
      statements: [
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $vigil$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('vigil.allow_delete', true) = 'on' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND current_setting('vigil.allow_erase', true) = 'on'
     AND NEW.id = OLD.id AND NEW.row_id = OLD.row_id THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'vigil: audit rows are append-only (% on %); delete them through vigil retention', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$vigil$`,
      ],
    },
    {
      version: 5,
      description: "native types: id uuid, ts timestamptz",
      // One statement, one table rewrite, inside the migration's transaction: a row that
      // does not convert rolls the whole change back and names itself in the error.
      statements: partitioned
        ? [] // created with them
        : [
            `ALTER TABLE ${table} ALTER COLUMN id TYPE uuid USING id::uuid, ALTER COLUMN ts TYPE timestamptz USING ts::timestamptz`,
          ],
    },
    {
      version: 6,
      description: "result.status index",
      // `status:FAILURE` (failed logins) walked every row of its type and range without it.
      // On a partitioned table the index is created on every partition, and on those to come.
      statements: [idx("status_ts_idx", `${fold("status")}, ts, id`)],
    },
  ];
}

/**
 * Refuses a table whose kind differs from the configuration: an existing unpartitioned
 * table is not converted in place (that would rewrite and re-key every row under one long
 * lock), and a partitioned one needs its unit to create partitions.
 */
async function checkTableKind(
  client: SqlClient,
  table: string,
  tableName: string,
  partitioning: Partitioning,
): Promise<void> {
  const rows = await client.all({
    text: "SELECT relkind FROM pg_class WHERE oid = to_regclass($1)",
    values: [table],
  });
  const kind = rows[0]?.relkind;
  if (kind === undefined) return; // created by the migrations
  if (partitioning !== "none" && kind !== "p") {
    throw new VigilError(
      ErrorCodes.STORAGE,
      `table ${tableName} exists and is not partitioned, but partitioning is ${partitioning}: vigil does not convert a table in place. ` +
        `Set partitioning: none to keep using it, or rename it (ALTER TABLE ${tableName} RENAME TO ${tableName}_unpartitioned) and let vigil create a partitioned one; the old rows stay queryable there with SQL`,
    );
  }
  if (partitioning === "none" && kind === "p") {
    throw new VigilError(
      ErrorCodes.STORAGE,
      `table ${tableName} is partitioned: set partitioning to the unit it was created with (daily or monthly; its partitions are named ${tableName}_p<YYYYMMDD> or _p<YYYYMM>)`,
    );
  }
}

/**
 * Connects a `pg` pool from `connection` (fields or `url`) and builds the dialect for
 * `tableName`. Sessions show as `applicationName` in `pg_stat_activity`.
 */
export async function connectPostgres(
  connection: DatabaseConnectionConfig,
  tableName: string,
  options: SqlBackendOptions,
  onIdleError: (error: Error) => void,
  applicationName = "vigil",
  partitioning: Partitioning = "none",
): Promise<Connected> {
  const names = parseTableName(tableName);
  const pg = await loadDriver<PgModule>("pg", "pg", "postgresql");
  const config: Record<string, unknown> = {
    max: options.poolSize ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    query_timeout: options.statementTimeoutMs ?? 60_000,
    idleTimeoutMillis: 10_000,
    keepAlive: true,
    // Names the sessions in pg_stat_activity (at most 63 bytes).
    application_name: applicationName.slice(0, 63),
  };
  if (connection.url !== undefined) config.connectionString = connection.url;
  if (connection.host !== undefined) config.host = connection.host;
  if (connection.port !== undefined) config.port = connection.port;
  if (connection.database !== undefined) config.database = connection.database;
  if (connection.username !== undefined) config.user = connection.username;
  if (connection.password !== undefined) config.password = connection.password;
  const pool = new pg.Pool(config);
  // An idle connection dying (server restart) must not crash the process.
  pool.on("error", onIdleError);
  const client = new PgClient(pool);

  const schema = names.schema === undefined ? "" : `${q(names.schema)}.`;
  const table = `${schema}${q(names.table)}`;
  try {
    await checkTableKind(client, table, tableName, partitioning);
  } catch (error) {
    await client.close();
    throw error;
  }
  const partitions =
    partitioning === "none"
      ? undefined
      : new PartitionSet(partitioning, table, tableName, schema, names.table);
  // one statement for every batch size: each column travels as one array parameter, so
  // the server parses and plans the same text whatever the rows (no bind-parameter limit);
  // ORDER BY the arrays' ordinality: row_id follows the batch's order by statement, not by
  // how unnest happens to emit its rows
  const insertText = `INSERT INTO ${table} (${[...BASE_COLUMNS, "line", "event"].join(", ")}) SELECT ${BASE_COLUMNS.join(", ")}, line, CASE WHEN j THEN line::jsonb END FROM unnest(${UNNEST_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(", ")}) WITH ORDINALITY AS u(${[...BASE_COLUMNS, "line", "j", "vigil_position"].join(", ")}) ORDER BY vigil_position${
    // a partitioned table's key holds ts too: a retried event has the same id and ts
    partitions === undefined ? " ON CONFLICT (id) DO NOTHING" : " ON CONFLICT (id, ts) DO NOTHING"
  }`;

  const deletion = {
    prelude: [{ text: "SET LOCAL vigil.allow_delete = 'on'", values: [] }],
    epilogue: [],
    finally: [],
  };
  const dialect: Dialect = {
    name: "postgresql",
    placeholders: "dollar",
    table,
    eventText: "line",
    tsText: TS_TEXT,
    idText: ID_TEXT,
    keyset: pgKeyset,
    rowId: "row_id",
    records: `${schema}${q(derivedName(names.table, "checkpoints"))}`,
    leaves: new PgLeaves(),
    maxRowsPerInsert: Number.POSITIVE_INFINITY,
    migration: {
      probe: `SELECT 1 FROM ${table} WHERE 1 = 0`,
      probeInSavepoint: true,
      migrationsTable: `${schema}${q(derivedName(names.table, "migrations"))}`,
      createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${schema}${q(derivedName(names.table, "migrations"))} (
  version integer PRIMARY KEY, description text NOT NULL, applied_at text NOT NULL)`,
      migrations: migrations(table, schema, names.table, partitions !== undefined),
      placeholders: "dollar",
      lockName: `vigil:${tableName}`,
    },
    insert(records: readonly StoredRecord[]): Rendered {
      const arrays: (string | number | boolean | null)[][] = UNNEST_TYPES.map(() => []);
      for (const r of records) {
        checkNative(r);
        const row = baseRow(r);
        for (let i = 0; i < row.length; i++) arrays[i]!.push(row[i]!);
        arrays[row.length]!.push(r.line);
        arrays[row.length + 1]!.push(!NOT_JSONB.test(r.line));
      }
      return { text: insertText, values: arrays };
    },
    deleteOlder(cutoff: string, limit: number, maxRow?: number): Rendered {
      const upTo = maxRow === undefined ? sql`` : sql` AND row_id <= ${typed("int8", maxRow)}`;
      return render(
        sql`DELETE FROM ${raw(table)} WHERE id IN (SELECT id FROM ${raw(table)} WHERE ts < ${typed("timestamptz", cutoff)}${upTo} ORDER BY ts LIMIT ${raw(String(Math.trunc(limit)))})`,
        "dollar",
      );
    },
    deletion,
    ...(partitions && {
      prepare: (c: SqlClient) => partitions.prepare(c),
      // an event refused by the columns (checkNative) needs no partition
      beforeInsert: (c: SqlClient, records: readonly StoredRecord[]) =>
        partitions.beforeInsert(
          c,
          records.filter((r) => isCanonicalTs(r.event.timestamp)),
        ),
      dropBefore: (c: SqlClient, cutoff: Date, maxRow?: number) =>
        partitions.dropBefore(c, cutoff, deletion, maxRow),
    }),
    rewrite(rowId: number, record: StoredRecord): Rendered {
      const { names: cols, values } = rewriteColumns(record);
      const n = cols.length;
      const line = `$${n + 1}::text`;
      const event = NOT_JSONB.test(record.line) ? "NULL" : `${line}::jsonb`;
      return {
        text: `UPDATE ${table} SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(", ")}, line = ${line}, event = ${event} WHERE row_id = $${n + 2}::int8 AND id = $${n + 3}::uuid`,
        values: [...values, record.line, rowId, record.event.id],
      };
    },
    rewriting: {
      prelude: [{ text: "SET LOCAL vigil.allow_erase = 'on'", values: [] }],
      epilogue: [],
      finally: [],
    },
    async durabilityWarnings(c: SqlClient): Promise<readonly string[]> {
      const rows = await c.all({
        text: "SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fs",
        values: [],
      });
      const row = rows[0] ?? {};
      const warnings: string[] = [];
      if (row.sc === "off") {
        warnings.push(
          "postgresql: synchronous_commit is off: a batch reported written can be lost if the server crashes",
        );
      }
      if (row.fs === "off") {
        warnings.push("postgresql: fsync is off: committed batches can be lost or corrupted on a crash");
      }
      return warnings;
    },
  };
  return { client, dialect, warnings: [] };
}
