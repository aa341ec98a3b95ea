/**
 * Test helpers for the TrafficTracer example: the application's audit engine over a
 * temporary log directory, a logger that keeps what it was told, and the JSON lines
 * vigil wrote.
 *
 * @module
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEngine, AuditEvent } from "vigil-audit";
import { type AuditInitLogger, DEFAULT_CONFIG_FILE, initializeAudit } from "../src/audit_init.js";

/** A logger that records every message by level. */
export interface RecordingLogger extends AuditInitLogger {
  readonly messages: { readonly info: string[]; readonly warn: string[]; readonly error: string[] };
}

/** A logger for `initializeAudit` that keeps its messages instead of printing them. */
export function recordingLogger(): RecordingLogger {
  const messages = { info: [] as string[], warn: [] as string[], error: [] as string[] };
  return {
    messages,
    info: (m) => messages.info.push(m),
    warn: (m) => messages.warn.push(m),
    error: (m) => messages.error.push(m),
  };
}

/** A fresh temporary directory and its cleanup. */
export function tempDir(prefix = "traffictracer-"): { readonly dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `initializeAudit()` with the example's real `config/audit.yaml` (async, batched),
 * its log directory moved to `logDir` through `AUDIT_LOG_DIR`.
 */
export function initializeForTest(logDir: string, logger: AuditInitLogger = recordingLogger()): AuditEngine {
  return initializeAudit(DEFAULT_CONFIG_FILE, { env: { ...process.env, AUDIT_LOG_DIR: logDir }, logger });
}

/** Every event in the `.log` files under `dir`, file by file in name order. */
export function eventsOnDisk(dir: string): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".log")) continue;
    for (const line of readFileSync(join(dir, name), "utf8").split("\n"))
      if (line !== "") events.push(JSON.parse(line) as AuditEvent);
  }
  return events;
}

/** The raw text of every file under `dir`. */
export function rawText(dir: string): string {
  return readdirSync(dir)
    .map((name) => readFileSync(join(dir, name), "utf8"))
    .join("\n");
}
