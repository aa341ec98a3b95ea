/**
 * Backends from configuration. Each `type` maps to its implementation; SQL drivers
 * are loaded only when a database backend is used.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import type { StorageBackend } from "./backend.js";
import { FileBackend } from "./file/file-backend.js";

export interface BackendFactoryOptions {
  readonly onWarning: (message: string) => void;
}

/** The enabled backends of a configuration, in order. */
export function createBackends(config: ResolvedConfig, options: BackendFactoryOptions): StorageBackend[] {
  const backends: StorageBackend[] = [];
  for (const b of config.storage.backends) {
    if (!b.enabled) continue;
    if (b.type === "file")
      backends.push(new FileBackend({ config: b, application: config.core.application_name, onWarning: options.onWarning }));
    // database backends: src/storage/sql (added with the SQL storage)
  }
  return backends;
}
