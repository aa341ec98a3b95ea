import { describe, expect, it } from "vitest";
import { checkRegexSource, findNestedQuantifier } from "./regex.js";

describe("checkRegexSource", () => {
  it("accepts ordinary patterns", () => {
    for (const source of [
      "\\b\\d{3}-\\d{2}-\\d{4}\\b",
      "api[_-]?key=\\S+",
      "^(?:foo|bar)+$",
      "(ab)+",
      "[(+*]+",
    ]) {
      expect(checkRegexSource(source), source).toBeUndefined();
    }
  });

  it("rejects a pattern that does not compile, with the engine's reason", () => {
    expect(checkRegexSource("(unclosed")).toMatch(/^it does not compile: .*Unterminated group/);
    expect(checkRegexSource("a{2,1}")).toMatch(/does not compile/);
  });

  it("rejects nested unbounded quantifiers", () => {
    expect(checkRegexSource("(a+)+")).toMatch(/"\(a\+\)\+" repeats something that itself repeats/);
  });
});

describe("findNestedQuantifier", () => {
  it("finds quantified groups holding unbounded quantifiers", () => {
    expect(findNestedQuantifier("^(\\w+\\s?)*$")).toBe("(\\w+\\s?)*");
    expect(findNestedQuantifier("(?:x*y){2,}")).toBe("(?:x*y){2,}");
    expect(findNestedQuantifier("((a)+b)*")).toBe("((a)+b)*");
    expect(findNestedQuantifier("(a+?)+?")).toBe("(a+?)+?");
  });

  it("ignores bounded repetition and quantifiers inside classes or escapes", () => {
    expect(findNestedQuantifier("(a+)?")).toBeUndefined();
    expect(findNestedQuantifier("(a+){1,3}")).toBeUndefined();
    expect(findNestedQuantifier("(a{1,3})+")).toBeUndefined();
    expect(findNestedQuantifier("([a+])+")).toBeUndefined();
    expect(findNestedQuantifier("(\\+)+")).toBeUndefined();
    expect(findNestedQuantifier("(a)+(b+)")).toBeUndefined();
  });
});
