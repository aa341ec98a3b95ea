/**
 * Rewriting one stored line for erasure: open it (decrypt), redact the person's fields
 * (`redact.ts`), re-seal it at its own chain position (same `chain`, `seq` and `prev`, a new
 * `hash` over the redacted content), and encrypt it again with the current key when it was
 * encrypted. The old and new hash go into the signed erasure record that lets `vigil verify`
 * accept exactly this replacement.
 *
 * A line whose content no longer matches its hash is not rewritten: re-sealing it would
 * launder tampering. It is reported instead.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { isEnvelopeLine } from "../crypto/aead.js";
import { createLineOpener } from "../crypto/decode.js";
import { createEncryptionStage } from "../crypto/stage.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { toJsonLine } from "../event/serialize.js";
import type { AuditEvent } from "../event/types.js";
import { checkLine, sealEvent } from "../integrity/chain.js";
import { type ErasureRecord, signRecord } from "../integrity/records.js";
import type { Signer } from "../integrity/signing.js";
import { createRedactor, ERASED_MARKER } from "./redact.js";

/** What rewriting one stored line gave. */
export type LineRewrite =
  | { readonly kind: "unchanged" }
  | {
      readonly kind: "rewritten";
      /** The line to store in its place (encrypted again when it was). */
      readonly line: string;
      /** The redacted event (for a database's indexed columns). */
      readonly event: AuditEvent;
      /** The dotted paths replaced by the marker. */
      readonly fields: readonly string[];
      /** The chain position and hashes, when the line is chained (signed store). */
      readonly chain?: {
        readonly chain: string;
        readonly seq: number;
        readonly old: string;
        readonly new: string;
      };
    }
  | { readonly kind: "refused"; readonly reason: string };

/**
 * A function rewriting one stored line for the erasure of `subject`.
 *
 * @throws (from the returned function) `KeyError` for an encrypted line whose key is not
 *   configured; `VIGIL_ERR_CONFIG` when an encrypted line cannot be encrypted again
 *   (`security.encryption` off).
 * @example
 * const rewrite = createLineRewriter(config, "42");
 * const r = rewrite(storedLine); // { kind: "rewritten", line, fields: ["actor.username"], chain: {…} }
 */
export function createLineRewriter(config: ResolvedConfig, subject: string): (stored: string) => LineRewrite {
  const open = createLineOpener(config.security.encryption);
  const redact = createRedactor(config);
  const encryption = config.security.encryption.enabled ? createEncryptionStage(config) : undefined;
  const needle = JSON.stringify(subject);
  return (stored) => {
    const encrypted = isEnvelopeLine(stored);
    const clear = open(stored);
    if (!clear.includes(needle)) return { kind: "unchanged" }; // cheap: most lines are about someone else
    let event: AuditEvent;
    try {
      event = JSON.parse(clear) as AuditEvent;
    } catch {
      return { kind: "unchanged" };
    }
    if (event === null || typeof event !== "object") return { kind: "unchanged" };
    const fields = redact(event, subject);
    if (fields.length === 0) return { kind: "unchanged" };
    let line: string;
    let chain: { chain: string; seq: number; old: string; new: string } | undefined;
    if (event.integrity !== undefined) {
      const check = checkLine(clear);
      if (!check?.valid)
        return {
          kind: "refused",
          reason:
            "its content does not match its hash (modified): not rewritten, so the change stays visible to verify",
        };
      const sealed = sealEvent(event, check.chain, check.seq, check.prev);
      (event as { integrity?: unknown }).integrity = sealed.integrity;
      line = sealed.line;
      chain = { chain: check.chain, seq: check.seq, old: check.hash, new: sealed.integrity.hash };
    } else {
      line = toJsonLine(event);
    }
    if (encrypted) {
      if (!encryption?.encodeLine)
        throw new VigilError(
          ErrorCodes.CONFIG,
          `event ${event.id} is encrypted but security.encryption is not enabled: erasure cannot encrypt its rewritten line again`,
        );
      line = encryption.encodeLine(line, event);
    }
    return { kind: "rewritten", line, event, fields, ...(chain ? { chain } : {}) };
  };
}

/** One replacement to sign: a rewritten chained line and where it now is. */
export interface Replacement {
  readonly chain: string;
  readonly seq: number;
  readonly old: string;
  readonly new: string;
  readonly at: string;
  readonly fields: readonly string[];
}

/** Replacements one erasure record lists at most (a record stays one reasonable line). */
export const REPLACEMENTS_PER_RECORD = 1000;

/**
 * The signed erasure records for `replacements`: one per chain and per
 * {@link REPLACEMENTS_PER_RECORD}, each listing seq, old and new hash and location.
 *
 * @example
 * sink.appendAll(signErasure(replacements, signer));
 */
export function signErasure(
  replacements: readonly Replacement[],
  signer: Signer,
  now: Date = new Date(),
): ErasureRecord[] {
  const byChain = new Map<string, Replacement[]>();
  for (const r of replacements) {
    const list = byChain.get(r.chain) ?? [];
    byChain.set(r.chain, list);
    list.push(r);
  }
  const time = now.toISOString();
  const out: ErasureRecord[] = [];
  for (const [chain, list] of byChain) {
    for (let i = 0; i < list.length; i += REPLACEMENTS_PER_RECORD) {
      const part = list.slice(i, i + REPLACEMENTS_PER_RECORD);
      const fields = [...new Set(part.flatMap((r) => r.fields))].sort();
      out.push(
        signRecord(
          {
            v: 1 as const,
            type: "erasure" as const,
            chain,
            replacements: part.map((r) => ({ seq: r.seq, old: r.old, new: r.new, at: r.at })),
            fields,
            marker: ERASED_MARKER,
            time,
          },
          signer,
        ),
      );
    }
  }
  return out;
}
