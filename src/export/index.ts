/**
 * Export (SPEC §5): events to `excel`/`xlsx`, `csv`, `json` or `ndjson`, or mapped to the
 * SIEM schemas `ocsf` and `ecs` (NDJSON, see `siem/`), streamed —
 * events are written as they are read, so exporting millions keeps memory flat.
 *
 * {@link exportEvents} writes any async iterable of events; {@link exportSearch} runs a
 * search on an engine and exports what it finds (what `engine.export(options)` and
 * `AuditQuery.export(options)` do).
 *
 * @example
 * await exportEvents(engine.stream({ category: "SECURITY" }), "csv", "security.csv");
 * await exportSearch(engine, { format: "excel", filename: "security_audit.xlsx", filters: { category: "SECURITY" } });
 *
 * @module
 */
import type { Writable } from "node:stream";
import packageJson from "../../package.json" with { type: "json" };
import { ErrorCodes, VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import { type SearchOptions, toQuerySpec } from "../query/search.js";
import { isTimeZone, tableColumns } from "./columns.js";
import { writeCsv } from "./csv.js";
import { writeJsonArray, writeNdjson } from "./json.js";
import { type ExportDestination, Output } from "./output.js";
import { toEcs } from "./siem/ecs.js";
import { toOcsf } from "./siem/ocsf.js";
import { type ExcelJsImporter, writeXlsx } from "./xlsx.js";

export { EXPORT_COLUMNS, EXPORT_HEADERS, type ExportColumn, isTimeZone, tableColumns } from "./columns.js";
export { csvField, csvHeader, csvRow } from "./csv.js";
export { terminalSafeJson } from "./json.js";
export type { ExportDestination } from "./output.js";
export { ECS_VERSION, type EcsDocument, toEcs } from "./siem/ecs.js";
export { OCSF_PRODUCT, OCSF_VERSION, type OcsfEvent, toOcsf } from "./siem/ocsf.js";
export { DATE_FORMAT, MAX_CELL_CHARS, SHEET_NAME } from "./xlsx.js";

/** The format names accepted; `excel` is another name for `xlsx`. */
export const EXPORT_FORMATS = ["excel", "xlsx", "csv", "json", "ndjson", "ocsf", "ecs"] as const;

/** A format name as accepted by {@link exportEvents}. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A format after `excel` is mapped to `xlsx`. */
export type CanonicalExportFormat = Exclude<ExportFormat, "excel">;

const BY_EXTENSION: Readonly<Record<string, CanonicalExportFormat>> = {
  ".xlsx": "xlsx",
  ".csv": "csv",
  ".json": "json",
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
};

/**
 * The format to write: `format` when given (case-insensitive), else the one the file
 * name's extension implies (`.xlsx`, `.csv`, `.json`, `.ndjson`/`.jsonl`).
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for an unknown format, or when
 *   there is neither a format nor a known extension.
 *
 * @example
 * resolveExportFormat("excel");                  // "xlsx"
 * resolveExportFormat(undefined, "audit.jsonl"); // "ndjson"
 */
export function resolveExportFormat(format: string | undefined, filename?: string): CanonicalExportFormat {
  if (format !== undefined) {
    const name = typeof format === "string" ? format.toLowerCase() : "";
    if (!(EXPORT_FORMATS as readonly string[]).includes(name))
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        `unknown export format ${JSON.stringify(format)}: expected one of ${EXPORT_FORMATS.join(", ")}`,
      );
    return name === "excel" ? "xlsx" : (name as CanonicalExportFormat);
  }
  const dot = filename?.lastIndexOf(".") ?? -1;
  const inferred = dot >= 0 ? BY_EXTENSION[filename!.slice(dot).toLowerCase()] : undefined;
  if (inferred === undefined)
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `export format missing: give one of ${EXPORT_FORMATS.join(", ")}` +
        (filename ? `, or a file name ending in ${Object.keys(BY_EXTENSION).join(", ")}` : ""),
    );
  return inferred;
}

/** Options of {@link exportEvents}. */
export interface ExportEventsOptions {
  /** Called with the number of events written so far, every 1,024 events and at the end. */
  readonly onProgress?: (count: number) => void;
  /** Stops the export (the partial file is removed); it then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** @internal How exceljs is imported (tests replace it to simulate its absence). */
  readonly importExcelJs?: ExcelJsImporter;
  /** CSV and Excel: exactly these columns (dotted paths; `event` is the whole event as JSON). Default: the standard columns. */
  readonly columns?: readonly string[];
  /**
   * CSV and Excel: the time zone (IANA name or `UTC`) timestamps are written in; the column
   * is then named `timestamp (<zone>)`. JSON and NDJSON keep the stored UTC instants.
   */
  readonly timeZone?: string;
}

/** What an export wrote. */
export interface ExportResult {
  readonly format: CanonicalExportFormat;
  /** Events written. */
  readonly count: number;
  /** Bytes written. */
  readonly bytes: number;
  /** The file written, when the destination was a path. */
  readonly path?: string;
}

async function* abortable(
  events: AsyncIterable<AuditEvent>,
  signal: AbortSignal,
): AsyncGenerator<AuditEvent> {
  signal.throwIfAborted();
  for await (const event of events) {
    signal.throwIfAborted();
    yield event;
  }
}

/**
 * Write `events` to `destination` in `format`, streaming. A path is written under a
 * temporary name and renamed when complete (mode 0600); a stream is written but not
 * ended. On failure nothing is left under the requested name.
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` (unknown format, unwritable path),
 *   `VIGIL_ERR_MISSING_DEPENDENCY` (xlsx without exceljs installed),
 *   `VIGIL_ERR_STORAGE` (the destination failed while writing); errors of `events` pass through.
 *
 * @example
 * const { count } = await exportEvents(engine.stream({ timeRange: "today" }), "ndjson", process.stdout);
 */
export async function exportEvents(
  events: AsyncIterable<AuditEvent>,
  format: ExportFormat | (string & {}),
  destination: ExportDestination,
  options: ExportEventsOptions = {},
): Promise<ExportResult> {
  const canonical = resolveExportFormat(format, typeof destination === "string" ? destination : undefined);
  if (options.timeZone !== undefined && !isTimeZone(options.timeZone))
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `unknown time zone ${JSON.stringify(options.timeZone)}: expected UTC or an IANA name like Europe/Paris`,
    );
  const columns = tableColumns({
    ...(options.columns !== undefined ? { columns: options.columns } : {}),
    ...(options.timeZone !== undefined ? { timeZone: options.timeZone } : {}),
  });
  const out = await Output.open(destination);
  const onProgress = options.onProgress ?? (() => {});
  const source = options.signal ? abortable(events, options.signal) : events;
  let count: number;
  try {
    switch (canonical) {
      case "xlsx":
        count = await writeXlsx(source, out, onProgress, options.importExcelJs, columns);
        break;
      case "csv":
        count = await writeCsv(source, out, onProgress, columns);
        break;
      case "json":
        count = await writeJsonArray(source, out, onProgress);
        break;
      case "ndjson":
        count = await writeNdjson(source, out, onProgress);
        break;
      case "ocsf":
        count = await writeNdjson(source, out, onProgress, (e) => toOcsf(e, packageJson.version));
        break;
      case "ecs":
        count = await writeNdjson(source, out, onProgress, toEcs);
        break;
    }
    await out.close();
  } catch (err) {
    await out.abort();
    throw err;
  }
  onProgress(count);
  return {
    format: canonical,
    count,
    bytes: out.bytes,
    ...(typeof destination === "string" ? { path: destination } : {}),
  };
}

/** What can be searched: an `AuditEngine`, or anything with its `stream`. */
export interface EventSource {
  stream(options: SearchOptions): AsyncIterable<AuditEvent>;
}

/**
 * Options of {@link exportSearch}: a search (without a limit, every match is exported)
 * plus where and how to write it.
 */
export interface ExportOptions extends SearchOptions, Omit<ExportEventsOptions, "importExcelJs"> {
  /** The format; default: implied by `filename`'s extension. */
  readonly format?: ExportFormat | (string & {});
  /** The file to write. Exactly one of `filename` and `stream` is required. */
  readonly filename?: string;
  /** A stream to write into instead of a file (not ended). */
  readonly stream?: Writable;
}

/**
 * Search `source` and export every match: `engine.export(options)`. The search options
 * and the format are checked before anything is written.
 *
 * @example
 * await exportSearch(engine, { format: "excel", filename: "security_audit.xlsx", filters: { category: "SECURITY" } });
 */
export async function exportSearch(source: EventSource, options: ExportOptions): Promise<ExportResult> {
  if (options === null || typeof options !== "object")
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, "export options must be an object");
  // importExcelJs is internal (tests), so not in ExportOptions' type, but taken out of the search all the same
  const { format, filename, stream, onProgress, signal, importExcelJs, columns, timeZone, ...search } =
    options as ExportOptions & ExportEventsOptions;
  if ((filename === undefined) === (stream === undefined))
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      "export: give exactly one of `filename` (a file path) and `stream` (a writable stream)",
    );
  const canonical = resolveExportFormat(format, filename);
  toQuerySpec({ ...search, limit: search.limit ?? Number.POSITIVE_INFINITY }); // fail on bad options before writing
  return exportEvents(source.stream(search), canonical, (filename ?? stream)!, {
    ...(onProgress ? { onProgress } : {}),
    ...(signal ? { signal } : {}),
    ...(importExcelJs ? { importExcelJs } : {}),
    ...(columns !== undefined ? { columns } : {}),
    ...(timeZone !== undefined ? { timeZone } : {}),
  });
}
