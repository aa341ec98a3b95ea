import { describe, expect, it } from "vitest";
import type { AuditEvent } from "../event/types.js";
import { aggregate, aggregateSearch, parseInterval } from "./aggregate.js";

function event(timestamp: string, patch: Record<string, unknown> = {}): AuditEvent {
  return {
    schema_version: 1,
    id: `id-${timestamp}-${JSON.stringify(patch).length}`,
    timestamp,
    severity: "INFO",
    security_event: false,
    application: { name: "t" },
    action: { type: "QUERY", category: "DATABASE" },
    result: { status: "SUCCESS" },
    ...patch,
  } as AuditEvent;
}

async function* from(events: readonly AuditEvent[]): AsyncGenerator<AuditEvent> {
  for (const e of events) yield e;
}

const login = { action: { type: "LOGIN", category: "AUTHENTICATION" } };
const events = [
  event("2025-10-10T10:05:00.000Z"),
  event("2025-10-10T10:59:59.999Z", login),
  event("2025-10-10T12:00:00.000Z", login),
  event("2025-10-10T12:30:00.000Z", {
    ...login,
    actor: { username: "alice", roles: ["admin", "ops", "admin"] },
  }),
  event("2025-10-10T12:31:00.000Z", { actor: { username: "bob", roles: [] } }),
];

describe("aggregate by field", () => {
  it("counts per value, largest first, ties by key; aliases work", async () => {
    const result = await aggregate(from(events), { groupBy: "category" });
    expect(result).toEqual({
      total: 5,
      buckets: [
        { key: "AUTHENTICATION", count: 3 },
        { key: "DATABASE", count: 2 },
      ],
    });
  });

  it("counts events without the field under key null, last among equals", async () => {
    const result = await aggregate(from(events), { groupBy: "actor.username" });
    expect(result.buckets).toEqual([
      { key: null, count: 3 },
      { key: "alice", count: 1 },
      { key: "bob", count: 1 },
    ]);
  });

  it("counts each distinct element of an array once per event", async () => {
    const result = await aggregate(from(events), { groupBy: "actor.roles" });
    expect(result.buckets).toEqual([
      { key: null, count: 4 },
      { key: "admin", count: 1 },
      { key: "ops", count: 1 },
    ]);
  });

  it("keeps the top n values and sums the rest in other", async () => {
    const result = await aggregate(from(events), { groupBy: "action.type", top: 1 });
    expect(result).toEqual({ total: 5, buckets: [{ key: "LOGIN", count: 3 }], other: 2 });
  });

  it("renders numbers and booleans as text keys", async () => {
    const result = await aggregate(from(events), { groupBy: "security_event" });
    expect(result.buckets).toEqual([{ key: "false", count: 5 }]);
  });
});

describe("aggregate by interval", () => {
  it("buckets by UTC hour, oldest first, with empty hours filled in", async () => {
    const result = await aggregate(from(events), {
      interval: "1h",
      from: new Date("2025-10-10T09:30:00Z"),
      to: new Date("2025-10-10T13:00:00Z"),
    });
    expect(result.intervalMs).toBe(3_600_000);
    expect(result.buckets).toEqual([
      { key: "2025-10-10T09:00:00.000Z", count: 0 },
      { key: "2025-10-10T10:00:00.000Z", count: 2 },
      { key: "2025-10-10T11:00:00.000Z", count: 0 },
      { key: "2025-10-10T12:00:00.000Z", count: 3 },
    ]);
  });

  it("spans the events themselves when no range is given", async () => {
    const result = await aggregate(from(events), { interval: "1h", to: new Date("2025-10-10T13:00:00Z") });
    expect(result.buckets.map((b) => b.key)).toEqual([
      "2025-10-10T10:00:00.000Z",
      "2025-10-10T11:00:00.000Z",
      "2025-10-10T12:00:00.000Z",
    ]);
  });

  it("nests per-value counts inside each time bucket with both options", async () => {
    const result = await aggregate(from(events), {
      interval: "1d",
      groupBy: "type",
      to: new Date("2025-10-11T00:00:00Z"),
    });
    expect(result.buckets).toEqual([
      {
        key: "2025-10-10T00:00:00.000Z",
        count: 5,
        groups: [
          { key: "LOGIN", count: 3 },
          { key: "QUERY", count: 2 },
        ],
      },
    ]);
  });

  it("aligns weeks to Monday", async () => {
    // 2025-10-10 is a Friday; its ISO week starts on Monday 2025-10-06
    const result = await aggregate(from(events), { interval: "1w", to: new Date("2025-10-11T00:00:00Z") });
    expect(result.buckets).toEqual([{ key: "2025-10-06T00:00:00.000Z", count: 5 }]);
  });

  it("returns no buckets for no events and no range", async () => {
    expect(await aggregate(from([]), { interval: "5m" })).toEqual({
      total: 0,
      buckets: [],
      intervalMs: 300_000,
    });
  });

  it("refuses a range that needs more buckets than allowed, before scanning", async () => {
    let scanned = false;
    async function* watch(): AsyncGenerator<AuditEvent> {
      scanned = true;
      yield* from(events);
    }
    await expect(
      aggregate(watch(), {
        interval: "1s",
        from: new Date("2025-01-01T00:00:00Z"),
        to: new Date("2025-10-01T00:00:00Z"),
      }),
    ).rejects.toThrow(/interval 1s makes \d+ buckets over this time range, more than the 10000 allowed/);
    expect(scanned).toBe(false);
  });
});

describe("options", () => {
  it("parses intervals and rejects anything else precisely", () => {
    expect(parseInterval("5m")).toBe(300_000);
    expect(parseInterval("1d")).toBe(86_400_000);
    for (const bad of ["", "h", "0h", "1.5h", "1y", "-1h", "1 h"])
      expect(() => parseInterval(bad)).toThrow(/interval: expected <n>s\|m\|h\|d\|w with n >= 1/);
  });

  it("needs groupBy or interval, and a valid field name", async () => {
    await expect(aggregate(from(events), {})).rejects.toMatchObject({ code: "VIGIL_ERR_QUERY_OPTIONS" });
    await expect(aggregate(from(events), { groupBy: "a..b" })).rejects.toThrow(
      'groupBy: invalid field name "a..b": empty path segment',
    );
    await expect(aggregate(from(events), { groupBy: "type", top: 0 })).rejects.toThrow(
      /top: expected a positive integer/,
    );
  });
});

describe("aggregateSearch", () => {
  it("streams the search and fills time buckets over its range", async () => {
    const asked: unknown[] = [];
    const source = {
      stream(options: unknown) {
        asked.push(options);
        return from(events);
      },
    };
    const result = await aggregateSearch(source, {
      interval: "1h",
      from: "2025-10-10T10:00:00Z",
      to: "2025-10-10T12:00:00Z",
      category: "DATABASE",
    });
    expect(asked).toEqual([
      { from: "2025-10-10T10:00:00Z", to: "2025-10-10T12:00:00Z", category: "DATABASE" },
    ]);
    expect(result.buckets.map((b) => b.key)).toEqual([
      "2025-10-10T10:00:00.000Z",
      "2025-10-10T11:00:00.000Z",
    ]);
  });

  it("rejects bad search options before streaming", async () => {
    const source = {
      stream(): AsyncIterable<AuditEvent> {
        throw new Error("must not be called");
      },
    };
    await expect(aggregateSearch(source, { groupBy: "type", query: "a:(" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_SYNTAX",
    });
    await expect(aggregateSearch(source, { interval: "1x" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_OPTIONS",
    });
  });
});
