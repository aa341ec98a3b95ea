/**
 * Backends from configuration. Each `type` maps to its implementation; SQL drivers
 * are loaded only when a database backend is used.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { createLineDecoder } from "../crypto/index.js";
import type { AuditEvent } from "../event/types.js";
import { createSubjectOpener, type SubjectKeyStore, sealedFieldTest } from "../privacy/subjects.js";
import type { StorageBackend } from "./backend.js";
import { FileBackend, type PruneHook } from "./file/file-backend.js";
import { createSqlBackend } from "./sql/index.js";

export interface BackendFactoryOptions {
  readonly onWarning: (message: string) => void;
  /** The subject keys (erasure enabled): events read back have their personal fields opened. */
  readonly subjects?: SubjectKeyStore;
  /** File backends: called before `rotation.backup_count` deletes files (see `FileBackendOptions`). */
  readonly beforePrune?: PruneHook;
}

/** The enabled backends of a configuration, in order. */
export function createBackends(config: ResolvedConfig, options: BackendFactoryOptions): StorageBackend[] {
  const backends: StorageBackend[] = [];
  const decrypt = createLineDecoder(config); // decrypts envelopes; plain lines as they are
  const open = options.subjects ? createSubjectOpener(config, options.subjects) : undefined;
  const decode = open ? (line: string): AuditEvent => open(decrypt(line)) : decrypt;
  const sealed = options.subjects ? sealedFieldTest(config) : undefined;
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
        createSqlBackend(b, {
          durability: config.performance.durability,
          onWarning: options.onWarning,
          ...(open ? { openEvent: open } : {}),
          ...(sealed ? { sealed } : {}),
        }),
      );
  }
  return backends;
}
