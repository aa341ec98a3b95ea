import { describe, expect, test } from "vitest";
import { luhnValid, maskCardNumber } from "./index.js";
import { jsonRoundTrip, sanitizer } from "./test-helpers.js";

const s = sanitizer();
const only = (rule: string) => sanitizer({ redact_patterns: [rule] });

describe("password rule: keys", () => {
  test("replaces values under secret keys whatever their type", () => {
    const { value } = s.value({
      password: "hunter2",
      db_password: 1234,
      userPassword: null,
      "X-Api-Key": { nested: "k" },
      access_token: ["a", "b"],
      Authorization: "Bearer abc",
      "set-cookie": ["sid=1"],
      client_secret: true,
      credentials: { user: "u", pass: "p" },
    });
    expect(value).toEqual({
      password: "[REDACTED]",
      db_password: "[REDACTED]",
      userPassword: "[REDACTED]",
      "X-Api-Key": "[REDACTED]",
      access_token: "[REDACTED]",
      Authorization: "[REDACTED]",
      "set-cookie": "[REDACTED]",
      client_secret: "[REDACTED]",
      credentials: "[REDACTED]",
    });
  });

  test("leaves author, authority and other look-alikes untouched", () => {
    const input = { author: "bob", authority: "ca", tokens: 5, max_tokens: 10, keyboard: "qwerty" };
    expect(s.value(input).value).toEqual(input);
  });

  test("finds secret keys inside nested arrays and Maps", () => {
    const { value } = s.value({
      users: [[{ name: "a", password: "x" }], [{ name: "b", pwd: "y" }]],
      headers: new Map([["Authorization", "Basic dXNlcjpwYXNz"]]),
    });
    expect(value).toEqual({
      users: [[{ name: "a", password: "[REDACTED]" }], [{ name: "b", pwd: "[REDACTED]" }]],
      headers: { Authorization: "[REDACTED]" },
    });
  });

  test("never invokes the getter of a secret key", () => {
    let reads = 0;
    const input = {
      get password() {
        reads++;
        return "hunter2";
      },
    };
    expect(s.value(input).value).toEqual({ password: "[REDACTED]" });
    expect(reads).toBe(0);
  });

  test("uses the configured replacement", () => {
    const custom = sanitizer({ replacement: "***" });
    expect(custom.value({ secret: "x" }).value).toEqual({ secret: "***" });
    expect(custom.text("password=x")).toBe("password=***");
  });

  test("key() reports secret keys", () => {
    expect(s.key("db_password")).toBe(true);
    expect(s.key("X-Api-Key")).toBe(true);
    expect(s.key("author")).toBe(false);
  });
});

describe("password rule: inside strings", () => {
  test.each([
    ["password=hunter2", "password=[REDACTED]"],
    ["login?user=bob&password=hunter2&next=/", "login?user=bob&password=[REDACTED]&next=/"],
    ["pwd: hunter2 rest", "pwd: [REDACTED] rest"],
    ["token=abc.def", "token=[REDACTED]"],
    ["API_KEY = 'k-123'", "API_KEY = '[REDACTED]'"],
    ['{"password":"se\\"cret","user":"bob"}', '{"password":"[REDACTED]","user":"bob"}'],
    ['{\\"password\\":\\"secret\\"}', '{\\"password\\":\\"[REDACTED]\\"}'],
    ["db_password: s3cret", "db_password: [REDACTED]"],
    ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "Authorization: Bearer [REDACTED]"],
    ["Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic [REDACTED]"],
    ["Cookie: sid=abc; theme=dark\nnext", "Cookie: [REDACTED]\nnext"],
    ["sent Bearer abcDEF123456 upstream", "sent Bearer [REDACTED] upstream"],
    ["header Basic dXNlcjpwYXNz", "header Basic [REDACTED]"],
    ["postgres://user:secret@db.example.com:5432/app", "postgres://user:[REDACTED]@db.example.com:5432/app"],
    ["mongodb://u:p@ss@host/db", "mongodb://u:[REDACTED]@host/db"],
  ])("%s", (input, expected) => {
    expect(only("password").text(input)).toBe(expected);
  });

  test.each([
    "author: bob",
    "tokens=5",
    "password is required",
    "the bearer instrument",
    "Basic authentication",
    "see https://user@example.com/page",
    "http://example.com:8080/path",
  ])("leaves %s alone", (input) => {
    expect(only("password").text(input)).toBe(input);
  });
});

describe("credit_card rule", () => {
  test.each([
    ["4111111111111111", "************1111"],
    ["card 4111 1111 1111 1111 ok", "card **** **** **** 1111 ok"],
    ["5555-5555-5555-4444", "****-****-****-4444"],
    ["amex 3782 822463 10005", "amex **** ****** *0005"],
    ["378282246310005", "***********0005"],
    ["6011111111111117.", "************1117."],
  ])("masks %s", (input, expected) => {
    expect(only("credit_card").text(input)).toBe(expected);
  });

  test.each([
    ["a Luhn failure", "4111 1111 1111 1112"],
    ["an epoch timestamp in ms", "1732622400123"],
    ["too short", "411111111111"],
    ["part of a longer number", "41111111111111110000"],
    ["odd grouping", "2024-01-15-1234567"],
    ["an order id that is not a card", "order 1234567890123"],
  ])("leaves %s alone", (_what, input) => {
    expect(only("credit_card").text(input)).toBe(input);
  });

  test("masks card numbers held in JS numbers and BigInts under any key", () => {
    const { value } = only("credit_card").value({
      n: 4111111111111111,
      list: [5555555555554444],
      b: 4111111111111111n,
    });
    expect(value).toEqual({ n: "************1111", list: ["************4444"], b: "************1111" });
  });

  test("leaves other numbers alone", () => {
    const input = { ts: 1732622400123, n: 4111111111111112, small: 42, f: 4.5 };
    expect(only("credit_card").value(input).value).toEqual(input);
  });

  test("luhnValid and maskCardNumber", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
    expect(maskCardNumber("4111-1111-1111-1111")).toBe("****-****-****-1111");
    expect(maskCardNumber("1111111111111117")).toBeUndefined();
  });
});

describe("ssn rule", () => {
  test.each([
    ["123-45-6789", "***-**-6789"],
    ["ssn: 123-45-6789, ok", "ssn: ***-**-6789, ok"],
  ])("masks %s", (input, expected) => {
    expect(only("ssn").text(input)).toBe(expected);
  });

  test.each([
    "2024-01-15",
    "555-123-4567",
    "000-12-3456",
    "666-12-3456",
    "900-12-3456",
    "123-00-4567",
    "123-45-0000",
    "1123-45-6789",
    "123-45-67890",
    "id-123-45-6789",
    "A123-45-6789",
  ])("leaves %s alone", (input) => {
    expect(only("ssn").text(input)).toBe(input);
  });
});

describe("email rule", () => {
  test.each([
    ["yannick.verrydt@example.com", "y***@example.com"],
    ["contact: a.b+tag@mail.example.org.", "contact: a***@mail.example.org."],
    ["<x@y.io>, <z_1@q.co.uk>", "<x***@y.io>, <z***@q.co.uk>"],
  ])("masks %s", (input, expected) => {
    expect(only("email").text(input)).toBe(expected);
  });

  test.each(["user@localhost", "@handle", "a@b", "no at sign"])("leaves %s alone", (input) => {
    expect(only("email").text(input)).toBe(input);
  });

  test("applies to keys too", () => {
    expect(only("email").value({ "alice@example.com": 1 }).value).toEqual({ "a***@example.com": 1 });
  });

  test("keeps both values when redacted keys collide", () => {
    const { value } = only("email").value({ "ab@example.com": 1, "ac@example.com": 2 });
    expect(value).toEqual({ "a***@example.com": 1, "a***@example.com (2)": 2 });
  });
});

describe("custom patterns and redact_keys", () => {
  test("a regex source replaces every match", () => {
    const custom = sanitizer({ redact_patterns: ["ACME-\\d+"] });
    expect(custom.text("ids ACME-1 and ACME-22")).toBe("ids [REDACTED] and [REDACTED]");
  });

  test("a /regex/flags entry keeps its flags", () => {
    const custom = sanitizer({ redact_patterns: ["/acme-\\d+/i"] });
    expect(custom.text("ids ACME-1 and acme-22")).toBe("ids [REDACTED] and [REDACTED]");
  });

  test("the replacement is literal, not a $ pattern", () => {
    const custom = sanitizer({ redact_patterns: ["(x)"], replacement: "$1$&" });
    expect(custom.text("axb")).toBe("a$1$&b");
  });

  test("a custom regex that fails on some input fails closed: the whole string is replaced", () => {
    const fragile = sanitizer({ redact_patterns: ["(?:a|b)+c"] });
    expect(fragile.value({ s: "ab".repeat(5_000_000) }).value).toEqual({ s: "[REDACTED]" });
    expect(fragile.text("abc and xyz")).toBe("[REDACTED] and xyz");
  });

  test("redact_keys match exactly and case-insensitively", () => {
    const custom = sanitizer({ redact_patterns: [], redact_keys: ["Internal_ID"] });
    expect(custom.value({ internal_id: 5, INTERNAL_ID: 6, internal_id_2: 7 }).value).toEqual({
      internal_id: "[REDACTED]",
      INTERNAL_ID: "[REDACTED]",
      internal_id_2: 7,
    });
    expect(custom.key("internal_id")).toBe(true);
    expect(custom.key("password")).toBe(false);
  });
});

describe("sanitization disabled", () => {
  const off = sanitizer({ enabled: false, redact_keys: ["x"] });

  test("redacts nothing", () => {
    const input = { password: "hunter2", card: 4111111111111111, note: "a@b.com 123-45-6789 token=x", x: 1 };
    expect(off.value(input).value).toEqual(input);
    expect(off.text("password=x")).toBe("password=x");
    expect(off.key("password")).toBe(false);
  });

  test("still makes values safe and limited", () => {
    const cyc: Record<string, unknown> = { n: 1n };
    cyc.self = cyc;
    const limited = sanitizer({ enabled: false }, { max_string_length: 4 });
    const { value, truncated } = limited.value({ cyc, s: "abcdef", bad: "\uD800" });
    expect(jsonRoundTrip(value)).toEqual({
      cyc: { n: "1", self: "[Circular]" },
      s: "abcd…[truncated 2 chars]",
      bad: "\uFFFD",
    });
    expect(truncated).toBe(true);
  });
});

describe("all rules together", () => {
  test("a string with several secrets", () => {
    const text = "user bob@example.com paid with 4111 1111 1111 1111 (ssn 123-45-6789), password=hunter2";
    expect(s.text(text)).toBe(
      "user b***@example.com paid with **** **** **** 1111 (ssn ***-**-6789), password=[REDACTED]",
    );
  });

  test("card numbers and SSNs are found among other digit runs", () => {
    expect(s.text("on 2024-01-15 at 10:20:30 paid 4111-1111-1111-1111, ref 123-45-6789; ip 10.0.0.1")).toBe(
      "on 2024-01-15 at 10:20:30 paid ****-****-****-1111, ref ***-**-6789; ip 10.0.0.1",
    );
  });

  test("the URL rule runs before the email rule", () => {
    expect(s.text("redis://admin:pw@cache.example.com")).toBe("redis://admin:[REDACTED]@cache.example.com");
  });

  test("error messages are redacted inside errors", () => {
    const { value } = s.value(new Error("login failed for alice@example.com with password=x"));
    expect(value).toEqual({
      type: "Error",
      message: "login failed for a***@example.com with password=[REDACTED]",
    });
  });
});
