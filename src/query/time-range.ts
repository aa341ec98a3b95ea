/**
 * Time ranges for searches (SPEC §5) and the one date syntax vigil accepts in queries,
 * time options and cursors.
 *
 * Named ranges are computed in UTC: `last_<n>m|h|d|w`, `today`, `yesterday`,
 * `this_week` (ISO week, from Monday 00:00), `this_month`. Explicit `from`/`to` take a
 * `Date`, an ISO 8601 string or epoch milliseconds. `from` is inclusive and `to`
 * exclusive. When a named range and explicit bounds are both given, all of them apply
 * (the result is their intersection).
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";

/** The time options of a search. */
export interface TimeRangeOptions {
  /** A named range: `last_<n>m|h|d|w`, `today`, `yesterday`, `this_week`, `this_month`. */
  readonly timeRange?: string | undefined;
  /** Inclusive lower bound: a `Date`, an ISO 8601 string or epoch milliseconds. */
  readonly from?: Date | string | number | undefined;
  /** Exclusive upper bound: a `Date`, an ISO 8601 string or epoch milliseconds. */
  readonly to?: Date | string | number | undefined;
}

/** A resolved range: `from` inclusive, `to` exclusive; a missing side is open. */
export interface ResolvedTimeRange {
  readonly from?: Date;
  readonly to?: Date;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const UNIT_MS: Readonly<Record<string, number>> = { m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };
/** The largest magnitude of a valid `Date`, in milliseconds from the epoch. */
const MAX_TIME = 8.64e15;

const DIGIT_0 = 0x30;

/** The value of `count` ASCII digits at `s[i..]`, or -1 when one of them is not a digit. */
function digits(s: string, i: number, count: number): number {
  let n = 0;
  for (let k = i; k < i + count; k++) {
    const d = s.charCodeAt(k) - DIGIT_0;
    if (!(d >= 0 && d <= 9)) return -1;
    n = n * 10 + d;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses the date syntax of queries and time options into epoch milliseconds, or
 * returns `undefined` when `text` is not such a date. Accepted, and nothing else:
 *
 * - `YYYY-MM-DD` (00:00 UTC that day);
 * - `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DDTHH:MM:SS.f` with 1 to 9
 *   fraction digits (cut to milliseconds); `T` may also be `t` or a space;
 * - a time may end with a zone, `Z`/`z` or `±HH:MM`; without one it is UTC.
 *
 * Fields are range-checked (month 01–12, a real day of that month, hour 00–23,
 * minute and second 00–59). Years are 0000–9999.
 *
 * @example
 * parseDateText("2026-11-26");                // Date.UTC(2026, 10, 26)
 * parseDateText("2026-11-26T13:00+01:00");    // Date.UTC(2026, 10, 26, 12)
 * parseDateText("26/11/2026");                // undefined
 */
export function parseDateText(text: string): number | undefined {
  const n = text.length;
  if (n < 10 || n > 35) return undefined;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || text[4] !== "-" || text[7] !== "-") return undefined;
  if (day > daysInMonth(year, month)) return undefined;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let ms = 0;
  let offset = 0;
  if (n > 10) {
    const sep = text[10];
    if (sep !== "T" && sep !== "t" && sep !== " ") return undefined;
    hour = digits(text, 11, 2);
    minute = digits(text, 14, 2);
    if (n < 16 || text[13] !== ":" || hour < 0 || hour > 23 || minute < 0 || minute > 59) return undefined;
    let i = 16;
    if (text[i] === ":") {
      second = digits(text, i + 1, 2);
      if (second < 0 || second > 59) return undefined;
      i += 3;
      if (text[i] === ".") {
        let count = 0;
        let fraction = 0;
        i++;
        while (i < n && count < 10) {
          const d = text.charCodeAt(i) - DIGIT_0;
          if (!(d >= 0 && d <= 9)) break;
          if (count < 3) fraction = fraction * 10 + d;
          count++;
          i++;
        }
        if (count === 0 || count > 9) return undefined;
        ms = count >= 3 ? fraction : fraction * 10 ** (3 - count);
      }
    }
    if (i < n) {
      const zone = text[i];
      if ((zone === "Z" || zone === "z") && i + 1 === n) {
        // UTC
      } else if ((zone === "+" || zone === "-") && i + 6 === n && text[i + 3] === ":") {
        const zh = digits(text, i + 1, 2);
        const zm = digits(text, i + 4, 2);
        if (zh < 0 || zh > 23 || zm < 0 || zm > 59) return undefined;
        offset = (zone === "+" ? 1 : -1) * (zh * HOUR + zm * MINUTE);
      } else {
        return undefined;
      }
    }
  }
  let time = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (year < 100) {
    // Date.UTC maps years 0–99 to 1900–1999.
    const date = new Date(time);
    date.setUTCFullYear(year);
    time = date.getTime();
  }
  return time - offset;
}

function optionsError(message: string): VigilError {
  return new VigilError(ErrorCodes.QUERY_OPTIONS, message);
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${value}'`;
  if (value instanceof Date) return "an invalid Date";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "number" ? String(value) : `a ${typeof value}`;
}

/**
 * Turns a `from`/`to` option into a `Date`: a valid `Date`, an ISO 8601 string in the
 * syntax of {@link parseDateText}, or finite epoch milliseconds.
 *
 * @param name - the option's name, for the error message.
 * @throws VigilError `VIGIL_ERR_QUERY_OPTIONS` for anything else.
 * @example
 * toInstant("2026-11-26", "from"); // 2026-11-26T00:00:00.000Z
 */
export function toInstant(value: unknown, name: string): Date {
  let time: number | undefined;
  if (value instanceof Date) time = value.getTime();
  else if (typeof value === "number") time = value;
  else if (typeof value === "string") time = parseDateText(value);
  if (time === undefined || !Number.isFinite(time) || Math.abs(time) > MAX_TIME) {
    throw optionsError(
      `invalid '${name}': expected a Date, an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]) or epoch milliseconds, found ${describe(value)}`,
    );
  }
  return new Date(time);
}

const NAMED_RANGES = "expected last_<n>m|h|d|w, today, yesterday, this_week or this_month";

function startOfUtcDay(time: number): number {
  return Math.floor(time / DAY) * DAY;
}

/** The bounds of a named range relative to `now`. */
function namedRange(name: string, now: number): { from: number; to?: number } {
  const today = startOfUtcDay(now);
  switch (name) {
    case "today":
      return { from: today, to: today + DAY };
    case "yesterday":
      return { from: today - DAY, to: today };
    case "this_week": {
      const sinceMonday = (new Date(today).getUTCDay() + 6) % 7;
      const monday = today - sinceMonday * DAY;
      return { from: monday, to: monday + 7 * DAY };
    }
    case "this_month": {
      const d = new Date(today);
      const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      return { from, to: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
    }
  }
  if (name.startsWith("last_") && name.length >= 7) {
    const unit = UNIT_MS[name[name.length - 1] as string];
    const count = name.slice(5, -1);
    if (unit !== undefined && digits(count, 0, count.length) >= 0) {
      const n = Number(count);
      if (n === 0) throw optionsError(`invalid time range '${name}': <n> in last_<n>… must be at least 1`);
      const from = now - n * unit;
      if (!Number.isFinite(from) || Math.abs(from) > MAX_TIME) {
        throw optionsError(`invalid time range '${name}': it starts before the earliest representable date`);
      }
      return { from };
    }
  }
  throw optionsError(`unknown time range '${name}': ${NAMED_RANGES}`);
}

/**
 * Resolves a search's time options into instants. Every given constraint applies, so
 * `{ timeRange: "today", from: "2026-11-26T12:00Z" }` is the afternoon of that day.
 * `last_<n>…` ranges have no upper bound (events stamped slightly in the future by a
 * skewed clock still show); the other named ranges end where their period ends.
 *
 * @param now - the reference time for named ranges; default the current time.
 * @throws VigilError `VIGIL_ERR_QUERY_OPTIONS` for an unknown range name, an invalid
 *   date, or when `from` ends up after `to`.
 * @example
 * resolveTimeRange({ timeRange: "last_24h" }, new Date("2026-11-26T12:00:00Z"));
 * // { from: 2026-11-25T12:00:00.000Z }
 * resolveTimeRange({ timeRange: "this_week" }, new Date("2026-11-26T12:00:00Z"));
 * // { from: 2026-11-23T00:00:00.000Z (a Monday), to: 2026-11-30T00:00:00.000Z }
 */
export function resolveTimeRange(options: TimeRangeOptions, now: Date = new Date()): ResolvedTimeRange {
  let from: number | undefined;
  let to: number | undefined;
  const { timeRange } = options;
  if (timeRange !== undefined && timeRange !== null) {
    if (typeof timeRange !== "string") {
      throw optionsError(`invalid 'timeRange': ${NAMED_RANGES}, found ${describe(timeRange)}`);
    }
    const reference = now.getTime();
    if (!Number.isFinite(reference)) throw optionsError("invalid reference time 'now': an invalid Date");
    const named = namedRange(timeRange, reference);
    from = named.from;
    to = named.to;
  }
  if (options.from !== undefined && options.from !== null) {
    const explicit = toInstant(options.from, "from").getTime();
    from = from === undefined ? explicit : Math.max(from, explicit);
  }
  if (options.to !== undefined && options.to !== null) {
    const explicit = toInstant(options.to, "to").getTime();
    to = to === undefined ? explicit : Math.min(to, explicit);
  }
  if (from !== undefined && to !== undefined && from > to) {
    const why = timeRange === undefined ? "" : ` (with timeRange '${timeRange}')`;
    throw optionsError(
      `invalid time range: 'from' ${new Date(from).toISOString()} is after 'to' ${new Date(to).toISOString()}${why}`,
    );
  }
  const result: { from?: Date; to?: Date } = {};
  if (from !== undefined) result.from = new Date(from);
  if (to !== undefined) result.to = new Date(to);
  return result;
}
