/**
 * The hash chain (SPEC §9): what each stored event's `integrity` field means, how it
 * is computed, and how a stored line is checked against it.
 *
 * For an event E with `integrity = { chain, seq, prev, hash }`:
 *
 * ```
 * hashed form  = RFC 8785 canonical JSON of E with integrity replaced by { chain, prev, seq }
 * hash         = lower-case hex SHA-256 of the UTF-8 bytes of the hashed form
 * prev         = the hash of the event with seq - 1 in the same chain; 64 zeros for seq 1
 * ```
 *
 * The stored line is the canonical JSON of E itself (integrity with `hash`), with U+2028 and
 * U+2029 escaped so that no line tool splits it. Because the line is canonical, a verifier
 * re-derives the hashed form by cutting the `"hash":"…"` member out of the line — no parse,
 * no re-serialization — and only falls back to parsing and canonicalizing when that does not
 * match (a line whose escapes differ, or a tampered one).
 *
 * @module
 */
import * as nodeCrypto from "node:crypto";
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { AuditEvent, Integrity } from "../event/types.js";
import { canonicalize, canonicalSplit, isCanonical } from "./canonical.js";

/** The `prev` of the first event of every chain: 64 zeros. */
export const GENESIS = "0".repeat(64);

const HAS_SEPARATOR = /[\u2028\u2029]/;
const SEPARATORS = /[\u2028\u2029]/g;
const escapeSeparator = (c: string): string => (c === "\u2028" ? "\\u2028" : "\\u2029");

/** One-shot `crypto.hash` (Node >= 20.12): markedly cheaper than a Hash object per line. */
const oneShot = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: "hex") => string }).hash;

/** SHA-256 of a string's UTF-8 bytes, as lower-case hex. */
export const sha256Hex: (text: string) => string = oneShot
  ? (text) => oneShot("sha256", text, "hex")
  : (text) => createHash("sha256").update(text, "utf8").digest("hex");

/**
 * A new chain id, unique per writer: `host:pid:startTimeMs:random` (8 random hex digits).
 *
 * @example createChainId() // "web-1:4711:1764158400123:9f3a01bc"
 */
export function createChainId(
  host: string = hostname(),
  pid: number = process.pid,
  now: number = Date.now(),
): string {
  return `${host}:${pid}:${now}:${randomBytes(4).toString("hex")}`;
}

/** The result of sealing one event into its chain. */
export interface SealedEvent {
  /** The integrity field to store on the event. */
  readonly integrity: Integrity;
  /** The stored JSON line (canonical, with the hash), no newline. */
  readonly line: string;
}

/**
 * Compute an event's chain position and hash, and its canonical stored line. The event's
 * own `integrity` field, if any, is ignored.
 *
 * @example
 * const { integrity, line } = sealEvent(event, "web-1:4711:…", 1, GENESIS);
 */
export function sealEvent(event: AuditEvent, chain: string, seq: number, prev: string): SealedEvent {
  const chainText = JSON.stringify(chain);
  let head: string;
  let tail: string;
  // Fast path: prepare gave every nested part canonical key order (signed stores), so two
  // native stringify calls write the members before and after `integrity`.
  const halves = canonicalHalves(event);
  if (halves !== undefined) {
    const h = JSON.stringify(halves.before);
    const t = JSON.stringify(halves.after);
    head = h.length > 2 ? `${h.slice(0, -1)},` : "{";
    tail = t.length > 2 ? `,${t.slice(1)}` : "}";
  } else {
    const split = canonicalSplit(event as unknown as Record<string, unknown>, "integrity");
    head = split.head;
    tail = split.tail;
  }
  const before = `${head}"integrity":{"chain":${chainText},`;
  const after = `,"seq":${seq}}${tail}`;
  const hash = sha256Hex(`${before}"prev":"${prev}"${after}`);
  let line = `${before}"hash":"${hash}","prev":"${prev}"${after}`;
  if (HAS_SEPARATOR.test(line)) line = line.replace(SEPARATORS, escapeSeparator);
  return { integrity: { chain, seq, prev, hash }, line };
}

/** The hash an event should carry, by the definition above (the slow, parse-based path). */
export function eventHash(event: AuditEvent): string {
  const integrity = event.integrity;
  if (!integrity) return sha256Hex(canonicalize(event));
  const { hash: _hash, ...rest } = integrity;
  return sha256Hex(
    canonicalize({ ...event, integrity: { chain: rest.chain, prev: rest.prev, seq: rest.seq } }),
  );
}

/** What a stored line claims about its place in a chain, and whether its hash holds. */
export interface LineCheck {
  readonly chain: string;
  readonly seq: number;
  readonly prev: string;
  readonly hash: string;
  /** The hash recomputed from the line's content equals `hash`. */
  readonly valid: boolean;
}

const SEQ_TEXT = /^[1-9]\d{0,15}$/;
const ESCAPED_SEPARATORS = /\\u(2028|2029)/g;
const unescapeSeparator = (_: string, code: string): string => (code === "2028" ? "\u2028" : "\u2029");
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Check one stored (clear-text) line. Returns undefined when the line carries no readable
 * integrity field at all (not JSON, or an event written without signing).
 *
 * Fast path: the hash member is cut out of the line and the rest hashed; when that equals the
 * line's hash, the line is exactly the bytes the writer hashed. Otherwise the line is parsed and
 * its canonical hashed form recomputed, so a line that is equivalent JSON still verifies and a
 * modified one does not.
 */
export function checkLine(line: string): LineCheck | undefined {
  const fast = fastCheck(line);
  return fast ?? slowCheck(line);
}

const MARK_CHAIN = '"integrity":{"chain":"';
const MARK_HASH = '","hash":"';
const MARK_PREV = '","prev":"';
const MARK_SEQ = '","seq":';

/** The canonical layout read with string searches only; undefined when it does not hold. */
function fastCheck(line: string): LineCheck | undefined {
  const i = line.indexOf(MARK_CHAIN);
  if (i < 0) return undefined;
  const chainStart = i + MARK_CHAIN.length;
  const chainEnd = line.indexOf(MARK_HASH, chainStart);
  if (chainEnd < 0) return undefined;
  const chain = line.slice(chainStart, chainEnd);
  if (chain.includes("\\") || chain.includes('"')) return undefined; // escapes: let the parser read it
  const hashStart = chainEnd + MARK_HASH.length;
  const prevMark = hashStart + 64;
  if (!line.startsWith(MARK_PREV, prevMark)) return undefined;
  const prevStart = prevMark + MARK_PREV.length;
  const seqMark = prevStart + 64;
  if (!line.startsWith(MARK_SEQ, seqMark)) return undefined;
  const seqStart = seqMark + MARK_SEQ.length;
  const seqEnd = line.indexOf("}", seqStart);
  if (seqEnd < 0 || seqEnd - seqStart > 16) return undefined;
  const seqText = line.slice(seqStart, seqEnd);
  if (!SEQ_TEXT.test(seqText)) return undefined;
  // the hashed form: the line without `,"hash":"…"`, separators unescaped
  let hashed = line.slice(0, chainEnd + 1) + line.slice(prevMark + 1);
  if (hashed.includes("\\u202")) hashed = hashed.replace(ESCAPED_SEPARATORS, unescapeSeparator);
  const hash = sha256Hex(hashed); // a fresh string: does not keep the line alive
  if (!line.startsWith(hash, hashStart)) return undefined;
  return { chain, seq: Number(seqText), prev: line.slice(prevStart, prevStart + 64), hash, valid: true };
}

function slowCheck(line: string): LineCheck | undefined {
  let event: AuditEvent;
  try {
    event = JSON.parse(line) as AuditEvent;
  } catch {
    return undefined;
  }
  const i =
    event !== null && typeof event === "object"
      ? (event.integrity as Partial<Integrity> | undefined)
      : undefined;
  if (
    !i ||
    typeof i !== "object" ||
    typeof i.chain !== "string" ||
    typeof i.seq !== "number" ||
    !Number.isSafeInteger(i.seq) ||
    i.seq < 1 ||
    typeof i.prev !== "string" ||
    typeof i.hash !== "string"
  ) {
    return undefined;
  }
  let valid = false;
  if (HEX64.test(i.hash) && HEX64.test(i.prev)) {
    try {
      valid = eventHash(event) === i.hash;
    } catch {
      valid = false;
    }
  }
  return { chain: i.chain, seq: i.seq, prev: i.prev, hash: i.hash, valid };
}

/** The top-level members an event can have, in canonical order (see {@link canonicalHalves}). */
const EVENT_MEMBERS = new Set([
  "action",
  "actor",
  "application",
  "correlation",
  "id",
  "integrity",
  "metadata",
  "params",
  "result",
  "schema_version",
  "security_event",
  "severity",
  "subject",
  "timestamp",
  "truncated",
]);

/**
 * An event's members before and after `integrity`, each as a fixed object literal in
 * canonical member order, such that `JSON.stringify` of each is canonical text — or
 * `undefined` when that does not hold (a member outside the event schema, or a nested part
 * not in canonical order), so the caller takes the general path. Absent members are
 * `undefined`, which `JSON.stringify` leaves out, as canonicalization does.
 */
function canonicalHalves(event: AuditEvent): { before: object; after: object } | undefined {
  for (const k in event) if (!EVENT_MEMBERS.has(k)) return undefined;
  const canonical =
    isCanonical(event.action, 1) &&
    isCanonical(event.actor, 1) &&
    isCanonical(event.application, 1) &&
    isCanonical(event.correlation, 1) &&
    isCanonical(event.id, 1) &&
    isCanonical(event.metadata, 1) &&
    isCanonical(event.params, 1) &&
    isCanonical(event.result, 1) &&
    isCanonical(event.schema_version, 1) &&
    isCanonical(event.security_event, 1) &&
    isCanonical(event.severity, 1) &&
    isCanonical(event.subject, 1) &&
    isCanonical(event.timestamp, 1) &&
    isCanonical(event.truncated, 1);
  if (!canonical) return undefined;
  return {
    before: {
      action: event.action,
      actor: event.actor,
      application: event.application,
      correlation: event.correlation,
      id: event.id,
    },
    after: {
      metadata: event.metadata,
      params: event.params,
      result: event.result,
      schema_version: event.schema_version,
      security_event: event.security_event,
      severity: event.severity,
      subject: event.subject,
      timestamp: event.timestamp,
      truncated: event.truncated,
    },
  };
}
