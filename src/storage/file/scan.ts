/**
 * Reading a store's files fast: files are read in 1 MiB chunks into two buffers used in
 * turn (the next read already on the thread pool while this one is judged), each chunk is
 * seen once as Latin-1 text, a window of at most {@link WINDOW} bytes at a time (so byte
 * offsets are string offsets, and each string is a young-generation object: a longer one
 * is allocated outside the heap's nursery and costs several times the copy), and a line is
 * judged on its bytes before anything is decoded: a line whose bytes lack a text the query
 * requires ({@link lineNeed}), or whose `timestamp` lies outside the range, is skipped
 * without `JSON.parse`. Every search of a text runs over a window once (a cursor per
 * text), not once per line.
 *
 * A line is judged on its bytes only when they say the same as its JSON: never an
 * encryption envelope, a line with a `subject` member when decoding opens erasure's sealed
 * personal fields there, nor a line that writes a character another way than
 * `JSON.stringify` (`\u…`, `\/`). Those are decoded and judged by the evaluator.
 *
 * @module
 */
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import type { LineNeed } from "../../query/prefilter.js";

const CHUNK = 1 << 20;
/** The most bytes seen as one string (unless one line is longer): 64 KiB strings stay in the nursery. */
const WINDOW = 60 * 1024;
const ENVELOPE = Buffer.from('{"v":1,"kid":', "latin1");
const NEWLINE = 0x0a;

/** Finds the next occurrence of one pattern at or after a position, searching each stretch of a window once. */
class Cursor {
  readonly #re: RegExp;
  #text = "";
  /** The buffer offset of the text's first character. */
  #base = 0;
  /** The last occurrence found, relative to the text; -1 before any search. */
  #at = -1;

  /** The length of every match. */
  readonly #length: number;

  constructor(re: RegExp, length: number) {
    this.#re = re;
    this.#length = length;
  }

  reset(text: string, base: number): void {
    this.#text = text;
    this.#base = base;
    this.#at = -1;
  }

  /** The buffer offset of the first occurrence at or after `from` (never decreasing within a window), or Infinity. */
  next(from: number): number {
    const rel = from - this.#base;
    if (this.#at >= rel) return this.#at + this.#base;
    // test() allocates no match array; every pattern here has a fixed length
    const re = this.#re;
    re.lastIndex = rel;
    this.#at = re.test(this.#text) ? re.lastIndex - this.#length : Number.POSITIVE_INFINITY;
    return this.#at + this.#base;
  }
}

/** The next occurrence of a byte, searched natively in the chunk's Buffer (memchr). */
class ByteCursor {
  readonly #needle: number;
  /** For `\\`: only a backslash followed by one of these bytes counts. */
  readonly #then: readonly number[] | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #length = 0;
  #at = -1;

  constructor(needle: number, then?: readonly number[]) {
    this.#needle = needle;
    this.#then = then;
  }

  reset(buf: Buffer, length: number): void {
    this.#buf = buf;
    this.#length = length;
    this.#at = -1;
  }

  next(from: number): number {
    if (this.#at >= from) return this.#at;
    let i = from;
    for (;;) {
      i = this.#buf.indexOf(this.#needle, i);
      if (i < 0 || i >= this.#length) {
        this.#at = Number.POSITIVE_INFINITY;
        return this.#at;
      }
      if (this.#then === undefined || this.#then.includes(this.#buf[i + 1]!)) break;
      i += 2; // an escape that changes nothing here (\" \\ \n ...): skip it whole
    }
    this.#at = i;
    return i;
  }
}

/** A RegExp source matching `bytes` read as Latin-1 (ASCII letters in either case when `caseless`). */
function byteSource(bytes: Buffer, caseless: boolean): string {
  let source = "";
  for (const b of bytes) {
    const lower = b | 0x20;
    if (caseless && lower >= 0x61 && lower <= 0x7a)
      source += `[${String.fromCharCode(lower)}${String.fromCharCode(lower & ~0x20)}]`;
    else source += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return source;
}

type Test = (start: number, end: number) => boolean;

/** What {@link LineJudge.judge} decided about a line. */
export const Verdict = {
  /** The line cannot match: skip it. */
  Skip: 0,
  /** The line may match: decode it and ask the evaluator. */
  Decode: 1,
  /** The line matches (nothing beyond the time range was asked, and its time is in range). */
  Match: 2,
  /**
   * With {@link JudgeOptions.stampless}: the line's bytes are its JSON (no envelope, no
   * escape that hides text, no sealed subject) and hold every text the query requires; its
   * timestamp was not read, so neither the time range nor anything else was judged.
   */
  Plain: 3,
} as const;
/** One of {@link Verdict}'s values. */
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** How lines are judged for one search. */
export interface JudgeOptions {
  /** The texts the query requires (`lineNeed`), tenant included; `all` when none. */
  readonly need: LineNeed;
  /** Whether the need and the time range are all there is to the search (no evaluator needed). */
  readonly exact: boolean;
  /** The bytes say nothing sure (lines are not plain JSON): every line is decoded. */
  readonly opaque?: boolean;
  /** Lines with a `subject` member may hold sealed personal fields, restored by decoding: they are decoded. */
  readonly sealed: boolean;
  /** Inclusive lower bound on the timestamp text. */
  readonly fromIso?: string | undefined;
  /** Exclusive upper bound on the timestamp text. */
  readonly toIso?: string | undefined;
  /**
   * The caller reads each line's timestamp itself: a plain line that holds the query's texts
   * is {@link Verdict.Plain}, its time not judged. Default false.
   */
  readonly stampless?: boolean;
  /** Inclusive bounds from a cursor: lines strictly outside are skipped. */
  readonly minTs?: string | undefined;
  readonly maxTs?: string | undefined;
}

/** Judges the lines of one chunk after another, by their bytes. */
export class LineJudge {
  readonly #test: Test | undefined;
  readonly #cursors: Cursor[] = [];
  readonly #escape = new ByteCursor(0x5c, [0x75, 0x2f]); // \u, \/
  /**
   * With `sealed`: erasure's sealed member is a top-level `subject` (`"subject":{"ct":…}`), so
   * a line without the bytes `"subject"` (nor an escape) holds none. A RegExp over the Latin-1
   * text: its letters let it skip ahead, where a search for `"ct":` stops at every quote.
   */
  readonly #sealed: Cursor | undefined;
  /** Found in every line: a RegExp over the Latin-1 text (a native Buffer search pays a setup per call). */
  readonly #stamp: Cursor | undefined;
  readonly #options: JudgeOptions;
  readonly #timed: boolean;
  #buf: Buffer = Buffer.alloc(0);
  /** The timestamp text of the last line judged, when it was read from the bytes. */
  timestamp: string | undefined;

  constructor(options: JudgeOptions) {
    this.#options = options;
    this.#test = this.#compile(options.need);
    this.#stamp = options.stampless ? undefined : this.#cursor(/"timestamp"/g, 11);
    this.#sealed = options.sealed ? this.#cursor(/"subject"/g, 9) : undefined;

    this.#timed =
      options.fromIso !== undefined ||
      options.toIso !== undefined ||
      options.minTs !== undefined ||
      options.maxTs !== undefined;
  }

  #cursor(re: RegExp, length: number): Cursor {
    const c = new Cursor(re, length);
    this.#cursors.push(c);
    return c;
  }

  #compile(need: LineNeed): Test | undefined {
    switch (need.kind) {
      case "all":
        return undefined;
      case "text": {
        const c = this.#cursor(new RegExp(byteSource(need.bytes, need.caseless), "g"), need.bytes.length);
        return (s, e) => c.next(s) < e;
      }
      case "and": {
        const tests = need.parts.map((p) => this.#compile(p)).filter((t): t is Test => t !== undefined);
        return (s, e) => {
          for (let i = 0; i < tests.length; i++) if (!tests[i]!(s, e)) return false;
          return true;
        };
      }
      case "or": {
        const tests = need.parts.map((p) => this.#compile(p));
        if (tests.some((t) => t === undefined)) return undefined;
        return (s, e) => {
          for (let i = 0; i < tests.length; i++) if (tests[i]!(s, e)) return true;
          return false;
        };
      }
    }
  }

  /** Start on a new chunk: `buf[0, length)`. */
  reset(buf: Buffer, length: number): void {
    this.#buf = buf;
    this.#escape.reset(buf, length);
  }

  /** Start on a window of whole lines of the chunk: `[start, end)`. */
  window(start: number, end: number): void {
    // texts are searched in the Latin-1 text (one character per byte, so offsets agree)
    if (this.#cursors.length === 0) return; // nothing to search for
    const text = this.#buf.toString("latin1", start, end);
    for (const c of this.#cursors) c.reset(text, start);
  }

  /** The line `[start, end)` of the current window: skip, decode, or a sure match. Sets {@link timestamp}. */
  judge(start: number, end: number): Verdict {
    this.timestamp = undefined;
    if (this.#options.opaque) return Verdict.Decode;
    const buf = this.#buf;
    if (
      (buf[start + 2] === 0x76 &&
        buf.compare(ENVELOPE, 0, ENVELOPE.length, start, start + ENVELOPE.length) === 0) ||
      this.#escape.next(start) < end ||
      (this.#sealed !== undefined && this.#sealed.next(start) < end)
    )
      return Verdict.Decode;
    if (this.#test !== undefined && !this.#test(start, end)) return Verdict.Skip;
    if (this.#options.stampless) return Verdict.Plain;
    const ts = this.#readTimestamp(start, end);
    if (ts === undefined) return Verdict.Decode;
    this.timestamp = ts;
    if (this.#timed) {
      const o = this.#options;
      if (o.fromIso !== undefined && ts < o.fromIso) return Verdict.Skip;
      if (o.toIso !== undefined && ts >= o.toIso) return Verdict.Skip;
      if (o.minTs !== undefined && ts < o.minTs) return Verdict.Skip;
      if (o.maxTs !== undefined && ts > o.maxTs) return Verdict.Skip;
    }
    return this.#options.exact ? Verdict.Match : Verdict.Decode;
  }

  /**
   * The top-level `timestamp` text, when the bytes tell it for sure: `"timestamp"` occurs
   * once in the line, followed by `:"`, a value of printable ASCII without escapes, `"`.
   * (If that one occurrence is a nested key, the event has no top-level timestamp and no
   * search returns it: skipping it is right too.)
   */
  #readTimestamp(start: number, end: number): string | undefined {
    const stamp = this.#stamp!;
    const p = stamp.next(start);
    if (p >= end || stamp.next(p + 1) < end) return undefined;
    const buf = this.#buf;
    if (buf[p + 11] !== 0x3a || buf[p + 12] !== 0x22) return undefined;
    const from = p + 13;
    let close = from;
    while (close < end && close - from <= 64 && buf[close] !== 0x22) {
      const c = buf[close]!;
      if (c < 0x20 || c > 0x7e || c === 0x5c) return undefined;
      close++;
    }
    if (close >= end || buf[close] !== 0x22) return undefined;
    return buf.toString("latin1", from, close);
  }
}

/** A chunk of whole lines: `buf[0, length)` ends with a newline. */
export interface Chunk {
  readonly buf: Buffer;
  readonly length: number;
}

/**
 * The chunks of a file, each ending at a line end; a last line without its newline (a write
 * in progress, or torn) is left out. The next read is started before a chunk is handed over.
 * A chunk's buffer is read into again once the next chunk is asked for: copy what is kept.
 */
export async function* readChunks(path: string, gzip: boolean): AsyncGenerator<Chunk> {
  if (gzip) {
    yield* gzipChunks(path);
    return;
  }
  const fh: FileHandle = await open(path, "r");
  try {
    /** The buffer not being read into nor judged (a fresh buffer costs page faults and GC). */
    let spare: Buffer | undefined;
    /** Reads the next chunk after `carry` (the previous chunk's unfinished line) into the spare buffer. */
    const read = (carry: Buffer | undefined): Promise<{ buf: Buffer; n: number }> => {
      const head = carry?.length ?? 0;
      const buf =
        spare !== undefined && spare.length >= head + CHUNK ? spare : Buffer.allocUnsafe(head + CHUNK);
      spare = undefined;
      if (carry) carry.copy(buf, 0);
      return fh.read(buf, head, CHUNK, null).then((r) => ({ buf, n: head + r.bytesRead }));
    };
    let pending = read(undefined);
    let before = 0;
    for (;;) {
      const { buf, n } = await pending;
      if (n === before) return; // nothing more: an unfinished last line is left out
      const last = buf.lastIndexOf(NEWLINE, n - 1);
      const carry = last + 1 < n ? buf.subarray(last + 1, n) : undefined;
      before = carry?.length ?? 0;
      pending = read(carry); // on the thread pool while this chunk is judged
      if (last >= 0) yield { buf, length: last + 1 };
      spare = buf; // judged: the read after next goes into it
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function* gzipChunks(path: string): AsyncGenerator<Chunk> {
  const raw = createReadStream(path, { highWaterMark: 256 * 1024 });
  const stream = raw.pipe(createGunzip({ chunkSize: 256 * 1024 }));
  raw.on("error", (err) => stream.destroy(err));
  let parts: Buffer[] = [];
  let size = 0;
  const take = function* (final: boolean): Generator<Chunk> {
    if (size === 0) return;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    const last = data.lastIndexOf(NEWLINE);
    if (last < 0) {
      if (!final) {
        parts = [data];
        size = data.length;
      }
      return;
    }
    if (last + 1 < data.length && !final) {
      const rest = Buffer.from(data.subarray(last + 1));
      parts = [rest];
      size = rest.length;
    }
    yield { buf: data, length: last + 1 };
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= CHUNK) yield* take(false);
  }
  yield* take(true);
}

/**
 * Visit the lines of `chunk` that `judge` does not skip: `visit(start, end, verdict)` with
 * the line's byte range (no newline) and the judge's verdict (its `timestamp` set).
 */
export function judgeChunk(
  chunk: Chunk,
  judge: LineJudge,
  visit: (start: number, end: number, verdict: Verdict) => void,
): void {
  const { buf, length } = chunk;
  judge.reset(buf, length);
  let start = 0;
  while (start < length) {
    // a window of whole lines, at most WINDOW bytes unless its one line is longer
    let stop = start + WINDOW >= length ? length : buf.lastIndexOf(NEWLINE, start + WINDOW - 1) + 1;
    if (stop <= start) {
      const nl = buf.indexOf(NEWLINE, start + WINDOW);
      stop = nl < 0 || nl >= length ? length : nl + 1;
    }
    judge.window(start, stop);
    while (start < stop) {
      const nl = buf.indexOf(NEWLINE, start);
      const end = nl < 0 || nl >= stop ? stop : nl;
      if (end > start) {
        const verdict = judge.judge(start, end);
        if (verdict !== Verdict.Skip) visit(start, end, verdict);
      }
      start = end + 1;
    }
  }
}
