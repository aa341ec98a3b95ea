/**
 * Text matching for queries: ASCII case folding and the wildcard (`*`, `?`) matcher.
 *
 * Only `A`–`Z` fold to `a`–`z`; every other character compares exactly (so the
 * Kelvin sign `K` is not `k`, and `É` is not `é`). SQL backends reproduce this rule.
 *
 * The wildcard matcher never builds a RegExp from user input. A pattern is split at
 * its `*`s into segments; the first segment must match at the start, the last at the
 * end, and each middle one is found at its leftmost position after the previous one
 * (leftmost is always optimal for `*`, so nothing is ever retried). The worst case is
 * O(n·m) for a value of length n and a pattern of length m, with no backtracking
 * across stars; segments without `?` are found with `String#indexOf`.
 *
 * @module
 */

/** One piece of a wildcard pattern: literal text, `*` (any sequence) or `?` (one code point). */
export type WildcardPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "any" }
  | { readonly kind: "one" };

const ANY: WildcardPart = Object.freeze({ kind: "any" });
const ONE: WildcardPart = Object.freeze({ kind: "one" });

/**
 * Splits a wildcard pattern as stored in the AST (unescaped `*`/`?` are wildcards;
 * `\*`, `\?` and `\\` stand for the characters themselves; a backslash before any other
 * character is dropped) into parts. Adjacent text is merged and runs of `*` collapse
 * into one. SQL compilers translate these parts into `LIKE` patterns.
 *
 * @example
 * parseWildcard("ab*c?\\*"); // text "ab", any, text "c", one, text "*"
 */
export function parseWildcard(pattern: string): readonly WildcardPart[] {
  const parts: WildcardPart[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") {
      parts.push({ kind: "text", text });
      text = "";
    }
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "\\" && i + 1 < pattern.length) {
      text += pattern[++i];
    } else if (c === "*") {
      flush();
      if (parts.at(-1)?.kind !== "any") parts.push(ANY);
    } else if (c === "?") {
      flush();
      parts.push(ONE);
    } else {
      text += c;
    }
  }
  flush();
  return parts;
}

function hasAsciiUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return true;
  }
  return false;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

const ASCII_UPPER_RUNS = /[A-Z]+/g;
const lowerRun = (run: string): string => run.toLowerCase();

/**
 * `s` with `A`–`Z` turned into `a`–`z` and nothing else changed (unlike
 * `toLowerCase`, which also folds non-ASCII letters). Returns `s` itself when it has
 * no ASCII capital.
 *
 * @example
 * asciiLower("ÉTÉ LOGIN"); // "ÉtÉ login"
 */
export function asciiLower(s: string): string {
  if (!hasAsciiUpper(s)) return s;
  return isAscii(s) ? s.toLowerCase() : s.replace(ASCII_UPPER_RUNS, lowerRun);
}

/**
 * Whether `value` equals `lowered` ignoring ASCII case, where `lowered` has already
 * been through {@link asciiLower}. Allocates nothing.
 *
 * @example
 * equalsAsciiLowered("LOGIN", "login"); // true
 */
export function equalsAsciiLowered(value: string, lowered: string): boolean {
  const n = value.length;
  if (n !== lowered.length) return false;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lowered.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * A substring test ignoring ASCII case: whether `needle` occurs in a value. Built once
 * per query. A needle without ASCII letters uses `String#includes`; otherwise the test is
 * a RegExp made only of single-character atoms (`[oO]`, `\u002f`, ...): no quantifier,
 * no alternation, so matching is a plain scan with no backtracking beyond the needle's
 * length at each position, and the `i` flag (which would fold non-ASCII letters) is not
 * used.
 *
 * @example
 * const has = compileContains("orders");
 * has("SELECT * FROM ORDERS"); // true
 */
export function compileContains(needle: string): (value: string) => boolean {
  let source = "";
  let letters = false;
  for (let i = 0; i < needle.length; i++) {
    const c = needle.charCodeAt(i);
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (lower >= 0x61 && lower <= 0x7a) {
      letters = true;
      source += `[${String.fromCharCode(lower)}${String.fromCharCode(lower & ~0x20)}]`;
    } else {
      source += `\\u${c.toString(16).padStart(4, "0")}`;
    }
  }
  if (!letters) return (value) => value.includes(needle);
  const pattern = new RegExp(source);
  return (value) => pattern.test(value);
}

/** A segment between stars: literal runs (already lowered) and `null` for `?`. */
type Segment = readonly (string | null)[];

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/** Matches `seg` at `i`; returns the end offset or -1. `?` takes one code point. */
function matchForward(seg: Segment, s: string, i: number): number {
  const n = s.length;
  for (const atom of seg) {
    if (atom === null) {
      if (i >= n) return -1;
      i += isHigh(s.charCodeAt(i)) && i + 1 < n && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
    } else {
      if (!s.startsWith(atom, i) || splitsPair(s, i) || splitsPair(s, i + atom.length)) return -1;
      i += atom.length;
    }
  }
  return i;
}

/**
 * Whether offset `i` falls between the two halves of a surrogate pair: text matched there
 * would match half a code point (a pattern's lone surrogate against a real character).
 */
function splitsPair(s: string, i: number): boolean {
  return i > 0 && i < s.length && isHigh(s.charCodeAt(i - 1)) && isLow(s.charCodeAt(i));
}

/** Matches `seg` so that it ends at `end`; returns the start offset or -1. */
function matchBackward(seg: Segment, s: string, end: number): number {
  let i = end;
  for (let k = seg.length - 1; k >= 0; k--) {
    const atom = seg[k] as string | null;
    if (atom === null) {
      if (i <= 0) return -1;
      i -= isLow(s.charCodeAt(i - 1)) && i >= 2 && isHigh(s.charCodeAt(i - 2)) ? 2 : 1;
    } else {
      if (i < atom.length || !s.endsWith(atom, i) || splitsPair(s, i) || splitsPair(s, i - atom.length))
        return -1;
      i -= atom.length;
    }
  }
  return i;
}

/** The end of the leftmost match of `seg` starting at or after `from` and ending by `limit`, or -1. */
function findLeftmost(seg: Segment, s: string, from: number, limit: number): number {
  const head = seg[0];
  let i = from;
  while (i <= limit) {
    if (typeof head === "string") {
      i = s.indexOf(head, i);
      if (i === -1 || i + head.length > limit) return -1;
    } else if (i > from && isLow(s.charCodeAt(i)) && isHigh(s.charCodeAt(i - 1))) {
      // Never start a `?` in the middle of a surrogate pair.
      i++;
      continue;
    }
    const end = matchForward(seg, s, i);
    if (end !== -1) return end <= limit ? end : -1;
    i++;
  }
  return -1;
}

/**
 * A matcher for a whole-value wildcard match ignoring ASCII case: `*` matches any
 * sequence (including none), `?` exactly one code point, anything else itself.
 * Build it once per query; run it per value.
 *
 * @param pattern - the pattern as stored in the AST (see {@link parseWildcard}).
 * @example
 * const m = compileWildcard("LOG*");
 * m("login"); // true
 * m("blog");  // false
 */
export function compileWildcard(pattern: string): (value: string) => boolean {
  const segments: Segment[] = [[]];
  for (const part of parseWildcard(pattern)) {
    const current = segments.at(-1) as (string | null)[];
    if (part.kind === "any") segments.push([]);
    else current.push(part.kind === "one" ? null : asciiLower(part.text));
  }
  if (segments.length === 1) {
    const only = segments[0] as Segment;
    return (value) => {
      const s = asciiLower(value);
      return matchForward(only, s, 0) === s.length;
    };
  }
  const first = segments[0] as Segment;
  const last = segments.at(-1) as Segment;
  const middle = segments.slice(1, -1).filter((seg) => seg.length > 0);
  return (value) => {
    const s = asciiLower(value);
    let p = matchForward(first, s, 0);
    if (p === -1) return false;
    const q = matchBackward(last, s, s.length);
    if (q < p) return false;
    for (const seg of middle) {
      p = findLeftmost(seg, s, p, q);
      if (p === -1) return false;
    }
    return true;
  };
}
