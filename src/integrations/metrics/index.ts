/**
 * `vigil-audit/metrics`: the engine's counters for monitoring — as Prometheus text
 * exposition, as a ready-made `/metrics` handler, and as the seed's
 * `/api/v1/metrics/info` `audit` block (`enabled`, `events_logged_today`,
 * `storage_backends`, `last_event_time`).
 *
 * @example
 * import { auditMetricsInfo, prometheusHandler } from "vigil-audit/metrics";
 *
 * app.get("/metrics", prometheusHandler());
 * app.get("/api/v1/metrics/info", async (_req, res) => {
 *   res.json({ timestamp: new Date().toISOString(), audit: await auditMetricsInfo() });
 * });
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { getDefaultEngine } from "../../default-engine.js";
import type { AuditEngine, EngineMetrics } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { BackendHealth } from "../../storage/backend.js";

/** The content type of the Prometheus text exposition format 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Options of {@link prometheusMetrics} and {@link prometheusHandler}. */
export interface PrometheusOptions {
  /** The engine; default the default engine, looked up at each call. */
  readonly engine?: AuditEngine;
  /** Prefix of every metric name. Default `vigil`. */
  readonly prefix?: string;
}

/** Per-category, per-status counts, when the engine keeps them (`metrics().logged_by_category`). */
type ByCategory = Readonly<Record<string, { readonly success?: number; readonly failure?: number }>>;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A label value escaped for the text format: backslash, double quote and newline. */
function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

/**
 * Render engine metrics as Prometheus text exposition (format 0.0.4). Pure: give it
 * `engine.metrics()`. Families (with the default prefix):
 *
 * | metric | type | labels |
 * |---|---|---|
 * | `vigil_events_total` | counter | `category`, `status` (when the engine counts per category) |
 * | `vigil_events_logged_total` | counter | |
 * | `vigil_events_written_total` | counter | |
 * | `vigil_events_filtered_total` | counter | `category` |
 * | `vigil_events_dropped_total` | counter | |
 * | `vigil_events_failed_total` | counter | |
 * | `vigil_errors_total` | counter | |
 * | `vigil_errors_suppressed_total` | counter | |
 * | `vigil_queue_depth` | gauge | |
 * | `vigil_batches_total` | counter | |
 * | `vigil_batch_latency_seconds` | gauge | `stat` = `mean` or `last` |
 * | `vigil_backend_events_written_total` | counter | `backend` |
 * | `vigil_backend_events_failed_total` | counter | `backend` |
 * | `vigil_backend_up` | gauge | `backend` (1 healthy, 0 not) |
 *
 * @example formatPrometheus(engine.metrics()) // "# HELP vigil_events_logged_total ...\n..."
 */
export function formatPrometheus(metrics: EngineMetrics, prefix = "vigil"): string {
  if (!METRIC_NAME.test(prefix)) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `formatPrometheus: prefix must match ${METRIC_NAME.source}, found ${JSON.stringify(prefix)}`,
    );
  }
  const out: string[] = [];
  const family = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: readonly [string, number][],
  ) => {
    out.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${prefix}_${name}${labels} ${num(value)}`);
  };
  const byCategory = (metrics as EngineMetrics & { readonly logged_by_category?: ByCategory })
    .logged_by_category;
  if (byCategory !== undefined) {
    const samples: [string, number][] = [];
    for (const category of Object.keys(byCategory).sort()) {
      const c = byCategory[category]!;
      samples.push([`{category="${label(category)}",status="SUCCESS"}`, c.success ?? 0]);
      samples.push([`{category="${label(category)}",status="FAILURE"}`, c.failure ?? 0]);
    }
    family("events_total", "counter", "Audit events recorded, by category and result status.", samples);
  }
  family("events_logged_total", "counter", "Audit events accepted by log() (after filters).", [
    ["", metrics.logged],
  ]);
  family("events_written_total", "counter", "Audit events written by at least one backend.", [
    ["", metrics.written],
  ]);
  family(
    "events_filtered_total",
    "counter",
    "Audit events dropped by the configured filters, by category.",
    Object.keys(metrics.filtered_by_category)
      .sort()
      .map((c): [string, number] => [`{category="${label(c)}"}`, metrics.filtered_by_category[c]!]),
  );
  family("events_dropped_total", "counter", "Audit events dropped because the queue was full.", [
    ["", metrics.dropped],
  ]);
  family("events_failed_total", "counter", "Audit events no backend could write.", [["", metrics.failed]]);
  family("errors_total", "counter", "Errors reported by the audit engine.", [["", metrics.errors]]);
  family(
    "errors_suppressed_total",
    "counter",
    "Repeats of a failing backend's error not reported again (once per kind until it recovers).",
    [["", metrics.errors_suppressed]],
  );
  family("queue_depth", "gauge", "Audit events waiting in the queue.", [["", metrics.queue_depth]]);
  family("batches_total", "counter", "Batches written to the backends.", [["", metrics.batches]]);
  family(
    "batch_latency_seconds",
    "gauge",
    "Time from taking a batch off the queue to every backend having answered.",
    [
      ['{stat="mean"}', metrics.batch_latency_ms.mean / 1000],
      ['{stat="last"}', metrics.batch_latency_ms.last / 1000],
    ],
  );
  const backends = Object.keys(metrics.backends).sort();
  const per = (pick: (b: EngineMetrics["backends"][string]) => number): [string, number][] =>
    backends.map((name) => [`{backend="${label(name)}"}`, pick(metrics.backends[name]!)]);
  family(
    "backend_events_written_total",
    "counter",
    "Audit events written, per backend.",
    per((b) => b.written),
  );
  family(
    "backend_events_failed_total",
    "counter",
    "Audit events a backend failed to write.",
    per((b) => b.failed),
  );
  family(
    "backend_up",
    "gauge",
    "Whether a backend is healthy (1) or not (0).",
    per((b) => (b.healthy ? 1 : 0)),
  );
  return `${out.join("\n")}\n`;
}

/**
 * The engine's metrics as Prometheus text exposition.
 *
 * @example const text = prometheusMetrics(); // from the default engine
 */
export function prometheusMetrics(options: PrometheusOptions = {}): string {
  const engine = options.engine ?? getDefaultEngine();
  return formatPrometheus(engine.metrics(), options.prefix ?? "vigil");
}

/**
 * A request handler serving {@link prometheusMetrics} — for `node:http`, Express, or
 * Fastify's `reply.raw`. Answers 500 with a one-line message if the metrics cannot be read.
 *
 * @example app.get("/metrics", prometheusHandler({ engine }));
 */
export function prometheusHandler(
  options: PrometheusOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  if (options.prefix !== undefined) formatPrometheus(emptyMetrics, options.prefix); // validate once, at setup
  return function vigilMetrics(_req, res) {
    let body: string;
    try {
      body = prometheusMetrics(options);
    } catch (err) {
      res.statusCode = 500;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end(`vigil: metrics unavailable: ${(err as Error)?.message ?? String(err)}\n`);
      return;
    }
    res.statusCode = 200;
    res.setHeader("content-type", PROMETHEUS_CONTENT_TYPE);
    res.end(body);
  };
}

const emptyMetrics: EngineMetrics = {
  logged: 0,
  filtered: 0,
  filtered_by_category: {},
  logged_by_category: {},
  written: 0,
  dropped: 0,
  failed: 0,
  errors: 0,
  errors_suppressed: 0,
  queue_depth: 0,
  batches: 0,
  batch_latency_ms: { mean: 0, last: 0 },
  backends: {},
};

/** The seed's `/api/v1/metrics/info` `audit` block. */
export interface AuditMetricsInfo {
  readonly enabled: boolean;
  /** Events stored today (UTC), as the engine's query counts them. */
  readonly events_logged_today: number;
  /** Each backend's health, e.g. `[{ type: "file", name: "file", healthy: true }]`. */
  readonly storage_backends: readonly BackendHealth[];
  /** ISO 8601 time of the last event this process recorded, or null. */
  readonly last_event_time: string | null;
}

/** What {@link auditMetricsInfo} returns when the figures cannot be read (the seed's `except` branch). */
export interface AuditMetricsUnavailable {
  readonly enabled: false;
  readonly error: string;
}

/**
 * The seed's `audit` block for a metrics endpoint. Never rejects: if the figures cannot
 * be read, resolves `{ enabled: false, error }`.
 *
 * @example info.audit = await auditMetricsInfo(); // { enabled: true, events_logged_today: 42, storage_backends: [...], last_event_time: "..." }
 */
export async function auditMetricsInfo(
  engine?: AuditEngine,
): Promise<AuditMetricsInfo | AuditMetricsUnavailable> {
  try {
    const e = engine ?? getDefaultEngine();
    const events_logged_today = await e.getEventCount({ timeRange: "today" });
    const last = e.getLastEventTime();
    return {
      enabled: e.enabled,
      events_logged_today,
      storage_backends: e.getActiveBackends(),
      last_event_time: last ? last.toISOString() : null,
    };
  } catch (err) {
    return { enabled: false, error: (err as Error)?.message ?? String(err) };
  }
}
