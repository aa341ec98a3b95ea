import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { toJsonLine } from "../../event/serialize.js";
import { CIRCULAR_MARKER, DEPTH_MARKER, MORE_KEY } from "./index.js";
import { jsonRoundTrip, sanitizer } from "./test-helpers.js";

const s = sanitizer();

/** Sanitizes, checks the output survives JSON, and returns what JSON gives back. */
function out(v: unknown, san = s): unknown {
  const { value } = san.value(v);
  return (jsonRoundTrip({ v: value }) as { v?: unknown }).v;
}

describe("cycles and shared references", () => {
  test("a self-referencing object becomes [Circular]", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    a.list = [a];
    expect(out(a)).toEqual({ name: "a", self: CIRCULAR_MARKER, list: [CIRCULAR_MARKER] });
  });

  test("Maps and Sets that contain themselves", () => {
    const m = new Map<string, unknown>();
    m.set("me", m);
    const set = new Set<unknown>();
    set.add(set);
    expect(out({ m, set })).toEqual({ m: { me: CIRCULAR_MARKER }, set: [CIRCULAR_MARKER] });
  });

  test("a shared (non-circular) reference is copied each time, as JSON.stringify does", () => {
    const shared = { x: 1 };
    expect(out({ a: shared, b: shared, c: [shared, shared] })).toEqual({
      a: { x: 1 },
      b: { x: 1 },
      c: [{ x: 1 }, { x: 1 }],
    });
  });

  test("a cycle deeper than 32 levels is still found", () => {
    const root: Record<string, unknown> = {};
    let node = root;
    for (let i = 0; i < 100; i++) {
      const next: Record<string, unknown> = {};
      node.n = next;
      node = next;
    }
    node.back = root;
    const deep = sanitizer({}, { max_depth: 200 });
    let v = out(root, deep) as Record<string, unknown>;
    for (let i = 0; i < 100; i++) v = v.n as Record<string, unknown>;
    expect(v).toEqual({ back: CIRCULAR_MARKER });
  });

  test("an exponential DAG stops at the safety cap", () => {
    let node: unknown = ["leaf"];
    for (let i = 0; i < 40; i++) node = [node, node];
    const { value, truncated } = s.value(node);
    expect(truncated).toBe(true);
    expect(JSON.stringify(value)).toContain("[Truncated: ");
  });
});

describe("primitives JSON cannot hold", () => {
  test("BigInt, Symbol, functions, NaN, Infinity, -0, undefined", () => {
    class Widget {}
    const v = out({
      big: 12345678901234567890n,
      sym: Symbol("x"),
      anonSym: Symbol(),
      fn: function named() {},
      arrow: () => 1,
      cls: Widget,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ninf: Number.NEGATIVE_INFINITY,
      negZero: -0,
      undef: undefined,
      arr: [undefined, () => 1, Number.NaN],
    }) as Record<string, unknown>;
    expect(v).toEqual({
      big: "12345678901234567890",
      sym: "Symbol(x)",
      anonSym: "Symbol()",
      fn: "[Function named]",
      arrow: "[Function arrow]",
      cls: "[Function Widget]",
      nan: null,
      inf: null,
      ninf: null,
      negZero: 0,
      arr: [null, "[Function anonymous]", null],
    });
    expect("undef" in v).toBe(false);
    expect(Object.is(s.value(-0).value, 0)).toBe(true);
  });

  test("top-level undefined stays undefined; other top-level primitives pass", () => {
    expect(s.value(undefined)).toEqual({ value: undefined, truncated: false });
    expect(s.value(null).value).toBeNull();
    expect(s.value(true).value).toBe(true);
    expect(s.value("x").value).toBe("x");
  });

  test("lone surrogates become U+FFFD in values and keys; pairs survive", () => {
    expect(out({ "k\uDC00": "a\uD800b", ok: "😀" })).toEqual({ "k\uFFFD": "a\uFFFDb", ok: "😀" });
  });
});

describe("objects with behaviour", () => {
  test("a throwing getter becomes [Unreadable] for that property only", () => {
    const v = {
      ok: 1,
      get bad(): number {
        throw new Error("no access to password=hunter2");
      },
    };
    expect(out(v)).toEqual({ ok: 1, bad: "[Unreadable: no access to password=[REDACTED]]" });
  });

  test("a throwing toJSON becomes [Unreadable]", () => {
    const v = {
      ok: true,
      bad: {
        toJSON() {
          throw new TypeError("cannot serialize");
        },
      },
    };
    expect(out(v)).toEqual({ ok: true, bad: "[Unreadable: cannot serialize]" });
  });

  test("a thrown non-Error and an Error whose message getter throws", () => {
    const weird = {
      get a(): number {
        throw 42;
      },
      get b(): number {
        throw {
          get message(): string {
            throw new Error("again");
          },
        };
      },
    };
    expect(out(weird)).toEqual({ a: "[Unreadable: 42]", b: "[Unreadable: [object Object]]" });
  });

  test("toJSON is used (Date, URL, custom), called with the key, once", () => {
    const keys: string[] = [];
    const custom = {
      toJSON(key: string) {
        keys.push(key);
        return { kind: "custom", self: this };
      },
    };
    expect(
      out({ at: new Date(0), url: new URL("https://example.com/a?b=1"), custom, list: [custom] }),
    ).toEqual({
      at: "1970-01-01T00:00:00.000Z",
      url: "https://example.com/a?b=1",
      custom: { kind: "custom", self: { kind: "custom", self: expect.anything() } },
      list: [{ kind: "custom", self: { kind: "custom", self: expect.anything() } }],
    });
    expect(keys.slice(0, 2)).toEqual(["custom", "self"]);
  });

  test("toJSON returning this does not loop", () => {
    const v = {
      a: 1,
      toJSON() {
        return this;
      },
    };
    expect(out(v)).toEqual({ a: 1, toJSON: "[Function toJSON]" });
  });

  test("an invalid Date becomes null, as in JSON.stringify", () => {
    expect(out({ d: new Date(Number.NaN) })).toEqual({ d: null });
  });

  test("class instances become plain objects of their own enumerable properties", () => {
    class Account {
      #hidden = "private";
      id = 7;
      owner = "alice";
      get computed(): string {
        return this.#hidden;
      }
    }
    expect(out(new Account())).toEqual({ id: 7, owner: "alice" });
    expect(Object.getPrototypeOf(s.value(new Account()).value)).toBe(Object.prototype);
  });

  test("boxed primitives and RegExps", () => {
    expect(out([new String("s"), new Number(2), new Boolean(false), Object(3n), /a+/gi])).toEqual([
      "s",
      2,
      false,
      "3",
      "/a+/gi",
    ]);
  });
});

describe("Proxies", () => {
  test("a Proxy whose traps throw is [Unreadable], not an exception", () => {
    const boom = () => {
      throw new Error("trap");
    };
    const proxies = {
      ownKeys: new Proxy({}, { ownKeys: boom }),
      get: new Proxy({ a: 1 }, { get: boom }),
      proto: new Proxy({}, { getPrototypeOf: boom }),
      has: new Proxy({ a: 1 }, { getOwnPropertyDescriptor: boom }),
    };
    expect(out(proxies)).toEqual({
      ownKeys: "[Unreadable: trap]",
      get: "[Unreadable: trap]",
      proto: "[Unreadable: trap]",
      has: "[Unreadable: trap]",
    });
  });

  test("an array Proxy that lies about its length", () => {
    const lying = (length: unknown) =>
      new Proxy([1, 2, 3], { get: (t, k) => (k === "length" ? length : Reflect.get(t, k)) });
    expect(out([lying("abc"), lying(Number.NaN), lying(-5), lying(2)])).toEqual([[], [], [], [1, 2]]);
    const { value, truncated } = s.value(lying(Number.POSITIVE_INFINITY));
    expect(truncated).toBe(true);
    expect((value as unknown[]).at(-1)).toBe(`[Truncated: ${2 ** 32 - 1 - 1000} more entries]`);
    expect(out(lying(Symbol("x")))).toMatch(/^\[Unreadable: /);
  });

  test("a revoked Proxy is [Unreadable]", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(out({ p: proxy })).toEqual({
      p: expect.stringMatching(/^\[Unreadable: .*revoked.*\]$/),
    });
  });

  test("a well-behaved Proxy reads like its target", () => {
    expect(out(new Proxy({ a: 1, password: "x" }, {}))).toEqual({ a: 1, password: "[REDACTED]" });
    expect(out(new Proxy([1, 2], {}))).toEqual([1, 2]);
  });
});

describe("prototype pollution", () => {
  test("a parsed __proto__ key is copied as an own property and pollutes nothing", () => {
    const input = JSON.parse('{"__proto__":{"polluted":1},"a":1}');
    const { value } = s.value(input);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value as object, "__proto__")).toBe(true);
    expect(JSON.stringify(value)).toBe('{"__proto__":{"polluted":1},"a":1}');
  });

  test("constructor and prototype keys are plain data", () => {
    const input = JSON.parse('{"constructor":{"prototype":{"polluted":1}},"prototype":{"polluted":2}}');
    const { value } = s.value(input);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(JSON.parse(JSON.stringify(value))).toEqual(input);
  });

  test("a Map with a __proto__ key", () => {
    const { value } = s.value(new Map([["__proto__", { polluted: 1 }]]));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(value)).toBe('{"__proto__":{"polluted":1}}');
  });
});

describe("errors, collections and binary data", () => {
  test("errors become { type, message, code? }", () => {
    class AuthError extends Error {}
    const withCode = Object.assign(new TypeError("bad"), { code: "E_BAD" });
    const errno = Object.assign(new Error("enoent"), { code: -2 });
    expect(out([new AuthError("denied"), withCode, errno, new RangeError()])).toEqual([
      { type: "AuthError", message: "denied" },
      { type: "TypeError", message: "bad", code: "E_BAD" },
      { type: "Error", message: "enoent", code: "-2" },
      { type: "RangeError", message: "" },
    ]);
  });

  test("an error whose properties throw", () => {
    const e = new Error("x");
    Object.defineProperty(e, "message", {
      get() {
        throw new Error("nope");
      },
    });
    expect(out(e)).toEqual({ type: "Error", message: "[Unreadable: nope]" });
  });

  test("a Map becomes an object with string keys; a Set an array", () => {
    const m = new Map<unknown, unknown>([
      ["a", 1],
      [2, "two"],
      [{}, "obj"],
      ["2", "dup"],
    ]);
    expect(out({ m, s: new Set(["x", "y"]) })).toEqual({
      m: { a: 1, "2": "two", "[object Object]": "obj", "2 (2)": "dup" },
      s: ["x", "y"],
    });
  });

  test("binary data becomes [Binary n bytes]", () => {
    expect(
      out([
        Buffer.from("abcd"),
        new Uint16Array(3),
        new ArrayBuffer(5),
        new DataView(new ArrayBuffer(2)),
        new SharedArrayBuffer(8),
      ]),
    ).toEqual([
      "[Binary 4 bytes]",
      "[Binary 6 bytes]",
      "[Binary 5 bytes]",
      "[Binary 2 bytes]",
      "[Binary 8 bytes]",
    ]);
  });
});

describe("limits", () => {
  test("long strings are cut with a marker and reported", () => {
    const small = sanitizer({}, { max_string_length: 5 });
    expect(small.value("abcdefgh")).toEqual({ value: "abcde…[truncated 3 chars]", truncated: true });
    expect(small.value("abcde")).toEqual({ value: "abcde", truncated: false });
  });

  test("a cut never splits a surrogate pair", () => {
    const small = sanitizer({}, { max_string_length: 2 });
    expect(small.value("a😀b").value).toBe("a…[truncated 3 chars]");
  });

  test("a secret is redacted before the string is cut", () => {
    const small = sanitizer({}, { max_string_length: 10 });
    expect(small.text("4111 1111 1111 1111")).toBe("**** **** …[truncated 9 chars]");
  });

  test("arrays, objects, Maps and Sets beyond max_entries are cut with a marker", () => {
    const few = sanitizer({}, { max_entries: 2 });
    const cases: [unknown, unknown][] = [
      [
        [1, 2, 3, 4],
        [1, 2, "[Truncated: 2 more entries]"],
      ],
      [
        { a: 1, b: 2, c: 3 },
        { a: 1, b: 2, [MORE_KEY]: "[Truncated: 1 more entry]" },
      ],
      [
        new Map([
          ["a", 1],
          ["b", 2],
          ["c", 3],
        ]),
        { a: 1, b: 2, [MORE_KEY]: "[Truncated: 1 more entry]" },
      ],
      [new Set([1, 2, 3]), [1, 2, "[Truncated: 1 more entry]"]],
    ];
    for (const [input, expected] of cases) {
      const { value, truncated } = few.value(input);
      expect(truncated).toBe(true);
      expect(jsonRoundTrip(value)).toEqual(expected);
    }
    expect(few.value([1, 2]).truncated).toBe(false);
  });

  test("containers at nesting level max_depth become [Truncated: depth]", () => {
    const shallow = sanitizer({}, { max_depth: 2 });
    const { value, truncated } = shallow.value({ a: { b: { c: 1 }, n: 1 }, s: "x" });
    expect(value).toEqual({ a: { b: DEPTH_MARKER, n: 1 }, s: "x" });
    expect(truncated).toBe(true);
    expect(sanitizer({}, { max_depth: 0 }).value([1]).value).toBe(DEPTH_MARKER);
  });

  test("10,000-deep nesting gives one valid JSON line, with default and with maximal depth", () => {
    let deep: unknown = "bottom";
    for (let i = 0; i < 10_000; i++) deep = i % 2 ? { d: deep } : [deep];
    for (const san of [s, sanitizer({}, { max_depth: 1000 })]) {
      const { value, truncated } = san.value(deep);
      const line = toJsonLine({ params: value });
      expect(line).not.toMatch(/\n/);
      expect(JSON.stringify(JSON.parse(line))).toContain(DEPTH_MARKER);
      expect(truncated).toBe(true);
    }
  });

  test("a 10 MB string gives one valid JSON line", () => {
    const big = "x".repeat(5_000_000) + "\n\u2028 password=secret " + "y@example.com ".repeat(350_000);
    const { value, truncated } = s.value({ big });
    const line = toJsonLine(value);
    expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
    const back = JSON.parse(line) as { big: string };
    expect(back.big).toMatch(/^x{65536}…\[truncated \d+ chars\]$/);
    expect(truncated).toBe(true);
    const wide = sanitizer({}, { max_string_length: 20_000_000 });
    const whole = JSON.parse(toJsonLine(wide.value(big).value)) as string;
    expect(whole).toContain("password=[REDACTED] y***@example.com");
    expect(whole).not.toContain("secret");
  });
});

describe("input is never touched", () => {
  test("a frozen input is copied, not mutated, and shares nothing with the output", () => {
    const nested = Object.freeze({ password: "x", list: Object.freeze([1, "a@b.co"]) });
    const input = Object.freeze({ nested, n: 1 });
    const { value } = s.value(input);
    expect(value).toEqual({ nested: { password: "[REDACTED]", list: [1, "a***@b.co"] }, n: 1 });
    expect((value as Record<string, unknown>).nested).not.toBe(nested);
    expect(nested.password).toBe("x");
  });

  test("a getter that calls the sanitizer again (re-entrancy) is safe", () => {
    const input = {
      get inner(): unknown {
        return s.value({ password: "y", deep: [1, 2] }).value;
      },
      after: 1,
    };
    expect(out(input)).toEqual({ inner: { password: "[REDACTED]", deep: [1, 2] }, after: 1 });
  });
});

describe("adversarial strings run to completion (linear rules)", () => {
  const MB = 1 << 20;
  test.each([
    ["digits", "1".repeat(MB)],
    ["spaced digits", "4 ".repeat(MB / 2)],
    ["dashed digits", "123-45-".repeat(MB / 7)],
    ["local part without domain", `${"a".repeat(MB)}@`],
    ["at signs", "a@".repeat(MB / 2)],
    ["dotted domain", `a@${"b.".repeat(MB / 2)}`],
    ["credential names", "password".repeat(MB / 8)],
    ["open quote", `password="${"a".repeat(MB)}`],
    ["escapes", `password="${"\\a".repeat(MB / 2)}`],
    ["repeated heads", 'token="'.repeat(MB / 7)],
    ["schemes", "a://".repeat(MB / 4)],
    ["userinfo", `a://b:${"@".repeat(MB)}`],
    ["bearer", "Bearer ".repeat(MB / 7)],
    ["lone surrogates", "\uD800".repeat(MB)],
  ])("%s", (_name, input) => {
    const result = sanitizer({}, { max_string_length: 2 * MB }).value(input);
    expect(typeof result.value).toBe("string");
    expect(() => toJsonLine(result.value)).not.toThrow();
  });
});

describe("property: anything becomes JSON", () => {
  test("value() never throws and its output survives JSON with the same shape", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withTypedArray: true,
          withSparseArray: true,
          withNullPrototype: true,
          withObjectString: true,
        }),
        (v) => {
          const { value } = s.value(v);
          const line = toJsonLine({ v: value ?? null });
          expect(JSON.parse(line)).toEqual({ v: value ?? null });
        },
      ),
      { numRuns: 300 },
    );
  });
});
