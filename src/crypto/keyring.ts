/**
 * Encryption keys by id: the current key (used for writing) and the previous keys
 * (still used for reading), from `security.encryption`. Key material is held as
 * `KeyObject`s and never appears in a message.
 *
 * @module
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import { decodeKey32 } from "../config/keys.js";
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";

/** Encryption settings: `security.encryption` of a resolved configuration, or the same shape. */
export type EncryptionKeys = Pick<
  ResolvedConfig["security"]["encryption"],
  "key" | "key_id" | "previous_keys"
>;

/**
 * A record cannot be read with the configured keys: its key id is not configured
 * (`reason: "missing"`), or the key under that id does not authenticate it (`reason: "auth"`:
 * the wrong key, or a modified record). `keyId` names the key; the key itself is never shown.
 */
export class KeyError extends VigilError {
  readonly keyId: string;
  readonly reason: "missing" | "auth";

  constructor(keyId: string, reason: "missing" | "auth", message: string, options?: ErrorOptions) {
    super(ErrorCodes.CONFIG, message, options);
    this.name = "KeyError";
    this.keyId = keyId;
    this.reason = reason;
  }
}

/** Keys by id; {@link KeyRing.current} encrypts. */
export class KeyRing {
  /** The key id new records are written with. */
  readonly currentId: string | undefined;
  readonly #keys = new Map<string, KeyObject>();

  /**
   * @param keys - `key` + `key_id` (the current key) and `previous_keys` (id → key), each
   *   32 bytes as hex or base64.
   * @throws {VigilError} `VIGIL_ERR_CONFIG` when a key is not 32 bytes or `key` has no `key_id`.
   */
  constructor(keys: EncryptionKeys) {
    if (keys.key !== undefined) {
      if (keys.key_id === undefined) {
        throw new VigilError(
          ErrorCodes.CONFIG,
          "security.encryption.key_id is required with security.encryption.key",
        );
      }
      this.#keys.set(keys.key_id, toKey(keys.key, "security.encryption.key"));
      this.currentId = keys.key_id;
    }
    for (const [id, text] of Object.entries(keys.previous_keys ?? {})) {
      if (id === keys.key_id) continue;
      this.#keys.set(id, toKey(text, `security.encryption.previous_keys.${id}`));
    }
  }

  /** The ids of every key held, current first. */
  get ids(): string[] {
    return [...this.#keys.keys()];
  }

  /** Whether any key is held. */
  get size(): number {
    return this.#keys.size;
  }

  /** The current key, for writing. */
  current(): { readonly id: string; readonly key: KeyObject } {
    const id = this.currentId;
    if (id === undefined) {
      throw new VigilError(
        ErrorCodes.CONFIG,
        "security.encryption.key is required to write encrypted records",
      );
    }
    return { id, key: this.#keys.get(id)! };
  }

  /**
   * The key for `id`.
   *
   * @throws {KeyError} naming the id (and the ids that are configured) when it is not held.
   */
  get(id: string): KeyObject {
    const key = this.#keys.get(id);
    if (key) return key;
    const held = this.ids;
    throw new KeyError(
      id,
      "missing",
      `no encryption key with id "${id}" is configured (${held.length > 0 ? `configured: ${held.join(", ")}` : "no keys configured"}); add it to security.encryption.previous_keys`,
    );
  }
}

function toKey(text: string, where: string): KeyObject {
  const bytes = decodeKey32(text);
  if (!bytes)
    throw new VigilError(
      ErrorCodes.CONFIG,
      `${where}: expected a 32-byte key, as 64 hex characters or base64`,
    );
  return createSecretKey(bytes);
}
