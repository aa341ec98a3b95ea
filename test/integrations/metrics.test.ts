/**
 * Prometheus exposition of `engine.metrics()` and the seed's metrics/info `audit` block.
 */
import { createServer } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EngineMetrics } from "../../src/engine.js";
import {
  auditMetricsInfo,
  formatPrometheus,
  PROMETHEUS_CONTENT_TYPE,
  prometheusHandler,
  prometheusMetrics,
} from "../../src/integrations/metrics/index.js";
import { closeServer, listen, type TestEngine, testEngine } from "./helpers.js";

let t: TestEngine;
beforeEach(() => {
  t = testEngine();
});
afterEach(async () => {
  await t.dispose();
});

/** `name{labels} value` lines of one metric, as a map from the label part to the value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? "", Number(m[3]));
  }
  return out;
}

describe("Prometheus metrics", () => {
  it("exposes the engine's counters in the text format", async () => {
    t.engine.log({ action: "A", category: "API" });
    t.engine.log({ action: "B", category: "API", status: "FAILURE" });
    await t.engine.flush();
    const text = prometheusMetrics({ engine: t.engine });
    expect(text.endsWith("\n")).toBe(true);
    expect(text).toContain("# TYPE vigil_events_logged_total counter");
    expect(text).toContain("# TYPE vigil_queue_depth gauge");
    expect(samples(text, "vigil_events_logged_total").get("")).toBe(2);
    expect(samples(text, "vigil_events_written_total").get("")).toBe(2);
    expect(samples(text, "vigil_events_dropped_total").get("")).toBe(0);
    expect(samples(text, "vigil_events_failed_total").get("")).toBe(0);
    expect(samples(text, "vigil_queue_depth").get("")).toBe(0);
    expect(samples(text, "vigil_backend_up").get('{backend="file"}')).toBe(1);
    expect(samples(text, "vigil_backend_events_written_total").get('{backend="file"}')).toBe(2);
    expect(samples(text, "vigil_batch_latency_seconds").has('{stat="mean"}')).toBe(true);
    // every sample line belongs to a family declared by HELP and TYPE
    const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const line of text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))) {
      expect(declared.has(line.split(/[{ ]/)[0]!)).toBe(true);
    }
  });

  it("counts filtered events per category and renders per-category, per-status totals when the engine has them", async () => {
    const filtered = testEngine({
      core: { application_name: "t" },
      processing: { filters: [{ type: "category", exclude: ["TEST"] }] },
    });
    filtered.engine.on("warning", () => {});
    filtered.engine.log({ action: "X", category: "TEST" });
    const text = prometheusMetrics({ engine: filtered.engine, prefix: "app_audit" });
    expect(samples(text, "app_audit_events_filtered_total").get('{category="TEST"}')).toBe(1);
    await filtered.dispose();

    const metrics = {
      ...t.engine.metrics(),
      logged_by_category: { API: { success: 3, failure: 1 }, 'we"ird\\cat': { success: 1, failure: 0 } },
    } as EngineMetrics;
    const rendered = formatPrometheus(metrics);
    const totals = samples(rendered, "vigil_events_total");
    expect(totals.get('{category="API",status="SUCCESS"}')).toBe(3);
    expect(totals.get('{category="API",status="FAILURE"}')).toBe(1);
    expect(rendered).toContain('vigil_events_total{category="we\\"ird\\\\cat",status="SUCCESS"} 1');
    expect(() => formatPrometheus(metrics, "bad-prefix")).toThrow(/prefix must match/);
  });

  it("serves the exposition over HTTP with the Prometheus content type", async () => {
    t.engine.log({ action: "A", category: "API" });
    await t.engine.flush();
    const server = createServer(prometheusHandler({ engine: t.engine }));
    const url = await listen(server);
    try {
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
      expect(samples(await res.text(), "vigil_events_logged_total").get("")).toBe(1);
    } finally {
      await closeServer(server);
    }
  });
});

describe("auditMetricsInfo", () => {
  it("gives the seed's audit block", async () => {
    const empty = await auditMetricsInfo(t.engine);
    expect(empty).toEqual({
      enabled: true,
      events_logged_today: 0,
      storage_backends: [{ type: "file", name: "file", healthy: true }],
      last_event_time: null,
    });
    const e = t.engine.log({ action: "APPLICATION_STARTUP", category: "SYSTEM" })!;
    t.engine.log({ action: "A", category: "API" });
    const info = await auditMetricsInfo(t.engine);
    expect(info).toMatchObject({ enabled: true, events_logged_today: 2 });
    expect("last_event_time" in info && Date.parse(info.last_event_time!)).toBeGreaterThanOrEqual(
      Date.parse(e.timestamp),
    );
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });

  it("reports enabled: false with the error when the figures cannot be read", async () => {
    await t.engine.close();
    const broken = {
      getEventCount: () => Promise.reject(new Error("store unreachable")),
    } as unknown as Parameters<typeof auditMetricsInfo>[0];
    expect(await auditMetricsInfo(broken)).toEqual({ enabled: false, error: "store unreachable" });
    t = testEngine();
  });
});
