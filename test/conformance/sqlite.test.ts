/** The storage conformance suite on SQLite (a file in a temporary directory). */
import { afterAll } from "vitest";
import { createSqlBackend } from "../../src/storage/sql/index.js";
import { tempDir } from "../helpers.js";
import { runEncryptedConformance } from "./encrypted.js";
import { databaseConfig } from "./sql-servers.js";
import { runStorageConformance } from "./storage.js";

const temp = tempDir("vigil-sqlite-conformance-");
afterAll(() => temp.cleanup());

runStorageConformance("sqlite", async () =>
  createSqlBackend(databaseConfig({ dialect: "sqlite", filename: `${temp.dir}/audit.db` }, "audit_events")),
);

runEncryptedConformance(
  "sqlite",
  { dialect: "sqlite", filename: `${temp.dir}/encrypted.db` },
  "audit_events",
);
