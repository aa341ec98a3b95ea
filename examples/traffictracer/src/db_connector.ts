/**
 * TrafficTracer's database connector (`core/db_connector.py` in the seed, hook point 1
 * and Step 5) over `better-sqlite3`. Every `executeQuery` call records one
 * `DATABASE` / `QUERY` event with the SQL and its parameters (sanitized by the
 * pipeline), the number of rows, the duration, and the error when it fails.
 *
 * @example
 * const connector = new DatabaseConnector(new Database(":memory:"));
 * connector.executeQuery("SELECT 1"); // [{ "1": 1 }], and one audit event
 *
 * @module
 */
import type { Database } from "better-sqlite3";
import { auditLog } from "vigil-audit";

/** One row, as better-sqlite3 returns it. */
export type Row = Record<string, unknown>;

/** What a statement that returns no rows reports (`INSERT`, `UPDATE`, `CREATE` ...). */
export interface WriteResult {
  /** Rows inserted, updated or deleted; recorded as the event's `result.count`. */
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

/** Rows for a statement that returns rows, a {@link WriteResult} otherwise. */
export type QueryResult = Row[] | WriteResult;

/** A bound parameter: positional values, or one object of named values (`@name`, `:name`). */
export type QueryParams = readonly unknown[] | Readonly<Record<string, unknown>>;

/**
 * Runs TrafficTracer's SQL on one better-sqlite3 database. Owns the connection:
 * {@link DatabaseConnector.close} closes it.
 */
export class DatabaseConnector {
  readonly #db: Database;

  /** @param db - an open better-sqlite3 database. */
  constructor(db: Database) {
    this.#db = db;
  }

  /** The database file (`:memory:` for an in-memory database). */
  get name(): string {
    return this.#db.name;
  }

  /** Whether the connection is open. */
  get open(): boolean {
    return this.#db.open;
  }

  /**
   * Run one statement: the rows of a `SELECT` (the seed's `cursor.fetchall()`), or what a
   * write changed. Audited: `DATABASE` / `QUERY`, `params.sql` and `params.params`,
   * `result.count` (rows returned or changed). Errors (syntax, constraint) are thrown
   * unchanged and recorded as FAILURE.
   *
   * @example connector.executeQuery("SELECT * FROM segments WHERE road = ?", ["A12"])
   */
  @auditLog({ category: "DATABASE", actionType: "QUERY", captureParams: true, captureResultCount: true })
  executeQuery(sql: string, params: QueryParams = []): QueryResult {
    const statement = this.#db.prepare(sql);
    const bound = Array.isArray(params) ? params : [params];
    if (statement.reader) return statement.all(...bound) as Row[];
    const { changes, lastInsertRowid } = statement.run(...bound);
    return { changes, lastInsertRowid };
  }

  /**
   * Run a script of several statements (schema, fixtures). Audited as one
   * `DATABASE` / `SCRIPT` event; the script text is not recorded (it can be long),
   * only its size.
   */
  @auditLog({
    category: "DATABASE",
    actionType: "SCRIPT",
    metadata: (script) => ({ characters: typeof script === "string" ? script.length : 0 }),
  })
  executeScript(script: string): void {
    this.#db.exec(script);
  }

  /** Close the connection. Idempotent. */
  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
