/**
 * CSV export (RFC 4180): a header row, then one row per event with the columns of
 * {@link EXPORT_COLUMNS}; records end with CRLF; a field holding a comma, a double
 * quote, CR or LF is quoted, and its quotes are doubled.
 *
 * Formula injection is neutralized: a text cell that begins with `=`, `+`, `-`, `@`,
 * a tab or a carriage return would be run as a formula by a spreadsheet, so it gets a
 * leading `'` (`=HYPERLINK(...)` is exported as `'=HYPERLINK(...)`). Numbers are
 * written as numbers and never prefixed.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { cellText, EXPORT_COLUMNS, type ExportColumn } from "./columns.js";
import type { Output } from "./output.js";

/** The first characters that make a spreadsheet read a cell as a formula. */
function startsLikeFormula(text: string): boolean {
  const c = text.charCodeAt(0);
  return c === 0x3d || c === 0x2b || c === 0x2d || c === 0x40 || c === 0x09 || c === 0x0d; // = + - @ TAB CR
}

/** A comma, double quote, CR or LF: the field must be quoted. (One class: linear, and native speed on long JSON.) */
const NEEDS_QUOTES = /[",\r\n]/;
const QUOTE = /"/g;

/**
 * One CSV field. Text that starts like a formula gets a leading `'`; then a field with
 * a comma, quote, CR or LF is quoted with its quotes doubled.
 *
 * @example
 * csvField('say "hi", bob'); // "\"say \"\"hi\"\", bob\""
 * csvField("=1+1");          // "'=1+1"
 * csvField(-3);              // "-3" (a number, not text)
 */
export function csvField(value: unknown, kind: "text" | "number" = "text"): string {
  if (kind === "number" && typeof value === "number" && Number.isFinite(value)) return String(value);
  let text = typeof value === "string" ? value : cellText(value, "string");
  if (text.length === 0) return "";
  if (startsLikeFormula(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(QUOTE, '""')}"` : text;
}

/** A text field without formula guard or quotes needed: most values (ids, names, ISO times). */
function plainText(text: string): boolean {
  return !startsLikeFormula(text) && !NEEDS_QUOTES.test(text);
}

/** One CSV record (with its CRLF) for an event. */
export function csvRow(event: AuditEvent, columns: readonly ExportColumn[] = EXPORT_COLUMNS): string {
  let row = "";
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    const value = column.get(event);
    if (i > 0) row += ",";
    if (column.kind === "json") {
      // JSON of an object or array: never formula-like, quoted when it holds a quote or comma
      const text = cellText(value, "json");
      const c = text.charCodeAt(0);
      row +=
        c === 0x7b || c === 0x5b
          ? NEEDS_QUOTES.test(text)
            ? `"${text.replace(QUOTE, '""')}"`
            : text
          : csvField(text);
    } else if (typeof value === "string" && value.length > 0 && plainText(value)) row += value;
    else row += column.kind === "number" ? csvField(value, "number") : csvField(value);
  }
  return `${row}\r\n`;
}

/** The header record, with its CRLF. */
export function csvHeader(columns: readonly ExportColumn[] = EXPORT_COLUMNS): string {
  return `${columns.map((c) => csvField(c.header)).join(",")}\r\n`;
}

/** Write every event as CSV; returns how many were written. */
export async function writeCsv(
  events: AsyncIterable<AuditEvent>,
  out: Output,
  progress: (count: number) => void,
  columns: readonly ExportColumn[] = EXPORT_COLUMNS,
): Promise<number> {
  out.push(csvHeader(columns));
  let count = 0;
  for await (const event of events) {
    const wait = out.push(csvRow(event, columns));
    if (wait) await wait;
    if ((++count & 1023) === 0) progress(count);
  }
  return count;
}
