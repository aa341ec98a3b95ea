/**
 * Reading a few string fields of a stored line straight from its bytes, with the answer
 * `JSON.parse` would give, or no answer at all: counts by a field (`vigil stats --by`,
 * `engine.aggregate({ groupBy })`) then skip decoding every line.
 *
 * {@link LineFields.read} walks the line once, byte by byte, checking it is the JSON
 * `JSON.stringify` writes (one object, no whitespace between tokens, valid strings, numbers
 * and literals, brackets that match) and following the wanted paths through nested
 * objects. A key seen twice counts as `JSON.parse` counts it: the last one wins. It
 * declines (returns false, and the caller decodes the line) whenever it is not sure: a line
 * that is not such JSON, a `\u` or `\/` escape, a wanted value that is not a string or
 * `null` (a number's text, an array's elements, an object's JSON are the evaluator's
 * business), an array on the way to it, nesting deeper than 31.
 *
 * Lines the caller passes here are plain (not an encryption envelope, no sealed subject):
 * their JSON is the event.
 *
 * @module
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const MAX_DEPTH = 31;

/** `true`, `false`, `null` as bytes. */
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

/** Bytes that end a run of plain string text: `"`, `\\`, control characters. */
const STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STOP[c] = 1;
STOP[0x22] = 1;
STOP[0x5c] = 1;

/** What a path holds in the line last read. */
const ABSENT = 0;
const STRING = 1;
const NULL_VALUE = 2;

/** The end of the number starting at `i` (JSON's grammar), or -1. */
function numberEnd(buf: Buffer, i: number, end: number): number {
  if (buf[i] === 0x2d) i++;
  const first = buf[i];
  if (first === 0x30) i++;
  else if (first !== undefined && first >= 0x31 && first <= 0x39) {
    i++;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
  } else return -1;
  if (buf[i] === 0x2e) {
    i++;
    const digits = i;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i === digits) return -1;
  }
  const e = buf[i];
  if (e === 0x65 || e === 0x45) {
    i++;
    if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
    const digits = i;
    while (i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39) i++;
    if (i === digits) return -1;
  }
  return i;
}

/** Whether `buf` holds `bytes` at `at`. */
function sameBytes(buf: Buffer, at: number, bytes: Buffer): boolean {
  for (let k = 0; k < bytes.length; k++) if (buf[at + k] !== bytes[k]) return false;
  return true;
}

function literalEnd(buf: Buffer, i: number, end: number, word: readonly number[]): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (buf[i + k] !== word[k]) return -1;
  return i + word.length;
}

/** Reads the values of some dotted paths (a string, or absent) from lines' bytes. */
export class LineFields {
  /** Each path's segments as UTF-8 bytes. */
  readonly #paths: readonly (readonly Buffer[])[];
  /** Per path: how many of its segments the open objects match (0: only the root is open). */
  readonly #matched: Int32Array;
  readonly #kind: Uint8Array;
  readonly #from: Int32Array;
  readonly #to: Int32Array;
  readonly #escaped: Uint8Array;
  #buf: Buffer = Buffer.alloc(0);
  #lastEscaped = 0;

  /** @param paths - dotted paths (`action.category`, `timestamp`), aliases already resolved. */
  constructor(paths: readonly string[]) {
    this.#paths = paths.map((p) => p.split(".").map((s) => Buffer.from(s, "utf8")));
    const n = paths.length;
    this.#matched = new Int32Array(n);
    this.#kind = new Uint8Array(n);
    this.#from = new Int32Array(n);
    this.#to = new Int32Array(n);
    this.#escaped = new Uint8Array(n);
  }

  /**
   * Walk the line `buf[start, end)`. True when every path's value is known: then
   * {@link value} gives it. False when unsure: decode the line.
   */
  read(buf: Buffer, start: number, end: number): boolean {
    this.#buf = buf;
    const paths = this.#paths;
    const n = paths.length;
    const matched = this.#matched;
    const kind = this.#kind;
    for (let p = 0; p < n; p++) {
      matched[p] = 0;
      kind[p] = ABSENT;
    }
    if (buf[start] !== OPEN_OBJECT) return false;
    /** Bit d set: the container at depth d (1 = the root) is an array. */
    let arrays = 0;
    let depth = 1;
    let i = start + 1;
    /** Whether the next token is a member's key (else a value: after `:`, or an array element). */
    let expectKey = true;
    if (buf[i] === CLOSE_OBJECT) return i + 1 === end; // `{}`
    for (;;) {
      if (i >= end) return false;
      let c = buf[i]!;
      /** The path (if any) whose wanted value comes next. */
      let leaf = -1;
      if (expectKey) {
        if (c !== QUOTE) return false;
        const keyStart = i + 1;
        const keyEnd = this.#stringEnd(keyStart, end);
        if (keyEnd < 0 || buf[keyEnd + 1] !== COLON) return false;
        i = keyEnd + 2;
        if (i >= end) return false;
        c = buf[i]!;
        // does this key continue a path? (the open objects match the path's first depth-1 segments)
        for (let p = 0; p < n; p++) {
          const segs = paths[p]!;
          if (matched[p] !== depth - 1 || depth > segs.length) continue;
          const seg = segs[depth - 1]!;
          if (keyEnd - keyStart !== seg.length || !sameBytes(buf, keyStart, seg)) continue;
          // the last of equal keys wins: what an earlier one held is forgotten
          kind[p] = ABSENT;
          if (depth === segs.length) {
            if (leaf >= 0) return false; // two paths alike: not worth the bookkeeping
            leaf = p;
          } else if (c === OPEN_OBJECT) matched[p] = depth;
          else if (c === OPEN_ARRAY) return false; // an array on the way: its indexes are the evaluator's
        }
      }
      // a value
      if (c === QUOTE) {
        const to = this.#stringEnd(i + 1, end);
        if (to < 0) return false;
        if (leaf >= 0) {
          kind[leaf] = STRING;
          this.#from[leaf] = i + 1;
          this.#to[leaf] = to;
          this.#escaped[leaf] = this.#lastEscaped;
        }
        i = to + 1;
      } else if (leaf >= 0) {
        if (c !== 0x6e) return false; // a number, boolean, object or array: left to the evaluator
        i = literalEnd(buf, i, end, NULL);
        if (i < 0) return false;
        kind[leaf] = NULL_VALUE;
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (depth >= MAX_DEPTH) return false;
        depth++;
        i++;
        if (c === OPEN_ARRAY) arrays |= 1 << depth;
        else arrays &= ~(1 << depth);
        if (buf[i] !== (c === OPEN_ARRAY ? CLOSE_ARRAY : CLOSE_OBJECT)) {
          expectKey = c === OPEN_OBJECT;
          continue;
        }
        // an empty container, closed at once: a whole value (no path continues inside it)
        for (let p = 0; p < n; p++) if (matched[p]! >= depth - 1) matched[p] = depth - 2;
        depth--;
        i++;
      } else if (c === 0x74 || c === 0x66 || c === 0x6e) {
        i = literalEnd(buf, i, end, c === 0x74 ? TRUE : c === 0x66 ? FALSE : NULL);
        if (i < 0) return false;
      } else {
        i = numberEnd(buf, i, end);
        if (i < 0) return false;
      }
      // after a value: `,` and the next member or element, or containers close
      for (;;) {
        if (i >= end) return false;
        c = buf[i]!;
        if (c === COMMA) {
          i++;
          expectKey = (arrays & (1 << depth)) === 0;
          break;
        }
        if (c !== ((arrays & (1 << depth)) !== 0 ? CLOSE_ARRAY : CLOSE_OBJECT)) return false;
        // the paths inside this object end with it
        for (let p = 0; p < n; p++) if (matched[p]! >= depth - 1) matched[p] = depth - 2;
        depth--;
        i++;
        if (depth === 0) return i === end;
      }
    }
  }

  /**
   * The index of the closing quote of the string whose text starts at `i`; -1 for a string
   * `JSON.parse` would refuse, or an escape the bytes are not trusted with (`\u`, `\/`).
   */
  #stringEnd(i: number, end: number): number {
    const buf = this.#buf;
    let escaped = 0;
    for (;;) {
      // the line ends with a newline (a control character), so this stops at the end too
      while (STOP[buf[i]!] === 0) i++;
      if (i >= end) return -1;
      const c = buf[i]!;
      if (c === QUOTE) break;
      if (c !== BACKSLASH) return -1; // a raw control character
      const e = buf[i + 1];
      // \" \\ \b \f \n \r \t (the judge decodes lines with \u or \/ before they get here)
      if (
        e !== QUOTE &&
        e !== BACKSLASH &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      )
        return -1;
      escaped = 1;
      i += 2;
    }
    this.#lastEscaped = escaped;
    return i;
  }

  /** After a successful {@link read}: the `index`-th path's value, its string or null (absent, or JSON `null`). */
  value(index: number): string | null {
    if (this.#kind[index] !== STRING) return null;
    const from = this.#from[index]!;
    const to = this.#to[index]!;
    const buf = this.#buf;
    if (this.#escaped[index] === 1) return JSON.parse(buf.toString("utf8", from - 1, to + 1)) as string;
    let bits = 0;
    for (let i = from; i < to; i++) bits |= buf[i]!;
    // Latin-1 is the cheaper decoder, and the same for ASCII
    return buf.toString(bits < 0x80 ? "latin1" : "utf8", from, to);
  }
}
