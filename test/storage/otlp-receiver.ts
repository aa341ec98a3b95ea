/**
 * A local OTLP/HTTP logs receiver on `node:http` for tests: it records every request
 * (headers, raw bytes, the decompressed and parsed JSON) and answers from a script, so a
 * test can inject each failure the OTLP specification names: 429 with `Retry-After`,
 * 502/503/504, 400, 413, a partial success, a connection reset, a slow answer.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import type { KeyValue, OtlpLogRecord } from "../../src/storage/otlp/mapping.js";

/** How the receiver answers one request. */
export type Reply =
  | { readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string }
  /** Destroy the connection without an answer. */
  | { readonly reset: true }
  /** Answer 200 only after this long (longer than the client waits). */
  | { readonly delayMs: number };

/** An `ExportLogsServiceRequest` as JSON. */
export interface ExportLogsRequest {
  readonly resourceLogs: readonly {
    readonly resource: { readonly attributes: readonly KeyValue[] };
    readonly scopeLogs: readonly {
      readonly scope: { readonly name: string; readonly version: string };
      readonly logRecords: readonly OtlpLogRecord[];
    }[];
  }[];
}

/** One request as received. */
export interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly raw: Buffer;
  readonly body: ExportLogsRequest;
  /** How it was answered: a status, `reset` or `slow`. */
  readonly reply: number | "reset" | "slow";
  readonly receivedAt: number;
}

export interface Receiver {
  /** The logs endpoint, `http://127.0.0.1:PORT/v1/logs`. */
  readonly url: string;
  readonly requests: Received[];
  /** Queue answers for the next requests; once the queue is empty, requests get 200 `{}`. */
  script(...replies: Reply[]): void;
  /** Answer every request after the scripted ones with `reply` (an outage) until called with `undefined`. */
  answerAll(reply: Reply | undefined): void;
  /** The log records of the requests answered 2xx, in order. */
  accepted(): OtlpLogRecord[];
  close(): Promise<void>;
}

/** Starts a receiver on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const queue: Reply[] = [];
  let fallback: Reply | undefined;
  const requests: Received[] = [];
  const slow = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const text =
        req.headers["content-encoding"] === "gzip" ? gunzipSync(raw).toString("utf8") : raw.toString("utf8");
      const reply = queue.shift() ?? fallback ?? { status: 200, body: "{}" };
      const record = (r: Received["reply"]) =>
        requests.push({
          headers: req.headers,
          raw,
          body: JSON.parse(text) as ExportLogsRequest,
          reply: r,
          receivedAt: Date.now(),
        });
      if ("reset" in reply) {
        record("reset");
        req.socket.destroy();
        return;
      }
      if ("delayMs" in reply) {
        record("slow");
        const t = setTimeout(() => {
          slow.delete(t);
          if (!res.destroyed) res.writeHead(200, { "content-type": "application/json" }).end("{}");
        }, reply.delayMs);
        slow.add(t);
        return;
      }
      record(reply.status);
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(reply.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/logs`,
    requests,
    script: (...replies) => queue.push(...replies),
    answerAll: (reply) => {
      fallback = reply;
    },
    accepted: () =>
      requests
        .filter((r) => typeof r.reply === "number" && r.reply >= 200 && r.reply < 300)
        .flatMap((r) => r.body.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((s) => s.logRecords))),
    close: async () => {
      for (const t of slow) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The value of attribute `key` in a list of attributes, decoded from its `AnyValue`. */
export function attribute(attributes: readonly KeyValue[], key: string): unknown {
  const kv = attributes.find((a) => a.key === key);
  return kv === undefined ? undefined : decode(kv.value);
}

/** An `AnyValue` as plain JSON (ints from their decimal strings). */
export function decode(value: KeyValue["value"]): unknown {
  if ("stringValue" in value) return value.stringValue;
  if ("boolValue" in value) return value.boolValue;
  if ("intValue" in value) return Number(value.intValue);
  if ("doubleValue" in value) return value.doubleValue;
  if ("arrayValue" in value) return value.arrayValue.values.map(decode);
  return Object.fromEntries(value.kvlistValue.values.map((kv) => [kv.key, decode(kv.value)]));
}
