/**
 * `vigil-audit/prisma` (SPEC §1): audit every operation of a Prisma Client through a
 * `$extends` query extension. Each model operation (`prisma.user.create(...)`) and each
 * raw query (`$queryRaw`, `$executeRaw`, their `Unsafe` forms) records one `DATABASE` /
 * `QUERY_EXECUTION` event, as the driver wrappers do: `action.method` the SQL verb
 * (`SELECT` for `findMany`, `INSERT` for `create`, ...; a raw query's first keyword),
 * the row count, the duration, and on failure the error with Prisma's code (`P2002`).
 * A model operation records `params: { model, operation, args }` (args sanitized and
 * redacted by key: `data.password` never reaches the store); a raw query records
 * `params: { sql, values }` like a driver statement.
 *
 * Prisma's query extension sees operations, not the SQL Prisma generates for them: that
 * SQL is built inside Prisma's query compiler. `@prisma/client` itself is never imported.
 *
 * @example
 * import { PrismaClient } from "./generated/prisma/client.js";
 * import { auditPrisma } from "vigil-audit/prisma";
 *
 * const prisma = new PrismaClient({ adapter }).$extends(auditPrisma({ database: "shop" }));
 * await prisma.user.findMany(); // audited: SELECT, params.model "User", result.count
 *
 * @module
 */
import {
  beginQuery,
  createDbContext,
  type DbAuditOptions,
  finishQuery,
  type QueryCall,
  safeCount,
  withOrm,
} from "../db-common.js";

/**
 * Options of {@link auditPrisma}: those of the driver wrappers. `skip` is tested against a
 * raw query's SQL text and against a model operation as `Model.operation` (`"Session.findUnique"`);
 * `captureValues: false` leaves out raw values and model operations' `args`.
 */
export type PrismaAuditOptions = DbAuditOptions;

/** What Prisma hands a `$allOperations` query extension. */
export interface PrismaOperationParams {
  /** The model; absent for raw queries. */
  readonly model?: string | undefined;
  readonly operation: string;
  readonly args: unknown;
  query(args: never): PromiseLike<unknown>;
}

/** The extension to give `prisma.$extends(...)`. */
export interface PrismaAuditExtension {
  readonly name: "vigil-audit";
  readonly query: {
    readonly $allOperations: (params: PrismaOperationParams) => Promise<unknown>;
  };
}

/** Prisma's model operations → the SQL verb they run (the driver wrappers' `action.method`). */
const VERBS: Readonly<Record<string, string>> = {
  findUnique: "SELECT",
  findUniqueOrThrow: "SELECT",
  findFirst: "SELECT",
  findFirstOrThrow: "SELECT",
  findMany: "SELECT",
  count: "SELECT",
  aggregate: "SELECT",
  groupBy: "SELECT",
  create: "INSERT",
  createMany: "INSERT",
  createManyAndReturn: "INSERT",
  update: "UPDATE",
  updateMany: "UPDATE",
  updateManyAndReturn: "UPDATE",
  upsert: "UPSERT",
  delete: "DELETE",
  deleteMany: "DELETE",
};

/** The SQL text and values of a raw operation's arguments (a tagged-template `Sql`, or `[sql, ...values]`). */
function rawStatement(args: unknown): { sql: string; values: unknown[] } | undefined {
  if (Array.isArray(args)) {
    return typeof args[0] === "string" ? { sql: args[0], values: args.slice(1) } : undefined;
  }
  if (args !== null && typeof args === "object") {
    const a = args as { sql?: unknown; strings?: unknown; values?: unknown };
    const values = Array.isArray(a.values) ? [...(a.values as unknown[])] : [];
    if (typeof a.sql === "string") return { sql: a.sql, values };
    if (Array.isArray(a.strings)) return { sql: (a.strings as unknown[]).join("?"), values };
  }
  return undefined;
}

/** `result.count` of a model operation: rows returned, or affected by a `...Many`. */
function modelCount(operation: string): (value: unknown) => number | undefined {
  return (value) => {
    if (Array.isArray(value)) return value.length;
    if (value === null || value === undefined) return 0;
    if (typeof value === "object") {
      const n = (value as { count?: unknown }).count;
      if (operation.endsWith("Many") && typeof n === "number") return n;
      return operation === "aggregate" || operation === "groupBy" ? undefined : 1;
    }
    return undefined; // count() answers a number of rows, not rows
  };
}

/** `result.count` of a raw query: rows returned (`$queryRaw`) or affected (`$executeRaw`). */
function rawCount(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  return typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : undefined;
}

/**
 * A Prisma Client `$extends` query extension auditing every operation (see the module
 * documentation). Events carry the actor and correlation in force when the operation was
 * started, `metadata: { driver: "prisma", orm: "prisma" }`, and `action.resource`
 * `{ type: "database", name }` with the `database` option. Operations inside
 * `$transaction` (batch or interactive) are audited one by one.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` for a malformed option.
 * @example const prisma = new PrismaClient({ adapter }).$extends(auditPrisma({ skip: ["Session.findUnique"] }));
 */
export function auditPrisma(options?: PrismaAuditOptions): PrismaAuditExtension {
  const ctx = createDbContext("auditPrisma", "prisma", withOrm(options, "prisma"), () => undefined);
  return {
    name: "vigil-audit",
    query: {
      async $allOperations(params: PrismaOperationParams): Promise<unknown> {
        const { model, operation, args } = params;
        const query = params.query as (args: unknown) => PromiseLike<unknown>;
        let call: QueryCall | undefined;
        let count: (value: unknown) => number | undefined = rawCount;
        try {
          if (typeof model === "string" && model !== "") {
            const text = `${model}.${operation}`;
            if (!ctx.skipped(text)) {
              // the common event's statement is the operation's SQL verb; its params are the operation's
              call = beginQuery(ctx, VERBS[operation] ?? operation.toUpperCase(), undefined, "promise");
              if (call !== undefined) {
                const p: Record<string, unknown> = { model, operation };
                if (ctx.captureValues && args !== undefined) p.args = args;
                call.params = p;
              }
              count = modelCount(operation);
            }
          } else {
            const raw = rawStatement(args);
            if (raw !== undefined) call = beginQuery(ctx, raw.sql, raw.values, "promise");
          }
        } catch {
          call = undefined; // recording never changes the application's behaviour
        }
        if (call === undefined) return query(args);
        try {
          const value = await query(args);
          finishQuery(call, { count: safeCount(count, value) });
          return value;
        } catch (error) {
          finishQuery(call, { error: error ?? new Error("query failed") });
          throw error;
        }
      },
    },
  };
}
