/**
 * What stays readable beside encrypted records (`security.encryption.clear_fields`): the
 * test a reader uses to know which fields a store can filter on without decrypting, and
 * the reduced event a database backend fills its indexed columns from.
 *
 * `id`, `timestamp` and `tenant` are always readable: a record needs its id, a database
 * orders, pages and retains rows by time, and file names already tell the day; a viewer
 * bound to a tenant must be able to filter by it before decrypting anything (an
 * organization's id is not personal data — do not put a person's name in it).
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { defineOwn } from "../pipeline/sanitize/walk.js";

/** Fields every encrypted record keeps readable. */
const ALWAYS_CLEAR = ["id", "timestamp", "tenant"] as const;

/**
 * Whether `field` is readable under the `clear_fields` setting: listed itself, or inside a
 * listed field (`action` covers `action.category`).
 *
 * @example clearFieldTest(["action.category"])("action.category") // true
 */
export function clearFieldTest(clearFields: readonly string[]): (field: string) => boolean {
  const listed = new Set<string>([...ALWAYS_CLEAR, ...clearFields]);
  return (field) => {
    if (listed.has(field)) return true;
    for (let dot = field.lastIndexOf("."); dot > 0; dot = field.lastIndexOf(".", dot - 1))
      if (listed.has(field.slice(0, dot))) return true;
    return false;
  };
}

/**
 * The part of an event that may be stored readable: `id`, `timestamp`, `tenant`,
 * `integrity` (the chain position, in every envelope's header too) and the `clear_fields`,
 * nothing else. A
 * database backend fills its indexed columns from it, so no other value reaches a column.
 *
 * @example clearView(["action.category"])(event) // { id, timestamp, integrity, action: { category } }
 */
export function clearView(clearFields: readonly string[]): (event: AuditEvent) => AuditEvent {
  // a field inside another listed one is copied with it (and is never written into the
  // event's own object that the other one copies by reference)
  const paths = clearFields
    .filter((f) => !clearFields.some((g) => f.startsWith(`${g}.`)))
    .map((f) => f.split("."));
  return (event) => {
    const out: Record<string, unknown> = { id: event.id, timestamp: event.timestamp };
    if (event.tenant !== undefined) out.tenant = event.tenant;
    if (event.integrity !== undefined) out.integrity = event.integrity;
    for (const path of paths) {
      let from: unknown = event;
      for (const part of path) {
        from =
          from !== null && typeof from === "object" && Object.hasOwn(from, part)
            ? (from as Record<string, unknown>)[part]
            : undefined;
      }
      if (from === undefined) continue;
      let into = out;
      for (let i = 0; i < path.length - 1; i++) {
        const part = path[i]!;
        const next = Object.hasOwn(into, part) ? into[part] : undefined;
        if (next === null || typeof next !== "object") defineOwn(into, part, {});
        into = into[part] as Record<string, unknown>;
      }
      defineOwn(into, path[path.length - 1]!, from);
    }
    return out as unknown as AuditEvent;
  };
}
