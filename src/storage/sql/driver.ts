/**
 * What the SQL backend needs from a database driver, whatever the dialect: run a
 * statement, run a transaction, close. Each dialect file adapts its driver (`pg`,
 * `mysql2`, `better-sqlite3`) to {@link SqlClient}. Drivers are optional peer
 * dependencies, loaded with {@link loadDriver} only when their dialect is used, so
 * importing vigil never loads one.
 *
 * @module
 */
import { createRequire } from "node:module";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { Rendered } from "./sql.js";

/** A result row, keyed by column name. */
export type Row = Readonly<Record<string, unknown>>;

/** Statements on one connection (inside a transaction, or any pooled connection). */
export interface SqlSession {
  /** Runs a statement that returns rows. */
  all(statement: Rendered): Promise<readonly Row[]>;
  /** Runs a statement that changes rows; resolves with how many it changed. */
  run(statement: Rendered): Promise<number>;
}

/** Statements around a transaction; see {@link SqlClient.transaction}. */
export interface TransactionOptions {
  readonly prelude?: readonly Rendered[];
  readonly epilogue?: readonly Rendered[];
  readonly finally?: readonly Rendered[];
}

/** A connection pool (or, for SQLite, the one connection). */
export interface SqlClient extends SqlSession {
  /** Runs parameterless statements (DDL) one after another. */
  exec(statements: readonly string[]): Promise<void>;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves,
   * rolled back when it throws. `prelude` statements run first inside it (session
   * settings such as `SET LOCAL`), `epilogue` statements last before `COMMIT`, and
   * `finally` statements after it on the same connection whatever happened (to reset
   * session variables before the connection returns to the pool).
   */
  transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs `fn` while holding a lock named `name` across processes (schema migrations). */
  withLock<T>(name: string, fn: (session: SqlClient) => Promise<T>): Promise<T>;
  /** The synchronous API, where the driver has one (better-sqlite3). */
  readonly sync?: SyncSqlClient;
  /** Releases every connection. */
  close(): Promise<void>;
}

/** The synchronous slice, for `writeSync` (SQLite only): at process exit, under `durability: event`, and when blocking. */
export interface SyncSqlClient {
  transaction<T>(fn: (session: SyncSqlSession) => T): T;
}

/** Synchronous statements on the SQLite connection. */
export interface SyncSqlSession {
  all(statement: Rendered): readonly Row[];
  run(statement: Rendered): number;
  /** Runs parameterless statements (DDL). */
  exec(text: string): void;
}

/** Runs one parameterless statement (DDL) on a pool or connection. */
type ExecOne = (text: string) => Promise<unknown>;

/**
 * A client bound to one checked-out connection, handed to `withLock` callers (schema
 * migrations): statements only — no nested transaction, no nested lock, nothing to close.
 */
export function connectionClient(session: SqlSession, exec: ExecOne): SqlClient {
  return {
    ...session,
    exec: async (statements) => {
      for (const text of statements) await exec(text);
    },
    transaction: () => Promise.reject(new Error("nested transaction")),
    withLock: () => Promise.reject(new Error("nested lock")),
    close: async () => {},
  };
}

/**
 * The part every pooled client shares: statements go through the pool's session and
 * DDL one statement at a time. A dialect adds how it runs a transaction, takes a lock
 * and closes the pool.
 */
export abstract class PooledClient implements SqlClient {
  readonly #session: SqlSession;
  readonly #exec: ExecOne;

  constructor(session: SqlSession, exec: ExecOne) {
    this.#session = session;
    this.#exec = exec;
  }

  all(statement: Rendered): Promise<readonly Row[]> {
    return this.#session.all(statement);
  }

  run(statement: Rendered): Promise<number> {
    return this.#session.run(statement);
  }

  async exec(statements: readonly string[]): Promise<void> {
    for (const text of statements) await this.#exec(text);
  }

  abstract transaction<T>(fn: (session: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  abstract withLock<T>(name: string, fn: (session: SqlClient) => Promise<T>): Promise<T>;
  abstract close(): Promise<void>;
}

function isModuleNotFound(error: unknown, packageName: string): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return false;
  return (
    typeof message !== "string" || message.includes(`'${packageName}`) || message.includes(`"${packageName}`)
  );
}

/**
 * Imports an optional driver. A missing package becomes a
 * `VigilError` with code `VIGIL_ERR_MISSING_DEPENDENCY` naming the package to install;
 * any other failure (a broken install) is rethrown as it is.
 *
 * @param specifier - what to import, e.g. `mysql2/promise`.
 * @param packageName - the npm package to name in the message, e.g. `mysql2`.
 * @param dialect - the dialect that needs it, for the message.
 * @example
 * const pg = await loadDriver<PgModule>("pg", "pg", "postgresql");
 */
export async function loadDriver<T>(specifier: string, packageName: string, dialect: string): Promise<T> {
  let module: unknown;
  try {
    // A variable specifier keeps bundlers from inlining the optional driver.
    const target = specifier;
    module = await import(target);
  } catch (error) {
    throw driverError(error, packageName, dialect);
  }
  const withDefault = module as { default?: unknown };
  return (withDefault.default ?? module) as T;
}

/**
 * {@link loadDriver} for a CommonJS driver needed synchronously (better-sqlite3, when a
 * write must happen before the asynchronous open has finished), resolved from vigil's
 * own location as `import` would.
 */
export function loadDriverSync<T>(specifier: string, packageName: string, dialect: string): T {
  let module: unknown;
  try {
    const here = typeof __filename === "string" ? __filename : import.meta.url;
    module = createRequire(here)(specifier);
  } catch (error) {
    throw driverError(error, packageName, dialect);
  }
  const withDefault = module as { default?: unknown };
  return (withDefault.default ?? module) as T;
}

function driverError(error: unknown, packageName: string, dialect: string): unknown {
  if (!isModuleNotFound(error, packageName)) return error;
  return new VigilError(
    ErrorCodes.MISSING_DEPENDENCY,
    `the ${dialect} backend needs the '${packageName}' package: npm install ${packageName}`,
    { cause: error },
  );
}

const TRANSIENT_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "ESOCKETTIMEDOUT",
]);

/**
 * Whether an error is about the data (the same statement would fail again) rather
 * than the connection or the server's state. Only errors recognised as data errors are
 * permanent; anything else is treated as transient and retried, because wrongly
 * dropping a batch loses events while wrongly retrying one only delays it.
 */
export function isPermanentError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; sqlState?: unknown; errno?: unknown; fatal?: unknown };
  if (typeof e.code === "string" && TRANSIENT_NODE_CODES.has(e.code)) return false;
  if (e.fatal === true) return false;
  // An event the dialect cannot store (e.g. an id that is not a UUID on PostgreSQL).
  if (e.code === ErrorCodes.INVALID_ARGUMENT) return true;
  // PostgreSQL SQLSTATE in `code`, MySQL SQLSTATE in `sqlState`.
  const state = typeof e.sqlState === "string" ? e.sqlState : typeof e.code === "string" ? e.code : "";
  if (/^[0-9A-Z]{5}$/.test(state)) {
    // 22 data exception, 23 integrity violation, 42 syntax or access rule, 2F/P0 routine errors, 45000 signal.
    return /^(22|23|42|2F|P0|45)/.test(state);
  }
  if (typeof e.code === "string" && e.code.startsWith("SQLITE_")) {
    return /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE|ERROR)/.test(e.code);
  }
  return false;
}
