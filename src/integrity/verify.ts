/**
 * Verification (SPEC §9): proves a store intact, or names each problem — where (file
 * and line, or row), which chain position, and what kind.
 *
 * The verifier is source-agnostic: {@link ChainVerifier} takes stored lines from any
 * source (files, SQL rows) with their locations, plus the signed records, and judges
 * every chain at the end. {@link verifyStore} feeds it from a file store (plain and
 * gzipped, rotated files) and from any extra {@link LineSource} — the extension point
 * for SQL backends.
 *
 * @module
 */

import { isUtf8 } from "node:buffer";
import { statSync } from "node:fs";
import { join } from "node:path";
import { createEnvelopeOpener, createLineOpener, type LineOpener } from "../crypto/decode.js";
import type { EncryptionKeys } from "../crypto/keyring.js";
import { KeyError } from "../crypto/keyring.js";
import { checkLine, GENESIS } from "./chain.js";
import { ByteLineChecker } from "./check-bytes.js";
import {
  type ChainWriter,
  eventTime,
  type PendingOptions,
  type PendingPolicy,
  parseChainId,
  pendingPolicy,
} from "./pending.js";
import { completedLine, readFileLineBytes } from "./read.js";
import {
  type BadRecordLine,
  type CheckpointRecord,
  checkRecordSignature,
  type RetentionRecord,
  readRecords,
  recordLocation,
  type SignedRecord,
  type StoredSignedRecord,
} from "./records.js";
import { createVerifier, type SignatureVerifier, type SigningKeys } from "./signing.js";

/**
 * What went wrong:
 * - `modified`: a line's content does not match its hash (or cannot be read as an event, or
 *   its encryption tag fails);
 * - `forged`: a line that hashes correctly but is not the writer's — an inserted line claiming a
 *   taken position, a rewritten event the next one does not link to, a chain that does not match
 *   its signed checkpoint, or events after a chain's final checkpoint;
 * - `deleted`: events missing from the middle of a chain; `truncated`: missing from its end
 *   (a signed checkpoint proves they existed), or a file that ends mid-line;
 * - `reordered`: two events of a chain in the wrong order within a file;
 * - `duplicated`: the same event stored twice;
 * - `unverifiable`: events no signed checkpoint covers yet (written after the last checkpoint,
 *   or without integrity) — never reported as intact;
 * - `missing-file`: a rotated file absent from its sequence; `unreadable`: a file that cannot be
 *   read to its end (bad gzip data);
 * - `bad-signature`: a checkpoint or retention record whose signature fails (edited);
 * - `wrong-key`: the verifying or decryption key is not the one the store was written with;
 * - `rollback`: the witness holds signed checkpoints the store does not (checkpoints or data
 *   restored from an older copy).
 */
export type ProblemKind =
  | "modified"
  | "forged"
  | "deleted"
  | "truncated"
  | "reordered"
  | "duplicated"
  | "unverifiable"
  | "missing-file"
  | "unreadable"
  | "bad-signature"
  | "wrong-key"
  | "rollback";

/** One problem, located as precisely as the evidence allows. */
export interface VerifyProblem {
  readonly kind: ProblemKind;
  /** One line for a human, naming the place and the chain position. */
  readonly message: string;
  readonly chain?: string;
  /** The (first) chain position concerned. */
  readonly seq?: number;
  /** The last position of a range. */
  readonly toSeq?: number;
  /** How many events the problem concerns, for ranges. */
  readonly count?: number;
  /** The file (path) or source (e.g. `sqlite:vigil_audit_events`). */
  readonly file?: string;
  /** The 1-based line, or the row id for a row source. */
  readonly line?: number;
  /** The key id concerned (`wrong-key`, decryption failures, signatures). */
  readonly keyId?: string;
}

/**
 * The events a running writer stored after its last checkpoint: not verified yet (nothing
 * signed covers them), and not a problem — the writer seals them within its checkpoint
 * interval. See `pending.ts` for when a tail counts as pending.
 */
export interface PendingTail {
  readonly chain: string;
  /** The first and last pending positions, and how many events are stored between them. */
  readonly seq: number;
  readonly toSeq: number;
  readonly count: number;
  /**
   * Positions between `seq` and `toSeq` not found: the writer stored them while verify read
   * the store (files are read one after another), or they were deleted — the next
   * checkpoint tells, as a later verify will.
   */
  readonly unread: number;
  /** The writer, from the chain id. */
  readonly host: string;
  readonly pid: number;
  /** `alive`: a running process of this host; `remote`: another host, judged by age alone. */
  readonly writer: "alive" | "remote";
  /** The time of the chain's last checkpoint (ISO 8601); absent when it has none yet. */
  readonly lastCheckpoint?: string;
  /** Milliseconds since the last checkpoint was signed (or since the chain started, without one). */
  readonly sinceCheckpointMs: number;
  /** At most this many milliseconds since the oldest pending event was stored. */
  readonly waitingMs: number;
  /** Where the first pending event is stored. */
  readonly file?: string;
  readonly line?: number;
  /** One line for a human: `chain …: 37 events pending (seq …; writer alive, pid 4711 on this host, last checkpoint 2.1 s ago)`. */
  readonly message: string;
}

/** The outcome of a verification. */
export interface VerifyResult {
  /**
   * True when nothing is wrong: every event verified (`intact`), or the only events not
   * verified are the pending tails of running writers (`pending`).
   */
  readonly ok: boolean;
  /**
   * `intact`; `pending` (intact up to the checkpoints, plus pending tails); `tampered` (a
   * problem other than `unverifiable`); or `unverifiable`.
   */
  readonly status: "intact" | "pending" | "tampered" | "unverifiable";
  readonly chains: number;
  /** Stored records read. */
  readonly events: number;
  /** Files and other sources read. */
  readonly files: number;
  /** Valid checkpoints found (store and witness). */
  readonly checkpoints: number;
  /** Events deleted under signed retention records (authorized gaps). */
  readonly retained: number;
  /** Events rewritten by erasure under signed erasure records (authorized replacements). */
  readonly erased: number;
  readonly problems: readonly VerifyProblem[];
  /** Problems not listed because `maxProblems` was reached. */
  readonly omittedProblems: number;
  /** The pending tails of running writers, one per chain. */
  readonly pending: readonly PendingTail[];
  /** The events in them. */
  readonly pendingEvents: number;
}

/** Where an entry was read. */
interface Source {
  readonly name: string;
  readonly rows: boolean;
  lines: number;
  unreadable?: { problem: MutableProblem };
}

const VALID = 0;
const INVALID = 1;
const OPAQUE = 2;

interface Entry {
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  state: number;
  readonly src: number;
  readonly line: number;
  /** For encryption failures: the key id. */
  readonly kid?: string;
  readonly why?: string;
}

/** A missing file whose neighbours are known, and the events found missing between them. */
interface MissingFile {
  readonly name: string;
  readonly problem: MutableProblem;
  readonly before?: string;
  readonly after?: string;
  readonly held: { chain: string; from: number; to: number; count: number }[];
}

/** A tail judged pending: its writer and how long it has waited. */
interface TailTimes {
  readonly writer: ChainWriter;
  readonly state: "alive" | "remote";
  readonly since: number;
  readonly waiting: number;
}

/** A line with no readable chain position. */
interface Loose {
  readonly src: number;
  readonly line: number;
  readonly why: string;
  readonly torn: boolean;
  /** Parses as a JSON object without `integrity` (written unsigned, or inserted). */
  readonly unsigned: boolean;
  /** A modified line that claims a position another (valid) line holds: where that line is. */
  readonly displaced?: { readonly chain: string; readonly seq: number; readonly heldBy: string };
  used: boolean;
}

type MutableProblem = { -readonly [K in keyof VerifyProblem]: VerifyProblem[K] };

/** Options of {@link ChainVerifier}. */
export interface ChainVerifierOptions {
  /** Checks signatures of checkpoints and retention records. */
  readonly verifier: SignatureVerifier;
  /** Turns stored lines into clear lines (decryption); default: lines are clear. */
  readonly open?: LineOpener;
  /**
   * With `open`: turns an envelope line into the UTF-8 bytes of its clear line (the same
   * decryption), so the fast path checks them without decoding. Default: `open` is used.
   */
  readonly openBytes?: (envelope: string) => Buffer;
  /**
   * Only part of the store is read (a `from`/`to` window): a chain's beginning and end
   * outside the window are not reported as deleted or truncated.
   */
  readonly windowed?: boolean;
  /** At most this many problems are listed (default 1000); the rest are counted. */
  readonly maxProblems?: number;
  /**
   * Tell the pending tails of running writers from unsealed tails after a crash (see
   * `pending.ts`). Default: off — every event after a chain's last checkpoint is
   * `unverifiable`. Feed the signed records before the lines: then only lines after their
   * chain's last checkpoint are looked at for their time.
   */
  readonly pending?: PendingPolicy;
  /**
   * `false`: storage order says nothing about chain order — a central store that several
   * `vigil ingest` workers fill commit a chain's events in whatever order they receive them —
   * so the `reordered` check is skipped; order is still proved by every event's link to the
   * one before (`prev`). Default true.
   */
  readonly ordered?: boolean;
}

/**
 * Judges hash chains from stored lines fed in storage order. Feed every source with
 * {@link ChainVerifier.addSource} + {@link ChainVerifier.addLine}, the signed records with
 * {@link ChainVerifier.addRecords}, then call {@link ChainVerifier.finish} once.
 *
 * @example
 * const v = new ChainVerifier({ verifier: createVerifier(config.security.signing) });
 * const src = v.addSource("sqlite:vigil_audit_events", { rows: true });
 * for (const row of rows) v.addLine(src, row.id, row.line);
 * v.addRecords(readRecords(dir));
 * const result = v.finish();
 */
export class ChainVerifier {
  readonly #verifier: SignatureVerifier;
  readonly #open: LineOpener | undefined;
  readonly #openBytes: ((envelope: string) => Buffer) | undefined;
  readonly #windowed: boolean;
  readonly #maxProblems: number;
  readonly #pendingPolicy: PendingPolicy | undefined;
  /** With a pending policy: the highest checkpointed seq of each chain, from the records fed. */
  readonly #sealed = new Map<string, number>();
  /** With a pending policy: the lowest seq seen after the chain's last checkpoint, and its event's time. */
  readonly #tailTimes = new Map<string, { seq: number; time: number | undefined }>();
  readonly #pendingTails: PendingTail[] = [];
  readonly #sources: Source[] = [];
  readonly #chains = new Map<string, Entry[]>();
  readonly #loose: Loose[][] = [];
  readonly #envelopes = new Map<string, number>();
  readonly #authFailures = new Map<string, number>();
  readonly #missingKeys = new Map<string, { count: number; src: number; line: number; message: string }>();
  readonly #checkpoints = new Map<string, CheckpointRecord[]>();
  readonly #witnessCheckpoints = new Map<string, CheckpointRecord[]>();
  readonly #retention = new Map<string, RetentionRecord[]>();
  readonly #retainedFiles = new Set<string>();
  /** Signed erasure replacements: chain → seq → new hash → old hash. */
  readonly #erasures = new Map<string, Map<number, Map<string, string>>>();
  #erased = 0;
  readonly #missingFiles: MissingFile[] = [];
  /** For the chain being judged, when files are missing: the first and last seq in each source. */
  #bounds: Map<number, [number, number]> | undefined;
  readonly #problems: MutableProblem[] = [];
  #omitted = 0;
  #events = 0;
  #validRecords = 0;
  #signatureKeyMismatch: { count: number; keyId: string; first: StoredSignedRecord } | undefined;
  #signatureRecords = 0;
  #finished = false;
  readonly #bytes = new ByteLineChecker();
  #lastChain: string | undefined;
  #lastEntries: Entry[] = [];
  #sourceNames: Map<string, number> | undefined;
  readonly #ordered: boolean;

  constructor(options: ChainVerifierOptions) {
    this.#ordered = options.ordered ?? true;
    this.#verifier = options.verifier;
    this.#open = options.open;
    this.#openBytes = options.open ? options.openBytes : undefined;
    this.#windowed = options.windowed ?? false;
    this.#maxProblems = options.maxProblems ?? 1000;
    this.#pendingPolicy = options.pending;
  }

  /** Register a source (a file, a table); returns its handle for {@link addLine}. */
  addSource(name: string, options: { readonly rows?: boolean } = {}): number {
    this.#sources.push({ name, rows: options.rows ?? false, lines: 0 });
    this.#loose.push([]);
    return this.#sources.length - 1;
  }

  /** Feed one stored line (or row) of a source, in storage order. */
  addLine(src: number, at: number, stored: string): void {
    this.#events++;
    const source = this.#sources[src]!;
    if (at > source.lines) source.lines = at;
    let text = stored;
    let kid: string | undefined;
    if (this.#open && stored.startsWith('{"v":1,"kid":')) {
      kid = envelopeKid(stored);
      if (kid !== undefined) this.#envelopes.set(kid, (this.#envelopes.get(kid) ?? 0) + 1);
      if (this.#openBytes) {
        let clear: Buffer;
        try {
          clear = this.#openBytes(stored);
        } catch (err) {
          this.#unopenable(src, at, stored, err);
          return;
        }
        const fast = isUtf8(clear) ? this.#bytes.check(clear, 0, clear.length) : undefined;
        if (fast) {
          this.#chainOf(fast.chain).push({
            seq: fast.seq,
            prev: fast.prev,
            hash: fast.hash,
            state: VALID,
            src,
            line: at,
          });
          if (this.#pendingPolicy && this.#tailCandidate(fast.chain, fast.seq))
            this.#noteTail(fast.chain, fast.seq, clear.toString("utf8", fast.body, clear.length));
          return;
        }
        text = clear.toString("utf8");
      } else {
        try {
          text = this.#open(stored);
        } catch (err) {
          this.#unopenable(src, at, stored, err);
          return;
        }
      }
    }
    const check = checkLine(text);
    if (!check) {
      this.#addLoose(src, at, text, "the line is not an event with an integrity field", false);
      return;
    }
    const entry: Entry = {
      seq: check.seq,
      prev: check.valid ? fresh(check.prev) : check.prev,
      hash: check.hash,
      state: check.valid ? VALID : INVALID,
      src,
      line: at,
      ...(check.valid ? {} : { why: "its content does not match its hash" }),
    };
    this.#chainOf(check.chain).push(entry);
    if (this.#pendingPolicy && check.valid && this.#tailCandidate(check.chain, check.seq))
      this.#noteTail(check.chain, check.seq, text);
  }

  /**
   * Feed one stored line given as the bytes `buf[start, end)` (valid UTF-8 when `utf8`):
   * the fast path of {@link addLine}, which decodes the line only when its canonical layout
   * does not hold (or it is an encryption envelope).
   */
  addLineBytes(src: number, at: number, buf: Buffer, start: number, end: number, utf8 = true): void {
    const check =
      utf8 && !(this.#open && buf[start + 1] === 0x22 && buf[start + 2] === 0x76)
        ? this.#bytes.check(buf, start, end)
        : undefined;
    if (!check) {
      this.addLine(src, at, buf.toString("utf8", start, end));
      return;
    }
    this.#events++;
    const source = this.#sources[src]!;
    if (at > source.lines) source.lines = at;
    this.#chainOf(check.chain).push({
      seq: check.seq,
      prev: check.prev,
      hash: check.hash,
      state: VALID,
      src,
      line: at,
    });
    if (this.#pendingPolicy && this.#tailCandidate(check.chain, check.seq))
      this.#noteTail(check.chain, check.seq, buf.toString("utf8", check.body, end));
  }

  /** A line that ends a file without its newline (cut mid-line). */
  addTornLine(src: number, at: number, text: string): void {
    this.#addLoose(
      src,
      at,
      text,
      `the file ends in the middle of this line (${text.length} characters, no newline)`,
      true,
    );
  }

  /** A source that could not be read to its end; `lines` were read before the failure. */
  addUnreadable(src: number, lines: number, error: Error): void {
    const source = this.#sources[src]!;
    const problem: MutableProblem = {
      kind: "unreadable",
      message: `${source.name}: unreadable after line ${lines} (${error.message})`,
      file: source.name,
      line: lines,
    };
    source.unreadable = { problem };
    this.#push(problem);
  }

  /**
   * A file that should exist and does not. `neighbours` are the sources (as named in
   * {@link addSource}) stored just before and after it: events missing between theirs are
   * reported as held by this file rather than as deleted.
   */
  addMissingFile(
    name: string,
    why: string,
    neighbours: { readonly before?: string; readonly after?: string } = {},
  ): void {
    if (this.#retainedFiles.has(name)) return;
    const problem: MutableProblem = {
      kind: "missing-file",
      message: `${name}: missing (${why})`,
      file: name,
    };
    this.#push(problem);
    if (neighbours.before !== undefined || neighbours.after !== undefined)
      this.#missingFiles.push({ name, problem, ...neighbours, held: [] });
  }

  /** Names of files that signed retention records say were deleted (call after {@link addRecords}). */
  get retainedFiles(): ReadonlySet<string> {
    return this.#retainedFiles;
  }

  /**
   * Feed signed records (checkpoints, retention) read from the store, or from a witness
   * (`witness: true`): a witness's checkpoints the store lacks mean a rollback.
   */
  addRecords(
    read: { readonly records: readonly StoredSignedRecord[]; readonly bad: readonly BadRecordLine[] },
    options: { readonly witness?: boolean } = {},
  ): void {
    for (const b of read.bad) {
      this.#push({
        kind: "bad-signature",
        message: `${recordLocation(b)}: not a valid signed record (${b.reason})`,
        file: b.file,
        line: b.line,
      });
    }
    for (const stored of read.records) {
      const r = stored.record;
      this.#signatureRecords++;
      if (r.key_id !== this.#verifier.keyId || r.alg !== this.#verifier.algorithm) {
        this.#signatureKeyMismatch ??= { count: 0, keyId: r.key_id, first: stored };
        const m = this.#signatureKeyMismatch;
        m.count++;
        continue;
      }
      if (!checkRecordSignature(r, this.#verifier)) {
        this.#push({
          kind: "bad-signature",
          message: `${recordLocation(stored)}: the signature of this ${r.type} record (chain ${r.chain}) does not verify: the record was edited`,
          file: stored.file,
          line: stored.line,
          chain: r.chain,
          ...recordSpan(r),
        });
        continue;
      }
      this.#validRecords++;
      if (r.type === "checkpoint") {
        if (r.seq > (this.#sealed.get(r.chain) ?? 0)) this.#sealed.set(r.chain, r.seq);
        const map = options.witness ? this.#witnessCheckpoints : this.#checkpoints;
        let list = map.get(r.chain);
        if (!list) {
          list = [];
          map.set(r.chain, list);
        }
        list.push(r);
      } else if (r.type === "erasure") {
        let bySeq = this.#erasures.get(r.chain);
        if (!bySeq) {
          bySeq = new Map();
          this.#erasures.set(r.chain, bySeq);
        }
        for (const x of r.replacements) {
          let byNew = bySeq.get(x.seq);
          if (!byNew) {
            byNew = new Map();
            bySeq.set(x.seq, byNew);
          }
          byNew.set(x.new, x.old);
        }
      } else {
        let list = this.#retention.get(r.chain);
        if (!list) {
          list = [];
          this.#retention.set(r.chain, list);
        }
        if (!list.some((x) => x.from === r.from && x.to === r.to)) list.push(r);
        for (const f of r.files) this.#retainedFiles.add(f);
      }
    }
  }

  #chainOf(chain: string): Entry[] {
    if (chain === this.#lastChain) return this.#lastEntries;
    let list = this.#chains.get(chain);
    if (!list) {
      list = [];
      this.#chains.set(chain, list);
    }
    this.#lastChain = chain;
    this.#lastEntries = list;
    return list;
  }

  /** Whether a valid line at `seq` may be the oldest of its chain's unsealed tail (so far). */
  #tailCandidate(chain: string, seq: number): boolean {
    if (seq <= (this.#sealed.get(chain) ?? 0)) return false;
    const noted = this.#tailTimes.get(chain);
    return noted === undefined || seq < noted.seq;
  }

  /** Keep the time of the lowest unsealed position of a chain (its event's id time). */
  #noteTail(chain: string, seq: number, text: string): void {
    this.#tailTimes.set(chain, { seq, time: eventTime(text) });
  }

  #addLoose(src: number, at: number, text: string, why: string, torn: boolean): void {
    let unsigned = false;
    if (!torn && text.startsWith("{") && !text.includes('"integrity"')) {
      try {
        const v = JSON.parse(text) as unknown;
        unsigned = v !== null && typeof v === "object" && !Array.isArray(v);
      } catch {
        unsigned = false;
      }
    }
    this.#loose[src]!.push({
      src,
      line: at,
      why: unsigned ? "the event has no integrity field" : why,
      torn,
      unsigned,
      used: false,
    });
  }

  #unopenable(src: number, at: number, stored: string, err: unknown): void {
    if (err instanceof KeyError) {
      const header = envelopeHeader(stored);
      if (err.reason === "missing") {
        const m = this.#missingKeys.get(err.keyId);
        if (m) m.count++;
        else this.#missingKeys.set(err.keyId, { count: 1, src, line: at, message: err.message });
        if (header)
          this.#chainOf(header.chain).push({
            seq: header.seq,
            prev: "",
            hash: "",
            state: OPAQUE,
            src,
            line: at,
          });
        return;
      }
      this.#authFailures.set(err.keyId, (this.#authFailures.get(err.keyId) ?? 0) + 1);
      if (header) {
        this.#chainOf(header.chain).push({
          seq: header.seq,
          prev: "",
          hash: "",
          state: INVALID,
          src,
          line: at,
          kid: err.keyId,
          why: `its encryption tag does not verify with key id "${err.keyId}"`,
        });
        return;
      }
    }
    this.#addLoose(src, at, stored, `cannot be decrypted (${(err as Error).message})`, false);
  }

  #where(src: number, line: number): string {
    const s = this.#sources[src]!;
    return s.rows ? `${s.name} row ${line}` : `${s.name}:${line}`;
  }

  #push(problem: MutableProblem): void {
    if (this.#problems.length < this.#maxProblems) this.#problems.push(problem);
    else this.#omitted++;
  }

  #problemAt(
    kind: ProblemKind,
    chain: string,
    e: Entry,
    message: string,
    extra: Partial<MutableProblem> = {},
  ): void {
    const s = this.#sources[e.src]!;
    this.#push({
      kind,
      message: `${this.#where(e.src, e.line)}: ${message}`,
      chain,
      seq: e.seq,
      file: s.name,
      line: e.line,
      ...extra,
    });
  }

  /** Judge everything fed so far. Call once. */
  finish(): VerifyResult {
    if (this.#finished) throw new Error("ChainVerifier.finish() was already called");
    this.#finished = true;
    const keyProblems = this.#keyProblems();
    const wrongKeyIds = new Set<string>();
    for (const [kid, failures] of this.#authFailures) {
      if (failures >= 2 && failures === this.#envelopes.get(kid)) wrongKeyIds.add(kid);
    }
    for (const kid of wrongKeyIds) {
      this.#push({
        kind: "wrong-key",
        message: `all ${this.#authFailures.get(kid)} records encrypted with key id "${kid}" fail authentication: the key configured as "${kid}" is wrong`,
        keyId: kid,
      });
    }
    const names = new Set([
      ...this.#chains.keys(),
      ...this.#checkpoints.keys(),
      ...this.#witnessCheckpoints.keys(),
    ]);
    for (const r of this.#retention.keys()) names.add(r);
    let retained = 0;
    for (const chain of names) retained += this.#judgeChain(chain, wrongKeyIds, keyProblems);
    this.#describeMissingFiles();
    this.#judgeLoose();
    const problems = this.#problems;
    const tampered = problems.some((p) => p.kind !== "unverifiable") || this.#omitted > 0;
    const pending = this.#pendingTails;
    const status = tampered
      ? "tampered"
      : problems.length > 0
        ? "unverifiable"
        : pending.length > 0
          ? "pending"
          : "intact";
    return {
      ok: status === "intact" || status === "pending",
      status,
      chains: this.#chains.size,
      events: this.#events,
      files: this.#sources.length,
      checkpoints: this.#validRecords,
      retained,
      erased: this.#erased,
      problems,
      omittedProblems: this.#omitted,
      pending,
      pendingEvents: pending.reduce((n, p) => n + p.count, 0),
    };
  }

  /** Problems with keys themselves; returns whether the signing key is wrong for every record. */
  #keyProblems(): boolean {
    for (const [kid, m] of this.#missingKeys) {
      this.#push({
        kind: "wrong-key",
        message: `${this.#where(m.src, m.line)} and ${m.count - 1} more records: ${m.message}`,
        keyId: kid,
        file: this.#sources[m.src]!.name,
        line: m.line,
      });
    }
    const mismatch = this.#signatureKeyMismatch;
    if (!mismatch) return false;
    const all = mismatch.count === this.#signatureRecords;
    if (all) {
      this.#push({
        kind: "wrong-key",
        message: `the ${mismatch.count} signed records are signed with key id ${mismatch.keyId}, but the verifying key has id ${this.#verifier.keyId} (${this.#verifier.algorithm}): use the store's key`,
        keyId: mismatch.keyId,
      });
    } else {
      const f = mismatch.first;
      this.#push({
        kind: "bad-signature",
        message: `${recordLocation(f)} and ${mismatch.count - 1} more: signed with key id ${f.record.key_id}, not the store's key ${this.#verifier.keyId}: forged or edited records`,
        file: f.file,
        line: f.line,
        keyId: f.record.key_id,
      });
    }
    return all;
  }

  /** Judge one chain; returns the number of events deleted under retention records. */
  #judgeChain(chain: string, wrongKeyIds: ReadonlySet<string>, signingKeyWrong: boolean): number {
    const entries = this.#chains.get(chain) ?? [];
    const erasures = this.#erasures.get(chain);
    if (erasures) this.#applyErasures(entries, erasures);
    for (const e of entries) if (e.kid !== undefined && wrongKeyIds.has(e.kid)) e.state = OPAQUE;
    entries.sort((a, b) => a.seq - b.seq || a.state - b.state || a.src - b.src || a.line - b.line);

    const checkpoints = this.#mergeCheckpoints(chain);
    const cpBySeq = new Map<number, CheckpointRecord>();
    for (const c of checkpoints) cpBySeq.set(c.seq, c);
    const retention = (this.#retention.get(chain) ?? []).slice().sort((a, b) => a.from - b.from);
    this.#bounds = undefined;
    if (this.#missingFiles.length > 0) {
      const bounds = new Map<number, [number, number]>();
      for (const e of entries) {
        const b = bounds.get(e.src);
        if (!b) bounds.set(e.src, [e.seq, e.seq]);
        else b[1] = e.seq; // entries are sorted by seq
      }
      this.#bounds = bounds;
    }

    // 1. one entry per position; extra ones are duplicates or forgeries
    const slots: Entry[] = [];
    for (let i = 0; i < entries.length; ) {
      let j = i + 1;
      while (j < entries.length && entries[j]!.seq === entries[i]!.seq) j++;
      if (j === i + 1) slots.push(entries[i]!);
      else slots.push(this.#resolvePosition(chain, entries, i, j, slots[slots.length - 1], cpBySeq));
      i = j;
    }

    // 2. order within each source
    const lastIn = new Map<number, Entry>();
    for (const e of slots) {
      if (e.state !== VALID || !this.#ordered) continue;
      const before = lastIn.get(e.src);
      if (before && before.line > e.line) {
        this.#problemAt(
          "reordered",
          chain,
          e,
          `seq ${e.seq} is stored before seq ${before.seq} (line ${before.line}): events of chain ${chain} were reordered`,
        );
      }
      lastIn.set(e.src, e);
    }

    // The tail after the last checkpoint: pending when its writer runs (judged before the
    // gaps: files read one after another while the writer appends to several of them leave
    // holes in a pending tail that are not deletions)
    const last = slots[slots.length - 1];
    const maxPresent = last?.seq ?? 0;
    const lastCp = checkpoints[checkpoints.length - 1];
    const maxCp = lastCp?.seq ?? 0;
    const tail =
      maxPresent > maxCp && !lastCp?.final && !signingKeyWrong ? this.#judgeTail(chain, lastCp) : undefined;
    let unread = 0;

    // 3. content, links and gaps
    let retained = 0;
    let prev: Entry | undefined;
    for (const e of slots) {
      const expectedSeq = prev ? prev.seq + 1 : 1;
      if (e.seq > expectedSeq && typeof tail === "object" && expectedSeq > maxCp) {
        unread += e.seq - expectedSeq;
      } else if (e.seq > expectedSeq && !(prev === undefined && this.#windowed)) {
        retained += this.#gap(chain, expectedSeq, e.seq - 1, prev, e, retention, false);
      } else if (e.state === VALID) {
        const linkTo = prev
          ? prev.state === VALID
            ? prev.hash
            : undefined
          : this.#windowed
            ? undefined
            : GENESIS;
        if (linkTo !== undefined && e.prev !== linkTo) {
          // A rewritten event keeps its own `prev` (to link backwards) but gets a new hash, so
          // the break shows after it: blame the earlier event.
          if (prev) {
            this.#problemAt(
              "forged",
              chain,
              prev,
              `seq ${prev.seq} was rewritten with a recomputed hash: seq ${e.seq} (${this.#where(e.src, e.line)}) links to a different event`,
            );
          } else {
            this.#problemAt(
              "forged",
              chain,
              e,
              "seq 1 does not start from the genesis hash: the chain's first event was rewritten",
            );
          }
        }
      }
      if (e.state === INVALID) {
        this.#problemAt(
          "modified",
          chain,
          e,
          `seq ${e.seq} was modified: ${e.why ?? "its content does not match its hash"}`,
          e.kid ? { keyId: e.kid } : {},
        );
      }
      prev = e;
    }

    // 4. signed checkpoints against the events
    for (const c of checkpoints) {
      const e = findSlot(slots, c.seq);
      if (e && e.state === VALID && e.hash !== c.hash) {
        this.#problemAt(
          "forged",
          chain,
          e,
          `seq ${c.seq} does not match the signed checkpoint of ${c.time}: the chain was rewritten up to here`,
        );
      }
    }
    if (maxCp > maxPresent && !this.#windowed) {
      retained += this.#gap(chain, maxPresent + 1, maxCp, last, undefined, retention, true);
    }
    if (maxPresent > maxCp && last) {
      const first = slots.find((e) => e.seq > maxCp)!;
      const k = slots.filter((e) => e.seq > maxCp).length;
      if (lastCp?.final) {
        this.#problemAt(
          "forged",
          chain,
          first,
          `${k} event${k === 1 ? "" : "s"} (seq ${maxCp + 1}..${maxPresent}) after the chain's final checkpoint: inserted after the writer closed`,
          { toSeq: maxPresent, count: k },
        );
      } else if (!signingKeyWrong) {
        const judged = tail;
        if (typeof judged === "object")
          this.#pendingTails.push(this.#pendingTail(chain, judged, lastCp, first, maxPresent, k, unread));
        else {
          const events = `${k} event${k === 1 ? "" : "s"}`;
          this.#problemAt(
            "unverifiable",
            chain,
            first,
            maxCp === 0
              ? `chain ${chain} has no signed checkpoint: its ${events} cannot be verified (${judged ?? "the writer may still be running, or crashed before its first checkpoint"})`
              : `${events} (seq ${maxCp + 1}..${maxPresent}) after the last signed checkpoint cannot be verified ${judged ? `(${judged})` : "yet (the writer may still be running, or crashed)"}`,
            { toSeq: maxPresent, count: k },
          );
        }
      }
    }
    return retained;
  }

  /**
   * Whether the unsealed tail of a chain with no final checkpoint is pending (its writer runs
   * and it has not waited longer than the checkpoint interval and grace): the writer and
   * times, or why not (`undefined`: no pending policy, or a chain id that names no writer).
   */
  #judgeTail(chain: string, lastCp: CheckpointRecord | undefined): TailTimes | string | undefined {
    const policy = this.#pendingPolicy;
    const writer = policy && parseChainId(chain);
    if (!policy || !writer) return undefined;
    const state = policy.writerState(chain, writer);
    if (state === "dead")
      return `its writer, pid ${writer.pid} on this host, is no longer running and did not seal them: it crashed or was killed, or the checkpoints covering them were deleted`;
    const now = policy.now();
    const cpTime = lastCp ? Date.parse(lastCp.time) : Number.NaN;
    const since = now - (Number.isNaN(cpTime) ? writer.startMs : cpTime);
    const oldest = this.#tailTimes.get(chain)?.time;
    // every pending event was stored after the last checkpoint (or the chain's start) and after its own id's time
    const waiting = Math.min(since, oldest === undefined ? since : now - oldest);
    const limit = policy.intervalMs + policy.graceMs;
    if (waiting > limit) {
      const writerIs =
        state === "alive"
          ? `the writer (pid ${writer.pid} on this host) runs but does not seal its events`
          : `the writer (pid ${writer.pid} on host ${writer.host}) stopped, or does not seal its events`;
      return `they have waited ${seconds(waiting)} for a checkpoint, more than the checkpoint interval (${seconds(policy.intervalMs)}) and grace (${seconds(policy.graceMs)}): ${writerIs}`;
    }
    if (waiting < -policy.graceMs)
      return `their times are ${seconds(-waiting)} ahead of this clock, more than the grace (${seconds(policy.graceMs)}) allows`;
    return { writer, state, since, waiting };
  }

  /** The pending tail `first..toSeq`: `count` events found, `unread` positions between them not. */
  #pendingTail(
    chain: string,
    t: TailTimes,
    lastCp: CheckpointRecord | undefined,
    first: Entry,
    toSeq: number,
    count: number,
    unread: number,
  ): PendingTail {
    const s = this.#sources[first.src]!;
    const who =
      t.state === "alive"
        ? `writer alive, pid ${t.writer.pid} on this host`
        : `writer on host ${t.writer.host}, judged by age`;
    const sinceText = lastCp
      ? `last checkpoint ${seconds(t.since)} ago`
      : `no checkpoint yet, chain started ${seconds(t.since)} ago`;
    const range = first.seq === toSeq ? `seq ${toSeq}` : `seq ${first.seq}..${toSeq}`;
    const notRead =
      unread > 0
        ? `, ${unread} more not read (stored while verify read the store, or deleted: the next checkpoint tells)`
        : "";
    return {
      chain,
      seq: first.seq,
      toSeq,
      count,
      unread,
      host: t.writer.host,
      pid: t.writer.pid,
      writer: t.state,
      ...(lastCp ? { lastCheckpoint: lastCp.time } : {}),
      sinceCheckpointMs: t.since,
      waitingMs: t.waiting,
      file: s.name,
      line: first.line,
      message: `chain ${chain}: ${count} event${count === 1 ? "" : "s"} pending (${range}${notRead}; ${who}, ${sinceText})`,
    };
  }

  /**
   * Lines rewritten by erasure: a valid line whose hash is the `new` hash of a signed
   * replacement at its position stands for the event it replaced (its `old` hash), so the
   * next event's link and the checkpoints are judged against what was written. A rewritten
   * line no signed record names keeps its own hash and breaks the chain there.
   */
  #applyErasures(entries: Entry[], erasures: ReadonlyMap<number, ReadonlyMap<string, string>>): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.state !== VALID) continue;
      const old = erasures.get(e.seq)?.get(e.hash);
      if (old === undefined) continue;
      entries[i] = { ...e, hash: old };
      this.#erased++;
    }
  }

  /** The checkpoints of a chain, store and witness merged, sorted; reports a rollback. */
  #mergeCheckpoints(chain: string): CheckpointRecord[] {
    const own = this.#checkpoints.get(chain) ?? [];
    const witness = this.#witnessCheckpoints.get(chain) ?? [];
    const ownMax = own.reduce((m, c) => Math.max(m, c.seq), 0);
    const witnessMax = witness.reduce<CheckpointRecord | undefined>(
      (m, c) => (!m || c.seq > m.seq ? c : m),
      undefined,
    );
    if (witnessMax && witnessMax.seq > ownMax) {
      this.#push({
        kind: "rollback",
        message:
          ownMax === 0
            ? `the witness holds a checkpoint of chain ${chain} at seq ${witnessMax.seq} (${witnessMax.time}) but the store has no checkpoint of that chain: the store was rolled back or its checkpoints deleted`
            : `the witness holds a checkpoint of chain ${chain} at seq ${witnessMax.seq} (${witnessMax.time}) but the store's checkpoints end at seq ${ownMax}: the store was rolled back to an older copy`,
        chain,
        seq: ownMax + 1,
        toSeq: witnessMax.seq,
      });
    }
    const bySeq = new Map<number, CheckpointRecord>();
    for (const c of [...witness, ...own]) {
      const had = bySeq.get(c.seq);
      if (!had || (c.final && !had.final)) bySeq.set(c.seq, c);
    }
    return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Several entries claim one position: keep the authentic one, report the others. */
  #resolvePosition(
    chain: string,
    entries: Entry[],
    i: number,
    j: number,
    before: Entry | undefined,
    cpBySeq: ReadonlyMap<number, CheckpointRecord>,
  ): Entry {
    const group = entries.slice(i, j);
    const seq = group[0]!.seq;
    const valid = group.filter((e) => e.state === VALID);
    let chosen: Entry;
    if (valid.length === 0) chosen = group[0]!;
    else if (valid.every((e) => e.hash === valid[0]!.hash)) chosen = valid[0]!;
    else {
      // the authentic one links to its neighbours and matches a checkpoint
      const next: Entry[] = [];
      for (let k = j; k < entries.length && entries[k]!.seq === seq + 1; k++)
        if (entries[k]!.state === VALID) next.push(entries[k]!);
      const score = (e: Entry): number =>
        (before?.seq === seq - 1 && before.hash === e.prev ? 1 : 0) +
        (seq === 1 && e.prev === GENESIS ? 1 : 0) +
        (next.some((n) => n.prev === e.hash) ? 1 : 0) +
        (cpBySeq.get(seq)?.hash === e.hash ? 2 : 0);
      chosen = valid.reduce((best, e) => (score(e) > score(best) ? e : best));
    }
    const at = this.#where(chosen.src, chosen.line);
    for (const e of group) {
      if (e === chosen) continue;
      if (e.state === VALID && e.hash === chosen.hash) {
        this.#problemAt("duplicated", chain, e, `seq ${seq} is stored twice: this line repeats ${at}`);
      } else if (e.state === OPAQUE && chosen.state === OPAQUE) {
        this.#problemAt("duplicated", chain, e, `seq ${seq} is stored twice (encrypted; also at ${at})`);
      } else if (e.state === INVALID && chosen.state === VALID) {
        // a modified line whose claimed position is taken: a gap nearby may show where it belongs
        this.#loose[e.src]!.push({
          src: e.src,
          line: e.line,
          why: `it claims seq ${seq} (held by ${at}) and ${e.why ?? "its content does not match its hash"}`,
          torn: false,
          unsigned: false,
          displaced: { chain, seq, heldBy: at },
          used: false,
        });
      } else {
        this.#problemAt("forged", chain, e, `an inserted line claims seq ${seq}, which is held by ${at}`);
      }
    }
    return chosen;
  }

  /**
   * Positions `from..to` are missing between `pred` and `succ`. Authorized by retention
   * records, explained by unreadable or modified lines in between, or reported. Returns
   * the number of events retention accounts for.
   */
  #gap(
    chain: string,
    from: number,
    to: number,
    pred: Entry | undefined,
    succ: Entry | undefined,
    retention: readonly RetentionRecord[],
    tail: boolean,
  ): number {
    let retained = 0;
    let cursor = from;
    const pieces: [number, number][] = [];
    for (const r of retention) {
      if (r.to < cursor || r.from > to) continue;
      if (r.from > cursor) pieces.push([cursor, r.from - 1]);
      const a = Math.max(cursor, r.from);
      const b = Math.min(to, r.to);
      retained += b - a + 1;
      if (succ && r.to === succ.seq - 1 && succ.state === VALID && succ.prev !== r.last_hash) {
        this.#problemAt(
          "forged",
          chain,
          succ,
          `seq ${succ.seq} does not link to the last event deleted by retention (seq ${r.to}): rewritten`,
        );
      }
      cursor = b + 1;
    }
    if (cursor <= to) pieces.push([cursor, to]);
    for (const [a, b] of pieces) this.#unexplainedGap(chain, a, b, pred, succ, tail && b === to);
    return retained;
  }

  #unexplainedGap(
    chain: string,
    a: number,
    b: number,
    pred: Entry | undefined,
    succ: Entry | undefined,
    tail: boolean,
  ): void {
    const count = b - a + 1;
    const range = count === 1 ? `seq ${a}` : `seq ${a}..${b}`;
    // lines that could not be read as events, between the neighbours, account for the gap
    const loose = this.#looseBetween(chain, pred, succ);
    if (loose.length > 0) {
      for (const l of loose) {
        l.used = true;
        const s = this.#sources[l.src]!;
        this.#push({
          kind: l.torn ? "truncated" : "modified",
          message: `${this.#where(l.src, l.line)}: ${l.torn ? "cut mid-line" : "modified"}: ${l.why}; it held ${range} of chain ${chain}`,
          chain,
          seq: a,
          toSeq: b,
          file: s.name,
          line: l.line,
        });
      }
      return;
    }
    const unreadable = pred ? this.#sources[pred.src]!.unreadable : undefined;
    if (unreadable && pred && pred.line === this.#sources[pred.src]!.lines) {
      const p = unreadable.problem;
      p.count = (p.count ?? 0) + count;
      p.message += `; ${range} of chain ${chain} lost in the unreadable part`;
      return;
    }
    const file = this.#missingFileHolding(a, b);
    if (file) {
      const held = file.held.find((h) => h.chain === chain);
      if (held) {
        held.from = Math.min(held.from, a);
        held.to = Math.max(held.to, b);
        held.count += count;
      } else file.held.push({ chain, from: a, to: b, count });
      return;
    }
    const where = (e: Entry | undefined, what: string) => (e ? `${what} ${this.#where(e.src, e.line)}` : "");
    const between = [where(pred, "after"), where(succ, "before")].filter((x) => x !== "").join(" and ");
    const wholeFile =
      pred && succ && pred.src !== succ.src && pred.line === this.#sources[pred.src]!.lines && succ.line === 1
        ? " (a whole file between them may be missing)"
        : "";
    const anchor = succ ?? pred;
    this.#push({
      kind: tail ? "truncated" : "deleted",
      message: tail
        ? `chain ${chain} ends at seq ${a - 1}${pred ? ` (${this.#where(pred.src, pred.line)})` : ""} but a signed checkpoint covers seq ${b}: ${count} event${count === 1 ? "" : "s"} (${range}) were cut off`
        : `${count} event${count === 1 ? "" : "s"} deleted: ${range} of chain ${chain}${between ? ` ${between}` : " (no event of the chain is left)"}${wholeFile}`,
      chain,
      seq: a,
      toSeq: b,
      count,
      ...(anchor ? { file: this.#sources[anchor.src]!.name, line: anchor.line } : {}),
    });
  }

  /**
   * The missing file that held positions `a..b` of the chain being judged: the one whose
   * neighbours' events of the chain enclose them. None when no missing file, or more than
   * one (with different neighbours), could have held them.
   */
  #missingFileHolding(a: number, b: number): MissingFile | undefined {
    const bounds = this.#bounds;
    if (!bounds) return undefined;
    let found: MissingFile | undefined;
    for (const m of this.#missingFiles) {
      const before = m.before === undefined ? undefined : this.#sourceIndex(m.before);
      const after = m.after === undefined ? undefined : this.#sourceIndex(m.after);
      const lo = before === undefined ? undefined : bounds.get(before)?.[1];
      const hi = after === undefined ? undefined : bounds.get(after)?.[0];
      if (lo === undefined && hi === undefined) continue;
      if (a <= (lo ?? 0) || b >= (hi ?? Number.POSITIVE_INFINITY)) continue;
      if (found && (found.before !== m.before || found.after !== m.after)) return undefined;
      found ??= m;
    }
    return found;
  }

  #sourceIndex(name: string): number | undefined {
    if (this.#sourceNames === undefined) {
      const names = new Map<string, number>();
      for (const [i, s] of this.#sources.entries()) names.set(s.name, i);
      this.#sourceNames = names; // called from finish(): every source is known by then
    }
    return this.#sourceNames.get(name);
  }

  /** Missing files: the events each held, now that every chain was judged. */
  #describeMissingFiles(): void {
    for (const m of this.#missingFiles) {
      if (m.held.length === 0) continue;
      const p = m.problem;
      const first = m.held[0]!;
      p.chain = first.chain;
      p.seq = first.from;
      p.toSeq = first.to;
      p.count = m.held.reduce((n, h) => n + h.count, 0);
      p.message += `: it held ${m.held
        .map((h) => {
          const range = h.from === h.to ? `seq ${h.from}` : `seq ${h.from}..${h.to}`;
          return `${h.count} event${h.count === 1 ? "" : "s"} of chain ${h.chain} (${range})`;
        })
        .join(", ")}`;
    }
  }

  /** Unused loose lines between two entries (or before/after one of them). */
  #looseBetween(chain: string, pred: Entry | undefined, succ: Entry | undefined): Loose[] {
    const out: Loose[] = [];
    const take = (src: number, lo: number, hi: number) => {
      for (const l of this.#loose[src]!) {
        if (l.used || l.unsigned || l.line <= lo || l.line >= hi) continue;
        if (l.displaced && l.displaced.chain !== chain) continue;
        out.push(l);
      }
    };
    if (pred && succ && pred.src === succ.src) take(pred.src, pred.line, succ.line);
    else {
      if (pred) take(pred.src, pred.line, Number.POSITIVE_INFINITY);
      if (succ) take(succ.src, 0, succ.line);
    }
    return out;
  }

  /** Loose lines no gap accounted for. */
  #judgeLoose(): void {
    for (const list of this.#loose) {
      const unsigned = list.filter((l) => !l.used && l.unsigned);
      for (const l of list) {
        if (l.used || l.unsigned) continue;
        const s = this.#sources[l.src]!;
        if (l.displaced) {
          this.#push({
            kind: "forged",
            message: `${this.#where(l.src, l.line)}: an inserted line claims seq ${l.displaced.seq} of chain ${l.displaced.chain}, which is held by ${l.displaced.heldBy} (and its content does not match its hash)`,
            chain: l.displaced.chain,
            seq: l.displaced.seq,
            file: s.name,
            line: l.line,
          });
          continue;
        }
        this.#push({
          kind: l.torn ? "truncated" : "modified",
          message: `${this.#where(l.src, l.line)}: ${l.torn ? "cut mid-line" : "not a valid event"}: ${l.why}`,
          file: s.name,
          line: l.line,
        });
      }
      if (unsigned.length > 0) {
        const f = unsigned[0]!;
        this.#push({
          kind: "unverifiable",
          message: `${this.#where(f.src, f.line)}${unsigned.length > 1 ? ` and ${unsigned.length - 1} more lines` : ""}: events without an integrity field (written before signing was enabled, or inserted) cannot be verified`,
          file: this.#sources[f.src]!.name,
          line: f.line,
          count: unsigned.length,
        });
      }
    }
  }
}

/** A duration in seconds with one decimal, for messages: `2.1 s`. */
/** The chain positions a signed record speaks of, for a problem. */
function recordSpan(r: SignedRecord): { seq: number; toSeq?: number } {
  if (r.type === "checkpoint") return { seq: r.seq };
  if (r.type === "retention") return { seq: r.from, toSeq: r.to };
  const seqs = r.replacements.map((x) => x.seq);
  return { seq: Math.min(...seqs), toSeq: Math.max(...seqs) };
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

/** Binary search for a position among slots sorted by seq. */
function findSlot(slots: readonly Entry[], seq: number): Entry | undefined {
  let lo = 0;
  let hi = slots.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = slots[mid]!.seq;
    if (s === seq) return slots[mid];
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/** A copy of a short string that does not keep its (long) parent line alive. */
function fresh(s: string): string {
  return Buffer.from(s, "latin1").toString("latin1");
}

const KID_RE = /^\{"v":1,"kid":("(?:[^"\\]|\\.)*")/;

function envelopeKid(line: string): string | undefined {
  const m = KID_RE.exec(line);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return undefined;
  }
}

function envelopeHeader(line: string): { chain: string; seq: number } | undefined {
  try {
    const e = JSON.parse(line) as { chain?: unknown; seq?: unknown };
    if (
      typeof e.chain === "string" &&
      typeof e.seq === "number" &&
      Number.isSafeInteger(e.seq) &&
      e.seq >= 1
    ) {
      return { chain: e.chain, seq: e.seq };
    }
  } catch {
    // not JSON: handled as a loose line
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------

/** One file of a store, as {@link verifyStore} reads it. */
export interface VerifyFile {
  readonly path: string;
  /** The file name (for rotation sequences and retention records). */
  readonly name: string;
  readonly gzip: boolean;
  /** Rotation index (`.1`, `.2`, …), 0 for the active file. */
  readonly index: number;
  /** UTC day start of its events, when the name carries one. */
  readonly day?: number;
}

/**
 * Another place stored lines live — the extension point for SQL backends. Yield every
 * stored line (the exact text the pipeline handed to the backend: the canonical line, or the
 * encryption envelope) with its row id, in insertion order.
 *
 * @example
 * const source: LineSource = {
 *   name: "sqlite:vigil_audit_events",
 *   rows: true,
 *   async *lines() { for (const r of db.prepare("SELECT rowid, line FROM t ORDER BY rowid").iterate()) yield { at: r.rowid, line: r.line }; },
 * };
 */
export interface LineSource {
  readonly name: string;
  /** Locations are row ids (`name row 42`) rather than line numbers (`name:42`). Default false. */
  readonly rows?: boolean;
  lines(): AsyncIterable<{ readonly at: number; readonly line: string }>;
}

/** Progress of {@link verifyStore}, after each file or source. */
export interface VerifyProgress {
  readonly done: number;
  readonly total: number;
  readonly events: number;
  readonly current: string;
}

/** Options of {@link verifyStore}. */
export interface VerifyStoreOptions {
  /** The store's files: a file backend (its `listFiles()` and `directory`), or an explicit list. */
  readonly backend?: { readonly directory: string; listFiles(): Promise<readonly VerifyFile[]> };
  readonly files?: readonly VerifyFile[];
  /** Where checkpoints and retention records are. Default `<backend.directory>/checkpoints`. */
  readonly checkpoints?: string;
  /** Witness directories holding copies of the checkpoints. */
  readonly witness?: string | readonly string[];
  /** The verifying key: `security.signing` (HMAC `secret_key`, or Ed25519 `public_key` alone). */
  readonly signing: SigningKeys;
  /** Decryption keys, when the store holds encrypted records: `security.encryption`. */
  readonly encryption?: EncryptionKeys;
  /** More sources of stored lines (SQL tables). */
  readonly sources?: readonly LineSource[];
  /** Signed records read elsewhere (a database's `<table>_checkpoints`), judged with the store's. */
  readonly records?: readonly {
    readonly records: readonly StoredSignedRecord[];
    readonly bad: readonly BadRecordLine[];
  }[];
  /** Only files whose day is in `[from, to)` are read (files without a day always are). */
  readonly from?: Date;
  readonly to?: Date;
  /** Called after each file or source. */
  readonly onProgress?: (progress: VerifyProgress) => void;
  /** Default 1000. */
  readonly maxProblems?: number;
  /**
   * How pending tails of running writers are told from unsealed tails after a crash: the
   * writers' checkpoint interval (default 60 s), a grace (default 15 s), the clock. `false`:
   * every event after a chain's last checkpoint is `unverifiable` (strict). Default on.
   */
  readonly pending?: PendingOptions | false;
  /** `false`: storage order is not chain order (a central store filled by `vigil ingest`); see {@link ChainVerifierOptions.ordered}. */
  readonly ordered?: boolean;
}

const DAY_MS = 86_400_000;

/**
 * Verify a store: every chain across its plain and gzipped files (and extra sources), its
 * checkpoints, retention records and witness.
 *
 * @example
 * const result = await verifyStore({ backend: fileBackend, signing: { algorithm: "ed25519", public_key } });
 * if (!result.ok) for (const p of result.problems) console.log(p.kind, p.message);
 */
export async function verifyStore(options: VerifyStoreOptions): Promise<VerifyResult> {
  const windowed = options.from !== undefined || options.to !== undefined;
  const verifier = new ChainVerifier({
    verifier: createVerifier(options.signing),
    open: createLineOpener(options.encryption),
    openBytes: createEnvelopeOpener(options.encryption),
    windowed,
    ...(options.maxProblems !== undefined ? { maxProblems: options.maxProblems } : {}),
    ...(options.pending !== false ? { pending: pendingPolicy(options.pending) } : {}),
    ...(options.ordered === false ? { ordered: false } : {}),
  });
  const checkpointDir =
    options.checkpoints ?? (options.backend ? join(options.backend.directory, "checkpoints") : undefined);
  const firstRecords = checkpointDir !== undefined ? readRecords(checkpointDir) : undefined;
  if (firstRecords) verifier.addRecords(firstRecords);
  for (const read of options.records ?? []) verifier.addRecords(read);
  const witnesses =
    options.witness === undefined
      ? []
      : typeof options.witness === "string"
        ? [options.witness]
        : options.witness;
  for (const w of witnesses) verifier.addRecords(readRecords(w), { witness: true });

  let files = (options.files ?? (options.backend ? await options.backend.listFiles() : [])).map(
    normalizeFile,
  );
  if (windowed) files = files.filter((f) => inWindow(f, options.from, options.to));
  // oldest first within a family, so a chain's lines arrive roughly in order
  files.sort(
    (a, b) => (a.day ?? 0) - (b.day ?? 0) || familyOf(a).localeCompare(familyOf(b)) || rank(a) - rank(b),
  );
  reportMissingFiles(files, verifier);

  let total = files.length + (options.sources?.length ?? 0);
  let done = 0;
  let events = 0;
  /** Files read, by inode: a running writer renames files (rotation) while they are read. */
  const readInodes = new Set<number>();
  const torn: { src: number; path: string; line: number; text: string; offset: number }[] = [];
  const readPaths = new Set<string>();
  const readOne = async (f: VerifyFile): Promise<void> => {
    const src = verifier.addSource(f.path);
    const outcome = await readFileLineBytes(f.path, f.gzip, (buf, start, end, lineNo, utf8) => {
      events++;
      verifier.addLineBytes(src, lineNo, buf, start, end, utf8);
    });
    if (outcome.ino !== undefined) readInodes.add(outcome.ino);
    // a last line without newline may be one a running writer is writing: looked at again at the end
    if (outcome.torn?.offset !== undefined)
      torn.push({ src, path: f.path, ...outcome.torn, offset: outcome.torn.offset });
    else if (outcome.torn) verifier.addTornLine(src, outcome.torn.line, outcome.torn.text);
    // a file gone since the listing (renamed, compressed or pruned by a running writer) is
    // looked for again below; events it held and that are not found are reported by the chain
    const gone =
      (outcome.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT" && outcome.lines === 0;
    if (outcome.error && !gone) verifier.addUnreadable(src, outcome.lines, outcome.error);
    if (!gone) readPaths.add(f.path);
    options.onProgress?.({ done: ++done, total, events, current: f.path });
  };
  for (const f of files) await readOne(f);
  if (options.backend && !options.files) {
    // A running writer may have rotated files while they were read: a file listed as the
    // active one and renamed before it was opened holds events no other file has. List
    // again and read every file not read yet — by inode, so a renamed file read under its
    // old name is not read twice, and by name, so a compressed copy of a file read is not.
    const again = (await options.backend.listFiles())
      .map(normalizeFile)
      .filter((f) => !readPaths.has(f.path) && !(f.gzip && readPaths.has(f.path.slice(0, -3))))
      .filter((f) => (windowed ? inWindow(f, options.from, options.to) : true));
    const unread: VerifyFile[] = [];
    for (const f of again) {
      const ino = inodeOf(f.path);
      if (ino === undefined || !readInodes.has(ino)) unread.push(f);
    }
    total += unread.length;
    for (const f of unread) await readOne(f);
    // retention records signed meanwhile authorize the deletions they preceded
    if (checkpointDir !== undefined) {
      const seen = new Set(firstRecords?.records.map((r) => `${r.file}:${r.line}`));
      const later = readRecords(checkpointDir).records.filter(
        (r) => r.record.type === "retention" && !seen.has(`${r.file}:${r.line}`),
      );
      if (later.length > 0) verifier.addRecords({ records: later, bad: [] });
    }
  }
  // A line read torn is complete now when a running writer was writing it; otherwise the
  // file was cut mid-line.
  for (const t of torn) {
    const line = completedLine(t.path, t.offset);
    if (line) verifier.addLineBytes(t.src, t.line, line, 0, line.length, isUtf8(line));
    else verifier.addTornLine(t.src, t.line, t.text);
  }
  for (const source of options.sources ?? []) {
    const src = verifier.addSource(source.name, { rows: source.rows ?? false });
    for await (const { at, line } of source.lines()) {
      events++;
      verifier.addLine(src, at, line);
    }
    options.onProgress?.({ done: ++done, total, events, current: source.name });
  }
  return verifier.finish();
}

/** Whether a file's day is in `[from, to)` (a file without a day always is). */
function inWindow(f: VerifyFile, from: Date | undefined, to: Date | undefined): boolean {
  const fromMs = from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const toMs = to?.getTime() ?? Number.POSITIVE_INFINITY;
  return f.day === undefined || (f.day + DAY_MS > fromMs && f.day < toMs);
}

/** The inode number of `path`, or `undefined` when it is gone. */
function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * Gzip and rotation index read from the name itself (`name.N`, `name.N.gz`, `name.gz`), so
 * verification does not depend on how a listing parsed them.
 */
function normalizeFile(f: VerifyFile): VerifyFile {
  const m = /\.(\d{1,9})(\.gz)?$/.exec(f.name);
  return { ...f, gzip: f.name.endsWith(".gz"), index: m ? Number(m[1]) : 0 };
}

/** A file's rotation family: its name without `.gz` and rotation index. */
function familyOf(f: VerifyFile): string {
  const base = f.gzip ? f.name.slice(0, -3) : f.name;
  return f.index > 0 ? base.slice(0, base.length - String(f.index).length - 1) : base;
}

/** Rotated files first, by index (oldest first), the active file last. */
function rank(f: VerifyFile): number {
  return f.index === 0 ? Number.MAX_SAFE_INTEGER : f.index;
}

/** A rotation sequence `.1 .2 … .N` with a hole means a deleted file. */
function reportMissingFiles(files: readonly VerifyFile[], verifier: ChainVerifier): void {
  const families = new Map<string, Map<number, VerifyFile>>();
  for (const f of files) {
    const fam = familyOf(f);
    const byIndex = families.get(fam) ?? new Map<number, VerifyFile>();
    families.set(fam, byIndex);
    byIndex.set(f.index, f);
  }
  const retained = verifier.retainedFiles;
  for (const [fam, byIndex] of families) {
    const max = Math.max(...byIndex.keys());
    for (let i = 1; i < max; i++) {
      if (byIndex.has(i)) continue;
      const name = `${fam}.${i}`;
      if (retained.has(name) || retained.has(`${name}.gz`)) continue;
      // name it as its neighbours are stored (compressed or not)
      const gz = files.some((f) => f.gzip && familyOf(f) === fam && Math.abs(f.index - i) === 1);
      // the files rotated just before and after it (a lower index is older; a file retention
      // deleted on purpose leaves no neighbour to measure from)
      let below: VerifyFile | undefined;
      for (let j = i - 1; j >= 1 && !below; j--) {
        if (byIndex.has(j)) below = byIndex.get(j);
        else if (retained.has(`${fam}.${j}`) || retained.has(`${fam}.${j}.gz`)) break;
      }
      let above: VerifyFile | undefined;
      for (let j = i + 1; j <= max && !above; j++) above = byIndex.get(j);
      verifier.addMissingFile(
        gz ? `${name}.gz` : name,
        `the rotation sequence of ${fam} has .${max} but not .${i}`,
        {
          ...(below ? { before: below.path } : {}),
          ...(above ? { after: above.path } : {}),
        },
      );
    }
  }
}
