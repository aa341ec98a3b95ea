/**
 * The integrity stage: puts every event into this writer's hash chain and signs the
 * chain head into checkpoints — every `checkpoint_every` events, every
 * `checkpoint_interval_seconds`, and at close (a `final` checkpoint).
 *
 * Runs as a {@link BatchStage} after `prepare` and before encryption: `processEvent`
 * fills `integrity` and computes the canonical stored line, `serialize` hands that
 * line on (so the encryption stage encrypts exactly the hashed bytes), `afterBatch`
 * signs when due.
 *
 * @module
 */
import { join, resolve } from "node:path";
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { toJsonLine } from "../event/serialize.js";
import type { Application, AuditEvent, Mutable } from "../event/types.js";
import type { BatchStage } from "../pipeline/stage.js";
import type { StoredRecord } from "../storage/backend.js";
import { createChainId, GENESIS, sealEvent } from "./chain.js";
import { markChainOpen } from "./pending.js";
import {
  type CheckpointRecord,
  type CheckpointSink,
  FileCheckpointSink,
  fanOutSinks,
  signRecord,
} from "./records.js";
import { createSigner, type Signer } from "./signing.js";
import { type RecordTable, TableCheckpointSink } from "./sql.js";

/** Options of {@link createIntegrityStage}. */
export interface IntegrityStageOptions {
  /** The writer's application; its `host` and `pid` go into the chain id. Default this process. */
  readonly application?: Pick<Application, "host" | "pid">;
  /**
   * Where checkpoints go. Default: a {@link FileCheckpointSink} writing to
   * `<directory>/checkpoints` (and to each `witness` directory).
   */
  readonly checkpointSink?: CheckpointSink;
  /** The store directory whose `checkpoints/` subdirectory receives checkpoints. Default: the first file backend's directory. */
  readonly directory?: string;
  /**
   * The store's database backends. When there is no file store (no `directory`, no file
   * backend), checkpoints go to each one's `<table>_checkpoints` table (and to each witness
   * directory). With a file store, checkpoints stay in its `checkpoints/` directory, which
   * verification of the database backends reads too. Default none.
   */
  readonly databases?: readonly RecordTable[];
  /**
   * More sinks that receive every record besides the store's own (the `nats` backends:
   * checkpoints travel on the stream to the central store). Default none.
   */
  readonly streams?: readonly CheckpointSink[];
  /**
   * Witness directories that receive a copy of every checkpoint (used only without
   * `checkpointSink`). Default: `security.signing.witness`.
   */
  readonly witness?: string | readonly string[];
  /** Fixed chain id (tests); default {@link createChainId}. */
  readonly chainId?: string;
  /** Clock for checkpoint times (tests); default `() => new Date()`. */
  readonly now?: () => Date;
  /**
   * Receives failures of the interval checkpoint (which runs on a timer, outside any batch).
   * Default: `process.emitWarning`. Wire it to the engine's error reporting.
   */
  readonly onError?: (error: unknown) => void;
}

/** The integrity stage, with what it has done so far. */
export interface IntegrityStage extends BatchStage {
  /** This writer's chain id. */
  readonly chain: string;
  /** The last sequence number given out (0 before the first event). */
  readonly seq: number;
  /** Sign a checkpoint of what has been written so far (if anything new); returns it. */
  checkpoint(final?: boolean): CheckpointRecord | undefined;
}

/** The directory checkpoints go to by default: the first enabled file backend's, resolved. */
export function defaultStoreDirectory(config: ResolvedConfig): string | undefined {
  for (const b of config.storage.backends) if (b.enabled && b.type === "file") return resolve(b.directory);
  return undefined;
}

/**
 * The integrity stage for a configuration, or `undefined` when `security.signing` is off
 * (so an unsigned pipeline pays nothing).
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` when signing is on but no signing key is usable
 *   (Ed25519 with only a public key verifies, it cannot write), or no place for checkpoints.
 * @example
 * const stage = createIntegrityStage(engineConfig, { application: { host: "web-1", pid: 4711 } });
 * const engine = new AuditEngine({ config, stages: stage ? [stage] : [] });
 */
export function createIntegrityStage(
  config: ResolvedConfig,
  options: IntegrityStageOptions = {},
): IntegrityStage | undefined {
  const signing = config.security.signing;
  if (!signing.enabled) return undefined;
  const signer = createSigner(signing);
  const onError =
    options.onError ??
    ((err: unknown) => process.emitWarning(`vigil: checkpoint failed: ${(err as Error).message}`));
  let sink = options.checkpointSink;
  if (!sink) {
    const directory = options.directory ?? defaultStoreDirectory(config);
    const chosen = options.witness ?? signing.witness;
    const witness = chosen === undefined ? [] : typeof chosen === "string" ? [chosen] : chosen;
    const databases = options.databases ?? [];
    const streams = options.streams ?? [];
    if (directory !== undefined)
      sink = fanOutSinks([
        new FileCheckpointSink(join(directory, "checkpoints"), witness, onError),
        ...streams,
      ]);
    else if (databases.length > 0 || streams.length > 0) {
      const sinks: CheckpointSink[] = databases.map((t) => new TableCheckpointSink(t, onError));
      sinks.push(...streams);
      if (witness.length > 0) sinks.push(new FileCheckpointSink(witness[0]!, witness.slice(1), onError));
      sink = fanOutSinks(sinks);
    } else {
      throw new VigilError(
        ErrorCodes.CONFIG,
        "security.signing is enabled but there is no file or database backend to keep checkpoints in: pass a checkpointSink",
      );
    }
  }
  const chain =
    options.chainId ??
    createChainId(options.application?.host ?? undefined, options.application?.pid ?? undefined);
  return new ChainStage(chain, signer, sink, signing, options.now ?? (() => new Date()), onError);
}

class ChainStage implements IntegrityStage {
  readonly name = "integrity";
  readonly chain: string;
  readonly #signer: Signer;
  readonly #sink: CheckpointSink;
  readonly #every: number;
  readonly #intervalMs: number;
  readonly #now: () => Date;
  readonly #onError: (error: unknown) => void;
  #seq = 0;
  #head = GENESIS;
  #pendingEvent: AuditEvent | undefined;
  #pendingLine = "";
  #committedSeq = 0;
  #committedHash = GENESIS;
  #checkpointedSeq = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    chain: string,
    signer: Signer,
    sink: CheckpointSink,
    signing: ResolvedConfig["security"]["signing"],
    now: () => Date,
    onError: (error: unknown) => void,
  ) {
    this.#onError = onError;
    this.chain = chain;
    this.#signer = signer;
    this.#sink = sink;
    this.#every = signing.checkpoint_every;
    this.#intervalMs = signing.checkpoint_interval_seconds * 1000;
    this.#now = now;
    markChainOpen(chain, true); // verify in this process tells its tail pending while it is open
  }

  get seq(): number {
    return this.#seq;
  }

  processEvent(event: Mutable<AuditEvent>): void {
    const seq = this.#seq + 1;
    // seal before committing the number: an event that cannot be serialized leaves no gap
    const { integrity, line } = sealEvent(event as AuditEvent, this.chain, seq, this.#head);
    this.#seq = seq;
    this.#head = integrity.hash;
    event.integrity = integrity; // a fresh object from sealEvent
    this.#pendingEvent = event as AuditEvent;
    this.#pendingLine = line;
  }

  serialize(event: AuditEvent): string {
    // Always the event just sealed: the engine serializes each event right after its stages ran.
    if (event !== this.#pendingEvent) return toJsonLine(event);
    this.#pendingEvent = undefined;
    return this.#pendingLine;
  }

  afterBatch(records: readonly StoredRecord[]): void {
    for (let i = records.length - 1; i >= 0; i--) {
      const integrity = records[i]!.event.integrity;
      if (integrity?.chain === this.chain) {
        if (integrity.seq > this.#committedSeq) {
          this.#committedSeq = integrity.seq;
          this.#committedHash = integrity.hash;
        }
        break;
      }
    }
    if (this.#committedSeq - this.#checkpointedSeq >= this.#every) this.checkpoint();
    else if (this.#timer === undefined && !this.#closed && this.#committedSeq > this.#checkpointedSeq) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        try {
          this.checkpoint();
        } catch (err) {
          this.#onError(err);
        }
      }, this.#intervalMs);
      this.#timer.unref();
    }
  }

  checkpoint(final = false): CheckpointRecord | undefined {
    if (this.#committedSeq === 0) return undefined;
    if (!final && this.#committedSeq === this.#checkpointedSeq) return undefined;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const record = signRecord(
      {
        v: 1 as const,
        type: "checkpoint" as const,
        chain: this.chain,
        seq: this.#committedSeq,
        hash: this.#committedHash,
        time: this.#now().toISOString(),
        ...(final ? { final: true as const } : {}),
      },
      this.#signer,
    );
    try {
      this.#sink.append(record);
    } catch (err) {
      throw new VigilError(
        ErrorCodes.INTEGRITY,
        `the checkpoint of chain ${this.chain} at seq ${record.seq} could not be written: ${(err as Error).message}`,
        { cause: err },
      );
    }
    this.#checkpointedSeq = this.#committedSeq;
    return record;
  }

  /** Signs the final checkpoint and closes the sink; a database sink resolves once its queue is written. */
  close(): void | Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    markChainOpen(this.chain, false);
    try {
      this.checkpoint(true);
    } catch (err) {
      try {
        const closing = this.#sink.close();
        if (closing) closing.catch(() => undefined);
      } catch {
        // the checkpoint's failure is the one to report
      }
      throw err;
    }
    return this.#sink.close();
  }
}
