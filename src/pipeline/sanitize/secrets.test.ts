import { describe, expect, test } from "vitest";
import {
  measure,
  ORDINARY,
  POSITIVES,
  sanitizedOrdinary,
  sanitizedSample,
} from "../../../test/fixtures/secrets/corpus.js";
import { toJsonLine } from "../../event/serialize.js";
import { isSecretLikeKeyName, looksRandom } from "./index.js";
import { secretReplacement } from "./secrets.js";
import { sanitizer } from "./test-helpers.js";

/** The `secrets` rule alone (no other rule listed; it is on by default). */
const secretsOnly = sanitizer({ redact_patterns: [] });
/** The seed's four patterns, as a new user writes them: secrets detection comes with them. */
const SEED = ["password", "credit_card", "ssn", "email"];
const seed = sanitizer({ redact_patterns: SEED });
const seedWithout = sanitizer({ redact_patterns: SEED, detect_secrets: false });

describe("recall on the corpus of synthetic secrets (test/fixtures/secrets/positives.jsonl)", () => {
  test("has at least 100 samples over every kind", () => {
    expect(POSITIVES.length).toBeGreaterThanOrEqual(100);
    expect(new Set(POSITIVES.map((p) => p.kind)).size).toBeGreaterThanOrEqual(25);
  });

  test.each(POSITIVES.map((p, i) => [i, p.kind, p] as const))(
    "#%i %s: the secret is replaced by [REDACTED:kind], the text around it kept",
    (_i, kind, p) => {
      if (p.key !== undefined) {
        expect(secretsOnly.value({ [p.key]: p.secret, other: "kept" }).value).toEqual({
          [p.key]: `[REDACTED:${kind}]`,
          other: "kept",
        });
      } else {
        expect(secretsOnly.text(`${p.before}${p.secret}${p.after}`)).toBe(
          `${p.before}[REDACTED:${kind}]${p.after}`,
        );
      }
      expect(sanitizedSample(seed, p)).not.toContain(p.secret);
    },
  );

  test("figures: every sample caught now; what the seed's four patterns caught before", () => {
    const now = POSITIVES.length - measure(seed).missed.length;
    const missedBefore = new Set(measure(seedWithout).missed);
    const before = POSITIVES.filter((p) => !missedBefore.has(p));
    const kinds = [...new Set(before.map((p) => p.kind))].sort();
    console.log(
      `secrets recall: ${now}/${POSITIVES.length} now (seed patterns + secrets); ` +
        `${before.length}/${POSITIVES.length} before (seed patterns alone: ${kinds.join(", ")})`,
    );
    expect(now).toBe(POSITIVES.length);
    // Before, only random values after `secret=`/`token=`-style names and under such keys were caught.
    expect(kinds).toEqual(["high_entropy"]);
  });
});

describe("false positives on the corpus of ordinary values (test/fixtures/secrets/ordinary.jsonl)", () => {
  test("has at least 300 values", () => {
    expect(ORDINARY.length).toBeGreaterThanOrEqual(300);
  });

  test.each(ORDINARY.map((o, i) => [i, o.key ?? "", o.value.slice(0, 60), o] as const))(
    "#%i %s %s: unchanged",
    (_i, _key, _value, o) => {
      expect(sanitizedOrdinary(secretsOnly, o)).toBe(o.value);
      // With the seed's patterns, turning secrets on changes nothing either.
      expect(sanitizedOrdinary(seed, o)).toBe(sanitizedOrdinary(seedWithout, o));
    },
  );

  test("figure: 0 of the ordinary values changed", () => {
    const { changed } = measure(secretsOnly);
    console.log(`secrets false positives: ${changed.length}/${ORDINARY.length}`);
    expect(changed).toEqual([]);
  });
});

describe("the secrets rule", () => {
  const JWT =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";
  const AWS_ID = "AKIAQWERTYUIOPASDF23";
  const PEM = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAwq3JjXkF0bJ9z4Q0pJ2sVh7Ztq8lJ4nX0aV\nq8lJ4nX0aVwq3JjXkF0bJ9z4Q0pJ2sVh7Zt==\n-----END RSA PRIVATE KEY-----`;

  test("is on by default, with the seed's patterns, and with no patterns at all", () => {
    for (const s of [sanitizer(), seed, secretsOnly]) {
      expect(s.text(`note ${JWT} ok`)).toBe("note [REDACTED:jwt] ok");
    }
  });

  test("listing it changes nothing; detect_secrets: false turns it off", () => {
    expect(sanitizer({ redact_patterns: ["secrets"] }).text(AWS_ID)).toBe("[REDACTED:aws_access_key]");
    const off = sanitizer({ detect_secrets: false });
    expect(off.text(`id ${AWS_ID}\n${PEM}`)).toBe(`id ${AWS_ID}\n${PEM}`);
    expect(off.value({ signing_key: "9f86d081884c7d659a2feaa0c55ad015" }).value).toEqual({
      signing_key: "9f86d081884c7d659a2feaa0c55ad015",
    });
  });

  test("is off with sanitization disabled", () => {
    expect(sanitizer({ enabled: false }).text(JWT)).toBe(JWT);
  });

  test("the replacement names the kind inside brackets; another replacement is written as is", () => {
    expect(sanitizer({ replacement: "<hidden>" }).text(AWS_ID)).toBe("<hidden>");
    expect(sanitizer({ replacement: "" }).text(`a ${AWS_ID} b`)).toBe("a  b");
    expect(sanitizer({ replacement: "[SECRET]" }).text(AWS_ID)).toBe("[SECRET:aws_access_key]");
    expect(secretReplacement("[REDACTED]")("private_key")).toBe("[REDACTED:private_key]");
  });

  test("redacts inside every string of an event: keys, nested values, error messages", () => {
    const err = new Error(`upstream rejected ${AWS_ID}`);
    const { value } = seed.value({ [`x-${AWS_ID}`]: 1, deep: [{ sql: `SELECT '${JWT}'` }], err });
    expect(value).toEqual({
      "x-[REDACTED:aws_access_key]": 1,
      deep: [{ sql: "SELECT '[REDACTED:jwt]'" }],
      err: { type: "Error", message: "upstream rejected [REDACTED:aws_access_key]" },
    });
    expect(seed.text(`boom: ${PEM}`)).toBe("boom: [REDACTED:private_key]");
  });

  test("the password rule keeps its places and its text; secrets finds what it left", () => {
    expect(seed.text(`Authorization: Bearer ${JWT}`)).toBe("Authorization: Bearer [REDACTED]");
    expect(seed.text(`token=${JWT}&next=${AWS_ID}`)).toBe("token=[REDACTED]&next=[REDACTED:aws_access_key]");
  });

  test("a private key block is replaced whole, a certificate beside it is kept", () => {
    const cert = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----";
    expect(seed.text(`${PEM}\n${cert}`)).toBe(`[REDACTED:private_key]\n${cert}`);
    expect(seed.text("expected -----BEGIN PRIVATE KEY----- here")).toBe(
      "expected -----BEGIN PRIVATE KEY----- here",
    );
  });

  test("tokens are whole words: a prefix inside a longer word is not a token", () => {
    const inside = `xAKIA${"B".repeat(16)}`;
    expect(secretsOnly.text(inside)).toBe(inside);
    const longer = `${AWS_ID}X`;
    expect(secretsOnly.text(longer)).toBe(longer);
  });

  test("random values under secret-like keys are replaced, words and ids under them kept", () => {
    const { value } = secretsOnly.value({
      signing_key: "q8Zr2LmX0vBn4TgW7yKc1HdJ",
      sort_key: "created_at",
      cache_key: "user:42:profile",
      keyboard: "q8Zr2LmX0vBn4TgW7yKc1HdJ",
    });
    expect(value).toEqual({
      signing_key: "[REDACTED:high_entropy]",
      sort_key: "created_at",
      cache_key: "user:42:profile",
      keyboard: "q8Zr2LmX0vBn4TgW7yKc1HdJ",
    });
  });

  test("a Map entry under a secret-like key is checked too", () => {
    const m = new Map([["hmac_key", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"]]);
    expect(secretsOnly.value(m).value).toEqual({ hmac_key: "[REDACTED:high_entropy]" });
  });

  test("looksRandom and isSecretLikeKeyName", () => {
    expect(looksRandom("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")).toBe(true);
    expect(looksRandom("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b")).toBe(true);
    expect(looksRandom("user_profile_settings_v2")).toBe(false);
    expect(looksRandom("CustomerOrdersByRegion2024")).toBe(false);
    expect(looksRandom("550e8400-e29b-41d4-a716-446655440000")).toBe(false);
    expect(looksRandom("short1A")).toBe(false);
    expect(isSecretLikeKeyName("encryption_key")).toBe(true);
    expect(isSecretLikeKeyName("AccountKey")).toBe(true);
    expect(isSecretLikeKeyName("keyboard_layout")).toBe(false);
    expect(isSecretLikeKeyName("monkey")).toBe(false);
  });
});

describe("adversarial strings run to completion (linear secret scanners)", () => {
  const MB = 1 << 20;
  test.each([
    ["jwt head, no dots", `eyJ${"a".repeat(MB)}`],
    ["jwt segments", `eyJ${"a".repeat(10)}${".eyJ".repeat(MB / 4)}`],
    ["many jwt starts", "eyJaaaaaaaaaaa. ".repeat(MB / 16)],
    ["private key headers", "-----BEGIN PRIVATE KEY-----".repeat(MB / 27)],
    ["private key without footer", `-----BEGIN RSA PRIVATE KEY-----\n${"A".repeat(MB)}`],
    ["footers without headers", "-----END PRIVATE KEY-----".repeat(MB / 25)],
    ["headers and bodies", "-----BEGIN EC PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAA ".repeat(MB / 52)],
    ["assignments", "key=".repeat(MB / 4)],
    ["quoted assignments", '"secret_key": "'.repeat(MB / 15)],
    ["long names", `${"a".repeat(MB)}_key=${"b".repeat(MB)}`],
    ["sig values", "&sig=".repeat(MB / 5)],
    ["aws prefixes", "AKIA".repeat(MB / 4)],
    ["aws ids run together", `AKIA${"A".repeat(MB)}`],
    ["github prefix, long body", `ghp_${"a".repeat(MB)}`],
    ["slack dashes", `xoxb-${"-".repeat(MB)}`],
    ["slack webhooks", "hooks.slack.com/services/".repeat(MB / 25)],
    ["openai prefixes", "sk- ".repeat(MB / 4)],
    ["openai body", `sk-${"a-".repeat(MB / 2)}`],
    ["sendgrid", `SG.${"a".repeat(MB)}`],
    ["word starts", "a ".repeat(MB / 2)],
    ["random under key", `signing_key=${"aZ9".repeat(MB / 3)}`],
  ])("%s", (_name, input) => {
    const result = sanitizer({}, { max_string_length: 4 * MB }).value({ note: input, signing_key: input });
    expect(typeof (result.value as { note: unknown }).note).toBe("string");
    expect(() => toJsonLine(result.value)).not.toThrow();
  });
});
