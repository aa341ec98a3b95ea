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

/** The field of a column that is not JSON. */
function scalarField(column: ExportColumn, value: unknown): string {
  if (typeof value === "string" && value.length > 0 && plainText(value)) return value;
  return column.kind === "number" ? csvField(value, "number") : csvField(value);
}

/**
 * The field of a JSON column whose text is `text`, or `undefined` when it is written quoted
 * with its quotes doubled: JSON of an object or array is never formula-like, and is quoted
 * only when it holds a quote, comma or line break.
 */
function jsonField(text: string): string | undefined {
  const c = text.charCodeAt(0);
  if (c !== 0x7b && c !== 0x5b) return csvField(text);
  return NEEDS_QUOTES.test(text) ? undefined : text;
}

/** One CSV record (with its CRLF) for an event. */
export function csvRow(event: AuditEvent, columns: readonly ExportColumn[] = EXPORT_COLUMNS): string {
  let row = "";
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    const value = column.get(event);
    if (i > 0) row += ",";
    if (column.kind === "json") {
      const text = cellText(value, "json");
      row += jsonField(text) ?? `"${text.replace(QUOTE, '""')}"`;
    } else row += scalarField(column, value);
  }
  return `${row}\r\n`;
}

/** The header record, with its CRLF. */
export function csvHeader(columns: readonly ExportColumn[] = EXPORT_COLUMNS): string {
  return `${columns.map((c) => csvField(c.header)).join(",")}\r\n`;
}

/** A chunk is handed to the destination once it holds this many bytes. */
const CHUNK_BYTES = 64 * 1024;
/** Room beyond a chunk for the record that fills it (a longer record grows the buffer). */
const SLACK_BYTES = 32 * 1024;

/**
 * CSV records encoded straight into UTF-8 chunks, byte for byte what {@link csvRow} gives.
 * Text between quoted JSON fields is collected as a string and encoded at once; a quoted
 * JSON field is encoded as it is and its quotes are doubled on the bytes (a `"` byte is
 * never part of a multi-byte UTF-8 sequence), which costs a fraction of a regular
 * expression's replace on the string.
 */
class CsvEncoder {
  #buf = Buffer.allocUnsafe(CHUNK_BYTES + SLACK_BYTES);
  #pos = 0;
  /** Text not yet encoded. */
  #text: string;

  constructor(header: string) {
    this.#text = header;
  }

  /** Appends the record of `event`. */
  row(event: AuditEvent, columns: readonly ExportColumn[]): void {
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i]!;
      const value = column.get(event);
      if (i > 0) this.#text += ",";
      if (column.kind !== "json") this.#text += scalarField(column, value);
      else {
        const text = cellText(value, "json");
        const field = jsonField(text);
        if (field !== undefined) this.#text += field;
        else this.#quoted(text);
      }
    }
    this.#text += "\r\n";
  }

  /** The whole records collected once they fill a chunk (the next records start a new one). */
  full(): Buffer | undefined {
    return this.#pos + this.#text.length < CHUNK_BYTES ? undefined : this.end();
  }

  /** Everything collected. */
  end(): Buffer {
    this.#encodeText(0);
    const chunk = this.#buf.subarray(0, this.#pos);
    this.#buf = Buffer.allocUnsafe(CHUNK_BYTES + SLACK_BYTES);
    this.#pos = 0;
    return chunk;
  }

  /** `text` between quotes, its quotes doubled. */
  #quoted(text: string): void {
    this.#text += '"';
    // UTF-8 takes at most 3 bytes per UTF-16 unit, and a doubled quote 2
    this.#encodeText(3 * text.length);
    const buf = this.#buf;
    const start = this.#pos;
    const end = start + buf.write(text, start);
    let quotes = 0;
    for (let i = start; i < end; i++) if (buf[i] === 0x22) quotes++;
    this.#pos = end + quotes;
    // widen from the back: each byte moves right by the number of quotes before it
    for (let i = end - 1, to = end + quotes - 1; quotes > 0; i--) {
      const b = buf[i]!;
      buf[to--] = b;
      if (b === 0x22) {
        buf[to--] = 0x22;
        quotes--;
      }
    }
    this.#text = '"';
  }

  /** Encodes the collected text, leaving room for `more` bytes after it. */
  #encodeText(more: number): void {
    const text = this.#text;
    const need = this.#pos + 3 * text.length + more;
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, CHUNK_BYTES + SLACK_BYTES));
      this.#buf.copy(bigger, 0, 0, this.#pos);
      this.#buf = bigger;
    }
    if (text !== "") this.#pos += this.#buf.write(text, this.#pos);
    this.#text = "";
  }
}

/** Write every event as CSV; returns how many were written. */
export async function writeCsv(
  events: AsyncIterable<AuditEvent>,
  out: Output,
  progress: (count: number) => void,
  columns: readonly ExportColumn[] = EXPORT_COLUMNS,
): Promise<number> {
  const csv = new CsvEncoder(csvHeader(columns));
  let count = 0;
  for await (const event of events) {
    csv.row(event, columns);
    const chunk = csv.full();
    if (chunk !== undefined) {
      const wait = out.write(chunk);
      if (wait) await wait;
    }
    if ((++count & 1023) === 0) progress(count);
  }
  const rest = csv.end();
  if (rest.length > 0) {
    const wait = out.write(rest);
    if (wait) await wait;
  }
  return count;
}
