import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { eventsOnDisk, eventually, fileEngine, tempDir } from "../helpers.js";

let dir: string;
let cleanup: () => void;
const engines: AuditEngine[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  cleanup();
});

function engine(backend: Record<string, unknown> = {}, appName = "traffictracer"): AuditEngine {
  const e = fileEngine(dir, {
    core: { application_name: appName },
    storage: { backends: [{ type: "file", directory: dir, ...backend }] },
  });
  engines.push(e);
  return e;
}

const files = () => readdirSync(dir).sort();

describe("file backend: layout", () => {
  it("names files by filename_pattern: category in lower case, the event's UTC date, the application", () => {
    const e = engine({ filename_pattern: "{application}_audit_{category}_{date}.log" });
    e.log({ action: "QUERY", category: "DATABASE", timestamp: "2025-10-10T08:00:00Z" });
    e.log({ action: "LOGIN", category: "AUTHENTICATION", timestamp: "2025-10-10T09:00:00Z" });
    expect(files()).toEqual([
      "traffictracer_audit_authentication_2025-10-10.log",
      "traffictracer_audit_database_2025-10-10.log",
    ]);
    const line = readFileSync(join(dir, "traffictracer_audit_database_2025-10-10.log"), "utf8");
    expect(line.endsWith("\n")).toBe(true);
    expect(JSON.parse(line).action.type).toBe("QUERY");
  });

  it("never lets a category escape the directory", () => {
    const e = engine({ filename_pattern: "{category}_{date}.log" });
    e.log({ action: "X", category: "../../etc/passwd", timestamp: "2026-01-01T00:00:00Z" });
    e.log({ action: "X", category: "/absolute\\path\0nul", timestamp: "2026-01-01T00:00:00Z" });
    for (const name of files()) expect(name).toMatch(/^[a-z0-9_-]+_2026-01-01\.log$/);
    expect(files()).toHaveLength(2);
    expect(
      eventsOnDisk(dir)
        .map((x) => x.action.category)
        .sort(),
    ).toEqual(["../../ETC/PASSWD", "/ABSOLUTE\\PATH\0NUL"].sort());
  });

  it("escapes control characters and U+2028/U+2029 so every event is exactly one line", () => {
    const e = engine();
    e.log({ action: "X", metadata: { text: "a\nb\rc\u2028d\u2029e\u0000f\u001b[31m" } });
    const raw = readFileSync(join(dir, files()[0]!), "utf8");
    expect(raw.split("\n")).toHaveLength(2);
    for (const c of ["\u2028", "\u2029", "\u0000", "\u001b", "\r"]) expect(raw).not.toContain(c);
    expect(JSON.parse(raw).metadata.text).toBe("a\nb\rc\u2028d\u2029e\u0000f\u001b[31m");
  });
});

describe("file backend: rotation", () => {
  it("rotates at midnight by the event's own date, even when written after midnight", () => {
    const e = engine({ filename_pattern: "audit_{category}_{date}.log" });
    e.log({ action: "LATE", category: "DB", timestamp: "2026-03-01T23:59:59.999Z" });
    e.log({ action: "EARLY", category: "DB", timestamp: "2026-03-02T00:00:00.000Z" });
    e.log({ action: "STRAGGLER", category: "DB", timestamp: "2026-03-01T23:59:59.998Z" }); // written last
    expect(files()).toEqual(["audit_db_2026-03-01.log", "audit_db_2026-03-02.log"]);
    const day1 = readFileSync(join(dir, "audit_db_2026-03-01.log"), "utf8").trim().split("\n");
    expect(day1.map((l) => JSON.parse(l).action.type)).toEqual(["LATE", "STRAGGLER"]);
  });

  it("adds the period to a pattern without {date} (midnight) or {hour} (hourly)", () => {
    const daily = engine({ filename_pattern: "audit.log" });
    daily.log({ action: "A", timestamp: "2026-03-01T10:00:00Z" });
    daily.log({ action: "B", timestamp: "2026-03-02T10:00:00Z" });
    expect(files()).toEqual(["audit.log.2026-03-01", "audit.log.2026-03-02"]);
  });

  it("rotates hourly", () => {
    const e = engine({ filename_pattern: "{category}_{date}.log", rotation: { when: "hourly" } });
    e.log({ action: "A", category: "X", timestamp: "2026-03-01T10:59:59.999Z" });
    e.log({ action: "B", category: "X", timestamp: "2026-03-01T11:00:00Z" });
    expect(files()).toEqual(["x_2026-03-01.log.2026-03-01T10", "x_2026-03-01.log.2026-03-01T11"]);
  });

  it("rotates by size: full files keep their names as name.1, name.2, and nothing is lost", async () => {
    const e = engine({ filename_pattern: "a_{date}.log", rotation: { when: "size", max_bytes: 2000 } });
    for (let i = 0; i < 40; i++) e.log({ action: "E", timestamp: "2026-03-01T10:00:00Z", metadata: { i } });
    const names = files();
    expect(names.length).toBeGreaterThan(3);
    expect(names).toContain("a_2026-03-01.log");
    expect(names).toContain("a_2026-03-01.log.1");
    for (const n of names) expect(statSync(join(dir, n)).size).toBeLessThanOrEqual(2000);
    const found = await e.search({ limit: 100, order: "asc", from: "2026-03-01", to: "2026-03-02" });
    expect(found.map((x) => x.metadata!.i)).toEqual([...Array(40).keys()]);
  });
});

describe("file backend: maintenance", () => {
  function seed(names: string[]): void {
    for (const n of names) {
      const day = /(\d{4}-\d{2}-\d{2})/.exec(n)![1];
      const ev = { id: "x", timestamp: `${day}T12:00:00.000Z`, action: { type: "OLD", category: "DB" } };
      writeFileSync(join(dir, n), `${JSON.stringify(ev)}\n`);
    }
  }

  it("gzips files untouched for compress_after_days (via a temporary file), and search still reads them", async () => {
    seed(["t_audit_db_2026-01-01.log", "t_audit_db_2026-01-02.log"]);
    const old = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(join(dir, "t_audit_db_2026-01-01.log"), old, old);
    const e = engine({ rotation: { compress: true, compress_after_days: 7 } }, "t");
    await e.flush();
    // open() runs maintenance in the background
    const gzipped = ["t_audit_db_2026-01-01.log.gz", "t_audit_db_2026-01-02.log"];
    await eventually(() => (files().join() === gzipped.join() ? true : undefined), "the gzip", 1000).catch(
      () => {},
    );
    expect(files()).toEqual(gzipped);
    const text = gunzipSync(readFileSync(join(dir, "t_audit_db_2026-01-01.log.gz"))).toString();
    expect(JSON.parse(text).timestamp).toBe("2026-01-01T12:00:00.000Z");
    const found = await e.search({ from: "2025-12-31", to: "2026-01-03", order: "asc" });
    expect(found.map((x) => x.timestamp)).toEqual(["2026-01-01T12:00:00.000Z", "2026-01-02T12:00:00.000Z"]);
  });

  it("keeps at most backup_count closed files per family", async () => {
    seed([
      "t_audit_db_2026-01-01.log",
      "t_audit_db_2026-01-02.log",
      "t_audit_db_2026-01-03.log",
      "t_audit_api_2026-01-01.log",
    ]);
    const warnings: string[] = [];
    const e = engine({ rotation: { backup_count: 2 } }, "t");
    e.on("warning", (w) => warnings.push(w));
    const kept = ["t_audit_api_2026-01-01.log", "t_audit_db_2026-01-02.log", "t_audit_db_2026-01-03.log"];
    await eventually(() => (files().join() === kept.join() ? true : undefined), "the pruning", 1000).catch(
      () => {},
    );
    expect(files()).toEqual(kept);
  });

  it("asks beforePrune first: files go only when it resolves, and are kept with a warning when it rejects", async () => {
    seed(["t_audit_db_2026-01-01.log", "t_audit_db_2026-01-02.log", "t_audit_db_2026-01-03.log"]);
    const { FileBackend } = await import("../../src/storage/file/file-backend.js");
    const config = engine({ rotation: { enabled: false, backup_count: 1 } }, "t").config.storage
      .backends[0] as import("../../src/config/types.js").FileBackendConfig;
    const warnings: string[] = [];
    const asked: string[][] = [];
    const refusing = new FileBackend({
      config: { ...config, rotation: { ...config.rotation, enabled: true } },
      application: "t",
      onWarning: (w) => warnings.push(w),
      beforePrune: async ({ files: doomed, keep }) => {
        asked.push([...doomed.map((f) => f.name).sort(), String(keep)]);
        throw new Error("cannot sign");
      },
    });
    await refusing.maintain();
    expect(asked).toEqual([["t_audit_db_2026-01-01.log", "t_audit_db_2026-01-02.log", "1"]]);
    expect(files()).toHaveLength(3);
    expect(warnings).toEqual(["file: kept 2 files beyond backup_count 1: cannot sign"]);
    const agreeing = new FileBackend({
      config: { ...config, rotation: { ...config.rotation, enabled: true } },
      application: "t",
      beforePrune: async ({ files: doomed }) => {
        for (const f of doomed) expect(existsSync(f.path)).toBe(true); // still there when asked
      },
    });
    await agreeing.maintain();
    expect(files()).toEqual(["t_audit_db_2026-01-03.log"]);
  });

  it("never reuses a rotation index that backup_count freed: a higher index is always newer", async () => {
    const e = engine({
      filename_pattern: "a_{date}.log",
      rotation: { when: "size", max_bytes: 600, backup_count: 2 },
    });
    for (let i = 0; i < 60; i++) e.log({ action: "E", timestamp: "2026-03-01T10:00:00Z", metadata: { i } });
    await e.close();
    const rotated = files()
      .map((n) => /^a_2026-03-01\.log\.(\d+)$/.exec(n)?.[1])
      .filter((x) => x !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    expect(rotated).toHaveLength(2);
    expect(rotated[0]).toBeGreaterThan(2);
    expect(rotated[1]).toBe(rotated[0]! + 1);
    // what is left is the newest events, without a hole: the oldest files went
    const kept = eventsOnDisk(dir)
      .map((x) => x.metadata!.i as number)
      .sort((a, b) => a - b);
    expect(kept[0]).toBeGreaterThan(0);
    expect(kept).toEqual(Array.from({ length: 60 - kept[0]! }, (_, k) => kept[0]! + k));
  });

  it("deletes whole files older than the retention cutoff (dry run first)", async () => {
    seed(["t_audit_db_2026-01-01.log", "t_audit_db_2026-01-05.log"]);
    const e = engine({}, "t");
    const { FileBackend } = await import("../../src/storage/file/file-backend.js");
    const fb = new FileBackend({
      config: e.config.storage.backends[0] as import("../../src/config/types.js").FileBackendConfig,
      application: "t",
    });
    const dry = await fb.applyRetention(new Date("2026-01-03T00:00:00Z"), { dryRun: true });
    expect(dry.deletedFiles).toEqual([join(dir, "t_audit_db_2026-01-01.log")]);
    expect(dry.deletedEvents).toBe(1);
    expect(files()).toHaveLength(2);
    await fb.applyRetention(new Date("2026-01-03T00:00:00Z"), { dryRun: false });
    expect(files()).toEqual(["t_audit_db_2026-01-05.log"]);
  });

  it("repairs a torn last line left by a crash, keeps the fragment aside and reports it", () => {
    const name = "t_audit_db_2026-02-01.log";
    const good = JSON.stringify({
      id: "a",
      timestamp: "2026-02-01T00:00:00.000Z",
      action: { type: "A", category: "DB" },
    });
    writeFileSync(join(dir, name), `${good}\n{"id":"torn","timest`);
    const e = engine({}, "t");
    const warnings: string[] = [];
    e.on("warning", (w) => warnings.push(w));
    e.log({ action: "B", category: "DB", timestamp: "2026-02-01T01:00:00Z" });
    const lines = readFileSync(join(dir, name), "utf8").trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => (JSON.parse(l) as AuditEvent).action.type)).toEqual(["A", "B"]);
    const torn = files().find((f) => f.includes(".torn-"))!;
    expect(readFileSync(join(dir, torn), "utf8")).toBe('{"id":"torn","timest');
    expect(warnings.join("\n")).toMatch(/repaired a torn last line .* 20 bytes moved to/);
    expect(existsSync(join(dir, name))).toBe(true);
  });
});
