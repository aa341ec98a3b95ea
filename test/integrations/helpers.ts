/**
 * Shared helpers for the integration tests: an engine writing JSON lines to a temporary
 * directory (synchronous mode, so every event is on disk when `log` returns), and a
 * reader that parses those lines back.
 *
 * @module
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";

export interface TestEngine {
  readonly engine: AuditEngine;
  readonly dir: string;
  /** Every event written so far, in the order written. */
  events(): AuditEvent[];
  /** Close the engine and delete the directory. */
  dispose(): Promise<void>;
}

/** A synchronous engine writing to a fresh temporary directory. */
export function testEngine(extra: VigilConfig = {}): TestEngine {
  const dir = mkdtempSync(join(tmpdir(), "vigil-int-"));
  const engine = new AuditEngine({
    config: {
      core: { application_name: "t" },
      storage: { backends: [{ type: "file", directory: dir }] },
      performance: { async: { enabled: false } },
      ...extra,
    } as VigilConfig,
  });
  return {
    engine,
    dir,
    events() {
      const out: AuditEvent[] = [];
      for (const name of readdirSync(dir).sort()) {
        const text = readFileSync(join(dir, name), "utf8");
        for (const line of text.split("\n")) if (line.trim() !== "") out.push(JSON.parse(line) as AuditEvent);
      }
      return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    },
    async dispose() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { eventually } from "../helpers.js";

/** Listen on 127.0.0.1, port 0; resolves the base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Events of one action type. */
export function ofType(events: readonly AuditEvent[], type: string): AuditEvent[] {
  return events.filter((e) => e.action.type === type);
}
