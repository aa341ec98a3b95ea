import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import ExcelJS from "exceljs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { EXPORT_HEADERS } from "../../src/export/index.js";
import { validateEcs, validateOcsf } from "../siem/schemas.js";
import { ago, createStore, lines, type TestStore } from "./helpers.js";

let store: TestStore;
const logged: AuditEvent[] = [];
const INJECTION = '=HYPERLINK("http://evil.example","open")';
const MULTILINE = 'first line\nsecond, "quoted" line — ünïcödé 日本';

beforeAll(() => {
  store = createStore();
  const log = (input: Parameters<TestStore["log"]>[0]) => logged.push(store.log(input));
  for (let i = 0; i < 30; i++)
    log({
      action: i % 3 === 0 ? "LOGIN" : "QUERY",
      category: i % 3 === 0 ? "SECURITY" : "DATABASE",
      status: i % 5 === 0 ? "FAILURE" : "SUCCESS",
      actor: {
        username: i === 3 ? INJECTION : i === 6 ? MULTILINE : `user${i}`,
        id: String(i),
        ip: "10.0.0.7",
      },
      resource: `/api/v1/orders/${i}`,
      result: { duration_ms: i + 0.5, http_status: i % 5 === 0 ? 403 : 200 },
      correlation: { request_id: `req-${i}` },
      timestamp: ago(300 - i),
    });
});
afterAll(() => store.cleanup());

describe("vigil export", () => {
  it("writes an Excel workbook exceljs reads back: typed cells, frozen header, autofilter", async () => {
    const r = await store.run([
      "export",
      "--category",
      "SECURITY",
      "--output",
      "security_audit.xlsx",
      "--order",
      "asc",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^vigil: exported 10 events to security_audit\.xlsx \(xlsx, [\d.]+ kB, .*\)\n$/);

    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.readFile(join(store.dir, "security_audit.xlsx"));
    const sheet = workbook.getWorksheet("Events")!;
    expect(sheet.rowCount).toBe(11);
    expect(sheet.views[0]).toMatchObject({ state: "frozen", ySplit: 1 });
    expect(sheet.autoFilter).toBe("A1:N11");
    expect((sheet.getRow(1).values as unknown[]).slice(1)).toEqual([...EXPORT_HEADERS]);
    const security = logged.filter((e) => e.action.category === "SECURITY");
    security.forEach((event, i) => {
      const row = sheet.getRow(i + 2);
      const cell = (name: string) => row.getCell(EXPORT_HEADERS.indexOf(name) + 1);
      expect((cell("timestamp").value as Date).toISOString()).toBe(event.timestamp);
      expect(cell("result.duration_ms").value).toBe(event.result.duration_ms);
      expect(cell("result.http_status").type).toBe(ExcelJS.ValueType.Number);
      expect(cell("actor.username").value).toBe(event.actor!.username);
      expect(JSON.parse(cell("event").value as string)).toEqual(event);
    });
  });

  it("writes RFC 4180 CSV that csv-parse reads back, formula injection neutralized, newlines and unicode intact", async () => {
    const r = await store.run(["export", "--output", "audit.csv", "--order", "asc"]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(store.dir, "audit.csv"), "utf8");
    const rows = parseCsv(text) as string[][];
    expect(rows).toHaveLength(31);
    const user = EXPORT_HEADERS.indexOf("actor.username");
    expect(rows[4]![user]).toBe(`'${INJECTION}`);
    expect(rows[7]![user]).toBe(MULTILINE);
    expect(rows.slice(1).map((row) => JSON.parse(row.at(-1)!))).toEqual(logged);
    expect(text.split("\r\n")).toHaveLength(31 + 1); // 31 records; the LF inside MULTILINE is data, not a record end
  });

  it("streams json and ndjson to stdout", async () => {
    const json = await store.run(["export", "--format", "json", "status:FAILURE", "--order", "asc"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(logged.filter((e) => e.result.status === "FAILURE"));
    expect(json.stderr).toMatch(/^vigil: exported 6 events to stdout \(json, /);
    const nd = await store.run(["export", "--format", "ndjson", "--limit", "3"]);
    expect(lines(nd.stdout).map((l) => JSON.parse(l))).toEqual(logged.slice(-3).reverse());
  });

  it("streams the OCSF and ECS mappings as NDJSON, valid against their schemas", async () => {
    const ocsf = await store.run(["export", "--format", "ocsf", "type:LOGIN", "--order", "asc"]);
    expect(ocsf.code).toBe(0);
    expect(ocsf.stderr).toMatch(/^vigil: exported 10 events to stdout \(ocsf, /);
    const events = lines(ocsf.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => (e.metadata as { uid: string }).uid)).toEqual(
      logged.filter((e) => e.action.type === "LOGIN").map((e) => e.id),
    );
    for (const e of events) expect(validateOcsf(e)).toEqual([]);
    const ecs = await store.run(["export", "--format", "ecs", "--output", "audit.ecs.ndjson"]);
    expect(ecs.code).toBe(0);
    const docs = lines(readFileSync(join(store.dir, "audit.ecs.ndjson"), "utf8")).map(
      (l) => JSON.parse(l) as Record<string, unknown>,
    );
    expect(docs).toHaveLength(30);
    for (const d of docs) expect(validateEcs(d)).toEqual([]);
  });

  it("takes the format from the file's extension", async () => {
    const r = await store.run(["export", "--output", "all.jsonl", "type:LOGIN"]);
    expect(r.code).toBe(0);
    const out = lines(readFileSync(join(store.dir, "all.jsonl"), "utf8")).map(
      (l) => JSON.parse(l) as AuditEvent,
    );
    expect(out).toHaveLength(10);
    expect(new Set(out.map((e) => e.action.type))).toEqual(new Set(["LOGIN"]));
  });

  it("asks for a format when neither --format nor a known extension gives one", async () => {
    const r = await store.run(["export", "--output", "audit.data"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^vigil: export format missing: give one of excel, xlsx, csv, json, ndjson, ocsf, ecs, or a file name ending in/,
    );
    expect(existsSync(join(store.dir, "audit.data"))).toBe(false);
  });

  it("draws progress on stderr only when asked (or on a terminal), never when piped", async () => {
    const quiet = await store.run(["export", "--output", "q.ndjson"]);
    expect(quiet.stderr).not.toContain("\r");
    const loud = await store.run(["export", "--output", "p.ndjson", "--limit", "20", "--progress"]);
    expect(loud.code).toBe(0);
    expect(loud.stderr).toMatch(/\rexporting \[[█▏▎▍▌▋▊▉ ]{20}\] \d+% [\d,]+\/20 events · /);
    expect(loud.stderr).toContain("\r\x1b[K");
    expect(loud.stderr).toMatch(/vigil: exported 20 events to p\.ndjson/);
  });

  it("leaves no file behind when the export cannot be written", async () => {
    const r = await store.run(["export", "--output", "missing-dir/x.csv"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "vigil: cannot write the export to missing-dir/x.csv: the directory does not exist\n",
    );
    expect(readdirSync(store.dir).filter((n) => n.includes("partial"))).toEqual([]);
  });
});
