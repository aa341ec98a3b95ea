/**
 * Erasure by rewriting (GDPR art. 17) for events stored without crypto-shredding: the
 * person's fields are replaced in place by a marker. Which fields are personal is the
 * crypto-shredding definition ({@link ACTOR_KEPT}, `compliance.gdpr.erasure.fields`): every
 * `actor` member except `id` and `roles`, and each configured path that is present.
 *
 * This module decides what changes in one event; `rewrite.ts` re-seals the line in its
 * chain, and the file and row rewriters apply it to a store under a signed erasure record.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { ACTOR_KEPT } from "./subjects.js";

/** What replaces an erased value. */
export const ERASED_MARKER = "[ERASED]";

/** Whether an event is about the person: its `actor.id` or `actor.username` is `subject`. */
export function isAbout(event: AuditEvent, subject: string): boolean {
  const actor = event.actor as Record<string, unknown> | undefined;
  if (actor === undefined || actor === null || typeof actor !== "object") return false;
  return actor.id === subject || actor.username === subject;
}

/**
 * The redaction of one person's events: replaces, in place, each personal field present
 * (and not already the marker) by {@link ERASED_MARKER}, and returns the dotted paths
 * replaced — empty when the event is not about the person or holds nothing to erase.
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` for a configured field that is not a dotted path
 *   of at least two members.
 * @example
 * const redact = createRedactor(config);
 * redact(event, "42"); // ["actor.username", "actor.ip", "metadata.address"]
 */
export function createRedactor(
  config: ResolvedConfig,
): (event: AuditEvent, subject: string) => readonly string[] {
  const extra = config.compliance.gdpr.erasure.fields.map((f, i) => {
    const path = f.split(".");
    if (path.length < 2 || path.some((p) => p === "")) {
      throw new VigilError(
        ErrorCodes.CONFIG,
        `vigil.compliance.gdpr.erasure.fields[${i}]: expected a dotted path under actor, metadata, params or action.resource (e.g. metadata.email), found ${JSON.stringify(f)}`,
      );
    }
    return path;
  });
  return (event, subject) => {
    if (!isAbout(event, subject)) return [];
    const replaced: string[] = [];
    const actor = event.actor as unknown as Record<string, unknown>;
    for (const k of Object.keys(actor)) {
      if (ACTOR_KEPT.has(k)) continue;
      if (actor[k] !== undefined && actor[k] !== ERASED_MARKER) {
        actor[k] = ERASED_MARKER;
        replaced.push(`actor.${k}`);
      }
    }
    for (const path of extra) {
      let holder = event as unknown as Record<string, unknown>;
      for (let i = 0; i < path.length - 1 && holder !== undefined; i++) {
        const next = holder[path[i]!];
        holder =
          next !== null && typeof next === "object" && !Array.isArray(next)
            ? (next as Record<string, unknown>)
            : (undefined as unknown as Record<string, unknown>);
      }
      const last = path[path.length - 1]!;
      if (holder === undefined || !Object.hasOwn(holder, last)) continue;
      if (holder[last] === ERASED_MARKER || holder[last] === undefined) continue;
      holder[last] = ERASED_MARKER;
      const name = path.join(".");
      if (!replaced.includes(name)) replaced.push(name);
    }
    return replaced;
  };
}
