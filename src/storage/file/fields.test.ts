import { describe, expect, it } from "vitest";
import { compilePath } from "../../query/fields.js";
import { LineFields } from "./fields.js";

const PATHS = ["timestamp", "action.category", "actor.username", "tenant", "metadata.a.b"];

/** What JSON.parse makes of the line for each path: a string, null (absent or JSON null), or "other". */
function parsed(line: string): (string | null | "<other>")[] | "<invalid>" {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return "<invalid>";
  }
  return PATHS.map((p) => {
    const v = compilePath(p.split("."))(event);
    if (v === undefined || v === null) return null;
    return typeof v === "string" ? v : "<other>";
  });
}

/** What LineFields reads from the line's bytes, or undefined when it declines. */
function read(line: string): (string | null)[] | undefined {
  const fields = new LineFields(PATHS);
  // the line inside a larger buffer, as in a chunk, with a newline after it
  const buf = Buffer.from(`{"x":1}\n${line}\n{"y":2}\n`, "utf8");
  const start = buf.indexOf("\n") + 1;
  const end = start + Buffer.byteLength(line);
  if (!fields.read(buf, start, end)) return undefined;
  return PATHS.map((_, i) => fields.value(i));
}

const event = {
  schema_version: 1,
  id: "0190-a",
  timestamp: "2026-12-03T10:00:00.000Z",
  severity: "INFO",
  security_event: false,
  application: { name: "app", version: "1.0.0", pid: 42 },
  actor: { id: "7", username: "alice", ip: "10.0.0.1" },
  action: { type: "LOGIN", category: "AUTHENTICATION", resource: { type: "table", name: "t" } },
  result: { status: "FAILURE", duration_ms: 1.5, count: -3e-7 },
  metadata: { params: { values: [1, true, null, "s", [], {}] }, a: { b: "deep" }, empty: {} },
};

/** Lines JSON.stringify writes, and lines it does not (hand-edited, foreign, damaged). */
const CORPUS: string[] = [
  JSON.stringify(event),
  JSON.stringify({ ...event, tenant: "acme" }),
  // escapes and unicode in the wanted values and elsewhere
  JSON.stringify({ ...event, action: { type: "X", category: 'say "hi"\\ \n\t done' } }),
  JSON.stringify({ ...event, actor: { username: "żółw 🐢 ünïcödé" } }),
  JSON.stringify({ ...event, actor: { username: "\u009b31m \u007f" } }),
  JSON.stringify({ ...event, metadata: { note: 'a } ] { [ , : " inside' } }),
  // the same key names nested elsewhere: only the path counts
  JSON.stringify({
    metadata: { timestamp: "nested", action: { category: "NESTED" }, actor: { username: "mallory" } },
    timestamp: "2026-01-01T00:00:00.000Z",
  }),
  JSON.stringify({ metadata: { action: { category: "NESTED" } }, timestamp: "t" }),
  JSON.stringify({ action: { resource: { category: "DEEPER" }, type: "T" }, timestamp: "t" }),
  JSON.stringify({ actor: [{ username: "in-array" }], timestamp: "t" }),
  JSON.stringify({ action: { category: ["A", "B"] }, timestamp: "t" }),
  JSON.stringify({ action: { category: 5 }, timestamp: "t" }),
  JSON.stringify({ action: { category: null }, timestamp: null }),
  JSON.stringify({ action: { category: { x: 1 } }, timestamp: "t" }),
  JSON.stringify({ action: "flat", timestamp: "t" }),
  JSON.stringify({ metadata: { a: { b: "x" }, c: [{ a: { b: "no" } }] } }),
  "{}",
  '{"a":[]}',
  '{"a":{}}',
  '{"a":[[[[]]]],"tenant":"t"}',
  // duplicate keys: JSON.parse keeps the last
  '{"timestamp":"first","timestamp":"second","action":{"category":"A","category":"B"}}',
  '{"action":{"category":"A"},"action":{"type":"no category"}}',
  '{"action":{"category":"A"},"action":5}',
  '{"actor":{"username":"a"},"actor":{"username":"b","id":"2"}}',
  // not what JSON.stringify writes, or not JSON at all
  '{"timestamp": "spaced"}',
  '{"timestamp":"t"} ',
  '{"timestamp":"t"}\r',
  '\ufeff{"timestamp":"bom"}',
  '{"timestamp":"t"',
  '{"timestamp":"t",}',
  '{"timestamp":"t",,"a":1}',
  '{"a":[1,]}',
  '{"a":[,1]}',
  '{"a":{]}',
  '{"a":[}',
  '{"a":01}',
  '{"a":1.}',
  '{"a":.5}',
  '{"a":-}',
  '{"a":1e}',
  '{"a":+1}',
  '{"a":tru}',
  '{"a":nul,"timestamp":"t"}',
  '{"a":"\u0001 raw control"}',
  '{"a":"bad \\x escape"}',
  '{"a":"\\u0041"}',
  '{"a":"\\/"}',
  '{"timestamp":"t"}{"timestamp":"u"}',
  '{"timestamp":"t"}}',
  '[{"timestamp":"t"}]',
  '"timestamp"',
  "",
  '{"a":1 ,"b":2}',
  '{"a"',
  '{"a":',
  '{"a":"unterminated}',
  `{"deep":${"[".repeat(40)}${"]".repeat(40)},"timestamp":"t"}`,
  `{"deep":${"[".repeat(29)}${"]".repeat(29)},"timestamp":"t"}`,
];

describe("reading fields from a line's bytes", () => {
  it.each(CORPUS.map((line) => [line]))("%s: as JSON.parse reads it, or declines", (line) => {
    const bytes = read(line);
    const truth = parsed(line);
    if (bytes === undefined) return;
    expect(truth).not.toBe("<invalid>");
    expect(truth).not.toContain("<other>");
    expect(bytes).toEqual(truth);
  });

  it("reads the lines JSON.stringify writes (it declines only what it must)", () => {
    expect(read(JSON.stringify(event))).toEqual([
      "2026-12-03T10:00:00.000Z",
      "AUTHENTICATION",
      "alice",
      null,
      "deep",
    ]);
    expect(read(CORPUS[2]!)?.[1]).toBe('say "hi"\\ \n\t done');
    expect(read(CORPUS[3]!)?.[2]).toBe("żółw 🐢 ünïcödé");
    expect(read(CORPUS[6]!)).toEqual(["2026-01-01T00:00:00.000Z", null, null, null, null]);
    expect(read('{"action":{"category":"A"},"action":{"type":"no category"}}')?.[1]).toBeNull();
    expect(read('{"actor":{"username":"a"},"actor":{"username":"b","id":"2"}}')?.[2]).toBe("b");
    expect(read('{"timestamp":"first","timestamp":"second"}')?.[0]).toBe("second");
    expect(read(`{"deep":${"[".repeat(29)}${"]".repeat(29)},"timestamp":"t"}`)?.[0]).toBe("t");
  });

  it("gives JSON.parse's answer or none on thousands of damaged lines", () => {
    // every line of the corpus with one byte deleted, replaced or duplicated, anywhere
    const specials = ['"', "\\", "{", "}", "[", "]", ",", ":", " ", "0", "-", "e", "n", "\u0000"];
    let read_ = 0;
    let checked = 0;
    let seed = 1;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (const base of CORPUS.slice(0, 16)) {
      for (let k = 0; k < 300; k++) {
        const at = random() % (base.length + 1);
        const op = random() % 3;
        const ch = specials[random() % specials.length]!;
        const line =
          op === 0
            ? base.slice(0, at) + base.slice(at + 1)
            : op === 1
              ? base.slice(0, at) + ch + base.slice(at + 1)
              : base.slice(0, at) + ch + base.slice(at);
        const bytes = read(line);
        checked++;
        if (bytes === undefined) continue;
        read_++;
        const truth = parsed(line);
        expect(truth, line).not.toBe("<invalid>");
        expect(bytes, line).toEqual(truth);
      }
    }
    expect(checked).toBe(16 * 300);
    expect(read_).toBeGreaterThan(500); // the harmless changes (inside strings) are still read
  });
});
