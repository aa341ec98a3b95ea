/**
 * Integrity for database rows (SPEC §9): signed records kept in the database
 * (`<table>_checkpoints`), the rows as a {@link LineSource} for verification, and
 * retention of rows that stays verifiable.
 *
 * What is needed from a database backend is declared here ({@link RecordTable},
 * {@link RowStore}); the SQL backend (`storage/sql/backend.ts`) provides it, so this layer
 * does not depend on SQL.
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";
import { checkLine } from "./chain.js";
import {
  type BadRecordLine,
  type CheckpointSink,
  parseRecord,
  type RetentionRecord,
  type SignedRecord,
  type StoredSignedRecord,
  signRecord,
} from "./records.js";
import type { Signer } from "./signing.js";
import type { LineSource } from "./verify.js";

/** A signed record as a row of `<table>_checkpoints`. */
export interface SignedRecordRow {
  readonly type: string;
  readonly chain: string;
  /** The checkpoint's `seq`, the retention record's `to`, or the erasure record's highest seq. */
  readonly seq: number;
  /** The record's JSON, exactly as a file sink would write it (without newline). */
  readonly text: string;
}

/** A database's table of signed records. */
export interface RecordTable {
  /** The backend's name (for messages). */
  readonly name: string;
  /** How the records table is named in problems (`sqlite:vigil_audit_events_checkpoints`). */
  readonly recordsSource: string;
  /**
   * Append rows in one transaction, after the event batches already handed to the backend.
   * `retryNow`: try the connection even while an outage's reconnection delay runs (at close).
   */
  appendSignedRecords(
    rows: readonly SignedRecordRow[],
    options?: { readonly retryNow?: boolean },
  ): Promise<void>;
  /** Every stored record with its row id, oldest first. */
  signedRecords(): AsyncIterable<{ readonly at: number; readonly text: string }>;
}

/** A database table of events, with its records table. */
export interface RowStore extends RecordTable {
  /** How the events table is named in problems (`sqlite:vigil_audit_events`). */
  readonly source: string;
  /** Stored lines with their row ids, in row-id order, paged. See `SqlBackend.storedLines`. */
  storedLines(options?: {
    readonly from?: Date;
    readonly to?: Date;
    readonly olderThan?: Date;
  }): AsyncIterable<{ readonly at: number; readonly line: string }>;
  /** Delete rows with `ts < cutoff` and a row id up to `maxRow`; returns how many. */
  deleteRetained(cutoff: Date, maxRow: number): Promise<number>;
}

/** The row a record becomes. */
export function recordRow(record: SignedRecord): SignedRecordRow {
  return {
    type: record.type,
    chain: record.chain,
    seq:
      record.type === "checkpoint"
        ? record.seq
        : record.type === "retention"
          ? record.to
          : Math.max(...record.replacements.map((r) => r.seq)),
    text: JSON.stringify(record),
  };
}

/**
 * Appends signed records to a database's `<table>_checkpoints`. `append` never blocks and
 * never throws: records are queued and written in order, through the backend's own write
 * queue, so a checkpoint is committed only after the batches it covers. A failed write keeps
 * the records queued (retried on the next `append` and at `close`) and is reported once
 * through `onError`; `close()` resolves when the queue is empty and rejects, naming how many
 * records were not written, when the database is still unreachable.
 *
 * @example
 * const sink = new TableCheckpointSink(sqlBackend, (err) => engine.emit("error", err));
 */
export class TableCheckpointSink implements CheckpointSink {
  readonly #table: RecordTable;
  readonly #onError: (error: unknown) => void;
  #queue: SignedRecord[] = [];
  #running: Promise<void> | undefined;
  #lastError: unknown;

  constructor(table: RecordTable, onError: (error: unknown) => void) {
    this.#table = table;
    this.#onError = onError;
  }

  append(record: SignedRecord): void {
    this.#queue.push(record);
    void this.#start();
  }

  #start(retryNow = false): Promise<void> {
    this.#running ??= this.#drain(retryNow).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #drain(retryNow: boolean): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice();
      try {
        await this.#table.appendSignedRecords(batch.map(recordRow), { retryNow });
      } catch (error) {
        if (this.#lastError === undefined) {
          this.#onError(
            new VigilError(
              ErrorCodes.STORAGE,
              `${this.#table.name}: ${batch.length} signed record(s) not written to ${this.#table.recordsSource} yet (kept, retried with the next checkpoint and at close): ${(error as Error)?.message ?? String(error)}`,
              { cause: error },
            ),
          );
        }
        this.#lastError = error;
        return;
      }
      this.#lastError = undefined;
      this.#queue = this.#queue.slice(batch.length);
    }
  }

  async close(): Promise<void> {
    if (this.#running) await this.#running;
    if (this.#queue.length > 0) await this.#start(true);
    if (this.#queue.length > 0) {
      const n = this.#queue.length;
      this.#queue = [];
      throw new VigilError(
        ErrorCodes.STORAGE,
        `${this.#table.name}: ${n} signed record(s) could not be written to ${this.#table.recordsSource}: ${(this.#lastError as Error)?.message ?? String(this.#lastError)}; verify will report the events they cover as unverifiable`,
        { cause: this.#lastError },
      );
    }
  }
}

/** Every signed record of a records table, parsed, located by row id. */
export async function readTableRecords(
  table: RecordTable,
): Promise<{ records: StoredSignedRecord[]; bad: BadRecordLine[] }> {
  const records: StoredSignedRecord[] = [];
  const bad: BadRecordLine[] = [];
  const file = table.recordsSource;
  for await (const { at, text } of table.signedRecords()) {
    const record = parseRecord(text);
    if (typeof record === "string") bad.push({ file, line: at, reason: record, rows: true });
    else records.push({ record, file, line: at, rows: true });
  }
  return { records, bad };
}

/**
 * The rows of a database table as a {@link LineSource}: streamed in row-id order, located
 * as `<dialect>:<table> row <id>`. With `from`/`to`, the rows from the first to the last
 * whose timestamp is in the window.
 */
export function tableLineSource(
  store: RowStore,
  window: { readonly from?: Date; readonly to?: Date } = {},
): LineSource {
  return {
    name: store.source,
    rows: true,
    lines: () => store.storedLines(window),
  };
}

/** What {@link retainRows} did. */
export interface RowRetentionResult {
  readonly deletedEvents: number;
  readonly records: readonly RetentionRecord[];
}

/**
 * Retention of database rows that stays verifiable: reads the rows older than `cutoff`
 * (in pages), signs one retention record per contiguous range of each chain they hold
 * (`chain`, `from`, `to`, `last_hash`, `files: [<dialect>:<table>]`, `cutoff`), commits
 * them to `<table>_checkpoints`, and only then deletes exactly the rows read (`ts < cutoff`
 * up to the last row id read: a row written meanwhile is not deleted unsigned). Rows whose
 * line does not verify are not vouched for: verify reports their absence as before.
 * With `dryRun`, nothing is signed or deleted.
 */
export async function retainRows(
  store: RowStore,
  cutoff: Date,
  options: {
    readonly signer: Signer;
    readonly dryRun: boolean;
    readonly now?: () => Date;
    /**
     * Turns a stored line into its clear line (decrypts an envelope). A line it cannot
     * open (a missing or wrong key: `KeyError`) stops the pass before anything is deleted.
     * Default: lines are clear.
     */
    readonly open?: (line: string) => string;
  },
): Promise<RowRetentionResult> {
  const open = options.open ?? ((line: string) => line);
  /** Per chain, contiguous ranges in the order met (row order is seq order within a chain). */
  const ranges = new Map<string, { from: number; to: number; hash: string }[]>();
  let count = 0;
  let maxRow = 0;
  for await (const { at, line } of store.storedLines({ olderThan: cutoff })) {
    count++;
    if (at > maxRow) maxRow = at;
    const check = checkLine(open(line));
    if (!check?.valid) continue;
    let list = ranges.get(check.chain);
    if (!list) {
      list = [];
      ranges.set(check.chain, list);
    }
    const last = list[list.length - 1];
    if (last && check.seq === last.to + 1) {
      last.to = check.seq;
      last.hash = check.hash;
    } else list.push({ from: check.seq, to: check.seq, hash: check.hash });
  }
  const time = (options.now ?? (() => new Date()))().toISOString();
  const records: RetentionRecord[] = [];
  for (const [chain, list] of ranges) {
    for (const r of mergeRanges(list)) {
      records.push(
        signRecord(
          {
            v: 1 as const,
            type: "retention" as const,
            chain,
            from: r.from,
            to: r.to,
            last_hash: r.hash,
            files: [store.source],
            cutoff: cutoff.toISOString(),
            time,
          },
          options.signer,
        ),
      );
    }
  }
  if (options.dryRun || count === 0) return { deletedEvents: count, records };
  await store.appendSignedRecords(records.map(recordRow));
  return { deletedEvents: await store.deleteRetained(cutoff, maxRow), records };
}

/** Ranges sorted by `from`, adjacent and overlapping ones joined (duplicates collapse). */
function mergeRanges(
  list: readonly { from: number; to: number; hash: string }[],
): { from: number; to: number; hash: string }[] {
  const sorted = list.slice().sort((a, b) => a.from - b.from);
  const out: { from: number; to: number; hash: string }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.from <= last.to + 1) {
      if (r.to > last.to) {
        last.to = r.to;
        last.hash = r.hash;
      }
    } else out.push({ ...r });
  }
  return out;
}
