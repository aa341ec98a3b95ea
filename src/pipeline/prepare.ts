/**
 * The `prepare` stage: turns a built event into its stored form. User-supplied
 * parts are copied into plain JSON-safe data (hostile values, size and depth limits),
 * params, metadata, results and error messages are redacted, and the event is
 * serialized once into the JSON line every backend shares. Runs in the batch, off
 * the caller's path in async mode.
 *
 * @module
 */
import type { ResolvedConfig } from "../config/types.js";
import type { AuditEvent, Mutable } from "../event/types.js";
import { compileSanitizer, type Sanitizer } from "./sanitize/index.js";
import { wellFormed } from "./sanitize/strings.js";
import { defineOwn, sortKeys } from "./sanitize/walk.js";

export type Prepare = (event: Mutable<AuditEvent>) => void;

const NUMERIC_RESULT_FIELDS = ["duration_ms", "count", "http_status"] as const;

/** Compile the prepare stage for a configuration, once, at engine setup. */
export function compilePrepare(config: ResolvedConfig): Prepare {
  const { sanitization, limits } = config.processing;
  // A signed store hashes every event in canonical (sorted) key order: copying user data
  // in that order here spares the integrity stage a second copy.
  const canonical = config.security.signing.enabled;
  const redacting: Sanitizer = compileSanitizer(sanitization, limits, { sortKeys: canonical });
  // Identity fields (actor, resource, correlation) are made safe but never redacted:
  // who did it is the point of an audit record.
  const safe: Sanitizer = sanitization.enabled
    ? compileSanitizer({ ...sanitization, enabled: false }, limits, { sortKeys: canonical })
    : redacting;

  const maxString = limits.max_string_length;
  /**
   * Identity objects are nearly always flat records of short strings (`{ username, ip }`):
   * copy those directly. Anything else — nesting, arrays, odd types, long or ill-formed
   * strings, getters that throw — goes through the full walk.
   */
  const flatCopy = (value: unknown): Record<string, unknown> | undefined => {
    if (value === null || typeof value !== "object" || Object.getPrototypeOf(value) !== Object.prototype)
      return undefined;
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value);
    if (canonical) sortKeys(keys);
    for (const key of keys) {
      // keys the walk would rewrite (ill-formed, too long) or must define carefully
      if (key === "__proto__" || key.length > maxString || wellFormed(key) !== key) return undefined;
      const v = (value as Record<string, unknown>)[key];
      if (typeof v === "string") {
        if (v.length > maxString || wellFormed(v) !== v) return undefined;
      } else if (typeof v === "number") {
        if (!Number.isFinite(v)) return undefined;
      } else if (v === undefined) continue;
      else if (typeof v !== "boolean") return undefined;
      out[key] = v;
    }
    return out;
  };

  const plainObject = (
    s: Sanitizer,
    value: unknown,
    note: (t: boolean) => void,
  ): Record<string, unknown> | undefined => {
    if (s === safe) {
      let flat: Record<string, unknown> | undefined;
      try {
        flat = flatCopy(value);
      } catch {
        flat = undefined; // a throwing getter or Proxy trap: the walk reports it properly
      }
      if (flat !== undefined) return Object.keys(flat).length > 0 ? flat : undefined;
    }
    const out = s.value(value);
    note(out.truncated);
    if (out.value === undefined || out.value === null) return undefined;
    if (typeof out.value === "object" && !Array.isArray(out.value))
      return out.value as Record<string, unknown>;
    return { value: out.value };
  };

  // the application object is shared by every event of an engine: sorted once
  let lastApplication: AuditEvent["application"] | undefined;
  let sortedApplication: AuditEvent["application"] | undefined;
  return (event) => {
    let truncated = false;
    const note = (t: boolean) => {
      truncated ||= t;
    };
    if (event.actor !== undefined) {
      const actor = plainObject(safe, event.actor, note);
      if (actor) event.actor = actor;
      else delete event.actor;
    }
    if (event.correlation !== undefined) {
      const correlation = plainObject(safe, event.correlation, note);
      if (correlation) event.correlation = correlation;
      else delete event.correlation;
    }
    const action = event.action;
    if (action.resource !== undefined) {
      const resource = plainObject(safe, action.resource, note);
      if (resource) action.resource = resource;
      else delete action.resource;
    }
    if (event.params !== undefined) {
      const out = redacting.value(event.params);
      note(out.truncated);
      if (out.value === undefined) delete event.params;
      else event.params = out.value;
    }
    if (event.metadata !== undefined) {
      const metadata = plainObject(redacting, event.metadata, note);
      if (metadata) event.metadata = metadata;
      else delete event.metadata;
    }
    const result = event.result as Mutable<AuditEvent["result"]> & Record<string, unknown>;
    for (const key of NUMERIC_RESULT_FIELDS) {
      const v = result[key];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v))) delete result[key];
    }
    if (result.value !== undefined) {
      const out = redacting.value(result.value);
      note(out.truncated);
      if (out.value === undefined) delete result.value;
      else result.value = out.value;
    }
    if (result.error !== undefined) {
      const e = result.error as { type?: unknown; message?: unknown; code?: unknown };
      result.error = {
        type: typeof e.type === "string" ? safe.text(e.type) : "Error",
        ...(e.message !== undefined ? { message: redacting.text(String(e.message)) } : {}),
        ...(e.code !== undefined ? { code: safe.text(String(e.code)) } : {}),
      };
    }
    // Anything else a caller put in `result` is made safe too.
    for (const key of Object.keys(result)) {
      if (
        key === "status" ||
        key === "error" ||
        key === "value" ||
        (NUMERIC_RESULT_FIELDS as readonly string[]).includes(key)
      )
        continue;
      const out = redacting.value(result[key]);
      note(out.truncated);
      if (out.value === undefined) delete result[key];
      else result[key] = out.value;
    }
    if (truncated) event.truncated = true;
    if (canonical) {
      // the parts built by buildEvent, in canonical order too (the top level is the
      // integrity stage's own copy)
      event.action = sortedAction(event.action);
      event.result = sortedShallow(event.result);
      if (event.result.error !== undefined)
        (event.result as Mutable<AuditEvent["result"]>).error = sortedShallow(event.result.error);
      if (event.application !== lastApplication) {
        lastApplication = event.application;
        sortedApplication = sortedShallow(event.application);
      }
      event.application = sortedApplication!;
    }
  };
}

/** The action (built by buildEvent: these four members only) with its members in sorted order. */
function sortedAction(a: AuditEvent["action"]): AuditEvent["action"] {
  const { category, method, resource, type } = a;
  if (method === undefined) return resource === undefined ? { category, type } : { category, resource, type };
  return resource === undefined ? { category, method, type } : { category, method, resource, type };
}

/** A copy of a flat object with its members in sorted key order (the object itself if already sorted). */
function sortedShallow<T extends object>(value: T): T {
  const keys = Object.keys(value);
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      sorted = false;
      break;
    }
  }
  if (sorted) return value;
  sortKeys(keys);
  const out: Record<string, unknown> = {};
  // an own `__proto__` member stays a member (assignment would set the prototype)
  for (const key of keys) defineOwn(out, key, (value as Record<string, unknown>)[key]);
  return out as T;
}
