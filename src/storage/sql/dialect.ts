/**
 * What changes from one SQL dialect to the next, gathered in one interface: the
 * schema, the insert, the deletion path, the durability check and the leaf SQL of the
 * query compiler. `sqlite.ts`, `postgres.ts` and `mysql.ts` each implement it with
 * their driver; `backend.ts` holds everything they share.
 *
 * @module
 */
import type { SqlDialect } from "../../config/types.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import type { LeafCompiler } from "./compile.js";
import type { SqlClient } from "./driver.js";
import type { MigrationTarget } from "./schema.js";
import { type PlaceholderStyle, type Rendered, type Sql, sql } from "./sql.js";

/** Settings that are not part of the configuration file (tests, tuning). */
export interface SqlBackendOptions {
  /**
   * Reads a stored line back into its event (encryption: decrypts the envelope; erasure:
   * opens the sealed personal fields). Default `JSON.parse`.
   */
  readonly decode?: (line: string) => AuditEvent;
  /**
   * The event whose values fill a row's indexed columns, given the event stored (encryption:
   * only the `clear_fields`, so nothing else reaches a column in clear). Default the event.
   */
  readonly columnsFrom?: (event: AuditEvent) => AuditEvent;
  /**
   * Fields stored sealed (erasure) or encrypted: SQL cannot filter on them, so queries that
   * name them — or search all text — are decided on the decoded events instead.
   */
  readonly sealed?: (field: string) => boolean;
  /**
   * The stored lines are not JSON that SQL can read (encryption envelopes): only the
   * indexed columns and `ts` filter rows. Default false.
   */
  readonly opaqueLines?: boolean;
  /**
   * The engine's durability setting: with `none`, SQLite commits with
   * `synchronous = NORMAL` and no durability warning is raised. Default `batch`.
   */
  readonly durability?: "none" | "batch" | "event";
  /** Connections in the pool (PostgreSQL, MySQL). Default 4. */
  readonly poolSize?: number;
  /** How long to wait for a connection, in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** How long one statement may take before the client gives up on it, in ms (PostgreSQL). Default 60000. */
  readonly statementTimeoutMs?: number;
  /**
   * Most events one commit carries: batches handed to `write` while a commit is in flight
   * are committed together in the next one, up to this bound. Default 5000.
   */
  readonly commitRows?: number;
  /** Events kept in memory while the database is unreachable. Default 10000. */
  readonly bufferLimit?: number;
  /** First reconnection delay in ms, doubled after each failure. Default 200. */
  readonly retryInitialMs?: number;
  /** Longest reconnection delay in ms. Default 2000. */
  readonly retryMaxMs?: number;
  /** Rows fetched per page when searching. Default 500. */
  readonly pageSize?: number;
  /** Rows deleted per statement (and transaction) by retention. Default 5000. */
  readonly deleteBatchSize?: number;
  /** Called with each durability or connection warning, as well as being kept in `warnings()`. */
  readonly onWarning?: (message: string) => void;
}

/** The transaction wrapper of the one explicit deletion path (retention, erasure). */
export interface DeletionPath {
  /** Statements run first inside the transaction (e.g. `SET LOCAL vigil.allow_delete = 'on'`). */
  readonly prelude: readonly Rendered[];
  /** Statements run last inside the transaction, before `COMMIT`. */
  readonly epilogue: readonly Rendered[];
  /** Statements run on the connection after the transaction ends, whatever happened. */
  readonly finally: readonly Rendered[];
}

/** A position in `(ts, id)` order: the last row of a page, or a cursor's. */
export interface KeysetPosition {
  readonly timestamp: string;
  readonly id: string;
}

const CANONICAL_TS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Whether `text` is a timestamp as vigil stores it (`Date#toISOString`, years 0001–9999),
 * whose order as text is the order of its instants (and of PostgreSQL's `timestamptz`).
 */
export function isCanonicalTs(text: string): boolean {
  if (!CANONICAL_TS.test(text) || text.startsWith("0000")) return false;
  const ms = Date.parse(text);
  return Number.isFinite(ms) && new Date(ms).toISOString() === text;
}

/**
 * The keyset condition of a dialect whose `ts` and `id` columns are text compared by
 * code units (SQLite, and MySQL with binary collations): `ts ≥ t AND (ts > t OR id > i)`.
 */
export function textKeyset(after: KeysetPosition, desc: boolean): Sql {
  const cmp = desc ? "<" : ">";
  return sql(
    [`ts ${cmp}= `, ` AND (ts ${cmp} `, ` OR id ${cmp} `, ")"],
    after.timestamp,
    after.timestamp,
    after.id,
  );
}

/** One dialect, bound to one table. */
export interface Dialect {
  readonly name: SqlDialect;
  readonly placeholders: PlaceholderStyle;
  /** The quoted, qualified audit table. */
  readonly table: string;
  /** The SQL expression giving an event's JSON text, to read it back. */
  readonly eventText: string;
  /**
   * The SQL expression giving `ts` as the event's canonical ISO text
   * (`2026-03-01T12:00:00.000Z`): the column itself where it is text, a formatting
   * expression where the database stores a native timestamp.
   */
  readonly tsText: string;
  /** The SQL expression giving `id` as text (the column, or a cast from a native UUID). */
  readonly idText: string;
  /**
   * Rows after (ascending) or before (descending) a position in `(ts, id)` order, as an
   * expanded keyset condition that every dialect turns into an index range. The position
   * comes from a cursor, so it may be any text: the condition compares by code units
   * whatever the column types.
   */
  keyset(after: KeysetPosition, desc: boolean): Sql;
  /**
   * The SQL expression of a row's id: an integer ascending in insertion order (SQLite's
   * `rowid`, the `row_id` identity column elsewhere). Verification reads rows in this order
   * and names a row by it.
   */
  readonly rowId: string;
  /**
   * The quoted, qualified table of signed records (`<table>_checkpoints`): checkpoints of a
   * database-only store, and retention records of rows. Append-only.
   */
  readonly records: string;
  /** The leaf SQL of the query compiler. */
  readonly leaves: LeafCompiler;
  /** The schema and its migrations. */
  readonly migration: MigrationTarget;
  /**
   * Most rows one `INSERT` statement carries (bind-parameter limits); 1 where one prepared
   * single-row statement runs row after row (SQLite), unbounded where one statement takes
   * any number (PostgreSQL's `unnest`).
   */
  readonly maxRowsPerInsert: number;
  /** An `INSERT` of up to {@link maxRowsPerInsert} rows that skips rows whose id is already stored. */
  insert(records: readonly StoredRecord[]): Rendered;
  /**
   * Deletes up to `limit` of the oldest rows with `ts < cutoff` (and, when given, a row id
   * of at most `maxRow`); must run inside {@link deletion}.
   */
  deleteOlder(cutoff: string, limit: number, maxRow?: number): Rendered;
  /** How the deletion path lifts the append-only guard. */
  readonly deletion: DeletionPath;
  /**
   * Replaces the stored line and indexed columns of the row `rowId` (whose event id is
   * `record.event.id`) — erasure by rewriting; must run inside {@link rewriting}.
   */
  rewrite(rowId: number, record: StoredRecord): Rendered;
  /** How the erasure path lifts the append-only guard for updates of the same row. */
  readonly rewriting: DeletionPath;
  /** Warnings about server settings that could lose a committed batch. */
  durabilityWarnings(client: SqlClient): Promise<readonly string[]>;
  /** Runs once the schema is migrated, before the first write (PostgreSQL: partitions ahead). */
  prepare?(client: SqlClient): Promise<void>;
  /** Runs before a batch's insert, outside its transaction (PostgreSQL: the partitions it needs). */
  beforeInsert?(client: SqlClient, records: readonly StoredRecord[]): Promise<void>;
  /**
   * Deletes whole units of rows older than `cutoff` at once (PostgreSQL: drops partitions),
   * none with a row id above `maxRow`; returns how many rows went. Retention deletes the
   * rest row by row.
   */
  dropBefore?(client: SqlClient, cutoff: Date, maxRow?: number): Promise<number>;
}

/** A live connection and its dialect. */
export interface Connected {
  readonly client: SqlClient;
  readonly dialect: Dialect;
  /** Warnings found while connecting (e.g. an in-memory SQLite database). */
  readonly warnings: readonly string[];
}

/** `A`–`Z` and `a`–`z`, for `translate()`-style ASCII folding. */
export const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
export const LOWER = "abcdefghijklmnopqrstuvwxyz";
