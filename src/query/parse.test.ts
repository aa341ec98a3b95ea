import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { properties, stripSpans } from "../../scripts/fuzz-query.js";
import { ErrorCodes, QuerySyntaxError } from "../errors.js";
import type { QueryNode } from "./ast.js";
import { MAX_QUERY_DEPTH, parse } from "./parse.js";

/** The tree without spans, for compact expectations. */
const tree = (q: string) => stripSpans(parse(q));

const term = (field: string | null, text: string) => ({
  type: "term",
  field,
  value: { kind: "literal", text },
});
const phrase = (field: string | null, text: string) => ({
  type: "term",
  field,
  value: { kind: "phrase", text },
});
const wild = (field: string | null, pattern: string) => ({
  type: "term",
  field,
  value: { kind: "wildcard", pattern },
});

function syntaxError(q: string): QuerySyntaxError {
  try {
    parse(q);
  } catch (error) {
    if (error instanceof QuerySyntaxError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(q)} not to parse`);
}

describe("parse: terms", () => {
  it("action.type:LOGIN AND result.status:FAILURE", () => {
    expect(parse("action.type:LOGIN AND result.status:FAILURE")).toEqual({
      type: "and",
      operands: [
        {
          type: "term",
          field: "action.type",
          value: { kind: "literal", text: "LOGIN" },
          span: { start: 0, end: 17 },
        },
        {
          type: "term",
          field: "result.status",
          value: { kind: "literal", text: "FAILURE" },
          span: { start: 22, end: 43 },
        },
      ],
      span: { start: 0, end: 43 },
    });
  });

  it("field names take letters, digits, _, ., - and @ on any dotted path", () => {
    expect(tree("metadata.my-key_2.@x:v")).toEqual(term("metadata.my-key_2.@x", "v"));
    expect(tree("@timestamp:v")).toEqual(term("@timestamp", "v"));
  });

  it("resolves the aliases category, type, user, username and status", () => {
    expect(tree("category:SECURITY")).toEqual(term("action.category", "SECURITY"));
    expect(tree("type:LOGIN")).toEqual(term("action.type", "LOGIN"));
    expect(tree("user:alice")).toEqual(term("actor.username", "alice"));
    expect(tree("username:alice")).toEqual(term("actor.username", "alice"));
    expect(tree("status:FAILURE")).toEqual(term("result.status", "FAILURE"));
    expect(tree("_exists_:user")).toEqual({ type: "exists", field: "actor.username" });
  });

  it("a bare word is a term without a field", () => {
    expect(parse("alice")).toEqual({
      type: "term",
      field: null,
      value: { kind: "literal", text: "alice" },
      span: { start: 0, end: 5 },
    });
  });

  it("lower-case and/or/not are ordinary words", () => {
    expect(tree("a and b")).toEqual({
      type: "and",
      operands: [term(null, "a"), term(null, "and"), term(null, "b")],
    });
    expect(tree("not")).toEqual(term(null, "not"));
  });

  it("keywords inside words, or escaped, are words", () => {
    expect(tree("ANDROID")).toEqual(term(null, "ANDROID"));
    expect(tree("\\AND")).toEqual(term(null, "AND"));
    expect(tree("x:AND")).toEqual(term("x", "AND"));
  });

  it("a word after field: may contain ':' (times) and starts right after the colon", () => {
    expect(tree("at:12:30")).toEqual(term("at", "12:30"));
    expect(tree("n:-5")).toEqual(term("n", "-5"));
  });

  it('"quoted phrases" keep spaces and resolve \\" and \\\\', () => {
    expect(tree('"failed login"')).toEqual(phrase(null, "failed login"));
    expect(tree('msg:"say \\"hi\\" \\\\ now"')).toEqual(phrase("msg", 'say "hi" \\ now'));
    expect(tree('"a*b?"')).toEqual(phrase(null, "a*b?"));
    expect(tree('""')).toEqual(phrase(null, ""));
  });

  it("backslash escapes any character in a bare word", () => {
    expect(tree("a\\:b")).toEqual(term(null, "a:b"));
    expect(tree("\\(x\\)")).toEqual(term(null, "(x)"));
    expect(tree("a\\ b")).toEqual(term(null, "a b"));
    expect(tree("\\-x")).toEqual(term(null, "-x"));
    expect(tree("a\\*")).toEqual(term(null, "a*"));
  });

  it("* and ? make a wildcard; escaped ones stay in the pattern as \\* and \\?", () => {
    expect(tree("LOG*")).toEqual(wild(null, "LOG*"));
    expect(tree("user:al?ce")).toEqual(wild("actor.username", "al?ce"));
    expect(tree("a\\*b*")).toEqual(wild(null, "a\\*b*"));
    expect(tree("a\\\\b?")).toEqual(wild(null, "a\\\\b?"));
    expect(tree("a\\:b*")).toEqual(wild(null, "a:b*"));
  });

  it("a lone *, an empty and a blank query match all", () => {
    expect(parse("*")).toEqual({ type: "all", span: { start: 0, end: 1 } });
    expect(parse("")).toEqual({ type: "all", span: { start: 0, end: 0 } });
    expect(parse(" \t\n ")).toEqual({ type: "all", span: { start: 0, end: 4 } });
    expect(tree("**")).toEqual(wild(null, "**"));
  });

  it("field:* means _exists_:field", () => {
    expect(parse("actor.ip:*")).toEqual({ type: "exists", field: "actor.ip", span: { start: 0, end: 10 } });
    expect(tree("_exists_:actor.ip")).toEqual({ type: "exists", field: "actor.ip" });
    expect(tree("x:\\*")).toEqual(term("x", "*"));
  });
});

describe("parse: comparisons and ranges", () => {
  it.each([">", ">=", "<", "<="] as const)("result.duration_ms:%s100", (op) => {
    expect(parse(`result.duration_ms:${op}100`)).toEqual({
      type: "compare",
      field: "result.duration_ms",
      op,
      value: "100",
      span: { start: 0, end: 22 + op.length },
    });
  });

  it("comparison values may be dates, negative numbers or phrases", () => {
    expect(tree("timestamp:>=2026-11-26T12:00")).toEqual({
      type: "compare",
      field: "timestamp",
      op: ">=",
      value: "2026-11-26T12:00",
    });
    expect(tree("n:<-1.5")).toEqual({ type: "compare", field: "n", op: "<", value: "-1.5" });
    expect(tree('t:<"2026-11-26 12:00"')).toEqual({
      type: "compare",
      field: "t",
      op: "<",
      value: "2026-11-26 12:00",
    });
  });

  it("[a TO b] is inclusive, {a TO b} exclusive, and brackets may mix", () => {
    expect(parse("n:[1 TO 5]")).toEqual({
      type: "range",
      field: "n",
      min: "1",
      max: "5",
      minInclusive: true,
      maxInclusive: true,
      span: { start: 0, end: 10 },
    });
    expect(tree("n:{1 TO 5}")).toMatchObject({ minInclusive: false, maxInclusive: false });
    expect(tree("n:[1 TO 5}")).toMatchObject({ minInclusive: true, maxInclusive: false });
    expect(tree("n:{1 TO 5]")).toMatchObject({ minInclusive: false, maxInclusive: true });
  });

  it("* leaves a side of a range open; a quoted or escaped * is a value", () => {
    expect(tree("n:[* TO 5]")).toMatchObject({ min: null, max: "5" });
    expect(tree("n:[1 TO *]")).toMatchObject({ min: "1", max: null });
    expect(tree('n:[\\* TO "*"]')).toMatchObject({ min: "*", max: "*" });
  });

  it("range bounds may be phrases and be spaced freely", () => {
    expect(tree('t:[  "a b"   TO   2026-11-27T00:00Z ]')).toMatchObject({
      min: "a b",
      max: "2026-11-27T00:00Z",
    });
  });
});

describe("parse: operators", () => {
  const a = term(null, "a");
  const b = term(null, "b");
  const c = term(null, "c");

  it("AND, && and juxtaposition are AND, flattened", () => {
    const expected = { type: "and", operands: [a, b, c] };
    expect(tree("a AND b AND c")).toEqual(expected);
    expect(tree("a && b &&c")).toEqual(expected);
    expect(tree("(a)&&(b)&&c")).toEqual({
      type: "and",
      operands: [{ type: "group", expression: a }, { type: "group", expression: b }, c],
    });
    expect(tree("a b c")).toEqual(expected);
    expect(tree("a AND b c")).toEqual(expected);
  });

  it("OR and || are OR, flattened", () => {
    const expected = { type: "or", operands: [a, b, c] };
    expect(tree("a OR b OR c")).toEqual(expected);
    expect(tree("a || b ||c")).toEqual(expected);
    // As in Lucene, `&` and `|` are word characters: operators stand at the start of a token.
    expect(tree("b||c")).toEqual(term(null, "b||c"));
  });

  it("NOT, - and ! negate", () => {
    for (const q of ["NOT a", "-a", "!a", "- a"]) expect(tree(q)).toEqual({ type: "not", operand: a });
    expect(tree("NOT NOT a")).toEqual({ type: "not", operand: { type: "not", operand: a } });
    expect(tree("a -b")).toEqual({ type: "and", operands: [a, { type: "not", operand: b }] });
    expect(tree("a-b")).toEqual(term(null, "a-b"));
  });

  it("NOT binds tighter than AND, AND tighter than OR", () => {
    expect(tree("NOT a AND b OR c")).toEqual({
      type: "or",
      operands: [{ type: "and", operands: [{ type: "not", operand: a }, b] }, c],
    });
    expect(tree("a OR b AND c")).toEqual({ type: "or", operands: [a, { type: "and", operands: [b, c] }] });
  });

  it("parentheses group and are kept in the tree", () => {
    expect(parse("(a OR b) c")).toEqual({
      type: "and",
      operands: [
        {
          type: "group",
          expression: {
            type: "or",
            operands: [
              {
                type: "term",
                field: null,
                value: { kind: "literal", text: "a" },
                span: { start: 1, end: 2 },
              },
              {
                type: "term",
                field: null,
                value: { kind: "literal", text: "b" },
                span: { start: 6, end: 7 },
              },
            ],
            span: { start: 1, end: 7 },
          },
          span: { start: 0, end: 8 },
        },
        { type: "term", field: null, value: { kind: "literal", text: "c" }, span: { start: 9, end: 10 } },
      ],
      span: { start: 0, end: 10 },
    });
    expect(tree("NOT(a)")).toEqual({ type: "not", operand: { type: "group", expression: a } });
    expect(tree("((a))")).toEqual({ type: "group", expression: { type: "group", expression: a } });
  });

  it("field:(a OR b) applies the field to every value inside", () => {
    expect(tree("status:(SUCCESS OR -FAILURE) ")).toEqual({
      type: "group",
      expression: {
        type: "or",
        operands: [
          term("result.status", "SUCCESS"),
          { type: "not", operand: term("result.status", "FAILURE") },
        ],
      },
    });
    expect(tree('n:(>5 "x y" [1 TO 2] *)')).toEqual({
      type: "group",
      expression: {
        type: "and",
        operands: [
          { type: "compare", field: "n", op: ">", value: "5" },
          phrase("n", "x y"),
          { type: "range", field: "n", min: "1", max: "2", minInclusive: true, maxInclusive: true },
          { type: "exists", field: "n" },
        ],
      },
    });
  });

  it("inside a field group every word is a value of that field, colons included", () => {
    expect(tree("at:(12:30 OR (13:00))")).toEqual({
      type: "group",
      expression: {
        type: "or",
        operands: [term("at", "12:30"), { type: "group", expression: term("at", "13:00") }],
      },
    });
  });

  it("accepts any whitespace between tokens", () => {
    expect(tree("\ta\n\r\u00a0AND\u3000b ")).toEqual({ type: "and", operands: [a, b] });
  });
});

describe("parse: errors name the position", () => {
  const cases: [query: string, message: string, offset: number, line: number, column: number][] = [
    ["action.type:", "expected a value after 'action.type:'", 12, 1, 13],
    ["action.type: LOGIN", "expected a value after 'action.type:'", 12, 1, 13],
    ['msg:"unfinished', "unclosed quote", 4, 1, 5],
    ["a OR b)", "unbalanced ')'", 6, 1, 7],
    ["(a OR b", "unclosed '('", 0, 1, 1],
    ["n:[1 5]", "expected TO in range", 5, 1, 6],
    ["n:[1 TO 5", "unclosed range: expected ']' or '}'", 9, 1, 10],
    ["n:[1 TO 5 6]", "expected ']' or '}' to close the range", 10, 1, 11],
    ["n:[TO 5]", "expected a range bound before 'TO'", 3, 1, 4],
    ["n:[a* TO 5]", "wildcards are not allowed in a range bound (use * alone for an open side)", 3, 1, 4],
    ["a AND", "expected an expression after 'AND'", 5, 1, 6],
    ["a AND OR b", "expected an expression after 'AND'", 6, 1, 7],
    ["OR a", "expected an expression before 'OR'", 0, 1, 1],
    ["a NOT", "expected an expression after 'NOT'", 5, 1, 6],
    ["-", "expected an expression after '-'", 1, 1, 2],
    ["n:>", "expected a value after 'n:>'", 3, 1, 4],
    ["n:>=a*", "wildcards are not allowed in a comparison (escape them as \\* and \\?)", 4, 1, 5],
    ["abc\\", "expected a character after '\\'", 3, 1, 4],
    ["_exists_:", "expected a field name after '_exists_:'", 9, 1, 10],
    ["_exists_:a/b", "'/' is not allowed in a field name", 10, 1, 11],
    ["a..b:c", "invalid field 'a..b': empty path segment", 0, 1, 1],
    ['foo"bar', "unexpected '\"' inside a word: escape it as \\\" or quote the whole value", 3, 1, 4],
    ['"a"b', "expected whitespace, an operator or ')' after the closing quote", 3, 1, 4],
    ["()", "expected an expression inside '()'", 1, 1, 2],
    ["type:login AND\n  (status:x OR", "expected an expression after 'OR'", 29, 2, 15],
    ["a\nb\n c:", "expected a value after 'c:'", 7, 3, 4],
  ];

  it.each(cases)("%j: %s", (query, message, offset, line, column) => {
    const error = syntaxError(query);
    expect(error.code).toBe(ErrorCodes.QUERY_SYNTAX);
    expect(error.message.split("\n")[0]).toBe(`${message} at line ${line}, column ${column}`);
    expect({ offset: error.offset, line: error.line, column: error.column, query: error.query }).toEqual({
      offset,
      line,
      column,
      query,
    });
  });

  it(`accepts ${MAX_QUERY_DEPTH} levels of nesting and rejects one more`, () => {
    const deep = (n: number) => `${"(".repeat(n)}a${")".repeat(n)}`;
    expect(parse(deep(MAX_QUERY_DEPTH)).type).toBe("group");
    const error = syntaxError(deep(MAX_QUERY_DEPTH + 1));
    expect(error.offset).toBe(MAX_QUERY_DEPTH);
    expect(error.message).toMatch(/^query nested too deeply \(more than 256 levels/);
  });

  it("limits NOT chains too, and deep nesting of 100,000 levels gives a syntax error, not a stack overflow", () => {
    expect(syntaxError("NOT ".repeat(100_000) + "a").offset).toBe(MAX_QUERY_DEPTH * 4);
    expect(syntaxError("-".repeat(100_000) + "a").offset).toBe(MAX_QUERY_DEPTH);
    expect(syntaxError("(".repeat(100_000)).offset).toBe(MAX_QUERY_DEPTH);
  });

  it("handles 100,000-character queries", () => {
    const long = Array.from({ length: 10_000 }, (_, i) => `f${i % 7}:v${i}`).join(" ");
    const node = parse(long) as Extract<QueryNode, { type: "and" }>;
    expect(node.operands).toHaveLength(10_000);
    expect(parse(`"${"x".repeat(100_000)}"`)).toMatchObject({ value: { text: "x".repeat(100_000) } });
  });

  it("treats NULs and lone surrogates as ordinary characters", () => {
    expect(tree("a\u0000b")).toEqual(term(null, "a\u0000b"));
    expect(tree("x:\uD800")).toEqual(term("x", "\uD800"));
    expect(tree('"\uDC00"')).toEqual(phrase(null, "\uDC00"));
  });

  it("lets only QuerySyntaxError escape, for any string (fast-check)", () => {
    fc.assert(properties.onlySyntaxErrors, { numRuns: 200 });
  });
});
