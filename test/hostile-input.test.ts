/**
 * The "Bad input" list, end to end: each hostile value given to log() becomes
 * exactly one valid JSON line on disk, and nothing throws into the caller.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEngine } from "../src/engine.js";
import { fileEngine, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
let engine: AuditEngine;
beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  engine = fileEngine(dir);
});
afterAll(async () => {
  await engine.close();
  cleanup();
});

function deep(n: number): unknown {
  let v: unknown = "bottom";
  for (let i = 0; i < n; i++) v = { next: v };
  return v;
}

const cyclic: Record<string, unknown> = { name: "loop" };
cyclic.self = cyclic;
const throwingProxy = new Proxy(
  {},
  {
    ownKeys() {
      throw new Error("trap!");
    },
    get() {
      throw new Error("trap!");
    },
  },
);

const HOSTILE: Array<[string, unknown, (stored: Record<string, unknown>) => void]> = [
  ["a cyclic object", cyclic, (m) => expect(m.value).toEqual({ name: "loop", self: "[Circular]" })],
  ["a BigInt", 12345678901234567890n, (m) => expect(m.value).toBe("12345678901234567890")],
  ["a Symbol", Symbol("s"), (m) => expect(m.value).toBe("Symbol(s)")],
  ["a function", function named() {}, (m) => expect(m.value).toBe("[Function named]")],
  [
    "a getter that throws",
    Object.defineProperty({}, "bad", {
      enumerable: true,
      get: () => {
        throw new Error("no");
      },
    }),
    (m) => expect(String((m.value as Record<string, unknown>).bad)).toMatch(/^\[Unreadable: .*no/),
  ],
  [
    "a toJSON that throws",
    {
      toJSON: () => {
        throw new Error("nope");
      },
    },
    (m) => expect(String(m.value)).toMatch(/Unreadable/),
  ],
  ["a Proxy whose traps throw", throwingProxy, (m) => expect(JSON.stringify(m.value)).toMatch(/Unreadable/)],
  [
    "__proto__ and constructor keys",
    JSON.parse('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":2}}}'),
    (m) => {
      expect(Object.keys(m.value as object)).toEqual(["__proto__", "constructor"]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
  ],
  [
    "a 10 MB string",
    "x".repeat(10 * 1024 * 1024),
    (m) => expect(String(m.value)).toMatch(/…\[truncated \d+ chars\]$/),
  ],
  [
    "10,000-deep nesting",
    deep(10_000),
    (m) => expect(JSON.stringify(m.value)).toContain("[Truncated: depth]"),
  ],
  ["invalid UTF-16", "a\ud800b\udc00c", (m) => expect(m.value).toBe("a\ufffdb\ufffdc")],
];

describe("hostile values in events", () => {
  it.each(HOSTILE)("%s becomes exactly one valid JSON line", (label, value, check) => {
    const before = lines().length;
    expect(() => engine.log({ action: "HOSTILE", metadata: { label, value } })).not.toThrow();
    const after = lines();
    expect(after.length).toBe(before + 1);
    const stored = JSON.parse(after[after.length - 1]!);
    expect(stored.metadata.label).toBe(label);
    check(stored.metadata);
  });

  it("marks the events whose values were cut as truncated", () => {
    const truncated = lines()
      .map((l) => JSON.parse(l))
      .filter((e) => e.truncated === true);
    expect(truncated.map((e) => e.metadata.label).sort()).toEqual(["10,000-deep nesting", "a 10 MB string"]);
  });
});

function lines(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir).sort())
    out.push(...readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean));
  return out;
}
