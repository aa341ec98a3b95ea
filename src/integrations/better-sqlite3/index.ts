/**
 * `vigil-audit/better-sqlite3` (SPEC §1): audit every statement of a `better-sqlite3`
 * Database. The same database comes back; statements it prepares have `run`, `get`,
 * `all` and `iterate` audited, and `exec` is audited. Return values and thrown errors
 * are unchanged. `better-sqlite3` itself is never imported: only the slice of its API
 * declared here is used.
 *
 * Each execution records one `DATABASE` / `QUERY_EXECUTION` event: the SQL text
 * (`params.sql`), the bound values (`params.values`, sanitized), `action.method`, the
 * count (`changes` for `run`, rows for `all` and `iterate`, 0 or 1 for `get`), the
 * duration, and on failure the error with SQLite's code in `result.error.code` (e.g.
 * `SQLITE_CONSTRAINT_UNIQUE`). A statement that fails to prepare is recorded too.
 *
 * @example
 * import Database from "better-sqlite3";
 * import { auditSqlite } from "vigil-audit/better-sqlite3";
 *
 * const db = auditSqlite(new Database("app.db"));
 * db.prepare("INSERT INTO orders (id) VALUES (?)").run(17); // audited
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
  replaceMethod,
} from "../db-common.js";

export type { DbAuditOptions } from "../db-common.js";

/** What `auditSqlite` accepts: a better-sqlite3 `Database`. */
export interface SqliteDatabaseLike {
  prepare: (...args: never[]) => unknown;
  exec: (...args: never[]) => unknown;
}

/** The slice of better-sqlite3's API this module uses. */
interface DatabaseLike {
  prepare(source: string): StatementLike;
  exec(source: string): unknown;
  readonly name?: unknown;
}

interface StatementLike {
  readonly source?: unknown;
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown;
  iterate(...params: unknown[]): IteratorLike;
  bind(...params: unknown[]): unknown;
}

interface IteratorLike {
  next(): IteratorResult<unknown>;
  return?(value?: unknown): IteratorResult<unknown>;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** The values one call binds: a lone array or object argument as is, several arguments as a list. */
function boundValues(args: readonly unknown[]): unknown {
  if (args.length === 0) return undefined;
  if (args.length === 1 && args[0] !== null && typeof args[0] === "object") return args[0];
  return [...args];
}

const COUNTS: Readonly<Record<"run" | "get" | "all", (value: unknown) => number | undefined>> = {
  run: (v) => {
    const n = (v as { changes?: unknown } | null)?.changes;
    return typeof n === "number" ? n : typeof n === "bigint" ? Number(n) : undefined;
  },
  get: (v) => (v === undefined ? 0 : 1),
  all: (v) => (Array.isArray(v) ? v.length : undefined),
};

function instrumentStatement(stmt: StatementLike, ctx: DbAuditContext): void {
  const sql = stmt.source;
  if (typeof sql !== "string" || ctx.skipped(sql)) return;
  let bound: unknown;
  const bind = stmt.bind as Method;
  replaceMethod(stmt, "bind", function vigilBind(this: unknown, ...args: unknown[]) {
    const returned = bind.apply(this, args);
    bound = boundValues(args);
    return returned;
  });
  for (const name of ["run", "get", "all"] as const) {
    const original = stmt[name] as Method;
    const count = COUNTS[name];
    replaceMethod(stmt, name, function vigilStatement(this: unknown, ...args: unknown[]) {
      const call = beginQuery(ctx, sql, args.length > 0 ? boundValues(args) : bound, "sync");
      if (call === undefined) return original.apply(this, args);
      let value: unknown;
      try {
        value = original.apply(this, args);
      } catch (error) {
        finishQuery(call, { error });
        throw error;
      }
      finishQuery(call, { count: count(value) });
      return value;
    });
  }
  const iterate = stmt.iterate as (this: unknown, ...args: unknown[]) => IteratorLike;
  replaceMethod(stmt, "iterate", function vigilIterate(this: unknown, ...args: unknown[]) {
    const call = beginQuery(ctx, sql, args.length > 0 ? boundValues(args) : bound, "sync");
    if (call === undefined) return iterate.apply(this, args);
    let it: IteratorLike;
    try {
      it = iterate.apply(this, args);
    } catch (error) {
      finishQuery(call, { error });
      throw error;
    }
    // The same iterator object comes back; its next/return report the rows consumed.
    let rows = 0;
    const next = it.next;
    const ret = it.return;
    replaceMethod(it, "next", function vigilNext(this: unknown) {
      let step: IteratorResult<unknown>;
      try {
        step = next.call(this);
      } catch (error) {
        finishQuery(call, { error });
        throw error;
      }
      if (step.done) finishQuery(call, { count: rows });
      else rows++;
      return step;
    });
    if (typeof ret === "function") {
      replaceMethod(it, "return", function vigilReturn(this: unknown, ...a: unknown[]) {
        finishQuery(call, { count: rows });
        return (ret as Method).apply(this, a);
      });
    }
    return it;
  });
}

/**
 * Audit a `better-sqlite3` Database; returns the same object. Statements prepared after
 * this call are audited on `run`, `get`, `all` and `iterate` (values given to the call
 * or to `bind()`); `exec` records one event for its whole script; a statement that
 * fails to prepare records a failure. `pluck()`, `raw()`, `expand()` and `safeIntegers()`
 * keep working (they return the same statement). Statements run by `db.transaction()`
 * (`BEGIN`, `COMMIT`) and `db.pragma()` are not recorded.
 *
 * Calls are synchronous, so every event carries the scope in force at the call.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` for something that is not a Database or a malformed option.
 * @example const db = auditSqlite(new Database(":memory:"), { skip: [/^PRAGMA/i] });
 */
export function auditSqlite<T extends SqliteDatabaseLike>(db: T, options?: DbAuditOptions): T {
  if (
    db === null ||
    typeof db !== "object" ||
    typeof (db as { prepare?: unknown }).prepare !== "function" ||
    typeof (db as { exec?: unknown }).exec !== "function"
  ) {
    throw notADriver(
      "auditSqlite",
      "a better-sqlite3 Database (an object with prepare and exec methods)",
      db,
    );
  }
  const target = db as unknown as DatabaseLike;
  if (isAudited(target)) return db;
  const ctx = createDbContext("auditSqlite", "better-sqlite3", options, () => {
    const name = target.name;
    return typeof name === "string" ? name : undefined;
  });
  const prepare = target.prepare as unknown as (
    this: unknown,
    source: unknown,
    ...rest: unknown[]
  ) => StatementLike;
  replaceMethod(target, "prepare", function vigilPrepare(this: unknown, source: unknown, ...rest: unknown[]) {
    let stmt: StatementLike;
    try {
      stmt = prepare.call(this, source, ...rest);
    } catch (error) {
      const call = beginQuery(ctx, source, undefined, "sync");
      if (call) finishQuery(call, { error });
      throw error;
    }
    if (ctx.engine() !== undefined) instrumentStatement(stmt, ctx);
    return stmt;
  });
  const exec = target.exec as unknown as Method;
  replaceMethod(target, "exec", function vigilExec(this: unknown, ...args: unknown[]) {
    const call = beginQuery(ctx, args[0], undefined, "sync");
    if (call === undefined) return exec.apply(this, args);
    try {
      const returned = exec.apply(this, args);
      finishQuery(call, {});
      return returned;
    } catch (error) {
      finishQuery(call, { error });
      throw error;
    }
  });
  markAudited(target);
  return db;
}
