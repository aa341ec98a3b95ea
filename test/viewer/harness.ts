/**
 * Helpers for the viewer's API tests: engines over a file store, SQLite or PostgreSQL
 * (synchronous writes, so a logged event is stored when `log` returns), the handler on a
 * real `node:http` server on 127.0.0.1, and requests that keep the path exactly as written
 * (so `../` reaches the server unnormalized).
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { type AuditViewerOptions, auditViewer } from "../../src/viewer/handler.js";
import { dropTable, POSTGRES, uniqueTable } from "../conformance/sql-servers.js";
import { closeServer, listen } from "../integrations/helpers.js";

export type StoreKind = "files" | "sqlite" | "postgresql";

export interface TestStore {
  readonly kind: StoreKind;
  readonly engine: AuditEngine;
  readonly dir: string;
  readonly config: VigilConfig;
  cleanup(): Promise<void>;
}

/** The storage section for a kind of store under `dir`. */
export function storageFor(kind: StoreKind, dir: string, table = "viewer_events"): VigilConfig["storage"] {
  if (kind === "files") return { backends: [{ type: "file", directory: join(dir, "logs") }] };
  if (kind === "sqlite")
    return {
      backends: [
        {
          type: "database",
          connection: { dialect: "sqlite", filename: join(dir, "audit.db") },
          table_name: table,
        },
      ],
    };
  return { backends: [{ type: "database", connection: POSTGRES, table_name: table }] };
}

/** A fresh store of `kind` with a synchronous engine on it. */
export function testStore(kind: StoreKind, extra: VigilConfig = {}): TestStore {
  const dir = mkdtempSync(join(tmpdir(), "vigil-viewer-"));
  const table = kind === "postgresql" ? uniqueTable("viewer_pg") : "viewer_events";
  const config = {
    core: { application_name: "viewer-test" },
    storage: storageFor(kind, dir, table),
    performance: { async: { enabled: false } },
    ...extra,
  } as VigilConfig;
  const engine = new AuditEngine({ config, env: {} });
  engine.on("error", () => undefined);
  return {
    kind,
    engine,
    dir,
    config,
    async cleanup() {
      await engine.close();
      if (kind === "postgresql") await dropTable("postgresql", table);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningViewer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** The handler on a `node:http` server on 127.0.0.1, an ephemeral port. */
export async function startViewer(options: AuditViewerOptions): Promise<RunningViewer> {
  const handler = auditViewer(options);
  const server = createServer((req, res) => handler(req, res));
  const url = await listen(server);
  return { url, server, close: () => closeServer(server) };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** One request with the path sent exactly as given. */
export function call(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: hostname, port, path, method: options.method ?? "GET", headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const text = body.toString("utf8");
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            body,
            json: <T>() => JSON.parse(text) as T,
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Reads a server-sent-event stream until `until` says stop; returns the messages seen. */
export async function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (messages: { event: string; data: unknown }[]) => boolean,
  signal: AbortSignal,
): Promise<{ event: string; data: unknown }[]> {
  const res = await fetch(url, { headers, signal });
  if (res.status !== 200) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
  const messages: { event: string; data: unknown }[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf("\n\n");
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event !== undefined && data !== undefined) messages.push({ event, data: JSON.parse(data) });
      end = buffer.indexOf("\n\n");
    }
    if (until(messages)) {
      await reader.cancel();
      break;
    }
  }
  return messages;
}

/** The viewer's own audit events in the store (category AUDIT, VIEWER_*). */
export async function viewerEvents(engine: AuditEngine, type?: string): Promise<AuditEvent[]> {
  const events = await engine.search({
    query: type ? `category:AUDIT AND type:${type}` : "category:AUDIT",
    timeRange: "last_1h",
    limit: 1000,
    order: "asc",
  });
  return events.filter((e) => e.action.type.startsWith("VIEWER_"));
}

export { eventually } from "../helpers.js";
