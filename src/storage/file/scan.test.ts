import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "../../query/parse.js";
import { lineNeed } from "../../query/prefilter.js";
import { judgeChunk, LineJudge, readChunks, Verdict } from "./scan.js";

const dir = mkdtempSync(join(tmpdir(), "vigil-scan-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function line(i: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    id: `e${i}`,
    timestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
    action: { type: i % 5 === 0 ? "LOGIN" : "QUERY" },
    // lines of varied length, some far longer than a 60 KiB window
    metadata: { pad: "x".repeat(i % 97 === 0 ? 150_000 : (i * 37) % 900) },
    ...extra,
  });
}

/** The lines `judge` lets through, with their verdicts, over every chunk of `path`. */
async function visited(path: string, judge: () => LineJudge): Promise<[string, Verdict][]> {
  const out: [string, Verdict][] = [];
  const j = judge();
  for await (const chunk of readChunks(path, false)) {
    judgeChunk(chunk, j, (start, end, verdict) =>
      out.push([chunk.buf.toString("utf8", start, end), verdict]),
    );
  }
  return out;
}

describe("reading chunks and judging lines", () => {
  const lines = Array.from({ length: 3000 }, (_, i) => line(i));
  const path = join(dir, "store.log");
  // several MiB, so chunks, windows and the two reused read buffers all turn over; a torn last line
  writeFileSync(path, `${lines.join("\n")}\n{"id":"torn`);

  it("yields every complete line once, in order, across reused buffers and windows", async () => {
    const got = await visited(
      path,
      () => new LineJudge({ need: { kind: "all" }, exact: true, sealed: false }),
    );
    expect(got.map(([text]) => text)).toEqual(lines);
    expect(got.every(([, v]) => v === Verdict.Match)).toBe(true);
  });

  it("skips exactly the lines whose bytes lack a required text", async () => {
    const need = lineNeed(parse("action.type:login"));
    const got = await visited(path, () => new LineJudge({ need, exact: false, sealed: false }));
    expect(got.map(([text]) => text)).toEqual(lines.filter((l) => l.includes('"LOGIN"')));
  });

  it("skips by the timestamp read from the bytes", async () => {
    const fromIso = new Date(Date.UTC(2026, 0, 1) + 1000 * 1000).toISOString();
    const toIso = new Date(Date.UTC(2026, 0, 1) + 2000 * 1000).toISOString();
    const got = await visited(
      path,
      () => new LineJudge({ need: { kind: "all" }, exact: true, sealed: false, fromIso, toIso }),
    );
    expect(got.map(([text]) => text)).toEqual(lines.slice(1000, 2000));
  });
});

describe("lines the bytes cannot judge", () => {
  const sealed = line(1, { subject: { ct: "c2VhbGVk", iv: "aXY=", kid: "k", ref: "r", tag: "dGFn" } });
  const escaped = line(2).replace('"QUERY"', '"\\u004cOGIN"');
  const path = join(dir, "special.log");
  writeFileSync(path, `${sealed}\n${escaped}\n${line(3)}\n`);
  const need = lineNeed(parse("user:alice"));

  it("decodes a line with a subject member when the decoder opens sealed subjects", async () => {
    const got = await visited(path, () => new LineJudge({ need, exact: false, sealed: true }));
    expect(got).toEqual([
      [sealed, Verdict.Decode],
      [escaped, Verdict.Decode],
    ]);
  });

  it("judges it on its bytes when sealed members are returned as stored", async () => {
    const got = await visited(path, () => new LineJudge({ need, exact: false, sealed: false }));
    expect(got).toEqual([[escaped, Verdict.Decode]]);
  });
});
