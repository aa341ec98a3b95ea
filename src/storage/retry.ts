/**
 * What every backend that talks to a server shares while the server is away: a bounded
 * buffer of batches kept in order, and the exponential back-off with jitter between
 * attempts. The SQL backend (`storage/sql/`) and the OTLP backend (`storage/otlp/`) use
 * them; a new network backend should too, so that "bounded like every other backend"
 * means one thing.
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
