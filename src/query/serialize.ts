/**
 * The query printer: turns a syntax tree back into a canonical query string.
 *
 * Canonical form: explicit `AND`/`OR`/`NOT` with single spaces (`-a`, `!a`, `&&`,
 * `||` and juxtaposition print as keywords), full field paths, `_exists_:field` for
 * `field:*`, `*` for match-all, and only the escapes needed to read the same tree
 * back. For every query `q`, `parse(serialize(parse(q)))` equals `parse(q)` except
 * for spans, and printing is idempotent. Trees built by code get the parentheses
 * their structure needs (an OR inside an AND is printed in parentheses).
 *
 * @module
 */
import type { QueryNode, QueryValue } from "./ast.js";
import { isQueryWhitespace } from "./parse.js";

/** Where a word is printed: it decides what must be escaped. */
type Position = "bare" | "value" | "bound";

/** Characters that end or change a word everywhere. */
function alwaysEscaped(ch: string): boolean {
  return (
    ch === "\\" ||
    ch === '"' ||
    ch === "(" ||
    ch === ")" ||
    ch === "*" ||
    ch === "?" ||
    (ch.length === 1 && isQueryWhitespace(ch.charCodeAt(0)))
  );
}

function needsEscape(ch: string, index: number, position: Position): boolean {
  if (alwaysEscaped(ch)) return true;
  switch (position) {
    case "bare":
      // `:` could turn the word into a field; `-`/`!` first would read as NOT.
      return ch === ":" || (index === 0 && (ch === "-" || ch === "!"));
    case "value":
      // First `>`/`<`/`[`/`{` would read as a comparison or a range.
      return index === 0 && (ch === ">" || ch === "<" || ch === "[" || ch === "{");
    case "bound":
      return ch === "]" || ch === "}";
  }
}

/** Escapes `text` (with no wildcards) as one word at `position`. */
function escapeWord(text: string, position: Position): string {
  let out = "";
  let index = 0;
  for (const ch of text) {
    out += needsEscape(ch, index, position) ? `\\${ch}` : ch;
    index++;
  }
  return guardStart(out, text, position);
}

/** Escapes the first character when the word as a whole would read as an operator. */
function guardStart(out: string, text: string, position: Position): string {
  if (position === "bare") {
    if (text === "AND" || text === "OR" || text === "NOT" || text.startsWith("&&") || text.startsWith("||")) {
      return `\\${out}`;
    }
  } else if (position === "bound" && text === "TO") {
    return "\\TO";
  }
  return out;
}

/** Prints a wildcard pattern (AST form) as a word at `position`, keeping its wildcards. */
function printPattern(pattern: string, position: Position): string {
  let out = "";
  let index = 0;
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++, index++) {
    const ch = chars[i] as string;
    if (ch === "*" || ch === "?") {
      out += ch;
    } else if (ch === "\\" && i + 1 < chars.length) {
      const next = chars[++i] as string;
      out += `\\${next}`;
    } else {
      out += needsEscape(ch, index, position) ? `\\${ch}` : ch;
    }
  }
  return position === "bare" && (out.startsWith("&&") || out.startsWith("||")) ? `\\${out}` : out;
}

/**
 * A `"quoted phrase"` holding `text`: `"` and `\` are escaped with a backslash.
 *
 * @example
 * quotePhrase('say "hi"'); // "\"say \\\"hi\\\"\""
 */
export function quotePhrase(text: string): string {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "\\") {
      out += `${text.slice(runStart, i)}\\${c}`;
      runStart = i + 1;
    }
  }
  return `${out}${text.slice(runStart)}"`;
}

/** A free-text value (comparison or range bound): a word when possible, else a phrase. */
function printText(text: string, position: Position): string {
  if (text === "") return '""';
  for (let i = 0; i < text.length; i++) {
    if (isQueryWhitespace(text.charCodeAt(i))) return quotePhrase(text);
  }
  return escapeWord(text, position);
}

function printValue(value: QueryValue, position: Position): string {
  switch (value.kind) {
    case "phrase":
      return quotePhrase(value.text);
    case "literal":
      return value.text === "" ? '""' : escapeWord(value.text, position);
    case "wildcard":
      return printPattern(value.pattern, position);
  }
}

/** Binding strength: OR < AND < NOT < everything else. */
function level(node: QueryNode): number {
  switch (node.type) {
    case "or":
      if (node.operands.length === 0) return 3; // printed as `NOT *`
      return node.operands.length === 1 ? level(node.operands[0] as QueryNode) : 1;
    case "and":
      if (node.operands.length === 0) return 4; // printed as `*`
      return node.operands.length === 1 ? level(node.operands[0] as QueryNode) : 2;
    case "not":
      return 3;
    default:
      return 4;
  }
}

/** Prints `node` where at least binding strength `min` is needed, adding parentheses if not. */
function printAt(node: QueryNode, min: number): string {
  const text = print(node);
  return level(node) < min ? `(${text})` : text;
}

function print(node: QueryNode): string {
  switch (node.type) {
    case "all":
      return "*";
    case "term":
      return node.field === null
        ? printValue(node.value, "bare")
        : `${node.field}:${printValue(node.value, "value")}`;
    case "compare": {
      const text = printText(node.value, "value");
      return `${node.field}:${node.op}${text.startsWith("=") ? `\\${text}` : text}`;
    }
    case "range": {
      const min = node.min === null ? "*" : printText(node.min, "bound");
      const max = node.max === null ? "*" : printText(node.max, "bound");
      return `${node.field}:${node.minInclusive ? "[" : "{"}${min} TO ${max}${node.maxInclusive ? "]" : "}"}`;
    }
    case "exists":
      return `_exists_:${node.field}`;
    case "group":
      return `(${print(node.expression)})`;
    case "not":
      return `NOT ${printAt(node.operand, 3)}`;
    case "and":
      if (node.operands.length === 0) return "*";
      if (node.operands.length === 1) return print(node.operands[0] as QueryNode);
      return node.operands.map((o) => printAt(o, 2)).join(" AND ");
    case "or":
      if (node.operands.length === 0) return "NOT *";
      if (node.operands.length === 1) return print(node.operands[0] as QueryNode);
      return node.operands.map((o) => printAt(o, 1)).join(" OR ");
  }
}

/**
 * Prints a syntax tree as a canonical query string.
 *
 * @example
 * serialize(parse("type:login && -status:success")); // "action.type:login AND NOT result.status:success"
 * serialize(parse(""));                               // "*"
 */
export function serialize(node: QueryNode): string {
  return print(node);
}
