/** RFC 8785 canonical JSON and the event hash built on it. */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { canonicalize, canonicalSplit } from "../../src/integrity/canonical.js";
import { checkLine, eventHash, GENESIS, sealEvent } from "../../src/integrity/chain.js";

describe("canonicalize (RFC 8785)", () => {
  test("keeps a __proto__ key (so it is hashed), sorted like any other key, in any order", () => {
    expect(canonicalize(JSON.parse('{"__proto__":"","":0}'))).toBe('{"":0,"__proto__":""}');
    expect(canonicalize(JSON.parse('{"b":{"z":1,"__proto__":{"x":1}},"a":1}'))).toBe(
      '{"a":1,"b":{"__proto__":{"x":1},"z":1}}',
    );
    const split = canonicalSplit(JSON.parse('{"z":2,"__proto__":"p","a":1}'), "m");
    expect(`${split.head}"m":0${split.tail}`).toBe('{"__proto__":"p","a":1,"m":0,"z":2}');
  });

  test("sorts members by UTF-16 code units (RFC 8785 §3.2.3 example)", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  test("writes numbers in ECMAScript shortest form (RFC 8785 §3.2.2.3)", () => {
    expect(canonicalize([1e21, 1e-7, -0, 0.1, 333333333.3333333, 1e23, 5e-324, 4.5, 2 ** 53])).toBe(
      "[1e+21,1e-7,0,0.1,333333333.3333333,1e+23,5e-324,4.5,9007199254740992]",
    );
  });

  test("escapes strings like JSON and leaves other characters raw", () => {
    expect(canonicalize({ s: '\u0000\b\t\n\f\r"\\/\u001f\u2028é€😀' })).toBe(
      '{"s":"\\u0000\\b\\t\\n\\f\\r\\"\\\\/\\u001f\u2028é€😀"}',
    );
  });

  test("drops undefined members, nulls undefined array slots, uses toJSON", () => {
    expect(canonicalize({ b: undefined, a: [undefined, null, new Date(0)], c: () => 1 })).toBe(
      '{"a":[null,null,"1970-01-01T00:00:00.000Z"]}',
    );
  });

  test("rejects what is not JSON, naming it", () => {
    expect(() => canonicalize({ n: Number.NaN })).toThrow(/NaN is not a JSON number/);
    expect(() => canonicalize({ n: 1n })).toThrow(/BigInt/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalize(cyclic)).toThrow(/deeper than/);
  });

  test("is the same for any key order, and JSON.parse gives back the value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = canonicalize(v);
        expect(canonicalize(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 300 },
    );
  });

  test("canonicalSplit puts a member in its sorted place", () => {
    const { head, tail } = canonicalSplit({ z: 1, b: { y: 2, x: 1 } }, "m");
    expect(`${head}"m":3${tail}`).toBe('{"b":{"x":1,"y":2},"m":3,"z":1}');
    const last = canonicalSplit({ a: 1 }, "z");
    expect(`${last.head}"z":0${last.tail}`).toBe('{"a":1,"z":0}');
  });
});

const event = (): AuditEvent =>
  ({
    schema_version: 1,
    id: "0192f0c4-0000-7000-8000-000000000001",
    timestamp: "2026-11-26T12:00:00.123Z",
    severity: "INFO",
    security_event: false,
    application: { name: "app", host: "web-1", pid: 1 },
    actor: { username: "alice" },
    action: { type: "LOGIN", category: "AUTHENTICATION" },
    result: { status: "SUCCESS" },
    metadata: { note: "a\u2028b", n: 1.5 },
  }) as AuditEvent;

describe("the event hash", () => {
  test("is SHA-256 over the canonical event with integrity { chain, prev, seq }", () => {
    const e = event();
    const { integrity, line } = sealEvent(e, "c1", 1, GENESIS);
    const expected = createHash("sha256")
      .update(canonicalize({ ...e, integrity: { chain: "c1", prev: GENESIS, seq: 1 } }))
      .digest("hex");
    expect(integrity).toEqual({ chain: "c1", seq: 1, prev: GENESIS, hash: expected });
    expect(JSON.parse(line)).toEqual({ ...e, integrity });
    expect(eventHash(JSON.parse(line) as AuditEvent)).toBe(expected);
  });

  test("the stored line is canonical JSON with U+2028 escaped, and checks on the fast path", () => {
    const { line, integrity } = sealEvent(event(), "c1", 7, "ab".repeat(32));
    expect(line).toContain("a\\u2028b");
    expect(line).not.toMatch(/\u2028/);
    expect(checkLine(line)).toEqual({
      chain: "c1",
      seq: 7,
      prev: "ab".repeat(32),
      hash: integrity.hash,
      valid: true,
    });
  });

  test("an equivalent line with another key order still verifies; an edited one does not", () => {
    const { line } = sealEvent(event(), "c1", 2, GENESIS);
    const reordered = JSON.stringify(
      Object.fromEntries(Object.entries(JSON.parse(line) as object).reverse()),
    );
    expect(reordered).not.toBe(line);
    expect(checkLine(reordered)?.valid).toBe(true);
    expect(checkLine(line.replace("alice", "mallory"))?.valid).toBe(false);
    expect(checkLine(line.replace('"seq":2', '"seq":3'))?.valid).toBe(false);
    expect(checkLine("not json")).toBeUndefined();
    expect(checkLine('{"id":"x"}')).toBeUndefined();
  });
});

describe("sealing takes the fast path only when it gives the canonical bytes", () => {
  /** The line by definition: canonical JSON of the event with its integrity, separators escaped. */
  const byDefinition = (e: AuditEvent, chain: string, seq: number, prev: string): string => {
    const hash = createHash("sha256")
      .update(canonicalize({ ...e, integrity: { chain, prev, seq } }))
      .digest("hex");
    return canonicalize({ ...e, integrity: { chain, hash, prev, seq } }).replace(/\u2028/g, "\\u2028");
  };
  const sorted = (): AuditEvent =>
    ({
      action: { category: "AUTHENTICATION", type: "LOGIN" },
      actor: { id: "7", username: "alice" },
      application: { host: "web-1", name: "app", pid: 1 },
      id: "0192f0c4-0000-7000-8000-000000000001",
      metadata: { a: [1, { y: 2, z: "3" }], b: "x\u2028y" },
      result: { status: "SUCCESS" },
      schema_version: 1,
      security_event: false,
      severity: "INFO",
      timestamp: "2026-11-26T12:00:00.123Z",
    }) as unknown as AuditEvent;
  const cases: [string, () => AuditEvent][] = [
    ["every part already in canonical order (what prepare gives a signed store)", sorted],
    ["the documented (unsorted) order", event],
    [
      "a nested object out of order",
      () => ({ ...sorted(), metadata: { z: 1, a: { d: 1, c: 2 } } }) as AuditEvent,
    ],
    [
      "a member outside the event schema",
      () => ({ ...sorted(), extra: { b: 1, a: 2 } }) as unknown as AuditEvent,
    ],
    ["an array-index key", () => ({ ...sorted(), metadata: { "10": 1, "9": 2, a: 3 } }) as AuditEvent],
    [
      "a __proto__ key",
      () => ({ ...sorted(), metadata: JSON.parse('{"__proto__":{"x":1},"a":1}') }) as AuditEvent,
    ],
    ["a date (toJSON)", () => ({ ...sorted(), metadata: { at: new Date(0) } }) as AuditEvent],
    [
      "a user value that mimics the integrity member",
      () =>
        ({
          ...sorted(),
          metadata: { integrity: { chain: "c1", prev: GENESIS, seq: 1 }, prev: GENESIS },
        }) as AuditEvent,
    ],
    [
      "truncated and params present",
      () => ({ ...sorted(), params: [{ b: 1, a: 2 }], truncated: true }) as AuditEvent,
    ],
  ];
  test.each(cases)("%s", (_name, make) => {
    const e = make();
    for (const [chain, seq, prev] of [
      ["c1", 1, GENESIS],
      ['we"ird:chain', 42, "cd".repeat(32)],
    ] as const) {
      const { line, integrity } = sealEvent(e, chain, seq, prev);
      expect(line).toBe(byDefinition(e, chain, seq, prev));
      expect(checkLine(line)).toEqual({ chain, seq, prev, hash: integrity.hash, valid: true });
    }
  });
});
