/**
 * `vigil-audit/mysql2` (SPEC §1): audit every statement of a `mysql2` connection, pool or
 * pool cluster (MySQL and MariaDB), callback and promise APIs alike. The same object comes back with
 * `query` and `execute` audited; what they return is unchanged. `mysql2` itself is never
 * imported: only the slice of its API declared here is used.
 *
 * Each statement records one `DATABASE` / `QUERY_EXECUTION` event: the SQL text
 * (`params.sql`, with placeholders, not the interpolated text), the bound values
 * (`params.values`, sanitized), `action.method`, the row count (rows returned, or
 * `affectedRows`), the duration, and on failure the error with the server's code in
 * `result.error.code` (e.g. `ER_NO_SUCH_TABLE`).
 *
 * @example
 * import mysql from "mysql2/promise";
 * import { auditMysql2 } from "vigil-audit/mysql2";
 *
 * const pool = auditMysql2(mysql.createPool({ host, user, database }));
 * const [rows] = await pool.query("SELECT * FROM orders WHERE id = ?", [17]); // audited
 *
 * @module
 */
import {
  beginQuery,
  createDbContext,
  type DbAuditContext,
  type DbAuditOptions,
  finishQuery,
  isAudited,
  markAudited,
  notADriver,
  type QueryCall,
  replaceMethod,
  safeCount,
} from "../db-common.js";

export type { DbAuditOptions } from "../db-common.js";

/** What `auditMysql2` accepts: a connection, pool or pool connection, callback or promise flavour. */
export interface Mysql2Queryable {
  query: (...args: never[]) => unknown;
}

/** A pool cluster (`mysql.createPoolCluster()`), callback or promise flavour. */
export interface Mysql2PoolClusterLike {
  of: (...args: never[]) => unknown;
}

/** The slice of mysql2's core (callback) objects this module uses. */
interface CoreLike {
  query(...args: unknown[]): unknown;
  execute?(...args: unknown[]): unknown;
  prepare?(...args: unknown[]): unknown;
  getConnection?(...args: unknown[]): unknown;
  releaseConnection?(...args: unknown[]): unknown;
  readonly config?: {
    readonly database?: unknown;
    readonly connectionConfig?: { readonly database?: unknown };
  };
  /** Set on pool connections: the pool it belongs to. */
  readonly _pool?: object | null;
}

/** The slice of mysql2's promise wrappers: they hold the core object. */
interface PromiseWrapperLike {
  readonly connection?: CoreLike;
  readonly pool?: CoreLike;
}

type Callback = (this: unknown, ...args: unknown[]) => unknown;

/** Rows returned, or `affectedRows` for a write; the number of results of a multi-statement query. */
function mysqlCount(rows: unknown): number | undefined {
  if (Array.isArray(rows)) return rows.length;
  if (rows !== null && typeof rows === "object") {
    const n = (rows as { affectedRows?: unknown }).affectedRows;
    if (typeof n === "number") return n;
  }
  return undefined;
}

function isResultHeader(value: unknown): boolean {
  return (
    value !== null && typeof value === "object" && (value as object).constructor?.name === "ResultSetHeader"
  );
}

/** Observe an emitter-mode command (`query(sql)` without a callback) through `emit`, adding no listener. */
function observeCommand(call: QueryCall, command: Record<string, unknown>): void {
  const emit = command.emit;
  if (typeof emit !== "function") return;
  let rows = 0;
  let affected: number | undefined;
  command.emit = function vigilObservedEmit(this: unknown, event: unknown, ...args: unknown[]) {
    if (event === "result") {
      if (isResultHeader(args[0])) affected = mysqlCount(args[0]);
      else rows++;
    } else if (event === "error") finishQuery(call, { error: args[0] });
    else if (event === "end") finishQuery(call, { count: affected ?? rows });
    return (emit as Callback).call(this, event, ...args);
  };
}

/** The audited `query` / `execute`. */
function audited(original: Callback, ctxOf: () => DbAuditContext | undefined): Callback {
  return function vigilQuery(this: unknown, ...args: unknown[]) {
    const ctx = ctxOf();
    if (ctx === undefined) return original.apply(this, args);
    const first = args[0] as Record<string, unknown> | string | null | undefined;
    let sql: unknown;
    let values: unknown;
    let cbIndex = -1;
    if (typeof first === "string") sql = first;
    else if (first !== null && typeof first === "object") {
      sql = first.sql;
      values = first.values;
    }
    if (typeof args[1] === "function") cbIndex = 1;
    else {
      if (args[1] !== undefined) values = args[1];
      if (typeof args[2] === "function") cbIndex = 2;
    }
    // a prepared command object handed in with its own result callback
    const commandCallback =
      cbIndex === -1 && first !== null && typeof first === "object" && typeof first.onResult === "function";
    const call = beginQuery(ctx, sql, values, "callback");
    if (call === undefined) return original.apply(this, args);
    let callArgs = args;
    if (cbIndex !== -1) {
      const cb = args[cbIndex] as Callback;
      callArgs = args.slice();
      callArgs[cbIndex] = function vigilQueryCallback(this: unknown, ...cbArgs: unknown[]) {
        const [err, rows] = cbArgs;
        if (err !== null && err !== undefined) finishQuery(call, { error: err });
        else finishQuery(call, { count: safeCount(mysqlCount, rows) });
        return cb.apply(this, cbArgs);
      };
    } else if (commandCallback) {
      const command = first as Record<string, unknown>;
      const onResult = command.onResult as Callback;
      command.onResult = function vigilOnResult(this: unknown, ...cbArgs: unknown[]) {
        const [err, rows] = cbArgs;
        if (err !== null && err !== undefined) finishQuery(call, { error: err });
        else finishQuery(call, { count: safeCount(mysqlCount, rows) });
        return onResult.apply(this, cbArgs);
      };
    }
    let returned: unknown;
    try {
      returned = original.apply(this, callArgs);
    } catch (error) {
      finishQuery(call, { error });
      throw error;
    }
    if (cbIndex === -1 && !commandCallback && returned !== null && typeof returned === "object")
      observeCommand(call, returned as Record<string, unknown>);
    return returned;
  };
}

/** Pool connections checked out through an audited pool, for the duration of the checkout. */
const leased = new WeakMap<object, DbAuditContext>();
/** Connections audited for good (stand-alone, or a pool connection until its release). */
const permanent = new WeakMap<object, DbAuditContext>();
const instrumented = new WeakSet<object>();

function instrumentConnection(conn: CoreLike): void {
  if (instrumented.has(conn)) return;
  instrumented.add(conn);
  const ctxOf = () => permanent.get(conn) ?? leased.get(conn);
  replaceMethod(conn, "query", audited(conn.query as Callback, ctxOf));
  if (typeof conn.execute === "function")
    replaceMethod(conn, "execute", audited(conn.execute as Callback, ctxOf));
  if (typeof conn.prepare === "function") instrumentPrepare(conn, ctxOf);
}

const instrumentedStatements = new WeakSet<object>();

/**
 * `connection.prepare(sql, cb)` (also under `mysql2/promise`'s `prepare`): a statement that
 * fails to prepare is recorded as a failure; a prepared statement's `execute(values, cb)`
 * records one event per execution, while the connection is audited. (`connection.execute`
 * prepares through its own commands, not through these, so nothing is recorded twice.)
 */
function instrumentPrepare(conn: CoreLike, ctxOf: () => DbAuditContext | undefined): void {
  const prepare = conn.prepare as Callback;
  replaceMethod(conn, "prepare", function vigilPrepare(this: unknown, ...args: unknown[]) {
    const last = args.length - 1;
    const cb = args[last];
    const ctx = ctxOf();
    if (typeof cb !== "function" || ctx === undefined) return prepare.apply(this, args);
    const first = args[0] as { sql?: unknown } | string | undefined;
    const sql = typeof first === "string" ? first : first?.sql;
    const call = beginQuery(ctx, sql, undefined, "callback");
    const callArgs = args.slice();
    callArgs[last] = function vigilPrepared(this: unknown, ...cbArgs: unknown[]) {
      const [err, stmt] = cbArgs;
      if (err !== null && err !== undefined) {
        if (call) finishQuery(call, { error: err });
      } else if (stmt !== null && typeof stmt === "object") instrumentPrepared(stmt as PreparedLike, ctxOf);
      return (cb as Callback).apply(this, cbArgs);
    };
    return prepare.apply(this, callArgs);
  });
}

/** The slice of mysql2's `PreparedStatementInfo` used here. */
interface PreparedLike {
  readonly query?: unknown;
  execute(...args: unknown[]): unknown;
}

function instrumentPrepared(stmt: PreparedLike, ctxOf: () => DbAuditContext | undefined): void {
  if (instrumentedStatements.has(stmt)) return; // the connection caches prepared statements
  instrumentedStatements.add(stmt);
  const execute = stmt.execute as Callback;
  // `execute(values, cb)` read as `query(sql, values, cb)`: the same audited forms
  const wrapped = audited(function statementExecute(this: unknown, _sql: unknown, ...rest: unknown[]) {
    return execute.apply(this, rest);
  }, ctxOf);
  replaceMethod(stmt, "execute", function vigilPreparedExecute(this: unknown, ...args: unknown[]) {
    return wrapped.call(this, stmt.query, ...args);
  });
}

function instrumentPool(pool: CoreLike, ctx: DbAuditContext): void {
  // The pool checks a connection out internally and synchronously for query/execute:
  // that checkout is not a lease (the statement is audited once, here).
  let internal = 0;
  for (const method of ["query", "execute"] as const) {
    const original = pool[method];
    if (typeof original !== "function") continue;
    const wrapped = audited(original as Callback, () => ctx);
    replaceMethod(pool, method, function vigilPoolQuery(this: unknown, ...args: unknown[]) {
      internal++;
      try {
        return wrapped.apply(this, args);
      } finally {
        internal--;
      }
    });
  }
  const getConnection = pool.getConnection as Callback;
  replaceMethod(pool, "getConnection", function vigilGetConnection(this: unknown, ...args: unknown[]) {
    const last = args.length - 1;
    const cb = args[last];
    if (internal > 0 || typeof cb !== "function") return getConnection.apply(this, args);
    const callArgs = args.slice();
    callArgs[last] = function vigilGotConnection(this: unknown, ...cbArgs: unknown[]) {
      const conn = cbArgs[1];
      if ((cbArgs[0] === null || cbArgs[0] === undefined) && conn !== null && typeof conn === "object") {
        instrumentConnection(conn as CoreLike);
        leased.set(conn, ctx);
      }
      return (cb as Callback).apply(this, cbArgs);
    };
    return getConnection.apply(this, callArgs);
  });
  hookRelease(pool);
}

const releaseHooked = new WeakSet<object>();

/**
 * End leases when connections go back: `connection.release()` calls
 * `pool.releaseConnection(connection)`, which a connection handed straight to a waiting
 * caller passes through without the pool emitting 'release'.
 */
function hookRelease(pool: CoreLike): void {
  if (releaseHooked.has(pool) || typeof pool.releaseConnection !== "function") return;
  releaseHooked.add(pool);
  const releaseConnection = pool.releaseConnection as Callback;
  replaceMethod(
    pool,
    "releaseConnection",
    function vigilReleaseConnection(this: unknown, ...args: unknown[]) {
      const conn = args[0];
      if (conn !== null && typeof conn === "object") leased.delete(conn);
      return releaseConnection.apply(this, args);
    },
  );
}

/** The slice of mysql2's core `PoolCluster` and its `PoolNamespace`s this module uses. */
interface ClusterLike {
  of(...args: unknown[]): NamespaceLike;
  readonly _nodes?: Readonly<Record<string, { readonly pool?: CoreLike } | undefined>>;
}

interface NamespaceLike {
  query(...args: unknown[]): unknown;
  execute(...args: unknown[]): unknown;
  getConnection(...args: unknown[]): unknown;
}

/**
 * Audit a pool cluster at its namespaces (`cluster.of(pattern)`, which `cluster.getConnection`
 * also goes through): `query` / `execute` record one event each, issued in the caller's
 * context whichever node serves it; a connection checked out with `getConnection` is
 * audited until released, like a pool's. The node pools themselves stay unaudited, so no
 * statement is recorded twice.
 */
function instrumentCluster(cluster: ClusterLike, ctx: DbAuditContext): void {
  const namespaces = new WeakSet<object>();
  const of = cluster.of as (this: unknown, ...args: unknown[]) => NamespaceLike;
  replaceMethod(cluster, "of", function vigilOf(this: unknown, ...args: unknown[]) {
    const namespace = of.apply(this, args);
    if (namespace !== null && typeof namespace === "object" && !namespaces.has(namespace)) {
      namespaces.add(namespace);
      instrumentNamespace(namespace, ctx);
    }
    return namespace;
  });
}

function instrumentNamespace(namespace: NamespaceLike, ctx: DbAuditContext): void {
  // query/execute check a connection out through getConnection, synchronously (and again,
  // with the same callback, when the cluster retries another node): not a lease.
  let internal = 0;
  const internalCallbacks = new WeakSet<object>();
  for (const method of ["query", "execute"] as const) {
    const original = namespace[method];
    if (typeof original !== "function") continue;
    const wrapped = audited(original as Callback, () => ctx);
    replaceMethod(namespace, method, function vigilClusterQuery(this: unknown, ...args: unknown[]) {
      internal++;
      try {
        return wrapped.apply(this, args);
      } finally {
        internal--;
      }
    });
  }
  const getConnection = namespace.getConnection as Callback;
  replaceMethod(namespace, "getConnection", function vigilGetConnection(this: unknown, ...args: unknown[]) {
    const cb = args[0];
    if (typeof cb !== "function" || internalCallbacks.has(cb)) return getConnection.apply(this, args);
    if (internal > 0) {
      internalCallbacks.add(cb);
      return getConnection.apply(this, args);
    }
    const leasing = function vigilGotConnection(this: unknown, ...cbArgs: unknown[]) {
      const conn = cbArgs[1] as CoreLike | undefined;
      if ((cbArgs[0] === null || cbArgs[0] === undefined) && conn !== null && typeof conn === "object") {
        instrumentConnection(conn);
        leased.set(conn, ctx);
        if (conn._pool) hookRelease(conn._pool as CoreLike);
      }
      return (cb as Callback).apply(this, cbArgs);
    };
    internalCallbacks.add(leasing); // the namespace's own retry passes it back in
    return getConnection.call(this, leasing, ...args.slice(1));
  });
}

/** The core `PoolCluster` of `target` (itself, or what a promise cluster holds), if it is one. */
function clusterOf(target: unknown): ClusterLike | undefined {
  const isCluster = (c: unknown): c is ClusterLike =>
    c !== null &&
    typeof c === "object" &&
    typeof (c as { of?: unknown }).of === "function" &&
    typeof (c as { add?: unknown }).add === "function";
  // a promise cluster proxies `of` and `add` too: audit the core cluster it holds
  const core = (target as { poolCluster?: unknown } | null)?.poolCluster;
  if (isCluster(core)) return core;
  return isCluster(target) ? target : undefined;
}

/** The database the cluster's nodes share, if they all name the same one. */
function clusterDatabase(cluster: ClusterLike): string | undefined {
  let name: string | undefined;
  for (const node of Object.values(cluster._nodes ?? {})) {
    const db = node?.pool?.config?.connectionConfig?.database;
    if (typeof db !== "string" || (name !== undefined && db !== name)) return undefined;
    name = db;
  }
  return name;
}

/** The callback-API object underneath `target` (itself, or what a promise wrapper holds). */
function coreOf(target: CoreLike & PromiseWrapperLike): { core: CoreLike; isPool: boolean } {
  if (
    target.pool &&
    typeof target.pool.getConnection === "function" &&
    typeof target.pool.query === "function"
  )
    return { core: target.pool, isPool: true };
  if (target.connection && typeof target.connection.query === "function")
    return { core: target.connection, isPool: false };
  return { core: target, isPool: typeof target.getConnection === "function" };
}

/**
 * Audit a `mysql2` connection, pool or pool connection — from `mysql2` or `mysql2/promise`
 * — and return the same object.
 *
 * - Pool: `pool.query` / `pool.execute` (callback, emitter or promise form), and every
 *   statement of a connection checked out with `getConnection()` until it is released.
 * - Connection: `query` and `execute`, in all forms: `(sql[, values][, callback])`,
 *   `(options[, values][, callback])`, emitter mode (recorded on `end` / `error`), and
 *   through `.promise()`.
 *
 * - Pool cluster (`mysql.createPoolCluster()`): `cluster.of(pattern).query/execute`, and
 *   every statement of a connection checked out with `cluster.getConnection(pattern, cb)`
 *   or `cluster.of(pattern).getConnection(cb)` until it is released. `action.resource.name`
 *   is the database the nodes share (or `options.database`).
 *
 * - Prepared statements: `connection.prepare(sql)` — a failure to prepare is recorded, and
 *   each `statement.execute(values)` records one event while the connection is audited.
 *
 * Events carry the actor and correlation in force when the statement was issued.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` for something that is not a mysql2 object or a malformed option.
 * @example const conn = auditMysql2(await mysql.createConnection(url), { skip: ["SELECT 1"] });
 * @example const cluster = auditMysql2(mysql.createPoolCluster()); cluster.add("replica1", config);
 */
export function auditMysql2<T extends Mysql2Queryable | Mysql2PoolClusterLike>(
  db: T,
  options?: DbAuditOptions,
): T {
  const cluster = clusterOf(db);
  if (cluster !== undefined) {
    if (isAudited(cluster)) return db;
    const ctx = createDbContext("auditMysql2", "mysql2", options, () => clusterDatabase(cluster));
    instrumentCluster(cluster, ctx);
    markAudited(cluster);
    return db;
  }
  if (db === null || typeof db !== "object" || typeof (db as { query?: unknown }).query !== "function") {
    throw notADriver(
      "auditMysql2",
      "a mysql2 connection, pool or pool cluster (an object with a query or of method)",
      db,
    );
  }
  const { core, isPool } = coreOf(db as unknown as CoreLike & PromiseWrapperLike);
  const pooledConnection = !isPool && core._pool !== undefined && core._pool !== null;
  if (!pooledConnection && isAudited(core)) return db;
  const ctx = createDbContext("auditMysql2", "mysql2", options, () => {
    const name = isPool ? core.config?.connectionConfig?.database : core.config?.database;
    return typeof name === "string" ? name : undefined;
  });
  if (isPool) instrumentPool(core, ctx);
  else {
    instrumentConnection(core);
    if (pooledConnection) {
      // a connection of a pool that is not audited: audit it until it goes back
      leased.set(core, ctx);
      hookRelease(core._pool as CoreLike);
      return db;
    }
    permanent.set(core, ctx);
  }
  markAudited(core);
  return db;
}
