/**
 * The one walk that turns any JavaScript value into a fresh, JSON-safe, redacted copy.
 *
 * The walk is iterative (an explicit stack of frames, one per open array/object/Map/Set), so
 * nesting depth never touches the call stack. Each frame lists what it will visit up front
 * (array length, `Object.keys`, the first entries of a Map or Set), capped at `max_entries`.
 * Children are visited depth-first in order, and each output container is attached to its
 * parent when it is opened, so output keys keep the input's order.
 *
 * Every read of user data (property access, `toJSON`, `Object.keys`, a Proxy trap, a Map
 * iterator) happens inside `try`; a read that throws yields `[Unreadable: <message>]` for that
 * entry. Two safety caps bound the work on hostile graphs (a DAG that shares one array 2^30
 * times, a string repeated a million times): {@link MAX_NODES} values and
 * {@link minCharBudget} characters per walk; past them the remaining entries are cut with the
 * usual markers.
 *
 * @module
 */
import { types } from "node:util";
import type { StringRule } from "./rules.js";
import { cutString, describeThrown, wellFormed } from "./strings.js";

/** A JSON value as the sanitizer produces it: what `JSON.stringify` writes and `JSON.parse` returns. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;

/** A JSON object. Keys such as `__proto__` are plain own properties. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** What the walk decided about one key name (cached by the sanitizer). */
export interface KeyInfo {
  /** The value under this key is replaced whole, without being read. */
  readonly redact: boolean;
  /** A string value under this key is replaced when it looks random (the `secrets` rule). */
  readonly secretLike: boolean;
  /** The key as written out: well-formed, redacted, cut. */
  readonly out: string;
  /** `out !== name`: output keys may now collide. */
  readonly changed: boolean;
  /** The key was cut by `max_string_length`. */
  readonly cut: boolean;
}

/** Everything the walk needs, compiled once by `compileSanitizer`. */
export interface WalkContext {
  readonly maxDepth: number;
  readonly maxStringLength: number;
  readonly maxEntries: number;
  /** Redacts inside a string; `undefined` when no string rule is on. */
  readonly redact: StringRule | undefined;
  /** Whether integer numbers are checked against the credit-card rule. */
  readonly cardNumbers: boolean;
  /** Masks a digit string if it is a card number (`credit_card` rule). */
  readonly maskCard: (digits: string) => string | undefined;
  /** The text that replaces a redacted value. */
  readonly replacement: string;
  /** The `secrets` rule's check of a string under a secret-like key: its replacement, or `undefined` to keep it. */
  readonly secretValue: ((value: string) => string | undefined) | undefined;
  /** The (cached) decision for a key name. */
  keyInfo(name: string): KeyInfo;
  /**
   * Copy object members in sorted key order (the canonical order a hash chain hashes), so
   * the integrity stage can reuse the copy instead of sorting it again. Which members
   * survive `maxEntries` then depends on that order.
   */
  readonly sortKeys: boolean;
}

/** The result of one walk. */
export interface WalkResult {
  /** The JSON-safe copy; `undefined` when the input was `undefined`. */
  readonly value: JsonValue | undefined;
  /** Something was cut by a limit (depth, entries, string length, or a safety cap). */
  readonly truncated: boolean;
}

/** At most this many values are visited in one walk. */
export const MAX_NODES = 200_000;

/** At least this many characters of string content are allowed per walk (more if `max_string_length` is larger). */
export const minCharBudget = 16 * 1024 * 1024;

/** Marker for a container nested deeper than `max_depth`. */
export const DEPTH_MARKER = "[Truncated: depth]";
/** Marker for a value left out once a walk's safety caps are spent. */
export const SIZE_MARKER = "[Truncated: size]";
/** Marker for a reference back to a container that encloses it. */
export const CIRCULAR_MARKER = "[Circular]";
/** Key of the entry added to an object (or a Map) whose entries were cut. */
export const MORE_KEY = "[truncated]";

type Mutable = JsonValue[] | Record<string, JsonValue>;

const KIND_ARRAY = 0;
const KIND_OBJECT = 1;
const KIND_ENTRIES = 2;

/** One open container. All frames share one shape, so the walk loop stays monomorphic. */
class Frame {
  i = 0;
  constructor(
    readonly kind: number,
    /** The input container (for cycle detection and property reads). */
    readonly src: object,
    /** Array-like values (arrays, Set values), own keys (objects) or `[key, value]` pairs (Maps). */
    readonly items: ArrayLike<unknown>,
    readonly out: Mutable,
    /** How many items to visit. */
    public n: number,
    /** How many items were cut. */
    public extra: number,
    readonly depth: number,
    /** Output keys may collide: check before defining. */
    public checkKeys: boolean,
  ) {}
}

/** The intrinsic `size` getters: a subclass cannot lie about its size. */
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size")!.get!;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size")!.get!;

/**
 * Sorts object keys in place in UTF-16 code-unit order (RFC 8785's member order, and what
 * `<` on strings compares). Short lists, the usual case, are insertion-sorted: about a tenth
 * of what `Array.prototype.sort` costs on three keys. Long ones use the built-in sort.
 *
 * @example sortKeys(["username", "id", "ip"]) // ["id", "ip", "username"]
 */
export function sortKeys(keys: string[]): string[] {
  const n = keys.length;
  if (n > 16) return keys.sort();
  for (let i = 1; i < n; i++) {
    const key = keys[i]!;
    let j = i - 1;
    if (keys[j]! <= key) continue;
    do {
      keys[j + 1] = keys[j]!;
      j--;
    } while (j >= 0 && keys[j]! > key);
    keys[j + 1] = key;
  }
  return keys;
}

/** Defines an own enumerable data property, even for `__proto__` or a read-only inherited name. */
export function defineOwn<T>(out: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
    return;
  }
  try {
    out[key] = value;
  } catch {
    // Object.prototype frozen with a read-only `key` (SES lockdown): assignment throws in strict mode.
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
}

/** `[Function name]` for a function, never throwing. */
function functionLabel(fn: unknown): string {
  let name: unknown;
  try {
    name = (fn as { name?: unknown }).name;
  } catch {
    name = undefined;
  }
  return `[Function ${typeof name === "string" && name !== "" ? name : "anonymous"}]`;
}

/** Unwraps `new String("x")`, `Object(1n)` and friends through their internal slots. */
function unbox(v: object): unknown {
  if (types.isStringObject(v)) return String.prototype.valueOf.call(v);
  if (types.isNumberObject(v)) return Number.prototype.valueOf.call(v);
  if (types.isBooleanObject(v)) return Boolean.prototype.valueOf.call(v);
  if (types.isBigIntObject(v)) return BigInt.prototype.valueOf.call(v);
  return Symbol.prototype.valueOf.call(v);
}

/** `[Unreadable: <message>]`, the message well-formed, redacted and cut to 1024 units. Never throws. */
function unreadable(ctx: WalkContext, thrown: unknown): string {
  let message = wellFormed(describeThrown(thrown));
  if (ctx.redact !== undefined) {
    try {
      message = ctx.redact(message);
    } catch {
      message = ctx.replacement;
    }
  }
  const max = Math.min(ctx.maxStringLength, 1024);
  if (message.length > max) message = cutString(message, max);
  return `[Unreadable: ${message}]`;
}

/** One walk: per-call state, so a getter that itself calls the sanitizer is safe. */
class Walk {
  truncated = false;
  readonly #ctx: WalkContext;
  readonly #stack: Frame[] = [];
  /** Built once the stack is deep enough that scanning it for cycles would cost too much. */
  #ancestors: Set<object> | undefined;
  #nodes = 0;
  #chars = 0;
  readonly #maxChars: number;

  constructor(ctx: WalkContext) {
    this.#ctx = ctx;
    this.#maxChars = Math.max(minCharBudget, ctx.maxStringLength);
  }

  run(input: unknown): JsonValue | undefined {
    const root = this.#enter(input, "", 0, false);
    const stack = this.#stack;
    while (stack.length > 0) {
      const f = stack[stack.length - 1]!;
      if (f.i >= f.n) {
        stack.pop();
        this.#close(f);
        continue;
      }
      if (this.#nodes >= MAX_NODES || this.#chars >= this.#maxChars) {
        this.#exhaust();
        continue;
      }
      this.#nodes++;
      const i = f.i++;
      if (f.kind === KIND_ARRAY) this.#arrayItem(f, i);
      else if (f.kind === KIND_OBJECT) this.#objectEntry(f, i);
      else this.#mapEntry(f, i);
    }
    return root;
  }

  #arrayItem(f: Frame, i: number): void {
    const out = f.out as JsonValue[];
    let v: unknown;
    try {
      v = f.items[i];
    } catch (e) {
      out.push(this.#unreadable(e));
      return;
    }
    const o = this.#enter(v, i, f.depth + 1, false);
    out.push(o === undefined ? null : o);
  }

  #objectEntry(f: Frame, i: number): void {
    const key = f.items[i] as string;
    const info = this.#ctx.keyInfo(key);
    if (info.redact) {
      this.#define(f, info, this.#ctx.replacement);
      return;
    }
    let v: unknown;
    try {
      v = (f.src as Record<string, unknown>)[key];
    } catch (e) {
      this.#define(f, info, this.#unreadable(e));
      return;
    }
    const o = this.#enter(v, key, f.depth + 1, false);
    if (o !== undefined) this.#define(f, info, info.secretLike ? this.#secretValue(o) : o);
  }

  /** A string under a secret-like key that looks random is replaced (the `secrets` rule). */
  #secretValue(o: JsonValue): JsonValue {
    if (typeof o !== "string" || this.#ctx.secretValue === undefined) return o;
    return this.#ctx.secretValue(o) ?? o;
  }

  #mapEntry(f: Frame, i: number): void {
    const [k, v] = f.items[i] as readonly [unknown, unknown];
    let name: string;
    try {
      name = typeof k === "string" ? k : String(k);
    } catch (e) {
      name = this.#unreadable(e);
    }
    const info = this.#ctx.keyInfo(name);
    if (info.redact) {
      this.#define(f, info, this.#ctx.replacement);
      return;
    }
    const o = this.#enter(v, name, f.depth + 1, false);
    if (o !== undefined) this.#define(f, info, info.secretLike ? this.#secretValue(o) : o);
  }

  #define(f: Frame, info: KeyInfo, value: JsonValue): void {
    const out = f.out as Record<string, JsonValue>;
    if (info.cut) this.truncated = true;
    if (info.changed) f.checkKeys = true;
    let key = info.out;
    if (f.checkKeys && Object.hasOwn(out, key)) {
      let n = 2;
      while (Object.hasOwn(out, `${info.out} (${n})`)) n++;
      key = `${info.out} (${n})`;
    }
    this.#chars += key.length;
    defineOwn(out, key, value);
  }

  /** Converts one value: a finished JSON value, or an empty container whose frame was pushed. */
  #enter(v: unknown, key: string | number, depth: number, afterToJSON: boolean): JsonValue | undefined {
    switch (typeof v) {
      case "string":
        return this.#string(v);
      case "number":
        return this.#number(v);
      case "boolean":
        return v;
      case "undefined":
        return undefined;
      case "bigint":
        return this.#string(String(v));
      case "symbol":
        return this.#string(String(v));
      case "function":
        return this.#string(functionLabel(v));
      default:
        return v === null ? null : this.#object(v as object, key, depth, afterToJSON);
    }
  }

  #string(s: string): string {
    const ctx = this.#ctx;
    let out = wellFormed(s);
    if (ctx.redact !== undefined) {
      try {
        out = ctx.redact(out);
      } catch {
        // A rule failed (a custom regex overflowed the regex engine's stack): fail closed.
        out = ctx.replacement;
      }
    }
    const room = this.#maxChars - this.#chars;
    const limit = room < ctx.maxStringLength ? Math.max(room, 0) : ctx.maxStringLength;
    if (out.length > limit) {
      out = limit === 0 ? SIZE_MARKER : cutString(out, limit);
      this.truncated = true;
    }
    this.#chars += out.length;
    return out;
  }

  #number(n: number): number | string | null {
    if (!Number.isFinite(n)) return null;
    if (n === 0) return 0;
    if (this.#ctx.cardNumbers && n >= 1e12 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
      const masked = this.#ctx.maskCard(String(n));
      if (masked !== undefined) return masked;
    }
    return n;
  }

  #object(v: object, key: string | number, depth: number, afterToJSON: boolean): JsonValue | undefined {
    try {
      if (this.#isAncestor(v)) return CIRCULAR_MARKER;
      if (Array.isArray(v)) return this.#openArray(v, v, depth);
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) {
        if (!afterToJSON) {
          const toJSON = (v as { toJSON?: unknown }).toJSON;
          if (typeof toJSON === "function") return this.#enter(toJSON.call(v, String(key)), key, depth, true);
        }
        return this.#openObject(v, depth);
      }
      return this.#special(v, key, depth, afterToJSON);
    } catch (e) {
      return this.#unreadable(e);
    }
  }

  /** Anything that is not an array or a plain object: binary data, Dates, errors, Maps, class instances... */
  #special(v: object, key: string | number, depth: number, afterToJSON: boolean): JsonValue | undefined {
    if (ArrayBuffer.isView(v)) return `[Binary ${v.byteLength} bytes]`;
    if (types.isAnyArrayBuffer(v)) return `[Binary ${v.byteLength} bytes]`;
    if (!afterToJSON) {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return this.#enter(toJSON.call(v, String(key)), key, depth, true);
    }
    if (v instanceof Error || types.isNativeError(v)) return this.#error(v);
    if (types.isMap(v)) return this.#openMap(v as Map<unknown, unknown>, depth);
    if (types.isSet(v)) return this.#openSet(v as Set<unknown>, depth);
    if (types.isBoxedPrimitive(v)) return this.#enter(unbox(v), key, depth, true);
    if (types.isRegExp(v)) return this.#string(String(v));
    return this.#openObject(v, depth);
  }

  /** `{ type, message, code? }`: the name (or the subclass name), the sanitized message, a string or numeric code. */
  #error(e: object): JsonObject {
    const out: Record<string, JsonValue> = {};
    let type: string;
    try {
      const name = (e as { name?: unknown }).name;
      type = typeof name === "string" && name !== "" ? name : "Error";
      if (type === "Error") {
        const ctorName = (e as { constructor?: { name?: unknown } }).constructor?.name;
        if (typeof ctorName === "string" && ctorName !== "") type = ctorName;
      }
      type = this.#string(type);
    } catch (err) {
      type = this.#unreadable(err);
    }
    out.type = type;
    try {
      const message = (e as { message?: unknown }).message;
      if (message !== undefined) out.message = this.#string(String(message));
    } catch (err) {
      out.message = this.#unreadable(err);
    }
    try {
      const code = (e as { code?: unknown }).code;
      if (typeof code === "string" || typeof code === "number" || typeof code === "bigint") {
        out.code = this.#string(String(code));
      }
    } catch (err) {
      out.code = this.#unreadable(err);
    }
    return out;
  }

  #openArray(src: object, items: ArrayLike<unknown>, depth: number): JsonValue {
    if (depth >= this.#ctx.maxDepth) return this.#depthMarker();
    // A Proxy can answer anything for `length`: NaN, a string, -1, Infinity.
    const reported = Number(items.length);
    const length = reported >= 0 ? Math.floor(Math.min(reported, 2 ** 32 - 1)) : 0;
    const n = Math.min(length, this.#ctx.maxEntries);
    const out: JsonValue[] = [];
    this.#push(new Frame(KIND_ARRAY, src, items, out, n, length - n, depth, false));
    return out;
  }

  #openObject(v: object, depth: number): JsonValue {
    if (depth >= this.#ctx.maxDepth) return this.#depthMarker();
    const keys = Object.keys(v);
    if (this.#ctx.sortKeys) sortKeys(keys);
    const n = Math.min(keys.length, this.#ctx.maxEntries);
    const out: Record<string, JsonValue> = {};
    this.#push(new Frame(KIND_OBJECT, v, keys, out, n, keys.length - n, depth, false));
    return out;
  }

  #openMap(m: Map<unknown, unknown>, depth: number): JsonValue {
    if (depth >= this.#ctx.maxDepth) return this.#depthMarker();
    const max = this.#ctx.maxEntries;
    const pairs: (readonly [unknown, unknown])[] = [];
    const it = Map.prototype.entries.call(m);
    for (let r = it.next(); !r.done && pairs.length < max; r = it.next()) pairs.push(r.value);
    const size = mapSize.call(m) as number;
    const out: Record<string, JsonValue> = {};
    this.#push(new Frame(KIND_ENTRIES, m, pairs, out, pairs.length, size - pairs.length, depth, true));
    return out;
  }

  #openSet(s: Set<unknown>, depth: number): JsonValue {
    if (depth >= this.#ctx.maxDepth) return this.#depthMarker();
    const max = this.#ctx.maxEntries;
    const values: unknown[] = [];
    const it = Set.prototype.values.call(s);
    for (let r = it.next(); !r.done && values.length < max; r = it.next()) values.push(r.value);
    const size = setSize.call(s) as number;
    const out: JsonValue[] = [];
    this.#push(new Frame(KIND_ARRAY, s, values, out, values.length, size - values.length, depth, false));
    return out;
  }

  #push(f: Frame): void {
    const stack = this.#stack;
    stack.push(f);
    if (this.#ancestors !== undefined) this.#ancestors.add(f.src);
    else if (stack.length > 32) this.#ancestors = new Set(stack.map((s) => s.src));
  }

  #isAncestor(v: object): boolean {
    if (this.#ancestors !== undefined) return this.#ancestors.has(v);
    const stack = this.#stack;
    for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.src === v) return true;
    return false;
  }

  /** A frame is done: drop it from the ancestors and mark what was cut. */
  #close(f: Frame): void {
    this.#ancestors?.delete(f.src);
    if (f.extra <= 0) return;
    this.truncated = true;
    const marker = `[Truncated: ${f.extra} more ${f.extra === 1 ? "entry" : "entries"}]`;
    if (f.kind === KIND_ARRAY) {
      (f.out as JsonValue[]).push(marker);
      return;
    }
    const out = f.out as Record<string, JsonValue>;
    let key = MORE_KEY;
    for (let n = 2; Object.hasOwn(out, key); n++) key = `${MORE_KEY} (${n})`;
    defineOwn(out, key, marker);
  }

  /** The safety caps are spent: every open frame stops here and will be closed with its marker. */
  #exhaust(): void {
    for (const f of this.#stack) {
      f.extra += f.n - f.i;
      f.n = f.i;
    }
  }

  #depthMarker(): string {
    this.truncated = true;
    return DEPTH_MARKER;
  }

  #unreadable(thrown: unknown): string {
    return unreadable(this.#ctx, thrown);
  }
}

/**
 * Walks `input` once and returns its JSON-safe, redacted copy. Never throws: should the walk
 * itself fail (it is not expected to), the result is `[Unreadable: <message>]`.
 */
export function walk(ctx: WalkContext, input: unknown): WalkResult {
  const w = new Walk(ctx);
  try {
    const value = w.run(input);
    return { value, truncated: w.truncated };
  } catch (e) {
    return { value: unreadable(ctx, e), truncated: true };
  }
}
