import { describe, expect, test } from "vitest";
import type { LimitsConfig, SanitizationConfig } from "../../config/types.js";
import { ConfigError } from "../../errors.js";
import { compileSanitizer } from "./index.js";
import { ALL_RULES, LIMITS, sanitizer } from "./test-helpers.js";

function problemsOf(sanitization: Partial<SanitizationConfig>, limits: Partial<LimitsConfig> = {}) {
  try {
    compileSanitizer(
      { ...ALL_RULES, ...sanitization } as SanitizationConfig,
      { ...LIMITS, ...limits } as LimitsConfig,
    );
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("compileSanitizer validates its configuration", () => {
  test("detect_secrets must be a boolean, and not false while secrets is listed", () => {
    expect(problemsOf({ detect_secrets: "no" as unknown as boolean })).toEqual([
      { path: "vigil.processing.sanitization.detect_secrets", expected: "true or false", found: '"no"' },
    ]);
    expect(problemsOf({ redact_patterns: ["password", "secrets"], detect_secrets: false })).toEqual([
      {
        path: "vigil.processing.sanitization.detect_secrets",
        expected: "true when redact_patterns lists secrets",
        found: "false",
        hint: "remove secrets from redact_patterns, or detect_secrets: false",
      },
    ]);
  });

  test("an invalid regular expression names its index and the parser's message", () => {
    const [problem, ...rest] = problemsOf({ redact_patterns: ["password", "(unclosed"] });
    expect(rest).toEqual([]);
    expect(problem).toMatchObject({
      path: "vigil.processing.sanitization.redact_patterns[1]",
      expected: "one of password, credit_card, ssn, email, secrets, or a regular expression",
    });
    expect(problem!.found).toMatch(/^"\(unclosed" \(.*\)$/);
  });

  test("a regex that matches the empty string is rejected", () => {
    expect(problemsOf({ redact_patterns: ["a*"] })).toEqual([
      {
        path: "vigil.processing.sanitization.redact_patterns[0]",
        expected: "a regular expression that cannot match the empty string",
        found: '"a*"',
      },
    ]);
  });

  test("a misspelt rule name gets a suggestion instead of silently matching literal text", () => {
    const [problem] = problemsOf({ redact_patterns: ["creditcards"] });
    expect(problem).toMatchObject({
      path: "vigil.processing.sanitization.redact_patterns[0]",
      found: '"creditcards"',
      hint: 'did you mean "credit_card"? (to match the literal text, write "(?:creditcards)")',
    });
  });

  test("rule names are matched ignoring case, dashes and underscores", () => {
    const s = sanitizer({ redact_patterns: ["Credit-Card", "E_MAIL", "SSN", "PassWord"] });
    expect(s.text("4111111111111111 a@b.co 123-45-6789 pwd=x")).toBe(
      "************1111 a***@b.co ***-**-6789 pwd=[REDACTED]",
    );
  });

  test("every problem is listed at once, limits included", () => {
    const problems = problemsOf(
      {
        redact_patterns: ["[", 3 as unknown as string],
        redact_keys: [""],
        replacement: 1 as unknown as string,
      },
      { max_depth: -1, max_string_length: 1.5, max_entries: Number.POSITIVE_INFINITY },
    );
    expect(problems.map((p) => p.path)).toEqual([
      "vigil.processing.sanitization.replacement",
      "vigil.processing.sanitization.redact_patterns[0]",
      "vigil.processing.sanitization.redact_patterns[1]",
      "vigil.processing.sanitization.redact_keys[0]",
      "vigil.processing.limits.max_depth",
      "vigil.processing.limits.max_string_length",
      "vigil.processing.limits.max_entries",
    ]);
    expect(problems[4]).toEqual({
      path: "vigil.processing.limits.max_depth",
      expected: "an integer from 0 to 1000",
      found: "number -1",
    });
  });

  test("the default configuration compiles", () => {
    expect(() => compileSanitizer(ALL_RULES, LIMITS)).not.toThrow();
    expect(() => compileSanitizer({ ...ALL_RULES, redact_patterns: [] }, LIMITS)).not.toThrow();
  });
});

describe("text() and key() accept anything", () => {
  test("text() of a non-string input does not throw", () => {
    const s = sanitizer();
    expect(s.text(42 as unknown as string)).toBe("42");
    const hostile = {
      toString() {
        throw new Error("x");
      },
    };
    expect(s.text(hostile as unknown as string)).toBe("[Unreadable]");
  });

  test("text() cuts long messages and fixes lone surrogates", () => {
    const s = sanitizer({}, { max_string_length: 4 });
    expect(s.text("\uD800abcdef")).toBe("\uFFFDabc…[truncated 3 chars]");
  });
});
