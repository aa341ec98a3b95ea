/**
 * Checks on key material named in `security`: AES-256 keys (`encryption.key`,
 * `encryption.previous_keys`) and Ed25519 keys (`signing.private_key`, `signing.public_key`).
 *
 * @module
 */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

const HEX_64 = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+={0,2})$/;

/**
 * A key as read from a key file: without the one trailing newline (`\n` or `\r\n`) that
 * `vigil keygen`, `echo` and editors end a file with. Anything else is kept as it is.
 *
 * @example
 * keyFileText("3f9a…c2\n");   // "3f9a…c2"
 * keyFileText("3f9a…c2\n\n"); // "3f9a…c2\n" (only one newline goes)
 */
export function keyFileText(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

/**
 * Decode a 32-byte key written as 64 hex characters or as base64 (standard or URL-safe,
 * padding optional). Hex wins when a text could be both. Returns `undefined` for anything else.
 *
 * @example
 * decodeKey32("00".repeat(32));                                  // 32 zero bytes
 * decodeKey32(Buffer.alloc(32, 1).toString("base64"));           // 32 bytes of 0x01
 * decodeKey32("too short");                                      // undefined
 */
export function decodeKey32(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (HEX_64.test(trimmed)) return Buffer.from(trimmed, "hex");
  if (!BASE64.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  return bytes.length === 32 ? bytes : undefined;
}

/** Describe why `text` is not a usable 32-byte key, for a configuration problem. */
export function describeBadKey32(text: string): string {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]+$/.test(trimmed)) return `${trimmed.length} hex characters`;
  if (BASE64.test(trimmed)) {
    const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64").length;
    return `base64 of ${bytes} byte${bytes === 1 ? "" : "s"}`;
  }
  return `a string of ${text.length} characters that is neither hex nor base64`;
}

/** Parse a PEM Ed25519 private key (PKCS#8); `undefined` if it is not one. */
export function parseEd25519PrivateKey(pem: string): KeyObject | undefined {
  try {
    const key = createPrivateKey({ key: pem, format: "pem" });
    return key.asymmetricKeyType === "ed25519" ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Parse a PEM Ed25519 public key (SPKI); `undefined` if it is not one. */
export function parseEd25519PublicKey(pem: string): KeyObject | undefined {
  // createPublicKey would also accept a private key and derive its public half.
  if (pem.includes("PRIVATE KEY")) return undefined;
  try {
    const key = createPublicKey({ key: pem, format: "pem" });
    return key.asymmetricKeyType === "ed25519" && key.type === "public" ? key : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the public key derived from `privateKey` is `publicKey`. */
export function keysMatch(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const derived = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return derived.equals(publicKey.export({ format: "der", type: "spki" }));
}
