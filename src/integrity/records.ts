/**
 * Signed records kept beside the data: **checkpoints** (a chain's head, signed) and
 * **retention records** (a signed statement that a range of a chain was deleted on
 * purpose). Both are JSON Lines in a `checkpoints/` directory, append-only and fsync'd:
 *
 * ```
 * <directory>/checkpoints/<chain, made file-safe>.jsonl   checkpoints of one chain
 * <directory>/checkpoints/retention.jsonl                  retention records of every chain
 * <directory>/checkpoints/erasure.jsonl                    erasure records of every chain
 * ```
 *
 * A signature covers the RFC 8785 canonical JSON of the record without its `sig` member.
 *
 * @module
 */
import { closeSync, fsync, fsyncSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { makeDirectorySync } from "../storage/dirs.js";
import { appendWhole } from "../storage/file/append.js";
import { canonicalize } from "./canonical.js";
import type { SignatureVerifier, Signer, SigningAlgorithm } from "./signing.js";

/** A signed chain head. */
export interface CheckpointRecord {
  readonly v: 1;
  readonly type: "checkpoint";
  readonly chain: string;
  readonly seq: number;
  readonly hash: string;
  /** When it was signed, ISO 8601. */
  readonly time: string;
  readonly alg: SigningAlgorithm;
  readonly key_id: string;
  /** Set on the checkpoint written at close: the chain ends here. */
  readonly final?: true;
  /** base64 signature. */
  readonly sig: string;
}

/** A signed statement that events `from..to` of `chain` were deleted by retention. */
export interface RetentionRecord {
  readonly v: 1;
  readonly type: "retention";
  readonly chain: string;
  readonly from: number;
  readonly to: number;
  /** The hash of event `to`, so the event after the range still links. */
  readonly last_hash: string;
  /** The files deleted (names, not paths). */
  readonly files: readonly string[];
  /** The retention cutoff, ISO 8601 (deletion by age). */
  readonly cutoff?: string;
  /** Why the files went, when not by age: `rotation.backup_count N`. */
  readonly reason?: string;
  readonly time: string;
  readonly alg: SigningAlgorithm;
  readonly key_id: string;
  readonly sig: string;
}

/** One line rewritten by erasure: its chain position, its hash before and after, where it is. */
export interface ErasureReplacement {
  readonly seq: number;
  /** The hash the line had when written (the next event's `prev`, the checkpoints' `hash`). */
  readonly old: string;
  /** The hash of the rewritten line (its `integrity.hash` now). */
  readonly new: string;
  /** Where the rewritten line is: `file:line`, or `<dialect>:<table> row N`. */
  readonly at?: string;
}

/**
 * A signed statement that events of `chain` were rewritten by erasure (GDPR art. 17, signed
 * in-place redaction): each replacement names the position, the hash the event had and
 * the hash of its redacted form. Verify accepts exactly those replacements.
 */
export interface ErasureRecord {
  readonly v: 1;
  readonly type: "erasure";
  readonly chain: string;
  readonly replacements: readonly ErasureReplacement[];
  /** The fields replaced by the marker (dotted paths), across the replacements. */
  readonly fields: readonly string[];
  /** The marker that replaced them. */
  readonly marker: string;
  readonly time: string;
  readonly alg: SigningAlgorithm;
  readonly key_id: string;
  readonly sig: string;
}

export type SignedRecord = CheckpointRecord | RetentionRecord | ErasureRecord;

/** A record before signing. */
export type UnsignedRecord =
  | Omit<CheckpointRecord, "sig" | "alg" | "key_id">
  | Omit<RetentionRecord, "sig" | "alg" | "key_id">
  | Omit<ErasureRecord, "sig" | "alg" | "key_id">;

/** Sign a record with `signer`, adding `alg`, `key_id` and `sig`. */
export function signRecord<T extends UnsignedRecord>(
  record: T,
  signer: Signer,
): T & { alg: SigningAlgorithm; key_id: string; sig: string } {
  const body = { ...record, alg: signer.algorithm, key_id: signer.keyId };
  return { ...body, sig: signer.sign(canonicalize(body)) };
}

/** Whether a record's signature holds under `verifier` (constant-time for HMAC). */
export function checkRecordSignature(record: SignedRecord, verifier: SignatureVerifier): boolean {
  const { sig, ...body } = record;
  if (typeof sig !== "string") return false;
  return verifier.verify(canonicalize(body), sig);
}

/**
 * Where signed records go: beside the data, and optionally to a witness.
 *
 * A file sink persists each record (fsync'd) before `append` returns. A database sink
 * ({@link TableCheckpointSink}) cannot block: it queues the record, writes it in order
 * behind the batches it covers, and `close()` resolves once everything queued is written
 * (or rejects, naming what was not).
 */
export interface CheckpointSink {
  /** Persist one record (or queue it for persisting, in order); must not block on I/O it cannot do synchronously. */
  append(record: SignedRecord): void;
  /** Write what is queued and release files or connections. */
  close(): void | Promise<void>;
}

/**
 * One sink made of several (database tables and witness directories): `append` goes to
 * each; the first error is rethrown after every sink had its turn.
 */
export function fanOutSinks(sinks: readonly CheckpointSink[]): CheckpointSink {
  if (sinks.length === 1) return sinks[0]!;
  const each = (fn: (s: CheckpointSink) => void | Promise<void>): unknown[] => {
    const out: unknown[] = [];
    let first: { error: unknown } | undefined;
    for (const s of sinks) {
      try {
        out.push(fn(s));
      } catch (error) {
        first ??= { error };
      }
    }
    if (first) throw first.error;
    return out;
  };
  return {
    append: (record) => void each((s) => s.append(record)),
    close: () => {
      const pending = each((s) => s.close()).filter((p): p is Promise<void> => p instanceof Promise);
      if (pending.length === 0) return;
      return Promise.allSettled(pending).then((results) => {
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
      });
    },
  };
}

/** A chain id made safe as a file name. */
export function recordFileName(record: Pick<SignedRecord, "type" | "chain">): string {
  if (record.type === "retention") return "retention.jsonl";
  if (record.type === "erasure") return "erasure.jsonl";
  return `${record.chain.replace(/[^A-Za-z0-9._-]/g, "_")}.jsonl`;
}

/**
 * Appends signed records to `<directory>/<chain>.jsonl` (and `retention.jsonl`), and the
 * same lines to each witness directory.
 *
 * Durability: a checkpoint ({@link append}) is written at once and fsync'd on the thread
 * pool, so a slow disk never stalls the writer's event loop (a checkpoint lost to an OS
 * crash before its fsync leaves the events after the previous one reported as
 * unverifiable, never as intact). Retention records ({@link appendAll}) are fsync'd before
 * the call returns: the deletion they authorize follows. {@link close} fsyncs everything.
 *
 * @example
 * const sink = new FileCheckpointSink("logs/audit/checkpoints", ["/mnt/witness/audit"]);
 */
export class FileCheckpointSink implements CheckpointSink {
  readonly #directories: readonly string[];
  readonly #fds = new Map<string, number>();
  readonly #onError: (error: unknown) => void;
  /** Files with an fsync on the thread pool; `again`: written to since it started. */
  readonly #syncing = new Map<number, { again: boolean }>();
  #closed = false;

  /**
   * @param directory - the checkpoint directory (created when missing).
   * @param witnesses - more directories that receive a copy of every record (default none).
   * @param onError - receives a failed background fsync (default `process.emitWarning`).
   */
  constructor(directory: string, witnesses: readonly string[] = [], onError?: (error: unknown) => void) {
    this.#directories = [directory, ...witnesses];
    this.#onError =
      onError ??
      ((err) =>
        process.emitWarning(`vigil: a checkpoint file could not be synced: ${(err as Error).message}`));
  }

  append(record: SignedRecord): void {
    this.#write(recordFileName(record), Buffer.from(`${JSON.stringify(record)}\n`), false);
  }

  /** Append several records of one file (e.g. `retention.jsonl`) with one write and one fsync, done on return. */
  appendAll(records: readonly SignedRecord[]): void {
    const byFile = new Map<string, string>();
    for (const r of records) {
      const name = recordFileName(r);
      byFile.set(name, `${byFile.get(name) ?? ""}${JSON.stringify(r)}\n`);
    }
    for (const [name, text] of byFile) this.#write(name, Buffer.from(text), true);
  }

  #write(name: string, text: Buffer, syncNow: boolean): void {
    let firstError: unknown;
    for (const dir of this.#directories) {
      try {
        const path = join(dir, name);
        let fd = this.#fds.get(path);
        if (fd === undefined) {
          makeDirectorySync(dir, { mode: 0o750 });
          fd = openSync(path, "a", 0o640);
          this.#fds.set(path, fd);
        }
        appendWhole(fd, text); // a record cut short by a full disk is taken back, never left torn
        if (syncNow || this.#closed) fsyncSync(fd);
        else this.#syncSoon(fd);
      } catch (err) {
        firstError ??= err;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  /** fsync `fd` on the thread pool; writes during an fsync get one more after it. */
  #syncSoon(fd: number): void {
    const running = this.#syncing.get(fd);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.#syncing.set(fd, state);
    const run = (): void =>
      fsync(fd, (err) => {
        if (err) this.#onError(err);
        if (state.again && !this.#closed) {
          state.again = false;
          run();
          return;
        }
        this.#syncing.delete(fd);
        if (this.#closed) closeSync(fd); // close() left it open for this fsync
      });
    run();
  }

  /** fsync every file now, then close it (a file whose background fsync is running closes after it). */
  close(): void {
    this.#closed = true;
    let firstError: unknown;
    for (const fd of this.#fds.values()) {
      try {
        fsyncSync(fd);
      } catch (err) {
        firstError ??= err;
      }
      if (!this.#syncing.has(fd)) closeSync(fd);
    }
    this.#fds.clear();
    if (firstError !== undefined) throw firstError;
  }
}

/** One record read back, with where it was found. */
export interface StoredSignedRecord {
  readonly record: SignedRecord;
  /** The file (path), or the table (`sqlite:vigil_audit_events_checkpoints`). */
  readonly file: string;
  /** The 1-based line, or the row id when `rows` is set. */
  readonly line: number;
  /** Read from a database table: `line` is a row id. */
  readonly rows?: boolean;
}

/** A line of a record file (or a row of a records table) that is not a record. */
export interface BadRecordLine {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
  readonly rows?: boolean;
}

/** Where a stored record is, for messages: `path:12`, or `table row 12`. */
export function recordLocation(r: {
  readonly file: string;
  readonly line: number;
  readonly rows?: boolean;
}): string {
  return r.rows ? `${r.file} row ${r.line}` : `${r.file}:${r.line}`;
}

/** Read every record file (`*.jsonl`) of a checkpoint directory; a missing directory reads as empty. */
export function readRecords(directory: string): { records: StoredSignedRecord[]; bad: BadRecordLine[] } {
  const records: StoredSignedRecord[] = [];
  const bad: BadRecordLine[] = [];
  let names: string[];
  try {
    names = readdirSync(directory).filter((n) => n.endsWith(".jsonl"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { records, bad };
    throw err;
  }
  names.sort();
  for (const name of names) {
    const file = join(directory, name);
    const lines = readFileSync(file, "utf8").split("\n");
    const complete = lines.length - 1; // the text after the last newline is a torn or empty tail
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!;
      if (text === "") continue;
      if (i === complete) {
        bad.push({ file, line: i + 1, reason: "last line has no newline (torn or cut)" });
        continue;
      }
      const record = parseRecord(text);
      if (typeof record === "string") bad.push({ file, line: i + 1, reason: record });
      else records.push({ record, file, line: i + 1 });
    }
  }
  return { records, bad };
}

const HEX64 = /^[0-9a-f]{64}$/;
const isSeq = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 1;

/** A record, or why the text is not one. */
export function parseRecord(text: string): SignedRecord | string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return "not JSON";
  }
  if (r === null || typeof r !== "object" || Array.isArray(r)) return "not a JSON object";
  if (r.v !== 1) return `unknown record version ${JSON.stringify(r.v)}`;
  if (typeof r.chain !== "string" || typeof r.sig !== "string" || typeof r.key_id !== "string") {
    return "chain, key_id or sig missing";
  }
  if (r.alg !== "hmac-sha256" && r.alg !== "ed25519") return `unknown algorithm ${JSON.stringify(r.alg)}`;
  if (r.type === "checkpoint") {
    if (!isSeq(r.seq) || typeof r.hash !== "string" || !HEX64.test(r.hash))
      return "checkpoint without a valid seq and hash";
    return r as unknown as CheckpointRecord;
  }
  if (r.type === "retention") {
    if (!isSeq(r.from) || !isSeq(r.to) || r.to < r.from)
      return "retention record without a valid from..to range";
    if (typeof r.last_hash !== "string" || !HEX64.test(r.last_hash))
      return "retention record without last_hash";
    if (!Array.isArray(r.files)) return "retention record without files";
    return r as unknown as RetentionRecord;
  }
  if (r.type === "erasure") {
    if (!Array.isArray(r.replacements) || r.replacements.length === 0)
      return "erasure record without replacements";
    for (const x of r.replacements as unknown[]) {
      const e = x as Record<string, unknown> | null;
      if (
        e === null ||
        typeof e !== "object" ||
        !isSeq(e.seq) ||
        typeof e.old !== "string" ||
        !HEX64.test(e.old) ||
        typeof e.new !== "string" ||
        !HEX64.test(e.new)
      )
        return "erasure record with a replacement without a valid seq, old and new hash";
    }
    if (!Array.isArray(r.fields) || typeof r.marker !== "string")
      return "erasure record without fields or marker";
    return r as unknown as ErasureRecord;
  }
  return `unknown record type ${JSON.stringify(r.type)}`;
}
