/**
 * How events are printed by `vigil search` and `vigil tail`: a table of the main
 * fields (neutralized, cut to the terminal's width), or JSON.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { getPath } from "../query/fields.js";
import { displayWidth, neutralize, pad, renderTable, type TableColumn, truncate } from "./terminal.js";

/** The columns of the event table. */
export const EVENT_COLUMNS: readonly TableColumn[] = [
  { header: "TIME", min: 23 },
  { header: "SEVERITY", min: 8 },
  { header: "CATEGORY", min: 8, max: 24 },
  { header: "TYPE", min: 8, max: 32 },
  { header: "ACTOR", min: 8, max: 32 },
  { header: "STATUS", min: 7 },
  { header: "MS", align: "right", min: 2 },
  { header: "RESOURCE", min: 10 },
];

function text(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return "";
  }
}

function firstText(event: AuditEvent, paths: readonly string[]): string {
  for (const p of paths) {
    const v = text(getPath(event, p));
    if (v !== "") return v;
  }
  return "";
}

function time(value: unknown): string {
  const s = text(value);
  // 2025-10-10T12:00:00.123Z → 2025-10-10 12:00:00.123 (UTC), anything else as it is
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(s) ? `${s.slice(0, 10)} ${s.slice(11, 23)}` : s;
}

function duration(value: unknown): string {
  if (typeof value !== "number" || !Number.isFinite(value)) return text(value);
  return value >= 100 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

/** An event's table cells, every one neutralized. */
export function eventCells(event: AuditEvent): string[] {
  const resource = firstText(event, ["action.resource.path", "action.resource.name", "action.resource.id"]);
  const method = text(getPath(event, "action.method"));
  return [
    time(getPath(event, "timestamp")),
    text(getPath(event, "severity")),
    text(getPath(event, "action.category")),
    text(getPath(event, "action.type")),
    firstText(event, ["actor.username", "actor.id", "actor.ip"]),
    text(getPath(event, "result.status")),
    duration(getPath(event, "result.duration_ms")),
    method && resource ? `${method} ${resource}` : resource || method,
  ].map(neutralize);
}

/** The event table as lines, header first, fitted to `width` columns. */
export function eventTable(events: readonly AuditEvent[], width: number): string[] {
  return renderTable(EVENT_COLUMNS, events.map(eventCells), width);
}

/** Fixed widths of the streaming (`tail`) layout; the last column takes the rest of the line. */
const STREAM_WIDTHS = [23, 8, 12, 18, 16, 7, 6] as const;

/** The header of the streaming layout. */
export function streamHeader(width: number): string {
  return streamLine(
    EVENT_COLUMNS.map((c) => c.header),
    width,
  );
}

/**
 * One event as one line of fixed-width columns, so that lines printed at different
 * times line up (a table would size columns per batch).
 */
export function streamLine(cells: readonly string[], width: number): string {
  let line = "";
  for (let i = 0; i < STREAM_WIDTHS.length; i++) {
    const w = STREAM_WIDTHS[i]!;
    line += `${pad(truncate(cells[i] ?? "", w), w, EVENT_COLUMNS[i]!.align)}  `;
  }
  const rest = Number.isFinite(width) ? Math.max(8, width - displayWidth(line)) : Number.POSITIVE_INFINITY;
  return (line + truncate(cells[STREAM_WIDTHS.length] ?? "", rest)).trimEnd();
}
