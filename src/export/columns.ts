/**
 * The columns of the tabular exports (CSV and Excel): the main fields of an event as
 * typed columns, named by their dotted path (the same names the query language uses),
 * then the whole event as JSON in the last column, so nothing is lost.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { compilePath, getPath } from "../query/fields.js";

/** How a column's values are written: Excel gives each kind its own cell type. */
export type ColumnKind = "date" | "string" | "number" | "boolean" | "json";

/** One column of a tabular export. */
export interface ExportColumn {
  /** The header text: the event path the column shows (`actor.username`), or `event`. */
  readonly header: string;
  readonly kind: ColumnKind;
  /** A sensible width in Excel character units. */
  readonly width: number;
  /** The raw value of this column for an event (`undefined` when absent). */
  readonly get: (event: AuditEvent) => unknown;
  /** For a date column shown in a time zone (IANA name): Excel cells show that zone's wall time. */
  readonly zone?: string;
}

function field(header: string, kind: ColumnKind, width: number): ExportColumn {
  // the path is split once, not on every row
  const read = compilePath(header.split("."));
  return { header, kind, width, get: (event) => read(event) };
}

/**
 * The columns, in order. Values are read defensively: an event read back from a file
 * may not have the shape its type promises, and a value of the wrong type is written
 * as text rather than dropped.
 */
export const EXPORT_COLUMNS: readonly ExportColumn[] = Object.freeze([
  field("timestamp", "date", 24),
  field("id", "string", 38),
  field("severity", "string", 10),
  field("action.category", "string", 16),
  field("action.type", "string", 22),
  field("actor.username", "string", 18),
  field("actor.id", "string", 12),
  field("actor.ip", "string", 16),
  field("action.resource.path", "string", 32),
  field("result.status", "string", 10),
  field("result.duration_ms", "number", 12),
  field("result.http_status", "number", 10),
  field("correlation.request_id", "string", 38),
  { header: "event", kind: "json", width: 80, get: (event) => event },
]);

/** The column headers, in order. */
export const EXPORT_HEADERS: readonly string[] = Object.freeze(EXPORT_COLUMNS.map((c) => c.header));

/**
 * A cell value as text: strings as they are, finite numbers and booleans by `String`,
 * objects (and the `event` column) as JSON; `undefined`/`null` as `""`.
 */
export function cellText(value: unknown, kind: ColumnKind): string {
  if (value === undefined || value === null) return "";
  if (kind === "json" || (typeof value === "object" && value !== null)) return safeJson(value);
  return String(value);
}

/** `JSON.stringify` that never throws (a cycle or a BigInt becomes a placeholder string). */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "";
  } catch (err) {
    return `"[unserializable: ${(err as Error).message}]"`;
  }
}

/** Whether `zone` is a time zone this runtime knows (`UTC`, `Europe/Paris`, ...). */
export function isTimeZone(zone: string): boolean {
  if (typeof zone !== "string" || zone === "" || zone.length > 64) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

/** The offset of `zone` from UTC at the instant `ms`, in milliseconds (Paris in winter: 3,600,000). */
export function zoneOffsetMs(ms: number, zone: string): number {
  let format = zoneFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    if (zoneFormats.size < 100) zoneFormats.set(zone, format);
  }
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(new Date(ms)))
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return wall - (ms - (((ms % 1000) + 1000) % 1000));
}

/** `Date#toISOString`'s form, with a day of month up to 28 and an hour up to 23. */
const CANONICAL_UTC =
  /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;

/**
 * An instant as ISO 8601 in `zone`, with its offset: `2026-03-02T13:00:00.123+01:00`
 * (`…Z` in UTC). Not a date: returned as it is.
 */
export function isoInZone(value: unknown, zone: string): unknown {
  // a stored UTC instant is written as it is: what parsing and formatting would give back
  // (a day after the 28th or hour 24 may roll over into the next month or day, so they do not skip)
  if (zone === "UTC" && typeof value === "string" && CANONICAL_UTC.test(value)) return value;
  const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) return value;
  const offset = zone === "UTC" ? 0 : zoneOffsetMs(ms, zone);
  const local = new Date(ms + offset).toISOString().slice(0, 23);
  if (offset === 0 && zone === "UTC") return `${local}Z`;
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset) / 60_000;
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/**
 * The columns of a tabular export: {@link EXPORT_COLUMNS} by default, or exactly the
 * dotted paths in `names` (what a viewer shows). With `timeZone`, the `timestamp` column is
 * named `timestamp (<zone>)` and written in that zone with its offset (Excel: the zone's
 * wall time), so an export always says which zone its times are in.
 *
 * @example tableColumns({ columns: ["timestamp", "actor.username"], timeZone: "Europe/Paris" })
 */
export function tableColumns(
  options: { readonly columns?: readonly string[]; readonly timeZone?: string } = {},
): readonly ExportColumn[] {
  const base =
    options.columns === undefined
      ? EXPORT_COLUMNS
      : options.columns.map((name) => {
          const known = EXPORT_COLUMNS.find((c) => c.header === name);
          return (
            known ??
            (name === "event" ? EXPORT_COLUMNS[EXPORT_COLUMNS.length - 1]! : field(name, "string", 20))
          );
        });
  const zone = options.timeZone;
  if (zone === undefined) return base;
  return base.map((c) =>
    c.header === "timestamp"
      ? {
          header: `timestamp (${zone})`,
          kind: "date" as const,
          width: 30,
          zone,
          get: (e: AuditEvent) => isoInZone(getPath(e, "timestamp"), zone),
        }
      : c,
  );
}
