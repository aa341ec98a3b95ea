/**
 * Reading stored lines back: envelopes are decrypted with the configured keys, plain
 * lines parsed as they are (a store may hold both, from before encryption was turned on).
 * The file backend takes {@link createLineDecoder}'s result as its `decode` option.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { decryptEnvelopeBytes, isEnvelopeLine, parseEnvelope } from "./aead.js";
import { type EncryptionKeys, KeyError, KeyRing } from "./keyring.js";

/** Turns a stored line into its clear JSON text; `undefined` keys read plain lines only. */
export type LineOpener = (line: string) => string;

/**
 * A function from a stored line to its clear text.
 *
 * @throws (from the returned function) {KeyError} for an envelope whose key is missing or wrong;
 *   {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for a line that looks like an envelope but is not one.
 */
export function createLineOpener(keys: EncryptionKeys | undefined): LineOpener {
  const open = createEnvelopeOpener(keys);
  return (line) => (isEnvelopeLine(line) ? open(line).toString("utf8") : line);
}

/**
 * A function from an envelope line to the UTF-8 bytes of its clear line (the verifier checks
 * them without decoding). Throws as {@link createLineOpener}'s function does.
 */
export function createEnvelopeOpener(keys: EncryptionKeys | undefined): (line: string) => Buffer {
  const ring =
    keys && (keys.key !== undefined || keys.previous_keys !== undefined) ? new KeyRing(keys) : undefined;
  return (line) => {
    const envelope = parseEnvelope(line);
    if (!envelope)
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        "a stored line looks encrypted but is not a valid envelope",
      );
    if (!ring) {
      throw new KeyError(
        envelope.kid,
        "missing",
        `record ${envelope.id} is encrypted with key id "${envelope.kid}" but no encryption key is configured (security.encryption.key / previous_keys)`,
      );
    }
    return decryptEnvelopeBytes(envelope, ring);
  };
}

/**
 * The `decode` option for the file backend: decrypts envelopes with the keys of
 * `security.encryption` (current and previous; used even when `enabled` is false, so a store
 * written encrypted stays readable), and parses the clear JSON.
 *
 * @example
 * new FileBackend({ config: fileConfig, application: "app", decode: createLineDecoder(config) });
 */
export function createLineDecoder(config: ResolvedConfig): (line: string) => AuditEvent {
  const open = createLineOpener(config.security.encryption);
  return (line) => JSON.parse(open(line)) as AuditEvent;
}
