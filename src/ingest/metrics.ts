/**
 * An ingest worker's counters as Prometheus text exposition (format 0.0.4), served by
 * `vigil ingest --metrics-port`.
 *
 * @module
 */
import type { IngestMetrics } from "./ingest.js";

/**
 * The families (prefix `vigil_ingest`): `messages_received_total`, `events_written_total`,
 * `records_written_total`, `dead_lettered_total`, `errors_total`, `batches_total` (counters),
 * `lag_messages`, `events_per_second`, `backends_up`, `source_up` (gauges). Each sample carries the
 * `durable` label (the consumer's name).
 *
 * @example formatIngestMetrics(ingestor.metrics(), "vigil-ingest")
 */
export function formatIngestMetrics(m: IngestMetrics, durable: string): string {
  const labels = `{durable="${durable.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"}`;
  const rows: [string, "counter" | "gauge", string, number][] = [
    [
      "messages_received_total",
      "counter",
      "Messages delivered to this worker, redeliveries included.",
      m.received,
    ],
    ["events_written_total", "counter", "Events committed to every central backend.", m.events_written],
    ["records_written_total", "counter", "Signed records (checkpoints) stored centrally.", m.records_written],
    ["dead_lettered_total", "counter", "Messages moved to the dead-letter subject.", m.dead_lettered],
    ["errors_total", "counter", "Failed pulls, writes and acknowledgements.", m.errors],
    ["batches_total", "counter", "Batches committed and acknowledged.", m.batches],
    ["lag_messages", "gauge", "Messages of the stream not yet delivered or not yet acknowledged.", m.lag],
    ["events_per_second", "gauge", "Events committed per second over the last 10 seconds.", m.rate],
    [
      "backends_up",
      "gauge",
      "Whether the last write to the central backends succeeded (1) or not (0).",
      m.backends_up ? 1 : 0,
    ],
    [
      "source_up",
      "gauge",
      "Whether the worker is connected to the stream (0 while it waits for the NATS server, or a pull fails).",
      m.source_up ? 1 : 0,
    ],
  ];
  let out = "";
  for (const [name, type, help, value] of rows)
    out += `# HELP vigil_ingest_${name} ${help}\n# TYPE vigil_ingest_${name} ${type}\nvigil_ingest_${name}${labels} ${value}\n`;
  return out;
}
