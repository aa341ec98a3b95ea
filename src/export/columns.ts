/**
 * The columns of the tabular exports (CSV and Excel): the main fields of an event as
 * typed columns, named by their dotted path (the same names the query language uses),
 * then the whole event as JSON in the last column, so nothing is lost.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { getPath } from "../query/fields.js";

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
}

function field(header: string, kind: ColumnKind, width: number): ExportColumn {
  return { header, kind, width, get: (event) => getPath(event, header) };
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
