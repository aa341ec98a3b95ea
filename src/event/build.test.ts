import { afterEach, describe, expect, it, vi } from "vitest";
import { buildEvent, copyMembers } from "./build.js";
import type { Application } from "./types.js";

const application: Application = { name: "test" } as Application;
const noProblem = (): void => {
  throw new Error("unexpected input problem");
};

describe("buildEvent", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("writes the clock's time as toISOString does, across millisecond, second and year-10000 boundaries", () => {
    const starts = [
      0,
      999,
      Date.parse("2026-12-03T19:59:59.990Z"),
      Date.parse("2026-12-31T23:59:59.995Z"),
      Date.parse("9999-12-31T23:59:59.990Z"), // the next second is year +010000
    ];
    const clock = vi.spyOn(Date, "now");
    for (const start of starts) {
      for (let ms = start; ms < start + 1_100; ms += 3) {
        clock.mockReturnValue(ms);
        // twice per millisecond: the remembered text is the same
        for (let i = 0; i < 2; i++) {
          const event = buildEvent({ action: "TICK" }, application, undefined, noProblem);
          expect(event.timestamp).toBe(new Date(ms).toISOString());
        }
      }
    }
  });

  it("keeps the caller's result members in their order, then the status; the caller's object is not changed", () => {
    const result = { duration_ms: 1.5, http_status: 200 };
    const event = buildEvent({ action: "GET", result }, application, undefined, noProblem);
    expect(Object.keys(event.result)).toEqual(["duration_ms", "http_status", "status"]);
    expect(event.result).toEqual({ duration_ms: 1.5, http_status: 200, status: "SUCCESS" });
    expect(result).toEqual({ duration_ms: 1.5, http_status: 200 });

    const failed = buildEvent(
      { action: "Q", result: { duration_ms: 2 }, error: new RangeError("bad") },
      application,
      undefined,
      noProblem,
    );
    expect(Object.keys(failed.result)).toEqual(["duration_ms", "error", "status"]);
    expect(failed.result).toMatchObject({ status: "FAILURE", error: { type: "RangeError", message: "bad" } });
  });
});

describe("copyMembers", () => {
  it("copies own enumerable members in order, as a spread does, keeping an own __proto__ as a member", () => {
    const source = JSON.parse('{"b":1,"__proto__":{"x":1},"a":[2]}') as Record<string, unknown>;
    Object.defineProperty(source, "hidden", { value: 3, enumerable: false });
    const copy = copyMembers(source);
    expect(Object.keys(copy)).toEqual(["b", "__proto__", "a"]);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy).toEqual({ ...source });
    expect(copy.a).toBe(source.a); // a shallow copy
  });

  it("reads getters once, ignores inherited members, and gives {} for null and undefined", () => {
    let reads = 0;
    const proto = { inherited: 1 };
    const source = Object.create(proto, {
      counted: {
        enumerable: true,
        get() {
          reads++;
          return "v";
        },
      },
    }) as Record<string, unknown>;
    expect(copyMembers(source)).toEqual({ counted: "v" });
    expect(reads).toBe(1);
    expect(copyMembers(null)).toEqual({});
    expect(copyMembers(undefined)).toEqual({});
  });
});
