/** The verifier's byte fast path agrees with checkLine, and leaves a line it declines intact. */
import { describe, expect, test } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { checkLine, GENESIS, sealEvent } from "../../src/integrity/chain.js";
import { ByteLineChecker } from "../../src/integrity/check-bytes.js";

const event = (metadata: Record<string, unknown> = { note: "é ✓", n: 1.5 }): AuditEvent =>
  ({
    action: { category: "AUTHENTICATION", type: "LOGIN" },
    actor: { id: "7", username: "alice" },
    id: "0192f0c4-0000-7000-8000-000000000001",
    metadata,
    schema_version: 1,
    timestamp: "2026-11-26T12:00:00.123Z",
  }) as unknown as AuditEvent;

/** The line inside a buffer with other lines around it, as the reader hands it over. */
function framed(line: string): { buf: Buffer; start: number; end: number } {
  const before = Buffer.from(`${sealEvent(event(), "other", 1, GENESIS).line}\n`);
  const body = Buffer.from(line, "utf8");
  const buf = Buffer.concat([before, body, Buffer.from("\n{}\n")]);
  return { buf, start: before.length, end: before.length + body.length };
}

describe("ByteLineChecker", () => {
  test("gives checkLine's answer for canonical lines, over many chains and positions", () => {
    const checker = new ByteLineChecker();
    for (const [chain, seq, prev] of [
      ["web-1:4711:1764158400123:9f3a01bc", 1, GENESIS],
      ["web-1:4711:1764158400123:9f3a01bc", 2, "ab".repeat(32)],
      ["hôst:1:2:3", 9_007_199_254_740_991, "cd".repeat(32)],
    ] as const) {
      const { line, integrity } = sealEvent(event(), chain, seq, prev);
      const { buf, start, end } = framed(line);
      const check = checker.check(buf, start, end);
      const { body, ...same } = check!;
      expect(same).toEqual(checkLine(line));
      expect(checkLine(line)).toEqual({ ...integrity, valid: true });
      // the hashed form is left at buf[body, end): the event without its hash, as JSON
      const hashed = JSON.parse(buf.toString("utf8", body, end));
      expect(hashed.integrity).toEqual({ chain, prev, seq });
      expect(hashed.id).toBe(JSON.parse(line).id);
    }
  });

  test("declines, leaving the bytes as they were, what the string path must judge", () => {
    const checker = new ByteLineChecker();
    const sealed = sealEvent(event(), "c1", 5, GENESIS).line;
    const lines = [
      sealed.replace("alice", "alicf"), // modified: the hash fails
      sealEvent(event({ text: "a\u2028b" }), "c1", 6, GENESIS).line, // an escaped separator
      sealEvent(event(), 'we"ird', 7, GENESIS).line, // an escape in the chain id
      sealed.replace('"seq":5', '"seq":05'), // not canonical
      JSON.stringify(JSON.parse(sealed)).replace('{"action"', '{ "action"'), // not canonical
      '{"id":"x"}',
    ];
    for (const line of lines) {
      const { buf, start, end } = framed(line);
      const copy = Buffer.from(buf);
      expect(checker.check(buf, start, end)).toBeUndefined();
      expect(buf.equals(copy)).toBe(true);
    }
    // the string path still verifies the ones that are authentic
    expect(checkLine(lines[1]!)?.valid).toBe(true);
    expect(checkLine(lines[2]!)?.valid).toBe(true);
    expect(checkLine(lines[0]!)?.valid).toBe(false);
  });

  test("finds the integrity member after a user value that looks like its start", () => {
    const checker = new ByteLineChecker();
    const e = { ...event(), actor: { id: "7", x: { chain: "c1" } } } as unknown as AuditEvent;
    const { line } = sealEvent(e, "c1", 3, GENESIS);
    expect(line.indexOf('{"chain":"')).toBeLessThan(line.indexOf('"integrity":{"chain":"'));
    const { buf, start, end } = framed(line);
    expect(checker.check(buf, start, end)).toEqual({ ...checkLine(line), body: expect.any(Number) });
  });
});
