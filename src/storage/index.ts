/**
 * Backends from configuration. Each `type` maps to its implementation; SQL drivers
 * are loaded only when a database backend is used.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { clearFieldTest, clearView } from "../crypto/clear.js";
import { createLineDecoder } from "../crypto/index.js";
import type { AuditEvent } from "../event/types.js";
import { createSubjectOpener, type SubjectKeyStore, sealedFieldTest } from "../privacy/subjects.js";
import type { StorageBackend } from "./backend.js";
import { FileBackend, type PruneHook } from "./file/file-backend.js";
import { NatsBackend } from "./nats/backend.js";
import { OtlpBackend } from "./otlp/backend.js";
import { COLUMN_OF_PATH } from "./sql/compile.js";
import { createSqlBackend } from "./sql/index.js";

export interface BackendFactoryOptions {
  readonly onWarning: (message: string) => void;
  /** The subject keys (erasure enabled): events read back have their personal fields opened. */
  readonly subjects?: SubjectKeyStore;
  /** File backends: called before `rotation.backup_count` deletes files (see `FileBackendOptions`). */
  readonly beforePrune?: PruneHook;
  /**
   * Database and nats backends: events kept in memory through an outage. The engine passes its
   * `queue_size` plus what its batches in flight carry, so a backend refuses nothing the
   * engine accepted; the engine stops accepting first (dropping, counted and recorded).
   */
  readonly bufferLimit?: number;
}

/** Whether a database keeps a copy of `field` in an indexed column. */
const isColumn = (field: string): boolean => Object.hasOwn(COLUMN_OF_PATH, field);

/** The enabled backends of a configuration, in order. */
export function createBackends(config: ResolvedConfig, options: BackendFactoryOptions): StorageBackend[] {
  const backends: StorageBackend[] = [];
  const decrypt = createLineDecoder(config); // decrypts envelopes; plain lines as they are
  const open = options.subjects ? createSubjectOpener(config, options.subjects) : undefined;
  const decode = open ? (line: string): AuditEvent => open(decrypt(line)) : decrypt;
  // What a database cannot filter on: personal fields sealed for erasure, and with
  // encryption every field but the clear ones (their columns stay empty).
  const encryption = config.security.encryption;
  const clear = encryption.enabled ? clearFieldTest(encryption.clear_fields) : undefined;
  const erasable = options.subjects ? sealedFieldTest(config) : undefined;
  const unreadable =
    clear && ((field: string) => !(field === "timestamp" || (isColumn(field) && clear(field))));
  const sealed =
    unreadable && erasable
      ? (field: string) => erasable(field) || unreadable(field)
      : (unreadable ?? erasable);
  const columnsFrom = encryption.enabled ? clearView(encryption.clear_fields) : undefined;
  for (const b of config.storage.backends) {
    if (!b.enabled) continue;
    if (b.type === "file")
      backends.push(
        new FileBackend({
          config: b,
          application: config.core.application_name,
          decode,
          // plain lines are JSON.parse'd as they are; envelopes and sealed subjects are judged decoded
          plainLines: true,
          sealedSubjects: open !== undefined,
          onWarning: options.onWarning,
          ...(options.beforePrune ? { beforePrune: options.beforePrune } : {}),
        }),
      );
    else if (b.type === "otlp")
      backends.push(
        new OtlpBackend(b, {
          onWarning: options.onWarning,
          ...(options.bufferLimit !== undefined ? { bufferLimit: options.bufferLimit } : {}),
          // with encryption, attributes come from what may stay readable; the body is the envelope
          ...(columnsFrom ? { view: columnsFrom } : {}),
        }),
      );
    else if (b.type === "nats")
      backends.push(
        new NatsBackend(b, {
          onWarning: options.onWarning,
          ...(options.bufferLimit !== undefined ? { bufferLimit: options.bufferLimit } : {}),
        }),
      );
    else
      backends.push(
        createSqlBackend(b, {
          durability: config.performance.durability,
          onWarning: options.onWarning,
          ...(options.bufferLimit !== undefined ? { bufferLimit: options.bufferLimit } : {}),
          ...(open || encryption.enabled ? { decode } : {}),
          ...(columnsFrom ? { columnsFrom, opaqueLines: true } : {}),
          ...(sealed ? { sealed } : {}),
        }),
      );
  }
  return backends;
}
