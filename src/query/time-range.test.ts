import { describe, expect, it } from "vitest";
import { ErrorCodes, VigilError } from "../errors.js";
import { parseDateText, resolveTimeRange, toInstant } from "./time-range.js";

/** Thursday 26 November 2026, 12:34:56.789 UTC. */
const NOW = new Date("2026-11-26T12:34:56.789Z");
const iso = (range: { from?: Date; to?: Date }) => ({
  from: range.from?.toISOString(),
  to: range.to?.toISOString(),
});

function optionsError(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VigilError && error.code === ErrorCodes.QUERY_OPTIONS) return error;
    throw error;
  }
  throw new Error("expected a VIGIL_ERR_QUERY_OPTIONS error");
}

describe("parseDateText", () => {
  it.each([
    ["2026-11-26", "2026-11-26T00:00:00.000Z"],
    ["2026-11-26T12:00", "2026-11-26T12:00:00.000Z"],
    ["2026-11-26 12:00:30", "2026-11-26T12:00:30.000Z"],
    ["2026-11-26t12:00:30z", "2026-11-26T12:00:30.000Z"],
    ["2026-11-26T12:00:00.1Z", "2026-11-26T12:00:00.100Z"],
    ["2026-11-26T12:00:00.123456789Z", "2026-11-26T12:00:00.123Z"],
    ["2026-11-26T13:00+01:00", "2026-11-26T12:00:00.000Z"],
    ["2026-11-26T00:30-02:30", "2026-11-26T03:00:00.000Z"],
    ["2024-02-29", "2024-02-29T00:00:00.000Z"],
    ["0050-01-01", "0050-01-01T00:00:00.000Z"],
  ])("%s is %s", (text, expected) => {
    expect(new Date(parseDateText(text) as number).toISOString()).toBe(expected);
  });

  it.each([
    "",
    "2026",
    "2026-11",
    "26/11/2026",
    "2026-13-01",
    "2026-00-10",
    "2026-02-29",
    "2026-11-31",
    "2026-11-26T24:00",
    "2026-11-26T12:60",
    "2026-11-26T12:00:60",
    "2026-11-26T12",
    "2026-11-26T12:00:00.",
    "2026-11-26T12:00:00.1234567890Z",
    "2026-11-26Z",
    "2026-11-26T12:00+0100",
    "2026-11-26T12:00+24:00",
    "2026-11-26T12:00Zx",
    " 2026-11-26",
    "+2026-11-26",
  ])("%j is not a date", (text) => {
    expect(parseDateText(text)).toBeUndefined();
  });
});

describe("resolveTimeRange: named ranges (UTC)", () => {
  it.each([
    ["last_30m", "2026-11-26T12:04:56.789Z", undefined],
    ["last_1h", "2026-11-26T11:34:56.789Z", undefined],
    ["last_24h", "2026-11-25T12:34:56.789Z", undefined],
    ["last_7d", "2026-11-19T12:34:56.789Z", undefined],
    ["last_2w", "2026-11-12T12:34:56.789Z", undefined],
    ["today", "2026-11-26T00:00:00.000Z", "2026-11-27T00:00:00.000Z"],
    ["yesterday", "2026-11-25T00:00:00.000Z", "2026-11-26T00:00:00.000Z"],
    ["this_week", "2026-11-23T00:00:00.000Z", "2026-11-30T00:00:00.000Z"],
    ["this_month", "2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z"],
  ])("%s", (timeRange, from, to) => {
    expect(iso(resolveTimeRange({ timeRange }, NOW))).toEqual({ from, to });
  });

  it("starts the ISO week on Monday, also on a Sunday and on a Monday", () => {
    const sunday = new Date("2026-11-29T23:59:59.999Z");
    expect(iso(resolveTimeRange({ timeRange: "this_week" }, sunday)).from).toBe("2026-11-23T00:00:00.000Z");
    const monday = new Date("2026-11-30T00:00:00.000Z");
    expect(iso(resolveTimeRange({ timeRange: "this_week" }, monday)).from).toBe("2026-11-30T00:00:00.000Z");
  });

  it("rolls this_month over the year end", () => {
    const december = new Date("2026-12-31T23:00:00Z");
    expect(iso(resolveTimeRange({ timeRange: "this_month" }, december))).toEqual({
      from: "2026-12-01T00:00:00.000Z",
      to: "2027-01-01T00:00:00.000Z",
    });
  });

  it("defaults now to the current time", () => {
    const before = Date.now();
    const { from } = resolveTimeRange({ timeRange: "last_1m" });
    expect(from!.getTime()).toBeGreaterThanOrEqual(before - 60_000);
    expect(from!.getTime()).toBeLessThanOrEqual(Date.now() - 60_000);
  });

  it.each(["last_24x", "last_h", "last_-1h", "last_1.5h", "LAST_1H", "last_1H", "tomorrow", "", "last_1 h"])(
    "rejects %j with the list of valid names",
    (timeRange) => {
      expect(optionsError(() => resolveTimeRange({ timeRange }, NOW)).message).toBe(
        `unknown time range '${timeRange}': expected last_<n>m|h|d|w, today, yesterday, this_week or this_month`,
      );
    },
  );

  it("rejects last_0h and ranges beyond the representable dates", () => {
    expect(optionsError(() => resolveTimeRange({ timeRange: "last_0h" }, NOW)).message).toBe(
      "invalid time range 'last_0h': <n> in last_<n>… must be at least 1",
    );
    expect(
      optionsError(() => resolveTimeRange({ timeRange: `last_${"9".repeat(20)}w` }, NOW)).message,
    ).toMatch(/starts before the earliest representable date/);
  });

  it("rejects a time range that is not a string", () => {
    expect(optionsError(() => resolveTimeRange({ timeRange: 24 as unknown as string }, NOW)).message).toBe(
      "invalid 'timeRange': expected last_<n>m|h|d|w, today, yesterday, this_week or this_month, found 24",
    );
  });
});

describe("resolveTimeRange: explicit bounds", () => {
  it("takes a Date, an ISO string or epoch milliseconds", () => {
    const from = new Date("2026-11-01T00:00:00Z");
    expect(iso(resolveTimeRange({ from, to: "2026-11-02" }))).toEqual({
      from: "2026-11-01T00:00:00.000Z",
      to: "2026-11-02T00:00:00.000Z",
    });
    expect(iso(resolveTimeRange({ from: Date.UTC(2026, 10, 1) }))).toEqual({
      from: "2026-11-01T00:00:00.000Z",
      to: undefined,
    });
    expect(resolveTimeRange({})).toEqual({});
  });

  it("applies a named range and explicit bounds together", () => {
    expect(iso(resolveTimeRange({ timeRange: "today", from: "2026-11-26T12:00Z" }, NOW))).toEqual({
      from: "2026-11-26T12:00:00.000Z",
      to: "2026-11-27T00:00:00.000Z",
    });
    expect(iso(resolveTimeRange({ timeRange: "last_7d", to: "2026-11-20" }, NOW))).toEqual({
      from: "2026-11-19T12:34:56.789Z",
      to: "2026-11-20T00:00:00.000Z",
    });
  });

  it("allows an empty range (from = to) and rejects from after to", () => {
    expect(iso(resolveTimeRange({ from: "2026-11-26", to: "2026-11-26" }))).toEqual({
      from: "2026-11-26T00:00:00.000Z",
      to: "2026-11-26T00:00:00.000Z",
    });
    expect(optionsError(() => resolveTimeRange({ from: "2026-11-27", to: "2026-11-26" })).message).toBe(
      "invalid time range: 'from' 2026-11-27T00:00:00.000Z is after 'to' 2026-11-26T00:00:00.000Z",
    );
    expect(
      optionsError(() => resolveTimeRange({ timeRange: "yesterday", from: "2026-11-26T06:00Z" }, NOW))
        .message,
    ).toBe(
      "invalid time range: 'from' 2026-11-26T06:00:00.000Z is after 'to' 2026-11-26T00:00:00.000Z (with timeRange 'yesterday')",
    );
  });

  it.each([
    ["yesterday-ish", "'yesterday-ish'"],
    [new Date("nope"), "an invalid Date"],
    [Number.NaN, "NaN"],
    [9e15, "9000000000000000"],
    [true, "a boolean"],
  ])("rejects from = %j", (from, found) => {
    expect(optionsError(() => resolveTimeRange({ from: from as string })).message).toBe(
      `invalid 'from': expected a Date, an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]) or epoch milliseconds, found ${found}`,
    );
  });

  it("toInstant names the option it checks", () => {
    expect(optionsError(() => toInstant("x", "to")).message).toMatch(/^invalid 'to': /);
    expect(toInstant("2026-11-26", "to").toISOString()).toBe("2026-11-26T00:00:00.000Z");
  });
});
