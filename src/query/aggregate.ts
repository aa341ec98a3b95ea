/**
 * Aggregation (SPEC §5): count events per value of a field (`groupBy`), per time
 * bucket (`interval`), or per value within each time bucket (both), in one streaming
 * pass — memory grows with the number of buckets, never with the number of events.
 *
 * {@link aggregate} counts any async iterable of events; {@link aggregateSearch} runs a
 * search on an engine first (what `engine.aggregate(options)` does).
 *
 * @example
 * const { buckets } = await aggregate(engine.stream({ timeRange: "last_24h" }), { groupBy: "category" });
 * // [{ key: "DATABASE", count: 812 }, { key: "API", count: 97 }, ...]
 * await aggregate(events, { interval: "1h", from, to }); // one bucket per hour, empty hours included
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { checkFieldName, compilePath, resolveField } from "./fields.js";
import { type SearchOptions, toQuerySpec } from "./search.js";
import { resolveTimeRange } from "./time-range.js";

/** One bucket: a field value (or `null` for events without the field), or a time bucket's start. */
export interface AggregateBucket {
  /** The value, `null` for "absent"; for time buckets the bucket's start as an ISO string. */
  readonly key: string | null;
  /** Events in this bucket. */
  readonly count: number;
  /** With both `interval` and `groupBy`: the per-value counts inside this time bucket. */
  readonly groups?: readonly AggregateBucket[];
  /** Events of the values cut off by `top` (in `groups`). */
  readonly other?: number;
}

/** The answer of an aggregation. */
export interface AggregateResult {
  /** Events counted. */
  readonly total: number;
  /**
   * By value: largest count first, ties by key (absent last). By time: oldest first,
   * every bucket of the range present, empty ones with count 0.
   */
  readonly buckets: readonly AggregateBucket[];
  /** With `groupBy` and `top` (no `interval`): events of the values cut off. */
  readonly other?: number;
  /** The bucket width in milliseconds, with `interval`. */
  readonly intervalMs?: number;
}

/** Options of {@link aggregate}. At least one of `groupBy` and `interval` is required. */
export interface AggregateOptions {
  /** A field path (`action.category`, `actor.username`) or an alias (`category`, `type`, `user`, `status`). */
  readonly groupBy?: string;
  /** Bucket width: `<n>s|m|h|d|w`, e.g. `1m`, `5m`, `1h`, `1d`, `1w`. Buckets are aligned to UTC (weeks start on Monday). */
  readonly interval?: string;
  /** With `interval`: the first bucket holds this instant (default: the oldest event). */
  readonly from?: Date;
  /** With `interval`: buckets end before this instant (default: now, or the newest event if later). */
  readonly to?: Date;
  /** Keep only the `top` largest values (the rest are summed in `other`). Default: all. */
  readonly top?: number;
  /** With `interval`: the most buckets allowed. Default 10,000. */
  readonly maxBuckets?: number;
  /** Called with the number of events counted so far, every 1,024 events. */
  readonly onProgress?: (counted: number) => void;
}

/** The default of {@link AggregateOptions.maxBuckets}. */
export const DEFAULT_MAX_BUCKETS = 10_000;

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
/** Monday 1970-01-05T00:00Z: weeks are aligned to it. */
const MONDAY_ORIGIN = 4 * 86_400_000;

function optionsError(message: string): VigilError {
  return new VigilError(ErrorCodes.QUERY_OPTIONS, message);
}

/**
 * The width of an interval in milliseconds.
 *
 * @throws {VigilError} `VIGIL_ERR_QUERY_OPTIONS` unless it is `<n>s|m|h|d|w` with n ≥ 1.
 * @example
 * parseInterval("5m"); // 300000
 */
export function parseInterval(interval: string): number {
  const found = typeof interval === "string" ? JSON.stringify(interval) : String(interval);
  const unit = typeof interval === "string" ? UNIT_MS[interval.slice(-1)] : undefined;
  const digits = typeof interval === "string" ? interval.slice(0, -1) : "";
  if (unit === undefined || !/^[0-9]{1,6}$/.test(digits) || Number(digits) === 0)
    throw optionsError(`interval: expected <n>s|m|h|d|w with n >= 1, like "1h" or "5m", found ${found}`);
  return Number(digits) * unit;
}

/** The start of the bucket holding `time`. */
function bucketStart(time: number, size: number, origin: number): number {
  return Math.floor((time - origin) / size) * size + origin;
}

/** A field's value(s) as bucket keys: scalars as text, arrays element by element (each once), absent as null. */
function keysOf(value: unknown, into: (key: string | null) => void): void {
  if (value === undefined || value === null) into(null);
  else if (typeof value === "string") into(value);
  else if (Array.isArray(value)) {
    if (value.length === 0) into(null);
    const seen = new Set<string | null>();
    for (const v of value) keysOf(v, (k) => seen.add(k));
    for (const k of seen) into(k);
  } else if (typeof value === "object") {
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch {
      text = "[unserializable]";
    }
    into(text);
  } else into(String(value));
}

function byCount(a: AggregateBucket, b: AggregateBucket): number {
  if (a.count !== b.count) return b.count - a.count;
  if (a.key === b.key) return 0;
  if (a.key === null) return 1;
  if (b.key === null) return -1;
  return a.key < b.key ? -1 : 1;
}

function ranked(
  counts: Map<string | null, number>,
  top: number,
): { buckets: AggregateBucket[]; other: number } {
  const all: AggregateBucket[] = [];
  for (const [key, count] of counts) all.push({ key, count });
  all.sort(byCount);
  if (all.length <= top) return { buckets: all, other: 0 };
  let other = 0;
  for (let i = top; i < all.length; i++) other += all[i]!.count;
  return { buckets: all.slice(0, top), other };
}

function checkOptions(options: AggregateOptions): {
  read?: (e: unknown) => unknown;
  size?: number;
  top: number;
  max: number;
} {
  if (options === null || typeof options !== "object")
    throw optionsError("aggregate options must be an object");
  const { groupBy, interval } = options;
  if (groupBy === undefined && interval === undefined)
    throw optionsError('aggregate: give `groupBy` (a field), `interval` (like "1h"), or both');
  let read: ((e: unknown) => unknown) | undefined;
  if (groupBy !== undefined) {
    if (typeof groupBy !== "string")
      throw optionsError(`groupBy: expected a field name, found ${typeof groupBy}`);
    const problem = checkFieldName(groupBy);
    if (problem) throw optionsError(`groupBy: invalid field name ${JSON.stringify(groupBy)}: ${problem}`);
    read = compilePath(resolveField(groupBy).split("."));
  }
  const size = interval === undefined ? undefined : parseInterval(interval);
  const top = options.top ?? Number.POSITIVE_INFINITY;
  if (!(top === Number.POSITIVE_INFINITY || (Number.isInteger(top) && top > 0)))
    throw optionsError(`top: expected a positive integer, found ${String(top)}`);
  const max = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  if (!(Number.isInteger(max) && max > 0))
    throw optionsError(`maxBuckets: expected a positive integer, found ${String(max)}`);
  for (const name of ["from", "to"] as const) {
    const d = options[name];
    if (d !== undefined && !(d instanceof Date && Number.isFinite(d.getTime())))
      throw optionsError(`${name}: expected a valid Date`);
  }
  return { ...(read ? { read } : {}), ...(size ? { size } : {}), top, max };
}

function tooMany(buckets: number, interval: string, max: number): VigilError {
  return optionsError(
    `interval ${interval} makes ${buckets} buckets over this time range, more than the ${max} allowed: choose a longer interval or a shorter range`,
  );
}

/** Counts events (or bare timestamps) one by one; `result()` gives the aggregation. */
interface Counter {
  add(event: AuditEvent): void;
  /** Count an event known only by its timestamp (only without `groupBy`). */
  addTime(timestamp: string): void;
  /** Count an event known by its timestamp and its `groupBy` field's string (null: absent). */
  addValue(timestamp: string, value: string | null): void;
  result(): AggregateResult;
}

function createCounter(options: AggregateOptions): Counter {
  const { read, size, top, max } = checkOptions(options);
  const origin = size !== undefined && size % UNIT_MS.w! === 0 ? MONDAY_ORIGIN : 0;
  const from = options.from?.getTime();
  const to = options.to?.getTime();
  if (size !== undefined && from !== undefined) {
    // fail before scanning when the range alone needs too many buckets
    const n = Math.ceil(
      (Math.min(to ?? Number.POSITIVE_INFINITY, Date.now()) - bucketStart(from, size, origin)) / size,
    );
    if (n > max) throw tooMany(n, options.interval!, max);
  }

  const byValue = new Map<string | null, number>();
  const byTime = new Map<number, number>();
  const byTimeValue = new Map<number, Map<string | null, number>>();
  let total = 0;
  let oldest = Number.POSITIVE_INFINITY;
  let newest = Number.NEGATIVE_INFINITY;

  /** The event's time bucket (counted), 0 without interval, undefined when it has no valid time. */
  const countTime = (timestamp: unknown): number | undefined => {
    if (size === undefined) return 0;
    const ms = typeof timestamp === "string" ? Date.parse(timestamp) : Number.NaN;
    if (!Number.isFinite(ms)) return undefined; // a corrupt timestamp has no bucket
    if (ms < oldest) oldest = ms;
    if (ms > newest) newest = ms;
    const timeKey = bucketStart(ms, size, origin);
    byTime.set(timeKey, (byTime.get(timeKey) ?? 0) + 1);
    if (byTime.size > max) throw tooMany(byTime.size, options.interval!, max);
    return timeKey;
  };
  /** The counts by value of one time bucket (all of them without interval). */
  const countsAt = (timeKey: number): Map<string | null, number> => {
    if (size === undefined) return byValue;
    let inner = byTimeValue.get(timeKey);
    if (!inner) {
      inner = new Map();
      byTimeValue.set(timeKey, inner);
    }
    return inner;
  };
  const counted = () => {
    if ((++total & 1023) === 0) options.onProgress?.(total);
  };

  return {
    add(event) {
      const timeKey = countTime(event.timestamp);
      if (timeKey === undefined) return;
      if (read !== undefined) {
        const counts = countsAt(timeKey);
        keysOf(read(event), (key) => counts.set(key, (counts.get(key) ?? 0) + 1));
      }
      counted();
    },
    addTime(timestamp) {
      if (countTime(timestamp) === undefined) return;
      counted();
    },
    addValue(timestamp, value) {
      const timeKey = countTime(timestamp);
      if (timeKey === undefined) return;
      const counts = countsAt(timeKey);
      counts.set(value, (counts.get(value) ?? 0) + 1);
      counted();
    },
    result() {
      if (size === undefined) {
        const { buckets, other } = ranked(byValue, top);
        return other > 0 ? { total, buckets, other } : { total, buckets };
      }
      // Every bucket of the range, empty ones included, oldest first.
      const first = from ?? (total > 0 ? oldest : undefined);
      if (first === undefined) return { total, buckets: [], intervalMs: size };
      const last = Math.min(to ?? Number.POSITIVE_INFINITY, Math.max(Date.now(), newest + 1));
      const start = bucketStart(first, size, origin);
      const count = Math.max(1, Math.ceil((last - start) / size));
      if (count > max) throw tooMany(count, options.interval!, max);
      const buckets: AggregateBucket[] = [];
      for (let i = 0; i < count; i++) {
        const t = start + i * size;
        const n = byTime.get(t) ?? 0;
        const key = new Date(t).toISOString();
        if (read === undefined) buckets.push({ key, count: n });
        else {
          const { buckets: groups, other } = ranked(byTimeValue.get(t) ?? new Map(), top);
          buckets.push(other > 0 ? { key, count: n, groups, other } : { key, count: n, groups });
        }
      }
      return { total, buckets, intervalMs: size };
    },
  };
}

/**
 * Count `events` by field value, by time bucket, or both.
 *
 * @throws {VigilError} `VIGIL_ERR_QUERY_OPTIONS` for a bad field name, interval, `top`,
 *   or a range that would need more than `maxBuckets` time buckets.
 */
export async function aggregate(
  events: AsyncIterable<AuditEvent>,
  options: AggregateOptions,
): Promise<AggregateResult> {
  const counter = createCounter(options);
  for await (const event of events) counter.add(event);
  return counter.result();
}

/**
 * Hands every match of a search to `sink` in batches, in no order: events, or only their
 * timestamps when the sink asks for `times` (the engine passes its backend's `scan`).
 */
export type MatchScanner = (
  search: SearchOptions,
  sink:
    | { readonly events: (batch: readonly AuditEvent[]) => void }
    | { readonly times: (batch: readonly string[]) => void }
    | {
        /** The field counted (a resolved path): a backend may hand its values instead of events. */
        readonly field: string;
        readonly values: (times: readonly string[], values: readonly (string | null)[]) => void;
        readonly events: (batch: readonly AuditEvent[]) => void;
      },
) => Promise<void>;

/** What can be searched: an `AuditEngine`, or anything with its `stream`. */
export interface AggregateSource {
  stream(options: SearchOptions): AsyncIterable<AuditEvent>;
}

/** Options of {@link aggregateSearch}: a search, and how to count what it finds. */
export interface AggregateSearchOptions
  extends SearchOptions,
    Pick<AggregateOptions, "groupBy" | "interval" | "top" | "maxBuckets" | "onProgress"> {}

/**
 * Search `source` and aggregate every match: `engine.aggregate(options)`. Time buckets
 * span the search's time range (`timeRange`, `from`, `to`). Options are checked before
 * the search starts.
 *
 * @example
 * await aggregateSearch(engine, { timeRange: "last_24h", interval: "1h", groupBy: "status" });
 */
export async function aggregateSearch(
  source: AggregateSource,
  options: AggregateSearchOptions,
  scan?: MatchScanner,
): Promise<AggregateResult> {
  if (options === null || typeof options !== "object")
    throw optionsError("aggregate options must be an object");
  const { groupBy, interval, top, maxBuckets, onProgress, ...search } = options;
  const now = new Date();
  const range = resolveTimeRange(search, now);
  const aggregation: AggregateOptions = {
    ...(groupBy !== undefined ? { groupBy } : {}),
    ...(interval !== undefined ? { interval } : {}),
    ...(top !== undefined ? { top } : {}),
    ...(maxBuckets !== undefined ? { maxBuckets } : {}),
    ...(onProgress ? { onProgress } : {}),
    ...(range.from ? { from: range.from } : {}),
    ...(range.to ? { to: range.to } : {}),
  };
  checkOptions(aggregation);
  toQuerySpec({ ...search, limit: search.limit ?? Number.POSITIVE_INFINITY });
  // a limit or a cursor picks which events count: that needs the ordered stream
  if (scan === undefined || search.limit !== undefined || search.cursor !== undefined)
    return aggregate(source.stream(search), aggregation);
  const counter = createCounter(aggregation);
  if (groupBy === undefined)
    await scan(search, {
      times: (batch) => {
        for (const t of batch) counter.addTime(t);
      },
    });
  else
    await scan(search, {
      // a backend may read the field from its store without building events (the file store does)
      field: resolveField(groupBy),
      values: (times, values) => {
        for (let i = 0; i < times.length; i++) counter.addValue(times[i]!, values[i]!);
      },
      events: (batch) => {
        for (const e of batch) counter.add(e);
      },
    });
  return counter.result();
}
