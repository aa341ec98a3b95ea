/**
 * The configuration's shape (SPEC §6). Keys are snake_case, as in the YAML file.
 * {@link VigilConfig} is what users write (everything optional);
 * {@link ResolvedConfig} is the same after validation, with every default filled in.
 *
 * @module
 */
import type { Severity } from "../event/types.js";

export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly DeepPartial<U>[]
  : T extends object
    ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export type RotationWhen = "midnight" | "hourly" | "size" | "none";

export interface FileRotationConfig {
  readonly enabled: boolean;
  readonly when: RotationWhen;
  /** With `when: size` (and as a cap otherwise when set): rotate a file past this many bytes. */
  readonly max_bytes: number;
  /** How many rotated files to keep per pattern; 0 keeps all. */
  readonly backup_count: number;
  readonly compress: boolean;
  /** Files whose newest event is older than this many days are gzipped. */
  readonly compress_after_days: number;
}

export interface FileBackendConfig {
  readonly type: "file";
  /** A unique name for this backend; default its type (`file`, `file-2`, ...). */
  readonly name: string;
  /** Always `true` here: a disabled backend resolves to a {@link DisabledBackendConfig}. */
  readonly enabled: true;
  readonly directory: string;
  readonly format: "json";
  /** Placeholders: `{category}` (lower case), `{date}` (UTC YYYY-MM-DD), `{application}`, `{hour}`. */
  readonly filename_pattern: string;
  readonly rotation: FileRotationConfig;
}

export type SqlDialect = "sqlite" | "postgresql" | "mysql";

export interface DatabaseConnectionConfig {
  readonly dialect: SqlDialect;
  readonly host?: string;
  readonly port?: number;
  readonly database?: string;
  readonly username?: string;
  readonly password?: string;
  readonly url?: string;
  /** SQLite database file (`:memory:` allowed). */
  readonly filename?: string;
}

export interface DatabaseBackendConfig {
  readonly type: "database";
  readonly name: string;
  /** Always `true` here: a disabled backend resolves to a {@link DisabledBackendConfig}. */
  readonly enabled: true;
  readonly connection: DatabaseConnectionConfig;
  readonly table_name: string;
  /**
   * PostgreSQL only: native range partitions of the table on the event time, one per day or
   * per month, created ahead of need; retention drops whole partitions. Default (and when absent) `"none"`.
   */
  readonly partitioning?: Partitioning;
}

/** How a PostgreSQL audit table is partitioned on event time. */
export type Partitioning = "none" | "daily" | "monthly";
/** `type: otlp`: OpenTelemetry logs over OTLP/HTTP (JSON encoding). See `docs/opentelemetry.md`. */
export interface OtlpBackendConfig {
  readonly type: "otlp";
  readonly name: string;
  /** Always `true` here: a disabled backend resolves to a {@link DisabledBackendConfig}. */
  readonly enabled: true;
  /** The OTLP/HTTP logs URL; default `http://127.0.0.1:4318/v1/logs`. */
  readonly endpoint: string;
  /** Extra request headers (`Authorization`, `DD-API-KEY`, ...), values may use `${VAR}`. */
  readonly headers: Readonly<Record<string, string>>;
  /** Request body compression; default `gzip`. */
  readonly compression: "gzip" | "none";
  /** A request that has not answered after this many seconds is abandoned and retried; default 10. */
  readonly timeout_seconds: number;
  /** Log records per request, at most; default 512. */
  readonly max_batch_size: number;
  /** Events held in memory while the collector cannot take them; default 10000. */
  readonly buffer_size: number;
}

/** TLS files of a NATS connection (PEM paths). */
export interface NatsTlsConfig {
  /** CA certificate(s) to trust. */
  readonly ca?: string;
  /** Client certificate (mutual TLS), with `key`. */
  readonly cert?: string;
  /** Client private key, with `cert`. */
  readonly key?: string;
}

/** Where a NATS JetStream stream is and how it is set up (the `nats` backend, `vigil.ingest.source`). */
export interface NatsStreamConfig {
  /** `nats://host:port` URLs; default `["nats://127.0.0.1:4222"]`. */
  readonly servers: readonly string[];
  /** The stream name; default `VIGIL`. */
  readonly stream: string;
  /** Subjects are `<subject_prefix>.events.<chain>` and `<subject_prefix>.records.<chain>`; default `vigil`. */
  readonly subject_prefix: string;
  /** A NATS `.creds` file (JWT + NKey seed). */
  readonly credentials_file?: string;
  readonly tls?: NatsTlsConfig;
  /** Used when the stream is created: messages older than this are removed. Default 7 days. */
  readonly max_age_seconds: number;
  /** Used when the stream is created: copies kept in a NATS cluster. Default 1. */
  readonly replicas: number;
  /** Messages with the same `Nats-Msg-Id` within this window are dropped by the server. Default 120. */
  readonly duplicate_window_seconds: number;
}

export interface NatsBackendConfig extends NatsStreamConfig {
  readonly type: "nats";
  readonly name: string;
  /** Always `true` here: a disabled backend resolves to a {@link DisabledBackendConfig}. */
  readonly enabled: true;
}

/** `vigil.ingest`: what `vigil ingest` reads. */
export interface IngestConfig {
  readonly source: NatsStreamConfig & {
    /** The durable pull consumer's name, shared by every `vigil ingest` of one central store. Default `vigil-ingest`. */
    readonly durable: string;
  };
}

/**
 * A backend written with `enabled: false`. Its settings were shape-checked, but they may
 * name environment variables that are not set, so only its type and name are kept.
 */
export interface DisabledBackendConfig {
  readonly type: "file" | "database" | "otlp" | "nats";
  readonly name: string;
  readonly enabled: false;
}

/** A backend that runs. */
export type EnabledBackendConfig =
  | FileBackendConfig
  | DatabaseBackendConfig
  | OtlpBackendConfig
  | NatsBackendConfig;

/** One entry of `storage.backends`; narrow on `enabled` first, then on `type`. */
export type BackendConfig = EnabledBackendConfig | DisabledBackendConfig;

/** A built-in rule name or a regular expression source. */
export type RedactPattern = "password" | "credit_card" | "ssn" | "email" | "secrets" | (string & {});

export interface SanitizationConfig {
  readonly enabled: boolean;
  readonly redact_patterns: readonly RedactPattern[];
  /** Extra key names whose values are replaced whole (case-insensitive). */
  readonly redact_keys: readonly string[];
  /** Replacement text; default `[REDACTED]`. */
  readonly replacement: string;
  /**
   * The `secrets` rule (JWTs, private keys, cloud and SaaS tokens, random values under
   * secret-like names): on unless `false`, whether or not `redact_patterns` lists `secrets`.
   * Default `true`; the resolved configuration always holds it.
   */
  readonly detect_secrets?: boolean;
}

export interface LimitsConfig {
  /** Objects nested deeper than this are cut and marked. Default 32. */
  readonly max_depth: number;
  /** Strings longer than this (UTF-16 units) are cut and marked. Default 65536. */
  readonly max_string_length: number;
  /** Arrays and objects with more entries are cut and marked. Default 1000. */
  readonly max_entries: number;
}

export type FilterConfig =
  | { readonly type: "severity"; readonly levels: readonly Severity[] }
  | { readonly type: "category"; readonly include?: readonly string[]; readonly exclude?: readonly string[] };

export interface ResolvedConfig {
  readonly core: {
    readonly enabled: boolean;
    readonly application_name: string;
    readonly version?: string;
    readonly environment?: string;
  };
  readonly storage: { readonly backends: readonly BackendConfig[] };
  /** Present when `vigil.ingest` is written: the stream `vigil ingest` reads. */
  readonly ingest?: IngestConfig;
  readonly processing: {
    readonly sanitization: SanitizationConfig;
    readonly filters: readonly FilterConfig[];
    readonly limits: LimitsConfig;
  };
  readonly performance: {
    readonly async: {
      readonly enabled: boolean;
      readonly worker_threads: number;
      readonly queue_size: number;
      readonly on_full: "block" | "drop";
    };
    readonly batching: {
      readonly enabled: boolean;
      readonly batch_size: number;
      readonly batch_timeout_seconds: number;
    };
    readonly durability: "none" | "batch" | "event";
  };
  readonly compliance: {
    readonly gdpr: {
      readonly enabled: boolean;
      readonly retention_days: number;
      readonly auto_delete_after_retention: boolean;
      /** Erasure by crypto-shredding (GDPR art. 17): see docs/privacy.md. */
      readonly erasure: {
        readonly enabled: boolean;
        /** The master key that wraps every subject's key (64 lower-case hex characters). */
        readonly key?: string;
        /** Personal fields sealed besides the actor's (dotted paths, e.g. `metadata.email`). */
        readonly fields: readonly string[];
        /** Where subject keys are kept; default `<first file backend directory>/subjects`. */
        readonly key_store?: string;
      };
    };
  };
  readonly security: {
    readonly encryption: {
      readonly enabled: boolean;
      /** The AES-256 key, normalized to 64 lower-case hex characters (written as hex or base64). */
      readonly key?: string;
      readonly key_id?: string;
      /** Older keys, by id, still used to read; normalized like `key`. */
      readonly previous_keys?: Readonly<Record<string, string>>;
      /**
       * Event fields (dotted paths, e.g. `action.category`) kept readable beside each
       * encrypted record — in the file envelope's `clear` member and in a database's indexed
       * columns — so that tools and SQL can filter on them. Default none: opt in only for
       * fields that carry no personal data.
       */
      readonly clear_fields: readonly string[];
    };
    readonly signing: {
      readonly enabled: boolean;
      readonly algorithm: "hmac-sha256" | "ed25519";
      readonly secret_key?: string;
      readonly private_key?: string;
      readonly public_key?: string;
      /** Sign a checkpoint every this many events. Default 1000. */
      readonly checkpoint_every: number;
      /** ...and at least every this many seconds. Default 60. */
      readonly checkpoint_interval_seconds: number;
      /**
       * A directory that receives a copy of every checkpoint (ideally on another machine or
       * write-once storage); `verify` reads it by default to catch a rolled-back store.
       */
      readonly witness?: string;
    };
  };
}

/** A backend as written: like the resolved one, with `enabled` either way. */
export type BackendInput =
  | (Omit<FileBackendConfig, "enabled"> & { readonly enabled: boolean })
  | (Omit<DatabaseBackendConfig, "enabled"> & { readonly enabled: boolean })
  | (Omit<OtlpBackendConfig, "enabled"> & { readonly enabled: boolean })
  | (Omit<NatsBackendConfig, "enabled"> & { readonly enabled: boolean });

/** The settings as written, before defaults (the shape under the top-level `vigil` key). */
export type ConfigInput = Omit<ResolvedConfig, "storage"> & {
  readonly storage: { readonly backends: readonly BackendInput[] };
};

/**
 * What users write: every key optional, with or without the top-level `vigil` key.
 * Strings may hold `${VAR}` references (see `docs/configuration.md`); in code, prefer
 * real values.
 */
export type VigilConfig = DeepPartial<ConfigInput> & { readonly vigil?: DeepPartial<ConfigInput> };
