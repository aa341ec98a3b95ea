/**
 * The verifier's hot path: {@link checkLine}'s fast path on the raw bytes of a stored line,
 * so a file is read as Buffers and a line is never decoded to a string when its canonical
 * layout holds. The hashed form is the line without its `,"hash":"…"` member, made in place
 * and hashed with the one-shot `crypto.hash`.
 *
 * @module
 */
import * as nodeCrypto from "node:crypto";
import { createHash } from "node:crypto";
import type { LineCheck } from "./chain.js";

/** `"integrity":{"chain":"`, in two parts. */
const MARK_INTEGRITY = Buffer.from('"integrity":', "latin1");
const MARK_CHAIN_TAIL = Buffer.from('{"chain":"', "latin1");
const MARK_HASH = Buffer.from('","hash":"', "latin1");
const MARK_PREV = Buffer.from('","prev":"', "latin1");
const MARK_SEQ = Buffer.from('","seq":', "latin1");
/** An escaped line separator: the hashed form holds the raw character, so the string path handles it. */
const ESCAPED_SEPARATOR = Buffer.from("\\u202", "latin1");
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string })
  .hash;
const sha256HexBytes: (data: Uint8Array) => string = oneShot
  ? (data) => oneShot("sha256", data, "hex")
  : (data) => createHash("sha256").update(data).digest("hex");

function startsWithAt(buf: Buffer, mark: Buffer, at: number, end: number): boolean {
  if (at + mark.length > end) return false;
  for (let k = 0; k < mark.length; k++) if (buf[at + k] !== mark[k]) return false;
  return true;
}

/** A line checked on its bytes: where its hashed form (the event without `hash`, valid JSON) now starts. */
export interface ByteLineCheck extends LineCheck {
  /** After a successful check the hashed form is `buf[body, end)`. */
  readonly body: number;
}

/**
 * Checks stored lines given as byte ranges of a buffer. Keeps a scratch buffer and the last
 * chain id between calls (a file's lines almost always belong to one chain).
 */
export class ByteLineChecker {
  #lastChainBytes: Buffer = Buffer.alloc(0);
  #lastChain = "";
  #sepBuf: Buffer | undefined;
  #sepFrom = 0;
  #sepAt = -1;

  /**
   * The check of the line `buf[start, end)` when it has the canonical layout and its hash
   * holds; `undefined` otherwise (decode the line and use `checkLine`, which also judges
   * modified lines). The line's bytes are scratch space: on success they are left changed,
   * holding the hashed form at `buf[body, end)`.
   */
  check(buf: Buffer, start: number, end: number): ByteLineCheck | undefined {
    // `{"chain":"` is found much faster than the whole marker (its first bytes are rarer)
    let i = start;
    for (;;) {
      const at = buf.indexOf(MARK_CHAIN_TAIL, i);
      if (at < 0 || at >= end) return undefined;
      if (
        at - start >= MARK_INTEGRITY.length &&
        startsWithAt(buf, MARK_INTEGRITY, at - MARK_INTEGRITY.length, end)
      ) {
        i = at;
        break;
      }
      i = at + 1;
    }
    const chainStart = i + MARK_CHAIN_TAIL.length;
    let chainEnd = chainStart;
    while (chainEnd < end && buf[chainEnd] !== QUOTE) {
      if (buf[chainEnd] === BACKSLASH) return undefined; // escapes: let the parser read it
      chainEnd++;
    }
    if (!startsWithAt(buf, MARK_HASH, chainEnd, end)) return undefined;
    const hashStart = chainEnd + MARK_HASH.length;
    const prevMark = hashStart + 64;
    if (!startsWithAt(buf, MARK_PREV, prevMark, end)) return undefined;
    const prevStart = prevMark + MARK_PREV.length;
    const seqMark = prevStart + 64;
    if (!startsWithAt(buf, MARK_SEQ, seqMark, end)) return undefined;
    const seqStart = seqMark + MARK_SEQ.length;
    let seq = 0;
    let p = seqStart;
    for (; p < end && p - seqStart <= 16; p++) {
      const c = buf[p]!;
      if (c < 0x30 || c > 0x39) break;
      if (p === seqStart && c === 0x30) return undefined;
      seq = seq * 10 + (c - 0x30);
    }
    if (p === seqStart || p - seqStart > 16 || buf[p] !== 0x7d || !Number.isSafeInteger(seq))
      return undefined;
    const sep = this.#nextSeparator(buf, start);
    if (sep >= 0 && sep < end) return undefined;
    // The hashed form is the line without `,"hash":"…"`: move the head over that member (in
    // place: the reader's buffer is read once), hash, and put the line back when it fails.
    const stored = buf.toString("latin1", hashStart, hashStart + 64);
    const chain = this.#chainName(buf, chainStart, chainEnd);
    const cut = prevMark - chainEnd;
    buf.copyWithin(start + cut, start, chainEnd + 1);
    const hash = sha256HexBytes(buf.subarray(start + cut, end));
    if (hash !== stored) {
      buf.copyWithin(start, start + cut, chainEnd + 1 + cut);
      buf.write(`","hash":"${stored}`, chainEnd, "latin1");
      return undefined;
    }
    return {
      chain,
      seq,
      prev: buf.toString("latin1", prevStart, prevStart + 64),
      hash: stored,
      valid: true,
      body: start + cut,
    };
  }

  /** The next escaped separator at or after `start` (-1: none), searched once per buffer and stretch. */
  #nextSeparator(buf: Buffer, start: number): number {
    if (buf !== this.#sepBuf || start < this.#sepFrom || (this.#sepAt >= 0 && start > this.#sepAt)) {
      this.#sepBuf = buf;
      this.#sepFrom = start;
      this.#sepAt = buf.indexOf(ESCAPED_SEPARATOR, start);
    }
    return this.#sepAt;
  }

  #chainName(buf: Buffer, start: number, end: number): string {
    const last = this.#lastChainBytes;
    if (last.length === end - start && buf.compare(last, 0, last.length, start, end) === 0)
      return this.#lastChain;
    this.#lastChainBytes = Buffer.from(buf.subarray(start, end));
    this.#lastChain = buf.toString("utf8", start, end);
    return this.#lastChain;
  }
}
