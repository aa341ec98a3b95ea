import { describe, expect, it } from "vitest";
import type { QueryNode } from "../../query/ast.js";
import { parse } from "../../query/parse.js";
import {
  clipText,
  compileWhere,
  condSql,
  isExact,
  isSqlSafeText,
  jsonNeedle,
  type LeafCompiler,
  likePattern,
  sqlPath,
  UNKNOWN,
} from "./compile.js";
import { MysqlLeaves } from "./mysql.js";
import { PgLeaves } from "./postgres.js";
import { join, raw, render, type Sql, sql, typed } from "./sql.js";
import { SqliteLeaves } from "./sqlite.js";

const LEAVES: readonly [string, LeafCompiler, "question" | "dollar"][] = [
  ["sqlite", new SqliteLeaves(), "question"],
  ["postgresql", new PgLeaves(), "dollar"],
  ["mysql", new MysqlLeaves("COALESCE(line, event)"), "question"],
];

describe("the SQL fragment builder", () => {
  it("keeps values out of the text and numbers PostgreSQL placeholders in order", () => {
    const inner = sql`b = ${"x"} AND c = ${typed("text", "y")}`;
    const whole = sql`SELECT 1 WHERE a = ${1} AND ${inner} AND d = ${true}`;
    expect(render(whole, "dollar")).toEqual({
      text: "SELECT 1 WHERE a = $1 AND b = $2 AND c = $3::text AND d = $4",
      values: [1, "x", "y", "true"],
    });
    expect(render(whole, "question")).toEqual({
      text: "SELECT 1 WHERE a = ? AND b = ? AND c = ? AND d = ?",
      values: [1, "x", "y", 1],
    });
  });

  it("joins fragments with a separator", () => {
    const parts: Sql[] = [sql`a = ${1}`, raw("b IS NULL"), sql`c = ${2}`];
    expect(render(join(parts, " OR "), "dollar")).toEqual({
      text: "a = $1 OR b IS NULL OR c = $2",
      values: [1, 2],
    });
    expect(render(join([], ", "), "question")).toEqual({ text: "", values: [] });
  });
});

describe("compiler helpers", () => {
  it("clips text to code points without splitting a surrogate pair", () => {
    expect(clipText("abc", 2)).toBe("ab");
    expect(clipText("a😀b", 2)).toBe("a😀");
    expect(clipText("😀😀😀", 2)).toBe("😀😀");
    expect(clipText("short")).toBe("short");
  });

  it("knows which texts SQL compares like JavaScript", () => {
    expect(isSqlSafeText("é 😀 ok")).toBe(true);
    expect(isSqlSafeText("nul\u0000")).toBe(false);
    expect(isSqlSafeText("lone \ud800")).toBe(false);
    expect(isSqlSafeText("\udc00 lone low")).toBe(false);
  });

  it("translates wildcards into escaped, ASCII-lowered LIKE patterns", () => {
    expect(likePattern("Ab*c?")).toBe("ab%c_");
    expect(likePattern("100%_done!*")).toBe("100!%!_done!!%");
    expect(likePattern("a\\*b")).toBe("a*b");
    expect(likePattern("ÉTÉ*")).toBe("ÉtÉ%");
    expect(likePattern("x\u0000*")).toBeUndefined();
  });

  it("writes bare-term needles as they appear inside JSON text", () => {
    expect(jsonNeedle('he said "hi"')).toBe('he said \\"hi\\"');
    expect(jsonNeedle("back\\slash")).toBe("back\\\\slash");
    expect(jsonNeedle("nul\u0000")).toBe("nul\\u0000");
    expect(jsonNeedle("half \ud83d")).toBeUndefined();
  });

  it("lets only plain, non-index field paths reach SQL", () => {
    expect(sqlPath("actor.username")).toEqual(["actor", "username"]);
    expect(sqlPath("metadata.x-request.@type")).toEqual(["metadata", "x-request", "@type"]);
    for (const bad of ["actor.roles.0", "a.-1", "a') OR 1=1 --", 'a"b', "a b", "$.a", "a..b", "a.", ""]) {
      expect(sqlPath(bad)).toBeUndefined();
    }
  });
});

describe.each(LEAVES)("compiling queries for %s", (_name, leaves, style) => {
  const compile = (q: string | QueryNode) => compileWhere(typeof q === "string" ? parse(q) : q, leaves);

  it.each([
    "category:database",
    "user:alice AND type:login",
    "NOT (category:auth OR user:bob)",
    "timestamp:[2026-03-03 TO 2026-03-04}",
    "timestamp:>=2026-03-05T10:00+02:00",
    "*",
  ])("answers %j with SQL alone (exact)", (q) => {
    expect(isExact(compile(q))).toBe(true);
  });

  it.each([
    "alice",
    "user:ali*",
    "result.duration_ms:>100",
    "actor.roles:admin OR said",
    `user:${"x".repeat(300)}`,
  ])("leaves %j to the evaluator in part (not exact)", (q) => {
    expect(isExact(compile(q))).toBe(false);
  });

  it("swaps superset and subset under NOT", () => {
    const bare = compile("alice");
    expect(bare.sub).toBe(false);
    const negated = compile("NOT alice");
    expect(negated.sup).toBe(true);
    expect(negated.sub).not.toBe(false);
  });

  it("never lets a field name with SQL in it reach SQL", () => {
    const node: QueryNode = {
      type: "term",
      field: "actor.username') OR 1=1 --",
      value: { kind: "literal", text: "x" },
      span: { start: 0, end: 0 },
    };
    expect(compile(node)).toEqual(UNKNOWN);
  });

  it("binds every query value as a parameter", () => {
    const payload = "x' OR '1'='1'; DROP TABLE t; --";
    const pred = compile(
      `user:"${payload}" OR metadata.note:"${payload}" OR "${payload}" OR category:${"ab*"}`,
    );
    const rendered = render(condSql(pred.sup === true ? raw("1=1") : pred.sup), style);
    expect(rendered.text).not.toContain("DROP");
    expect(rendered.text).not.toContain("OR '1'");
    expect(JSON.stringify(rendered.values)).toContain("drop table t; --");
  });
});
