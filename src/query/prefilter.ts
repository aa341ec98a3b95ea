/**
 * What a stored line must contain for a query to be able to match it: the query's
 * required literal texts, as they appear in a JSON line. A reader that searches a line's
 * bytes for them can skip most lines without `JSON.parse` (the file store does); a line
 * that passes still goes through the evaluator, so a prefilter may let through too much
 * but never too little.
 *
 * The rules, from the evaluator's semantics (`evaluate.ts`):
 * - `field:text` (equality, ASCII case folded): a string value equal to `text` is written
 *   `"text"` (JSON-escaped); a boolean `true`/`false` as its name. A number may be written in
 *   many ways (`42`, `42.0`, `4.2e1`), so a numeric text requires nothing.
 * - a bare term (substring of any leaf) requires its text; a wildcard its literal runs. A
 *   text that could be part of a number's text (`String(n)` is searched too) requires nothing.
 * - `AND` requires what each operand requires, `OR` one of its operands' requirements,
 *   `NOT`, comparisons, ranges and `_exists_` nothing.
 * - A text holding a lone surrogate or U+FFFD requires nothing (a half of a pair, or a
 *   decoder's replacement, has no fixed bytes).
 *
 * A line that writes a character another way than `JSON.stringify` does (`\u0041`, `\/`)
 * defeats the byte search: the reader must not skip such a line on this basis.
 *
 * @module
 */
import type { QueryNode, QueryValue } from "./ast.js";
import { parseNumberText } from "./evaluate.js";
import { parseWildcard } from "./wildcard.js";

/** A requirement on a line's text. */
export type LineNeed =
  | { readonly kind: "all" }
  /** The line must contain `bytes` (UTF-8 of the JSON-escaped text), ASCII letters in any case when `caseless`. */
  | { readonly kind: "text"; readonly bytes: Buffer; readonly caseless: boolean }
  | { readonly kind: "and"; readonly parts: readonly LineNeed[] }
  | { readonly kind: "or"; readonly parts: readonly LineNeed[] };

const ALL: LineNeed = Object.freeze({ kind: "all" });

/** A text with an unpaired surrogate or U+FFFD: no fixed bytes stand for it. */
function hasUnstableChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0xfffd) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

/**
 * Whether `text` could be found in the text of a finite number (`String(n)`: digits, one
 * `.`, an exponent `e+12`, a sign). Over-approximates: true for anything made of those characters.
 */
function couldBeInNumber(text: string): boolean {
  return /^[0-9.eE+-]+$/.test(text);
}

/** The requirement "contains `text`", JSON-escaped as `JSON.stringify` writes it; `quoted` adds the quotes. */
function textNeed(text: string, quoted: boolean): LineNeed {
  if (text === "" && !quoted) return ALL;
  if (hasUnstableChar(text)) return ALL;
  const body = JSON.stringify(text).slice(1, -1);
  return {
    kind: "text",
    bytes: Buffer.from(quoted ? `"${body}"` : body, "utf8"),
    caseless: true,
  };
}

/** A bare or field wildcard: each literal run must occur (strings and numbers' text are matched). */
function wildcardNeed(pattern: string): LineNeed {
  const parts: LineNeed[] = [];
  for (const part of parseWildcard(pattern)) {
    if (part.kind !== "text") continue;
    if (couldBeInNumber(part.text)) return ALL;
    const need = textNeed(part.text, false);
    if (need.kind !== "all") parts.push(need);
  }
  return and(parts);
}

function termNeed(field: string | null, value: QueryValue): LineNeed {
  if (value.kind === "wildcard") return wildcardNeed(value.pattern);
  const text = value.text;
  if (field === null) return couldBeInNumber(text) ? ALL : textNeed(text, false);
  // equality: a string equal to the text, a boolean by name, a number (any spelling)
  if (parseNumberText(text) !== undefined) return ALL;
  const lowered = text.toLowerCase();
  if (lowered === "true" || lowered === "false") return textNeed(text, false);
  return textNeed(text, true);
}

function and(parts: readonly LineNeed[]): LineNeed {
  const kept = parts.filter((p) => p.kind !== "all");
  if (kept.length === 0) return ALL;
  return kept.length === 1 ? kept[0]! : { kind: "and", parts: kept };
}

function or(parts: readonly LineNeed[]): LineNeed {
  if (parts.length === 0 || parts.some((p) => p.kind === "all")) return ALL;
  return parts.length === 1 ? parts[0]! : { kind: "or", parts };
}

/**
 * What a line must contain for `node` to match the event it stores (see the module's rules).
 *
 * @example
 * lineNeed(parse("type:LOGIN AND status:FAILURE"));
 * // { kind: "and", parts: [text '"LOGIN"' (any case), text '"FAILURE"' (any case)] }
 */
export function lineNeed(node: QueryNode): LineNeed {
  switch (node.type) {
    case "term":
      return termNeed(node.field, node.value);
    case "group":
      return lineNeed(node.expression);
    case "and":
      return and(node.operands.map(lineNeed));
    case "or":
      return or(node.operands.map(lineNeed));
    default:
      // all, not, compare, range, exists: nothing can be required of the text
      return ALL;
  }
}

/**
 * The requirement that binds a search to `tenant` (compared exactly): its value, quoted and
 * case-sensitive.
 */
export function tenantNeed(tenant: string): LineNeed {
  const need = textNeed(tenant, true);
  return need.kind === "text" ? { ...need, caseless: false } : need;
}

/** Both requirements. */
export function bothNeeds(a: LineNeed, b: LineNeed): LineNeed {
  return and([a, b]);
}
