/** The storage conformance suite on the PostgreSQL server of this machine. */
import { afterAll } from "vitest";
import { createSqlBackend } from "../../src/storage/sql/index.js";
import { runEncryptedConformance } from "./encrypted.js";
import { databaseConfig, dropTable, POSTGRES, uniqueTable } from "./sql-servers.js";
import { runStorageConformance } from "./storage.js";

const table = uniqueTable("conf_pg");
const encrypted = uniqueTable("conf_pg_enc");
afterAll(() => Promise.all([dropTable("postgresql", table), dropTable("postgresql", encrypted)]), 30_000);

runStorageConformance("postgresql", async () => createSqlBackend(databaseConfig(POSTGRES, table)));

runEncryptedConformance("postgresql", POSTGRES, encrypted);
