/**
 * MySQL and MariaDB through `mysql2` (an optional peer dependency). The event is a
 * `JSON` column: on MariaDB that is text kept verbatim, so it is also what queries
 * read back; MySQL 8 stores JSON in a binary form that reorders keys, so there the
 * verbatim text also goes in `line`. JSON the server refuses (unpaired surrogates) is
 * kept in `line` with `event = NULL`, and JSON predicates treat such rows as
 * candidates for the evaluator.
 *
 * Text columns use a case-insensitive collation so `=` finds rows through the index;
 * an ASCII-only fold (`REPLACE` of `A`–`Z`) compared as bytes makes the result exact.
 * Rows are inserted with `ON DUPLICATE KEY UPDATE id = id`, a no-op on a retried row.
 *
 * Append-only guard: a `BEFORE UPDATE` trigger rejects any update that changes a row
 * (the no-op above passes) and a `BEFORE DELETE` trigger rejects deletes unless the
 * session variable `@vigil_allow_delete` is 1, which only the deletion path sets. DDL is
 * not transactional in MySQL: migrations run under `GET_LOCK` instead.
 *
 * On MariaDB `ts` is `DATETIME(3)` (schema version 5, converted from the text of earlier
 * versions by restartable steps); reads give it back as the canonical ISO text, and a bound
 * or cursor that is not canonical compares with that text. MySQL 8 keeps the text column.
 *
 * @module
 */
import type { DatabaseConnectionConfig } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { StoredRecord } from "../backend.js";
import {
  type EqualityTarget,
  exact,
  guardNullEvent,
  type LeafCompiler,
  type NumericBound,
  type Pred,
  type TextColumn,
  widen,
} from "./compile.js";
import {
  type Connected,
  type Dialect,
  isCanonicalTs,
  type KeysetPosition,
  LOWER,
  type SqlBackendOptions,
  textKeyset,
  UPPER,
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
import {
  BASE_COLUMNS,
  type BaseRow,
  baseRow,
  derivedName,
  type Migration,
  parseTableName,
  V1_COLUMNS,
} from "./schema.js";
import { join, type Rendered, raw, render, type Sql, sql } from "./sql.js";

/** The slice of a mysql2 promise connection that vigil uses. */
interface MysqlConnection {
  execute(text: string, values?: readonly unknown[]): Promise<[unknown, unknown]>;
  query(text: string, values?: readonly unknown[]): Promise<[unknown, unknown]>;
  release(): void;
  destroy(): void;
}

/** The slice of a mysql2 promise pool that vigil uses. */
interface MysqlPool {
  execute(text: string, values?: readonly unknown[]): Promise<[unknown, unknown]>;
  query(text: string, values?: readonly unknown[]): Promise<[unknown, unknown]>;
  getConnection(): Promise<MysqlConnection>;
  end(): Promise<void>;
}

/** The slice of `mysql2/promise` that vigil uses. */
interface MysqlModule {
  createPool(config: Readonly<Record<string, unknown>>): MysqlPool;
}

type Executor = { execute(text: string, values?: readonly unknown[]): Promise<[unknown, unknown]> };

function session(conn: Executor): SqlSession {
  return {
    all: async (s) => (await conn.execute(s.text, s.values))[0] as Row[],
    run: async (s) =>
      Number(
        (((await conn.execute(s.text, s.values))[0] ?? {}) as { affectedRows?: number }).affectedRows ?? 0,
      ),
  };
}

class MysqlClient extends PooledClient {
  readonly #pool: MysqlPool;

  constructor(pool: MysqlPool) {
    super(session(pool), (text) => pool.query(text));
    this.#pool = pool;
  }

  async transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const conn = await this.#pool.getConnection();
    let broken = false;
    try {
      await conn.query("START TRANSACTION");
      for (const s of options?.prelude ?? []) await conn.execute(s.text, s.values);
      const result = await fn(session(conn));
      for (const s of options?.epilogue ?? []) await conn.execute(s.text, s.values);
      await conn.query("COMMIT");
      return result;
    } catch (error) {
      await conn.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      for (const s of options?.finally ?? []) {
        if (broken) break;
        await conn.execute(s.text, s.values).catch(() => {
          broken = true;
        });
      }
      if (broken) conn.destroy();
      else conn.release();
    }
  }

  async withLock<T>(name: string, fn: (client: SqlClient) => Promise<T>): Promise<T> {
    const conn = await this.#pool.getConnection();
    try {
      const [rows] = await conn.query("SELECT GET_LOCK(?, 60) AS l", [name]);
      if (Number((rows as Row[])[0]?.l) !== 1) throw new Error(`could not take the lock ${name} within 60 s`);
      try {
        return await fn(connectionClient(session(conn), (text) => conn.query(text)));
      } finally {
        await conn.query("SELECT RELEASE_LOCK(?)", [name]).catch(() => undefined);
      }
    } finally {
      conn.release();
    }
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

const q = (name: string) => `\`${name.replaceAll("`", "``")}\``;
const NUMBERS = "('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER')";
/** Unpaired surrogates, which the JSON column refuses. False positives only cost speed. */
const NOT_JSON = /\\ud[89a-f]/i;

/** `x` with exactly `A`–`Z` folded: `REPLACE` is case-sensitive whatever the collation. */
function fold(x: string): string {
  let out = x;
  for (let i = 0; i < 26; i++) out = `REPLACE(${out}, '${UPPER[i]}', '${LOWER[i]}')`;
  return out;
}

/** {@link fold} around a fragment. */
function foldSql(x: Sql): Sql {
  let prefix = "";
  let suffix = "";
  for (let i = 0; i < 26; i++) {
    prefix += "REPLACE(";
    suffix += `, '${UPPER[i]}', '${LOWER[i]}')`;
  }
  return sql([prefix, suffix], x);
}

/**
 * A `DATETIME(3)` column as the event's canonical text, `2026-03-01T12:00:00.000Z`: `%f`
 * gives microseconds, of which the stored milliseconds are the first three.
 */
const canonicalText = (column: string) =>
  `CONCAT(LEFT(DATE_FORMAT(${column}, '%Y-%m-%dT%H:%i:%s.%f'), 23), 'Z')`;
/** `ts` (MariaDB's `DATETIME(3)`) as the event's canonical text. */
const TS_TEXT = canonicalText("ts");

/** The canonical ISO form, for `STR_TO_DATE` and as a pattern. */
const ISO_FORMAT = "%Y-%m-%dT%H:%i:%s.%fZ";
const ISO_REGEXP = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$";

/** A canonical ISO instant in the form a `DATETIME` takes without a warning: `2026-03-01 12:00:00.000`. */
function nativeTs(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/**
 * The `ts` side of a comparison with `value`: the native column (and its index) when `value`
 * is canonical, else the column's canonical text compared by bytes, as every backend does.
 */
function tsOperand(value: string, native: boolean): { column: string; value: string } {
  if (!native) return { column: "ts", value };
  return isCanonicalTs(value)
    ? { column: "ts", value: nativeTs(value) }
    : { column: `CAST(${TS_TEXT} AS BINARY)`, value };
}

/** Keyset paging over a native `ts`, comparing by code units as every backend does. */
function nativeKeyset(after: KeysetPosition, desc: boolean): Sql {
  const cmp = desc ? "<" : ">";
  const t = tsOperand(after.timestamp, true);
  return sql(
    [`${t.column} ${cmp}= `, ` AND (${t.column} ${cmp} `, ` OR id ${cmp} `, ")"],
    t.value,
    t.value,
    after.id,
  );
}

/**
 * Checks that `DATETIME(3)` takes the event's time, so that one foreign event cannot fail a
 * whole batch with a conversion error deep in the database.
 */
function checkNative(record: StoredRecord): void {
  const { id, timestamp } = record.event;
  if (typeof timestamp !== "string" || !isCanonicalTs(timestamp)) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `mariadb stores event times as DATETIME(3); event ${String(id)} has timestamp ${JSON.stringify(timestamp)} (expected ISO 8601 in UTC with milliseconds, years 0001–9999)`,
    );
  }
}

/** MySQL's leaf SQL. JSON paths are bound parameters; arrays are left to the evaluator. */
export class MysqlLeaves implements LeafCompiler {
  readonly #text: string;
  readonly #native: boolean;

  /** `native`: `ts` is MariaDB's `DATETIME(3)` (schema version 5), not text. */
  constructor(textColumn: string, native = false) {
    this.#text = textColumn;
    this.#native = native;
  }

  #v(path: readonly string[]): Sql {
    return sql`JSON_EXTRACT(event, ${`$${path.map((s) => `."${s}"`).join("")}`})`;
  }

  equals(path: readonly string[], target: EqualityTarget): Pred {
    const v = this.#v(path);
    const sup: Sql[] = [];
    const sub: Sql[] = [];
    if (target.lowered !== undefined) {
      sup.push(sql`(JSON_TYPE(${v}) = 'STRING' AND LOWER(JSON_UNQUOTE(${v})) = LOWER(${target.lowered}))`);
      sub.push(
        sql`(JSON_TYPE(${v}) = 'STRING' AND CAST(${foldSql(sql`JSON_UNQUOTE(${v})`)} AS BINARY) = CAST(${target.lowered} AS BINARY))`,
      );
    } else {
      sup.push(sql`JSON_TYPE(${v}) = 'STRING'`);
    }
    if (target.number !== undefined) {
      const n = { value: target.number, inclusive: true };
      sup.push(
        sql`(JSON_TYPE(${v}) IN ${raw(NUMBERS)} AND CAST(JSON_UNQUOTE(${v}) AS DOUBLE) BETWEEN ${widen(n, "down")} AND ${widen(n, "up")})`,
      );
    }
    if (target.bool !== undefined) {
      const b = sql`(JSON_TYPE(${v}) = 'BOOLEAN' AND JSON_UNQUOTE(${v}) = ${target.bool ? "true" : "false"})`;
      sup.push(b);
      sub.push(b);
    }
    sup.push(sql`JSON_TYPE(${v}) = 'ARRAY'`);
    return guardNullEvent({
      sup: sql`(${join(sup, " OR ")})`,
      sub: sub.length === 0 ? false : sql`(${join(sub, " OR ")})`,
    });
  }

  like(path: readonly string[], pattern: string): Pred {
    const v = this.#v(path);
    return guardNullEvent({
      sup: sql`((JSON_TYPE(${v}) = 'STRING' AND LOWER(JSON_UNQUOTE(${v})) LIKE LOWER(${pattern}) ESCAPE '!') OR JSON_TYPE(${v}) IN ('INTEGER', 'DOUBLE', 'DECIMAL', 'UNSIGNED INTEGER', 'ARRAY'))`,
      sub: false,
    });
  }

  exists(path: readonly string[]): Pred {
    return guardNullEvent(exact(sql`COALESCE(JSON_TYPE(${this.#v(path)}) <> 'NULL', FALSE)`));
  }

  comparable(path: readonly string[], low: NumericBound | undefined, high: NumericBound | undefined): Pred {
    const v = this.#v(path);
    const numeric: Sql[] = [sql`JSON_TYPE(${v}) IN ${raw(NUMBERS)}`];
    if (low !== undefined) numeric.push(sql`CAST(JSON_UNQUOTE(${v}) AS DOUBLE) >= ${widen(low, "down")}`);
    if (high !== undefined) numeric.push(sql`CAST(JSON_UNQUOTE(${v}) AS DOUBLE) <= ${widen(high, "up")}`);
    return guardNullEvent({
      sup: sql`(JSON_TYPE(${v}) IN ('STRING', 'ARRAY') OR (${join(numeric, " AND ")}))`,
      sub: false,
    });
  }

  contains(needles: readonly string[]): Sql {
    return sql`(${join(
      needles.map((n) => sql([`LOCATE(LOWER(`, `), LOWER(${this.#text})) > 0`], n)),
      " AND ",
    )})`;
  }

  columnEquals(column: TextColumn, lowered: string): Pred {
    // The column's _ci collation finds rows through the index; the byte comparison of the ASCII fold is exact.
    return exact(
      sql(
        [`(${column} = `, ` AND CAST(${fold(column)} AS BINARY) = CAST(`, " AS BINARY))"],
        lowered,
        lowered,
      ),
    );
  }

  groupKey(column: TextColumn): string {
    return `CAST(${column} AS BINARY)`;
  }

  columnIs(column: TextColumn, text: string): Sql {
    // the _ci comparison finds the rows through the index, the byte comparison is exact
    return sql([`(${column} = `, ` AND CAST(${column} AS BINARY) = CAST(`, " AS BINARY))"], text, text);
  }

  timestampCompare(op: ">" | ">=" | "<" | "<=", value: string): Sql {
    const t = tsOperand(value, this.#native);
    return sql([`${t.column} ${op} `, ""], t.value);
  }

  timestampEquals(lowered: string): Sql {
    // Stored timestamps are canonical: their only letters are T and Z.
    const upper = lowered.toUpperCase();
    if (this.#native && isCanonicalTs(upper)) return sql`ts = ${nativeTs(upper)}`;
    return sql([`CAST(${fold(this.#native ? TS_TEXT : "ts")} AS BINARY) = CAST(`, " AS BINARY)"], lowered);
  }

  not(cond: Sql): Sql {
    return sql`(NOT COALESCE(${cond}, FALSE))`;
  }
}

/**
 * Schema version 5 on MariaDB: `ts` from ISO text to `DATETIME(3)`. `ALTER ... MODIFY` cannot
 * convert the text (`T`, `Z`), so a new column is filled and swapped in; each statement checks
 * the table's state first, so a run stopped between any two statements is finished by the next.
 */
function nativeTsStatements(table: string, base: string, schemaName: string | undefined): string[] {
  const where = `TABLE_SCHEMA = ${schemaName === undefined ? "DATABASE()" : `'${schemaName}'`} AND TABLE_NAME = '${base}'`;
  const has = (column: string) =>
    `EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE ${where} AND COLUMN_NAME = '${column}')`;
  const keys = [
    ["ts_idx", ""],
    ["category_ts_idx", "category, "],
    ["type_ts_idx", "type, "],
    ["actor_ts_idx", "actor_username, "],
    ["tenant_ts_idx", "tenant, "],
  ] as const;
  return [
    // 1. the new column, only while `ts` is still text
    `BEGIN NOT ATOMIC
  IF (SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE ${where} AND COLUMN_NAME = 'ts') = 'varchar' THEN
    ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ts_native DATETIME(3) NULL;
  END IF;
END`,
    // 2. fill it; a value that does not convert exactly back to its text stops the migration, named
    `BEGIN NOT ATOMIC
  DECLARE bad VARCHAR(200);
  DECLARE msg VARCHAR(400);
  IF ${has("ts_native")} THEN
    -- not strict, so that an impossible date (02-30) is NULL here rather than an error without its text
    SET STATEMENT sql_mode = '' FOR
      SELECT ts INTO bad FROM ${table} WHERE ts_native IS NULL AND (ts NOT REGEXP BINARY '${ISO_REGEXP}' OR DATE_ADD(STR_TO_DATE(ts, '${ISO_FORMAT}'), INTERVAL 0 SECOND) IS NULL) LIMIT 1;
    IF bad IS NULL THEN
      UPDATE ${table} SET ts_native = STR_TO_DATE(ts, '${ISO_FORMAT}') WHERE ts_native IS NULL;
      SET bad = (SELECT ts FROM ${table} WHERE ts_native IS NULL OR CAST(${canonicalText("ts_native")} AS BINARY) <> CAST(ts AS BINARY) LIMIT 1);
    END IF;
    IF bad IS NOT NULL THEN
      SET msg = CONCAT('vigil: the stored timestamp ', QUOTE(bad), ' does not convert to DATETIME(3)');
      SIGNAL SQLSTATE '22007' SET MESSAGE_TEXT = msg, MYSQL_ERRNO = 1292;
    END IF;
  END IF;
END`,
    // 3. one ALTER TABLE (atomic in InnoDB) swaps the columns and rebuilds the keys on `ts`
    `BEGIN NOT ATOMIC
  IF ${has("ts_native")} THEN
    ALTER TABLE ${table} ${keys.map(([k]) => `DROP KEY ${q(derivedName(base, k))}`).join(", ")},
      DROP COLUMN ts, CHANGE COLUMN ts_native ts DATETIME(3) NOT NULL AFTER id,
      ${keys.map(([k, lead]) => `ADD KEY ${q(derivedName(base, k))} (${lead}ts, id)`).join(", ")};
  END IF;
END`,
  ];
}

function migrations(
  table: string,
  base: string,
  schema: string,
  schemaName: string | undefined,
  binary: string,
  mariadb: boolean,
): Migration[] {
  const bin = `CHARACTER SET utf8mb4 COLLATE ${binary}`;
  const ci = "VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL";
  // versions 1 and 2 guard the columns they created; version 3 adds tenant to the guard
  const unchangedOf = (names: readonly string[]) =>
    [...names, "event", "line"].map((c) => `NEW.${c} <=> OLD.${c}`).join(" AND ");
  const unchanged = unchangedOf(V1_COLUMNS);
  const trigger = (suffix: string) => `${schema}${q(derivedName(base, suffix))}`;
  const records = `${schema}${q(derivedName(base, "checkpoints"))}`;
  // MySQL 8 has no IF NOT EXISTS on columns and keys; its ALTER TABLE is atomic.
  const ifNotExists = mariadb ? "IF NOT EXISTS " : "";
  const rejectAll = (what: string) => `BEGIN
  SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: signed records are append-only (${what})';
END`;
  return [
    {
      version: 1,
      description: "audit table, indexes, append-only guard",
      statements: [
        `CREATE TABLE IF NOT EXISTS ${table} (
  id VARCHAR(191) ${bin} NOT NULL,
  ts VARCHAR(64) ${bin} NOT NULL,
  severity ${ci},
  category ${ci},
  type ${ci},
  actor_username ${ci},
  actor_id ${ci},
  status ${ci},
  resource_path ${ci},
  security_event TINYINT(1) NOT NULL,
  integrity_chain VARCHAR(200) ${bin} NULL,
  integrity_seq BIGINT NULL,
  integrity_hash VARCHAR(200) ${bin} NULL,
  event JSON NULL,
  line LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  PRIMARY KEY (id),
  KEY ${q(derivedName(base, "ts_idx"))} (ts, id),
  KEY ${q(derivedName(base, "category_ts_idx"))} (category, ts, id),
  KEY ${q(derivedName(base, "type_ts_idx"))} (type, ts, id),
  KEY ${q(derivedName(base, "actor_ts_idx"))} (actor_username, ts, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        `DROP TRIGGER IF EXISTS ${trigger("no_update")}`,
        `CREATE TRIGGER ${trigger("no_update")} BEFORE UPDATE ON ${table} FOR EACH ROW
BEGIN
  IF NOT (${unchanged}) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: audit rows are append-only and cannot be updated';
  END IF;
END`,
        `DROP TRIGGER IF EXISTS ${trigger("no_delete")}`,
        `CREATE TRIGGER ${trigger("no_delete")} BEFORE DELETE ON ${table} FOR EACH ROW
BEGIN
  IF COALESCE(@vigil_allow_delete, 0) <> 1 THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: audit rows are append-only; delete them through vigil retention';
  END IF;
END`,
      ],
    },
    {
      version: 2,
      description: "row ids in insertion order; signed records table (checkpoints, retention records)",
      statements: [
        `ALTER TABLE ${table} ADD COLUMN ${ifNotExists}row_id BIGINT NOT NULL AUTO_INCREMENT, ADD UNIQUE KEY ${ifNotExists}${q(derivedName(base, "row_idx"))} (row_id)`,
        `DROP TRIGGER IF EXISTS ${trigger("no_update")}`,
        `CREATE TRIGGER ${trigger("no_update")} BEFORE UPDATE ON ${table} FOR EACH ROW
BEGIN
  IF NOT (${unchanged} AND NEW.row_id <=> OLD.row_id) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: audit rows are append-only and cannot be updated';
  END IF;
END`,
        `CREATE TABLE IF NOT EXISTS ${records} (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  type VARCHAR(16) NOT NULL,
  chain VARCHAR(200) ${bin} NOT NULL,
  seq BIGINT NOT NULL,
  record LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
        `DROP TRIGGER IF EXISTS ${trigger("checkpoints_no_update")}`,
        `CREATE TRIGGER ${trigger("checkpoints_no_update")} BEFORE UPDATE ON ${records} FOR EACH ROW
${rejectAll("update")}`,
        `DROP TRIGGER IF EXISTS ${trigger("checkpoints_no_delete")}`,
        `CREATE TRIGGER ${trigger("checkpoints_no_delete")} BEFORE DELETE ON ${records} FOR EACH ROW
${rejectAll("delete")}`,
      ],
    },
    {
      version: 3,
      description: "tenant column and index",
      statements: [
        `ALTER TABLE ${table} ADD COLUMN ${ifNotExists}tenant ${ci}, ADD KEY ${ifNotExists}${q(derivedName(base, "tenant_ts_idx"))} (tenant, ts, id)`,
        `DROP TRIGGER IF EXISTS ${trigger("no_update")}`,
        `CREATE TRIGGER ${trigger("no_update")} BEFORE UPDATE ON ${table} FOR EACH ROW
BEGIN
  IF NOT (${unchangedOf(BASE_COLUMNS)} AND NEW.row_id <=> OLD.row_id) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: audit rows are append-only and cannot be updated';
  END IF;
END`,
      ],
    },
    {
      version: 4,
      description:
        "erasure by rewriting: a row may be updated in place, keeping its ids, inside the erasure path",
      statements: [
        `DROP TRIGGER IF EXISTS ${trigger("no_update")}`,
        `CREATE TRIGGER ${trigger("no_update")} BEFORE UPDATE ON ${table} FOR EACH ROW
BEGIN
  IF NOT (NEW.id <=> OLD.id AND NEW.row_id <=> OLD.row_id)
     OR (COALESCE(@vigil_allow_erase, 0) <> 1 AND NOT (${unchangedOf(BASE_COLUMNS)})) THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'vigil: audit rows are append-only and cannot be updated';
  END IF;
END`,
      ],
    },
    {
      version: 5,
      // MySQL 8 has no anonymous compound statements to make the conversion restartable: text stays.
      description: mariadb ? "native type: ts DATETIME(3)" : "native type: ts DATETIME(3) (MariaDB only)",
      statements: mariadb ? nativeTsStatements(table, base, schemaName) : [],
    },
    {
      version: 6,
      description: "result.status index",
      statements: [
        `ALTER TABLE ${table} ADD KEY ${ifNotExists}${q(derivedName(base, "status_ts_idx"))} (status, ts, id)`,
      ],
    },
  ];
}

/** Connects a `mysql2` pool from `connection` (fields or `url`) and builds the dialect for `tableName`. */
export async function connectMysql(
  connection: DatabaseConnectionConfig,
  tableName: string,
  options: SqlBackendOptions,
): Promise<Connected> {
  const names = parseTableName(tableName);
  const mysql = await loadDriver<MysqlModule>("mysql2/promise", "mysql2", "mysql");
  const config: Record<string, unknown> = {
    connectionLimit: options.poolSize ?? 4,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    charset: "utf8mb4",
    enableKeepAlive: true,
    supportBigNumbers: true,
    dateStrings: true,
    waitForConnections: true,
  };
  if (connection.url !== undefined) config.uri = connection.url.replace(/^mariadb:/, "mysql:");
  if (connection.host !== undefined) config.host = connection.host;
  if (connection.port !== undefined) config.port = connection.port;
  if (connection.database !== undefined) config.database = connection.database;
  if (connection.username !== undefined) config.user = connection.username;
  if (connection.password !== undefined) config.password = connection.password;
  const pool = mysql.createPool(config);
  const client = new MysqlClient(pool);
  let version: string;
  try {
    const rows = await client.all({ text: "SELECT VERSION() AS v", values: [] });
    version = String(rows[0]?.v ?? "");
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  const mariadb = /mariadb/i.test(version);
  // MariaDB's JSON is verbatim text; MySQL's binary JSON is not, so it needs `line`.
  const keepLine = !mariadb;
  const binary = mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";

  const schema = names.schema === undefined ? "" : `${q(names.schema)}.`;
  const table = `${schema}${q(names.table)}`;
  const columns = [...BASE_COLUMNS, "event", "line"];
  const tuple = `(${columns.map(() => "?").join(", ")})`;
  const insertTexts = new Map<number, string>();
  const eventText = keepLine ? "line" : "COALESCE(line, event)";

  /** The record's column values, `ts` in the form `DATETIME(3)` takes on MariaDB. */
  const row = (r: StoredRecord): BaseRow => {
    const values = baseRow(r);
    if (!mariadb) return values;
    checkNative(r);
    values[1] = nativeTs(values[1]);
    return values;
  };

  const dialect: Dialect = {
    name: "mysql",
    placeholders: "question",
    table,
    eventText,
    tsText: mariadb ? TS_TEXT : "ts",
    idText: "id",
    keyset: mariadb ? nativeKeyset : textKeyset,
    rowId: "row_id",
    records: `${schema}${q(derivedName(names.table, "checkpoints"))}`,
    leaves: new MysqlLeaves(eventText, mariadb),
    maxRowsPerInsert: 1000,
    migration: {
      probe: `SELECT 1 FROM ${table} WHERE 1 = 0`,
      migrationsTable: `${schema}${q(derivedName(names.table, "migrations"))}`,
      createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${schema}${q(derivedName(names.table, "migrations"))} (
  version INT PRIMARY KEY, description VARCHAR(255) NOT NULL, applied_at VARCHAR(64) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      migrations: migrations(table, names.table, schema, names.schema, binary, mariadb),
      placeholders: "question",
      lockName: `vigil:${tableName}`.slice(0, 64),
    },
    insert(records: readonly StoredRecord[]): Rendered {
      let text = insertTexts.get(records.length);
      if (text === undefined) {
        text = `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${new Array(records.length).fill(tuple).join(", ")} ON DUPLICATE KEY UPDATE id = id`;
        if (insertTexts.size < 64) insertTexts.set(records.length, text);
      }
      const values: (string | number | null)[] = [];
      for (const r of records) {
        const json = NOT_JSON.test(r.line) ? null : r.line;
        values.push(...row(r), json, keepLine || json === null ? r.line : null);
      }
      return { text, values };
    },
    deleteOlder(cutoff: string, limit: number, maxRow?: number): Rendered {
      const upTo = maxRow === undefined ? sql`` : sql` AND row_id <= ${maxRow}`;
      const t = tsOperand(cutoff, mariadb);
      return render(
        sql`DELETE FROM ${raw(table)} WHERE ${raw(t.column)} < ${t.value}${upTo} ORDER BY ts LIMIT ${raw(String(Math.trunc(limit)))}`,
        "question",
      );
    },
    deletion: {
      prelude: [{ text: "SET @vigil_allow_delete = 1", values: [] }],
      epilogue: [{ text: "SET @vigil_allow_delete = NULL", values: [] }],
      finally: [{ text: "SET @vigil_allow_delete = NULL", values: [] }],
    },
    rewrite(rowId: number, record: StoredRecord): Rendered {
      const cols = BASE_COLUMNS.slice(1);
      const values = row(record).slice(1);
      const json = NOT_JSON.test(record.line) ? null : record.line;
      return {
        text: `UPDATE ${table} SET ${cols.map((c) => `${c} = ?`).join(", ")}, event = ?, line = ? WHERE row_id = ? AND id = ?`,
        values: [...values, json, keepLine || json === null ? record.line : null, rowId, record.event.id],
      };
    },
    rewriting: {
      prelude: [{ text: "SET @vigil_allow_erase = 1", values: [] }],
      epilogue: [{ text: "SET @vigil_allow_erase = NULL", values: [] }],
      finally: [{ text: "SET @vigil_allow_erase = NULL", values: [] }],
    },
    async durabilityWarnings(c: SqlClient): Promise<readonly string[]> {
      const rows = await c.all({ text: "SELECT @@innodb_flush_log_at_trx_commit AS f", values: [] });
      const value = Number(rows[0]?.f);
      return value === 1
        ? []
        : [
            `mysql: innodb_flush_log_at_trx_commit is ${value} (not 1): a committed batch can be lost if the server or machine crashes`,
          ];
    },
  };
  return { client, dialect, warnings: [] };
}
