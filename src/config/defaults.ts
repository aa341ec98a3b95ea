/**
 * The built-in defaults (SPEC §6): what every key resolves to when it is not written.
 * `docs/configuration.md` lists the same values; a test keeps the two in step.
 *
 * @module
 */
import type { FileBackendConfig, FileRotationConfig, ResolvedConfig } from "./types.js";

/** Rotation of a file backend: daily, keep every file, gzip after a week. */
export const DEFAULT_ROTATION: FileRotationConfig = Object.freeze({
  enabled: true,
  when: "midnight",
  max_bytes: 104_857_600,
  backup_count: 0,
  compress: false,
  compress_after_days: 7,
});

/** The file backend used when `storage.backends` is not written; also the defaults of any file backend. */
export const DEFAULT_FILE_BACKEND: FileBackendConfig = Object.freeze({
  type: "file",
  name: "file",
  enabled: true,
  directory: "./logs/audit",
  format: "json",
  filename_pattern: "{application}_audit_{category}_{date}.log",
  rotation: DEFAULT_ROTATION,
});

/** The SQLite file of a database backend with `dialect: sqlite` and no `filename`. */
export const DEFAULT_SQLITE_FILENAME = "./logs/audit.db";

/** The table of a database backend with no `table_name`. */
export const DEFAULT_TABLE_NAME = "vigil_audit_events";

/** The built-in redaction rules, by name; any other `redact_patterns` entry is a regular expression. */
export const BUILTIN_REDACT_PATTERNS = ["password", "credit_card", "ssn", "email", "secrets"] as const;

/**
 * `redact_patterns` when none is written. `secrets` is not listed: it is on by itself unless
 * `detect_secrets: false` (see `SanitizationConfig.detect_secrets`).
 */
export const DEFAULT_REDACT_PATTERNS = ["password", "credit_card", "ssn", "email"] as const;

/**
 * The whole configuration when nothing is written: enabled, one file backend under
 * `./logs/audit`, sanitization on, asynchronous batched writes, no encryption or signing.
 */
export const DEFAULT_CONFIG: ResolvedConfig = deepFreeze({
  core: { enabled: true, application_name: "vigil" },
  storage: { backends: [DEFAULT_FILE_BACKEND] },
  processing: {
    sanitization: {
      enabled: true,
      redact_patterns: [...DEFAULT_REDACT_PATTERNS],
      redact_keys: [],
      replacement: "[REDACTED]",
      detect_secrets: true,
    },
    filters: [],
    limits: { max_depth: 32, max_string_length: 65_536, max_entries: 1000 },
  },
  performance: {
    async: { enabled: true, worker_threads: 0, queue_size: 10_000, on_full: "block" },
    batching: { enabled: true, batch_size: 100, batch_timeout_seconds: 1 },
    durability: "batch",
  },
  compliance: {
    gdpr: {
      enabled: false,
      retention_days: 0,
      auto_delete_after_retention: false,
      erasure: { enabled: false, fields: [] },
    },
  },
  security: {
    encryption: { enabled: false, clear_fields: [] },
    signing: {
      enabled: false,
      algorithm: "hmac-sha256",
      checkpoint_every: 1000,
      checkpoint_interval_seconds: 60,
    },
  },
});

/** Freeze `value` and everything reachable from it; returns `value`. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
