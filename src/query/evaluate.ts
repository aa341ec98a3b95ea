/**
 * The in-memory evaluator: decides whether an event matches a query. These are the
 * reference semantics of the query language; every storage backend (the file
 * backend runs this code, the SQL backends compile to SQL) must give the same
 * answers. `docs/query-language.md` states them in full.
 *
 * {@link compileQuery} does all the work that depends only on the query once —
 * path readers, lowered texts, parsed numbers and dates, wildcard matchers — and
 * returns a plain function to run per event.
 *
 * @module
 */
import type { QueryNode, QueryValue } from "./ast.js";
import { compilePath } from "./fields.js";
import { parseDateText } from "./time-range.js";
import { asciiLower, compileContains, compileWildcard, equalsAsciiLowered } from "./wildcard.js";

/** A compiled query: `true` when the event matches. */
export type EventPredicate = (event: unknown) => boolean;

/** How deep a bare term looks into an event; values nested deeper are not searched. */
export const MAX_SEARCH_DEPTH = 256;

/** Decimal numbers only: no hex, no `Infinity`, no blanks, no `_` separators. Unambiguous, so linear. */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The number a query text stands for, or `undefined`: an optional sign, digits with an
 * optional fraction, an optional exponent (`42`, `-1.5`, `.5`, `1e3`), and finite.
 *
 * @example
 * parseNumberText("1e3");  // 1000
 * parseNumberText("0x10"); // undefined
 * parseNumberText("1e999"); // undefined (not finite)
 */
export function parseNumberText(text: string): number | undefined {
  if (text.length > 400 || !NUMBER.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

type ScalarTest = (value: unknown) => boolean;

const ALWAYS: EventPredicate = () => true;
const NEVER: EventPredicate = () => false;

/** Runs `test` on the value at `field`; for an array, on each element (one level). */
function onField(field: string, test: ScalarTest): EventPredicate {
  const read = compilePath(field.split("."));
  return (event) => {
    const value = read(event);
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (test(value[i])) return true;
      return false;
    }
    return test(value);
  };
}

/** `field:value`: equality ignoring ASCII case, numbers numerically, booleans by name. */
function equalityTest(text: string): ScalarTest {
  const lowered = asciiLower(text);
  const number = parseNumberText(text);
  const bool = lowered === "true" ? true : lowered === "false" ? false : undefined;
  return (value) => {
    switch (typeof value) {
      case "string":
        return equalsAsciiLowered(value, lowered);
      case "number":
        return number !== undefined && value === number;
      case "boolean":
        return value === bool;
      default:
        return false;
    }
  };
}

/** A whole-value wildcard match on strings and on numbers' JSON text. */
function wildcardTest(pattern: string): ScalarTest {
  const matches = compileWildcard(pattern);
  return (value) => {
    if (typeof value === "string") return matches(value);
    return typeof value === "number" && Number.isFinite(value) && matches(String(value));
  };
}

/** Whether some string or finite number anywhere in `value` passes `test`. */
function anyLeaf(value: unknown, test: (text: string) => boolean, depth: number): boolean {
  switch (typeof value) {
    case "string":
      return test(value);
    case "number":
      return Number.isFinite(value) && test(String(value));
    case "object": {
      if (value === null || depth >= MAX_SEARCH_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (anyLeaf(value[i], test, depth + 1)) return true;
        return false;
      }
      const record = value as Record<string, unknown>;
      for (const key in record) {
        if (Object.hasOwn(record, key) && anyLeaf(record[key], test, depth + 1)) return true;
      }
      return false;
    }
    default:
      return false;
  }
}

/** A bare term: a substring (literal, phrase) or whole-value (wildcard) match on any leaf. */
function compileBareTerm(value: QueryValue): EventPredicate {
  let test: (text: string) => boolean;
  if (value.kind === "wildcard") {
    test = compileWildcard(value.pattern);
  } else {
    test = compileContains(value.text);
  }
  return (event) => anyLeaf(event, test, 0);
}

/**
 * Compares a value with a bound: -1, 0 or 1, or `undefined` when they do not compare.
 * Numbers against a numeric bound compare as numbers; strings that are dates against a
 * date bound compare as instants; otherwise strings (and numbers' JSON text) compare
 * by UTF-16 code units. Booleans, objects, null and missing values never compare.
 */
function boundComparator(bound: string): (value: unknown) => number | undefined {
  const number = parseNumberText(bound);
  const date = parseDateText(bound);
  const text = (value: string) => (value < bound ? -1 : value > bound ? 1 : 0);
  return (value) => {
    if (typeof value === "number") {
      if (!Number.isFinite(value)) return undefined;
      if (number !== undefined) return value < number ? -1 : value > number ? 1 : 0;
      return text(String(value));
    }
    if (typeof value !== "string") return undefined;
    if (date !== undefined) {
      const instant = parseDateText(value);
      if (instant !== undefined) return instant < date ? -1 : instant > date ? 1 : 0;
    }
    return text(value);
  };
}

/** A test that accepts values that compare (any number or string), for open ranges. */
function comparable(value: unknown): boolean {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

function compile(node: QueryNode): EventPredicate {
  switch (node.type) {
    case "all":
      return ALWAYS;
    case "term":
      if (node.field === null) return compileBareTerm(node.value);
      return onField(
        node.field,
        node.value.kind === "wildcard" ? wildcardTest(node.value.pattern) : equalityTest(node.value.text),
      );
    case "compare": {
      const compare = boundComparator(node.value);
      const accept =
        node.op === ">"
          ? (c: number) => c > 0
          : node.op === ">="
            ? (c: number) => c >= 0
            : node.op === "<"
              ? (c: number) => c < 0
              : (c: number) => c <= 0;
      return onField(node.field, (value) => {
        const c = compare(value);
        return c !== undefined && accept(c);
      });
    }
    case "range": {
      const lower = node.min === null ? null : boundComparator(node.min);
      const upper = node.max === null ? null : boundComparator(node.max);
      const minInclusive = node.minInclusive;
      const maxInclusive = node.maxInclusive;
      return onField(node.field, (value) => {
        if (!comparable(value)) return false;
        if (lower !== null) {
          const c = lower(value);
          if (c === undefined || c < 0 || (c === 0 && !minInclusive)) return false;
        }
        if (upper !== null) {
          const c = upper(value);
          if (c === undefined || c > 0 || (c === 0 && !maxInclusive)) return false;
        }
        return true;
      });
    }
    case "exists": {
      const read = compilePath(node.field.split("."));
      return (event) => {
        const value = read(event);
        return value !== undefined && value !== null;
      };
    }
    case "group":
      return compile(node.expression);
    case "not": {
      const operand = compile(node.operand);
      return (event) => !operand(event);
    }
    case "and": {
      const fns = node.operands.map(compile);
      if (fns.length === 0) return ALWAYS;
      if (fns.length === 1) return fns[0] as EventPredicate;
      if (fns.length === 2) {
        const [a, b] = fns as [EventPredicate, EventPredicate];
        return (event) => a(event) && b(event);
      }
      return (event) => {
        for (let i = 0; i < fns.length; i++) if (!(fns[i] as EventPredicate)(event)) return false;
        return true;
      };
    }
    case "or": {
      const fns = node.operands.map(compile);
      if (fns.length === 0) return NEVER;
      if (fns.length === 1) return fns[0] as EventPredicate;
      if (fns.length === 2) {
        const [a, b] = fns as [EventPredicate, EventPredicate];
        return (event) => a(event) || b(event);
      }
      return (event) => {
        for (let i = 0; i < fns.length; i++) if ((fns[i] as EventPredicate)(event)) return true;
        return false;
      };
    }
  }
}

/**
 * Compiles a query once into a predicate to run on many events. The predicate never
 * throws on any event shape (missing sections, wrong types, `null`s simply do not
 * match) and never reads inherited properties.
 *
 * @example
 * const failedLogins = compileQuery(parse("action.type:LOGIN AND result.status:FAILURE"));
 * events.filter(failedLogins);
 */
export function compileQuery(node: QueryNode): EventPredicate {
  return compile(node);
}

const cache = new WeakMap<QueryNode, EventPredicate>();

/**
 * Whether `event` matches the query `node`. Compiles the query on first use and keeps
 * the compiled form for as long as the node lives, so calling it in a loop with the
 * same node costs one compilation.
 *
 * @example
 * evaluate(parse("user:alice"), { actor: { username: "ALICE" } }); // true
 */
export function evaluate(node: QueryNode, event: unknown): boolean {
  let predicate = cache.get(node);
  if (predicate === undefined) {
    predicate = compile(node);
    cache.set(node, predicate);
  }
  return predicate(event);
}
