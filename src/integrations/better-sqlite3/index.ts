/**
 * `vigil-audit/better-sqlite3` (SPEC §1): audit every statement of a `better-sqlite3`
 * Database. The same database comes back; statements it prepares have `run`, `get`,
 * `all` and `iterate` audited, and `exec`, `pragma` and `transaction` functions are
 * audited. Return values and thrown errors are unchanged. `better-sqlite3` itself is never imported: only the slice of its API
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
import { randomUUID } from "node:crypto";
import { withAuditScope } from "../../capture/scope.js";
import type { LogInput, Mutable } from "../../event/types.js";
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
  transaction?(fn: (...args: unknown[]) => unknown): TransactionLike;
  pragma?(source: string, options?: unknown): unknown;
  readonly inTransaction?: boolean;
  readonly name?: unknown;
}

/** A function `db.transaction(fn)` returns, with its variants. */
type TransactionLike = ((...args: unknown[]) => unknown) & {
  readonly deferred: (...args: unknown[]) => unknown;
  readonly immediate: (...args: unknown[]) => unknown;
  readonly exclusive: (...args: unknown[]) => unknown;
  readonly database: unknown;
};

const MODES = ["deferred", "immediate", "exclusive"] as const;
type Mode = "default" | (typeof MODES)[number];

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

/**
 * The values one call binds: a lone array or object argument as is, several arguments as a
 * list — the call's own rest array, which nothing else holds, so it is not copied.
 */
function boundValues(args: unknown[]): unknown {
  if (args.length === 0) return undefined;
  if (args.length === 1 && args[0] !== null && typeof args[0] === "object") return args[0];
  return args;
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

/** The transactions of one database in progress, outermost first (calls are synchronous). */
interface OpenTransaction {
  readonly id: string;
}

/**
 * The audited version of one transaction function: one `DATABASE` / `TRANSACTION` event
 * per call, recorded when it ends, and everything recorded inside it carrying
 * `metadata.transaction_id` (through the ambient scope).
 */
function auditedTransaction(
  db: DatabaseLike,
  ctx: DbAuditContext,
  open: OpenTransaction[],
  run: (...args: unknown[]) => unknown,
  mode: Mode,
): (...args: unknown[]) => unknown {
  return function vigilTransaction(this: unknown, ...args: unknown[]): unknown {
    const engine = ctx.engine();
    if (engine === undefined || ctx.skipped("BEGIN")) return run.apply(this, args);
    // better-sqlite3 runs a transaction called inside another one as a savepoint
    const nested = db.inTransaction === true;
    const outer = open[0];
    const id = outer?.id ?? randomUUID();
    const depth = nested ? Math.max(open.length, 1) : 0;
    const metadata: { readonly transaction_id: string; readonly savepoint?: number } =
      depth > 0 ? { transaction_id: id, savepoint: depth } : { transaction_id: id };
    const started = performance.now();
    const record = (error: unknown): void => {
      try {
        const database = ctx.database();
        const failed = error !== undefined;
        // field by field: conditional spreads cost about 1 µs per object on Node 20
        const meta: Record<string, unknown> = { driver: ctx.driver };
        if (ctx.orm !== undefined) meta.orm = ctx.orm;
        meta.transaction_id = metadata.transaction_id;
        if (metadata.savepoint !== undefined) meta.savepoint = metadata.savepoint;
        meta.mode = mode;
        const input: Mutable<LogInput> = {
          action: "TRANSACTION",
          category: "DATABASE",
          method: nested ? (failed ? "ROLLBACK TO" : "RELEASE") : failed ? "ROLLBACK" : "COMMIT",
          resource: database !== undefined ? { type: "database", name: database } : { type: "database" },
          metadata: meta,
          result: { duration_ms: Math.round((performance.now() - started) * 1000) / 1000 },
        };
        if (failed) {
          input.error = error;
          input.status = "FAILURE";
        } else input.status = "SUCCESS";
        engine.log(input);
      } catch {
        // recording never changes the application's behaviour
      }
    };
    open.push({ id });
    let result: unknown;
    try {
      result = withAuditScope({ metadata }, () => run.apply(this, args));
    } catch (error) {
      open.pop();
      record(error ?? new Error("transaction failed"));
      throw error;
    }
    open.pop();
    record(undefined);
    return result;
  };
}

/** `db.transaction(fn)` returning audited transaction functions (with audited variants). */
function instrumentTransactions(db: DatabaseLike, ctx: DbAuditContext): void {
  const transaction = db.transaction;
  if (typeof transaction !== "function") return;
  const open: OpenTransaction[] = [];
  replaceMethod(db, "transaction", function vigilTransactionFactory(this: unknown, ...args: unknown[]) {
    const txn = (transaction as (this: unknown, ...a: unknown[]) => TransactionLike).apply(this, args);
    const variants = {
      default: auditedTransaction(db, ctx, open, txn, "default"),
      deferred: auditedTransaction(db, ctx, open, txn.deferred, "deferred"),
      immediate: auditedTransaction(db, ctx, open, txn.immediate, "immediate"),
      exclusive: auditedTransaction(db, ctx, open, txn.exclusive, "exclusive"),
    };
    // like better-sqlite3's own: every variant carries all variants and the database
    const properties: PropertyDescriptorMap = {
      default: { value: variants.default },
      deferred: { value: variants.deferred },
      immediate: { value: variants.immediate },
      exclusive: { value: variants.exclusive },
      database: { value: txn.database, enumerable: true },
    };
    for (const v of Object.values(variants)) Object.defineProperties(v, properties);
    return variants.default;
  });
}

/** `db.pragma(source)`: one `QUERY_EXECUTION` event with `params.sql` `PRAGMA <source>`. */
function instrumentPragma(db: DatabaseLike, ctx: DbAuditContext): void {
  const pragma = db.pragma;
  if (typeof pragma !== "function") return;
  replaceMethod(db, "pragma", function vigilPragma(this: unknown, ...args: unknown[]) {
    const source = args[0];
    const call =
      typeof source === "string" ? beginQuery(ctx, `PRAGMA ${source}`, undefined, "sync") : undefined;
    if (call === undefined) return (pragma as Method).apply(this, args);
    let value: unknown;
    try {
      value = (pragma as Method).apply(this, args);
    } catch (error) {
      finishQuery(call, { error });
      throw error;
    }
    finishQuery(call, { count: Array.isArray(value) ? value.length : undefined });
    return value;
  });
}

/**
 * Audit a `better-sqlite3` Database; returns the same object. Statements prepared after
 * this call are audited on `run`, `get`, `all` and `iterate` (values given to the call
 * or to `bind()`); `exec` records one event for its whole script; a statement that
 * fails to prepare records a failure. `pluck()`, `raw()`, `expand()` and `safeIntegers()`
 * keep working (they return the same statement).
 *
 * `db.transaction(fn)` returns audited transaction functions (its `deferred`, `immediate`
 * and `exclusive` variants too): each call records one `DATABASE` / `TRANSACTION` event
 * when it ends — `action.method` `COMMIT` (SUCCESS) or `ROLLBACK` (FAILURE, with the
 * error that made it roll back), the duration, `metadata.mode` — and every event recorded
 * inside it, its statements included, carries `metadata.transaction_id` (the same id as
 * the transaction's event). A transaction called inside another runs as a savepoint: its
 * event has `RELEASE` or `ROLLBACK TO`, the outer transaction's id and
 * `metadata.savepoint` (its depth). A `skip` that matches `BEGIN` leaves transactions
 * unrecorded. `db.pragma(source)` records one `QUERY_EXECUTION` event with
 * `params.sql` `PRAGMA <source>` (a pragma can change settings: `journal_mode`,
 * `foreign_keys`), `action.method` `PRAGMA`, and the rows returned as the count.
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
  instrumentTransactions(target, ctx);
  instrumentPragma(target, ctx);
  markAudited(target);
  return db;
}
