/**
 * Canonical JSON (RFC 8785, the JSON Canonicalization Scheme): the one byte sequence
 * an event is hashed over, whatever order its keys were written in.
 *
 * - object members sorted by key, comparing UTF-16 code units (JavaScript's default
 *   string order, as RFC 8785 §3.2.3 requires);
 * - no whitespace;
 * - strings escaped exactly as `JSON.stringify` escapes them (RFC 8785 §3.2.2.2 uses the
 *   same rules: `\b \t \n \f \r \" \\`, other controls as `\u00xx`, everything else raw);
 * - numbers in ECMAScript shortest form (`JSON.stringify`'s, RFC 8785 §3.2.2.3);
 * - members whose value is `undefined`, a function or a symbol are left out, as `JSON.stringify`
 *   does; in arrays they become `null`. Values with a `toJSON` method (dates) use it.
 *
 * One deliberate difference: RFC 8785 rejects lone UTF-16 surrogates; here they are escaped
 * (`\udxxx`) like ES2019 `JSON.stringify` does, because an audit record must never fail to be
 * recorded over a malformed string. Parsing the output and canonicalizing again gives the same
 * bytes, which is the property verification needs.
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";

/**
 * The RFC 8785 canonical JSON text of a JSON-safe value.
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for a non-finite number, a BigInt, or a cycle.
 * @example canonicalize({ b: 1, a: [true, "x"] }) // '{"a":[true,"x"],"b":1}'
 */
export function canonicalize(value: unknown): string {
  const sorted = sortedCopy(value, 0);
  if (sorted !== FALLBACK) {
    const text = JSON.stringify(sorted) as string | undefined;
    if (text !== undefined) return text;
  }
  const out = write(value, 0);
  if (out === undefined) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `canonicalize: expected a JSON value, found ${typeof value}`,
    );
  }
  return out;
}

const MAX_DEPTH = 1000;

/**
 * Returned by {@link sortedCopy} when native `JSON.stringify` cannot produce the canonical
 * order (an object with an array-index key like "1", which V8 always enumerates first), the
 * copy cannot hold a key (`__proto__`, which an assignment to a plain object would turn into
 * a prototype change instead of a member), or the value needs the checks of the careful
 * writer (non-finite numbers, BigInt, depth).
 */
const FALLBACK: unique symbol = Symbol("fallback");
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/**
 * The value with every object's members inserted in sorted order, so that native
 * `JSON.stringify` writes canonical JSON. Objects already in order are reused, not copied.
 */
function sortedCopy(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return FALLBACK;
    if (typeof value === "bigint") return FALLBACK;
    return value;
  }
  if (depth > MAX_DEPTH) return FALLBACK;
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === "function")
    return sortedCopy((withToJson.toJSON as () => unknown)(), depth + 1);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = sortedCopy(value[i], depth + 1);
      if (v === FALLBACK) return FALLBACK;
      if (v !== value[i]) {
        out ??= value.slice();
        out[i] = v;
      }
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (needsCarefulWriter(k)) return FALLBACK;
    if (i > 0 && keys[i - 1]! > k) sorted = false;
  }
  if (!sorted) keys.sort();
  // plain objects (not null-prototype ones): V8 stringifies them on its fast path
  let out: Record<string, unknown> | undefined = sorted ? undefined : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const before = obj[k];
    const v = sortedCopy(before, depth + 1);
    if (v === FALLBACK) return FALLBACK;
    if (out === undefined && v !== before) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]!] = obj[keys[j]!];
    }
    if (out !== undefined) out[k] = v;
  }
  return out ?? obj;
}

/**
 * Whether `JSON.stringify(value)` already is the canonical text: every object's keys in
 * sorted order (and none that the sorted-copy path cannot hold), no `toJSON`, no
 * non-finite number or BigInt, not too deep.
 */
export function isCanonical(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number") return Number.isFinite(value);
    return typeof value !== "bigint";
  }
  if (depth > MAX_DEPTH || typeof (value as { toJSON?: unknown }).toJSON === "function") return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isCanonical(value[i], depth + 1)) return false;
    return true;
  }
  // for-in allocates nothing; it lists own keys first (any inherited enumerable key after
  // them can only make this answer false, which is safe)
  let previous = "";
  let first = true;
  for (const k in value) {
    if ((!first && k <= previous) || needsCarefulWriter(k)) return false;
    if (!isCanonical((value as Record<string, unknown>)[k], depth + 1)) return false;
    previous = k;
    first = false;
  }
  return true;
}

function write(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new VigilError(ErrorCodes.INVALID_ARGUMENT, `canonicalize: ${value} is not a JSON number`);
      }
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      break;
    case "bigint":
      throw new VigilError(ErrorCodes.INVALID_ARGUMENT, "canonicalize: a BigInt is not a JSON value");
    default:
      return undefined; // undefined, function, symbol
  }
  if (value === null) return "null";
  if (depth > MAX_DEPTH) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `canonicalize: nested deeper than ${MAX_DEPTH} (a cycle?)`,
    );
  }
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === "function")
    return write((withToJson.toJSON as () => unknown)(), depth + 1);
  if (Array.isArray(value)) {
    let s = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) s += ",";
      s += write(value[i], depth + 1) ?? "null";
    }
    return s + "]";
  }
  return writeObject(value as Record<string, unknown>, depth);
}

function writeObject(obj: Record<string, unknown>, depth: number): string {
  const keys = Object.keys(obj).sort();
  let s = "{";
  let first = true;
  for (const k of keys) {
    const v = write(obj[k], depth + 1);
    if (v === undefined) continue;
    if (!first) s += ",";
    s += JSON.stringify(k) + ":" + v;
    first = false;
  }
  return s + "}";
}

/**
 * The canonical text of a top-level object split around one member, so a caller can put
 * its own text for that member in the middle: `head + "\"key\":" + member + tail` is the
 * canonical form of the object with that member. `head` ends after `{` or a `,`; `tail`
 * starts with `,` or `}` as needed. The member must not already be present with a
 * different meaning: its current value, if any, is ignored.
 *
 * @example
 * const { head, tail } = canonicalSplit({ b: 1, z: 2 }, "m");
 * head + '"m":3' + tail // '{"b":1,"m":3,"z":2}'
 */
export function canonicalSplit(obj: Record<string, unknown>, key: string): { head: string; tail: string } {
  const keys = Object.keys(obj).filter((k) => k !== key);
  keys.sort();
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  let fallback = false;
  for (const k of keys) {
    if (needsCarefulWriter(k)) {
      fallback = true;
      break;
    }
    const v = sortedCopy(obj[k], 1);
    if (v === FALLBACK) {
      fallback = true;
      break;
    }
    if (k < key) before[k] = v;
    else after[k] = v;
  }
  if (!fallback) {
    const b = JSON.stringify(before);
    const a = JSON.stringify(after);
    return { head: b.length > 2 ? `${b.slice(0, -1)},` : "{", tail: a.length > 2 ? `,${a.slice(1)}` : "}" };
  }
  return slowSplit(obj, key);
}

function slowSplit(obj: Record<string, unknown>, key: string): { head: string; tail: string } {
  const keys = Object.keys(obj);
  if (!(key in obj)) keys.push(key);
  keys.sort();
  let head = "{";
  let tail = "";
  let before = true;
  for (const k of keys) {
    if (k === key) {
      before = false;
      continue;
    }
    const v = write(obj[k], 1);
    if (v === undefined) continue;
    const member = JSON.stringify(k) + ":" + v;
    if (before) head += member + ",";
    else tail += "," + member;
  }
  return { head, tail: tail + "}" };
}

/**
 * A key the sorted-copy path cannot reproduce: an array index (V8 enumerates those first,
 * whatever the insertion order) or `__proto__` (assigning it to a plain object sets the
 * prototype instead of adding a member). The careful writer handles both — and so hashes
 * a `__proto__` member like any other.
 */
function needsCarefulWriter(key: string): boolean {
  const c = key.charCodeAt(0);
  return (c <= 0x39 && INDEX_KEY.test(key)) || (c === 0x5f && key === "__proto__");
}
