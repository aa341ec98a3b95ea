/**
 * The real database servers the SQL tests run against (PostgreSQL and MariaDB on this
 * machine), unique table names so that test files can run in parallel, and cleanup.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import pg from "pg";
import type { DatabaseBackendConfig, DatabaseConnectionConfig } from "../../src/config/types.js";
import { derivedName } from "../../src/storage/sql/schema.js";

export const POSTGRES: DatabaseConnectionConfig = {
  dialect: "postgresql",
  host: process.env.VIGIL_TEST_PG_HOST ?? "127.0.0.1",
  port: Number(process.env.VIGIL_TEST_PG_PORT ?? 5432),
  database: process.env.VIGIL_TEST_PG_DATABASE ?? "test",
  username: process.env.VIGIL_TEST_PG_USER ?? "postgres",
};

export const MARIADB: DatabaseConnectionConfig = {
  dialect: "mysql",
  host: process.env.VIGIL_TEST_MYSQL_HOST ?? "127.0.0.1",
  port: Number(process.env.VIGIL_TEST_MYSQL_PORT ?? 3306),
  database: process.env.VIGIL_TEST_MYSQL_DATABASE ?? "test",
  username: process.env.VIGIL_TEST_MYSQL_USER ?? "root",
  password: process.env.VIGIL_TEST_MYSQL_PASSWORD ?? "",
};

/** A table name no other test file uses. */
export function uniqueTable(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** A resolved `type: database` backend configuration. */
export function databaseConfig(
  connection: DatabaseConnectionConfig,
  table: string,
  name = "db",
): DatabaseBackendConfig {
  return { type: "database", name, enabled: true, connection, table_name: table };
}

/** A connected PostgreSQL client (not through vigil); the caller ends it. */
export async function pgConnect(connection: DatabaseConnectionConfig = POSTGRES): Promise<pg.Client> {
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.username,
  });
  await client.connect();
  return client;
}

/** A MariaDB connection (not through vigil); the caller ends it. */
export function mysqlConnect(connection: DatabaseConnectionConfig = MARIADB): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: connection.host,
    port: connection.port,
    database: connection.database,
    user: connection.username,
    password: connection.password,
    // DATETIME(3) columns read as Dates in UTC and Dates written as UTC, whatever the machine's zone
    timezone: "Z",
  });
}

/** Runs SQL on PostgreSQL directly (not through vigil). */
export async function pgQuery(text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = await pgConnect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Runs SQL on MariaDB directly (not through vigil). */
export async function mysqlQuery(text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const conn = await mysqlConnect();
  try {
    const [rows] = await conn.query(text, values);
    return rows as Record<string, unknown>[];
  } finally {
    await conn.end();
  }
}

/** Drops a vigil table and everything created with it (on the shared server, or through `query`). */
export async function dropTable(
  dialect: "postgresql" | "mysql",
  table: string,
  query: (text: string) => Promise<unknown> = dialect === "postgresql" ? pgQuery : mysqlQuery,
): Promise<void> {
  if (dialect === "postgresql") {
    await query(`DROP TABLE IF EXISTS "${table}" CASCADE`);
    await query(`DROP TABLE IF EXISTS "${derivedName(table, "checkpoints")}" CASCADE`);
    await query(`DROP TABLE IF EXISTS "${derivedName(table, "migrations")}"`);
    await query(`DROP FUNCTION IF EXISTS "${derivedName(table, "guard")}"()`);
    await query(`DROP FUNCTION IF EXISTS "${derivedName(table, "checkpoints_guard")}"()`);
  } else {
    await query(`DROP TABLE IF EXISTS \`${table}\``);
    await query(`DROP TABLE IF EXISTS \`${derivedName(table, "checkpoints")}\``);
    await query(`DROP TABLE IF EXISTS \`${derivedName(table, "migrations")}\``);
  }
}
