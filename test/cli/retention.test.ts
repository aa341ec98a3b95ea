import { readdirSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { ago, createStore, lines, type TestStore } from "./helpers.js";

const DAY_MIN = 24 * 60;
const GDPR = `  compliance:
    gdpr:
      enabled: true
      retention_days: 90
`;

let store: TestStore;
beforeEach(() => {
  store = createStore(GDPR);
  store.log({ action: "ANCIENT", category: "DATABASE", timestamp: ago(200 * DAY_MIN) });
  store.log({ action: "OLD", category: "API", timestamp: ago(120 * DAY_MIN) });
  store.log({ action: "OLD_TOO", category: "API", timestamp: ago(120 * DAY_MIN - 1) });
  store.log({ action: "RECENT", category: "DATABASE", timestamp: ago(10 * DAY_MIN) });
  store.log({ action: "TODAY", category: "API" });
});
afterEach(() => store.cleanup());

const dayOf = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString().slice(0, 10);

describe("vigil retention", () => {
  it("with --dry-run, lists what would go and deletes nothing", async () => {
    await store.engine.close();
    const before = readdirSync(store.logDir).sort();
    const r = await store.run(["retention", "--dry-run"]);
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(
      /^Retention: keep 90 days; events before \S+Z go\. \(dry run: nothing is deleted\)$/,
    );
    expect(out[1]).toBe("file: would delete 3 events in 2 files");
    expect(
      out
        .slice(2)
        .map((l) => l.trim().split("/").at(-1))
        .sort(),
    ).toEqual(
      [
        `traffictracer_audit_api_${dayOf(120 * DAY_MIN)}.log`,
        `traffictracer_audit_database_${dayOf(200 * DAY_MIN)}.log`,
      ].sort(),
    );
    expect(readdirSync(store.logDir).sort()).toEqual(before);
  });

  it("deletes the files older than compliance.gdpr.retention_days and keeps the rest", async () => {
    await store.engine.close();
    const r = await store.run(["retention"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)[1]).toBe("file: deleted 3 events in 2 files");
    const left = await store.run(["search", "--format", "ndjson", "--order", "asc"]);
    expect(lines(left.stdout).map((l) => (JSON.parse(l) as AuditEvent).action.type)).toEqual([
      "RECENT",
      "TODAY",
    ]);
  });

  it("takes --days over the configuration", async () => {
    await store.engine.close();
    const r = await store.run(["retention", "--days", "5", "--dry-run"]);
    expect(lines(r.stdout)[1]).toBe("file: would delete 4 events in 3 files");
  });

  it("refuses to run without a retention period (exit 2)", async () => {
    const plain = createStore();
    try {
      const r = await plain.run(["retention"]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /^vigil: no retention period: .*audit\.yaml has compliance\.gdpr\.enabled: false; set compliance\.gdpr \(enabled: true, retention_days: N\) or pass --days N\n$/,
      );
      expect((await plain.run(["retention", "--days", "0"])).code).toBe(2);
    } finally {
      await plain.cleanup();
    }
  });
});
