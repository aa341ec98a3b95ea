/**
 * The outbox table per database: its schema, and the statements the outbox and its relay
 * run. Every statement begins with {@link OUTBOX_STATEMENT_MARK}, so the driver wrappers
 * (`auditPg`, `auditSqlite`, Kysely, Drizzle) do not audit the outbox's own plumbing.
 *
 * PostgreSQL orders rows by **commit**: a deferred constraint trigger runs at each
 * committing transaction's end, takes a transaction-scoped advisory lock (held until the
 * commit is visible) and numbers the transaction's rows from a sequence, then notifies the
 * relay (`NOTIFY`, delivered only on commit). A row's `seq` is therefore set only once its
 * transaction commits, and a larger `seq` is never visible before a smaller one.
 * SQLite runs one write transaction at a time, so its insert order is the commit order.
 *
 * @module
 */
import { OUTBOX_STATEMENT_MARK as M } from "../integrations/db-common.js";

/** The databases the outbox lives in. */
export type OutboxDialect = "postgres" | "sqlite";

/** The statements of one outbox table in one dialect. */
export interface OutboxStatements {
  /** Statements creating the table (and its ordering machinery) if missing; run in order. */
  readonly migrate: readonly string[];
  /** Insert one row: parameters id, payload (JSON text), created (ISO time). */
  readonly insert: string;
  /** The next committed rows in commit order: parameter limit; columns key, id, payload, attempts. */
  readonly next: string;
  /** Mark rows as handed to the audit pipeline: parameters their keys. */
  markAttempt(n: number): string;
  /** Delete relayed rows: parameters their keys. */
  remove(n: number): string;
  /** Committed rows waiting: column n. */
  readonly pending: string;
  /** The channel `NOTIFY` wakes the relay on (PostgreSQL). */
  readonly channel: string;
  /** The advisory lock key of the one relay (PostgreSQL), as SQL. */
  readonly relayLock: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** Whether `name` can be a table name (plain identifier, no quoting needed). */
export function validTableName(name: unknown): name is string {
  return typeof name === "string" && IDENT.test(name);
}

function list(n: number, placeholder: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => placeholder(i + 1)).join(", ");
}

/** The statements for table `t` in `dialect`. */
export function outboxStatements(dialect: OutboxDialect, t: string): OutboxStatements {
  if (dialect === "postgres") {
    const lockKey = `hashtext('vigil.outbox.${t}')`;
    return {
      migrate: [
        `${M} SELECT pg_advisory_xact_lock(${lockKey})`,
        `${M} CREATE TABLE IF NOT EXISTS ${t} (
  id uuid PRIMARY KEY,
  seq bigint,
  payload text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
)`,
        `${M} CREATE SEQUENCE IF NOT EXISTS ${t}_commit_seq`,
        `${M} CREATE INDEX IF NOT EXISTS ${t}_seq_idx ON ${t} (seq) WHERE seq IS NOT NULL`,
        `${M} CREATE OR REPLACE FUNCTION ${t}_at_commit() RETURNS trigger LANGUAGE plpgsql AS $vigil$
BEGIN
  -- held until this transaction's commit is visible: the next committer numbers after it
  PERFORM pg_advisory_xact_lock(${lockKey});
  UPDATE ${t} SET seq = nextval('${t}_commit_seq') WHERE id = NEW.id;
  PERFORM pg_notify('${t}', '');
  RETURN NULL;
END
$vigil$`,
        `${M} DO $vigil$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '${t}_at_commit' AND tgrelid = '${t}'::regclass) THEN
    CREATE CONSTRAINT TRIGGER ${t}_at_commit AFTER INSERT ON ${t}
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${t}_at_commit();
  END IF;
END $vigil$`,
      ],
      insert: `${M} INSERT INTO ${t} (id, payload, created_at) VALUES ($1, $2, $3)`,
      next: `${M} SELECT id::text AS key, id::text AS id, payload, attempts FROM ${t} WHERE seq IS NOT NULL ORDER BY seq LIMIT $1`,
      markAttempt: (n) =>
        `${M} UPDATE ${t} SET attempts = attempts + 1 WHERE id IN (${list(n, (i) => `$${i}::uuid`)})`,
      remove: (n) => `${M} DELETE FROM ${t} WHERE id IN (${list(n, (i) => `$${i}::uuid`)})`,
      pending: `${M} SELECT count(*)::int AS n FROM ${t} WHERE seq IS NOT NULL`,
      channel: t,
      // not the commit lock: the relay holds its own for as long as it leads
      relayLock: `hashtext('vigil.outbox.relay.${t}')`,
    };
  }
  return {
    migrate: [
      // seq: the rowid. Without AUTOINCREMENT a new row still numbers after every row present
      // (max + 1), which is all the relay's order needs, and no sqlite_sequence write per insert
      `${M} CREATE TABLE IF NOT EXISTS ${t} (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
)`,
      `${M} CREATE TABLE IF NOT EXISTS ${t}_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires INTEGER NOT NULL
)`,
    ],
    insert: `${M} INSERT INTO ${t} (id, payload, created_at) VALUES (?, ?, ?)`,
    next: `${M} SELECT seq AS key, id, payload, attempts FROM ${t} ORDER BY seq LIMIT ?`,
    markAttempt: (n) => `${M} UPDATE ${t} SET attempts = attempts + 1 WHERE seq IN (${list(n, () => "?")})`,
    remove: (n) => `${M} DELETE FROM ${t} WHERE seq IN (${list(n, () => "?")})`,
    pending: `${M} SELECT count(*) AS n FROM ${t}`,
    channel: t,
    relayLock: "",
  };
}

/** SQLite's relay lease: take it when free, expired, or ours; parameters holder, expires, holder, expires, holder, now. */
export function sqliteLeaseStatements(t: string): {
  readonly take: string;
  readonly read: string;
  readonly release: string;
} {
  return {
    take: `${M} INSERT INTO ${t}_lease (name, holder, expires) VALUES ('relay', ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = ?, expires = ? WHERE ${t}_lease.holder = ? OR ${t}_lease.expires < ?`,
    read: `${M} SELECT holder, expires FROM ${t}_lease WHERE name = 'relay'`,
    release: `${M} DELETE FROM ${t}_lease WHERE name = 'relay' AND holder = ?`,
  };
}
