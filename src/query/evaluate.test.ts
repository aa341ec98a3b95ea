import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { properties } from "../../scripts/fuzz-query.js";
import type { AuditEvent } from "../event/types.js";
import { compileQuery, evaluate, parseNumberText } from "./evaluate.js";
import { parse } from "./parse.js";

const event = {
  schema_version: 1,
  id: "0192f0c4-0000-7000-8000-000000000001",
  timestamp: "2026-11-26T12:00:00.123Z",
  severity: "WARNING",
  security_event: true,
  application: {
    name: "traffictracer",
    version: "2.0.0",
    environment: "production",
    host: "web-1",
    pid: 4711,
  },
  actor: { id: "42", username: "Alice", ip: "10.0.0.7", roles: ["ADMIN", "ops"] },
  action: {
    type: "LOGIN",
    category: "SECURITY",
    method: "POST",
    resource: { type: "endpoint", path: "/api/v1/login" },
  },
  result: {
    status: "FAILURE",
    duration_ms: 150,
    http_status: 404,
    error: { type: "AuthError", message: "bad credentials for Éve" },
  },
  correlation: { request_id: "req-7" },
  params: { sql: "SELECT 1", params: [], nested: [[{ deep: "needle-in-a-haystack" }]] },
  metadata: {
    version: "2.0.0",
    code: "150",
    ratio: 1.5,
    empty: {},
    none: null,
    when: "2026-11-26T13:00:00+01:00",
    sign: "\u212A",
    emoji: "😀",
    tags: ["x", 7, true, null, { k: "v" }],
  },
} satisfies AuditEvent & Record<string, unknown>;

const cases: [query: string, matches: boolean][] = [
  // The seed's query and aliases.
  ["action.type:LOGIN AND result.status:FAILURE", true],
  ["action.type:LOGIN AND result.status:SUCCESS", false],
  ["type:login status:failure category:security user:alice", true],
  // field:value on strings: whole value, ASCII case folded only.
  ["action.type:login", true],
  ["action.type:LOG", false],
  ['result.error.message:"BAD CREDENTIALS FOR Éve"', true],
  ['result.error.message:"bad credentials for éve"', false],
  ["metadata.sign:k", false],
  ["metadata.sign:\u212A", true],
  // Numbers: numeric equality; string values compare as text.
  ["result.duration_ms:150", true],
  ["result.duration_ms:150.0", true],
  ["result.duration_ms:1.5e2", true],
  ['result.duration_ms:"150"', true],
  ["result.duration_ms:0x96", false],
  ["result.duration_ms:abc", false],
  ["metadata.code:150", true],
  ["metadata.code:150.0", false],
  // Booleans by name, ignoring case.
  ["security_event:TRUE", true],
  ["security_event:false", false],
  ["security_event:1", false],
  // Arrays: any element; objects, null and missing never match.
  ["actor.roles:admin", true],
  ["actor.roles:OPS", true],
  ["actor.roles:dev", false],
  ["metadata.tags:7", true],
  ["metadata.tags:true", true],
  ["metadata.tags:v", false],
  ["actor:alice", false],
  ["metadata.none:null", false],
  ["actor.missing:x", false],
  // Paths: own properties and array indexes only.
  ["actor.roles.0:admin", true],
  ["actor.roles.1:admin", false],
  ["actor.roles.length:2", false],
  ["_exists_:actor.roles.00", false],
  ["_exists_:constructor", false],
  ["_exists_:action.type.length", false],
  ["_exists_:metadata.__proto__", false],
  // Wildcards on a field: whole value, ASCII case folded, ? is one code point.
  ["user:al*", true],
  ["user:*ICE", true],
  ["user:l*", false],
  ["user:al?ce", true],
  ["user:al?e", false],
  ["user:*", true],
  ["metadata.emoji:?", true],
  ["metadata.emoji:??", false],
  ["result.http_status:4?4", true],
  ["result.http_status:5*", false],
  ["metadata.ratio:1.*", true],
  ["security_event:t*", false],
  ["actor.roles:o*", true],
  ["action.resource.path:/api/*/login", true],
  ["action.resource.path:\\/api\\*", false],
  // Bare terms: substring of any string or number anywhere, values not keys.
  ["lic", true],
  ["ALIC", true],
  ["username", false],
  ["4711", true],
  ["needle", true],
  ['"bad credentials"', true],
  ['"credentials bad"', false],
  ["zzz", false],
  ["éve", false],
  // Bare wildcards: whole value of some leaf.
  ["ali*", true],
  ["lic*", false],
  ["needle-*-haystack", true],
  ["4?11", true],
  // Comparisons: numbers numerically.
  ["result.duration_ms:>100", true],
  ["result.duration_ms:>150", false],
  ["result.duration_ms:>=150", true],
  ["result.duration_ms:<1e3", true],
  ["result.duration_ms:<=149.999", false],
  // ... a string value against a number bound compares as text.
  ["metadata.code:>1000", true],
  ["metadata.code:<2", true],
  // ... dates as instants, zones honoured, date-only = 00:00 UTC.
  ["timestamp:>=2026-11-26", true],
  ["timestamp:<2026-11-26", false],
  ["timestamp:>2026-11-26T12:00", true],
  ["timestamp:<=2026-11-26T12:00:00.123Z", true],
  ["timestamp:<2026-11-26T12:00:00.123Z", false],
  ["timestamp:<2026-11-26T13:00:01+01:00", true],
  ["metadata.when:>=2026-11-26T12:00Z", true],
  ["metadata.when:>2026-11-26T12:00Z", false],
  // ... otherwise strings by UTF-16 code units.
  ["actor.username:>Al", true],
  ["actor.username:>al", false],
  ["application.version:>=10.0.0", true],
  // ... arrays any element; booleans, objects, missing never.
  ["actor.roles:>n", true],
  ["actor.roles:>z", false],
  ["security_event:>a", false],
  ["actor:>a", false],
  ["actor.missing:>0", false],
  // Ranges.
  ["result.duration_ms:[100 TO 200]", true],
  ["result.duration_ms:[150 TO 200]", true],
  ["result.duration_ms:{150 TO 200]", false],
  ["result.duration_ms:[100 TO 150}", false],
  ["result.duration_ms:[100 TO 150]", true],
  ["result.duration_ms:[* TO 150]", true],
  ["result.duration_ms:[151 TO *]", false],
  ["result.duration_ms:[* TO *]", true],
  ["timestamp:[2026-11-26 TO 2026-11-27}", true],
  ["timestamp:[2026-11-25 TO 2026-11-26}", false],
  ["actor.username:[A TO B}", true],
  ["security_event:[* TO *]", false],
  ["actor.missing:[* TO *]", false],
  // _exists_: present and not null.
  ["_exists_:actor.ip", true],
  ["_exists_:metadata.empty", true],
  ["_exists_:params.params", true],
  ["_exists_:metadata.none", false],
  ["_exists_:actor.session_id", false],
  ["metadata.empty:*", true],
  // NOT, groups and match-all.
  ["NOT actor.session_id:x", true],
  ["-user:alice", false],
  ["NOT (user:bob OR status:success)", true],
  ["(user:bob OR user:alice) AND !status:success", true],
  ["*", true],
  ["", true],
  ["NOT *", false],
];

describe("evaluate", () => {
  it.each(cases)("%j → %s", (query, matches) => {
    expect(evaluate(parse(query), event)).toBe(matches);
    expect(compileQuery(parse(`NOT (${query || "*"})`))(event)).toBe(!matches);
  });

  it("filters a list of events with a query compiled once", () => {
    const make = (type: string, status: "SUCCESS" | "FAILURE", username: string) => ({
      ...event,
      action: { ...event.action, type },
      result: { ...event.result, status },
      actor: { ...event.actor, username },
    });
    const events = [
      make("LOGIN", "FAILURE", "alice"),
      make("LOGIN", "SUCCESS", "alice"),
      make("LOGOUT", "FAILURE", "bob"),
      make("LOGIN", "FAILURE", "bob"),
    ];
    const failedLogins = compileQuery(parse("action.type:LOGIN AND result.status:FAILURE"));
    expect(events.filter(failedLogins).map((e) => e.actor.username)).toEqual(["alice", "bob"]);
  });

  it("never throws on odd event shapes, and matches nothing in them but * and NOT", () => {
    const matcher = compileQuery(parse("a:b OR c:>1 OR d:[1 TO 2] OR _exists_:e OR f* OR g"));
    for (const odd of [null, undefined, 0, "a:b", [], [1], Object.create(null), { a: { b: null } }]) {
      expect(matcher(odd)).toBe(false);
    }
    expect(compileQuery(parse("*"))(null)).toBe(true);
    expect(compileQuery(parse("NOT a:b"))(undefined)).toBe(true);
  });

  it("reads objects without a prototype and keys named like Object methods", () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { constructor: "x" });
    expect(evaluate(parse("constructor:x"), bare)).toBe(true);
    expect(evaluate(parse("hasOwnProperty:*"), bare)).toBe(false);
    expect(evaluate(parse("__proto__:y"), JSON.parse('{"__proto__":"y"}'))).toBe(true);
  });

  it("skips NaN and infinite numbers as if absent from comparisons", () => {
    expect(evaluate(parse("n:>0"), { n: Number.POSITIVE_INFINITY })).toBe(false);
    expect(evaluate(parse("n:[* TO *]"), { n: Number.NaN })).toBe(false);
    expect(evaluate(parse("nan"), { n: Number.NaN })).toBe(false);
  });

  it("stops searching bare terms below 256 levels of nesting", () => {
    let deep: unknown = "needle";
    for (let i = 0; i < 300; i++) deep = { d: deep };
    expect(evaluate(parse("needle"), deep)).toBe(false);
    let shallow: unknown = "needle";
    for (let i = 0; i < 200; i++) shallow = [shallow];
    expect(evaluate(parse("needle"), shallow)).toBe(true);
  });

  it("a query and its negation never agree, and printing keeps the meaning (fast-check)", () => {
    fc.assert(properties.evaluatesConsistently, { numRuns: 200 });
  });
});

describe("parseNumberText", () => {
  it.each([
    ["42", 42],
    ["-1.5", -1.5],
    ["+3", 3],
    [".5", 0.5],
    ["5.", 5],
    ["1e3", 1000],
    ["1E-2", 0.01],
  ])("%j is %d", (text, value) => {
    expect(parseNumberText(text)).toBe(value);
  });

  it.each(["", " 1", "1 ", "0x10", "1_000", "Infinity", "NaN", "1e999", "--1", ".", "e5", "1e"])(
    "%j is not a number",
    (text) => {
      expect(parseNumberText(text)).toBeUndefined();
    },
  );
});
