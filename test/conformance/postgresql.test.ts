/** The storage conformance suite on the PostgreSQL server of this machine. */
import { afterAll } from "vitest";
import { createSqlBackend } from "../../src/storage/sql/index.js";
import { runEncryptedConformance } from "./encrypted.js";
import { databaseConfig, dropTable, POSTGRES, uniqueTable } from "./sql-servers.js";
import { runStorageConformance } from "./storage.js";

const table = uniqueTable("conf_pg");
const encrypted = uniqueTable("conf_pg_enc");
const partitioned = uniqueTable("conf_pg_part");
afterAll(
  () =>
    Promise.all([
      dropTable("postgresql", table),
      dropTable("postgresql", encrypted),
      dropTable("postgresql", partitioned),
    ]),
  30_000,
);

runStorageConformance("postgresql", async () => createSqlBackend(databaseConfig(POSTGRES, table)));

runStorageConformance("postgresql, partitioned by day", async () =>
  createSqlBackend({ ...databaseConfig(POSTGRES, partitioned), partitioning: "daily" }),
);

runEncryptedConformance("postgresql", POSTGRES, encrypted);
