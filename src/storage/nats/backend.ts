/**
 * The `type: nats` storage backend: publishes every stored line to a NATS JetStream
 * stream, for `vigil ingest` to carry into a central store (SPEC §8).
 *
 * - **One subject per hash chain** (`<prefix>.events.<chain>`), so a chain's order is the
 *   stream's order on that subject. The first message of each batch carries
 *   `Nats-Expected-Last-Subject-Sequence` (the stream sequence of this writer's last
 *   acknowledged message on the subject): if anything else was published there, the server
 *   refuses it and the chain is not continued (a fork is refused, `VIGIL_ERR_NATS_STREAM`).
 * - **The event id is the `Nats-Msg-Id`**: a batch sent again after a lost acknowledgement
 *   is de-duplicated by the server (within the stream's duplicate window); the acknowledgements
 *   of duplicates carry the original sequence, so the expectation stays exact.
 * - **`write()` resolves once the stream has acknowledged every message** (so
 *   `logDurable()` resolves on the stream's acknowledgement).
 * - **While the server is away**, batches wait in a bounded buffer (`bufferLimit` events,
 *   default 10,000) and are published in order on reconnection, with the same back-off as
 *   the SQL backends. A batch that does not fit is refused (`buffered: false`,
 *   `droppedEvents`): the engine counts it and records an `EVENTS_DROPPED` event.
 * - **Checkpoints** travel on `<prefix>.records.<chain>`, behind the batches they cover.
 * - **Write-only**: `query` and `count` reject with `VIGIL_ERR_NOT_QUERYABLE`; the engine
 *   answers searches from another backend.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { NatsBackendConfig } from "../../config/types.js";
import { ErrorCodes, StorageError, VigilError } from "../../errors.js";
import type { AuditEvent } from "../../event/types.js";
import type { CheckpointSink, SignedRecord } from "../../integrity/records.js";
import { BaseBackend, type QuerySpec, type StoredRecord } from "../backend.js";
import { BatchBuffer, Outage, SerialQueue } from "../retry.js";
import {
  apiErrorCode,
  connectNats,
  ensureStream,
  type JetStreamClient,
  type JetStreamManager,
  loadNats,
  type NatsConnection,
  type NatsModules,
  subjectsOf,
} from "./stream.js";

/** Options of {@link NatsBackend}. */
export interface NatsBackendOptions {
  readonly onWarning?: (message: string) => void;
  /** Events held while the server is away. Default 10,000. */
  readonly bufferLimit?: number;
  /** First reconnection delay, doubled each time up to `retryMaxMs`. Defaults 200 and 30,000. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** How long to wait for a publish acknowledgement. Default 5,000 ms. */
  readonly ackTimeoutMs?: number;
  /** The subject of events without a chain (signing off). Default `<host>_<pid>`. */
  readonly processToken?: string;
}

/** Why a batch was not (yet) published; like the SQL backend's `SqlWriteError`. */
export class NatsWriteError extends StorageError {
  /** `true`: kept in memory and published on reconnection. */
  readonly buffered: boolean;
  readonly events: number;
  /** Events lost for this backend (the buffer was full): the engine records them as `EVENTS_DROPPED`. */
  readonly droppedEvents: number;

  constructor(
    backend: string,
    message: string,
    details: { buffered: boolean; events: number; cause?: unknown; code?: typeof ErrorCodes.NATS_STREAM },
  ) {
    super(backend, message, { cause: details.cause });
    this.name = "NatsWriteError";
    this.buffered = details.buffered;
    this.events = details.events;
    this.droppedEvents = details.buffered || details.code !== undefined ? 0 : details.events;
    if (details.code !== undefined) (this as { code: string }).code = details.code;
  }
}

interface Connected {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly modules: NatsModules;
}

/** A unit of publishing: events of a batch, or signed records. */
interface Item {
  readonly subject: string;
  readonly id: string;
  readonly data: string;
  readonly kind: "event" | "record";
}

const isFatal = (error: unknown): boolean =>
  error instanceof VigilError ||
  (error as { name?: string })?.name === "AuthorizationError" ||
  (error as { name?: string })?.name === "PermissionViolationError";

const text = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The NATS JetStream backend. */
export class NatsBackend extends BaseBackend {
  readonly type = "nats";
  /** Searches are answered by another backend (see the module comment). */
  readonly writeOnly = true;
  readonly #config: NatsBackendConfig;
  readonly #options: NatsBackendOptions;
  readonly #subjects: ReturnType<typeof subjectsOf>;
  readonly #processToken: string;
  #connected: Connected | undefined;
  #connecting: Promise<Connected> | undefined;
  /** Per subject: the stream sequence of this writer's last acknowledged message. */
  readonly #lastSeq = new Map<string, number>();
  /** Subjects holding messages this writer did not publish: not continued. */
  readonly #forked = new Set<string>();
  readonly #pending: BatchBuffer<Item>;
  readonly #queue = new SerialQueue();
  readonly #outage: Outage;
  #closed = false;

  constructor(config: NatsBackendConfig, options: NatsBackendOptions = {}) {
    super(config.name);
    this.#config = config;
    this.#options = options;
    this.#subjects = subjectsOf(config);
    this.#pending = new BatchBuffer(options.bufferLimit ?? 10_000);
    this.#outage = new Outage(
      { initialMs: options.retryInitialMs ?? 200, maxMs: options.retryMaxMs ?? 30_000 },
      {
        warn: (message) => this.#warn(message),
        healthy: () => this.markHealthy(),
        unhealthy: (error) => this.markUnhealthy(error),
        attempt: () => void this.#serial(() => this.#retry()),
        closed: () => this.#closed,
      },
      {
        down: (reason) => `NATS unreachable: ${reason}; buffering events`,
        up: "NATS reachable again; buffered events published",
        unhealthy: (reason) => `NATS unreachable: ${reason}; ${this.#pending.items} event(s) buffered`,
      },
    );
    this.#processToken = options.processToken ?? `${process.pid}`;
  }

  /** The stream this backend publishes to. */
  get stream(): string {
    return this.#config.stream;
  }

  /** Events held in memory, waiting for the server. */
  pendingEvents(): number {
    return this.#pending.items;
  }

  #warn(message: string): void {
    this.#options.onWarning?.(`${this.name}: ${message}`);
  }

  /**
   * Connects and creates or checks the stream. Rejects for what retrying cannot fix (a
   * missing client package or credentials file, an incompatible stream, refused
   * credentials); an unreachable server only makes the backend unhealthy: writes are
   * buffered and the connection retried.
   */
  override async open(): Promise<void> {
    try {
      await this.#ready();
    } catch (error) {
      if (isFatal(error)) throw error;
      this.#outage.failed(text(error));
    }
  }

  #ready(): Promise<Connected> {
    if (this.#connected) return Promise.resolve(this.#connected);
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#connecting ??= (async () => {
      const modules = await loadNats();
      const nc = await connectNats(modules, this.#config, `storage.backends.${this.name}`, {
        name: `vigil ${this.name} pid ${process.pid}`,
      });
      try {
        const jsm = await modules.js.jetstreamManager(nc, { timeout: this.#options.ackTimeoutMs ?? 5000 });
        await ensureStream(modules, jsm, this.#config, (m) => this.#warn(m));
        const js = modules.js.jetstream(nc, { timeout: this.#options.ackTimeoutMs ?? 5000 });
        const c = { nc, js, jsm, modules };
        this.#connected = c;
        return c;
      } catch (error) {
        await nc.close().catch(() => undefined);
        throw error;
      }
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #closedError(): VigilError {
    return new VigilError(ErrorCodes.CLOSED, `${this.name}: the nats backend is closed`);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  #itemsOf(records: readonly StoredRecord[]): Item[] {
    return records.map((r) => {
      const chain = r.event.integrity?.chain;
      return {
        subject:
          chain !== undefined ? this.#subjects.events(chain) : this.#subjects.events(this.#processToken),
        id: r.event.id,
        data: r.line,
        kind: "event",
      };
    });
  }

  /** The stream sequence of the last message on `subject` (0 when none). */
  async #lastOnServer(c: Connected, subject: string): Promise<{ seq: number; id: string | undefined }> {
    const m = await c.jsm.streams.getMessage(this.#config.stream, { last_by_subj: subject });
    if (m === null) return { seq: 0, id: undefined };
    return { seq: m.seq, id: m.header?.get("Nats-Msg-Id") || undefined };
  }

  /**
   * Publishes items in order, subject by subject: the first of each subject with the
   * expected last subject sequence, the rest pipelined behind it on the same connection.
   */
  async #publish(c: Connected, items: readonly Item[]): Promise<void> {
    const bySubject = new Map<string, Item[]>();
    for (const item of items) {
      const list = bySubject.get(item.subject);
      if (list) list.push(item);
      else bySubject.set(item.subject, [item]);
    }
    await Promise.all([...bySubject].map(([subject, list]) => this.#publishSubject(c, subject, list)));
  }

  async #publishSubject(c: Connected, subject: string, list: readonly Item[]): Promise<void> {
    if (this.#forked.has(subject)) throw this.#forkError(subject, list.length);
    let expected = this.#lastSeq.get(subject);
    if (expected === undefined) expected = (await this.#lastOnServer(c, subject)).seq;
    let start = 0;
    const send = (item: Item, expect?: number) =>
      c.js.publish(subject, item.data, {
        msgID: item.id,
        ...(expect !== undefined ? { expect: { lastSubjectSequence: expect } } : {}),
        headers: this.#headers(c, item),
      });
    let first: Awaited<ReturnType<JetStreamClient["publish"]>>;
    try {
      first = await send(list[0]!, expected);
    } catch (error) {
      if (apiErrorCode(error) !== 10071) throw error;
      // Someone else's message, or ours from an attempt whose acknowledgement was lost and
      // whose duplicate window has passed: ours only if it is in this list.
      const last = await this.#lastOnServer(c, subject);
      const at = list.findIndex((i) => i.id === last.id);
      if (at < 0) {
        this.#forked.add(subject);
        throw this.#forkError(subject, list.length, error);
      }
      start = at + 1;
      this.#lastSeq.set(subject, last.seq);
      if (start >= list.length) return;
      first = await send(list[start]!, last.seq);
    }
    const rest = list.slice(start + 1).map((item) => send(item));
    const acks = await Promise.all(rest);
    const lastAck = acks.length > 0 ? acks[acks.length - 1]! : first;
    this.#lastSeq.set(subject, lastAck.seq);
  }

  #headers(c: Connected, item: Item) {
    const h = c.modules.core.headers();
    h.set("Vigil-Kind", item.kind);
    return h;
  }

  #forkError(subject: string, events: number, cause?: unknown): NatsWriteError {
    return new NatsWriteError(
      this.name,
      `subject ${subject} of stream ${this.#config.stream} holds messages this writer did not publish ` +
        `(a forked chain): ${events} event(s) not published; the chain is not continued on the stream`,
      { buffered: false, events, cause, code: ErrorCodes.NATS_STREAM },
    );
  }

  async #flushPending(c: Connected): Promise<void> {
    for (let items = this.#pending.peek(); items !== undefined; items = this.#pending.peek()) {
      await this.#publish(c, items);
      this.#pending.shift();
    }
  }

  async #retry(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#flushPending(await this.#ready());
      this.#outage.recovered();
    } catch (error) {
      if (error instanceof NatsWriteError && !error.buffered) this.#dropHead(error);
      this.#outage.failed(text(error));
    }
  }

  /** A buffered batch refused for good (a fork): it leaves the buffer, reported. */
  #dropHead(error: NatsWriteError): void {
    this.#pending.shift();
    this.#options.onWarning?.(error.message);
  }

  #bufferOrDrop(items: Item[], cause: unknown): NatsWriteError {
    if (!this.#pending.offer(items)) {
      return new NatsWriteError(
        this.name,
        `NATS unreachable and the buffer is full (${this.#pending.items} of ${this.#pending.limit} events): ` +
          `${items.length} event(s) not published`,
        { buffered: false, events: items.length, cause },
      );
    }
    this.markUnhealthy(
      new Error(`NATS unreachable: ${text(cause)}; ${this.#pending.items} event(s) buffered`),
    );
    return new NatsWriteError(
      this.name,
      `NATS unreachable (${text(cause)}): ${items.length} event(s) buffered in memory, not yet on the stream`,
      { buffered: true, events: items.length, cause },
    );
  }

  /** Publishes `items` behind everything buffered; buffers them while the server is away. */
  #send(items: Item[]): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (items.length === 0) return Promise.resolve();
    return this.#serial(async () => {
      if (!this.#pending.empty && this.#outage.waiting)
        throw this.#bufferOrDrop(items, new Error("waiting to reconnect"));
      let c: Connected;
      try {
        c = await this.#ready();
        await this.#flushPending(c);
      } catch (error) {
        if (isFatal(error) && this.#connected === undefined) throw error;
        if (error instanceof NatsWriteError && !error.buffered) this.#dropHead(error);
        this.#outage.failed(text(error));
        throw this.#bufferOrDrop(items, error);
      }
      try {
        await this.#publish(c, items);
      } catch (error) {
        if (error instanceof NatsWriteError) throw error;
        const e = this.#bufferOrDrop(items, error);
        this.#outage.failed(text(error));
        throw e;
      }
      this.#outage.recovered();
    });
  }

  override write(records: readonly StoredRecord[], _options: { readonly sync: boolean }): Promise<void> {
    return this.#send(this.#itemsOf(records));
  }

  /**
   * A checkpoint sink publishing signed records to `<prefix>.records.<chain>`, in order behind
   * the batches they cover. `append` never blocks or throws; `close` rejects when records
   * could not be published.
   */
  checkpointSink(onError: (error: unknown) => void): CheckpointSink {
    const sent: Promise<void>[] = [];
    return {
      append: (record: SignedRecord) => {
        const data = JSON.stringify(record);
        const item: Item = {
          subject: this.#subjects.records(record.chain),
          id: `record-${createHash("sha256").update(data).digest("hex").slice(0, 32)}`,
          data,
          kind: "record",
        };
        const p = this.#send([item]).catch((error: unknown) => {
          if (error instanceof NatsWriteError && error.buffered) return; // published on reconnection
          onError(error);
          throw error;
        });
        p.catch(() => undefined);
        sent.push(p);
      },
      close: async () => {
        const results = await Promise.allSettled(sent);
        const failed = results.find((r) => r.status === "rejected");
        if (failed) throw (failed as PromiseRejectedResult).reason;
      },
    };
  }

  // biome-ignore lint/correctness/useYield: a write-only backend answers no query
  override async *query(_spec: QuerySpec): AsyncIterable<AuditEvent> {
    throw this.#writeOnlyError();
  }

  override async count(_spec: QuerySpec): Promise<number> {
    throw this.#writeOnlyError();
  }

  #writeOnlyError(): VigilError {
    return new VigilError(
      ErrorCodes.NOT_QUERYABLE,
      `${this.name}: the nats backend is write-only: search the central store that vigil ingest fills, or add a file or database backend`,
    );
  }

  /** Publishes what is buffered if the server is reachable, then closes the connection. */
  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#outage.stop();
    const lastError = await this.#serial(async () => {
      this.#closed = true;
      if (this.#pending.empty || this.#connected === undefined) return undefined;
      try {
        await this.#flushPending(this.#connected);
        return undefined;
      } catch (error) {
        return error;
      }
    });
    const c = this.#connected ?? (await this.#connecting?.catch(() => undefined));
    this.#connected = undefined;
    if (c) await c.nc.drain().catch(() => c.nc.close());
    if (!this.#pending.empty) {
      const lost = this.#pending.clear();
      throw new NatsWriteError(
        this.name,
        `closed with ${lost} buffered event(s) that could not be published${lastError ? `: ${text(lastError)}` : ""}`,
        { buffered: false, events: lost, cause: lastError },
      );
    }
  }
}
