/**
 * `vigil-audit/drizzle` (SPEC §1): audit every statement a Drizzle database runs, like the
 * driver wrappers do: one `DATABASE` / `QUERY_EXECUTION` event per statement with the SQL
 * text (`params.sql`), the bound values (`params.values`, sanitized), `action.method`, the
 * row count, the duration, and on failure the error with the driver's code.
 *
 * Why not Drizzle's `logger`: `logQuery(query, params)` is called before the statement
 * runs and hears neither its duration, nor its result, nor its failure. So
 * `auditDrizzle(db)` audits the driver client under the database (`db.$client`) with the
 * driver wrapper that fits — `auditPg` for `drizzle-orm/node-postgres`, `auditSqlite` for
 * `drizzle-orm/better-sqlite3`, `auditMysql2` for `drizzle-orm/mysql2` — and marks its
 * events `metadata.orm: "drizzle"`. Drizzle keeps calling the same client object, so
 * everything it runs — queries, prepared statements, `db.execute`, transactions (their
 * pooled client, or better-sqlite3's `transaction()`) — is audited.
 *
 * `drizzle-orm` itself is never imported.
 *
 * @example
 * import { drizzle } from "drizzle-orm/node-postgres";
 * import { auditDrizzle } from "vigil-audit/drizzle";
 *
 * const db = auditDrizzle(drizzle(pool), { skip: ["SELECT 1"] });
 * await db.select().from(orders); // audited
 *
 * @module
 */
import { auditSqlite } from "../better-sqlite3/index.js";
import { createDbContext, type DbAuditOptions, notADriver, withOrm } from "../db-common.js";
import { auditMysql2 } from "../mysql2/index.js";
import { auditPg } from "../pg/index.js";

export type { DbAuditOptions } from "../db-common.js";

/** What `auditDrizzle` accepts: a Drizzle database, which exposes its driver client as `$client`. */
export interface DrizzleDatabaseLike {
  readonly $client: unknown;
}

type Fn = (...args: never[]) => unknown;
const isFn = (v: unknown): v is Fn => typeof v === "function";

/** Which driver wrapper fits a client: better-sqlite3 prepares, mysql2 executes and pools connections, pg queries. */
function driverOf(client: unknown): "better-sqlite3" | "mysql2" | "pg" | undefined {
  if (client === null || typeof client !== "object") return undefined;
  const c = client as Record<string, unknown>;
  if (isFn(c.prepare) && isFn(c.exec)) return "better-sqlite3";
  if (isFn(c.query) && isFn(c.execute) && (isFn(c.getConnection) || "config" in c)) return "mysql2";
  if (isFn(c.query)) return "pg";
  return undefined;
}

/**
 * Audit every statement of a Drizzle database (node-postgres, better-sqlite3 or mysql2);
 * returns the same database. Options are those of the driver wrappers (`engine`, `skip`,
 * `captureValues`, `database`); events carry the actor and correlation in force when the
 * statement was issued, `metadata.driver` and `metadata.orm: "drizzle"`. Auditing twice,
 * or a client already given to a driver wrapper, is harmless.
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` when `db` is not a Drizzle database on one of these drivers, or an option is malformed.
 * @example const db = auditDrizzle(drizzle(new Database("app.db")));
 */
export function auditDrizzle<T extends DrizzleDatabaseLike>(db: T, options?: DbAuditOptions): T {
  const client = db !== null && typeof db === "object" ? (db as { $client?: unknown }).$client : undefined;
  const driver = driverOf(client);
  if (driver === undefined) {
    throw notADriver(
      "auditDrizzle",
      "a Drizzle database on node-postgres, better-sqlite3 or mysql2 (drizzle(client), with its client as $client)",
      client !== undefined ? client : db,
    );
  }
  // report malformed options under this function's name
  createDbContext("auditDrizzle", driver, options, () => undefined);
  const marked = withOrm(options, "drizzle");
  if (driver === "better-sqlite3") auditSqlite(client as Parameters<typeof auditSqlite>[0], marked);
  else if (driver === "mysql2") auditMysql2(client as Parameters<typeof auditMysql2>[0], marked);
  else auditPg(client as Parameters<typeof auditPg>[0], marked);
  return db;
}
