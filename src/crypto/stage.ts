/**
 * The encryption stage: wraps each stored line in an AES-256-GCM envelope (see
 * `aead.ts`) with the current key. Runs after the integrity stage, so the hash covers the
 * clear event and verification decrypts first.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import type { AuditEvent } from "../event/types.js";
import type { BatchStage } from "../pipeline/stage.js";
import { type EnvelopeHeader, encryptLine, NonceSource } from "./aead.js";
import { KeyRing } from "./keyring.js";

/** Options of {@link createEncryptionStage}. */
export interface EncryptionStageOptions {
  /**
   * Event fields (dotted paths) kept readable in the envelope's `clear` member, for tools
   * that index without keys, e.g. `["timestamp", "action.category"]`. Default:
   * `security.encryption.clear_fields` (none unless set) — opt in only for fields that
   * carry no personal data.
   */
  readonly clearFields?: readonly string[];
}

function getPath(event: AuditEvent, path: string): unknown {
  let v: unknown = event;
  for (const part of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * The encryption stage for a configuration, or `undefined` when `security.encryption` is off.
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` when encryption is on without a usable `key`/`key_id`.
 * @example
 * const stages = [createIntegrityStage(config), createEncryptionStage(config)].filter((s) => s !== undefined);
 */
export function createEncryptionStage(
  config: ResolvedConfig,
  options: EncryptionStageOptions = {},
): BatchStage | undefined {
  const settings = config.security.encryption;
  if (!settings.enabled) return undefined;
  const ring = new KeyRing(settings);
  const { id: kid, key } = ring.current();
  const nonces = new NonceSource();
  const clearFields = options.clearFields ?? settings.clear_fields;
  return {
    name: "encryption",
    encodeLine(line: string, event: AuditEvent): string {
      const integrity = event.integrity;
      // the tenant is always readable (see clear.ts): a bound viewer filters on it
      let clear: Record<string, unknown> | undefined =
        event.tenant !== undefined ? { tenant: event.tenant } : undefined;
      for (const path of clearFields) {
        const value = getPath(event, path);
        if (value !== undefined) {
          clear ??= {};
          clear[path] = value;
        }
      }
      const header: EnvelopeHeader = {
        v: 1,
        kid,
        id: event.id,
        ...(integrity ? { chain: integrity.chain, seq: integrity.seq } : {}),
        ...(clear ? { clear } : {}),
      };
      return encryptLine(line, header, key, nonces);
    },
  };
}
