/**
 * The audit table's shape, shared by every dialect: its columns, how a record fills
 * them, the names of the objects around it, and the versioned migrations that create
 * and evolve it (recorded in `<table>_migrations`, applied under a cross-process lock
 * on first use).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { StoredRecord } from "../backend.js";
import { clipText } from "./compile.js";
import { isPermanentError, type Row, type SqlClient, type SyncSqlClient } from "./driver.js";
import { type Rendered, render, sql } from "./sql.js";

/** The columns of schema versions 1 and 2 (before `tenant`), which their triggers name. */
export const V1_COLUMNS = [
  "id",
  "ts",
  "severity",
  "category",
  "type",
  "actor_username",
  "actor_id",
  "status",
  "resource_path",
  "security_event",
  "integrity_chain",
  "integrity_seq",
  "integrity_hash",
] as const;

/**
 * The columns every dialect writes, in insert order (PostgreSQL and MySQL add
 * `event`/`line` variants after them). `tenant` came with schema version 3.
 */
export const BASE_COLUMNS = [...V1_COLUMNS, "tenant"] as const;

/** One value per {@link BASE_COLUMNS} entry. */
export type BaseRow = [
  id: string,
  ts: string,
  severity: string | null,
  category: string | null,
  type: string | null,
  actorUsername: string | null,
  actorId: string | null,
  status: string | null,
  resourcePath: string | null,
  securityEvent: number,
  integrityChain: string | null,
  integritySeq: number | null,
  integrityHash: string | null,
  tenant: string | null,
];

function text(value: unknown): string | null {
  return typeof value === "string" ? clipText(value) : null;
}

function record(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/**
 * The column values of a record. The indexed text columns hold the event's strings
 * clipped to 200 code points (`NULL` when absent or not a string); the event itself
 * is stored whole as its JSON line.
 */
export function baseRow(stored: StoredRecord): BaseRow {
  const e = stored.event as unknown as Readonly<Record<string, unknown>>;
  const action = record(e.action);
  const actor = record(e.actor);
  const result = record(e.result);
  const resource = record(action?.resource);
  const integrity = record(e.integrity);
  const id = e.id;
  const ts = e.timestamp;
  if (typeof id !== "string" || typeof ts !== "string") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `an event to store needs a string id and timestamp; found id ${typeof id}, timestamp ${typeof ts}`,
    );
  }
  const seq = integrity?.seq;
  return [
    id,
    ts,
    text(e.severity),
    text(action?.category),
    text(action?.type),
    text(actor?.username),
    text(actor?.id),
    text(result?.status),
    text(resource?.path),
    e.security_event === true ? 1 : 0,
    text(integrity?.chain),
    typeof seq === "number" && Number.isSafeInteger(seq) ? seq : null,
    text(integrity?.hash),
    text(e.tenant),
  ];
}

/** The indexed columns an erasure rewrite sets (every base column but `id`), and their values. */
export function rewriteColumns(stored: StoredRecord): {
  names: readonly string[];
  values: BaseRow[number][];
} {
  const row = baseRow(stored);
  return { names: BASE_COLUMNS.slice(1), values: row.slice(1) };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The audit table's name split into schema and table, both validated identifiers. */
export interface TableName {
  readonly schema: string | undefined;
  readonly table: string;
}

/**
 * Splits and checks `table_name` (`events` or `audit.events`). The configuration
 * validates it already; this check keeps the backend safe when built directly.
 *
 * @example
 * parseTableName("audit.events"); // { schema: "audit", table: "events" }
 */
export function parseTableName(name: string): TableName {
  const parts = name.split(".");
  if (parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p))) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `table_name must be a SQL identifier (a letter or _, then letters, digits or _, at most 63), ` +
        `optionally after one schema prefix; found ${JSON.stringify(name)}`,
    );
  }
  return parts.length === 2
    ? { schema: parts[0] as string, table: parts[1] as string }
    : { schema: undefined, table: parts[0] as string };
}

/**
 * The name of an object derived from the table (`<table>_<suffix>`), kept within 63
 * characters: a long table name is cut and given a short hash so names stay unique.
 */
export function derivedName(table: string, suffix: string): string {
  const full = `${table}_${suffix}`;
  if (full.length <= 63) return full;
  const hash = createHash("sha256").update(table).digest("hex").slice(0, 8);
  return `${table.slice(0, 63 - suffix.length - 10)}_${hash}_${suffix}`;
}

/** One schema version: the statements that bring the previous version to it. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly statements: readonly string[];
}

/** What the migration runner needs from a dialect. */
export interface MigrationTarget {
  /** The quoted migrations table. */
  readonly migrationsTable: string;
  /** DDL creating the migrations table if it does not exist. */
  readonly createMigrationsTable: string;
  /** Every migration, in version order. */
  readonly migrations: readonly Migration[];
  readonly placeholders: "question" | "dollar";
  /** A name for the cross-process lock. */
  readonly lockName: string;
  /** A statement that reads nothing and fails only when the audit table is missing. */
  readonly probe?: string;
  /** The lock holds a transaction that a failed statement aborts (PostgreSQL): probe in a savepoint. */
  readonly probeInSavepoint?: boolean;
}

/**
 * Brings the schema to the latest version: creates the migrations table, then applies
 * each missing migration and records it, all under a lock so that two processes
 * starting together do not race. Returns the versions applied.
 */
export async function migrate(client: SqlClient, target: MigrationTarget): Promise<number[]> {
  return client.withLock(target.lockName, (locked) => runPlan(locked, target));
}

async function runPlan(locked: SqlClient, target: MigrationTarget): Promise<number[]> {
  const plan = migrationPlan(target);
  let step = plan.next();
  while (!step.done) {
    const s = step.value;
    if (s.kind === "exec") await locked.exec(s.statements).catch((e: unknown) => migrationFailed(e, s));
    else if (s.kind === "run") await locked.run(s.statement);
    step = plan.next(s.kind === "all" ? await locked.all(s.statement) : undefined);
  }
  return step.value;
}

/**
 * Whether `error` says a table does not exist: PostgreSQL `42P01`, MySQL/MariaDB 1146
 * (`42S02`), SQLite "no such table".
 */
export function isMissingTable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const e = error as { code?: unknown; sqlState?: unknown; errno?: unknown; message?: unknown };
  if (e.code === "42P01" || e.code === "ER_NO_SUCH_TABLE" || e.errno === 1146 || e.sqlState === "42S02")
    return true;
  return typeof e.message === "string" && /\bno such table\b/i.test(e.message);
}

/**
 * The audit table vanished (dropped by hand) while its migrations table survived, so
 * {@link migrate} believes the schema is current: under the migration lock, if the table is
 * still missing, forget the recorded versions and run every migration again (each is
 * idempotent on the objects that survived). Returns whether it rebuilt anything.
 */
export async function rebuildMissingTable(client: SqlClient, target: MigrationTarget): Promise<boolean> {
  const probe = target.probe;
  if (probe === undefined) return false;
  return client.withLock(target.lockName, async (locked) => {
    const savepoint = target.probeInSavepoint === true;
    try {
      await locked.exec(
        savepoint ? ["SAVEPOINT vigil_probe", probe, "RELEASE SAVEPOINT vigil_probe"] : [probe],
      );
      return false; // another process rebuilt it meanwhile
    } catch (error) {
      if (!isMissingTable(error)) throw error;
      if (savepoint) await locked.exec(["ROLLBACK TO SAVEPOINT vigil_probe"]);
    }
    await locked.exec([target.createMigrationsTable, `DELETE FROM ${target.migrationsTable}`]);
    await runPlan(locked, target);
    return true;
  });
}

/**
 * {@link migrate} on a synchronous connection (SQLite), in one `BEGIN IMMEDIATE`
 * transaction — the same write lock `withLock` takes there.
 */
export function migrateSync(client: SyncSqlClient, target: MigrationTarget): number[] {
  return client.transaction((session) => {
    const plan = migrationPlan(target);
    let step = plan.next();
    while (!step.done) {
      const s = step.value;
      if (s.kind === "exec") {
        try {
          for (const text of s.statements) session.exec(text);
        } catch (error) {
          migrationFailed(error, s);
        }
      } else if (s.kind === "run") session.run(s.statement);
      step = plan.next(s.kind === "all" ? session.all(s.statement) : undefined);
    }
    return step.value;
  });
}

/**
 * Rethrows a migration's failure: one the data or the schema caused (a row that does not
 * convert, a missing privilege) as a {@link VigilError} naming the version, so that the
 * backend stops and says so instead of retrying it as an outage; anything else as it was.
 */
function migrationFailed(error: unknown, step: MigrationStep & { kind: "exec" }): never {
  if (step.migration === undefined || !isPermanentError(error)) throw error;
  throw new VigilError(
    ErrorCodes.STORAGE,
    `cannot bring the audit table to schema version ${step.migration.version} (${step.migration.description}): ` +
      `${error instanceof Error ? error.message : String(error)}; the migration was not recorded — fix or remove the row named and restart`,
    { cause: error },
  );
}

/** A step of a migration: DDL to run, or a statement whose rows the plan reads. */
type MigrationStep =
  | { readonly kind: "exec"; readonly statements: readonly string[]; readonly migration?: Migration }
  | { readonly kind: "all" | "run"; readonly statement: Rendered };

/** The migration as steps, so that an asynchronous and a synchronous runner share it. */
function* migrationPlan(
  target: MigrationTarget,
): Generator<MigrationStep, number[], readonly Row[] | undefined> {
  yield { kind: "exec", statements: [target.createMigrationsTable] };
  const rows =
    (yield {
      kind: "all",
      statement: render(
        sql([`SELECT MAX(version) AS v FROM ${target.migrationsTable}`]),
        target.placeholders,
      ),
    }) ?? [];
  const current = Number(rows[0]?.v ?? 0);
  const latest = target.migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new VigilError(
      ErrorCodes.STORAGE,
      `the audit table is at schema version ${current}, newer than this vigil knows (${latest}); upgrade vigil`,
    );
  }
  const applied: number[] = [];
  for (const migration of target.migrations) {
    if (migration.version <= current) continue;
    yield { kind: "exec", statements: migration.statements, migration };
    yield {
      kind: "run",
      statement: render(
        sql(
          [
            `INSERT INTO ${target.migrationsTable} (version, description, applied_at) VALUES (`,
            ", ",
            ", ",
            ")",
          ],
          migration.version,
          migration.description,
          new Date().toISOString(),
        ),
        target.placeholders,
      ),
    };
    applied.push(migration.version);
  }
  return applied;
}
