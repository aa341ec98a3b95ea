/**
 * The storage conformance suite on an encrypted database backend, built the way the engine
 * builds it (`createBackends`): rows hold envelopes, only `clear_fields` reach the indexed
 * columns, and everything else is decided on decrypted events. The answers must not change.
 *
 * @module
 */

import { loadConfig } from "../../src/config/index.js";
import type { DatabaseConnectionConfig } from "../../src/config/types.js";
import { createEncryptionStage } from "../../src/crypto/stage.js";
import { createBackends } from "../../src/storage/index.js";
import { runStorageConformance } from "./storage.js";

/** Fields kept readable: a clear column, a clear column under a prefix, and the rest sealed. */
export const CLEAR_FIELDS = ["action.category", "severity", "result"];

export function runEncryptedConformance(
  name: string,
  connection: DatabaseConnectionConfig,
  table: string,
): void {
  const config = loadConfig(
    {
      storage: { backends: [{ type: "database", connection, table_name: table }] },
      security: {
        encryption: { enabled: true, key: "6b".repeat(32), key_id: "conf1", clear_fields: CLEAR_FIELDS },
      },
    },
    { env: {} },
  );
  const stage = createEncryptionStage(config)!;
  runStorageConformance(
    `${name}, encrypted`,
    async () => createBackends(config, { onWarning: () => undefined })[0]!,
    {
      corpusSize: 3000,
      encode: (r) => ({ event: r.event, line: stage.encodeLine!(r.line, r.event) }),
    },
  );
}
