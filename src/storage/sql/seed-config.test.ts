import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import {
  dropTable,
  MARIADB,
  mysqlQuery,
  POSTGRES,
  pgQuery,
  uniqueTable,
} from "../../../test/conformance/sql-servers.js";
import { tempDir } from "../../../test/helpers.js";
import { loadConfigFile } from "../../config/load.js";
import type { AuditEvent } from "../../event/types.js";
import { createSqlBackend } from "./index.js";

const temp = tempDir("vigil-sql-seed-");
afterAll(() => temp.cleanup());

/** The seed's config/audit.yaml with its database block enabled (and a table name of our own). */
function seedWithDatabase(table: string): string {
  const seed = readFileSync(new URL("../../../test/fixtures/seed-audit.yaml", import.meta.url), "utf8");
  const text = seed
    .replace(/enabled: false {2}# Enable when ready/, "enabled: true")
    .replace('table_name: "traffictracer_audit_events"', `table_name: "${table}"`);
  expect(text).not.toBe(seed);
  const file = `${temp.dir}/${table}.yaml`;
  writeFileSync(file, text);
  return file;
}

const event = (): AuditEvent => ({
  schema_version: 1,
  id: randomUUID(),
  timestamp: new Date().toISOString(),
  severity: "INFO",
  security_event: false,
  application: { name: "traffictracer", version: "2.0.0" },
  actor: { username: "alice" },
  action: { type: "APPLICATION_STARTUP", category: "SYSTEM" },
  result: { status: "SUCCESS" },
  metadata: { version: "2.0.0" },
});

describe("the seed's database block, enabled, with its DB_* variables set", () => {
  it.each([
    {
      dialect: "postgresql" as const,
      env: {
        DB_TYPE: "postgresql",
        DB_HOST: POSTGRES.host,
        DB_PORT: String(POSTGRES.port),
        DB_NAME: "test",
        DB_USER: "postgres",
        DB_PASSWORD: "",
      },
      rows: (table: string) => pgQuery(`SELECT id, category, actor_username, line FROM "${table}"`),
    },
    {
      dialect: "mysql" as const,
      env: {
        DB_TYPE: "mariadb",
        DB_HOST: MARIADB.host,
        DB_PORT: String(MARIADB.port),
        DB_NAME: "test",
        DB_USER: "root",
        DB_PASSWORD: "",
      },
      rows: (table: string) =>
        mysqlQuery(`SELECT id, category, actor_username, COALESCE(line, event) AS line FROM \`${table}\``),
    },
  ])("writes to $dialect on this machine", async ({ dialect, env, rows }) => {
    const table = uniqueTable("seed");
    try {
      const config = loadConfigFile(seedWithDatabase(table), { env });
      const database = config.storage.backends.find((b) => b.enabled && b.type === "database");
      if (database === undefined || !database.enabled || database.type !== "database")
        throw new Error("no database backend");
      expect(database.connection).toMatchObject({ dialect, port: Number(env.DB_PORT), database: "test" });
      const backend = createSqlBackend(database);
      await backend.open();
      const e = event();
      await backend.write([{ event: e, line: JSON.stringify(e) }], { sync: true });
      await backend.close();
      expect(await rows(table)).toEqual([
        { id: e.id, category: "SYSTEM", actor_username: "alice", line: JSON.stringify(e) },
      ]);
    } finally {
      await dropTable(dialect, table);
    }
  });
});
