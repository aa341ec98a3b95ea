import { describe, expect, test } from "vitest";
import { ErrorCodes, VigilError } from "../errors.js";
import { fromJsonLine, toJsonLine } from "./serialize.js";

/** The error `fn` throws (failing the test when it does not throw). */
function thrownBy(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VigilError);
    return e as VigilError;
  }
  throw new Error("expected a throw");
}

describe("toJsonLine", () => {
  test("is JSON.stringify for ordinary values", () => {
    const event = { id: "1", metadata: { sql: "SELECT 1", n: [1, 2] } };
    expect(toJsonLine(event)).toBe(JSON.stringify(event));
  });

  test("escapes U+2028 and U+2029 so no line break of any kind is raw", () => {
    const line = toJsonLine({ a: "x\u2028y\u2029z", b: "\n\r\t" });
    expect(line).toBe('{"a":"x\\u2028y\\u2029z","b":"\\n\\r\\t"}');
    expect(line.split(/\r\n|\r|\n|\u2028|\u2029/)).toHaveLength(1);
    expect(JSON.parse(line)).toEqual({ a: "x\u2028y\u2029z", b: "\n\r\t" });
  });

  test("a separator inside a key is escaped too", () => {
    expect(toJsonLine({ "k\u2028": 1 })).toBe('{"k\\u2028":1}');
  });

  test("rejects values JSON cannot hold with a VigilError", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [undefined, () => 1, cyclic, { n: 1n }]) {
      expect(() => toJsonLine(bad)).toThrow(VigilError);
    }
    const e = thrownBy(() => toJsonLine(undefined));
    expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(e.message).toBe("toJsonLine: expected a JSON value, found undefined");
  });
});

describe("fromJsonLine", () => {
  test("reads back what toJsonLine wrote", () => {
    const event = { a: "x\u2028y", b: [1, { c: null }], d: "😀" };
    expect(fromJsonLine(toJsonLine(event))).toEqual(event);
  });

  test("ignores a trailing CR and a leading byte-order mark", () => {
    expect(fromJsonLine('\uFEFF{"a":1}\r')).toEqual({ a: 1 });
  });

  test("a torn line is a VigilError quoting its start", () => {
    expect(() => fromJsonLine('{"id":"0192f0c4","severity":"INF')).toThrow(
      /^not a JSON line \(.+\): "\{\\"id\\":\\"0192f0c4\\",\\"severity\\":\\"INF"$/,
    );
    const e = thrownBy(() => fromJsonLine("x".repeat(100)));
    expect(e.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(e.message).toContain(`"${"x".repeat(60)}…"`);
  });
});
