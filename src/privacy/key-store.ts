/**
 * Per-person keys for crypto-shredding (GDPR art. 17). Each data subject gets a random
 * 256-bit key, stored wrapped (AES-256-GCM) by the master key in a file of its own:
 *
 * ```
 * <key_store>/<ref[0..2]>/<ref>.json   {"v":1,"ref":"…","kid":"…","iv":"…","ct":"…","tag":"…","created":"…"}
 * ```
 *
 * `ref` is a keyed pseudonym of the subject id (HMAC-SHA256 under the master key, 128 bits
 * in hex), so neither file names nor stored events reveal who the person is. Erasing a
 * subject deletes that one file: every event sealed under the key becomes unreadable, and
 * nothing else changes. One file per subject also makes concurrent writers safe without
 * locks: the first process to create the file (`O_EXCL`) wins, the others read its key.
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { KeyError } from "../crypto/keyring.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { makeDirectorySync } from "../storage/dirs.js";

/** One subject's key. */
export interface SubjectKey {
  /** Names this key among the subject's (a subject erased and seen again gets a new one). */
  readonly kid: string;
  readonly key: KeyObject;
}

const REF = /^[0-9a-f]{32}$/;
/** Keys held in memory at most; beyond that the cache starts over (keys are re-read from disk). */
const CACHE_LIMIT = 50_000;

/** The subject keys of one store. */
export class SubjectKeyStore {
  readonly directory: string;
  readonly #master: Buffer;
  readonly #cache = new Map<string, SubjectKey | null>();
  /** Pseudonyms already computed, by subject id (the same bound as the key cache). */
  readonly #refs = new Map<string, string>();

  /**
   * @param directory - where the key files live (created on first write).
   * @param masterKeyHex - the 32-byte master key as 64 hex characters.
   */
  constructor(directory: string, masterKeyHex: string) {
    this.directory = directory;
    this.#master = Buffer.from(masterKeyHex, "hex");
    if (this.#master.length !== 32) {
      throw new VigilError(ErrorCodes.CONFIG, "compliance.gdpr.erasure.key must be 32 bytes");
    }
  }

  /**
   * The pseudonym of a subject id: HMAC-SHA256(master, "vigil-subject:" + id), 128 bits in hex.
   *
   * @example store.ref("42") // "9b1c…" (32 hex digits)
   */
  ref(subject: string): string {
    let ref = this.#refs.get(subject);
    if (ref === undefined) {
      ref = createHmac("sha256", this.#master).update(`vigil-subject:${subject}`).digest("hex").slice(0, 32);
      if (this.#refs.size >= CACHE_LIMIT) this.#refs.clear();
      this.#refs.set(subject, ref);
    }
    return ref;
  }

  /** The subject's key, created (and fsync'd) when it has none yet. */
  keyForWriting(ref: string): SubjectKey {
    const known = this.#cache.get(ref);
    if (known) return known;
    const path = this.#path(ref);
    const kid = randomBytes(4).toString("hex");
    const key = randomBytes(32);
    let fd: number;
    try {
      makeDirectorySync(dirname(path), { mode: 0o700 });
      fd = openSync(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        const existing = this.#read(ref);
        if (existing) return existing;
      }
      throw new VigilError(
        ErrorCodes.STORAGE,
        `cannot create the key of subject ${ref} in ${this.directory}`,
        {
          cause: err,
        },
      );
    }
    try {
      writeSync(fd, `${JSON.stringify(this.#wrap(ref, kid, key))}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    syncDirectory(dirname(path));
    const entry: SubjectKey = { kid, key: createSecretKey(key) };
    this.#remember(ref, entry);
    return entry;
  }

  /** The subject's key if it still exists (`undefined` once erased or never created). */
  keyForReading(ref: string, kid: string): KeyObject | undefined {
    if (!REF.test(ref)) return undefined;
    let entry = this.#cache.get(ref);
    if (entry === undefined) entry = this.#read(ref) ?? null;
    return entry !== null && entry.kid === kid ? entry.key : undefined;
  }

  /**
   * Destroy a subject's key: its file is deleted and the deletion fsync'd.
   *
   * @returns whether a key existed.
   */
  erase(ref: string): boolean {
    this.#cache.delete(ref);
    try {
      unlinkSync(this.#path(ref));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw new VigilError(ErrorCodes.STORAGE, `cannot delete the key of subject ${ref}`, { cause: err });
    }
    syncDirectory(dirname(this.#path(ref)));
    return true;
  }

  #path(ref: string): string {
    return join(this.directory, ref.slice(0, 2), `${ref}.json`);
  }

  #read(ref: string): SubjectKey | undefined {
    let text: string;
    try {
      text = readFileSync(this.#path(ref), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        this.#remember(ref, null);
        return undefined;
      }
      throw new VigilError(ErrorCodes.STORAGE, `cannot read the key of subject ${ref}`, { cause: err });
    }
    const entry = this.#unwrap(ref, text);
    this.#remember(ref, entry);
    return entry;
  }

  #remember(ref: string, entry: SubjectKey | null): void {
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(ref, entry);
  }

  #wrap(ref: string, kid: string, key: Buffer): Record<string, unknown> {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#master, iv);
    cipher.setAAD(Buffer.from(`vigil-subject-key:${ref}:${kid}`));
    const ct = Buffer.concat([cipher.update(key), cipher.final()]);
    return {
      v: 1,
      ref,
      kid,
      iv: iv.toString("base64"),
      ct: ct.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      created: new Date().toISOString(),
    };
  }

  #unwrap(ref: string, text: string): SubjectKey {
    try {
      const r = JSON.parse(text) as {
        ref?: unknown;
        kid?: unknown;
        iv?: unknown;
        ct?: unknown;
        tag?: unknown;
      };
      if (r.ref !== ref || typeof r.kid !== "string" || typeof r.iv !== "string")
        throw new Error("not a key record");
      const decipher = createDecipheriv("aes-256-gcm", this.#master, Buffer.from(r.iv, "base64"), {
        authTagLength: 16,
      });
      decipher.setAAD(Buffer.from(`vigil-subject-key:${ref}:${r.kid}`));
      decipher.setAuthTag(Buffer.from(String(r.tag), "base64"));
      const key = Buffer.concat([decipher.update(Buffer.from(String(r.ct), "base64")), decipher.final()]);
      return { kid: r.kid, key: createSecretKey(key) };
    } catch (err) {
      throw new KeyError(
        "compliance.gdpr.erasure.key",
        "auth",
        `the key file of subject ${ref} cannot be opened with compliance.gdpr.erasure.key (a wrong master key, or a damaged file: ${this.#path(ref)})`,
        { cause: err },
      );
    }
  }
}

/** fsync a directory (after a create, rename or unlink in it); filesystems that cannot are passed over. */
export function syncDirectory(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    fsyncSync(fd);
  } catch {
    // some file systems cannot fsync a directory; the file itself was fsync'd
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
