/**
 * `vigil-audit/kysely` (SPEC §1): audit every statement Kysely runs, like the driver
 * wrappers do. `auditKysely(dialect)` returns a dialect that wraps the dialect's driver
 * and its connections: every `executeQuery` and `streamQuery` records one `DATABASE` /
 * `QUERY_EXECUTION` event with the SQL text (`params.sql`), the bound values
 * (`params.values`, sanitized), `action.method`, the row count (`numAffectedRows` for
 * writes, rows returned otherwise), the duration, and on failure the error (with the
 * driver's code, e.g. PostgreSQL's SQLSTATE `23505`). Transactions' `BEGIN`, `COMMIT`,
 * `ROLLBACK` and savepoints are statements too.
 *
 * Why the dialect and not Kysely's other hooks: a plugin (`transformQuery` /
 * `transformResult`) sees neither the time a statement took nor its failure, and the
 * `log` option sees no row count and is the application's own setting. The driver's
 * connection sees all of it, in the caller's async context.
 *
 * `kysely` itself is never imported: only the slice of its interfaces declared here is used.
 *
 * @example
 * import { Kysely, PostgresDialect } from "kysely";
 * import { auditKysely } from "vigil-audit/kysely";
 *
 * const db = new Kysely<DB>({ dialect: auditKysely(new PostgresDialect({ pool }), { database: "shop" }) });
 * await db.selectFrom("orders").selectAll().execute(); // audited
 *
 * @module
 */
import {
  beginQuery,
  createDbContext,
  type DbAuditContext,
  type DbAuditOptions,
  finishQuery,
  notADriver,
  safeCount,
  withOrm,
} from "../db-common.js";

export type { DbAuditOptions } from "../db-common.js";

/** The slice of Kysely's `CompiledQuery` read here. */
export interface KyselyCompiledQueryLike {
  readonly sql: string;
  readonly parameters: readonly unknown[];
}

/** The slice of Kysely's `QueryResult` read here. */
interface QueryResultLike {
  readonly numAffectedRows?: bigint | number;
  readonly numUpdatedOrDeletedRows?: bigint | number;
  readonly rows?: readonly unknown[];
}

/** The slice of Kysely's `DatabaseConnection` used here. */
interface ConnectionLike {
  executeQuery(query: KyselyCompiledQueryLike): Promise<QueryResultLike>;
  streamQuery?(query: KyselyCompiledQueryLike, chunkSize?: number): AsyncIterableIterator<QueryResultLike>;
}

/** The slice of Kysely's `Driver` used here. */
interface DriverLike {
  acquireConnection(): Promise<ConnectionLike>;
  releaseConnection(connection: ConnectionLike): Promise<void>;
}

/**
 * What `auditKysely` accepts and returns: a Kysely `Dialect` (structurally; Kysely's own
 * `Dialect` type fits).
 */
export interface KyselyDialectLike {
  createDriver(): unknown;
  createQueryCompiler(): unknown;
  createAdapter(): unknown;
  createIntrospector(db: never): unknown;
}

/** Kysely's built-in dialects → the driver library under them, for `metadata.driver`. */
const DRIVERS: Readonly<Record<string, string>> = {
  PostgresDialect: "pg",
  MysqlDialect: "mysql2",
  SqliteDialect: "better-sqlite3",
  MssqlDialect: "tedious",
};

function driverName(dialect: object): string {
  const name = (dialect.constructor as { name?: unknown } | undefined)?.name;
  if (typeof name !== "string" || name === "" || name === "Object") return "unknown";
  return DRIVERS[name] ?? name;
}

/** `result.count` of a Kysely result: affected rows of a write, else the rows returned. */
function resultCount(value: unknown): number | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const r = value as QueryResultLike;
  const affected = r.numAffectedRows ?? r.numUpdatedOrDeletedRows;
  if (typeof affected === "bigint") return Number(affected);
  if (typeof affected === "number") return affected;
  return Array.isArray(r.rows) ? r.rows.length : undefined;
}

/** The methods of `target`, bound to it (Kysely's drivers and connections keep `#private` state). */
function bound(target: object, overrides: Record<PropertyKey, unknown>): object {
  return new Proxy(target, {
    get(t, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key];
      const value: unknown = Reflect.get(t, key, t);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(t) : value;
    },
  });
}

function auditedConnection(connection: ConnectionLike, ctx: DbAuditContext): ConnectionLike {
  const overrides: Record<PropertyKey, unknown> = {
    executeQuery(query: KyselyCompiledQueryLike): Promise<QueryResultLike> {
      const call = beginQuery(ctx, query?.sql, query?.parameters, "promise");
      if (call === undefined) return connection.executeQuery(query);
      let promise: Promise<QueryResultLike>;
      try {
        promise = connection.executeQuery(query);
      } catch (error) {
        finishQuery(call, { error });
        throw error;
      }
      return promise.then(
        (result) => {
          finishQuery(call, { count: safeCount(resultCount, result) });
          return result;
        },
        (error: unknown) => {
          finishQuery(call, { error: error ?? new Error("query failed") });
          throw error;
        },
      );
    },
  };
  const stream = connection.streamQuery;
  if (typeof stream === "function") {
    overrides.streamQuery = async function* vigilStreamQuery(
      query: KyselyCompiledQueryLike,
      chunkSize?: number,
    ): AsyncIterableIterator<QueryResultLike> {
      const call = beginQuery(ctx, query?.sql, query?.parameters, "promise");
      if (call === undefined) {
        yield* stream.call(connection, query, chunkSize);
        return;
      }
      let rows = 0;
      try {
        for await (const chunk of stream.call(connection, query, chunkSize)) {
          rows += Array.isArray(chunk?.rows) ? chunk.rows.length : 0;
          yield chunk;
        }
      } catch (error) {
        finishQuery(call, { error: error ?? new Error("query failed") });
        throw error;
      } finally {
        // the whole stream, or the part the caller consumed before stopping
        finishQuery(call, { count: rows });
      }
    };
  }
  return bound(connection, overrides) as ConnectionLike;
}

function auditedDriver(driver: DriverLike, ctx: DbAuditContext): DriverLike {
  const raw = new WeakMap<object, ConnectionLike>();
  return bound(driver, {
    async acquireConnection(): Promise<ConnectionLike> {
      const connection = await driver.acquireConnection();
      const wrapped = auditedConnection(connection, ctx);
      raw.set(wrapped, connection);
      return wrapped;
    },
    releaseConnection(connection: ConnectionLike): Promise<void> {
      return driver.releaseConnection(raw.get(connection) ?? connection);
    },
  }) as DriverLike;
}

/**
 * Audit every statement of a Kysely dialect; returns a dialect to give `new Kysely({ dialect })`.
 *
 * Options are those of the driver wrappers: `engine`, `skip`, `captureValues`, and
 * `database` (`action.resource.name`; Kysely does not tell the database's name, so give it
 * here to have it recorded). Events carry the actor and correlation in force when the
 * statement was issued, `metadata.driver` (the library under the dialect: `pg`, `mysql2`,
 * `better-sqlite3`) and `metadata.orm` `kysely`. The dialect's other parts (query
 * compiler, adapter, introspector) are the dialect's own.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` when `dialect` is not a Kysely dialect or an option is malformed.
 * @example new Kysely<DB>({ dialect: auditKysely(new SqliteDialect({ database }), { skip: [/^pragma/i] }) })
 */
export function auditKysely<T extends KyselyDialectLike>(dialect: T, options?: DbAuditOptions): T {
  if (
    dialect === null ||
    typeof dialect !== "object" ||
    typeof (dialect as { createDriver?: unknown }).createDriver !== "function" ||
    typeof (dialect as { createQueryCompiler?: unknown }).createQueryCompiler !== "function"
  ) {
    throw notADriver(
      "auditKysely",
      "a Kysely dialect (an object with createDriver and createQueryCompiler methods, e.g. new PostgresDialect({ pool }))",
      dialect,
    );
  }
  const ctx = createDbContext(
    "auditKysely",
    driverName(dialect),
    withOrm(options, "kysely"),
    () => undefined,
  );
  return bound(dialect, {
    createDriver(): unknown {
      return auditedDriver(dialect.createDriver() as DriverLike, ctx);
    },
  }) as T;
}
