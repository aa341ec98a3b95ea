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
import type { DatabaseBackendConfig } from "../../config/types.js";
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
 * @throws VigilError (`VIGIL_ERR_INVALID_ARGUMENT`) when `table_name` is not a SQL identifier.
 */
export function createSqlBackend(config: DatabaseBackendConfig, options: SqlBackendOptions = {}): SqlBackend {
  parseTableName(config.table_name);
  const { connection, table_name } = config;
  switch (connection.dialect) {
    case "sqlite":
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
