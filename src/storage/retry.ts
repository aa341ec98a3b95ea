/**
 * What every backend that talks to a server shares while the server is away: a bounded
 * buffer of batches kept in order, the exponential back-off with jitter between attempts,
 * and the outage itself (said once when it starts and once when it ends, the backend's
 * health, the next attempt). The SQL (`storage/sql/`), NATS (`storage/nats/`) and OTLP
 * (`storage/otlp/`) backends use them; a new network backend should too, so that "bounded
 * like every other backend" means one thing.
 *
 * @module
 */
import { StorageError } from "../errors.js";

/**
 * Why a batch was not (yet) written by a backend that buffers during outages.
 * `buffered: true` — the batch is held in memory and will be written, in order, when the
 * server is back; it is *not durable yet*. `buffered: false` — it was not kept (the buffer
 * is full, or the server refused it for good): those events are lost for this backend.
 */
export class BufferedWriteError extends StorageError {
  /** `true`: kept in memory and written when the server is back. `false`: not kept. */
  readonly buffered: boolean;
  /** Events in the batch this error is about. */
  readonly events: number;

  constructor(
    backend: string,
    message: string,
    details: { readonly buffered: boolean; readonly events: number; readonly cause?: unknown },
  ) {
    super(backend, message, { cause: details.cause });
    this.name = "BufferedWriteError";
    this.buffered = details.buffered;
    this.events = details.events;
  }
}

/** Back-off settings: the first delay and the ceiling, in milliseconds. */
export interface BackoffOptions {
  /** The delay before the second attempt. */
  readonly initialMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): `initialMs · 2^attempt`,
 * capped at `maxMs`, then shortened by a random 0–25 % (jitter) so that many processes
 * cut off by the same outage do not all come back in the same millisecond.
 *
 * @example backoffDelay(3, { initialMs: 200, maxMs: 30_000 }) // between 1200 and 1600
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(base * (0.75 + random() * 0.25));
}

/**
 * Batches waiting for a server, oldest first, holding at most `limit` items in all
 * (events, log records: whatever the batches count). A batch that would overflow the
 * limit is refused whole, so what is kept is always a prefix of what was offered.
 */
export class BatchBuffer<T> {
  readonly limit: number;
  readonly #batches: (readonly T[])[] = [];
  #items = 0;

  /** @param limit - the most items held at once; 0 keeps nothing. */
  constructor(limit: number) {
    this.limit = Math.max(0, limit);
  }

  /** Items held, over all batches. */
  get items(): number {
    return this.#items;
  }

  /** Batches held. */
  get batches(): number {
    return this.#batches.length;
  }

  /** Whether nothing is held. */
  get empty(): boolean {
    return this.#batches.length === 0;
  }

  /** Keeps a copy of `batch` at the end; false (keeping nothing) when it would not fit. */
  offer(batch: readonly T[]): boolean {
    if (this.#items + batch.length > this.limit) return false;
    this.#batches.push(batch.slice());
    this.#items += batch.length;
    return true;
  }

  /** The oldest batch, still held. */
  peek(): readonly T[] | undefined {
    return this.#batches[0];
  }

  /** Removes the oldest batch (once it has been written or given up). */
  shift(): readonly T[] | undefined {
    const batch = this.#batches.shift();
    if (batch !== undefined) this.#items -= batch.length;
    return batch;
  }

  /** Every batch held, oldest first (a snapshot). */
  all(): readonly (readonly T[])[] {
    return this.#batches.slice();
  }

  /** Empties the buffer; returns how many items it held. */
  clear(): number {
    const n = this.#items;
    this.#batches.length = 0;
    this.#items = 0;
    return n;
  }
}

/** Runs jobs one after another (writes, buffer flushes, close), whatever the previous one's outcome. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every job queued before it has settled. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * When to try a server again: one timer at a time, the delay growing by
 * {@link backoffDelay} with each attempt (or as the server asked), back to the first delay
 * after a success. The timer never keeps the process alive.
 */
export class RetrySchedule {
  readonly #backoff: BackoffOptions;
  #attempt = 0;
  #dueAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(backoff: BackoffOptions) {
    this.#backoff = backoff;
  }

  /** Whether an attempt is scheduled. */
  get scheduled(): boolean {
    return this.#timer !== undefined;
  }

  /** Whether the next attempt is not due yet (callers then fail fast instead of trying). */
  get waiting(): boolean {
    return Date.now() < this.#dueAt;
  }

  /**
   * Runs `attempt` after the next back-off delay, or after `delayMs` when the server said how
   * long to wait; replaces an attempt already scheduled. Returns the delay.
   */
  schedule(attempt: () => void, delayMs?: number): number {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const delay = delayMs ?? backoffDelay(this.#attempt, this.#backoff);
    this.#attempt++;
    this.#dueAt = Date.now() + delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      attempt();
    }, delay);
    this.#timer.unref();
    return delay;
  }

  /** A success, or closing: nothing scheduled, and the next delay is the first again. */
  reset(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#attempt = 0;
    this.#dueAt = 0;
  }
}

/** What an {@link Outage} tells its backend, and how the backend tries its server again. */
export interface OutageHooks {
  /** Said once when an outage starts and once when it ends. */
  readonly warn: (text: string) => void;
  /** The backend's health, as the engine sees it (`markHealthy` / `markUnhealthy`). */
  readonly healthy: () => void;
  readonly unhealthy: (error: Error) => void;
  /** One attempt to reach the server again; the backend queues it behind its other jobs. */
  readonly attempt: () => void;
  /** Whether the backend is closing: nothing more is scheduled then. */
  readonly closed: () => boolean;
}

/** The words an {@link Outage} uses, for the server the backend talks to. */
export interface OutageWords {
  /** The warning when an outage starts, from the reason it failed. */
  readonly down: (reason: string) => string;
  /** The warning when it ends. */
  readonly up: string;
  /** The health error while it lasts, from the reason and the events held. */
  readonly unhealthy: (reason: string) => string;
}

/**
 * A network backend's outage: whether its server is away (so the warnings are said once
 * when it goes and once when it comes back, not per batch), its health, and when to try
 * again. The SQL, NATS and OTLP backends share it so that "buffer and retry" behaves the
 * same everywhere; each keeps its own buffer and its own way of flushing it.
 */
export class Outage {
  readonly #retries: RetrySchedule;
  readonly #hooks: OutageHooks;
  readonly #words: OutageWords;
  #active = false;

  constructor(backoff: BackoffOptions, hooks: OutageHooks, words: OutageWords) {
    this.#retries = new RetrySchedule(backoff);
    this.#hooks = hooks;
    this.#words = words;
  }

  /** Whether the server is away now. */
  get active(): boolean {
    return this.#active;
  }

  /** Whether the next attempt is not due yet: writers should buffer instead of trying. */
  get waiting(): boolean {
    return this.#retries.waiting;
  }

  /** The server took a write: the outage (if any) is over, the back-off starts again. */
  recovered(): void {
    if (this.#active) this.#hooks.warn(this.#words.up);
    this.#active = false;
    this.#retries.reset();
    this.#hooks.healthy();
  }

  /**
   * A write or an attempt failed for `reason`: unhealthy, and one attempt scheduled after
   * the next back-off delay (or after `delayMs`, when the server said how long to wait).
   * Returns that delay, or `undefined` when an attempt was already scheduled or the
   * backend is closing.
   */
  failed(reason: string, delayMs?: number): number | undefined {
    if (!this.#active) this.#hooks.warn(this.#words.down(reason));
    this.#active = true;
    this.#hooks.unhealthy(new Error(this.#words.unhealthy(reason)));
    if (this.#hooks.closed() || (delayMs === undefined && this.#retries.scheduled)) return undefined;
    return this.#retries.schedule(this.#hooks.attempt, delayMs);
  }

  /** Closing: no attempt stays scheduled. */
  stop(): void {
    this.#retries.reset();
  }
}
