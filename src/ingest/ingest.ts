/**
 * `vigil ingest` (SPEC §10): carries what producers published on a NATS JetStream stream
 * (their `type: nats` backends) into the backends of a central configuration.
 *
 * - **A durable pull consumer** (`vigil.ingest.source.durable`, default `vigil-ingest`) on
 *   `<prefix>.*.*`: every `vigil ingest` with the same name shares the work; each message
 *   goes to one of them.
 * - **Events are stored as they arrive** — already sanitized, chained and signed by their
 *   producer, never re-chained — through each central backend's idempotent insert (the
 *   event id is the primary key: a redelivered event is a no-op).
 * - **Acknowledged only after the commit**: a batch is acknowledged once every central
 *   backend has committed it (and its checkpoints are in `<table>_checkpoints`). A crash
 *   before that leaves the batch unacknowledged: the server delivers it again after
 *   `ack_wait`.
 * - **A database outage** stops the pulling: the batch is given back (`nak` with a delay),
 *   the worker waits with back-off and resumes when a write succeeds.
 * - **A poison message** (not a vigil event, an unknown schema version, a signed record that
 *   does not parse or whose signature fails) is published to `<prefix>.dead` with the reason,
 *   acknowledged, counted, and reported as an `INGEST_MESSAGE_REJECTED` event: it never
 *   blocks the stream.
 * - **A NATS server away at start** (down, not started yet): the worker starts all the same,
 *   reports itself unhealthy (`source_up` 0, one warning) and tries again with back-off until
 *   the server answers, then consumes. Later outages are the NATS client's to bridge (it
 *   reconnects without end); pulls fail meanwhile and are retried with back-off.
 * - **`stop()`** (SIGTERM) ends the pull in progress, finishes and acknowledges the batch in
 *   hand, and closes; while still waiting for the server, it ends the wait.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { createLineDecoder } from "../crypto/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import {
  checkRecordSignature,
  FileCheckpointSink,
  parseRecord,
  type SignedRecord,
} from "../integrity/records.js";
import { createVerifier, type SignatureVerifier } from "../integrity/signing.js";
import { recordRow } from "../integrity/sql.js";
import type { StorageBackend, StoredRecord } from "../storage/backend.js";
import { FileBackend } from "../storage/file/file-backend.js";
import { createBackends } from "../storage/index.js";
import {
  connectNats,
  ensureStream,
  type JetStreamClient,
  type JetStreamManager,
  loadNats,
  type NatsConnection,
  type NatsModules,
  subjectsOf,
} from "../storage/nats/stream.js";
import { backoffDelay } from "../storage/retry.js";
import { SqlBackend } from "../storage/sql/backend.js";

type JsMsg = import("@nats-io/jetstream").JsMsg;
type ConsumerMessages = import("@nats-io/jetstream").ConsumerMessages;
type Consumer = import("@nats-io/jetstream").Consumer;

/** Options of {@link Ingestor}. */
export interface IngestOptions {
  /** Messages per pull, written as one batch. Default 2000. */
  readonly batchSize?: number;
  /** How long one pull waits for messages. Default 2,000 ms. */
  readonly fetchExpiresMs?: number;
  /**
   * The consumer's `ack_wait` when this worker creates it: a batch not acknowledged within it
   * (its worker died) is delivered again. Default 30 s.
   */
  readonly ackWaitSeconds?: number;
  /** Back-off after a failed write: first delay and cap. Defaults 500 and 30,000 ms. */
  readonly retryInitialMs?: number;
  readonly retryMaxMs?: number;
  /** Warnings (stream settings, outages) and errors, one line each. */
  readonly onWarning?: (message: string) => void;
  readonly onError?: (error: unknown) => void;
  /**
   * Receives each rejected message as an event to record (`INGEST_MESSAGE_REJECTED`); the CLI
   * logs it through an engine on the central configuration.
   */
  readonly onRejected?: (event: RejectedMessage) => void;
}

/** A message moved to the dead-letter subject. */
export interface RejectedMessage {
  readonly stream: string;
  readonly subject: string;
  readonly streamSeq: number;
  readonly reason: string;
  readonly deadLetterSubject: string;
}

/** What an ingest worker has done so far. */
export interface IngestMetrics {
  /** Messages received (deliveries, redeliveries included). */
  readonly received: number;
  /** Events committed to every central backend (a redelivered one counts again). */
  readonly events_written: number;
  /** Signed records (checkpoints) stored. */
  readonly records_written: number;
  /** Messages moved to the dead-letter subject. */
  readonly dead_lettered: number;
  /** Failed writes, pulls and acknowledgements. */
  readonly errors: number;
  /** Batches committed and acknowledged. */
  readonly batches: number;
  /** Messages on the stream not yet delivered to this consumer, plus delivered but unacknowledged (last seen). */
  readonly lag: number;
  /** Events committed per second over the last 10 seconds. */
  readonly rate: number;
  /** Whether the last write to the central backends succeeded. */
  readonly backends_up: boolean;
  /** Whether the worker is connected to the stream (false while it waits for the NATS server at start). */
  readonly source_up: boolean;
}

/** A stored line, checked as an event of schema version 1, or why it is not one. */
function readEvent(text: string, decode: (line: string) => AuditEvent): AuditEvent | string {
  let event: AuditEvent;
  try {
    event = decode(text);
  } catch (error) {
    return `not a vigil event: ${error instanceof SyntaxError ? "not JSON" : (error as Error).message}`;
  }
  const e = event as unknown as Record<string, unknown>;
  if (e === null || typeof e !== "object" || Array.isArray(e)) return "not a vigil event: not a JSON object";
  if (e.schema_version !== 1) return `unknown schema version ${JSON.stringify(e.schema_version)}`;
  if (
    typeof e.id !== "string" ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(e.id)
  )
    return "not a vigil event: no id (a UUID)";
  if (typeof e.timestamp !== "string" || Number.isNaN(Date.parse(e.timestamp)))
    return "not a vigil event: no timestamp";
  const action = e.action as Record<string, unknown> | undefined;
  if (typeof action?.type !== "string" || typeof action.category !== "string")
    return "not a vigil event: no action.type and action.category";
  return event;
}

const text = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * What trying again cannot fix: a setting vigil refuses (a missing credentials file, a stream
 * or consumer with other settings) or refused credentials. Anything else (a refused
 * connection, a timeout, JetStream not ready yet) is waited out. The nats backend's rule.
 */
const isFatal = (error: unknown): boolean =>
  error instanceof VigilError ||
  (error as { name?: string })?.name === "AuthorizationError" ||
  (error as { name?: string })?.name === "PermissionViolationError";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const UTF8 = new TextDecoder();

/** One `vigil ingest` worker. */
export class Ingestor {
  readonly #config: ResolvedConfig;
  readonly #options: IngestOptions;
  readonly #source: NonNullable<ResolvedConfig["ingest"]>["source"];
  readonly #subjects: ReturnType<typeof subjectsOf>;
  readonly #backends: StorageBackend[];
  readonly #fileSinks: FileCheckpointSink[];
  readonly #decode: (line: string) => AuditEvent;
  readonly #verifier: SignatureVerifier | undefined;
  #nats: { nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager; modules: NatsModules } | undefined;
  #consumer: Consumer | undefined;
  #fetching: ConsumerMessages | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #attempt = 0;
  #lastLagCheck = 0;
  readonly #window: { at: number; n: number }[] = [];
  #m = {
    received: 0,
    events_written: 0,
    records_written: 0,
    dead_lettered: 0,
    errors: 0,
    batches: 0,
    lag: 0,
    backends_up: true,
    source_up: false,
  };

  /**
   * @throws {VigilError} `VIGIL_ERR_INGEST` when the configuration has no `vigil.ingest`, no
   *   backend to write into, or a nats backend among its own.
   */
  constructor(config: ResolvedConfig, options: IngestOptions = {}) {
    if (config.ingest === undefined)
      throw new VigilError(
        ErrorCodes.INGEST,
        "vigil ingest: the configuration has no vigil.ingest.source (the stream to read)",
      );
    const enabled = config.storage.backends.filter((b) => b.enabled);
    if (enabled.some((b) => b.type === "nats"))
      throw new VigilError(
        ErrorCodes.INGEST,
        "vigil ingest: the central configuration has a nats backend: it would publish what it consumes; write into file or database backends",
      );
    if (enabled.length === 0)
      throw new VigilError(
        ErrorCodes.INGEST,
        "vigil ingest: the central configuration has no enabled backend",
      );
    this.#config = config;
    this.#options = options;
    this.#source = config.ingest.source;
    this.#subjects = subjectsOf(this.#source);
    // no outage buffer: unacknowledged messages wait on the stream instead
    this.#backends = createBackends(config, { onWarning: (m) => this.#warn(m), bufferLimit: 0 });
    this.#fileSinks = this.#backends
      .filter((b): b is FileBackend => b instanceof FileBackend)
      .map((b) => new FileCheckpointSink(`${b.directory}/checkpoints`, [], (e) => this.#error(e)));
    this.#decode = createLineDecoder(config);
    const s = config.security.signing;
    const canVerify =
      s.algorithm === "hmac-sha256"
        ? s.secret_key !== undefined
        : (s.public_key ?? s.private_key) !== undefined;
    this.#verifier = s.enabled && canVerify ? createVerifier(s) : undefined;
  }

  #warn(message: string): void {
    this.#options.onWarning?.(message);
  }

  #error(error: unknown): void {
    this.#m.errors++;
    this.#options.onError?.(error);
  }

  /** The counters, for metrics. */
  metrics(): IngestMetrics {
    const now = Date.now();
    while (this.#window.length > 0 && this.#window[0]!.at < now - 10_000) this.#window.shift();
    const n = this.#window.reduce((sum, w) => sum + w.n, 0);
    return { ...this.#m, rate: n / 10 };
  }

  /**
   * Connects, checks (or creates) the stream and the durable consumer, opens the central
   * backends. While the NATS server cannot be reached it waits and tries again with back-off
   * (`metrics().source_up` false, one warning, each failed attempt counted in `errors`); a
   * {@link stop} meanwhile ends the wait, and {@link run} then ends without consuming.
   * Rejects for what retrying cannot fix (a stream with incompatible settings, a consumer of
   * the same name reading other subjects, missing or refused credentials).
   */
  async start(): Promise<void> {
    const modules = await loadNats();
    const servers = this.#source.servers.join(", ");
    for (let attempt = 0; this.#consumer === undefined && !this.#stopping; attempt++) {
      try {
        await this.#connect(modules);
      } catch (error) {
        if (isFatal(error)) throw error;
        this.#m.errors++;
        const delay = backoffDelay(attempt, {
          initialMs: this.#options.retryInitialMs ?? 500,
          maxMs: this.#options.retryMaxMs ?? 30_000,
        });
        if (attempt === 0)
          this.#warn(
            `vigil ingest: cannot reach the NATS server (${servers}): ${text(error)}; trying again with back-off until it answers`,
          );
        await this.#wait(delay);
        continue;
      }
      if (attempt > 0)
        this.#warn(`vigil ingest: connected to the NATS server (${servers}) after ${attempt + 1} attempts`);
    }
    if (this.#consumer === undefined) return; // stopped while waiting
    this.#m.source_up = true;
    for (const b of this.#backends) await b.open();
  }

  /** One attempt: connection, stream, consumer. The connection is closed again if any step fails. */
  async #connect(modules: NatsModules): Promise<void> {
    const source = this.#source;
    const nc = await connectNats(modules, source, "vigil.ingest.source", {
      name: `vigil ingest ${source.durable} pid ${process.pid}`,
    });
    try {
      const jsm = await modules.js.jetstreamManager(nc);
      await ensureStream(modules, jsm, source, (m) => this.#warn(m));
      await this.#ensureConsumer(modules, jsm);
      const js = modules.js.jetstream(nc);
      const consumer = await js.consumers.get(source.stream, source.durable);
      this.#nats = { nc, js, jsm, modules };
      this.#consumer = consumer;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  async #ensureConsumer(modules: NatsModules, jsm: JetStreamManager): Promise<void> {
    const { stream, durable } = this.#source;
    const existing = await jsm.consumers.info(stream, durable).catch((error: unknown) => {
      if ((error as { name?: string }).name === "ConsumerNotFoundError" || /not found/i.test(text(error)))
        return undefined;
      throw error;
    });
    if (existing) {
      if (
        existing.config.filter_subject !== this.#subjects.consumed ||
        existing.config.ack_policy !== "explicit"
      )
        throw new VigilError(
          ErrorCodes.NATS_STREAM,
          `NATS consumer ${durable} of stream ${stream} exists reading ${JSON.stringify(existing.config.filter_subject ?? "everything")} ` +
            `with ack policy ${existing.config.ack_policy}: vigil ingest needs filter ${this.#subjects.consumed} and explicit acks; ` +
            "delete it or choose another vigil.ingest.source.durable",
        );
      return;
    }
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: modules.js.AckPolicy.Explicit,
      deliver_policy: modules.js.DeliverPolicy.All,
      filter_subject: this.#subjects.consumed,
      ack_wait: (this.#options.ackWaitSeconds ?? 30) * 1e9,
      max_deliver: -1,
      max_ack_pending: 20_000,
    });
  }

  /** Pulls and stores until {@link stop}; resolves once the last batch is acknowledged and everything is closed. */
  async run(): Promise<void> {
    if (!this.#consumer) {
      try {
        await this.start();
      } catch (error) {
        await this.#close();
        throw error;
      }
    }
    const consumer = this.#consumer;
    if (consumer === undefined) return this.#close(); // stopped before the server answered
    const size = Math.max(1, this.#options.batchSize ?? 2000);
    const expires = Math.max(1000, this.#options.fetchExpiresMs ?? 2000);
    // The next pull runs while the batch before it is committed and acknowledged: batches
    // are still committed one after another, in the order they were pulled.
    let writing: Promise<void> = Promise.resolve();
    try {
      while (!this.#stopping) {
        const batch: JsMsg[] = [];
        try {
          this.#fetching = await consumer.fetch({ max_messages: size, expires });
          for await (const m of this.#fetching) batch.push(m);
        } catch (error) {
          // A pull can end in an error after delivering messages (heartbeats missed on a busy
          // event loop, a reconnection): those are ours, unacknowledged — store them now
          // rather than leave them to be delivered again after ack_wait.
          if (batch.length === 0) {
            this.#m.source_up = false;
            this.#error(
              new VigilError(ErrorCodes.STORAGE, `vigil ingest: pull failed: ${text(error)}`, {
                cause: error,
              }),
            );
            await writing;
            await this.#pause();
            continue;
          }
        } finally {
          this.#fetching = undefined;
        }
        this.#m.source_up = true;
        this.#m.received += batch.length;
        await writing;
        if (batch.length > 0) writing = this.#process(batch);
        await this.#updateLag(consumer);
      }
      await writing;
    } finally {
      await this.#close();
    }
  }

  /** Ends the pull in progress; the batch in hand is finished and acknowledged. Resolves when {@link run} has ended. */
  stop(): void {
    this.#stopping = true;
    this.#fetching?.stop();
  }

  async #pause(): Promise<void> {
    await this.#wait(
      backoffDelay(this.#attempt++, {
        initialMs: this.#options.retryInitialMs ?? 500,
        maxMs: this.#options.retryMaxMs ?? 30_000,
      }),
    );
  }

  /** Sleeps `ms`, or less when {@link stop} comes first. */
  async #wait(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.#stopping && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }

  async #updateLag(consumer: Consumer): Promise<void> {
    if (Date.now() - this.#lastLagCheck < 1000) return;
    this.#lastLagCheck = Date.now();
    try {
      const info = await consumer.info();
      this.#m.lag = info.num_pending + info.num_ack_pending;
    } catch {
      // a lag not known now is known at the next check
    }
  }

  async #process(batch: readonly JsMsg[]): Promise<void> {
    const events: StoredRecord[] = [];
    const seen = new Set<string>();
    const records: SignedRecord[] = [];
    const poison: { m: JsMsg; reason: string }[] = [];
    for (const m of batch) {
      const body = UTF8.decode(m.data);
      const kind = m.subject.slice(this.#source.subject_prefix.length + 1).split(".")[0];
      if (kind === "records") {
        const record = parseRecord(body);
        if (typeof record === "string") poison.push({ m, reason: `not a signed record: ${record}` });
        else if (this.#verifier && !checkRecordSignature(record, this.#verifier))
          poison.push({
            m,
            reason: `the ${record.type} of chain ${record.chain} does not verify (bad signature or another key)`,
          });
        else records.push(record);
      } else if (kind === "events") {
        const event = readEvent(body, this.#decode);
        if (typeof event === "string") poison.push({ m, reason: event });
        else if (!seen.has(event.id)) {
          seen.add(event.id);
          events.push({ event, line: body });
        }
      } else poison.push({ m, reason: `a subject vigil does not publish (${m.subject})` });
    }
    // the good ones first: committed, then acknowledged
    try {
      if (events.length > 0) await Promise.all(this.#backends.map((b) => b.write(events, { sync: true })));
      if (records.length > 0) await this.#storeRecords(records);
    } catch (error) {
      this.#m.backends_up = false;
      this.#error(
        new VigilError(
          ErrorCodes.STORAGE,
          `vigil ingest: ${batch.length} message(s) not stored, given back to the stream: ${text(error)}`,
          { cause: error },
        ),
      );
      const delay = backoffDelay(this.#attempt, {
        initialMs: this.#options.retryInitialMs ?? 500,
        maxMs: this.#options.retryMaxMs ?? 30_000,
      });
      for (const m of batch) m.nak(delay);
      await this.#pause(); // stop pulling while the central store is away
      return;
    }
    if (!this.#m.backends_up)
      this.#warn("vigil ingest: the central backends accept writes again; pulling resumes");
    this.#m.backends_up = true;
    this.#attempt = 0;
    for (const p of poison) await this.#deadLetter(p.m, p.reason);
    const poisoned = new Set(poison.map((p) => p.m));
    // One confirmed acknowledgement, the last, after plain ones: the server takes a
    // connection's messages in order, so its confirmation stands for the batch's, at the
    // cost of one round trip instead of one per message.
    const good = batch.filter((m) => !poisoned.has(m));
    const last = good.pop();
    let sent = true;
    for (const m of good) {
      try {
        m.ack();
      } catch {
        sent = false; // the connection closed: the server delivers them again
      }
    }
    const confirmed = await last?.ackAck().then(
      () => sent,
      () => false,
    );
    if (confirmed === false)
      this.#error(
        new VigilError(
          ErrorCodes.STORAGE,
          `vigil ingest: the acknowledgements of ${good.length + 1} message(s) were not confirmed; those not received will come again (stored once)`,
        ),
      );
    this.#m.events_written += events.length;
    this.#m.records_written += records.length;
    this.#m.batches++;
    this.#window.push({ at: Date.now(), n: events.length });
  }

  async #storeRecords(records: readonly SignedRecord[]): Promise<void> {
    const rows = records.map(recordRow);
    for (const b of this.#backends)
      if (b instanceof SqlBackend) await b.appendSignedRecords(rows, { retryNow: true });
    for (const sink of this.#fileSinks) for (const r of records) sink.append(r);
  }

  /** Publishes `m` to the dead-letter subject with its reason, then acknowledges it; reported. */
  async #deadLetter(m: JsMsg, reason: string): Promise<void> {
    const nats = this.#nats!;
    const h = nats.modules.core.headers();
    h.set("Vigil-Reason", reason.slice(0, 1000));
    h.set("Vigil-Subject", m.subject);
    h.set("Vigil-Stream-Seq", String(m.info.streamSequence));
    try {
      await nats.js.publish(this.#subjects.dead, m.data, {
        headers: h,
        msgID: `dead-${this.#source.stream}-${m.info.streamSequence}`,
      });
      await m.ackAck();
    } catch (error) {
      this.#error(
        new VigilError(ErrorCodes.STORAGE, `vigil ingest: dead letter not published: ${text(error)}`, {
          cause: error,
        }),
      );
      m.nak(1000);
      return;
    }
    this.#m.dead_lettered++;
    const event: RejectedMessage = {
      stream: this.#source.stream,
      subject: m.subject,
      streamSeq: m.info.streamSequence,
      reason,
      deadLetterSubject: this.#subjects.dead,
    };
    this.#warn(
      `vigil ingest: message ${m.info.streamSequence} on ${m.subject} moved to ${this.#subjects.dead}: ${reason}`,
    );
    this.#options.onRejected?.(event);
  }

  async #close(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const sink of this.#fileSinks) {
        try {
          sink.close();
        } catch (error) {
          this.#error(error);
        }
      }
      await Promise.allSettled(this.#backends.map((b) => b.close().catch((e: unknown) => this.#error(e))));
      await this.#nats?.nc.drain().catch(() => this.#nats?.nc.close());
    })();
    return this.#stopped;
  }
}
