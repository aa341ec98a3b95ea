/**
 * Fuzzing and linearity check for the query language.
 *
 * Run: `node --import tsx scripts/fuzz-query.ts [seconds]` (default 60 s of fuzzing).
 *
 * 1. fast-check, for the time budget, on three properties: only `QuerySyntaxError`
 *    escapes `parse` for any string; printing round-trips (`parse(serialize(ast))`
 *    equals `ast` for generated trees, and printing a parsed query is idempotent);
 *    `evaluate` never throws and agrees with its negation on random events.
 * 2. Linearity: parse time of a 100,000-character query against a 10,000-character
 *    one of the same shape, for several shapes; a ratio near 10 is linear, and
 *    anything above 15 fails the run.
 *
 * The arbitraries are exported so the unit tests run the same properties briefly.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import fc from "fast-check";
import { QuerySyntaxError } from "../src/errors.js";
import type { CompareNode, QueryNode, QueryValue } from "../src/query/ast.js";
import { evaluate } from "../src/query/evaluate.js";
import { FIELD_ALIASES } from "../src/query/fields.js";
import { MAX_QUERY_DEPTH, parse } from "../src/query/parse.js";
import { serialize } from "../src/query/serialize.js";
import { compileWildcard } from "../src/query/wildcard.js";

const SPAN = { start: 0, end: 0 };

/** Removes spans, for comparing trees that came from different strings. */
export function stripSpans(node: QueryNode): unknown {
  switch (node.type) {
    case "and":
    case "or":
      return { type: node.type, operands: node.operands.map(stripSpans) };
    case "not":
      return { type: "not", operand: stripSpans(node.operand) };
    case "group":
      return { type: "group", expression: stripSpans(node.expression) };
    default: {
      const { span: _span, ...rest } = node;
      return rest;
    }
  }
}

/** One character of any kind, including lone surrogates, NUL and query syntax. */
export const anyChar: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "\uD800",
    "\uDFFF",
    "\0",
    " ",
    "\t",
    "\n",
    "\u3000",
    "\\",
    '"',
    "(",
    ")",
    "*",
    "?",
    ":",
    "-",
    "!",
    "&",
    "|",
    "[",
    "]",
    "{",
    "}",
    ">",
    "<",
    "=",
  ),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.constantFrom("a", "Z", "0", "é", "K"),
);

/** Strings made of query syntax: mostly well-formed enough to reach deep into the parser. */
export const queryish: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        "a",
        "b1",
        "AND",
        "OR",
        "NOT",
        "and",
        "(",
        ")",
        "-",
        "!",
        "&&",
        "||",
        "x:",
        "a.b:",
        "type:",
        "_exists_:",
        '"',
        '"p q"',
        "\\",
        "\\:",
        "*",
        "?",
        "[",
        "]",
        "{",
        "}",
        "TO",
        ">",
        ">=",
        "<",
        "=",
        "1",
        "-2.5",
        "2026-11-26",
      ),
      fc.constantFrom(" ", " ", "  ", "\n"),
      anyChar,
    ),
    { maxLength: 24 },
  )
  .map((parts) => parts.join(""));

const segment = fc.stringMatching(/^[a-z_@][a-z0-9_@-]{0,5}$/);

/** Field paths the parser can produce (no aliases, not `_exists_`). */
export const fieldArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.constantFrom("action.type", "result.status", "actor.roles.0", "result.duration_ms", "@timestamp", "x"),
    fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join(".")),
  )
  .filter((f) => !Object.hasOwn(FIELD_ALIASES, f) && f !== "_exists_");

const text = fc.string({ unit: anyChar, maxLength: 8 });

/** A wildcard pattern in AST form with at least one unescaped `*` or `?`. */
const patternArb: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: anyChar.filter((c) => c !== "\\" && c !== "*" && c !== "?") },
      { weight: 2, arbitrary: fc.constantFrom("*", "?") },
      { weight: 1, arbitrary: fc.constantFrom("\\*", "\\?", "\\\\") },
    ),
    { minLength: 1, maxLength: 8 },
  )
  .map((parts) => parts.join(""))
  // `*` alone means match-all (bare) or exists (fielded): not a wildcard term.
  .filter((p) => /(^|[^\\])(\\\\)*[*?]/.test(p) && p !== "*");

const valueArb: fc.Arbitrary<QueryValue> = fc.oneof(
  text.filter((t) => t !== "").map((t): QueryValue => ({ kind: "literal", text: t })),
  text.map((t): QueryValue => ({ kind: "phrase", text: t })),
  patternArb.map((p): QueryValue => ({ kind: "wildcard", pattern: p })),
);

const leafArb: fc.Arbitrary<QueryNode> = fc.oneof(
  fc
    .oneof(fc.constant(null), fieldArb)
    .chain((field) => valueArb.map((value): QueryNode => ({ type: "term", field, value, span: SPAN }))),
  fc
    .record({ field: fieldArb, op: fc.constantFrom<CompareNode["op"]>(">", ">=", "<", "<="), value: text })
    .map((r): QueryNode => ({ type: "compare", ...r, span: SPAN })),
  fc
    .record({
      field: fieldArb,
      min: fc.option(text, { nil: null }),
      max: fc.option(text, { nil: null }),
      minInclusive: fc.boolean(),
      maxInclusive: fc.boolean(),
    })
    .map((r): QueryNode => ({ type: "range", ...r, span: SPAN })),
  fieldArb.map((field): QueryNode => ({ type: "exists", field, span: SPAN })),
  fc.constant<QueryNode>({ type: "all", span: SPAN }),
);

const isJunction = (n: QueryNode) => n.type === "and" || n.type === "or";

/**
 * Trees in the shape the parser builds: AND/OR flattened, an OR inside an AND or a
 * NOT, and an AND inside a NOT, always wrapped in a group.
 */
export const astArb: fc.Arbitrary<QueryNode> = fc.letrec<{ node: QueryNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArb,
    tie("node").map((expression): QueryNode => ({ type: "group", expression, span: SPAN })),
    tie("node")
      .filter((n) => !isJunction(n))
      .map((operand): QueryNode => ({ type: "not", operand, span: SPAN })),
    fc
      .array(
        tie("node").filter((n) => !isJunction(n)),
        { minLength: 2, maxLength: 4 },
      )
      .map((operands): QueryNode => ({ type: "and", operands, span: SPAN })),
    fc
      .array(
        tie("node").filter((n) => n.type !== "or"),
        { minLength: 2, maxLength: 4 },
      )
      .map((operands): QueryNode => ({ type: "or", operands, span: SPAN })),
  ),
})).node;

const scalar = fc.oneof(
  fc.string({ unit: anyChar, maxLength: 6 }),
  fc.constantFrom("LOGIN", "FAILURE", "2026-11-26T12:00:00.000Z", "alice", "", "a*b"),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

/** Event-like objects: the usual sections with random values, and random extra keys. */
export const eventArb: fc.Arbitrary<unknown> = fc.record({
  action: fc.record({ type: scalar, category: scalar }),
  result: fc.record({ status: scalar, duration_ms: scalar }),
  actor: fc.option(fc.record({ username: scalar, roles: fc.array(scalar, { maxLength: 3 }) }), {
    nil: undefined,
  }),
  timestamp: scalar,
  x: fc.option(fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(segment, scalar)), {
    nil: undefined,
  }),
});

/** Throws unless only `QuerySyntaxError` escapes `parse(query)`. Returns the tree or null. */
export function parseOrSyntaxError(query: string): QueryNode | null {
  try {
    return parse(query);
  } catch (error) {
    if (error instanceof QuerySyntaxError) {
      if (!(error.offset >= 0 && error.offset <= query.length))
        throw new Error(`offset out of range for ${query}`);
      return null;
    }
    throw error;
  }
}

/** The properties checked by the unit tests (briefly) and by this script (for a time budget). */
export const properties = {
  onlySyntaxErrors: fc.property(fc.oneof(fc.string({ unit: anyChar, maxLength: 40 }), queryish), (q) => {
    parseOrSyntaxError(q);
  }),
  printsParsedQueries: fc.property(queryish, (q) => {
    const ast = parseOrSyntaxError(q);
    if (ast === null) return;
    const printed = serialize(ast);
    const again = parse(printed);
    if (JSON.stringify(stripSpans(again)) !== JSON.stringify(stripSpans(ast))) {
      throw new Error(`round trip changed the tree: ${JSON.stringify(q)} -> ${JSON.stringify(printed)}`);
    }
    if (serialize(again) !== printed) throw new Error(`printing is not idempotent for ${JSON.stringify(q)}`);
  }),
  roundTripsTrees: fc.property(astArb, (ast) => {
    const printed = serialize(ast);
    const back = parse(printed);
    if (JSON.stringify(stripSpans(back)) !== JSON.stringify(stripSpans(ast))) {
      throw new Error(`round trip changed the tree printed as ${JSON.stringify(printed)}`);
    }
  }),
  evaluatesConsistently: fc.property(astArb, eventArb, (ast, event) => {
    const yes = evaluate(ast, event);
    const no = evaluate({ type: "not", operand: ast, span: SPAN }, event);
    if (yes === no) throw new Error("a query and its negation agree");
    const reparsed = evaluate(parse(serialize(ast)), event);
    if (reparsed !== yes) throw new Error(`printing changed the meaning of ${serialize(ast)}`);
  }),
};

/**
 * Fastest time in milliseconds of `fn` over `runs` runs: the run least disturbed by
 * garbage collection and by other processes, which is what measures the algorithm.
 */
function timeRuns(fn: () => unknown, runs = 15): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** Fastest parse time of `query` in milliseconds. */
function timeParse(query: string): number {
  return timeRuns(() => parseOrSyntaxError(query));
}

/** Builds a query of about `length` characters by repeating `unit`, wrapped by `wrap`. */
function repeatTo(length: number, unit: string, wrap: (body: string) => string = (b) => b): string {
  return wrap(unit.repeat(Math.max(1, Math.floor(length / unit.length))));
}

/** Query shapes for the linearity check: each takes a target length. */
export const shapes: Readonly<Record<string, (length: number) => string>> = {
  "long AND chain": (n) => repeatTo(n, "action.type:LOGIN AND ", (b) => `${b}x:y`),
  "implicit AND of bare words": (n) => repeatTo(n, "alpha beta ", (b) => b.trim()),
  "nested parens to the limit": (n) => {
    const depth = MAX_QUERY_DEPTH - 1;
    const inner = `${"(".repeat(depth)}a${")".repeat(depth)}`;
    return repeatTo(n, `${inner} OR `, (b) => `${b}z`);
  },
  "long phrase": (n) => `"${'lorem \\"ipsum\\" '.repeat(Math.floor(n / 18))}"`,
  "many wildcards": (n) => repeatTo(n, "a*b?c* ", (b) => `msg:${b.replace(/ /g, "\\ ")}x`),
  "wildcard terms": (n) => repeatTo(n, "user:al*ce?x ", (b) => b.trim()),
  "ranges and comparisons": (n) => repeatTo(n, "d:[1 TO 5} n:>=2026-11-26T12:00 ", (b) => b.trim()),
  "escapes in one word": (n) => repeatTo(n, "\\:\\(\\*", (b) => `w${b}`),
  "unclosed quote (error)": (n) => `a "${"x".repeat(n)}`,
  "deep NOT chain (error)": (n) => repeatTo(n, "NOT "),
};

/** Runs the linearity check; returns the worst ratio. */
export function linearity(log: (line: string) => void): number {
  let worst = 0;
  for (const [name, build] of Object.entries(shapes)) {
    const small = build(10_000);
    const large = build(100_000);
    // Warm up so that the JIT does not count against the small input.
    for (let i = 0; i < 5; i++) {
      parseOrSyntaxError(small);
      parseOrSyntaxError(large);
    }
    const smallMs = timeParse(small);
    const largeMs = timeParse(large);
    const ratio = largeMs / smallMs;
    const sizeRatio = large.length / small.length;
    worst = Math.max(worst, ratio / (sizeRatio / 10));
    log(
      `  ${name.padEnd(30)} ${String(small.length).padStart(7)} -> ${String(large.length).padStart(7)} chars: ` +
        `${smallMs.toFixed(3)} ms -> ${largeMs.toFixed(3)} ms, ratio ${ratio.toFixed(1)}x`,
    );
  }
  return worst;
}

/** Wildcard patterns against values of growing length: the matcher never backtracks. */
export function matchLinearity(log: (line: string) => void): number {
  const cases: [name: string, pattern: string, value: (n: number) => string][] = [
    ["many stars, no match", "*a*b*a*b*a*b*a*b*a*b*c", (n) => "ab".repeat(n / 2)],
    ["many stars, match", "a*b*a*b*a*b*a*b*a*b", (n) => "ab".repeat(n / 2)],
    ["? runs between stars", "*a??b*a??b*z", (n) => "a12b".repeat(n / 4)],
    ["suffix after a star", "*x", (n) => "y".repeat(n)],
  ];
  let worst = 0;
  for (const [name, pattern, value] of cases) {
    const match = compileWildcard(pattern);
    const small = value(10_000);
    const large = value(100_000);
    for (let i = 0; i < 5; i++) {
      match(small);
      match(large);
    }
    const smallMs = timeRuns(() => match(small));
    const largeMs = timeRuns(() => match(large));
    const ratio = largeMs / smallMs;
    worst = Math.max(worst, ratio);
    log(
      `  ${name.padEnd(30)} ${smallMs.toFixed(3)} ms -> ${largeMs.toFixed(3)} ms, ratio ${ratio.toFixed(1)}x`,
    );
  }
  return worst;
}

function main(): void {
  const budgetSeconds = Number(process.argv[2] ?? 60);
  const entries = Object.entries(properties);
  const share = (budgetSeconds * 1000) / entries.length;
  console.log(`fuzzing for ${budgetSeconds} s (${(share / 1000).toFixed(0)} s per property)`);
  let failed = false;
  for (const [name, property] of entries) {
    // The properties differ in their argument types; the runner does not care.
    const details = fc.check(property as unknown as fc.IProperty<unknown[]>, {
      numRuns: Number.MAX_SAFE_INTEGER,
      interruptAfterTimeLimit: share,
      markInterruptAsFailure: false,
    });
    const runs = details.numRuns;
    if (details.failed) {
      failed = true;
      console.log(`  ${name}: FAILED after ${runs} runs\n${fc.defaultReportMessage(details)}`);
    } else {
      console.log(`  ${name}: ${runs} runs, no failure`);
    }
  }
  console.log("linearity (parse time, 10,000 vs 100,000 characters):");
  const worst = linearity((line) => console.log(line));
  console.log(`worst ratio, normalized to a 10x size increase: ${worst.toFixed(1)}x (limit 15x)`);
  console.log("linearity (wildcard match of one value, 10,000 vs 100,000 characters):");
  const worstMatch = matchLinearity((line) => console.log(line));
  console.log(`worst ratio: ${worstMatch.toFixed(1)}x (limit 15x)`);
  if (worst > 15 || worstMatch > 15) failed = true;
  process.exitCode = failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
