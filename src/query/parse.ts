/**
 * The query parser (SPEC §5): a hand-written recursive-descent parser that turns a
 * Lucene-like query string into the AST of `ast.ts`. It reads each character a
 * bounded number of times (linear time), uses no regular expressions, and limits
 * nesting to {@link MAX_QUERY_DEPTH} so that no input can overflow the stack. The only
 * error it throws is {@link QuerySyntaxError}, which locates the problem.
 *
 * Grammar (`docs/query-language.md` has the full description):
 *
 * ```text
 * query   := or?                                  empty / blank query = match all
 * or      := and (("OR" | "||") and)*
 * and     := not (("AND" | "&&")? not)*           juxtaposition is AND
 * not     := ("NOT" | "-" | "!") not | primary
 * primary := "(" or ")" | phrase | field ":" value | "_exists_:" field | word
 * value   := phrase | word | ("<" | "<=" | ">" | ">=") bound
 *          | ("[" | "{") bound "TO" bound ("]" | "}") | "(" or ")"   a field group
 * ```
 *
 * @module
 */
import { ErrorCodes, QuerySyntaxError, VigilError } from "../errors.js";
import type { CompareNode, QueryNode, QueryValue, Span } from "./ast.js";
import { checkFieldName, isFieldChar, resolveField } from "./fields.js";

/**
 * How deeply groups and negations may nest (`((a))` is 2, `NOT NOT a` is 2). Deeper
 * queries are rejected with a {@link QuerySyntaxError}, so that parsing, printing and
 * evaluating never run out of stack.
 */
export const MAX_QUERY_DEPTH = 256;

/** Whether a UTF-16 code unit is whitespace (the same set as `\s` in JavaScript). */
export function isQueryWhitespace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const LPAREN = 0x28;
const RPAREN = 0x29;
const STAR = 0x2a;
const QMARK = 0x3f;
const COLON = 0x3a;

type Operator = "AND" | "OR" | "NOT" | "&&" | "||";

/** Where a bare word is read; it decides which characters end it. */
type WordMode = "bare" | "value" | "bound";

interface Word {
  /** Escapes resolved. */
  readonly text: string;
  /** For a word with unescaped wildcards: the AST pattern (`\*`, `\?`, `\\` escaped). */
  readonly pattern: string | null;
  /** The word is exactly one unescaped `*`. */
  readonly star: boolean;
  /** The word is exactly an unescaped `TO`. */
  readonly to: boolean;
}

class Parser {
  readonly #q: string;
  readonly #n: number;
  #pos = 0;
  #depth = 0;

  constructor(query: string) {
    this.#q = query;
    this.#n = query.length;
  }

  parse(): QueryNode {
    this.#skipWhitespace();
    if (this.#pos >= this.#n) return { type: "all", span: { start: 0, end: this.#n } };
    const node = this.#parseOr(null);
    this.#skipWhitespace();
    if (this.#pos < this.#n) throw this.#error("unbalanced ')'", this.#pos);
    return node;
  }

  #error(message: string, offset: number): QuerySyntaxError {
    return new QuerySyntaxError(message, this.#q, offset);
  }

  #code(i: number): number {
    return this.#q.charCodeAt(i);
  }

  #skipWhitespace(): void {
    while (this.#pos < this.#n && isQueryWhitespace(this.#code(this.#pos))) this.#pos++;
  }

  /** Whether a token ends at `i`: end of input, whitespace or a parenthesis. */
  #isBoundary(i: number): boolean {
    if (i >= this.#n) return true;
    const c = this.#code(i);
    return c === LPAREN || c === RPAREN || isQueryWhitespace(c);
  }

  /** The operator at the current position, if any. Keywords must stand alone. */
  #operatorAt(): Operator | null {
    const q = this.#q;
    const i = this.#pos;
    const c = q[i];
    if (c === "&" && q[i + 1] === "&") return "&&";
    if (c === "|" && q[i + 1] === "|") return "||";
    if (c === "A" && q.startsWith("AND", i) && this.#isBoundary(i + 3)) return "AND";
    if (c === "O" && q[i + 1] === "R" && this.#isBoundary(i + 2)) return "OR";
    if (c === "N" && q.startsWith("NOT", i) && this.#isBoundary(i + 3)) return "NOT";
    return null;
  }

  /** After an operator: there must be an operand next. */
  #expectOperand(after: string): void {
    this.#skipWhitespace();
    const op = this.#pos < this.#n ? this.#operatorAt() : null;
    if (
      this.#pos >= this.#n ||
      this.#code(this.#pos) === RPAREN ||
      op === "AND" ||
      op === "OR" ||
      op === "&&" ||
      op === "||"
    ) {
      throw this.#error(`expected an expression after '${after}'`, this.#pos);
    }
  }

  #enter(offset: number): void {
    if (++this.#depth > MAX_QUERY_DEPTH) {
      throw this.#error(
        `query nested too deeply (more than ${MAX_QUERY_DEPTH} levels of groups and NOTs)`,
        offset,
      );
    }
  }

  #parseOr(field: string | null): QueryNode {
    const first = this.#parseAnd(field);
    const operands: QueryNode[] = [first];
    for (;;) {
      this.#skipWhitespace();
      if (this.#pos >= this.#n) break;
      const op = this.#operatorAt();
      if (op !== "OR" && op !== "||") break;
      this.#pos += 2;
      this.#expectOperand(op);
      operands.push(this.#parseAnd(field));
    }
    if (operands.length === 1) return first;
    return { type: "or", operands, span: { start: first.span.start, end: this.#lastEnd(operands) } };
  }

  #parseAnd(field: string | null): QueryNode {
    const first = this.#parseNot(field);
    const operands: QueryNode[] = [first];
    for (;;) {
      this.#skipWhitespace();
      if (this.#pos >= this.#n || this.#code(this.#pos) === RPAREN) break;
      const op = this.#operatorAt();
      if (op === "OR" || op === "||") break;
      if (op === "AND" || op === "&&") {
        this.#pos += op.length;
        this.#expectOperand(op);
      }
      operands.push(this.#parseNot(field));
    }
    if (operands.length === 1) return first;
    return { type: "and", operands, span: { start: first.span.start, end: this.#lastEnd(operands) } };
  }

  #lastEnd(operands: readonly QueryNode[]): number {
    return (operands[operands.length - 1] as QueryNode).span.end;
  }

  #parseNot(field: string | null): QueryNode {
    this.#skipWhitespace();
    const start = this.#pos;
    const c = this.#q[start];
    let op: string | null = null;
    if (c === "-" || c === "!") op = c;
    else if (this.#operatorAt() === "NOT") op = "NOT";
    if (op === null) return this.#parsePrimary(field);
    this.#enter(start);
    this.#pos += op.length;
    this.#expectOperand(op);
    const operand = this.#parseNot(field);
    this.#depth--;
    return { type: "not", operand, span: { start, end: operand.span.end } };
  }

  #parsePrimary(field: string | null): QueryNode {
    const start = this.#pos;
    const c = this.#code(start);
    if (c === LPAREN) return this.#parseGroup(field, start);
    if (c === RPAREN) throw this.#error("unbalanced ')'", start);
    const op = this.#operatorAt();
    if (op !== null) throw this.#error(`expected an expression before '${op}'`, start);
    if (c === QUOTE) {
      const text = this.#readPhrase();
      this.#expectBoundary("the closing quote");
      return { type: "term", field, value: { kind: "phrase", text }, span: this.#span(start) };
    }
    // Inside a field group `f:(a OR b)` every operand is a value of that field.
    if (field !== null) return this.#parseFieldValue(field, start, "");
    let end = start;
    while (end < this.#n && isFieldChar(this.#code(end))) end++;
    if (end > start && end < this.#n && this.#code(end) === COLON && this.#code(start) !== 0x2d) {
      return this.#parseFieldExpression(start, end);
    }
    const word = this.#readWord("bare");
    if (word.star) return { type: "all", span: this.#span(start) };
    const value: QueryValue =
      word.pattern !== null
        ? { kind: "wildcard", pattern: word.pattern }
        : { kind: "literal", text: word.text };
    return { type: "term", field: null, value, span: this.#span(start) };
  }

  #span(start: number): Span {
    return { start, end: this.#pos };
  }

  /** `(` ... `)`; `spanStart` is where the node starts (the field, for a field group). */
  #parseGroup(field: string | null, spanStart: number): QueryNode {
    const open = this.#pos;
    this.#enter(open);
    this.#pos++;
    this.#skipWhitespace();
    if (this.#pos >= this.#n) throw this.#error("unclosed '('", open);
    if (this.#code(this.#pos) === RPAREN) throw this.#error("expected an expression inside '()'", this.#pos);
    const expression = this.#parseOr(field);
    this.#skipWhitespace();
    if (this.#pos >= this.#n) throw this.#error("unclosed '('", open);
    this.#pos++;
    this.#depth--;
    return { type: "group", expression, span: this.#span(spanStart) };
  }

  /** `name:` at `[start, colon)`, followed by its value. */
  #parseFieldExpression(start: number, colon: number): QueryNode {
    const name = this.#q.slice(start, colon);
    const problem = checkFieldName(name);
    if (problem !== undefined) throw this.#error(`invalid field '${name}': ${problem}`, start);
    this.#pos = colon + 1;
    if (name === "_exists_") return this.#parseExists(start);
    return this.#parseFieldValue(resolveField(name), start, `${name}:`);
  }

  #parseExists(start: number): QueryNode {
    const nameStart = this.#pos;
    while (this.#pos < this.#n && isFieldChar(this.#code(this.#pos))) this.#pos++;
    const name = this.#q.slice(nameStart, this.#pos);
    if (name === "") throw this.#error("expected a field name after '_exists_:'", nameStart);
    if (!this.#isBoundary(this.#pos)) {
      throw this.#error(`'${this.#q[this.#pos]}' is not allowed in a field name`, this.#pos);
    }
    const problem = checkFieldName(name);
    if (problem !== undefined) throw this.#error(`invalid field '${name}': ${problem}`, nameStart);
    return { type: "exists", field: resolveField(name), span: this.#span(start) };
  }

  /**
   * The value of `field` at the current position. `prefix` is what precedes it in
   * the query (`action.type:`), for messages; empty inside a field group.
   */
  #parseFieldValue(field: string, start: number, prefix: string): QueryNode {
    const at = this.#pos;
    if (this.#pos >= this.#n || isQueryWhitespace(this.#code(at)) || this.#code(at) === RPAREN) {
      throw this.#error(`expected a value after '${prefix}'`, at);
    }
    const c = this.#q[at];
    if (c === '"') {
      const text = this.#readPhrase();
      this.#expectBoundary("the closing quote");
      return { type: "term", field, value: { kind: "phrase", text }, span: this.#span(start) };
    }
    if (c === ">" || c === "<") return this.#parseCompare(field, start, prefix);
    if (c === "[" || c === "{") return this.#parseRange(field, start);
    if (c === "(") return this.#parseGroup(field, start);
    const word = this.#readWord("value");
    if (word.star) return { type: "exists", field, span: this.#span(start) };
    const value: QueryValue =
      word.pattern !== null
        ? { kind: "wildcard", pattern: word.pattern }
        : { kind: "literal", text: word.text };
    return { type: "term", field, value, span: this.#span(start) };
  }

  #parseCompare(field: string, start: number, prefix: string): CompareNode {
    const q = this.#q;
    const op = q[this.#pos + 1] === "=" ? (`${q[this.#pos]}=` as ">=" | "<=") : (q[this.#pos] as ">" | "<");
    this.#pos += op.length;
    const at = this.#pos;
    if (this.#isBoundary(at)) throw this.#error(`expected a value after '${prefix}${op}'`, at);
    let value: string;
    if (this.#code(at) === QUOTE) {
      value = this.#readPhrase();
      this.#expectBoundary("the closing quote");
    } else {
      const word = this.#readWord("value");
      if (word.pattern !== null || word.star) {
        throw this.#error("wildcards are not allowed in a comparison (escape them as \\* and \\?)", at);
      }
      value = word.text;
    }
    return { type: "compare", field, op, value, span: this.#span(start) };
  }

  #parseRange(field: string, start: number): QueryNode {
    const open = this.#pos;
    const minInclusive = this.#q[open] === "[";
    this.#pos++;
    const min = this.#parseBound();
    this.#skipWhitespace();
    if (!(this.#q.startsWith("TO", this.#pos) && this.#isRangeBoundary(this.#pos + 2))) {
      throw this.#error(
        this.#pos >= this.#n ? "unclosed range: expected TO" : "expected TO in range",
        this.#pos,
      );
    }
    this.#pos += 2;
    const max = this.#parseBound();
    this.#skipWhitespace();
    const close = this.#q[this.#pos];
    if (close !== "]" && close !== "}") {
      throw this.#error(
        this.#pos >= this.#n
          ? "unclosed range: expected ']' or '}'"
          : "expected ']' or '}' to close the range",
        this.#pos,
      );
    }
    this.#pos++;
    this.#expectBoundary("the range");
    return {
      type: "range",
      field,
      min,
      max,
      minInclusive,
      maxInclusive: close === "]",
      span: this.#span(start),
    };
  }

  #isRangeBoundary(i: number): boolean {
    return i >= this.#n || isQueryWhitespace(this.#code(i));
  }

  /** A range bound: a word, a phrase, or `*` (open, returned as null). */
  #parseBound(): string | null {
    this.#skipWhitespace();
    const at = this.#pos;
    if (at >= this.#n) throw this.#error("unclosed range: expected a bound", at);
    const c = this.#q[at];
    if (c === "]" || c === "}") throw this.#error(`expected a range bound before '${c}'`, at);
    if (c === '"') return this.#readPhrase();
    if (c === "(" || c === ")") throw this.#error(`expected a range bound, found '${c}'`, at);
    const word = this.#readWord("bound");
    if (word.to) throw this.#error("expected a range bound before 'TO'", at);
    if (word.star) return null;
    if (word.pattern !== null) {
      throw this.#error("wildcards are not allowed in a range bound (use * alone for an open side)", at);
    }
    return word.text;
  }

  /** After a phrase or a range: the next character must end the token. */
  #expectBoundary(what: string): void {
    if (!this.#isBoundary(this.#pos)) {
      throw this.#error(`expected whitespace, an operator or ')' after ${what}`, this.#pos);
    }
  }

  /** A `"quoted phrase"` at the current position; returns its text with escapes resolved. */
  #readPhrase(): string {
    const q = this.#q;
    const open = this.#pos;
    let i = open + 1;
    let text = "";
    let runStart = i;
    for (;;) {
      if (i >= this.#n) throw this.#error("unclosed quote", open);
      const c = q.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        if (i + 1 >= this.#n) throw this.#error("unclosed quote", open);
        text += q.slice(runStart, i);
        const width = this.#codePointWidth(i + 1);
        text += q.slice(i + 1, i + 1 + width);
        i += 1 + width;
        runStart = i;
      } else {
        i++;
      }
    }
    text += q.slice(runStart, i);
    this.#pos = i + 1;
    return text;
  }

  /** 2 when a surrogate pair starts at `i`, else 1. */
  #codePointWidth(i: number): number {
    const c = this.#code(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < this.#n) {
      const d = this.#code(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) return 2;
    }
    return 1;
  }

  /** A bare word at the current position: up to whitespace or a parenthesis (or `]`/`}` in a range). */
  #readWord(mode: WordMode): Word {
    const q = this.#q;
    let i = this.#pos;
    let text = "";
    let pattern = "";
    let wildcard = false;
    let escaped = false;
    let runStart = i;
    while (i < this.#n) {
      const c = q.charCodeAt(i);
      if (c === LPAREN || c === RPAREN || isQueryWhitespace(c)) break;
      if (mode === "bound" && (c === 0x5d || c === 0x7d)) break;
      if (c === QUOTE) {
        throw this.#error("unexpected '\"' inside a word: escape it as \\\" or quote the whole value", i);
      }
      if (c === BACKSLASH) {
        if (i + 1 >= this.#n) throw this.#error("expected a character after '\\'", i);
        const run = q.slice(runStart, i);
        const width = this.#codePointWidth(i + 1);
        const ch = q.slice(i + 1, i + 1 + width);
        text += run + ch;
        pattern += run + (ch === "*" || ch === "?" || ch === "\\" ? `\\${ch}` : ch);
        escaped = true;
        i += 1 + width;
        runStart = i;
        continue;
      }
      if (c === STAR || c === QMARK) wildcard = true;
      i++;
    }
    const run = q.slice(runStart, i);
    text += run;
    pattern += run;
    this.#pos = i;
    return {
      text,
      pattern: wildcard ? pattern : null,
      star: !escaped && text === "*",
      to: !escaped && text === "TO",
    };
  }
}

/**
 * Parses a query string into its syntax tree. Aliases (`type`, `user`, `status` ...)
 * are resolved, so fields in the tree are full event paths. The empty or blank query
 * and a lone `*` give a match-all node; `field:*` gives an `exists` node.
 *
 * @throws QuerySyntaxError for any malformed query, with `offset`, `line` and `column`
 *   (nothing else ever escapes, whatever the string).
 * @example
 * parse("action.type:LOGIN AND result.status:FAILURE");
 * // { type: "and", operands: [ {type: "term", field: "action.type", ...}, ... ] }
 * parse("result.duration_ms:>100 -user:bot*");
 */
export function parse(query: string): QueryNode {
  if (typeof query !== "string") {
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, `a query must be a string, got ${typeof query}`);
  }
  return new Parser(query).parse();
}
