import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AggregateResult } from "../../src/query/aggregate.js";
import { createStore, lines, type TestStore } from "./helpers.js";

let store: TestStore;
// Fixed hours of one day, far enough in the past to be stable.
const DAY = "2025-10-10";
beforeAll(() => {
  store = createStore();
  const at = (hhmm: string) => `${DAY}T${hhmm}:00.000Z`;
  for (let i = 0; i < 8; i++) store.log({ action: "QUERY", category: "DATABASE", timestamp: at(`10:0${i}`) });
  for (let i = 0; i < 4; i++)
    store.log({ action: "HTTP_REQUEST", category: "API", timestamp: at(`12:1${i}`) });
  store.log({ action: "LOGIN", category: "AUTHENTICATION", status: "FAILURE", timestamp: at("12:30") });
  store.log({
    action: "LOGIN",
    category: "AUTHENTICATION",
    actor: { username: "bad\x1b[5m" },
    timestamp: at("12:31"),
  });
});
afterAll(() => store.cleanup());

const range = ["--from", `${DAY}T09:00:00Z`, "--to", `${DAY}T14:00:00Z`];

describe("vigil stats", () => {
  it("draws a bar chart per value, largest first, bars proportional to counts", async () => {
    const r = await store.run(["stats", "--by", "category", ...range]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe("action.category · 14 events");
    const rows = out.slice(1).map((l) => /^(\S+)\s+(█*[▏▎▍▌▋▊▉]?)\s+(\d+)\s+([\d.]+%)$/.exec(l)!);
    expect(rows.map((m) => [m[1], Number(m[3]), m[4]])).toEqual([
      ["DATABASE", 8, "57.1%"],
      ["API", 4, "28.6%"],
      ["AUTHENTICATION", 2, "14.3%"],
    ]);
    const full = rows[0]![2]!.length;
    expect(full).toBeGreaterThanOrEqual(10);
    expect(rows[1]![2]!.length).toBe(Math.ceil(full / 2)); // 4 of 8: half the bar
  });

  it("counts per hour with empty hours shown", async () => {
    const r = await store.run(["stats", "--interval", "1h", ...range]);
    expect(r.code).toBe(0);
    const counts = lines(r.stdout)
      .slice(1)
      .map((l) => {
        const m = /^(\S+ \S+)\s+\S*\s+(\d+)$/.exec(l);
        return [m?.[1], Number(m?.[2])];
      });
    expect(counts).toEqual([
      [`${DAY} 09:00`, 0],
      [`${DAY} 10:00`, 8],
      [`${DAY} 11:00`, 0],
      [`${DAY} 12:00`, 6],
      [`${DAY} 13:00`, 0],
    ]);
  });

  it("prints JSON with --format json, including values inside time buckets", async () => {
    const r = await store.run([
      "stats",
      "--by",
      "type",
      "--interval",
      "2h",
      "--format",
      "json",
      "--top",
      "1",
      ...range,
    ]);
    const result = JSON.parse(r.stdout) as AggregateResult;
    expect(result.total).toBe(14);
    expect(result.buckets).toEqual([
      { key: `${DAY}T08:00:00.000Z`, count: 0, groups: [] },
      { key: `${DAY}T10:00:00.000Z`, count: 8, groups: [{ key: "QUERY", count: 8 }] },
      { key: `${DAY}T12:00:00.000Z`, count: 6, groups: [{ key: "HTTP_REQUEST", count: 4 }], other: 2 },
    ]);
  });

  it("counts only what the query matches, and neutralizes values in the chart", async () => {
    const r = await store.run(["stats", "type:LOGIN", "--by", "user", ...range]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("\x1b");
    expect(
      lines(r.stdout)
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(["bad\\x1b[5m", "(none)"]); // ties: by key, absent last
  });

  it("counts by category when no field or interval is given", async () => {
    const r = await store.run(["stats", ...range]);
    expect(lines(r.stdout)[0]).toBe("action.category · 14 events");
  });
});
