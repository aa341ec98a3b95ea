/**
 * Backends from configuration. Each `type` maps to its implementation; SQL drivers
 * are loaded only when a database backend is used.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { createLineDecoder } from "../crypto/index.js";
import type { StorageBackend } from "./backend.js";
import { FileBackend, type PruneHook } from "./file/file-backend.js";
import { createSqlBackend } from "./sql/index.js";

export interface BackendFactoryOptions {
  readonly onWarning: (message: string) => void;
  /** File backends: called before `rotation.backup_count` deletes files (see `FileBackendOptions`). */
  readonly beforePrune?: PruneHook;
}

/** The enabled backends of a configuration, in order. */
export function createBackends(config: ResolvedConfig, options: BackendFactoryOptions): StorageBackend[] {
  const backends: StorageBackend[] = [];
  const decode = createLineDecoder(config); // decrypts envelopes; plain lines as they are
  for (const b of config.storage.backends) {
    if (!b.enabled) continue;
    if (b.type === "file")
      backends.push(
        new FileBackend({
          config: b,
          application: config.core.application_name,
          decode,
          onWarning: options.onWarning,
          ...(options.beforePrune ? { beforePrune: options.beforePrune } : {}),
        }),
      );
    else
      backends.push(
        createSqlBackend(b, { durability: config.performance.durability, onWarning: options.onWarning }),
      );
  }
  return backends;
}
