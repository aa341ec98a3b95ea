/**
 * TrafficTracer's connection manager (`core/connection_manager.py` in the seed, hook
 * point 4). Opening a connection is one audited unit of work:
 * `AuditContext.run({ action: "CONNECTION_CREATE", category: "DATABASE", resource })`
 * records its duration and outcome — SUCCESS, or FAILURE with the driver's error, which
 * is re-thrown unchanged.
 *
 * @example
 * const connections = new ConnectionManager();
 * const main = connections.createConnection({ database: "traffictracer" }); // in memory
 * const archive = connections.createConnection({ database: "archive", filename: "data/archive.db" });
 *
 * With `new ConnectionManager({ auditStatements: true })` every statement the driver runs
 * is recorded too (`DATABASE` / `QUERY_EXECUTION`, from `vigil-audit/better-sqlite3`),
 * beside the connector's own `QUERY` events.
 *
 * @module
 */
import Database from "better-sqlite3";
import { AuditContext } from "vigil-audit";
import { auditSqlite } from "vigil-audit/better-sqlite3";
import { DatabaseConnector } from "./db_connector.js";

/** What TrafficTracer knows about a database to connect to. */
export interface ConnectionInfo {
  /** The logical database name; the audit event's resource. */
  readonly database: string;
  /** The SQLite file; default `:memory:` (a fresh in-memory database). */
  readonly filename?: string;
  /** Open read-only. Default false. */
  readonly readonly?: boolean;
  /** Fail instead of creating a missing file. Default false. */
  readonly fileMustExist?: boolean;
}

/** Options of {@link ConnectionManager}. */
export interface ConnectionManagerOptions {
  /**
   * Also audit every statement at the driver (`auditSqlite` from `vigil-audit/better-sqlite3`):
   * one `DATABASE` / `QUERY_EXECUTION` event per statement, with its SQL and bound values.
   * Default false: the connector's `QUERY` events only.
   */
  readonly auditStatements?: boolean;
}

/** Opens and tracks TrafficTracer's database connections. */
export class ConnectionManager {
  readonly #connections = new Map<string, DatabaseConnector>();
  readonly #auditStatements: boolean;

  constructor(options: ConnectionManagerOptions = {}) {
    this.#auditStatements = options.auditStatements === true;
  }

  /**
   * Open a connection and record `CONNECTION_CREATE` (category `DATABASE`, resource the
   * database name, metadata the driver and file). A connection already open under the
   * same name is closed first.
   *
   * @throws the driver's error (e.g. `SqliteError: unable to open database file`), after recording it.
   */
  createConnection(info: ConnectionInfo): DatabaseConnector {
    return AuditContext.run(
      { action: "CONNECTION_CREATE", category: "DATABASE", resource: info.database },
      (ctx) => {
        const filename = info.filename ?? ":memory:";
        ctx.set({ metadata: { driver: "better-sqlite3", filename, readonly: info.readonly === true } });
        const connector = this.#establishConnection(info, filename);
        this.#connections.get(info.database)?.close();
        this.#connections.set(info.database, connector);
        return connector;
      },
    );
  }

  #establishConnection(info: ConnectionInfo, filename: string): DatabaseConnector {
    const db = new Database(filename, {
      readonly: info.readonly === true,
      fileMustExist: info.fileMustExist === true,
    });
    return new DatabaseConnector(this.#auditStatements ? auditSqlite(db) : db);
  }

  /** The open connection to `database`, if any. */
  get(database: string): DatabaseConnector | undefined {
    return this.#connections.get(database);
  }

  /** Close every connection. */
  closeAll(): void {
    for (const connector of this.#connections.values()) connector.close();
    this.#connections.clear();
  }
}
