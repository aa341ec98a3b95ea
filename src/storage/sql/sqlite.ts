/**
 * SQLite, embedded, through `better-sqlite3` (an optional peer dependency). The event
 * is kept as TEXT (its JSON line verbatim) and read with the JSON1 functions. The
 * indexed text columns use `COLLATE NOCASE`, which folds exactly `A`–`Z` like the
 * query language, so equality on them is exact and indexed. The file is opened in WAL
 * mode with `synchronous = FULL` (`NORMAL` when the engine's durability is `none`).
 *
 * Append-only guard: `BEFORE UPDATE` and `BEFORE DELETE` triggers abort unless the
 * deletion path has put a row in `<table>_guard` inside its own transaction.
 *
 * @module
 */
import { closeSync, openSync } from "node:fs";
import { dirname } from "node:path";
import type { DatabaseConnectionConfig } from "../../config/types.js";
import type { StoredRecord } from "../backend.js";
import { makeDirectorySync } from "../dirs.js";
import {
  type EqualityTarget,
  exact,
  type LeafCompiler,
  type NumericBound,
  type Pred,
  type TextColumn,
  widen,
} from "./compile.js";
import { type Connected, type Dialect, type SqlBackendOptions, textKeyset } from "./dialect.js";
import {
  loadDriver,
  loadDriverSync,
  type Row,
  type SqlClient,
  type SqlSession,
  type SyncSqlSession,
  type TransactionOptions,
} from "./driver.js";
import {
  BASE_COLUMNS,
  baseRow,
  derivedName,
  type Migration,
  parseTableName,
  rewriteColumns,
} from "./schema.js";
import { join, type Rendered, raw, render, type Sql, sql } from "./sql.js";

/** The slice of a better-sqlite3 statement that vigil uses. */
interface SqliteStatement {
  readonly reader: boolean;
  all(...params: readonly unknown[]): unknown[];
  run(...params: readonly unknown[]): { readonly changes: number };
}

/** The slice of a better-sqlite3 database that vigil uses. */
interface SqliteDatabase {
  readonly inTransaction: boolean;
  prepare(source: string): SqliteStatement;
  exec(source: string): unknown;
  pragma(source: string, options?: { readonly simple?: boolean }): unknown;
  close(): unknown;
}

type SqliteConstructor = new (filename: string, options?: { readonly timeout?: number }) => SqliteDatabase;

const STATEMENT_CACHE = 256;

/** The client over one better-sqlite3 connection; statements are prepared once and cached. */
class SqliteClient implements SqlClient {
  readonly #db: SqliteDatabase;
  readonly #cache = new Map<string, SqliteStatement>();
  /** Serializes transactions: one connection holds one at a time. */
  #tail: Promise<unknown> = Promise.resolve();
  readonly sync: {
    transaction<T>(fn: (session: SyncSqlSession) => T): T;
  };

  constructor(db: SqliteDatabase) {
    this.#db = db;
    const session: SyncSqlSession = {
      all: (s) => this.#all(s),
      run: (s) => this.#run(s),
      exec: (text) => void this.#db.exec(text),
    };
    this.sync = {
      transaction: <T>(fn: (session: SyncSqlSession) => T): T => {
        this.#db.exec("BEGIN IMMEDIATE");
        try {
          const result = fn(session);
          this.#db.exec("COMMIT");
          return result;
        } catch (error) {
          if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
          throw error;
        }
      },
    };
  }

  #prepare(text: string): SqliteStatement {
    let statement = this.#cache.get(text);
    if (statement === undefined) {
      statement = this.#db.prepare(text);
      if (this.#cache.size >= STATEMENT_CACHE) {
        const oldest = this.#cache.keys().next().value as string;
        this.#cache.delete(oldest);
      }
      this.#cache.set(text, statement);
    }
    return statement;
  }

  #all(statement: Rendered): readonly Row[] {
    return this.#prepare(statement.text).all(...statement.values) as Row[];
  }

  #run(statement: Rendered): number {
    return this.#prepare(statement.text).run(...statement.values).changes;
  }

  async all(statement: Rendered): Promise<readonly Row[]> {
    return this.#all(statement);
  }

  async run(statement: Rendered): Promise<number> {
    return this.#run(statement);
  }

  async exec(statements: readonly string[]): Promise<void> {
    for (const s of statements) this.#db.exec(s);
  }

  transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T> {
    const run = async (): Promise<T> => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        for (const s of options?.prelude ?? []) this.#run(s);
        const result = await fn(this);
        for (const s of options?.epilogue ?? []) this.#run(s);
        this.#db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.#db.inTransaction) this.#db.exec("ROLLBACK");
        throw error;
      } finally {
        for (const s of options?.finally ?? []) this.#run(s);
      }
    };
    const next = this.#tail.then(run, run);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  withLock<T>(_name: string, fn: (client: SqlClient) => Promise<T>): Promise<T> {
    // BEGIN IMMEDIATE takes SQLite's write lock: other processes wait (busy timeout).
    return this.transaction(() => fn(this));
  }

  async close(): Promise<void> {
    this.#cache.clear();
    this.#db.close();
  }
}

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Tests on one `json_each` row `j` for an equality term. */
function equalityTests(target: EqualityTarget): { sup: Sql[]; sub: Sql[] } {
  const sup: Sql[] = [];
  const sub: Sql[] = [];
  if (target.lowered !== undefined) {
    const s = sql`(j.type = 'text' AND lower(j.value) = ${target.lowered})`;
    sup.push(s);
    sub.push(s);
  } else {
    sup.push(raw("j.type = 'text'"));
  }
  if (target.number !== undefined) {
    const n = { value: target.number, inclusive: true };
    sup.push(
      sql`(j.type IN ('integer', 'real') AND j.value BETWEEN ${widen(n, "down")} AND ${widen(n, "up")})`,
    );
    sub.push(sql`(j.type IN ('integer', 'real') AND j.value = ${target.number})`);
  }
  if (target.bool !== undefined) {
    const s = raw(target.bool ? "j.type = 'true'" : "j.type = 'false'");
    sup.push(s);
    sub.push(s);
  }
  return { sup, sub };
}

/** SQLite's leaf SQL. `$` paths are bound parameters; `j` walks the value or, for an array, its elements. */
export class SqliteLeaves implements LeafCompiler {
  #path(path: readonly string[]): string {
    return `$${path.map((s) => `."${s}"`).join("")}`;
  }

  /** `EXISTS` over the value at `path`, or over its elements when it is an array (objects never match). */
  #each(path: readonly string[], tests: readonly Sql[]): Sql | false {
    if (tests.length === 0) return false;
    return sql`EXISTS (SELECT 1 FROM json_each(event, ${this.#path(path)}) AS j WHERE typeof(j.key) <> 'text' AND (${join(tests, " OR ")}))`;
  }

  equals(path: readonly string[], target: EqualityTarget): Pred {
    const tests = equalityTests(target);
    const sup = this.#each(path, tests.sup);
    if (tests.sup.length === tests.sub.length && tests.sup.every((t, i) => t === tests.sub[i]))
      return exact(sup);
    return { sup, sub: this.#each(path, tests.sub) };
  }

  like(path: readonly string[], pattern: string): Pred {
    // SQLite's LIKE folds A-Z only (as the query language does) but stops at a NUL.
    return {
      sup: this.#each(path, [
        sql`(j.type = 'text' AND (j.value LIKE ${pattern} ESCAPE '!' OR instr(j.value, char(0)) > 0))`,
        raw("j.type IN ('integer', 'real')"),
      ]),
      sub: this.#each(path, [
        sql`(j.type = 'text' AND j.value LIKE ${pattern} ESCAPE '!' AND instr(j.value, char(0)) = 0)`,
      ]),
    };
  }

  exists(path: readonly string[]): Pred {
    return exact(sql`(IFNULL(json_type(event, ${this.#path(path)}), 'null') <> 'null')`);
  }

  comparable(path: readonly string[], low: NumericBound | undefined, high: NumericBound | undefined): Pred {
    const numeric: Sql[] = [raw("j.type IN ('integer', 'real')")];
    if (low !== undefined) numeric.push(sql`j.value >= ${widen(low, "down")}`);
    if (high !== undefined) numeric.push(sql`j.value <= ${widen(high, "up")}`);
    return { sup: this.#each(path, [raw("j.type = 'text'"), sql`(${join(numeric, " AND ")})`]), sub: false };
  }

  contains(needles: readonly string[]): Sql {
    return sql`(${join(
      needles.map((n) => sql`instr(lower(event), ${n}) > 0`),
      " AND ",
    )})`;
  }

  columnEquals(column: TextColumn, lowered: string): Pred {
    // The column is COLLATE NOCASE: exact ASCII folding, and the index applies.
    return exact(sql([`${column} = `, ""], lowered));
  }

  groupKey(column: TextColumn): string {
    return `${column} COLLATE BINARY`;
  }

  columnIs(column: TextColumn, text: string): Sql {
    // the NOCASE comparison finds the rows through the index, the BINARY one is exact
    return sql([`(${column} = `, ` AND ${column} = `, " COLLATE BINARY)"], text, text);
  }

  timestampCompare(op: ">" | ">=" | "<" | "<=", value: string): Sql {
    return sql([`ts ${op} `, ""], value);
  }

  timestampEquals(lowered: string): Sql {
    return sql`lower(ts) = ${lowered}`;
  }

  not(cond: Sql): Sql {
    return sql`(NOT COALESCE(${cond}, FALSE))`;
  }
}

function migrations(
  table: string,
  names: {
    readonly t: string;
    readonly guard: string;
    readonly raw: string;
    /** The signed-records table, qualified and bare (trigger bodies take it bare). */
    readonly records: string;
    readonly recordsBare: string;
  },
): Migration[] {
  const ci = "TEXT COLLATE NOCASE";
  const idx = (suffix: string, columns: string) =>
    `CREATE INDEX IF NOT EXISTS ${q(derivedName(names.raw, suffix))} ON ${names.t} (${columns})`;
  return [
    {
      version: 1,
      description: "audit table, indexes, append-only guard",
      statements: [
        `CREATE TABLE IF NOT EXISTS ${table} (
  id TEXT NOT NULL PRIMARY KEY,
  ts TEXT NOT NULL,
  severity ${ci},
  category ${ci},
  type ${ci},
  actor_username ${ci},
  actor_id ${ci},
  status ${ci},
  resource_path ${ci},
  security_event INTEGER NOT NULL,
  integrity_chain TEXT,
  integrity_seq INTEGER,
  integrity_hash TEXT,
  event TEXT NOT NULL CHECK (json_valid(event))
)`,
        idx("ts_idx", "ts, id"),
        idx("category_ts_idx", "category, ts, id"),
        idx("type_ts_idx", "type, ts, id"),
        idx("actor_ts_idx", "actor_username, ts, id"),
        `CREATE TABLE IF NOT EXISTS ${names.guard} (allow_delete INTEGER NOT NULL)`,
        `CREATE TRIGGER IF NOT EXISTS ${q(derivedName(names.raw, "no_update"))} BEFORE UPDATE ON ${names.t}
BEGIN SELECT RAISE(ABORT, 'vigil: audit rows are append-only and cannot be updated'); END`,
        `CREATE TRIGGER IF NOT EXISTS ${q(derivedName(names.raw, "no_delete"))} BEFORE DELETE ON ${names.t}
WHEN NOT EXISTS (SELECT 1 FROM ${q(derivedName(names.raw, "guard"))})
BEGIN SELECT RAISE(ABORT, 'vigil: audit rows are append-only; delete them through vigil retention'); END`,
      ],
    },
    {
      version: 2,
      description: "signed records table (checkpoints, retention records) for verification",
      statements: [
        `CREATE TABLE IF NOT EXISTS ${names.records} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  chain TEXT NOT NULL,
  seq INTEGER NOT NULL,
  record TEXT NOT NULL
)`,
        `CREATE TRIGGER IF NOT EXISTS ${q(derivedName(names.raw, "checkpoints_no_update"))} BEFORE UPDATE ON ${names.recordsBare}
BEGIN SELECT RAISE(ABORT, 'vigil: signed records are append-only'); END`,
        `CREATE TRIGGER IF NOT EXISTS ${q(derivedName(names.raw, "checkpoints_no_delete"))} BEFORE DELETE ON ${names.recordsBare}
BEGIN SELECT RAISE(ABORT, 'vigil: signed records are append-only'); END`,
      ],
    },
    {
      version: 3,
      description: "tenant column and index",
      statements: [`ALTER TABLE ${table} ADD COLUMN tenant ${ci}`, idx("tenant_ts_idx", "tenant, ts, id")],
    },
    {
      version: 4,
      description:
        "erasure by rewriting: a row may be updated in place, keeping its id, inside the erasure path",
      statements: [
        `DROP TRIGGER IF EXISTS ${q(derivedName(names.raw, "no_update"))}`,
        `CREATE TRIGGER IF NOT EXISTS ${q(derivedName(names.raw, "no_update"))} BEFORE UPDATE ON ${names.t}
WHEN NOT EXISTS (SELECT 1 FROM ${q(derivedName(names.raw, "guard"))} WHERE allow_delete = 2) OR NEW.id IS NOT OLD.id
BEGIN SELECT RAISE(ABORT, 'vigil: audit rows are append-only and cannot be updated'); END`,
      ],
    },
    {
      // the version numbers stay those of every dialect: SQLite has no native time type
      version: 5,
      description: "native types (PostgreSQL and MariaDB only)",
      statements: [],
    },
    {
      version: 6,
      description: "result.status index",
      statements: [idx("status_ts_idx", "status, ts, id")],
    },
  ];
}

/**
 * Opens the SQLite database named by `connection.filename` (its directory is
 * created; `:memory:` works too) and builds the dialect for `tableName`.
 */
export async function connectSqlite(
  connection: DatabaseConnectionConfig,
  tableName: string,
  options: SqlBackendOptions,
): Promise<Connected> {
  const Database = await loadDriver<SqliteConstructor>("better-sqlite3", "better-sqlite3", "sqlite");
  return openSqlite(Database, connection, tableName, options);
}

/**
 * {@link connectSqlite}, synchronously: for a write that must be done before `log()`
 * returns (`durability: event`, a blocking full queue) while the asynchronous open is
 * still under way.
 */
export function connectSqliteSync(
  connection: DatabaseConnectionConfig,
  tableName: string,
  options: SqlBackendOptions,
): Connected {
  const Database = loadDriverSync<SqliteConstructor>("better-sqlite3", "better-sqlite3", "sqlite");
  return openSqlite(Database, connection, tableName, options);
}

function openSqlite(
  Database: SqliteConstructor,
  connection: DatabaseConnectionConfig,
  tableName: string,
  options: SqlBackendOptions,
): Connected {
  const names = parseTableName(tableName);
  const filename = connection.filename ?? "./logs/audit.db";
  const memory = filename === ":memory:" || filename === "";
  if (!memory && !filename.startsWith("file:")) {
    makeDirectorySync(dirname(filename), { mode: 0o750 });
    // created by us with a restrictive mode (SQLite would make it 0644 under the usual umask);
    // its -wal and -shm files take the database file's mode
    closeSync(openSync(filename, "a", 0o640));
  }
  const db = new Database(filename, { timeout: options.connectTimeoutMs ?? 5000 });
  const warnings: string[] = [];
  try {
    if (!memory) db.pragma("journal_mode = WAL");
    db.pragma(`synchronous = ${options.durability === "none" ? "NORMAL" : "FULL"}`);
  } catch (error) {
    db.close();
    throw error;
  }
  if (memory)
    warnings.push("sqlite: the database is in memory (:memory:); events are lost when the process exits");
  const client = new SqliteClient(db);

  const schema = names.schema === undefined ? "" : `${q(names.schema)}.`;
  const table = `${schema}${q(names.table)}`;
  const guardName = derivedName(names.table, "guard");
  const guard = `${schema}${q(guardName)}`;
  const records = `${schema}${q(derivedName(names.table, "checkpoints"))}`;
  const insertTexts = new Map<number, string>();
  const columns = [...BASE_COLUMNS, "event"];
  const tuple = `(${columns.map(() => "?").join(", ")})`;

  const dialect: Dialect = {
    name: "sqlite",
    placeholders: "question",
    table,
    eventText: "event",
    tsText: "ts",
    idText: "id",
    keyset: textKeyset,
    // The implicit rowid: ascending in insertion order (VACUUM may renumber, keeping the order).
    rowId: "rowid",
    records,
    leaves: new SqliteLeaves(),
    // one prepared single-row statement, run row after row inside the batch's transaction:
    // as fast as multi-row statements here, without preparing one per batch size
    maxRowsPerInsert: 1,
    migration: {
      probe: `SELECT 1 FROM ${table} WHERE 1 = 0`,
      migrationsTable: `${schema}${q(derivedName(names.table, "migrations"))}`,
      createMigrationsTable: `CREATE TABLE IF NOT EXISTS ${schema}${q(derivedName(names.table, "migrations"))} (
  version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)`,
      migrations: migrations(table, {
        t: q(names.table),
        guard,
        raw: names.table,
        records,
        recordsBare: q(derivedName(names.table, "checkpoints")),
      }).map((m) => ({
        ...m,
        // Index names take the schema prefix in SQLite; the table they index does not.
        statements: m.statements.map((s) =>
          schema === ""
            ? s
            : s
                .replace(/^CREATE (INDEX|TRIGGER) IF NOT EXISTS "/, `CREATE $1 IF NOT EXISTS ${schema}"`)
                .replace(/^DROP TRIGGER IF EXISTS "/, `DROP TRIGGER IF EXISTS ${schema}"`),
        ),
      })),
      placeholders: "question",
      lockName: `vigil:${tableName}`,
    },
    insert(records: readonly StoredRecord[]): Rendered {
      let text = insertTexts.get(records.length);
      if (text === undefined) {
        text = `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${new Array(records.length).fill(tuple).join(", ")} ON CONFLICT (id) DO NOTHING`;
        if (insertTexts.size < 64) insertTexts.set(records.length, text);
      }
      const values: (string | number | null)[] = [];
      for (const r of records) values.push(...baseRow(r), r.line);
      return { text, values };
    },
    deleteOlder(cutoff: string, limit: number, maxRow?: number): Rendered {
      const upTo = maxRow === undefined ? sql`` : sql` AND rowid <= ${maxRow}`;
      return render(
        sql`DELETE FROM ${raw(table)} WHERE rowid IN (SELECT rowid FROM ${raw(table)} WHERE ts < ${cutoff}${upTo} ORDER BY ts LIMIT ${raw(String(Math.trunc(limit)))})`,
        "question",
      );
    },
    deletion: {
      prelude: [{ text: `INSERT INTO ${guard} (allow_delete) VALUES (1)`, values: [] }],
      epilogue: [{ text: `DELETE FROM ${guard}`, values: [] }],
      finally: [],
    },
    rewrite(rowId: number, record: StoredRecord): Rendered {
      const { names: cols, values } = rewriteColumns(record);
      return {
        text: `UPDATE ${table} SET ${cols.map((c) => `${c} = ?`).join(", ")}, event = ? WHERE rowid = ? AND id = ?`,
        values: [...values, record.line, rowId, record.event.id],
      };
    },
    rewriting: {
      prelude: [{ text: `INSERT INTO ${guard} (allow_delete) VALUES (2)`, values: [] }],
      epilogue: [{ text: `DELETE FROM ${guard}`, values: [] }],
      finally: [],
    },
    async durabilityWarnings(): Promise<readonly string[]> {
      const level = Number(db.pragma("synchronous", { simple: true }));
      if (options.durability !== "none" && !memory && level < 2) {
        return [
          `sqlite: PRAGMA synchronous is ${level} (below FULL = 2): a committed batch can be lost on power failure`,
        ];
      }
      return [];
    },
  };
  return { client, dialect, warnings };
}
