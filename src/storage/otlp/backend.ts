/**
 * The `type: otlp` backend: audit events as OpenTelemetry log records over OTLP/HTTP
 * (JSON encoding, `application/json`, gzip by default), to an OpenTelemetry Collector or
 * any OTLP/HTTP logs receiver. See `docs/opentelemetry.md`.
 *
 * **Write contract** (the same as the database backend's). `write()` resolves once the
 * receiver answered 2xx for every record of the batch. Otherwise it rejects with a
 * {@link BufferedWriteError}:
 * - `buffered: true` — the receiver is unreachable or asked to retry (429, 502, 503, 504,
 *   a network error or timeout): the batch is held in memory (up to `buffer_size` events,
 *   and within an engine no more than its queue holds: {@link OtlpBackendOptions.bufferLimit})
 *   and sent, in order, when the next attempt succeeds. Not delivered yet. What it holds
 *   counts against the engine's `queue_size` ({@link OtlpBackend.pendingEvents}), as a
 *   database's buffer does: a receiver away for long makes the engine drop (count and record)
 *   further events rather than hold them without bound.
 * - `buffered: false` — not kept: the buffer is full (the drop is counted and an
 *   `EVENTS_DROPPED` record goes out ahead of the next delivery), or the receiver refused
 *   the request for good (400, 413, any other status). Those events are lost for this backend.
 * A partial success (`partialSuccess.rejectedLogRecords` > 0 in a 2xx answer) is not an
 * error of the write — the request was accepted — and is never resent: the rejected
 * records are counted ({@link OtlpBackend.stats}) and reported as a warning.
 *
 * Retries follow the OTLP/HTTP specification: only 429, 502, 503 and 504 (and network
 * failures) are retried, after the `Retry-After` the server gave (seconds or an HTTP
 * date), else after an exponential back-off with jitter. While batches wait, later writes
 * join the buffer without a request of their own, so the application is never slowed by
 * a collector that is down. The backend is write-only: `query()` rejects with
 * `VIGIL_ERR_NOT_QUERYABLE` (the engine queries the first backend that can answer).
 *
 * @module
 */
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import packageJson from "../../../package.json" with { type: "json" };
import type { OtlpBackendConfig } from "../../config/types.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { buildEvent } from "../../event/build.js";
import type { AuditEvent } from "../../event/types.js";
import { BaseBackend, type QuerySpec, type StoredRecord } from "../backend.js";
import { BatchBuffer, BufferedWriteError, Outage, SerialQueue } from "../retry.js";
import {
  exportRequest,
  type KeyValue,
  type OtlpLogRecord,
  resourceAttributes,
  resourceKey,
  toLogRecord,
  unixNanos,
} from "./mapping.js";

const gzipAsync = promisify(gzip);

/** Statuses the OTLP/HTTP specification says to retry. */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);

/** The longest `Retry-After` honoured; a longer one is cut to this. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** How much of an error answer's body is quoted in a message. */
const QUOTED_BODY = 300;

/** Settings outside the configuration file. */
export interface OtlpBackendOptions {
  /** Called with each warning (outages, refusals, partial successes, drops). */
  readonly onWarning?: (message: string) => void;
  /**
   * What of each event may leave readable (encryption's clear view): attributes are taken
   * from it, and the body is the stored line (the encrypted envelope). Default: the event.
   */
  readonly view?: (event: AuditEvent) => AuditEvent;
  /** The first back-off delay, ms. Default 1000. */
  readonly retryInitialMs?: number;
  /** The longest back-off delay, ms. Default 30000. */
  readonly retryMaxMs?: number;
  /** Told of every retry scheduled: why, and after how long. */
  readonly onRetry?: (retry: { readonly reason: string; readonly delayMs: number }) => void;
  /**
   * The most events held for a later attempt, over `buffer_size` when smaller. The engine
   * passes what its queue and batches in flight can hold, as it does to the SQL and NATS
   * backends. Default: `buffer_size` alone.
   */
  readonly bufferLimit?: number;
}

/** Counters of what the backend sent and what became of it. */
export interface OtlpStats {
  /** Log records the receiver accepted (2xx), partial-success rejections excluded. */
  readonly delivered: number;
  /** Requests that answered 2xx. */
  readonly requests: number;
  /** Retries scheduled (429/502/503/504, network errors, timeouts). */
  readonly retries: number;
  /** Records the receiver rejected inside a 2xx answer (`partialSuccess.rejectedLogRecords`). */
  readonly rejected: number;
  /** Records in requests refused for good (400, 413, other statuses). */
  readonly refused: number;
  /** Events dropped because the buffer was full. */
  readonly dropped: number;
  /** Events waiting in the buffer now. */
  readonly buffered: number;
}

/** One event ready to send: its log record and its resource. */
interface Item {
  readonly key: string;
  readonly application: AuditEvent["application"] | undefined;
  readonly record: OtlpLogRecord;
}

/** What one request came to. */
type Outcome =
  | { readonly kind: "ok"; readonly rejected: number; readonly message?: string }
  | { readonly kind: "retry"; readonly reason: string; readonly afterMs?: number }
  | { readonly kind: "refused"; readonly reason: string };

/**
 * The milliseconds a `Retry-After` header asks to wait: delay-seconds or an HTTP date
 * (RFC 9110 §10.2.3); `undefined` when absent or unreadable.
 */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.min(MAX_RETRY_AFTER_MS, Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now)) : undefined;
}

function message(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== error.message
      ? `${error.message} (${cause.message})`
      : error.message;
  }
  return String(error);
}

/** The OpenTelemetry logs backend. */
export class OtlpBackend extends BaseBackend {
  readonly type = "otlp";
  /** Write-only: events cannot be read back from a log pipeline. */
  readonly writeOnly = true;
  readonly #config: OtlpBackendConfig;
  readonly #options: OtlpBackendOptions;
  readonly #headers: Record<string, string>;
  readonly #pending: BatchBuffer<Item>;
  readonly #queue = new SerialQueue();
  readonly #outage: Outage;
  #closed = false;
  /** Dropped events not yet announced by an EVENTS_DROPPED record, and whose they were. */
  #unannounced = 0;
  /** The notice for `#unannounced` drops, kept so a retried request carries the same record id. */
  #notice: { readonly count: number; readonly item: Item } | undefined;
  #droppedFrom: AuditEvent["application"] | undefined;
  #stats = { delivered: 0, requests: 0, retries: 0, rejected: 0, refused: 0, dropped: 0 };

  constructor(config: OtlpBackendConfig, options: OtlpBackendOptions = {}) {
    super(config.name);
    this.#config = config;
    this.#options = options;
    this.#pending = new BatchBuffer(Math.min(config.buffer_size, options.bufferLimit ?? config.buffer_size));
    this.#outage = new Outage(
      { initialMs: options.retryInitialMs ?? 1000, maxMs: options.retryMaxMs ?? 30_000 },
      {
        warn: (text) => this.#warn(text),
        healthy: () => this.markHealthy(),
        unhealthy: (error) => this.markUnhealthy(error),
        attempt: () =>
          void this.#serial(async () => {
            if (!this.#closed && (await this.#flushPending())) this.#outage.recovered();
          }),
        closed: () => this.#closed,
      },
      {
        down: (reason) => `cannot deliver (${reason}); buffering and retrying`,
        up: "the receiver takes records again; buffered records sent",
        unhealthy: (reason) => `${reason}; ${this.#pending.items} event(s) buffered`,
      },
    );
    this.#headers = {
      ...config.headers,
      "content-type": "application/json",
      "user-agent": `vigil-audit/${packageJson.version}`,
      ...(config.compression === "gzip" ? { "content-encoding": "gzip" } : {}),
    };
  }

  /** Events held in memory for a later attempt: counted against the engine's `queue_size`. */
  pendingEvents(): number {
    return this.#pending.items;
  }

  /** What was sent and what became of it. */
  stats(): OtlpStats {
    return { ...this.#stats, buffered: this.#pending.items };
  }

  #warn(text: string): void {
    this.#options.onWarning?.(`${this.name}: ${text}`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  #items(records: readonly StoredRecord[]): Item[] {
    const observed = unixNanos(new Date().toISOString()) as string;
    const view = this.#options.view;
    return records.map((r) => ({
      key: resourceKey(r.event.application),
      application: r.event.application,
      record: toLogRecord(view ? view(r.event) : r.event, r.line, observed),
    }));
  }

  /** The record that tells the receiver how many events this backend dropped. */
  #dropNotice(count: number): Item {
    const application = this.#droppedFrom ?? { name: "unknown_service" };
    const event = buildEvent(
      {
        action: "EVENTS_DROPPED",
        category: "AUDIT",
        status: "FAILURE",
        severity: "WARNING",
        result: { count },
        metadata: {
          reason: `otlp backend ${this.name}: buffer full (${this.#pending.limit} events)`,
          backend: this.name,
        },
      },
      application,
      undefined,
      () => undefined,
    ) as AuditEvent;
    return {
      key: resourceKey(application),
      application,
      record: toLogRecord(event, JSON.stringify(event), unixNanos(event.timestamp) as string),
    };
  }

  /** Splits events into requests of at most `max_batch_size` records. */
  #chunks(items: readonly Item[]): Item[][] {
    const size = this.#config.max_batch_size;
    const out: Item[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  }

  /** One request. Never throws: every failure is an {@link Outcome}. */
  async #post(items: readonly Item[]): Promise<Outcome> {
    // consecutive records of one application share a resource entry, so the request keeps
    // the order of the events (a resource may appear twice when applications alternate)
    const groups: { key: string; resource: KeyValue[]; records: OtlpLogRecord[] }[] = [];
    for (const item of items) {
      let group = groups[groups.length - 1];
      if (group === undefined || group.key !== item.key) {
        group = { key: item.key, resource: resourceAttributes(item.application), records: [] };
        groups.push(group);
      }
      group.records.push(item.record);
    }
    const json = JSON.stringify(exportRequest(groups, packageJson.version));
    let response: Response;
    let text: string;
    try {
      const body = this.#config.compression === "gzip" ? await gzipAsync(json) : Buffer.from(json);
      response = await fetch(this.#config.endpoint, {
        method: "POST",
        headers: this.#headers,
        body,
        signal: AbortSignal.timeout(Math.round(this.#config.timeout_seconds * 1000)),
      });
      text = await response.text();
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return {
        kind: "retry",
        reason: timedOut
          ? `no answer within ${this.#config.timeout_seconds} s`
          : `request failed: ${message(error)}`,
      };
    }
    const status = response.status;
    if (status >= 200 && status < 300) return { kind: "ok", ...partialSuccess(text) };
    const detail = errorDetail(text);
    const reason = `HTTP ${status}${detail ? `: ${detail}` : ""}`;
    if (RETRYABLE_STATUS.has(status)) {
      const afterMs = retryAfterMs(response.headers.get("retry-after"));
      return afterMs === undefined ? { kind: "retry", reason } : { kind: "retry", reason, afterMs };
    }
    return {
      kind: "refused",
      reason:
        status === 413
          ? `${reason} (the request was too large; lower max_batch_size, now ${this.#config.max_batch_size})`
          : reason,
    };
  }

  /**
   * Sends one request's worth of items (and the drop notice, when one is due). Returns
   * the retry outcome when the request must be tried again, `undefined` otherwise (sent,
   * or refused for good and counted).
   */
  async #send(items: readonly Item[]): Promise<Exclude<Outcome, { kind: "ok" }> | undefined> {
    const announced = this.#unannounced;
    if (announced > 0 && this.#notice?.count !== announced)
      this.#notice = { count: announced, item: this.#dropNotice(announced) };
    const payload = announced > 0 && this.#notice ? [this.#notice.item, ...items] : items;
    const outcome = await this.#post(payload);
    if (outcome.kind === "retry") return outcome;
    if (announced > 0) this.#unannounced -= announced;
    if (outcome.kind === "refused") {
      this.#stats.refused += payload.length;
      this.#warn(`the receiver refused ${payload.length} log record(s), not resent: ${outcome.reason}`);
      return outcome;
    }
    this.#stats.requests++;
    this.#stats.delivered += payload.length - Math.min(outcome.rejected, payload.length);
    if (outcome.rejected > 0) {
      this.#stats.rejected += outcome.rejected;
      this.#warn(
        `the receiver rejected ${outcome.rejected} of ${payload.length} log record(s) (partial success, not resent)${
          outcome.message ? `: ${outcome.message}` : ""
        }`,
      );
    }
    return undefined;
  }

  /** Sends buffered batches in order; false when the receiver asked to wait. */
  async #flushPending(): Promise<boolean> {
    for (let batch = this.#pending.peek(); batch !== undefined; batch = this.#pending.peek()) {
      const outcome = await this.#send(batch);
      if (outcome?.kind === "retry") {
        this.#failed(outcome);
        return false;
      }
      this.#pending.shift();
    }
    return true;
  }

  #failed(outcome: Outcome & { kind: "retry" }): void {
    const delay = this.#outage.failed(outcome.reason, outcome.afterMs);
    if (delay === undefined) return;
    this.#stats.retries++;
    this.#options.onRetry?.({ reason: outcome.reason, delayMs: delay });
  }

  /** Keeps chunks for later, in order, as far as the buffer allows; counts and reports the rest. */
  #bufferOrDrop(chunks: readonly (readonly Item[])[], cause: string): BufferedWriteError {
    let kept = 0;
    let lost = 0;
    for (const chunk of chunks) {
      if (lost === 0 && this.#pending.offer(chunk)) kept += chunk.length;
      else {
        lost += chunk.length;
        this.#droppedFrom = chunk[0]?.application ?? this.#droppedFrom;
      }
    }
    this.markUnhealthy(new Error(`${cause}; ${this.#pending.items} event(s) buffered`));
    if (lost === 0) {
      return new BufferedWriteError(
        this.name,
        `${cause}: ${kept} event(s) buffered in memory, not yet delivered`,
        { buffered: true, events: kept },
      );
    }
    this.#stats.dropped += lost;
    this.#unannounced += lost;
    return new BufferedWriteError(
      this.name,
      `${cause} and the buffer is full (${this.#pending.items} of ${this.#pending.limit} events): ` +
        `${lost} event(s) dropped (an EVENTS_DROPPED record follows)${kept > 0 ? `, ${kept} buffered` : ""}`,
      { buffered: false, events: lost },
    );
  }

  override write(records: readonly StoredRecord[], _options: { readonly sync: boolean }): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (records.length === 0) return Promise.resolve();
    const chunks = this.#chunks(this.#items(records));
    return this.#serial(async () => {
      if (!this.#pending.empty) {
        if (this.#outage.waiting) throw this.#bufferOrDrop(chunks, "waiting to retry");
        if (!(await this.#flushPending())) throw this.#bufferOrDrop(chunks, "receiver unavailable");
      }
      let refused: { index: number; reason: string; events: number } | undefined;
      for (let i = 0; i < chunks.length; i++) {
        const outcome = await this.#send(chunks[i] as Item[]);
        if (outcome?.kind === "retry") {
          const error = this.#bufferOrDrop(chunks.slice(i), outcome.reason);
          this.#failed(outcome);
          throw error;
        }
        if (outcome?.kind === "refused") {
          refused = {
            index: i,
            reason: outcome.reason,
            events: (refused?.events ?? 0) + (chunks[i]?.length ?? 0),
          };
        }
      }
      this.#outage.recovered();
      if (refused !== undefined) {
        throw new BufferedWriteError(
          this.name,
          `the receiver refused ${refused.events} of ${records.length} event(s), not resent: ${refused.reason}`,
          { buffered: false, events: refused.events },
        );
      }
    });
  }

  #closedError(): VigilError {
    return new VigilError(ErrorCodes.CLOSED, `${this.name}: the otlp backend is closed`);
  }

  /** Write-only: rejects with `VIGIL_ERR_NOT_QUERYABLE`. */
  override query(_spec: QuerySpec): AsyncIterable<AuditEvent> {
    const error = new VigilError(
      ErrorCodes.NOT_QUERYABLE,
      `${this.name}: an otlp backend only sends events; add a file or database backend to search, count or export them`,
    );
    return {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
    };
  }

  /**
   * Stops retrying and makes one last attempt to send what is buffered. Rejects (after
   * closing) with a {@link BufferedWriteError} naming the events that could not be sent.
   */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#outage.stop();
    const last = await this.#serial(async () => {
      this.#closed = true;
      if (this.#pending.empty && this.#unannounced === 0) return undefined;
      for (let batch = this.#pending.peek(); batch !== undefined; batch = this.#pending.peek()) {
        const outcome = await this.#send(batch);
        if (outcome?.kind === "retry") return outcome.reason;
        this.#pending.shift();
      }
      if (this.#unannounced > 0) await this.#send([]);
      return undefined;
    });
    const lost = this.#pending.clear();
    if (lost > 0) {
      this.#stats.dropped += lost;
      throw new BufferedWriteError(
        this.name,
        `closed with ${lost} buffered event(s) that could not be sent${last ? `: ${last}` : ""}`,
        { buffered: false, events: lost },
      );
    }
  }
}

/** `partialSuccess` of an `ExportLogsServiceResponse` (a JSON body), when there is one. */
function partialSuccess(text: string): { rejected: number; message?: string } {
  if (text.trim() === "") return { rejected: 0 };
  try {
    const body = JSON.parse(text) as {
      partialSuccess?: { rejectedLogRecords?: unknown; errorMessage?: unknown };
    };
    const p = body?.partialSuccess;
    const rejected = Number(p?.rejectedLogRecords ?? 0); // int64: a string in JSON
    const msg = typeof p?.errorMessage === "string" && p.errorMessage !== "" ? p.errorMessage : undefined;
    return {
      rejected: Number.isFinite(rejected) && rejected > 0 ? rejected : 0,
      ...(msg === undefined ? {} : { message: msg }),
    };
  } catch {
    return { rejected: 0 }; // a body that is not JSON (protobuf receivers answer empty or binary)
  }
}

/** The message of an error answer (a `google.rpc.Status` in JSON), or the start of its text. */
function errorDetail(text: string): string {
  try {
    const status = JSON.parse(text) as { message?: unknown };
    if (typeof status?.message === "string" && status.message !== "")
      return status.message.slice(0, QUOTED_BODY);
  } catch {
    // not JSON: quote the text
  }
  return text.trim().slice(0, QUOTED_BODY);
}
