/**
 * AES-256-GCM envelopes for stored lines. One line becomes:
 *
 * ```json
 * {"v":1,"kid":"k1","id":"0192…","chain":"web-1:4711:…","seq":42,"iv":"…","ct":"…","tag":"…"}
 * ```
 *
 * - `iv`: a 96-bit nonce from the system CSPRNG (drawn in blocks of 4096 nonces), base64;
 * - `ct`: the encrypted line (the whole clear event), base64; `tag`: the 128-bit GCM tag, base64;
 * - in clear, only what reading needs and reveals nothing about the person: the key id, the event
 *   id (a random UUIDv7), and the chain position (`chain`, `seq`, when signing is on); plus the
 *   fields a user opted into under `clear` (e.g. `timestamp`, `action.category`);
 * - associated data: the RFC 8785 canonical JSON of every clear member (`v`, `kid`, `id`,
 *   `chain`, `seq`, `clear`), so none of them can be changed or moved to another record
 *   without the tag failing.
 *
 * Random 96-bit nonces are the NIST SP 800-38D §8.2.2 construction; under one key they stay
 * safe for 2^32 records. Rotate `key_id` well before that.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomFillSync } from "node:crypto";
import { canonicalize } from "../integrity/canonical.js";
import { KeyError, type KeyRing } from "./keyring.js";

/** The clear members of an envelope (also its associated data). */
export interface EnvelopeHeader {
  readonly v: 1;
  readonly kid: string;
  readonly id: string;
  readonly chain?: string;
  readonly seq?: number;
  /** Fields the user chose to keep readable, by dotted path. */
  readonly clear?: Readonly<Record<string, unknown>>;
}

/** A parsed envelope. */
export interface Envelope extends EnvelopeHeader {
  readonly iv: string;
  readonly ct: string;
  readonly tag: string;
}

const NONCE_BYTES = 12;
const POOL_NONCES = 4096;

/** Hands out 96-bit nonces from blocks of CSPRNG output. */
export class NonceSource {
  #pool = Buffer.alloc(0);
  #offset = 0;

  /** The next nonce (a fresh 12-byte buffer). */
  next(): Buffer {
    if (this.#offset >= this.#pool.length) {
      this.#pool = randomFillSync(Buffer.allocUnsafe(NONCE_BYTES * POOL_NONCES));
      this.#offset = 0;
    }
    const nonce = this.#pool.subarray(this.#offset, this.#offset + NONCE_BYTES);
    this.#offset += NONCE_BYTES;
    return nonce;
  }
}

function aad(header: EnvelopeHeader): Buffer {
  if (header.clear !== undefined || (header.seq !== undefined && !Number.isSafeInteger(header.seq)))
    return Buffer.from(`vigil-envelope:${canonicalize(header)}`, "utf8");
  // The usual header written directly: its canonical form has the members in code-unit order
  // (chain, id, kid, seq, v), strings as JSON.stringify writes them, an integer seq as digits.
  const h = header;
  return Buffer.from(
    `vigil-envelope:{${h.chain !== undefined ? `"chain":${JSON.stringify(h.chain)},` : ""}"id":${JSON.stringify(h.id)},"kid":${JSON.stringify(h.kid)}${h.seq !== undefined ? `,"seq":${h.seq}` : ""},"v":1}`,
    "utf8",
  );
}

/**
 * Encrypt `plaintext` under `key` with a fresh nonce; returns the envelope's JSON line.
 *
 * @example encryptLine(line, { v: 1, kid: "k1", id: event.id }, key, nonces)
 */
export function encryptLine(
  plaintext: string,
  header: EnvelopeHeader,
  key: KeyObject,
  nonces: NonceSource,
): string {
  const iv = nonces.next();
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad(header));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  const h = header;
  // members in a fixed order; the clear ones first so that tools can read them
  return `{"v":1,"kid":${JSON.stringify(h.kid)},"id":${JSON.stringify(h.id)}${h.chain !== undefined ? `,"chain":${JSON.stringify(h.chain)}` : ""}${h.seq !== undefined ? `,"seq":${h.seq}` : ""}${h.clear !== undefined ? `,"clear":${JSON.stringify(h.clear)}` : ""},"iv":"${iv.toString("base64")}","ct":"${ct.toString("base64")}","tag":"${tag.toString("base64")}"}`;
}

/** Whether a stored line is an envelope (cheap prefix test, no parse). */
export function isEnvelopeLine(line: string): boolean {
  return line.startsWith('{"v":1,"kid":');
}

/**
 * Parse an envelope line; undefined when the text is not a well-formed envelope.
 */
export function parseEnvelope(line: string): Envelope | undefined {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (e === null || typeof e !== "object" || e.v !== 1) return undefined;
  if (typeof e.kid !== "string" || typeof e.id !== "string") return undefined;
  if (typeof e.iv !== "string" || typeof e.ct !== "string" || typeof e.tag !== "string") return undefined;
  if (e.chain !== undefined && typeof e.chain !== "string") return undefined;
  if (e.seq !== undefined && typeof e.seq !== "number") return undefined;
  if (e.clear !== undefined && (e.clear === null || typeof e.clear !== "object")) return undefined;
  return e as unknown as Envelope;
}

/** The header (clear members) of an envelope. */
export function headerOf(e: Envelope): EnvelopeHeader {
  return {
    v: 1,
    kid: e.kid,
    id: e.id,
    ...(e.chain !== undefined ? { chain: e.chain } : {}),
    ...(e.seq !== undefined ? { seq: e.seq } : {}),
    ...(e.clear !== undefined ? { clear: e.clear } : {}),
  };
}

/**
 * Decrypt an envelope with the key its `kid` names.
 *
 * @throws {KeyError} `reason: "missing"` when no key has that id; `reason: "auth"` when the tag
 *   does not verify (the wrong key under that id, or a modified record).
 */
export function decryptEnvelope(e: Envelope, keys: KeyRing): string {
  return decryptEnvelopeBytes(e, keys).toString("utf8");
}

/** {@link decryptEnvelope}, giving the clear line's UTF-8 bytes. */
export function decryptEnvelopeBytes(e: Envelope, keys: KeyRing): Buffer {
  const key = keys.get(e.kid);
  const iv = Buffer.from(e.iv, "base64");
  const tag = Buffer.from(e.tag, "base64");
  if (iv.length !== NONCE_BYTES || tag.length !== 16) {
    throw new KeyError(e.kid, "auth", `record ${e.id}: malformed nonce or tag (the record was modified)`);
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
    decipher.setAAD(aad(headerOf(e)));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(e.ct, "base64")), decipher.final()]);
  } catch {
    throw new KeyError(
      e.kid,
      "auth",
      `cannot decrypt record ${e.id} with key id "${e.kid}": authentication failed (the key configured as "${e.kid}" is wrong, or the record was modified)`,
    );
  }
}
