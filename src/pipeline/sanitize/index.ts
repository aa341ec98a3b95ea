/**
 * The privacy and safety stage of the pipeline (SPEC §7): one function, compiled once at
 * engine setup, that makes any value JSON-safe and redacts it in a single walk.
 *
 * ```ts
 * const sanitizer = compileSanitizer(config.processing.sanitization, config.processing.limits);
 * const { value, truncated } = sanitizer.value({ user: "alice", password: "hunter2" });
 * // value: { user: "alice", password: "[REDACTED]" }, truncated: false
 * sanitizer.text("login failed for alice@example.com"); // "login failed for a***@example.com"
 * sanitizer.key("X-Api-Key"); // true
 * ```
 *
 * Rules (`redact_patterns`), applied inside every string (values, keys, error messages) in
 * this order, then the custom regexes in configuration order:
 * - `password`: values under secret-looking keys are replaced whole, whatever their type and
 *   without being read (see `keys.ts` for the exact key matching); inside strings, the value
 *   after `password=`, `pwd: `, `"token": "`..., `Bearer`/`Basic` credentials and the password
 *   of a URL (`postgres://user:[REDACTED]@host`) are replaced.
 * - `credit_card`: Luhn-valid card numbers keep their separators and last four digits
 *   (`**** **** **** 1111`, `************1111`), in strings and in integer numbers (a number
 *   becomes the masked string). See `maskCardNumber` for what counts as a card number.
 * - `ssn`: `123-45-6789` → `***-**-6789`.
 * - `email`: `yannick.verrydt@example.com` → `y***@example.com`.
 * - any other entry is a regular expression (`"\\bACME-\\d+\\b"`, or `"/acme-\\d+/i"` with
 *   flags); every match becomes `replacement`.
 * - `redact_keys`: values under these key names (exact, case-insensitive) are replaced whole.
 *
 * How values become JSON-safe (always, even with `enabled: false`):
 *
 * | input | output |
 * |---|---|
 * | `NaN`, `±Infinity` | `null` |
 * | `-0` | `0` |
 * | `undefined` | omitted in objects, `null` in arrays, `undefined` at the top |
 * | BigInt | its decimal string |
 * | Symbol | `"Symbol(description)"` |
 * | function, class | `"[Function name]"` (`"[Function anonymous]"`) |
 * | object with `toJSON` (Date, URL, ...) | what `toJSON(key)` returns, sanitized; an invalid Date gives `null`, as in `JSON.stringify` |
 * | Error | `{ type, message, code? }`: `type` is `name`, or the subclass name when `name` is `"Error"`; no stack |
 * | Map | an object; keys are `String(key)`, a duplicate key gets a ` (2)` suffix |
 * | Set | an array |
 * | Buffer, TypedArray, DataView, ArrayBuffer | `"[Binary n bytes]"` |
 * | boxed primitive (`new String("x")`) | the primitive |
 * | RegExp | its source text, `"/a+/g"` |
 * | class instance, Proxy | a plain object of its own enumerable string keys |
 * | a reference to an enclosing container | `"[Circular]"` |
 * | a getter, Proxy trap or `toJSON` that throws | `"[Unreadable: <message>]"` for that entry |
 * | `__proto__`, `constructor`, `prototype` keys | own data properties of the copy; no prototype is touched |
 * | lone surrogates | U+FFFD |
 * | string longer than `max_string_length` | cut, then `…[truncated N chars]` |
 * | more than `max_entries` entries | the first ones, then `"[Truncated: N more entries]"` (arrays) or a `"[truncated]"` key (objects) |
 * | a container at nesting level `max_depth` (top level = 0) | `"[Truncated: depth]"` |
 * | past a walk's safety caps (200,000 values, or 16 Mi characters / `max_string_length` if larger) | `"[Truncated: size]"` / cut markers |
 * | an object key | redacted and cut like a string; if two keys then collide, the later gets a ` (2)` suffix |
 *
 * Every such cut sets `truncated: true` in the result.
 *
 * A string is redacted whole before it is cut, so a cut never splits a secret into a part the
 * rules no longer recognise. Every built-in rule is linear, so the cost stays proportional to
 * the string's length (a few ms per MB of ordinary text; text dense with matches, such as
 * hundreds of thousands of email addresses, costs more per MB). Should a rule throw (a custom
 * regex that overflows the regex engine), the whole string becomes `replacement`: failures
 * fail closed.
 *
 * @module
 */
import type { LimitsConfig, SanitizationConfig } from "../../config/types.js";
import { ConfigError, type ConfigProblem } from "../../errors.js";
import { isSensitiveKeyName } from "./keys.js";
import { compileTextRules, maskCardNumber } from "./rules.js";
import { compileSecretValueCheck, isSecretLikeKeyName } from "./secrets.js";
import { cutString, wellFormed } from "./strings.js";
import { type JsonValue, type KeyInfo, type WalkContext, walk } from "./walk.js";

export { isSensitiveKeyName } from "./keys.js";
export { luhnValid, maskCardNumber } from "./rules.js";
export { isSecretLikeKeyName, looksRandom, type SecretKind } from "./secrets.js";
export {
  CIRCULAR_MARKER,
  DEPTH_MARKER,
  type JsonObject,
  type JsonValue,
  MAX_NODES,
  MORE_KEY,
  SIZE_MARKER,
} from "./walk.js";

/** What {@link Sanitizer.value} returns. */
export interface SanitizeResult {
  /** The JSON-safe, redacted copy; `undefined` only when the input was `undefined`. */
  readonly value: JsonValue | undefined;
  /** `true` when anything was cut by a limit (string length, entries, depth, or a safety cap). */
  readonly truncated: boolean;
}

/** A compiled sanitizer (see the module header). Every method is safe to call with anything and never throws. */
export interface Sanitizer {
  /**
   * A fresh JSON-safe, redacted copy of `v`, made in one walk. The input is never mutated.
   *
   * @example sanitizer.value({ card: 4111111111111111n, at: new Date(0) })
   * // { value: { card: "************1111", at: "1970-01-01T00:00:00.000Z" }, truncated: false }
   */
  value(v: unknown): SanitizeResult;
  /**
   * `s` redacted by the string rules, made well-formed and cut to `max_string_length`
   * (for error messages). Use {@link Sanitizer.value} on the string to learn whether it was cut.
   *
   * @example sanitizer.text("connect postgres://app:s3cret@db failed") // "connect postgres://app:[REDACTED]@db failed"
   */
  text(s: string): string;
  /**
   * Whether values under this key name are redacted whole (the `password` rule's key matching
   * or `redact_keys`). Always `false` when sanitization is disabled.
   *
   * @example sanitizer.key("userPassword") // true
   * @example sanitizer.key("author") // false
   */
  key(name: string): boolean;
}

/** The built-in rule names; entries are matched case-insensitively, ignoring `-`, `_` and spaces. */
export const RULE_NAMES = ["password", "credit_card", "ssn", "email", "secrets"] as const;

/** Upper bound for `max_string_length`: keeps any sanitized value's JSON below V8's string limit. */
export const MAX_STRING_LENGTH_LIMIT = 64 * 1024 * 1024;

/**
 * Upper bound for `max_depth`. `JSON.stringify` and `JSON.parse` recurse on the native stack
 * and overflow near 4,000 levels on Node 20; 1,000 leaves room for the event around the value
 * and for the caller's own stack.
 */
export const MAX_DEPTH_LIMIT = 1000;

/** How many key decisions one sanitizer remembers before starting over. */
const KEY_CACHE_SIZE = 10_000;
/** Longer key names are not cached. */
const KEY_CACHE_MAX_KEY = 256;

const SANITIZATION_PATH = "vigil.processing.sanitization";
const LIMITS_PATH = "vigil.processing.limits";

type RuleName = (typeof RULE_NAMES)[number];

/** How an entry of `redact_patterns` was understood. */
type ParsedPattern = { readonly rule: RuleName } | { readonly regex: RegExp };

function squash(s: string): string {
  return s.toLowerCase().replace(/[-_\s]/g, "");
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

function render(v: unknown): string {
  if (v === undefined) return "missing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

/** Understands one `redact_patterns` entry, or returns the problem with it. */
function parsePattern(entry: unknown, path: string): ParsedPattern | ConfigProblem {
  const expected = `one of ${RULE_NAMES.join(", ")}, or a regular expression`;
  if (typeof entry !== "string" || entry.trim() === "") return { path, expected, found: render(entry) };
  const name = squash(entry);
  for (const rule of RULE_NAMES) if (name === squash(rule)) return { rule };
  if (/^[A-Za-z][A-Za-z _-]*$/.test(entry)) {
    for (const rule of RULE_NAMES) {
      const target = squash(rule);
      if (editDistance(name, target) <= (target.length < 5 ? 1 : 2)) {
        return {
          path,
          expected,
          found: JSON.stringify(entry),
          hint: `did you mean "${rule}"? (to match the literal text, write "(?:${entry})")`,
        };
      }
    }
  }
  const slashed = /^\/([\s\S]+)\/([a-z]*)$/.exec(entry);
  const source = slashed ? slashed[1]! : entry;
  const flags = slashed ? slashed[2]!.replace("g", "") : "";
  let regex: RegExp;
  try {
    regex = new RegExp(source, `${flags}g`);
  } catch (e) {
    return { path, expected, found: `${JSON.stringify(entry)} (${(e as Error).message})` };
  }
  if (regex.test("")) {
    return {
      path,
      expected: "a regular expression that cannot match the empty string",
      found: JSON.stringify(entry),
    };
  }
  regex.lastIndex = 0;
  return { regex };
}

function checkLimit(
  limits: LimitsConfig,
  name: keyof LimitsConfig,
  min: number,
  max: number,
  problems: ConfigProblem[],
): void {
  const v: unknown = limits?.[name];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    problems.push({
      path: `${LIMITS_PATH}.${name}`,
      expected: `an integer from ${min} to ${max}`,
      found: render(v),
    });
  }
}

/** Validates both sections; throws one {@link ConfigError} listing every problem. */
function validate(sanitization: SanitizationConfig, limits: LimitsConfig): ParsedPattern[] {
  const problems: ConfigProblem[] = [];
  const patterns: ParsedPattern[] = [];
  if (typeof sanitization?.enabled !== "boolean") {
    problems.push({
      path: `${SANITIZATION_PATH}.enabled`,
      expected: "true or false",
      found: render(sanitization?.enabled),
    });
  }
  if (typeof sanitization?.replacement !== "string") {
    problems.push({
      path: `${SANITIZATION_PATH}.replacement`,
      expected: "a string",
      found: render(sanitization?.replacement),
    });
  }
  if (!Array.isArray(sanitization?.redact_patterns)) {
    problems.push({
      path: `${SANITIZATION_PATH}.redact_patterns`,
      expected: "a list of rule names or regular expressions",
      found: render(sanitization?.redact_patterns),
    });
  } else {
    sanitization.redact_patterns.forEach((entry, i) => {
      const parsed = parsePattern(entry, `${SANITIZATION_PATH}.redact_patterns[${i}]`);
      if ("path" in parsed) problems.push(parsed);
      else patterns.push(parsed);
    });
  }
  if (!Array.isArray(sanitization?.redact_keys)) {
    problems.push({
      path: `${SANITIZATION_PATH}.redact_keys`,
      expected: "a list of key names",
      found: render(sanitization?.redact_keys),
    });
  } else {
    sanitization.redact_keys.forEach((k, i) => {
      if (typeof k !== "string" || k === "") {
        problems.push({
          path: `${SANITIZATION_PATH}.redact_keys[${i}]`,
          expected: "a non-empty key name",
          found: render(k),
        });
      }
    });
  }
  const detect = sanitization?.detect_secrets;
  if (detect !== undefined && typeof detect !== "boolean") {
    problems.push({
      path: `${SANITIZATION_PATH}.detect_secrets`,
      expected: "true or false",
      found: render(detect),
    });
  } else if (detect === false && patterns.some((p) => "rule" in p && p.rule === "secrets")) {
    problems.push({
      path: `${SANITIZATION_PATH}.detect_secrets`,
      expected: "true when redact_patterns lists secrets",
      found: "false",
      hint: "remove secrets from redact_patterns, or detect_secrets: false",
    });
  }
  checkLimit(limits, "max_depth", 0, MAX_DEPTH_LIMIT, problems);
  checkLimit(limits, "max_string_length", 0, MAX_STRING_LENGTH_LIMIT, problems);
  checkLimit(limits, "max_entries", 0, 100_000_000, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return patterns;
}

/**
 * Compiles the sanitization rules and limits into a {@link Sanitizer}. Call once at engine
 * setup; the returned functions check nothing they already know.
 *
 * @param sanitization - `processing.sanitization`. With `enabled: false` nothing is redacted,
 *   but values are still made JSON-safe and limited.
 * @param limits - `processing.limits` (defaults: depth 32, strings 65536, entries 1000).
 * @throws {ConfigError} listing every invalid setting (path, expected, found), e.g. an invalid
 *   regular expression, one that matches the empty string, or a misspelt rule name
 *   (`creditcards` → did you mean `credit_card`?).
 * @param options.sortKeys - copy object members in sorted key order (see `WalkContext.sortKeys`).
 */
export function compileSanitizer(
  sanitization: SanitizationConfig,
  limits: LimitsConfig,
  options: { readonly sortKeys?: boolean } = {},
): Sanitizer {
  const patterns = validate(sanitization, limits);
  const enabled = sanitization.enabled;
  const replacement = sanitization.replacement;
  const has = (rule: RuleName): boolean => enabled && patterns.some((p) => "rule" in p && p.rule === rule);

  // `secrets` is on unless turned off: listing it in redact_patterns is allowed, never required.
  const secrets = enabled && sanitization.detect_secrets !== false;
  const redact = compileTextRules({
    password: has("password"),
    secrets,
    creditCard: has("credit_card"),
    ssn: has("ssn"),
    email: has("email"),
    regexes: enabled ? patterns.flatMap((p) => ("regex" in p ? [p.regex] : [])) : [],
    replacement,
  });

  const passwordKeys = has("password");
  const extraKeys = new Set(enabled ? sanitization.redact_keys.map((k) => k.toLowerCase()) : []);
  const redactsKeys = passwordKeys || extraKeys.size > 0;
  const isRedactedKey = (name: string): boolean =>
    redactsKeys && (extraKeys.has(name.toLowerCase()) || (passwordKeys && isSensitiveKeyName(name)));

  const maxStringLength = limits.max_string_length;
  /** Well-formed, redacted (failing closed), cut. Never throws. */
  const cleanText = (s: string): { readonly text: string; readonly cut: boolean } => {
    let out = wellFormed(s);
    if (redact !== undefined) {
      try {
        out = redact(out);
      } catch {
        out = replacement;
      }
    }
    return out.length > maxStringLength
      ? { text: cutString(out, maxStringLength), cut: true }
      : { text: out, cut: false };
  };

  const cache = new Map<string, KeyInfo>();
  const keyInfo = (name: string): KeyInfo => {
    let info = cache.get(name);
    if (info !== undefined) return info;
    const { text, cut } = cleanText(name);
    const redact = isRedactedKey(name);
    const secretLike = secrets && !redact && isSecretLikeKeyName(name);
    info = { redact, secretLike, out: text, changed: text !== name, cut };
    if (name.length <= KEY_CACHE_MAX_KEY) {
      if (cache.size >= KEY_CACHE_SIZE) cache.clear();
      cache.set(name, info);
    }
    return info;
  };

  const ctx: WalkContext = {
    maxDepth: limits.max_depth,
    maxStringLength,
    maxEntries: limits.max_entries,
    redact,
    cardNumbers: has("credit_card"),
    maskCard: maskCardNumber,
    replacement,
    secretValue: secrets ? compileSecretValueCheck(replacement) : undefined,
    keyInfo,
    sortKeys: options.sortKeys === true,
  };

  return {
    value: (v) => walk(ctx, v),
    text: (s) => {
      let str: string;
      try {
        str = typeof s === "string" ? s : String(s);
      } catch {
        str = "[Unreadable]";
      }
      return cleanText(str).text;
    },
    key: (name) => {
      if (!redactsKeys) return false;
      try {
        return keyInfo(typeof name === "string" ? name : String(name)).redact;
      } catch {
        return true; // a name that cannot even be read: fail closed
      }
    },
  };
}
