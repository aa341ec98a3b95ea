/** The storage conformance suite on the MariaDB server of this machine. */
import { afterAll } from "vitest";
import { createSqlBackend } from "../../src/storage/sql/index.js";
import { runEncryptedConformance } from "./encrypted.js";
import { databaseConfig, dropTable, MARIADB, uniqueTable } from "./sql-servers.js";
import { runStorageConformance } from "./storage.js";

const table = uniqueTable("conf_my");
const encrypted = uniqueTable("conf_my_enc");
afterAll(() => Promise.all([dropTable("mysql", table), dropTable("mysql", encrypted)]), 30_000);

runStorageConformance("mysql", async () => createSqlBackend(databaseConfig(MARIADB, table)));

runEncryptedConformance("mysql", MARIADB, encrypted);
