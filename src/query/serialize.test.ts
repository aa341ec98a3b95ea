import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { properties, stripSpans } from "../../scripts/fuzz-query.js";
import type { QueryNode } from "./ast.js";
import { parse } from "./parse.js";
import { quotePhrase, serialize } from "./serialize.js";

const SPAN = { start: 0, end: 0 };
const lit = (field: string | null, text: string): QueryNode => ({
  type: "term",
  field,
  value: { kind: "literal", text },
  span: SPAN,
});

describe("serialize: canonical form", () => {
  it.each([
    ["action.type:LOGIN AND result.status:FAILURE", "action.type:LOGIN AND result.status:FAILURE"],
    ["type:LOGIN && status:FAILURE", "action.type:LOGIN AND result.status:FAILURE"],
    ["a b", "a AND b"],
    ["a || b", "a OR b"],
    ["-a !b", "NOT a AND NOT b"],
    ["NOT (a OR b)", "NOT (a OR b)"],
    ["(a OR b) c", "(a OR b) AND c"],
    ["a OR b c", "a OR b AND c"],
    ["status:(SUCCESS OR FAILURE)", "(result.status:SUCCESS OR result.status:FAILURE)"],
    ["", "*"],
    ["   ", "*"],
    ["*", "*"],
    ["actor.ip:*", "_exists_:actor.ip"],
    ["_exists_:user", "_exists_:actor.username"],
    ['"failed  login"', '"failed  login"'],
    ['msg:"say \\"hi\\" \\\\"', 'msg:"say \\"hi\\" \\\\"'],
    ['"\\a"', '"a"'],
    ["LOG*", "LOG*"],
    ["a\\*b?", "a\\*b?"],
    ["a\\\\*", "a\\\\*"],
    ["a\\:b", "a\\:b"],
    ["x:a:b", "x:a:b"],
    ["\\-a \\!b", "\\-a AND \\!b"],
    ["x:-5", "x:-5"],
    ["\\AND \\OR \\NOT", "\\AND AND \\OR AND \\NOT"],
    ["x:AND", "x:AND"],
    ["\\&&a", "\\&&a"],
    ["a\\ b", "a\\ b"],
    ["x:\\>5 x:\\[a", "x:\\>5 AND x:\\[a"],
    ["x:\\*", "x:\\*"],
    ["n:>100", "n:>100"],
    ["n:<=-1.5", "n:<=-1.5"],
    ["t:>=2026-11-26T12:00", "t:>=2026-11-26T12:00"],
    ['t:<"a b"', 't:<"a b"'],
    ['t:>""', 't:>""'],
    ["t:>\\=5", "t:>\\=5"],
    ["n:[1 TO 5]", "n:[1 TO 5]"],
    ["n:{1 TO 5]", "n:{1 TO 5]"],
    ["n:[* TO *}", "n:[* TO *}"],
    ['n:["a b" TO "c"]', 'n:["a b" TO c]'],
    ['n:[\\* TO "TO"]', "n:[\\* TO \\TO]"],
    ["n:[a\\]b TO c]", "n:[a\\]b TO c]"],
  ])("%j prints as %j", (query, expected) => {
    const printed = serialize(parse(query));
    expect(printed).toBe(expected);
    expect(stripSpans(parse(printed))).toEqual(stripSpans(parse(query)));
  });

  it('quotes phrases escaping only " and \\', () => {
    expect(quotePhrase('a "b" \\ c')).toBe('"a \\"b\\" \\\\ c"');
  });
});

describe("serialize: trees built by code", () => {
  it("adds the parentheses an OR inside an AND needs", () => {
    const tree: QueryNode = {
      type: "and",
      operands: [{ type: "or", operands: [lit(null, "a"), lit(null, "b")], span: SPAN }, lit("x", "y")],
      span: SPAN,
    };
    expect(serialize(tree)).toBe("(a OR b) AND x:y");
  });

  it("adds the parentheses an AND or OR under NOT needs", () => {
    const tree: QueryNode = {
      type: "not",
      operand: { type: "and", operands: [lit(null, "a"), lit(null, "b")], span: SPAN },
      span: SPAN,
    };
    expect(serialize(tree)).toBe("NOT (a AND b)");
  });

  it("prints nested junctions of the same kind flat, which means the same", () => {
    const tree: QueryNode = {
      type: "or",
      operands: [lit(null, "a"), { type: "or", operands: [lit(null, "b"), lit(null, "c")], span: SPAN }],
      span: SPAN,
    };
    expect(serialize(tree)).toBe("a OR b OR c");
  });

  it("prints degenerate junctions by their meaning", () => {
    expect(serialize({ type: "and", operands: [], span: SPAN })).toBe("*");
    expect(serialize({ type: "or", operands: [], span: SPAN })).toBe("NOT *");
    const single: QueryNode = {
      type: "and",
      operands: [
        {
          type: "and",
          operands: [{ type: "or", operands: [lit(null, "a"), lit(null, "b")], span: SPAN }],
          span: SPAN,
        },
        lit(null, "c"),
      ],
      span: SPAN,
    };
    expect(serialize(single)).toBe("(a OR b) AND c");
  });
});

describe("serialize: round trips (fast-check)", () => {
  it("parse(serialize(tree)) gives back generated trees", () => {
    fc.assert(properties.roundTripsTrees, { numRuns: 200 });
  });

  it("printing a parsed query reads back the same tree and prints the same text", () => {
    fc.assert(properties.printsParsedQueries, { numRuns: 200 });
  });
});
