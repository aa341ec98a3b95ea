/**
 * The known keys of every mapping in the configuration, by place. Unknown keys are
 * errors; this table also lets a misplaced key be pointed to where it belongs.
 *
 * @module
 */

/** The places that hold mappings, with their keys. */
export const KEYS = {
  root: ["core", "storage", "ingest", "processing", "performance", "compliance", "security"],
  core: ["enabled", "application_name", "version", "environment"],
  storage: ["backends"],
  fileBackend: ["type", "name", "enabled", "directory", "format", "filename_pattern", "rotation"],
  rotation: ["enabled", "when", "max_bytes", "backup_count", "compress", "compress_after_days"],
  databaseBackend: ["type", "name", "enabled", "connection", "table_name", "partitioning"],
  connection: ["dialect", "host", "port", "database", "username", "password", "url", "filename"],
  otlpBackend: [
    "type",
    "name",
    "enabled",
    "endpoint",
    "headers",
    "compression",
    "timeout_seconds",
    "max_batch_size",
    "buffer_size",
  ],
  natsBackend: [
    "type",
    "name",
    "enabled",
    "servers",
    "stream",
    "subject_prefix",
    "credentials_file",
    "tls",
    "max_age_seconds",
    "replicas",
    "duplicate_window_seconds",
  ],
  natsTls: ["ca", "cert", "key"],
  ingest: ["source"],
  ingestSource: [
    "servers",
    "stream",
    "subject_prefix",
    "credentials_file",
    "tls",
    "max_age_seconds",
    "replicas",
    "duplicate_window_seconds",
    "durable",
  ],
  processing: ["sanitization", "filters", "limits"],
  sanitization: ["enabled", "redact_patterns", "redact_keys", "replacement", "detect_secrets"],
  severityFilter: ["type", "levels"],
  categoryFilter: ["type", "include", "exclude"],
  limits: ["max_depth", "max_string_length", "max_entries"],
  performance: ["async", "batching", "durability"],
  async: ["enabled", "worker_threads", "queue_size", "on_full"],
  batching: ["enabled", "batch_size", "batch_timeout_seconds"],
  compliance: ["gdpr"],
  gdpr: ["enabled", "retention_days", "auto_delete_after_retention", "erasure"],
  erasure: ["enabled", "key", "fields", "key_store"],
  security: ["encryption", "signing"],
  encryption: ["enabled", "key", "key_id", "previous_keys", "clear_fields"],
  signing: [
    "enabled",
    "algorithm",
    "secret_key",
    "private_key",
    "public_key",
    "checkpoint_every",
    "checkpoint_interval_seconds",
    "witness",
  ],
} as const satisfies Record<string, readonly string[]>;

/** A place in {@link KEYS}. */
export type Place = keyof typeof KEYS;

/** How each place is named in a hint. */
export const PLACE_NAMES: Readonly<Record<Place, string>> = {
  root: "vigil",
  core: "vigil.core",
  storage: "vigil.storage",
  fileBackend: "a backend with type: file",
  rotation: "a file backend's rotation",
  databaseBackend: "a backend with type: database",
  connection: "a database backend's connection",
  otlpBackend: "a backend with type: otlp",
  natsBackend: "a backend with type: nats",
  natsTls: "a NATS connection's tls",
  ingest: "vigil.ingest",
  ingestSource: "vigil.ingest.source",
  processing: "vigil.processing",
  sanitization: "vigil.processing.sanitization",
  severityFilter: "a filter with type: severity",
  categoryFilter: "a filter with type: category",
  limits: "vigil.processing.limits",
  performance: "vigil.performance",
  async: "vigil.performance.async",
  batching: "vigil.performance.batching",
  compliance: "vigil.compliance",
  gdpr: "vigil.compliance.gdpr",
  erasure: "vigil.compliance.gdpr.erasure",
  security: "vigil.security",
  encryption: "vigil.security.encryption",
  signing: "vigil.security.signing",
};

/**
 * Where else `key` is valid, for a key that is unknown where it was written
 * (`batch_size` under `performance` → `vigil.performance.batching`). At most three places.
 */
export function placesOf(key: string): string[] {
  const places: string[] = [];
  for (const [place, keys] of Object.entries(KEYS) as [Place, readonly string[]][]) {
    if (keys.includes(key)) places.push(PLACE_NAMES[place]);
  }
  return places.length <= 3 ? places : [];
}
