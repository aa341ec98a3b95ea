/**
 * The query AST compiled to SQL. The in-memory evaluator (`query/evaluate.ts`) is the
 * reference; SQL cannot reproduce every corner of it on every dialect (ASCII-only
 * case folding, numbers written as text, UTF-16 ordering, arrays matched element by
 * element), so each node compiles to two predicates:
 *
 * - `sup`, a sound **superset**: every event the evaluator accepts satisfies it. The
 *   backend fetches rows with `sup` and runs the evaluator on each one as the final judge.
 * - `sub`, a sound **subset**: every row satisfying it is accepted by the evaluator.
 *   `count` adds `COUNT(*)` of `sub` to an evaluator count of the rows in `sup AND NOT sub`.
 *
 * Where a leaf is exact, `sup` and `sub` are the same fragment and the query is answered
 * by SQL alone. `NOT` swaps them (`sup(NOT p) = NOT sub(p)`), which is why both exist.
 * Leaves use the indexed columns where the evaluator's semantics allow it and JSON
 * path functions otherwise. Every value is bound as a parameter; field paths reach SQL
 * only as bound JSON-path parameters, after a strict check of each segment.
 *
 * @module
 */
import type { QueryNode, QueryValue } from "../../query/ast.js";
import { parseNumberText } from "../../query/evaluate.js";
import { resolveField } from "../../query/fields.js";
import { parseDateText } from "../../query/time-range.js";
import { asciiLower, parseWildcard } from "../../query/wildcard.js";
import { join, raw, type Sql, sql } from "./sql.js";

/** A predicate, or a constant (`true`: no condition; `false`: nothing). */
export type Cond = Sql | boolean;

/** See the module comment: `sup` ⊇ matches ⊇ `sub`; exact when they are the same. */
export interface Pred {
  readonly sup: Cond;
  readonly sub: Cond;
}

/** The loosest pair: no SQL help at all, the evaluator decides everything. */
export const UNKNOWN: Pred = Object.freeze({ sup: true, sub: false });

/** An exact predicate. */
export function exact(cond: Cond): Pred {
  return { sup: cond, sub: cond };
}

/** Whether SQL alone answers the predicate. */
export function isExact(pred: Pred): boolean {
  return pred.sup === pred.sub;
}

/** The columns that hold a copy of a string field of the event. */
export type TextColumn =
  | "severity"
  | "category"
  | "type"
  | "actor_username"
  | "actor_id"
  | "status"
  | "resource_path"
  | "tenant";

/** Event paths copied into a column (as strings, clipped to {@link COLUMN_CHARS} code points). */
export const COLUMN_OF_PATH: Readonly<Record<string, TextColumn>> = Object.freeze({
  severity: "severity",
  "action.category": "category",
  "action.type": "type",
  "actor.username": "actor_username",
  "actor.id": "actor_id",
  "result.status": "status",
  "action.resource.path": "resource_path",
  tenant: "tenant",
});

/** Code points kept in the text columns (longer values are cut; see {@link clipText}). */
export const COLUMN_CHARS = 200;

/**
 * `text` cut to at most `max` code points, never splitting a surrogate pair.
 *
 * @example
 * clipText("abc", 2); // "ab"
 */
export function clipText(text: string, max: number = COLUMN_CHARS): string {
  if (text.length <= max) return text;
  let units = 0;
  let points = 0;
  while (units < text.length && points < max) {
    const c = text.charCodeAt(units);
    units += c >= 0xd800 && c <= 0xdbff && units + 1 < text.length ? 2 : 1;
    points++;
  }
  return text.slice(0, units);
}

/** How many code points `text` has. */
function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (!(c >= 0xdc00 && c <= 0xdfff && i > 0 && isHighAt(text, i - 1))) n++;
  }
  return n;
}

function isHighAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * Whether a text can be bound and compared in SQL with the same meaning as in
 * JavaScript: no NUL and no unpaired surrogate (drivers encode those as U+FFFD or
 * cut the text).
 */
export function isSqlSafeText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** The escape character of every `LIKE` vigil writes (needs no escaping in any dialect's literals). */
export const LIKE_ESCAPE = "!";

/**
 * A `LIKE` pattern (ASCII-lowered, escaped with {@link LIKE_ESCAPE}) for a wildcard
 * pattern of the AST, or `undefined` when its text is not {@link isSqlSafeText}.
 */
export function likePattern(pattern: string): string | undefined {
  let out = "";
  for (const part of parseWildcard(pattern)) {
    if (part.kind === "any") out += "%";
    else if (part.kind === "one") out += "_";
    else {
      if (!isSqlSafeText(part.text)) return undefined;
      for (const ch of asciiLower(part.text)) {
        out += ch === "%" || ch === "_" || ch === LIKE_ESCAPE ? LIKE_ESCAPE + ch : ch;
      }
    }
  }
  return out;
}

/**
 * The text a needle takes inside the stored JSON (what `JSON.stringify` writes between
 * the quotes), or `undefined` when no substring search can stand for it (an unpaired
 * or split surrogate, whose escaping depends on its neighbours).
 */
export function jsonNeedle(loweredText: string): string | undefined {
  // NUL is fine here (JSON writes it as \u0000 on both sides); unpaired surrogates are not.
  if (!isSqlSafeText(loweredText.replaceAll("\u0000", " "))) return undefined;
  return JSON.stringify(loweredText).slice(1, -1);
}

/** A field path that may reach SQL: segments of `[A-Za-z0-9_@-]`, none all digits. */
const SEGMENT = /^[A-Za-z0-9_@-]{1,128}$/;
const NUMERIC_SEGMENT = /^-?\d+$/;

/**
 * The segments of `field` when every one is safe to put in a JSON path and cannot be an
 * array index (whose meaning depends on the value: `getPath` reads `a.0` from arrays
 * and objects alike), else `undefined`.
 */
export function sqlPath(field: string): readonly string[] | undefined {
  const segments = field.split(".");
  if (segments.length > 32) return undefined;
  for (const s of segments) if (!SEGMENT.test(s) || NUMERIC_SEGMENT.test(s)) return undefined;
  return segments;
}

/** What an equality term compares against, prepared once (see `equalityTest` in the evaluator). */
export interface EqualityTarget {
  /** The ASCII-lowered text, for string values; `undefined` when not {@link isSqlSafeText}. */
  readonly lowered: string | undefined;
  /** The number, when the text is one (numbers compare numerically). */
  readonly number: number | undefined;
  /** `true`/`false` when the text names a boolean. */
  readonly bool: boolean | undefined;
}

/** A numeric bound of a comparison. */
export interface NumericBound {
  readonly value: number;
  readonly inclusive: boolean;
}

/**
 * The SQL a dialect writes for each kind of leaf. `path` has passed {@link sqlPath}.
 * Each method returns a {@link Pred}; anything it cannot express exactly goes in
 * `sup` only.
 */
export interface LeafCompiler {
  /** Values ignoring ASCII case for strings, numerically for numbers, by name for booleans; arrays by element. */
  equals(path: readonly string[], target: EqualityTarget): Pred;
  /** Whole-value `LIKE` for strings (numbers' text matches too); arrays by element. */
  like(path: readonly string[], pattern: string): Pred;
  /** Present and not JSON `null`. */
  exists(path: readonly string[]): Pred;
  /**
   * A comparison or range: strings and numbers may compare; with numeric bounds,
   * numbers outside them can be ruled out.
   */
  comparable(path: readonly string[], low: NumericBound | undefined, high: NumericBound | undefined): Pred;
  /**
   * A superset of "some string or number of the event contains every needle": the
   * stored JSON text, ASCII-lowered, contains each needle (JSON-escaped, lowered).
   */
  contains(needles: readonly string[]): Sql;
  /** A string field copied in a column equals `lowered`, ignoring ASCII case. */
  columnEquals(column: TextColumn, lowered: string): Pred;
  /**
   * A string field copied in a column equals `text` exactly (case-sensitive), through the
   * column's index: what binds a search to one tenant (`QuerySpec.tenant`).
   */
  columnIs(column: TextColumn, text: string): Sql;
  /** An expression grouping a column's values exactly (case-sensitive), for `GROUP BY`. */
  groupKey(column: TextColumn): string;
  /** The `ts` column (`timestamp` verbatim) compared by code units with `value`. */
  timestampCompare(op: ">" | ">=" | "<" | "<=", value: string): Sql;
  /** The `ts` column equals `lowered` ignoring ASCII case. */
  timestampEquals(lowered: string): Sql;
  /** `NOT COALESCE(cond, FALSE)` in the dialect. */
  not(cond: Sql): Sql;
}

/**
 * The leaves of a table whose stored lines SQL cannot read (encrypted envelopes): only the
 * indexed columns and `ts` can decide anything; every condition on the line's JSON is
 * left to the evaluator on decrypted events.
 */
export function columnLeaves(leaf: LeafCompiler): LeafCompiler {
  return {
    equals: () => UNKNOWN,
    like: () => UNKNOWN,
    exists: () => UNKNOWN,
    comparable: () => UNKNOWN,
    contains: () => sql`1 = 1`, // a superset: every row
    columnEquals: (column, lowered) => leaf.columnEquals(column, lowered),
    columnIs: (column, text) => leaf.columnIs(column, text),
    groupKey: (column) => leaf.groupKey(column),
    timestampCompare: (op, value) => leaf.timestampCompare(op, value),
    timestampEquals: (lowered) => leaf.timestampEquals(lowered),
    not: (cond) => leaf.not(cond),
  };
}

function and(conds: readonly Cond[]): Cond {
  const parts: Sql[] = [];
  for (const c of conds) {
    if (c === false) return false;
    if (c !== true) parts.push(c);
  }
  if (parts.length === 0) return true;
  if (parts.length === 1) return parts[0] as Sql;
  return sql`(${join(parts, " AND ")})`;
}

function or(conds: readonly Cond[]): Cond {
  const parts: Sql[] = [];
  for (const c of conds) {
    if (c === true) return true;
    if (c !== false) parts.push(c);
  }
  if (parts.length === 0) return false;
  if (parts.length === 1) return parts[0] as Sql;
  return sql`(${join(parts, " OR ")})`;
}

function combine(preds: readonly Pred[], op: (conds: readonly Cond[]) => Cond): Pred {
  if (preds.every(isExact)) return exact(op(preds.map((p) => p.sup)));
  return { sup: op(preds.map((p) => p.sup)), sub: op(preds.map((p) => p.sub)) };
}

function negate(cond: Cond, leaf: LeafCompiler): Cond {
  return typeof cond === "boolean" ? !cond : leaf.not(cond);
}

/** What an equality text means for each JSON type. */
export function equalityTarget(text: string): EqualityTarget {
  const lowered = asciiLower(text);
  return {
    lowered: isSqlSafeText(lowered) ? lowered : undefined,
    number: parseNumberText(text),
    bool: lowered === "true" ? true : lowered === "false" ? false : undefined,
  };
}

const TIMESTAMP_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The text a bound compares `ts` with: the canonical ISO form of a date bound (stored
 * timestamps are canonical, so code-unit order is instant order), or the bound itself
 * (compared by code units, as the evaluator does when the bound is not a date). A
 * numeric bound compares strings by text too. `undefined` when the bound is a date
 * outside years 0000–9999.
 */
function timestampBound(bound: string): string | undefined {
  if (parseNumberText(bound) !== undefined) return bound;
  const date = parseDateText(bound);
  if (date === undefined) return isSqlSafeText(bound) ? bound : undefined;
  const iso = new Date(date).toISOString();
  return TIMESTAMP_ISO.test(iso) ? iso : undefined;
}

function numericBound(text: string | null, inclusive: boolean): NumericBound | undefined {
  if (text === null) return undefined;
  const value = parseNumberText(text);
  return value === undefined ? undefined : { value, inclusive };
}

function compileTerm(field: string, value: QueryValue, leaf: LeafCompiler): Pred {
  if (value.kind === "wildcard") {
    const path = sqlPath(field);
    const pattern = likePattern(value.pattern);
    if (path === undefined || pattern === undefined) return UNKNOWN;
    return leaf.like(path, pattern);
  }
  const target = equalityTarget(value.text);
  if (field === "timestamp") {
    return target.lowered === undefined ? UNKNOWN : exact(leaf.timestampEquals(target.lowered));
  }
  const column = Object.hasOwn(COLUMN_OF_PATH, field) ? COLUMN_OF_PATH[field] : undefined;
  if (column !== undefined && target.lowered !== undefined) {
    if (codePoints(target.lowered) < COLUMN_CHARS) return leaf.columnEquals(column, target.lowered);
    // The column keeps a prefix: equal values have equal prefixes, but not conversely.
    return { sup: leaf.columnEquals(column, clipText(target.lowered)).sup, sub: false };
  }
  const path = sqlPath(field);
  return path === undefined ? UNKNOWN : leaf.equals(path, target);
}

function compileBare(value: QueryValue, leaf: LeafCompiler): Pred {
  const texts =
    value.kind === "wildcard"
      ? parseWildcard(value.pattern).flatMap((p) => (p.kind === "text" ? [p.text] : []))
      : [value.text];
  const needles: string[] = [];
  for (const text of texts) {
    const needle = jsonNeedle(asciiLower(text));
    if (needle !== undefined && needle !== "") needles.push(needle);
  }
  if (needles.length === 0) return UNKNOWN;
  return { sup: leaf.contains(needles), sub: false };
}

function compileRange(
  field: string,
  min: string | null,
  max: string | null,
  minInclusive: boolean,
  maxInclusive: boolean,
  leaf: LeafCompiler,
): Pred {
  if (field === "timestamp") {
    const conds: Cond[] = [];
    if (min !== null) {
      const bound = timestampBound(min);
      if (bound === undefined) return UNKNOWN;
      conds.push(leaf.timestampCompare(minInclusive ? ">=" : ">", bound));
    }
    if (max !== null) {
      const bound = timestampBound(max);
      if (bound === undefined) return UNKNOWN;
      conds.push(leaf.timestampCompare(maxInclusive ? "<=" : "<", bound));
    }
    return exact(and(conds));
  }
  const path = sqlPath(field);
  if (path === undefined) return UNKNOWN;
  return leaf.comparable(path, numericBound(min, minInclusive), numericBound(max, maxInclusive));
}

/**
 * `sealed` names fields the database holds only sealed (erasure): conditions on them, and
 * bare terms (which search all text), are left to the evaluator on opened events.
 */
function compileNode(node: QueryNode, leaf: LeafCompiler, sealed?: (field: string) => boolean): Pred {
  if (sealed !== undefined) {
    if (node.type === "term" && node.field === null) return UNKNOWN;
    if (
      (node.type === "term" || node.type === "compare" || node.type === "range" || node.type === "exists") &&
      node.field !== null &&
      sealed(resolveField(node.field))
    )
      return UNKNOWN;
  }
  switch (node.type) {
    case "all":
      return exact(true);
    case "group":
      return compileNode(node.expression, leaf, sealed);
    case "term":
      return node.field === null
        ? compileBare(node.value, leaf)
        : compileTerm(resolveField(node.field), node.value, leaf);
    case "compare": {
      const field = resolveField(node.field);
      const low = node.op === ">" || node.op === ">=";
      const inclusive = node.op === ">=" || node.op === "<=";
      return low
        ? compileRange(field, node.value, null, inclusive, false, leaf)
        : compileRange(field, null, node.value, false, inclusive, leaf);
    }
    case "range":
      return compileRange(
        resolveField(node.field),
        node.min,
        node.max,
        node.minInclusive,
        node.maxInclusive,
        leaf,
      );
    case "exists": {
      const path = sqlPath(resolveField(node.field));
      return path === undefined ? UNKNOWN : leaf.exists(path);
    }
    case "and":
      return combine(
        node.operands.map((n) => compileNode(n, leaf, sealed)),
        and,
      );
    case "or":
      return combine(
        node.operands.map((n) => compileNode(n, leaf, sealed)),
        or,
      );
    case "not": {
      const inner = compileNode(node.operand, leaf, sealed);
      if (isExact(inner)) return exact(negate(inner.sup, leaf));
      return { sup: negate(inner.sub, leaf), sub: negate(inner.sup, leaf) };
    }
  }
}

/**
 * Compiles a query for one dialect. An absent query is exact `true`.
 *
 * @example
 * const pred = compileWhere(parse("category:DATABASE AND NOT user:bob"), sqliteLeaves);
 * isExact(pred); // true: both leaves use indexed columns
 */
export function compileWhere(
  node: QueryNode | undefined,
  leaf: LeafCompiler,
  sealed?: (field: string) => boolean,
): Pred {
  return node === undefined ? exact(true) : compileNode(node, leaf, sealed);
}

/**
 * For dialects that store some events without their JSON column (`event IS NULL`, when
 * the database refuses the JSON): such rows are candidates for every JSON leaf, never
 * certain matches.
 */
export function guardNullEvent(pred: Pred): Pred {
  const sup: Cond = typeof pred.sup === "boolean" ? pred.sup : sql`(event IS NULL OR ${pred.sup})`;
  const sub: Cond = typeof pred.sub === "boolean" ? pred.sub : sql`(event IS NOT NULL AND ${pred.sub})`;
  return { sup: pred.sup === false ? raw("event IS NULL") : sup, sub };
}

/** A condition as SQL text for a `WHERE` (constants become `1=1` / `1=0`). */
export function condSql(cond: Cond): Sql {
  if (cond === true) return raw("1=1");
  if (cond === false) return raw("1=0");
  return cond;
}

/**
 * A numeric bound widened by a relative 1e-12 so that a dialect's text-to-double
 * conversion, even if off by an ulp, can never exclude a true match from `sup`.
 */
export function widen(bound: NumericBound, direction: "down" | "up"): number {
  const slack = Math.max(Math.abs(bound.value) * 1e-12, 1e-300);
  return direction === "down" ? bound.value - slack : bound.value + slack;
}

export { and as andConds, or as orConds };
