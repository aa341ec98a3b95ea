/**
 * The engine (SPEC §4): configuration → pipeline → storage backends.
 *
 * ```
 * log(input) ─ build (id, time, scope) ─ filter ─┬─ queue ─ batch ─┐
 *                                                └─ (sync mode) ───┴─ prepare (safe copy + redact)
 *   ─ serialize ─ [integrity] ─ [encryption] ─ fan-out to every backend (each isolated)
 * ```
 *
 * Nothing here throws into the audited application: every failure is counted in
 * {@link AuditEngine.metrics} and reported through `engine.on("error")`.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { hostname } from "node:os";
import { currentScope } from "./capture/scope.js";
import { loadConfig } from "./config/index.js";
import type { ResolvedConfig, VigilConfig } from "./config/types.js";
import { createEncryptionStage } from "./crypto/index.js";
import { ErrorCodes, VigilError } from "./errors.js";
import { buildEvent } from "./event/build.js";
import { toJsonLine } from "./event/serialize.js";
import type { Application, AuditEvent, LogInput, Mutable } from "./event/types.js";
import { type ExportOptions, type ExportResult, exportSearch } from "./export/index.js";
import {
  createIntegrityStage,
  createSigner,
  retainBackend,
  rotationRetention,
  type StoreVerifyResult,
  type VerifyProgress,
  verifyBackends,
} from "./integrity/index.js";
import { type Flushable, registerExitFlush, unregisterExitFlush } from "./pipeline/exit.js";
import { compileFilters, type EventFilter } from "./pipeline/filter.js";
import { compilePrepare, type Prepare } from "./pipeline/prepare.js";
import type { BatchStage } from "./pipeline/stage.js";
import { eraseInFiles, type StoreErasure } from "./privacy/erase-files.js";
import { eraseInRows } from "./privacy/erase-rows.js";
import { createLineRewriter } from "./privacy/rewrite.js";
import { createSubjectStage, type SubjectKeyStore, subjectKeyStoreFor } from "./privacy/subjects.js";
import { type AggregateResult, type AggregateSearchOptions, aggregateSearch } from "./query/aggregate.js";
import { encodeCursor } from "./query/cursor.js";
import { checkFieldName, compilePath, resolveField } from "./query/fields.js";
import { type SearchOptions, type SearchPage, toQuerySpec } from "./query/search.js";
import type {
  BackendHealth,
  QuerySpec,
  RetentionResult,
  StorageBackend,
  StoredRecord,
  StoreFollower,
  ValueCount,
} from "./storage/backend.js";
import { FileBackend } from "./storage/file/file-backend.js";
import { createBackends } from "./storage/index.js";
import { NatsBackend } from "./storage/nats/backend.js";
import { SqlBackend } from "./storage/sql/backend.js";

/** The stages the configuration creates; one passed under the same name replaces it. */
const BUILT_IN_STAGES = new Set(["subject", "integrity", "encryption"]);

export interface AuditEngineOptions {
  /** The configuration object (with or without the top-level `vigil` key). */
  readonly config?: VigilConfig;
  /** A YAML configuration file; ignored when `config` is given. */
  readonly configFile?: string;
  /** Extra backends, used besides the configured ones (tests, custom storage). */
  readonly backends?: readonly StorageBackend[];
  /**
   * Extra batch stages, run after the configured ones (integrity, encryption). A stage named
   * `integrity` or `encryption` replaces the one the configuration would create (e.g. an
   * integrity stage with its own checkpoint sink), in the same place.
   */
  readonly stages?: readonly BatchStage[];
  /** Environment for `${VAR}` and `VIGIL_ENABLED`; default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Only read the store (search, count, export, verify): nothing is recorded, no
   * directory is created, no housekeeping (gzip, pruning) runs, no chain or exit hook
   * is set up. What the command line uses. Default false.
   */
  readonly readOnly?: boolean;
}

/** Counters and gauges of one engine. */
export interface EngineMetrics {
  /** Events accepted by `log()` (after filters). */
  readonly logged: number;
  /** Events dropped by filters, in all and per category. */
  readonly filtered: number;
  readonly filtered_by_category: Readonly<Record<string, number>>;
  /** Events accepted, per category and outcome. */
  readonly logged_by_category: Readonly<
    Record<string, { readonly success: number; readonly failure: number }>
  >;
  /** Events written by at least one backend. */
  readonly written: number;
  /** Events dropped because the queue was full (`on_full: drop`). */
  readonly dropped: number;
  /** Events no backend could write. */
  readonly failed: number;
  /** Errors that occurred (failed writes, bad input, ...), reported or not. */
  readonly errors: number;
  /**
   * Of `errors`, the repeats not reported again: a backend's failure is reported through
   * `on("error")` once per kind (backend and errno or code) until that backend writes again.
   */
  readonly errors_suppressed: number;
  /**
   * Events in this process's memory not yet stored: the queue, batches held for a store that
   * refused them (a full disk), and those a database is still committing.
   */
  readonly queue_depth: number;
  readonly batches: number;
  /** Mean and last time from taking a batch off the queue to every backend having answered. */
  readonly batch_latency_ms: { readonly mean: number; readonly last: number };
  /**
   * Per backend: events written, events it failed to write, its health, and the events it
   * holds in memory for a later attempt (`buffered`: a database through an outage, counted
   * in `queue_depth` too).
   */
  readonly backends: Readonly<
    Record<
      string,
      {
        readonly written: number;
        readonly failed: number;
        readonly healthy: boolean;
        readonly buffered: number;
      }
    >
  >;
}

/** A UUID as `getEvent` accepts it (any version: stores may hold ids from elsewhere). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Batches written but not yet acknowledged (fsync, commit) at once; more waits. */
const MAX_BATCHES_IN_FLIGHT = 4;

interface Entry {
  readonly event: Mutable<AuditEvent>;
  readonly waiter?: { resolve(e: AuditEvent): void; reject(e: unknown): void };
}

/** What {@link AuditEngine.eraseSubject} did. */
export interface SubjectErasure {
  readonly subject: string;
  /** The person's pseudonym, when crypto-shredding (`compliance.gdpr.erasure`) is on. */
  readonly ref?: string;
  /** Crypto-shredding: the person's key existed and was destroyed. */
  readonly erased: boolean;
  /** Events redacted in place, across every backend. */
  readonly rewritten: number;
  /** Per file or database backend: what was rewritten and signed. */
  readonly stores: readonly StoreErasure[];
}

/** A prepared batch no backend could take (a full disk): written, in order, once one can. */
interface HeldBatch {
  readonly entries: Entry[];
  readonly records: StoredRecord[];
  readonly started: number;
}

/**
 * Failures a later attempt can get past without anyone changing the configuration: a full
 * disk or quota, too many open files, permissions or a read-only mount fixed by an operator,
 * a directory deleted (recreated on the next attempt), a transient I/O error.
 */
const RETRYABLE = new Set([
  "ENOSPC",
  "EDQUOT",
  "EMFILE",
  "ENFILE",
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOENT",
  "EIO",
  "EAGAIN",
  "EBUSY",
  "EINTR",
  "ENOMEM",
]);

/** First and longest pause before a held batch is tried again. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1000;

/** The errno (`ENOSPC`) or code (`VIGIL_ERR_…`) an error or one of its causes carries. */
function errorKind(err: unknown): string {
  let e: unknown = err;
  let code: string | undefined;
  for (let depth = 0; depth < 5 && e !== null && typeof e === "object"; depth++) {
    const c = (e as { errno?: unknown; code?: unknown }).code;
    const errno = (e as { errno?: unknown }).errno;
    if (typeof errno === "string" && /^E[A-Z]+$/.test(errno)) return errno;
    if (typeof c === "string") {
      if (/^E[A-Z0-9]+$/.test(c)) return c;
      code ??= c;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return code ?? (err instanceof Error ? err.name : typeof err);
}

interface EngineEvents {
  error: [VigilError];
  warning: [string];
}

/**
 * Records audit events and answers questions about them.
 *
 * @example
 * const engine = new AuditEngine({ configFile: "config/audit.yaml" });
 * engine.log({ action: "APPLICATION_STARTUP", category: "SYSTEM", metadata: { version: "2.0.0" } });
 * const failed = await engine.search({ query: "action.type:LOGIN AND result.status:FAILURE", timeRange: "last_24h" });
 */
export class AuditEngine extends EventEmitter<EngineEvents> implements Flushable {
  /** The validated configuration, every default filled in. */
  readonly config: ResolvedConfig;
  readonly #enabled: boolean;
  readonly #application: Application;
  readonly #filter: EventFilter | undefined;
  readonly #prepare: Prepare;
  readonly #backends: readonly StorageBackend[];
  readonly #stages: readonly BatchStage[];
  /** The per-person keys of erasure (`compliance.gdpr.erasure`), when enabled. */
  readonly #subjects: SubjectKeyStore | undefined;
  /** The stage that writes stored lines (the integrity stage's canonical line), if any. */
  readonly #serializer: BatchStage | undefined;
  readonly #async: boolean;
  readonly #batchSize: number;
  readonly #batchTimeoutMs: number;
  readonly #queueSize: number;
  readonly #dropWhenFull: boolean;
  readonly #durability: ResolvedConfig["performance"]["durability"];

  #pending: Entry[] = [];
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #draining: Promise<void> | undefined;
  #drainAll = false;
  /** Queued entries whose caller awaits durability: they are written without waiting for a full batch. */
  #waiters = 0;
  #inFlight = new Set<Promise<unknown>>();
  /**
   * Events handed to a backend that is still writing them asynchronously (a database
   * round trip): like the queue, they live only in this process's memory until committed.
   * Counted against `queue_size` wherever batches are handed over without waiting (sync
   * mode, `durability: event`, a full queue under `on_full: block`), so neither memory nor
   * what a `kill -9` can lose grows without bound when a database is slower than the
   * application.
   */
  #unsettled = 0;
  /** Backends that could not take a batch synchronously: named when the backlog is full. */
  #asyncWriters = new Set<string>();
  /**
   * Backends that may hold events in memory for a later attempt (a database through an
   * outage, see `StorageBackend.pendingEvents`): held events count against `queue_size`
   * like unsettled ones, so an outage cannot make memory, or what a `kill -9` loses, grow
   * past the bound.
   */
  #holders: readonly StorageBackend[] = [];
  #warnedBacklog = false;
  /** Settles when every backend's `open()` has (each failure reported). */
  #opened: Promise<void> = Promise.resolve();
  /** The last batch's `afterBatch` step: the next one runs after it. */
  #afterBatches: Promise<void> = Promise.resolve();
  #closed = false;
  #lastEvent: Mutable<AuditEvent> | undefined;
  #lastPrepared = true;
  #pendingDrops = 0;
  /** Events a backend's full outage buffer refused (`droppedEvents` of its error), by backend: recorded as EVENTS_DROPPED. */
  readonly #backendDrops = new Map<string, number>();
  #warnedCategories = new Set<string>();
  #reportedMessages = new Set<string>();
  /** Why events were dropped since the last EVENTS_DROPPED record. */
  #dropReasons = new Set<string>();
  /** Batches no backend could take, oldest first; nothing new is written before them. */
  #held: HeldBatch[] = [];
  #heldEvents = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelay = RETRY_FIRST_MS;
  #lastAttempt = 0;
  /** Per failing source (a backend, a stage): each kind of error seen and how often. */
  #failing = new Map<string, Map<string, number>>();

  #m = {
    logged: 0,
    filtered: 0,
    filteredByCategory: new Map<string, number>(),
    loggedByCategory: new Map<string, { success: number; failure: number }>(),
    written: 0,
    dropped: 0,
    failed: 0,
    errors: 0,
    errorsSuppressed: 0,
    batches: 0,
    latencyTotal: 0,
    latencyLast: 0,
    backend: new Map<string, { written: number; failed: number }>(),
  };

  constructor(options: AuditEngineOptions = {}) {
    super();
    const env = options.env ?? process.env;
    this.config = loadConfig(options.config ?? options.configFile, { env });
    const { core, performance, processing } = this.config;
    this.#enabled = core.enabled && options.readOnly !== true;
    this.#application = Object.freeze({
      name: core.application_name,
      ...(core.version !== undefined ? { version: core.version } : {}),
      ...(core.environment !== undefined ? { environment: core.environment } : {}),
      host: hostname(),
      pid: process.pid,
    });
    this.#filter = compileFilters(processing.filters);
    this.#prepare = compilePrepare(this.config);
    this.#async = performance.async.enabled;
    this.#batchSize = performance.batching.enabled ? performance.batching.batch_size : 1;
    this.#batchTimeoutMs = performance.batching.enabled
      ? performance.batching.batch_timeout_seconds * 1000
      : 0;
    this.#queueSize = performance.async.queue_size;
    this.#dropWhenFull = performance.async.on_full === "drop";
    this.#durability = performance.durability;
    this.#subjects = this.#enabled || options.readOnly === true ? subjectKeyStoreFor(this.config) : undefined;
    this.#backends =
      this.#enabled || options.readOnly === true
        ? [
            ...createBackends(this.config, {
              onWarning: (m) => this.#warn(m),
              ...(this.#subjects ? { subjects: this.#subjects } : {}),
              // with signing on, backup_count deletes only under a signed retention record
              beforePrune: rotationRetention(this.config),
              // what the queue, the batches in flight and their EVENTS_DROPPED records can hold
              bufferLimit: this.#queueSize + MAX_BATCHES_IN_FLIGHT * (this.#batchSize + 1),
            }),
            ...(options.backends ?? []),
          ]
        : [];
    // Personal fields are sealed first (the chain hashes them sealed, so erasing a person's key
    // breaks no proof); integrity before encryption: the chain hashes the clear event,
    // encryption wraps that line. A stage passed in `options.stages` under one of those names
    // takes the built-in's place.
    const extra = options.stages ?? [];
    const given = (name: string) => extra.find((s) => s.name === name);
    const builtIn = this.#enabled
      ? [
          given("subject") ??
            createSubjectStage(this.config, this.#subjects, (err) => this.#report(err, "subject key failed")),
          given("integrity") ??
            createIntegrityStage(this.config, {
              application: this.#application,
              databases: this.#backends.filter((b): b is SqlBackend => b instanceof SqlBackend),
              streams: this.#backends.flatMap((b) =>
                b instanceof NatsBackend
                  ? [
                      b.checkpointSink((err) =>
                        this.#reportKind(b.name, err, `${b.name}: checkpoint not published`),
                      ),
                    ]
                  : [],
              ),
              onError: (err) => this.#reportKind("integrity", err, "checkpoint failed"),
            }),
          given("encryption") ?? createEncryptionStage(this.config),
        ]
      : [];
    this.#stages = [
      ...builtIn.filter((s): s is BatchStage => s !== undefined),
      ...extra.filter((s) => !BUILT_IN_STAGES.has(s.name)),
    ];
    this.#serializer = this.#stages.find((s) => s.serialize !== undefined);
    this.#holders = this.#backends.filter((b) => typeof b.pendingEvents === "function");
    const opening: Promise<void>[] = [];
    for (const b of this.#backends) {
      this.#m.backend.set(b.name, { written: 0, failed: 0 });
      if (this.#enabled)
        opening.push(b.open().catch((err: unknown) => this.#report(err, `${b.name}: open failed`)));
    }
    this.#opened = Promise.all(opening).then(() => undefined);
    if (this.#enabled) registerExitFlush(this);
  }

  /** Whether capture is on (`core.enabled` and `VIGIL_ENABLED`). */
  get enabled(): boolean {
    return this.#enabled && !this.#closed;
  }

  /**
   * Record an event. Returns it (ids, time, defaults filled in), or undefined when the
   * engine is disabled or a filter dropped it. Never throws: malformed input is
   * reported through `on("error")` and recorded as well as it can be. In async mode the
   * event's user-supplied values are copied, redacted and written in the next batch:
   * do not mutate objects after passing them.
   */
  log(input: LogInput): AuditEvent | undefined {
    if (!this.#enabled) return undefined;
    try {
      return this.#accept(input, undefined, false);
    } catch (err) {
      this.#report(err, "log() failed");
      return undefined;
    }
  }

  /**
   * Record an event and resolve once it is on stable storage (fsync'd) in at least one
   * backend. Rejects with `VIGIL_ERR_NOT_DURABLE` when no backend could persist it —
   * the one place vigil lets an audit failure reach the caller, because the caller
   * asked for the guarantee. Resolves undefined when disabled or filtered.
   */
  logDurable(input: LogInput): Promise<AuditEvent | undefined> {
    if (!this.#enabled) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      try {
        const event = this.#accept(input, { resolve, reject }, false);
        if (event === undefined) resolve(undefined);
      } catch (err) {
        this.#report(err, "logDurable() failed");
        reject(err);
      }
    });
  }

  /** @internal Used by the capture API: `failedByException` picks the ERROR severity default. */
  _logCaptured(input: LogInput, failedByException: boolean): AuditEvent | undefined {
    if (!this.#enabled) return undefined;
    try {
      return this.#accept(input, undefined, failedByException);
    } catch (err) {
      this.#report(err, "capture failed");
      return undefined;
    }
  }

  #accept(input: LogInput, waiter: Entry["waiter"], failedByException: boolean): AuditEvent | undefined {
    if (this.#closed) {
      this.#report(new VigilError(ErrorCodes.CLOSED, "log() after close(): the event was not recorded"));
      return undefined;
    }
    const event = buildEvent(
      input,
      this.#application,
      currentScope(),
      (e) => this.#report(e),
      failedByException,
    );
    if (this.#filter) {
      const verdict = this.#filter(event.severity, event.action.category);
      if (verdict !== undefined) {
        this.#filtered(event.action.category, verdict);
        return undefined;
      }
    }
    this.#m.logged++;
    const category = event.action.category;
    let perCategory = this.#m.loggedByCategory.get(category);
    if (!perCategory) {
      perCategory = { success: 0, failure: 0 };
      this.#m.loggedByCategory.set(category, perCategory);
    }
    if (event.result.status === "SUCCESS") perCategory.success++;
    else perCategory.failure++;
    this.#lastEvent = event;
    this.#lastPrepared = false;
    const entry: Entry = waiter ? { event, waiter } : { event };
    if (waiter) this.#waiters++;
    if (!this.#async || this.#durability === "event") {
      if (!waiter && this.#backlog() >= this.#queueSize) return this.#dropOverBacklog();
      if (!waiter && this.#heldEvents >= this.#queueSize) {
        this.#retryIfDue(true);
        if (this.#heldEvents >= this.#queueSize) return this.#drop(this.#heldReason("block"));
      }
      this.#pending.push(entry);
      this.#drainNow(true);
      return event;
    }
    // a store refusing writes is tried again now and then from here too, so writing resumes
    // as soon as space returns rather than at the next (backed-off) retry
    if (this.#heldEvents > 0 && this.#pending.length + this.#backlog() + this.#heldEvents >= this.#queueSize)
      this.#retryIfDue(false);
    if (this.#pending.length + this.#backlog() + this.#heldEvents >= this.#queueSize) {
      if (!waiter && this.#dropWhenFull)
        return this.#drop(
          this.#heldEvents > 0 ? this.#heldReason("drop") : "queue full (performance.async.on_full: drop)",
        );
      if (!waiter && this.#backlog() >= this.#queueSize) return this.#dropOverBacklog();
      // on_full: block — the caller's thread hands the queue to the backends now, writing
      // synchronously where a backend can (files, SQLite); what a backend can only write
      // asynchronously counts as unsettled until it is committed
      this.#drainNow(true);
      if (!waiter && this.#backlog() >= this.#queueSize) return this.#dropOverBacklog();
      // the store refuses every write (a full disk): blocking would stop the application
      // for as long as the outage lasts, so the event is dropped, counted and recorded
      if (!waiter && this.#heldEvents >= this.#queueSize) return this.#drop(this.#heldReason("block"));
    }
    this.#pending.push(entry);
    if (waiter || this.#pending.length >= this.#batchSize) this.#scheduleNow();
    else this.#armTimer();
    return event;
  }

  /**
   * Events out of the queue but not yet stored: handed over and still being written
   * (unsettled), or held by a backend for a later attempt (the most any one holds).
   */
  #backlog(): number {
    let held = 0;
    for (const b of this.#holders) held = Math.max(held, b.pendingEvents!());
    return this.#unsettled + held;
  }

  #drop(reason: string): undefined {
    this.#m.dropped++;
    this.#pendingDrops++;
    this.#dropReasons.add(reason);
    return undefined;
  }

  #heldReason(onFull: "drop" | "block"): string {
    return `queue full: ${this.#heldEvents} events held while the store refuses writes (performance.async.on_full: ${onFull})`;
  }

  /**
   * A backend that cannot write synchronously (a database over the network) holds
   * `queue_size` events still uncommitted: `on_full: block` cannot block the event loop for
   * it, so the event is dropped, counted and recorded (EVENTS_DROPPED) — memory and what a
   * crash can lose stay bounded. Said once.
   */
  #dropOverBacklog(): undefined {
    if (!this.#warnedBacklog) {
      this.#warnedBacklog = true;
      const writers = new Set(this.#asyncWriters);
      for (const b of this.#holders) if (b.pendingEvents!() > 0) writers.add(b.name);
      this.#warn(
        `${this.#backlog()} events are still being written to ${[...writers].join(", ")} (queue_size ${this.#queueSize}): ` +
          "the server behind them (database, NATS, OTLP collector) is slower than the application, or unreachable; further events " +
          "are dropped and counted (EVENTS_DROPPED) until it catches up — use logDurable() where a caller must wait for it",
      );
    }
    return this.#drop("a server is slower than the application (queue_size reached by uncommitted events)");
  }

  #filtered(category: string, verdict: string): void {
    this.#m.filtered++;
    this.#m.filteredByCategory.set(category, (this.#m.filteredByCategory.get(category) ?? 0) + 1);
    if (!this.#warnedCategories.has(category)) {
      this.#warnedCategories.add(category);
      this.#warn(
        `filters dropped an event of category ${category} (${verdict}); further drops of ${category} are only counted in metrics().filtered_by_category`,
      );
    }
  }

  /** Write the full batches soon (next turn of the event loop), off the caller's path. */
  #scheduleNow(): void {
    if (this.#immediate !== undefined) return;
    this.#immediate = setImmediate(() => {
      this.#immediate = undefined;
      void this.#startDrain(false);
    });
  }

  #armTimer(): void {
    if (this.#timer !== undefined || this.#pending.length === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#startDrain(true);
    }, this.#batchTimeoutMs);
    this.#timer.unref();
  }

  /**
   * Drain the queue: full batches only, leaving a partial batch to its timeout —
   * or everything (`all`: the timeout fired, a durable write waits, or a flush).
   */
  #startDrain(all: boolean): Promise<void> {
    if (all) this.#drainAll = true;
    if (this.#draining) return this.#draining;
    const run = (async () => {
      for (;;) {
        if (this.#pending.length === 0) break;
        if (this.#pending.length < this.#batchSize && !this.#drainAll && this.#waiters === 0) break;
        // Batches reach the backends in order (everything up to `write` is synchronous);
        // a few may await their fsync or commit at once, so the disk's latency does not
        // throttle the queue.
        void this.#writeBatch(this.#takeBatch(), false);
        if (this.#inFlight.size >= MAX_BATCHES_IN_FLIGHT) await Promise.race(this.#inFlight);
      }
    })();
    // Assigned before `finally` can run, even when the loop ends without awaiting.
    this.#draining = run.finally(() => {
      this.#draining = undefined;
      this.#drainAll = false;
      if (this.#pending.length > 0) this.#armTimer();
    });
    return this.#draining;
  }

  #takeBatch(): Entry[] {
    let batch: Entry[];
    if (this.#pending.length <= this.#batchSize) {
      batch = this.#pending;
      this.#pending = [];
    } else batch = this.#pending.splice(0, this.#batchSize);
    if (this.#waiters > 0) for (const e of batch) if (e.waiter) this.#waiters--;
    return batch;
  }

  /**
   * Hand every queued event to the backends now, on this thread. `synchronous` (sync
   * mode and the exit path) uses the backends' synchronous writes where they have them.
   */
  #drainNow(synchronous: boolean): void {
    if (this.#held.length > 0) this.#retryIfDue(synchronous);
    while (this.#pending.length > 0) void this.#writeBatch(this.#takeBatch(), synchronous);
  }

  #droppedEvent(): Mutable<AuditEvent> {
    const count = this.#pendingDrops;
    this.#pendingDrops = 0;
    const reason = [...this.#dropReasons].join("; ");
    this.#dropReasons.clear();
    return buildEvent(
      {
        action: "EVENTS_DROPPED",
        category: "AUDIT",
        status: "FAILURE",
        severity: "WARNING",
        result: { count },
        metadata: { reason, queue_size: this.#queueSize },
      },
      this.#application,
      undefined,
      (e) => this.#report(e),
    );
  }

  /** The record of events one backend could not keep (its outage buffer was full). */
  #backendDroppedEvent(backend: string, count: number): Mutable<AuditEvent> {
    return buildEvent(
      {
        action: "EVENTS_DROPPED",
        category: "AUDIT",
        status: "FAILURE",
        severity: "WARNING",
        result: { count },
        metadata: { reason: "backend unreachable and its buffer full", backend },
      },
      this.#application,
      undefined,
      (e) => this.#report(e),
    );
  }

  /**
   * Prepare, serialize and hand one batch to every backend. Everything up to each
   * backend's `write` call happens synchronously, so batches reach every backend in
   * queue order even when the exit path writes synchronously behind an async batch.
   */
  #writeBatch(entries: Entry[], synchronous: boolean): Promise<void> {
    const started = performance.now();
    if (this.#pendingDrops > 0) entries.unshift({ event: this.#droppedEvent() });
    for (const [backend, count] of this.#backendDrops)
      entries.unshift({ event: this.#backendDroppedEvent(backend, count) });
    this.#backendDrops.clear();
    const records: StoredRecord[] = [];
    for (const entry of entries) {
      try {
        this.#prepare(entry.event);
        for (const stage of this.#stages) stage.processEvent?.(entry.event);
        let line = this.#serializer ? this.#serializer.serialize!(entry.event) : toJsonLine(entry.event);
        for (const stage of this.#stages) if (stage.encodeLine) line = stage.encodeLine(line, entry.event);
        records.push({ event: entry.event, line });
      } catch (err) {
        this.#m.failed++;
        this.#report(err, "an event could not be prepared");
        entry.waiter?.reject(err);
      }
    }
    this.#lastPrepared = true;
    // a new batch is a moment to try the held ones again (at most every RETRY_FIRST_MS), so a
    // busy application resumes writing soon after the store recovers
    if (this.#held.length > 0) this.#retryIfDue(synchronous);
    if (this.#held.length > 0) {
      // a batch before this one waits for the store: keep the order (the chain needs it)
      this.#hold({ entries, records, started }, undefined);
      return Promise.resolve();
    }
    return this.#send({ entries, records, started }, synchronous) ?? Promise.resolve();
  }

  /**
   * Hand a prepared batch to every backend. Returns undefined when every backend refused
   * it synchronously with an error a later attempt can get past (nothing of it was
   * written: a full disk, a deleted directory): the caller holds it.
   */
  #send(batch: HeldBatch, synchronous: boolean): Promise<void> | undefined {
    const { entries, records, started } = batch;
    const sync = this.#durability !== "none" || entries.some((e) => e.waiter !== undefined);
    let unsettled = false;
    const refused: unknown[] = [];
    const outcomes = this.#backends.map((b) => {
      if (synchronous) {
        try {
          if (b.writeSync(records, { sync })) return Promise.resolve();
        } catch (err) {
          refused.push(err);
          return Promise.reject(err);
        }
      }
      unsettled = true;
      if (synchronous) this.#asyncWriters.add(b.name);
      try {
        return b.write(records, { sync });
      } catch (err) {
        refused.push(err);
        return Promise.reject(err);
      }
    });
    if (
      records.length > 0 &&
      this.#backends.length > 0 &&
      refused.length === this.#backends.length &&
      refused.every((err) => RETRYABLE.has(errorKind(err)))
    ) {
      for (const o of outcomes) o.catch(() => undefined);
      if (unsettled && synchronous) for (const b of this.#backends) this.#asyncWriters.delete(b.name);
      this.#hold(batch, refused);
      return undefined;
    }
    if (unsettled && synchronous) this.#unsettled += records.length;
    const afterBatch = () => {
      for (const stage of this.#stages) {
        try {
          stage.afterBatch?.(records);
        } catch (err) {
          this.#reportKind(stage.name, err, `${stage.name} stage failed`);
        }
      }
    };
    const settled = Promise.allSettled(outcomes);
    // Stages hear of a batch (the integrity stage signs a checkpoint over it) only once the
    // backends are done with it, in batch order: a checkpoint never claims events still on
    // their way to disk. A synchronous write (the exit path) is done when it returns.
    let committed: Promise<void>;
    if (synchronous) {
      afterBatch();
      committed = Promise.resolve();
    } else {
      committed = this.#afterBatches.then(() => settled).then(afterBatch);
      this.#afterBatches = committed;
    }
    const written = settled.then((results) => {
      if (unsettled && synchronous) this.#unsettled -= records.length;
      let anyOk = false;
      results.forEach((r, i) => {
        const b = this.#backends[i]!;
        const m = this.#m.backend.get(b.name)!;
        if (r.status === "fulfilled") {
          anyOk = true;
          m.written += records.length;
          this.#recovered(b.name);
        } else {
          m.failed += records.length;
          this.#reportKind(
            b.name,
            r.reason,
            `${b.name}: a batch of ${records.length} events was not written`,
          );
          let dropped = (r.reason as { droppedEvents?: unknown } | undefined)?.droppedEvents;
          if (typeof dropped === "number" && dropped > 0) {
            // a record of earlier drops lost with them stands for all it counted
            for (const { event } of records)
              if (event.action.type === "EVENTS_DROPPED" && event.metadata?.backend === b.name)
                dropped += Number((event.result as { count?: unknown } | undefined)?.count ?? 1) - 1;
            this.#backendDrops.set(b.name, (this.#backendDrops.get(b.name) ?? 0) + dropped);
          }
        }
      });
      if (anyOk) this.#m.written += records.length;
      else this.#m.failed += records.length;
      this.#m.batches++;
      const latency = performance.now() - started;
      this.#m.latencyTotal += latency;
      this.#m.latencyLast = latency;
      for (const e of entries) {
        if (!e.waiter) continue;
        if (anyOk) e.waiter.resolve(e.event);
        else
          e.waiter.reject(
            new VigilError(ErrorCodes.NOT_DURABLE, `no backend could store event ${e.event.id}`, {
              cause: results.find((r) => r.status === "rejected")?.reason,
            }),
          );
      }
    });
    const done = Promise.all([written, committed]).then(() => undefined);
    this.#inFlight.add(done);
    void done.finally(() => this.#inFlight.delete(done));
    return done;
  }

  /**
   * Keep a batch no backend could take, behind those held already, and try again soon.
   * Its durable callers are answered now (`VIGIL_ERR_NOT_DURABLE`: not stored yet — the
   * event stays queued and is written when the store takes writes again, or dropped and
   * counted); `refused` holds the backends' errors (none when it queued behind another).
   */
  #hold(batch: HeldBatch, refused: readonly unknown[] | undefined): void {
    const entries = batch.entries.map((e) => {
      if (!e.waiter) return e;
      e.waiter.reject(
        new VigilError(
          ErrorCodes.NOT_DURABLE,
          `event ${e.event.id} is not stored yet: the store refuses writes; it stays queued and is written when the store recovers`,
          refused?.[0] !== undefined ? { cause: refused[0] } : undefined,
        ),
      );
      return { event: e.event };
    });
    if (this.#held[0] !== batch) {
      this.#held.push({ ...batch, entries });
      this.#heldEvents += batch.records.length;
    }
    if (refused)
      refused.forEach((err, i) => {
        const b = this.#backends[i]!;
        this.#reportKind(
          b.name,
          err,
          `${b.name}: a batch of ${batch.records.length} events could not be written; held and retried`,
        );
      });
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#held.length === 0 || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS);
      this.#retryHeld(false);
      if (this.#held.length > 0) this.#scheduleRetry();
      else if (this.#pending.length > 0) void this.#startDrain(false);
    }, this.#retryDelay);
    this.#retryTimer.unref();
  }

  /** {@link #retryHeld}, unless the last attempt was less than the first retry delay ago. */
  #retryIfDue(synchronous: boolean): void {
    if (performance.now() - this.#lastAttempt >= RETRY_FIRST_MS) this.#retryHeld(synchronous);
  }

  /** Try the held batches again, oldest first; stop at the first one still refused. */
  #retryHeld(synchronous: boolean): Promise<void>[] {
    this.#lastAttempt = performance.now();
    const sent: Promise<void>[] = [];
    while (this.#held.length > 0) {
      const batch = this.#held[0]!;
      const done = this.#send(batch, synchronous);
      if (done === undefined) break;
      this.#held.shift();
      this.#heldEvents -= batch.records.length;
      sent.push(done);
    }
    if (this.#held.length === 0 && this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      this.#retryDelay = RETRY_FIRST_MS;
    }
    return sent;
  }

  /** Every event logged so far is written (or has failed and been reported). */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // held batches (a store refusing writes) get one more attempt here; flush never waits
    // for the store to come back: what is still refused stays held (metrics().queue_depth)
    if (this.#held.length > 0) this.#retryHeld(false);
    while (this.#pending.length > 0 || this.#draining) await this.#startDrain(true);
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
    // drops not yet recorded (no event came after them): their EVENTS_DROPPED goes out alone
    if (this.#pendingDrops > 0) await this.#writeBatch([], false);
  }

  /** @internal Exit path: write the queue synchronously where backends allow. */
  flushSync(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#held.length > 0) this.#retryHeld(true);
    this.#drainNow(true);
    if (this.#pendingDrops > 0) void this.#writeBatch([], true);
  }

  /** @internal */
  hasPending(): boolean {
    // held batches are not "pending": the exit path tries them once (flushSync), and a
    // store that stays full must not keep the process alive
    return this.#pending.length > 0 || this.#inFlight.size > 0 || this.#pendingDrops > 0;
  }

  /** Flush, stop timers, release files and connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#heldEvents > 0) {
      // the store never came back: these events are lost, and said so
      const lost = this.#heldEvents;
      this.#m.failed += lost;
      this.#held = [];
      this.#heldEvents = 0;
      this.#report(
        new VigilError(
          ErrorCodes.STORAGE,
          `close(): ${lost} events held for a store that still refuses writes were not stored`,
        ),
      );
    }
    unregisterExitFlush(this);
    await this.#opened; // an open still under way reports its outcome before close resolves
    for (const stage of this.#stages) {
      try {
        await stage.close?.();
      } catch (err) {
        this.#report(err, `${stage.name} stage failed to close`);
      }
    }
    await Promise.allSettled(
      this.#backends.map((b) =>
        b.close().catch((err: unknown) => this.#report(err, `${b.name}: close failed`)),
      ),
    );
  }

  /** The last event recorded, in its stored (sanitized) form. */
  getLastEvent(): AuditEvent | undefined {
    const e = this.#lastEvent;
    if (e && !this.#lastPrepared) {
      // not yet through the batch: show it as it will be stored, without touching the queue
      const copy = structuredCloneSafe(e);
      if (copy) {
        this.#prepare(copy);
        return copy;
      }
    }
    return e;
  }

  /** When the last event was recorded, or undefined. */
  getLastEventTime(): Date | undefined {
    return this.#lastEvent ? new Date(this.#lastEvent.timestamp) : undefined;
  }

  /** Health of each backend, e.g. `[{ type: "file", name: "file", healthy: true }]`. */
  getActiveBackends(): BackendHealth[] {
    return this.#backends.map((b) => b.health());
  }

  /** The engine's counters. */
  metrics(): EngineMetrics {
    const m = this.#m;
    const backends: Record<string, { written: number; failed: number; healthy: boolean; buffered: number }> =
      {};
    for (const b of this.#backends) {
      const c = m.backend.get(b.name)!;
      backends[b.name] = {
        written: c.written,
        failed: c.failed,
        healthy: b.health().healthy,
        buffered: b.pendingEvents?.() ?? 0,
      };
    }
    return {
      logged: m.logged,
      filtered: m.filtered,
      filtered_by_category: Object.fromEntries(m.filteredByCategory),
      logged_by_category: Object.fromEntries([...m.loggedByCategory].map(([k, v]) => [k, { ...v }])),
      written: m.written,
      dropped: m.dropped,
      failed: m.failed,
      errors: m.errors,
      errors_suppressed: m.errorsSuppressed,
      queue_depth: this.#pending.length + this.#backlog() + this.#heldEvents,
      batches: m.batches,
      batch_latency_ms: { mean: m.batches > 0 ? m.latencyTotal / m.batches : 0, last: m.latencyLast },
      backends,
    };
  }

  /**
   * The backend that answers queries: the first configured one that is not write-only
   * (else the first, whose query then explains it cannot answer).
   */
  #reader(): StorageBackend | undefined {
    // a write-only backend (nats) answers only when it is all there is: with a clear error
    return this.#backends.find((b) => b.writeOnly !== true) ?? this.#backends[0];
  }

  /**
   * Events matching `options`, newest first by default. Flushes first, so what this
   * process logged is found.
   */
  async search(options: SearchOptions = {}): Promise<AuditEvent[]> {
    return (await this.searchPage(options)).events;
  }

  /** Like {@link search}, with the cursor for the next page. */
  async searchPage(options: SearchOptions = {}): Promise<SearchPage> {
    const spec = toQuerySpec(options);
    const signal = options.signal;
    signal?.throwIfAborted();
    await this.flush();
    const events: AuditEvent[] = [];
    for await (const e of this.#query(spec, signal)) events.push(e);
    return { events, cursor: nextCursor(spec, events) };
  }

  /** Every matching event, streamed (no limit unless given). */
  stream(options: SearchOptions = {}): AsyncGenerator<AuditEvent> {
    return this.#streamSpec(
      toQuerySpec({ ...options, limit: options.limit ?? Number.POSITIVE_INFINITY }),
      options.signal,
    );
  }

  /**
   * The event with this id, or undefined. `tenant` confines the lookup like a search's
   * (an event of another tenant is not found). Looks first around the time the UUIDv7 id
   * carries, then across the whole store.
   *
   * @example const event = await engine.getEvent("0192f0c4-...", { tenant: "acme" });
   */
  async getEvent(
    id: string,
    options: { readonly tenant?: string; readonly signal?: AbortSignal } = {},
  ): Promise<AuditEvent | undefined> {
    if (typeof id !== "string" || !UUID.test(id)) return undefined;
    const query = `id:"${id.toLowerCase()}"`;
    const base = {
      query,
      limit: 1,
      ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const ms = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    // the id's time is when log() was called; an explicit timestamp may differ by a little
    const near = await this.searchPage({
      ...base,
      from: new Date(ms - 86_400_000),
      to: new Date(ms + 86_400_000),
    });
    if (near.events[0] !== undefined) return near.events[0];
    return (await this.searchPage(base)).events[0];
  }

  /**
   * The `top` most frequent values (default 10) of each of `fields` among the matches,
   * largest count first, ties by value; arrays count each element, absent values are left
   * out, numbers and booleans count as their text. A database counts a field it keeps in an
   * indexed column itself (`GROUP BY`, when the query compiles to SQL exactly); every other
   * field is counted in one pass over the matching events.
   *
   * @example await engine.facets({ timeRange: "last_24h" }, ["action.category", "result.status"])
   * // { "action.category": [{ value: "DATABASE", count: 812 }, ...], "result.status": [...] }
   */
  async facets(
    options: SearchOptions,
    fields: readonly string[],
    top = 10,
  ): Promise<Record<string, ValueCount[]>> {
    const paths = fields.map((f) => {
      const problem = checkFieldName(f);
      if (problem !== undefined)
        throw new VigilError(
          ErrorCodes.QUERY_OPTIONS,
          `facets: invalid field name ${JSON.stringify(f)}: ${problem}`,
        );
      return resolveField(f);
    });
    if (!Number.isSafeInteger(top) || top < 1)
      throw new VigilError(
        ErrorCodes.QUERY_OPTIONS,
        `facets: top must be a positive integer, found ${String(top)}`,
      );
    const spec: QuerySpec = { ...toQuerySpec(options), limit: undefined, after: undefined };
    const signal = options.signal;
    signal?.throwIfAborted();
    await this.flush();
    const out: Record<string, ValueCount[]> = {};
    const reader = this.#reader();
    const rest: number[] = [];
    for (let i = 0; i < fields.length; i++) {
      const pushed = reader?.topValues ? await reader.topValues(spec, paths[i]!, top) : undefined;
      signal?.throwIfAborted();
      if (pushed !== undefined) out[fields[i]!] = [...pushed];
      else rest.push(i);
    }
    if (rest.length === 0) return out;
    const readers = rest.map((i) => compilePath(paths[i]!.split(".")));
    const counts = rest.map(() => new Map<string, number>());
    const add = (map: Map<string, number>, value: unknown) => {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
        const key = String(value);
        map.set(key, (map.get(key) ?? 0) + 1);
      }
    };
    const count = (event: AuditEvent) => {
      for (let k = 0; k < readers.length; k++) {
        const value = readers[k]!(event);
        if (Array.isArray(value)) for (const v of value) add(counts[k]!, v);
        else add(counts[k]!, value);
      }
    };
    if (reader?.scan) {
      // no order needed: the backend hands matches over as it reads them
      const tenant = spec.tenant;
      await reader.scan(
        { ...spec, ...(signal ? { signal } : {}) },
        {
          events: (batch) => {
            for (const e of batch) if (tenant === undefined || e.tenant === tenant) count(e);
          },
        },
      );
    } else for await (const event of this.#query(spec, signal)) count(event);
    rest.forEach((i, k) => {
      out[fields[i]!] = [...counts[k]!]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
        .slice(0, top)
        .map(([value, count]) => ({ value, count }));
    });
    return out;
  }

  /** How many events match (ignores limit and cursor). */
  async count(options: SearchOptions = {}): Promise<number> {
    const spec: QuerySpec = { ...toQuerySpec(options), limit: undefined, after: undefined };
    const signal = options.signal;
    signal?.throwIfAborted();
    await this.flush();
    const reader = this.#reader();
    if (!reader) return 0;
    const counting = reader.count(spec);
    if (!signal) return counting;
    // a count is one statement on a database: it cannot be interrupted, only abandoned
    return new Promise<number>((resolve, reject) => {
      const abort = () => reject(signal.reason);
      signal.addEventListener("abort", abort, { once: true });
      counting.then(
        (n) => {
          signal.removeEventListener("abort", abort);
          resolve(n);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", abort);
          reject(err);
        },
      );
    });
  }

  /**
   * The reader's answer to `spec`, stopped by `signal` between events; an event of
   * another tenant (a backend that ignored `spec.tenant`) is never passed on.
   */
  async *#query(spec: QuerySpec, signal: AbortSignal | undefined): AsyncGenerator<AuditEvent> {
    const reader = this.#reader();
    if (!reader) return;
    const tenant = spec.tenant;
    for await (const e of reader.query(signal ? { ...spec, signal } : spec)) {
      signal?.throwIfAborted();
      if (tenant !== undefined && e.tenant !== tenant) continue;
      yield e;
    }
  }

  /**
   * Export every match to a file or stream: `excel`/`xlsx`, `csv`, `json`, `ndjson`,
   * streamed so memory stays flat.
   *
   * @example
   * await engine.export({ format: "excel", filename: "security_audit.xlsx", filters: { category: "SECURITY" } });
   */
  export(options: ExportOptions): Promise<ExportResult> {
    return exportSearch(this, options);
  }

  /** Count matches per value of `groupBy` and/or per time bucket of `interval`. */
  aggregate(options: AggregateSearchOptions): Promise<AggregateResult> {
    const reader = this.#reader();
    if (!reader?.scan) return aggregateSearch(this, options);
    // the backend scans without ordering (and, for a histogram, without building events)
    return aggregateSearch(this, options, async (search, sink) => {
      const spec: QuerySpec = {
        ...toQuerySpec(search),
        limit: undefined,
        after: undefined,
        ...(search.signal ? { signal: search.signal } : {}),
      };
      search.signal?.throwIfAborted();
      await this.flush();
      const tenant = spec.tenant;
      if ("times" in sink || tenant === undefined) return reader.scan!(spec, sink);
      // a backend that ignored the tenant: its events of other tenants are not counted
      return reader.scan!(spec, {
        events: (batch) => sink.events(batch.filter((e) => e.tenant === tenant)),
      });
    });
  }

  /**
   * Delete what is older than `compliance.gdpr.retention_days` (or `days`) in every
   * backend, and record the deletion itself as an audit event (`RETENTION_APPLIED`,
   * category `AUDIT`). With `dryRun`, report what would go and delete nothing.
   */
  async applyRetention(
    options: { readonly dryRun?: boolean; readonly days?: number; readonly now?: Date } = {},
  ): Promise<Array<{ readonly backend: string } & RetentionResult>> {
    const days = options.days ?? this.config.compliance.gdpr.retention_days;
    if (!Number.isFinite(days) || days <= 0)
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        `applyRetention: expected a positive number of days (compliance.gdpr.retention_days or options.days), found ${String(days)}`,
      );
    const cutoff = new Date((options.now ?? new Date()).getTime() - days * 86_400_000);
    const dryRun = options.dryRun === true;
    await this.flush();
    const { signing, encryption } = this.config.security;
    const signer = signing.enabled ? createSigner(signing) : undefined; // deletions stay verifiable
    const results: Array<{ readonly backend: string } & RetentionResult> = [];
    for (const b of this.#backends) {
      const result = await retainBackend(b, cutoff, { ...(signer ? { signer } : {}), encryption, dryRun });
      results.push({ backend: b.name, ...result });
    }
    if (!dryRun && this.enabled) {
      this.log({
        action: "RETENTION_APPLIED",
        category: "AUDIT",
        metadata: {
          cutoff: cutoff.toISOString(),
          retention_days: days,
          deleted: results.map((r) => ({
            backend: r.backend,
            events: r.deletedEvents,
            files: r.deletedFiles?.length ?? 0,
          })),
        },
      });
      await this.flush();
    }
    return results;
  }

  /**
   * Check the hash chains and signed checkpoints of every file and database backend:
   * `ok` when everything is intact — or intact up to the checkpoints, with `pending` tails
   * of running writers (this engine's own included) that their next checkpoint will seal
   * (`status: "pending"`, `pendingEvents`); otherwise each problem names its file and line
   * (or table and row id), sequence number and kind. `backends` holds each backend's own
   * result. With `strict`, pending tails are reported as `unverifiable`. See docs/integrity.md.
   */
  async verify(
    options: {
      readonly from?: Date;
      readonly to?: Date;
      readonly publicKey?: string;
      readonly witness?: string | readonly string[];
      readonly onProgress?: (progress: VerifyProgress) => void;
      /** Report the events after every chain's last checkpoint as `unverifiable`, running writer or not. Default false. */
      readonly strict?: boolean;
      /**
       * Stops the verification: it rejects with the signal's reason at the next file (or
       * table) it finishes, and reads nothing further.
       */
      readonly signal?: AbortSignal;
    } = {},
  ): Promise<StoreVerifyResult> {
    const signal = options.signal;
    signal?.throwIfAborted();
    await this.flush();
    signal?.throwIfAborted();
    const progress =
      signal === undefined
        ? options.onProgress
        : (p: VerifyProgress) => {
            signal.throwIfAborted();
            options.onProgress?.(p);
          };
    const backends = this.#backends.filter((b) => b instanceof FileBackend || b instanceof SqlBackend);
    if (backends.length === 0)
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        "verify: no file or database backend is configured to verify",
      );
    const signing = options.publicKey
      ? {
          ...this.config.security.signing,
          enabled: true,
          algorithm: "ed25519" as const,
          public_key: options.publicKey,
        }
      : this.config.security.signing;
    const witness = options.witness ?? signing.witness;
    return verifyBackends(backends, {
      signing,
      encryption: this.config.security.encryption,
      ...(options.from ? { from: options.from } : {}),
      ...(options.to ? { to: options.to } : {}),
      ...(witness !== undefined ? { witness } : {}),
      ...(progress ? { onProgress: progress } : {}),
      pending: options.strict ? false : { intervalSeconds: signing.checkpoint_interval_seconds },
      // a central store (vigil.ingest): several ingest workers commit each chain out of order
      ...(this.config.ingest !== undefined ? { ordered: false } : {}),
    });
  }

  /**
   * Everything recorded about one person (GDPR art. 15): every event whose `actor.id`
   * or `actor.username` equals `subject` (or, with erasure on, that was sealed under that
   * person's key — found by its pseudonym even when erased), oldest first, across all time.
   *
   * @example
   * for await (const e of engine.exportSubject("42")) report.push(e);
   */
  exportSubject(subject: string): AsyncGenerator<AuditEvent> {
    if (typeof subject !== "string" || subject === "")
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        "exportSubject: expected a non-empty actor id or username",
      );
    const span = { start: 0, end: 0 };
    const term = (field: string) =>
      ({ type: "term", field, value: { kind: "phrase", text: subject }, span }) as const;
    const operands = [term("actor.id"), term("actor.username")];
    if (this.#subjects) {
      const ref = this.#subjects.ref(subject);
      operands.push({
        type: "term",
        field: "subject.ref",
        value: { kind: "phrase", text: ref },
        span,
      } as const);
    }
    return this.#streamSpec({ where: { type: "or", operands, span }, order: "asc" });
  }

  /**
   * Erase one person's personal data (GDPR art. 17) from every file and database backend,
   * whichever way the events were written (docs/privacy.md):
   *
   * - **crypto-shredding**, where `compliance.gdpr.erasure` sealed the personal fields when
   *   the events were written: the person's key is destroyed (`erased: true`), no stored byte
   *   changes;
   * - **signed in-place redaction** for events stored in clear (written before erasure was
   *   on, or without it): each personal field — every `actor` member but `id` and `roles`,
   *   and each of `compliance.gdpr.erasure.fields` — is replaced by `"[ERASED]"`, and with
   *   signing on a signed erasure record lists every replacement (chain, seq, old and new
   *   hash, location), so `vigil verify` accepts exactly those and nothing else.
   *
   * A mixed store gets both. The person is matched by `actor.id` or `actor.username`.
   * Flushes first. Events logged for the person afterwards are recorded as usual.
   *
   * @param subject - the person's `actor.id` (or `actor.username`).
   * @returns what was done: `erased` (a key was destroyed), `rewritten` (events redacted in
   *   place), and per backend the replacements and the lines refused (modified lines are
   *   not rewritten, so their tampering stays visible).
   * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for an empty subject; `VIGIL_ERR_CONFIG`
   *   when chained events must be rewritten but `security.signing` is off, or encrypted ones
   *   with encryption off; `VIGIL_ERR_STORAGE` when a store cannot be rewritten (what was
   *   committed before stays valid; erasing again completes the work).
   * @example
   * await engine.eraseSubject("42");
   * // { subject: "42", ref: "9b1c…", erased: true, rewritten: 12, stores: [{ backend: "file", events: 12, … }] }
   */
  async eraseSubject(
    subject: string,
    options: {
      /** Called now and then with the stored lines (and rows) read so far, across backends. */
      readonly onProgress?: (linesRead: number) => void;
    } = {},
  ): Promise<SubjectErasure> {
    if (typeof subject !== "string" || subject === "")
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        "eraseSubject: expected a non-empty actor id or username",
      );
    const rewrite = createLineRewriter(this.config, subject);
    await this.flush();
    let ref: string | undefined;
    let erased = false;
    if (this.#subjects) {
      ref = this.#subjects.ref(subject);
      erased = this.#subjects.erase(ref);
    }
    const signing = this.config.security.signing;
    const signer = signing.enabled ? createSigner(signing) : undefined;
    const witness = signing.witness === undefined ? [] : [signing.witness];
    const stores: StoreErasure[] = [];
    let before = 0;
    let last = 0;
    const report = options.onProgress;
    const onProgress = report
      ? (n: number) => {
          last = n;
          report(before + n);
        }
      : undefined;
    for (const b of this.#backends) {
      const common = { rewrite, ...(signer ? { signer } : {}), ...(onProgress ? { onProgress } : {}) };
      if (b instanceof FileBackend) stores.push(await eraseInFiles(b, { ...common, witness }));
      else if (b instanceof SqlBackend) stores.push(await eraseInRows(b, common));
      before += last;
      last = 0;
    }
    return {
      subject,
      ...(ref !== undefined ? { ref } : {}),
      erased,
      rewritten: stores.reduce((n, s) => n + s.events, 0),
      stores,
    };
  }

  async *#streamSpec(spec: QuerySpec, signal?: AbortSignal): AsyncGenerator<AuditEvent> {
    signal?.throwIfAborted();
    await this.flush();
    yield* this.#query(spec, signal);
  }

  /**
   * @internal A follower of the store for a live tail: `poll()` gives the matches of
   * `options` stored since the previous poll (the first: every match stored so far), reading
   * only what was appended (`bytesRead` counts what it read). Undefined when the reading
   * backend cannot follow (the tail then searches the recent past on every poll).
   */
  _follow(options: SearchOptions): StoreFollower | undefined {
    const reader = this.#reader();
    if (!reader?.follow) return undefined;
    const spec = toQuerySpec({ ...options, limit: Number.POSITIVE_INFINITY, order: "asc" });
    const follower = reader.follow(spec);
    const tenant = spec.tenant;
    return {
      poll: async () => {
        await this.flush();
        const events = await follower.poll();
        return tenant === undefined ? events : events.filter((e) => e.tenant === tenant);
      },
      get bytesRead() {
        return follower.bytesRead;
      },
    };
  }

  /** The seed's `get_event_count(time_range="today")`. */
  getEventCount(options: SearchOptions = {}): Promise<number> {
    return this.count(options);
  }

  /** @internal Used by the capture API to report options that threw. */
  _warn(message: string): void {
    this.#warn(message);
  }

  #warn(message: string): void {
    if (this.listenerCount("warning") > 0) this.emit("warning", message);
    else process.emitWarning(message, { code: "VIGIL_WARNING" });
  }

  /**
   * Report a failure of `source` (a backend, a stage) once per kind: the first error of
   * each errno or code goes to `on("error")`; repeats are only counted
   * (`metrics().errors_suppressed`) until the source works again ({@link #recovered}).
   */
  #reportKind(source: string, err: unknown, context: string): void {
    const kind = errorKind(err);
    let kinds = this.#failing.get(source);
    if (!kinds) {
      kinds = new Map();
      this.#failing.set(source, kinds);
    }
    const seen = kinds.get(kind);
    kinds.set(kind, (seen ?? 0) + 1);
    if (seen === undefined) {
      this.#report(err, context);
      return;
    }
    this.#m.errors++;
    this.#m.errorsSuppressed++;
  }

  /** `source` wrote again: say so once, with what it went through, and re-arm its reports. */
  #recovered(source: string): void {
    const kinds = this.#failing.get(source);
    if (!kinds) return;
    this.#failing.delete(source);
    // a stage's failures (a checkpoint on the same full disk) are re-armed with the store
    for (const s of this.#stages) this.#failing.delete(s.name);
    const what = [...kinds].map(([k, n]) => `${k} ×${n}`).join(", ");
    this.#warn(
      `${source}: writing again after failures (${what}); repeats of each were counted (metrics().errors_suppressed) but not reported again`,
    );
  }

  #report(err: unknown, context?: string): void {
    this.#m.errors++;
    const error =
      err instanceof VigilError
        ? err
        : new VigilError(
            ErrorCodes.STORAGE,
            `${context ?? "audit failure"}: ${(err as Error)?.message ?? String(err)}`,
            {
              cause: err,
            },
          );
    if (this.listenerCount("error") > 0) {
      try {
        this.emit("error", error);
      } catch {
        // a listener that throws must not reach the audited code either
      }
      return;
    }
    // Without a listener, say it once on stderr (never throw, never flood).
    const key = `${error.code}:${error.message.slice(0, 120)}`;
    if (this.#reportedMessages.size < 50 && !this.#reportedMessages.has(key)) {
      this.#reportedMessages.add(key);
      process.stderr.write(`vigil: ${error.message}\n`);
    }
  }
}

function structuredCloneSafe<T>(value: T): T | undefined {
  try {
    return structuredClone(value);
  } catch {
    return undefined;
  }
}

/** A cursor after the last event of a full page; none when the page was the last. */
function nextCursor(spec: QuerySpec, events: readonly AuditEvent[]): string | undefined {
  if (spec.limit === undefined || events.length < spec.limit) return undefined;
  const last = events[events.length - 1]!;
  return encodeCursor({ timestamp: last.timestamp, id: last.id, order: spec.order });
}
