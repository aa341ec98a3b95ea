/**
 * Counts by a field read from the lines' bytes (`engine.aggregate({ groupBy })` over a file
 * store) against the same counts from decoded events (the exported `aggregate` over
 * `engine.stream`), on stores of plain lines, lines a byte reader must not trust (escapes,
 * blanks, damage), encrypted envelopes, and a mix of them.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../../../test/helpers.js";
import { loadConfig } from "../../config/index.js";
import type { FileBackendConfig } from "../../config/types.js";
import { createEncryptionStage } from "../../crypto/stage.js";
import { AuditEngine } from "../../engine.js";
import type { AuditEvent } from "../../event/types.js";
import { aggregate } from "../../query/aggregate.js";
import type { StoredRecord } from "../backend.js";
import { FileBackend } from "./file-backend.js";

const temp = tempDir("vigil-scan-values-");
afterAll(() => temp.cleanup());

const START = Date.UTC(2026, 5, 1);
const KEY = "5a".repeat(32);
const CATEGORIES = ["DATABASE", "API", "AUTHENTICATION", 'say "hi" \\ \n\t', "żółw 🐢", "\u009b31m", "A"];
const USERS = ["alice", "bob", "Émile", 'o"brien', "x".repeat(40)];

/** A varied event; its stored line is JSON.stringify's unless `line` says otherwise. */
function event(i: number): AuditEvent {
  const e: Record<string, unknown> = {
    schema_version: 1,
    id: `0190${String(i).padStart(8, "0")}`,
    timestamp: new Date(START + i * 97_000).toISOString(),
    severity: i % 3 === 0 ? "WARNING" : "INFO",
    security_event: false,
    application: { name: "app", version: "1.0.0", environment: "test", host: "h", pid: 1 },
    action: {
      type: i % 4 === 0 ? "LOGIN" : "QUERY",
      category: CATEGORIES[i % CATEGORIES.length],
      resource: { type: "table", name: "t", category: "RESOURCE-CATEGORY" },
    },
    result: { status: i % 7 === 0 ? "FAILURE" : "SUCCESS", duration_ms: i % 13 },
  };
  if (i % 5 !== 0) e.actor = { id: String(i), username: USERS[i % USERS.length] };
  // the same key names nested elsewhere
  if (i % 6 === 0)
    e.metadata = { action: { category: "NESTED" }, actor: { username: "mallory" }, timestamp: "x" };
  if (i % 11 === 0) e.metadata = { kind: ["a", "b", "a"], n: 7 };
  if (i % 9 === 0) e.tenant = i % 2 === 0 ? "acme" : "globex";
  return e as unknown as AuditEvent;
}

/** Lines other writers could leave: escapes a byte reader must not trust, blanks, duplicates, damage. */
function foreign(e: AuditEvent, i: number): string {
  const line = JSON.stringify(e);
  switch (i % 6) {
    case 0:
      return line.replace('"category":"', '"category":"\\u0041'); // \u escape in the value
    case 1:
      return line.replaceAll("/", "\\/");
    case 2:
      return JSON.stringify(e, null, 1).replaceAll("\n", "");
    case 3:
      // a duplicate member: JSON.parse keeps the last
      return line.replace('"action":{', '"action":{"category":"FIRST",');
    case 4:
      return `${line.slice(0, -1)},"tenant":"acme"}`;
    default:
      return `${line.slice(0, 30)}`; // damaged: not JSON
  }
}

function fileConfig(dir: string): FileBackendConfig {
  const config = loadConfig({ storage: { backends: [{ type: "file", directory: dir }] } }, { env: {} });
  return config.storage.backends[0] as FileBackendConfig;
}

async function store(name: string, lines: (e: AuditEvent, i: number) => string): Promise<AuditEngine> {
  const dir = join(temp.dir, name);
  mkdirSync(dir, { recursive: true });
  const backend = new FileBackend({ config: fileConfig(dir), application: "app" });
  await backend.open();
  const records: StoredRecord[] = [];
  for (let i = 0; i < 3000; i++) {
    const e = event(i);
    records.push({ event: e, line: lines(e, i) });
  }
  await backend.write(records, { sync: false });
  await backend.close();
  return new AuditEngine({
    config: {
      core: { application_name: "app" },
      storage: { backends: [{ type: "file", directory: dir }] },
      security: { encryption: { enabled: false, key: KEY, key_id: "k1" } },
    },
    env: {},
    readOnly: true,
  } as ConstructorParameters<typeof AuditEngine>[0]);
}

const encryptLine = (() => {
  const config = loadConfig(
    {
      storage: { backends: [{ type: "file", directory: "/nonexistent" }] },
      security: { encryption: { enabled: true, key: KEY, key_id: "k1" } },
    },
    { env: {} },
  );
  const stage = createEncryptionStage(config)!;
  return (e: AuditEvent) => stage.encodeLine!(JSON.stringify(e), e);
})();

const STORES: readonly [string, (e: AuditEvent, i: number) => string][] = [
  ["plain lines", (e) => JSON.stringify(e)],
  ["foreign and damaged lines", foreign],
  ["encrypted envelopes", (e) => encryptLine(e)],
  ["a mix", (e, i) => (i % 3 === 0 ? encryptLine(e) : i % 3 === 1 ? foreign(e, i >> 1) : JSON.stringify(e))],
];

const FIELDS = [
  "category",
  "user",
  "tenant",
  "severity",
  "metadata.kind",
  "metadata.n",
  "action.resource.category",
];

describe("counts by a field read from the bytes", () => {
  for (const [name, lines] of STORES) {
    it(`${name}: the same counts as decoding every event`, async () => {
      const engine = await store(name.replace(/\W+/g, "-"), lines);
      try {
        for (const groupBy of FIELDS) {
          for (const range of [
            {},
            { from: new Date(START + 3_600_000), to: new Date(START + 40 * 3_600_000) },
          ]) {
            const fast = await engine.aggregate({ groupBy, ...range });
            const slow = await aggregate(engine.stream(range), { groupBy });
            expect(fast, `${groupBy} ${JSON.stringify(range)}`).toEqual(slow);
            expect(fast.total).toBeGreaterThan(0);
            const hourly = await engine.aggregate({ groupBy, interval: "1h", ...range });
            const hourlySlow = await aggregate(engine.stream(range), {
              groupBy,
              interval: "1h",
              ...(range.from ? { from: range.from, to: range.to } : {}),
            });
            expect(hourly.total).toBe(hourlySlow.total);
            expect(hourly.buckets.filter((b) => b.count > 0)).toEqual(
              hourlySlow.buckets.filter((b) => b.count > 0),
            );
          }
        }
      } finally {
        await engine.close();
      }
    }, 120_000);
  }
});

describe("the file store's values scan", () => {
  it("reads plain lines' fields from their bytes and hands only the doubtful lines as events", async () => {
    const dir = join(temp.dir, "direct");
    mkdirSync(dir, { recursive: true });
    const backend = new FileBackend({ config: fileConfig(dir), application: "app" });
    await backend.open();
    const records: StoredRecord[] = [];
    for (let i = 0; i < 600; i++) {
      const e = event(i);
      records.push({ event: e, line: i % 10 === 0 ? foreign(e, 0) : JSON.stringify(e) });
    }
    await backend.write(records, { sync: false });
    let values = 0;
    let events = 0;
    const seen = new Map<string | null, number>();
    await backend.scan(
      { order: "asc" },
      {
        field: "action.category",
        values: (times, batch) => {
          values += times.length;
          for (const v of batch) seen.set(v, (seen.get(v) ?? 0) + 1);
        },
        events: (batch) => {
          events += batch.length;
        },
      },
    );
    await backend.close();
    expect(events).toBe(60); // the lines with a \u escape
    expect(values).toBe(540);
    expect(seen.get("DATABASE")).toBeGreaterThan(0);
    expect(seen.get('say "hi" \\ \n\t')).toBeGreaterThan(0);
    expect(seen.get("żółw 🐢")).toBeGreaterThan(0);
    expect(seen.has("NESTED")).toBe(false);
  });
});
