/**
 * `vigil-audit/pg` (SPEC §1): audit every statement of a `pg` Pool or Client. The same
 * object comes back with `query` audited; what `query` returns (promise, callback,
 * submittable) is unchanged. `pg` itself is never imported: only the slice of its API
 * declared here is used.
 *
 * Each statement records one `DATABASE` / `QUERY_EXECUTION` event: the SQL text
 * (`params.sql`), the bound values (`params.values`, sanitized), `action.method` (the
 * statement's first keyword), the row count (`rowCount`), the duration, and on failure
 * the error with PostgreSQL's SQLSTATE in `result.error.code` (e.g. `42P01`).
 *
 * @example
 * import pg from "pg";
 * import { auditPg } from "vigil-audit/pg";
 *
 * const pool = auditPg(new pg.Pool({ connectionString }), { skip: ["SELECT 1"] });
 * await pool.query("SELECT * FROM orders WHERE id = $1", [17]); // audited
 * const client = await pool.connect(); // its statements are audited until release()
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
  isThenable,
  markAudited,
  notADriver,
  type QueryCall,
  replaceMethod,
  safeCount,
  watchPromise,
} from "../db-common.js";

export type { DbAuditOptions } from "../db-common.js";

/** What `auditPg` accepts: anything with pg's `query` method (`Pool`, `Client`, `PoolClient`). */
export interface PgQueryable {
  query: (...args: never[]) => unknown;
}

/** The slice of pg's API this module reads, all optional so that Pool and Client both fit. */
interface PgLike {
  query(...args: unknown[]): unknown;
  connect?(...args: unknown[]): unknown;
  release?: (...args: unknown[]) => unknown;
  on?(event: string, listener: (...args: unknown[]) => void): unknown;
  readonly totalCount?: unknown;
  readonly options?: { readonly database?: unknown };
  readonly database?: unknown;
  readonly connectionParameters?: { readonly database?: unknown };
}

interface PgResultLike {
  readonly rowCount?: number | null;
  readonly rows?: readonly unknown[];
}

type Callback = (this: unknown, ...args: unknown[]) => unknown;

/** `result.count` of a pg result: `rowCount`, summed over a multi-statement result. */
function pgCount(value: unknown): number | undefined {
  if (Array.isArray(value)) {
    let total: number | undefined;
    for (const r of value) {
      const n = pgCount(r);
      if (n !== undefined) total = (total ?? 0) + n;
    }
    return total;
  }
  if (value === null || typeof value !== "object") return undefined;
  const r = value as PgResultLike;
  if (typeof r.rowCount === "number") return r.rowCount;
  if (r.rowCount === undefined && Array.isArray(r.rows)) return r.rows.length;
  return undefined;
}

function wrapCallback(call: QueryCall, cb: Callback): Callback {
  return function vigilQueryCallback(this: unknown, ...args: unknown[]) {
    const [err, result] = args;
    if (err !== null && err !== undefined) finishQuery(call, { error: err });
    else finishQuery(call, { count: safeCount(pgCount, result) });
    return cb.apply(this, args);
  };
}

/** Observe a submittable (pg `Query`, cursor, stream) through its events, without listening. */
function observeSubmittable(call: QueryCall, submittable: Record<string, unknown>): void {
  const emit = submittable.emit;
  if (typeof emit === "function") {
    let rows = 0;
    submittable.emit = function vigilObservedEmit(this: unknown, event: unknown, ...args: unknown[]) {
      if (event === "row") rows++;
      else if (event === "error") finishQuery(call, { error: args[0] });
      else if (event === "end") finishQuery(call, { count: safeCount(pgCount, args[0]) ?? rows });
      return (emit as Callback).call(this, event, ...args);
    };
  }
  if (typeof submittable.callback === "function")
    submittable.callback = wrapCallback(call, submittable.callback as Callback);
}

/**
 * The audited `query`: `ctxOf()` says, per call, whether and how to audit (a pooled
 * client is audited only while checked out through an audited pool).
 */
function auditedQuery(original: Callback, ctxOf: () => DbAuditContext | undefined): Callback {
  return function vigilQuery(this: unknown, ...args: unknown[]) {
    const ctx = ctxOf();
    if (ctx === undefined) return original.apply(this, args);
    const first = args[0] as Record<string, unknown> | string | null | undefined;
    if (first !== null && typeof first === "object" && typeof first.submit === "function") {
      const call = beginQuery(
        ctx,
        first.text,
        first.values ?? (Array.isArray(args[1]) ? args[1] : undefined),
        "callback",
      );
      if (call === undefined) return original.apply(this, args);
      const call2 = args.slice();
      for (const i of [1, 2])
        if (typeof call2[i] === "function") call2[i] = wrapCallback(call, call2[i] as Callback);
      observeSubmittable(call, first);
      try {
        return original.apply(this, call2);
      } catch (error) {
        finishQuery(call, { error });
        throw error;
      }
    }
    let sql: unknown;
    let values: unknown;
    let cbIndex = -1;
    if (typeof first === "string") sql = first;
    else if (first !== null && typeof first === "object") {
      sql = first.text;
      values = first.values;
    }
    if (typeof args[1] === "function") cbIndex = 1;
    else {
      if (args[1] !== undefined && args[1] !== null) values = args[1];
      if (typeof args[2] === "function") cbIndex = 2;
    }
    const configCallback =
      cbIndex === -1 && first !== null && typeof first === "object" && typeof first.callback === "function";
    const call = beginQuery(ctx, sql, values, cbIndex !== -1 || configCallback ? "callback" : "promise");
    if (call === undefined) return original.apply(this, args);
    let callArgs = args;
    if (cbIndex !== -1) {
      callArgs = args.slice();
      callArgs[cbIndex] = wrapCallback(call, args[cbIndex] as Callback);
    } else if (configCallback) {
      const config = first as Record<string, unknown>;
      callArgs = [{ ...config, callback: wrapCallback(call, config.callback as Callback) }, ...args.slice(1)];
    }
    let returned: unknown;
    try {
      returned = original.apply(this, callArgs);
    } catch (error) {
      finishQuery(call, { error });
      throw error;
    }
    if (cbIndex === -1 && !configCallback && isThenable(returned)) watchPromise(call, returned, pgCount);
    return returned;
  };
}

/** Clients checked out through an audited pool, for the duration of the checkout. */
const leased = new WeakMap<object, DbAuditContext>();
/** Stand-alone clients audited for good. */
const permanent = new WeakMap<object, DbAuditContext>();
const instrumented = new WeakSet<object>();

function instrumentClient(client: PgLike): void {
  if (instrumented.has(client)) return;
  instrumented.add(client);
  const ctxOf = () => permanent.get(client) ?? leased.get(client);
  replaceMethod(client, "query", auditedQuery(client.query as Callback, ctxOf));
}

function lease(client: PgLike, ctx: DbAuditContext): void {
  instrumentClient(client);
  leased.set(client, ctx);
}

function instrumentPool(pool: PgLike, ctx: DbAuditContext): void {
  const query = auditedQuery(pool.query as Callback, () => ctx);
  // pool.query checks a client out internally, synchronously: that checkout is not a lease
  // (the statement is audited once, here, in the caller's context).
  let internal = 0;
  replaceMethod(pool, "query", function vigilPoolQuery(this: unknown, ...args: unknown[]) {
    internal++;
    try {
      return query.apply(this, args);
    } finally {
      internal--;
    }
  });
  const connect = pool.connect as Callback;
  replaceMethod(pool, "connect", function vigilPoolConnect(this: unknown, ...args: unknown[]) {
    if (internal > 0) return connect.apply(this, args);
    const cb = args[0];
    if (typeof cb === "function") {
      return connect.call(this, function vigilConnected(this: unknown, ...cbArgs: unknown[]) {
        const client = cbArgs[1];
        if ((cbArgs[0] === null || cbArgs[0] === undefined) && client !== null && typeof client === "object")
          lease(client as PgLike, ctx);
        return (cb as Callback).apply(this, cbArgs);
      });
    }
    const returned = connect.apply(this, args);
    if (isThenable(returned)) {
      returned.then(
        (client) => {
          if (client !== null && typeof client === "object") lease(client as PgLike, ctx);
        },
        () => {},
      );
    }
    return returned;
  });
  // pg-pool emits 'release' however a client goes back (release(), the callback's release, errors).
  pool.on?.("release", (_err: unknown, client: unknown) => {
    if (client !== null && typeof client === "object") leased.delete(client);
  });
}

/**
 * Audit a `pg` Pool, Client or checked-out PoolClient; returns the same object.
 *
 * - Pool: `pool.query(...)` is audited, and so is every statement of a client checked out
 *   with `pool.connect()` (promise or callback) until it is released.
 * - Client: every `client.query(...)`; a PoolClient from an un-audited pool until its
 *   `release()`.
 *
 * All of pg's call forms are supported: `query(text)`, `query(text, values)`,
 * `query(text, values, callback)`, `query(text, callback)`, `query(config[, values][, callback])`
 * and submittables (`query(new Query(...))`, cursors, streams: recorded when they emit
 * `end` or `error`). Events carry the actor and correlation in force when the statement
 * was issued. Auditing twice is harmless.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` when `db` has no `query` method or an option is malformed.
 * @example const pool = auditPg(new pg.Pool(), { captureValues: false });
 */
export function auditPg<T extends PgQueryable>(db: T, options?: DbAuditOptions): T {
  if (db === null || typeof db !== "object" || typeof (db as { query?: unknown }).query !== "function") {
    throw notADriver("auditPg", "a pg Pool or Client (an object with a query method)", db);
  }
  const target = db as unknown as PgLike;
  const isPool = typeof target.connect === "function" && typeof target.totalCount === "number";
  const release = target.release;
  const isPooledClient = !isPool && typeof release === "function";
  // A pool or stand-alone client is audited once for good; a pooled client per checkout.
  if (!isPooledClient && isAudited(target)) return db;
  const ctx = createDbContext("auditPg", "pg", options, () => {
    const name = isPool
      ? target.options?.database
      : (target.database ?? target.connectionParameters?.database);
    return typeof name === "string" ? name : undefined;
  });
  if (isPool) instrumentPool(target, ctx);
  else if (isPooledClient) {
    if (leased.has(target)) return db;
    // a client checked out of a pool that is not audited: audit it until it goes back
    instrumentClient(target);
    leased.set(target, ctx);
    target.release = function vigilRelease(this: unknown, ...args: unknown[]) {
      leased.delete(target);
      return release.apply(this, args);
    };
    return db;
  } else {
    instrumentClient(target);
    permanent.set(target, ctx);
  }
  markAudited(target);
  return db;
}
