/**
 * The storage extension point (SPEC §8). Every backend — file, SQL, and whatever
 * comes later — implements {@link StorageBackend}. {@link BaseBackend} supplies
 * defaults for the optional capabilities so that adding one never breaks a backend.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import type { QueryNode } from "../query/ast.js";

/**
 * One event as the pipeline hands it to storage: the clean event object and its
 * serialized JSON line (without newline), produced once and shared by all backends.
 */
export interface StoredRecord {
  readonly event: AuditEvent;
  /** `JSON` of the stored form (possibly an encrypted envelope), no trailing newline. */
  readonly line: string;
}

/** A normalized search: what every backend must answer identically. */
export interface QuerySpec {
  /** Inclusive lower bound on `timestamp`. */
  readonly from?: Date;
  /** Exclusive upper bound on `timestamp`. */
  readonly to?: Date;
  /** The parsed query, with `category` and `filters` folded in; absent = match all. */
  readonly where?: QueryNode;
  /** `desc` (newest first, the default) or `asc`. Ties break on `id` in the same direction. */
  readonly order: "asc" | "desc";
  /** Resume after this position (exclusive), in the order above. */
  readonly after?: { readonly timestamp: string; readonly id: string };
  /** At most this many events; absent = no limit (streams). */
  readonly limit?: number;
  /**
   * Only events whose `tenant` is exactly this (case-sensitive), ANDed with everything
   * else: what binds a viewer to one tenant. Every backend must honour it (the conformance
   * suite checks); the engine also drops any event of another tenant a backend returns.
   */
  readonly tenant?: string;
  /** Optional: a backend may stop reading (and throw the signal's reason) once it aborts. */
  readonly signal?: AbortSignal;
}

/**
 * Where {@link StorageBackend.scan} hands its matches: whole events, only their timestamps,
 * or their timestamps and the value of one `field` (a resolved path) — which a backend may
 * hand as events instead (`values(times, values)`: the i-th match's timestamp and the
 * field's string, null when absent; a backend that cannot read the field calls `events`).
 */
export type ScanSink =
  | { readonly events: (batch: readonly AuditEvent[]) => void }
  | { readonly times: (batch: readonly string[]) => void }
  | {
      readonly field: string;
      readonly values: (times: readonly string[], values: readonly (string | null)[]) => void;
      readonly events: (batch: readonly AuditEvent[]) => void;
    };

/** See {@link StorageBackend.follow}. */
export interface StoreFollower {
  /** The matches stored since the previous poll, oldest first. */
  poll(): Promise<AuditEvent[]>;
  /** Bytes read from the store so far. */
  readonly bytesRead: number;
}

/** One value of a field and how many events have it. */
export interface ValueCount {
  readonly value: string;
  readonly count: number;
}

export interface BackendHealth {
  readonly type: string;
  readonly name: string;
  readonly healthy: boolean;
  /** The last error, when not healthy. */
  readonly error?: string;
}

export interface RetentionResult {
  /** Events (or, for files, whole files' events) deleted. */
  readonly deletedEvents: number;
  /** Files deleted (file backend). */
  readonly deletedFiles?: readonly string[];
}

export interface StorageBackend {
  readonly type: string;
  readonly name: string;
  /**
   * Optional: `true` for a backend that only carries events elsewhere (`otlp`, `nats`): its
   * `query` and `count` reject with `VIGIL_ERR_NOT_QUERYABLE`, and the engine asks the first
   * backend that is not write-only. Absent means queryable.
   */
  readonly writeOnly?: boolean;
  /** Prepare (create directories, tables, connect). Called once before the first write. */
  open(): Promise<void>;
  /** Persist a batch, in order. Resolves once written (and synced when `sync` is true). */
  write(batch: readonly StoredRecord[], options: { readonly sync: boolean }): Promise<void>;
  /**
   * Persist a batch synchronously, for the flush at process exit. Backends that
   * cannot write synchronously return false and keep the batch for `write`.
   */
  writeSync(batch: readonly StoredRecord[], options: { readonly sync: boolean }): boolean;
  /** Matching events, in `spec.order`. Must give the same answer as every other backend. */
  query(spec: QuerySpec): AsyncIterable<AuditEvent>;
  /** How many events match (ignores `limit` and `after`). */
  count(spec: QuerySpec): Promise<number>;
  /**
   * Optional: the `limit` most frequent values of `field` among the matches, by count then
   * value, counted by the backend itself (a database groups an indexed column), or
   * `undefined` when it cannot answer exactly — the engine then counts from a stream.
   */
  topValues?(spec: QuerySpec, field: string, limit: number): Promise<readonly ValueCount[] | undefined>;
  /**
   * Optional: events this backend holds in memory, not yet stored, for a later attempt (a
   * database backend buffering through an outage after `write` rejected). The engine counts
   * them against `performance.async.queue_size`, so what an outage holds stays bounded.
   */
  pendingEvents?(): number;
  /**
   * Optional: every match of `spec` (its `limit` and `after` ignored) in no particular order,
   * handed to `sink` in batches as it is read — no sorting, no await per event. Counts,
   * aggregations and facets use it. With a `times` sink only the timestamps are wanted, and a
   * backend need not build the events.
   */
  scan?(spec: QuerySpec, sink: ScanSink): Promise<void>;
  /**
   * Optional: follow the store for a live tail. The follower's `poll()` gives the matches of
   * `spec` (oldest first) stored since its previous poll — the first poll every match stored
   * so far — reading only what was added since.
   */
  follow?(spec: QuerySpec): StoreFollower;
  /** Delete what is older than `cutoff`. */
  applyRetention(cutoff: Date, options: { readonly dryRun: boolean }): Promise<RetentionResult>;
  health(): BackendHealth;
  /** Flush and release files, timers and connections. */
  close(): Promise<void>;
}

/** Defaults for the optional parts of a backend. */
export abstract class BaseBackend implements StorageBackend {
  abstract readonly type: string;
  readonly name: string;
  #lastError: string | undefined;

  constructor(name: string) {
    this.name = name;
  }

  async open(): Promise<void> {}

  abstract write(batch: readonly StoredRecord[], options: { readonly sync: boolean }): Promise<void>;

  writeSync(_batch: readonly StoredRecord[], _options: { readonly sync: boolean }): boolean {
    return false;
  }

  abstract query(spec: QuerySpec): AsyncIterable<AuditEvent>;

  async count(spec: QuerySpec): Promise<number> {
    let n = 0;
    for await (const _ of this.query({ ...spec, limit: undefined, after: undefined })) n++;
    return n;
  }

  async applyRetention(_cutoff: Date, _options: { readonly dryRun: boolean }): Promise<RetentionResult> {
    return { deletedEvents: 0 };
  }

  /** Record the outcome of an operation for `health()`. */
  protected markHealthy(): void {
    this.#lastError = undefined;
  }

  protected markUnhealthy(error: unknown): void {
    this.#lastError = error instanceof Error ? error.message : String(error);
  }

  health(): BackendHealth {
    return this.#lastError === undefined
      ? { type: this.type, name: this.name, healthy: true }
      : { type: this.type, name: this.name, healthy: false, error: this.#lastError };
  }

  async close(): Promise<void> {}
}
