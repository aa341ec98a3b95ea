/**
 * Excel export (`excel` / `xlsx`): a real workbook written with exceljs's streaming
 * writer, so rows go to the file as they are made and memory stays flat.
 *
 * One sheet, `Events`: a bold header row, frozen, with an autofilter over every row;
 * one row per event with the columns of {@link EXPORT_COLUMNS} as typed cells — the
 * timestamp a real date (UTC, shown `yyyy-mm-dd hh:mm:ss.000`), numbers as numbers —
 * and the whole event as JSON in the last column.
 *
 * Excel's limits are respected: a cell holds at most 32,767 characters (longer text is
 * cut and ends with `…[truncated]`), and characters XML cannot carry (C0 controls other
 * than tab, LF and CR) are shown as U+FFFD in the typed columns; the JSON column keeps
 * them as `\u` escapes, so the event is never altered there.
 *
 * exceljs is an optional peer dependency, loaded on first use.
 *
 * @module
 */
import { Writable } from "node:stream";
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { cellText, EXPORT_COLUMNS, type ExportColumn, zoneOffsetMs } from "./columns.js";
import { terminalSafeJson } from "./json.js";
import type { Output } from "./output.js";

/** Excel's limit on the characters in one cell. */
export const MAX_CELL_CHARS = 32_767;
const TRUNCATED = "…[truncated]";
/** The sheet's name. */
export const SHEET_NAME = "Events";
/** The number format of the timestamp column. */
export const DATE_FORMAT = "yyyy-mm-dd hh:mm:ss.000";
/** Rows between checks that compression keeps up with row making. */
const CHECK_EVERY = 64;
/** Uncompressed sheet XML allowed to wait for the compressor before rows pause. */
const MAX_UNCOMPRESSED_BACKLOG = 1 << 20;
// Shared style objects: exceljs caches a style by object identity, so one object per kind
// saves it from re-deriving the style of every cell (a 2.5x speed-up).
const DATE_STYLE = Object.freeze({ numFmt: DATE_FORMAT });
const PLAIN_STYLE = Object.freeze({});
const HEADER_STYLE = Object.freeze({ font: Object.freeze({ bold: true }) });

/** The part of the exceljs module the export uses. */
interface ExcelJsModule {
  readonly stream: {
    readonly xlsx: {
      readonly WorkbookWriter: new (options: {
        stream: Writable;
        useStyles: boolean;
        useSharedStrings: boolean;
      }) => WorkbookWriterLike;
    };
  };
}

interface CellLike {
  style: unknown;
}

interface RowLike {
  getCell(column: number): CellLike;
  commit(): void;
}

interface WorksheetLike {
  columns: unknown;
  autoFilter: unknown;
  /** The sheet's XML stream (exceljs's `StreamBuf`); its `pipes` feed the compressor. */
  readonly stream?: unknown;
  addRow(values: readonly unknown[]): RowLike;
  commit(): void;
}

interface WorkbookWriterLike {
  creator: string;
  created: Date;
  addWorksheet(name: string, options: unknown): WorksheetLike;
  commit(): Promise<void>;
}

/** How the exceljs module is imported; replaceable in tests. */
export type ExcelJsImporter = () => Promise<unknown>;

const importExcelJs: ExcelJsImporter = () => import("exceljs");

/**
 * Load exceljs, or fail with `VIGIL_ERR_MISSING_DEPENDENCY` naming the package and how
 * to install it.
 */
export async function loadExcelJs(importer: ExcelJsImporter = importExcelJs): Promise<ExcelJsModule> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND")
      throw new VigilError(
        ErrorCodes.MISSING_DEPENDENCY,
        'the excel export needs the optional package "exceljs": install it with `npm install exceljs`',
        { cause: err },
      );
    throw err;
  }
  const candidate = ((mod as { default?: unknown }).default ?? mod) as Partial<ExcelJsModule>;
  if (typeof candidate.stream?.xlsx?.WorkbookWriter !== "function")
    throw new VigilError(
      ErrorCodes.MISSING_DEPENDENCY,
      'the installed "exceljs" has no streaming workbook writer (exceljs >= 4 is needed)',
    );
  return candidate as ExcelJsModule;
}

/** Cut text to Excel's cell limit, never splitting a surrogate pair. */
export function capCell(text: string): string {
  if (text.length <= MAX_CELL_CHARS) return text;
  let end = MAX_CELL_CHARS - TRUNCATED.length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end) + TRUNCATED;
}

// C0 controls except TAB, LF, CR: XML 1.0 cannot carry them.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this pattern finds.
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this pattern finds.
const HAS_XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

function textCell(text: string): string {
  const clean = HAS_XML_INVALID.test(text) ? text.replace(XML_INVALID, "\ufffd") : text;
  return capCell(clean);
}

/** The typed cell values of one event's row. */
export function xlsxRow(event: AuditEvent, columns: readonly ExportColumn[] = EXPORT_COLUMNS): unknown[] {
  const row: unknown[] = new Array(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const column = columns[i]!;
    const value = column.get(event);
    if (value === undefined || value === null) {
      row[i] = null;
      continue;
    }
    switch (column.kind) {
      case "date": {
        const ms = typeof value === "string" ? Date.parse(value) : Number.NaN;
        // a zoned column shows the zone's wall time (Excel dates have no zone)
        const shown =
          column.zone !== undefined && Number.isFinite(ms) ? ms + zoneOffsetMs(ms, column.zone) : ms;
        row[i] = Number.isFinite(shown) ? new Date(shown) : textCell(cellText(value, "string"));
        break;
      }
      case "number":
        row[i] =
          typeof value === "number" && Number.isFinite(value) ? value : textCell(cellText(value, "string"));
        break;
      case "boolean":
        row[i] = typeof value === "boolean" ? value : textCell(cellText(value, "string"));
        break;
      case "json":
        row[i] = capCell(terminalSafeJson(value));
        break;
      default:
        row[i] = textCell(cellText(value, "string"));
    }
  }
  return row;
}

interface WritableStateLike {
  readonly length?: number;
}
interface PipeLike {
  readonly _writableState?: WritableStateLike;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * A wait for the compressor. exceljs hands the sheet's XML to the zip compressor
 * without backpressure, so rows made faster than zlib compresses them pile up in
 * memory (hundreds of MB over a million rows). This waits, when more than 1 MiB is
 * queued, until the compressor's input has drained. It reads exceljs 4 internals; if
 * they are not there, it falls back to yielding to the event loop, which lets zlib run.
 */
function compressorBacklog(sheet: WorksheetLike): () => Promise<void> | undefined {
  return () => {
    const pipes = (sheet.stream as { pipes?: unknown } | undefined)?.pipes;
    if (Array.isArray(pipes)) {
      for (const pipe of pipes as PipeLike[]) {
        const queued = pipe._writableState?.length;
        if (typeof queued === "number" && queued > MAX_UNCOMPRESSED_BACKLOG)
          return new Promise<void>((resolve) => pipe.once("drain", resolve));
      }
      if (pipes.length > 0) return undefined;
    }
    return new Promise<void>((resolve) => setImmediate(resolve));
  };
}

/** Write every event into an xlsx workbook; returns how many were written. */
export async function writeXlsx(
  events: AsyncIterable<AuditEvent>,
  out: Output,
  progress: (count: number) => void,
  importer?: ExcelJsImporter,
  columns: readonly ExportColumn[] = EXPORT_COLUMNS,
): Promise<number> {
  const ExcelJS = await loadExcelJs(importer);
  // exceljs pipes its zip into this adapter; the adapter waits on the destination's backpressure.
  const adapter = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      let wait: Promise<void> | undefined;
      try {
        wait = out.write(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      if (wait) wait.then(() => callback(), callback);
      else callback();
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    adapter.once("finish", resolve);
    adapter.once("error", reject);
  });
  // Keep an early failure from being unhandled while rows are still being made.
  finished.catch(() => {});

  const workbook = new ExcelJS.stream.xlsx.WorkbookWriter({
    stream: adapter,
    useStyles: true,
    useSharedStrings: false,
  });
  workbook.creator = "vigil";
  workbook.created = new Date();
  const sheet = workbook.addWorksheet(SHEET_NAME, {
    views: [{ state: "frozen", xSplit: 0, ySplit: 1, topLeftCell: "A2", activeCell: "A2" }],
  });
  sheet.columns = columns.map((c) => ({ key: c.header, width: c.width }));
  const styles = columns.map((c) => (c.kind === "date" ? DATE_STYLE : PLAIN_STYLE));
  const header = sheet.addRow(columns.map((c) => c.header));
  for (let i = 0; i < columns.length; i++) header.getCell(i + 1).style = HEADER_STYLE;
  header.commit();

  const backlog = compressorBacklog(sheet);
  let count = 0;
  for await (const event of events) {
    const values = xlsxRow(event, columns);
    const row = sheet.addRow(values);
    for (let i = 0; i < values.length; i++) if (values[i] !== null) row.getCell(i + 1).style = styles[i];
    row.commit();
    count++;
    if (count % CHECK_EVERY === 0) {
      const wait = backlog();
      if (wait) await Promise.race([wait, finished]); // a failed destination must not leave this waiting
      if (count % 1024 === 0) progress(count);
    }
  }
  sheet.autoFilter = { from: { row: 1, column: 1 }, to: { row: count + 1, column: columns.length } };
  sheet.commit();
  await workbook.commit();
  await finished;
  return count;
}
