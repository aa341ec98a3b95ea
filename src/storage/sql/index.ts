/**
 * The SQL storage backend (`type: database`): SQLite embedded, PostgreSQL, and
 * MySQL/MariaDB, with one query language and the same answers everywhere. Drivers
 * (`better-sqlite3`, `pg`, `mysql2`) are optional peer dependencies loaded only when
 * their dialect is used. See `docs/storage-sql.md`.
 *
 * @example
 * const backend = createSqlBackend({
 *   type: "database", name: "audit-db", enabled: true,
 *   connection: { dialect: "postgresql", host: "127.0.0.1", database: "audit", username: "vigil" },
 *   table_name: "audit_events",
 * });
 * await backend.open();
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import type { DatabaseBackendConfig } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { networkFilesystem } from "../netfs.js";
import { SqlBackend } from "./backend.js";
import type { SqlBackendOptions } from "./dialect.js";
import { connectMysql } from "./mysql.js";
import { connectPostgres } from "./postgres.js";
import { parseTableName } from "./schema.js";
import { connectSqlite, connectSqliteSync } from "./sqlite.js";

export { SqlBackend, SqlWriteError } from "./backend.js";
export type { SqlBackendOptions } from "./dialect.js";

/**
 * Builds the database backend for a resolved `type: database` configuration. Nothing
 * connects until `open()` (or the first write); the driver is imported then.
 *
 * @param config - the resolved backend configuration (dialect normalized, `table_name` validated).
 * @param options - settings outside the configuration file; see {@link SqlBackendOptions}.
 * @throws VigilError (`VIGIL_ERR_INVALID_ARGUMENT`) when `table_name` is not a SQL identifier;
 * (`VIGIL_ERR_CONFIG`) when a SQLite file is on a network filesystem.
 */
export function createSqlBackend(config: DatabaseBackendConfig, options: SqlBackendOptions = {}): SqlBackend {
  parseTableName(config.table_name);
  const { connection, table_name } = config;
  switch (connection.dialect) {
    case "sqlite":
      refuseNetworkSqlite(config);
      return new SqlBackend(
        config,
        () => connectSqlite(connection, table_name, options),
        options,
        () => connectSqliteSync(connection, table_name, options),
      );
    case "postgresql":
      return new SqlBackend(
        config,
        (onIdleError) =>
          connectPostgres(
            connection,
            table_name,
            options,
            onIdleError,
            `vigil:${config.name}`,
            config.partitioning ?? "none",
          ),
        options,
      );
    case "mysql":
      return new SqlBackend(config, () => connectMysql(connection, table_name, options), options);
  }
}

/**
 * SQLite on a network filesystem (NFS, SMB, ...) is refused: its WAL mode, which lets
 * several processes write one file, needs memory shared on one host, and SQLite's file
 * locks are unreliable there — sharing such a file corrupts it silently.
 */
function refuseNetworkSqlite(config: DatabaseBackendConfig): void {
  const filename = config.connection.filename ?? "./logs/audit.db";
  if (filename === "" || filename === ":memory:" || filename.startsWith("file:")) return;
  const fs = networkFilesystem(dirname(filename));
  if (fs === undefined) return;
  throw new VigilError(
    ErrorCodes.CONFIG,
    `${config.name}: the SQLite database ${resolve(filename)} is on a network filesystem (${fs}); ` +
      "SQLite cannot be shared safely there (its WAL needs memory shared on one host, and its locks are unreliable). " +
      "Put the file on a local disk, or use PostgreSQL or MySQL for a store shared by several hosts.",
  );
}
