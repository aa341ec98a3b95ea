/**
 * Test helpers: a temporary store, an engine over it, and the JSON lines on disk.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { VigilConfig } from "../src/config/types.js";
import { AuditEngine } from "../src/engine.js";
import type { AuditEvent } from "../src/event/types.js";

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = "vigil-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** An engine writing JSON lines under `dir`, synchronous unless `async` is asked for. */
export function fileEngine(
  dir: string,
  extra: Writable<VigilConfig> = {},
  opts: { async?: boolean } = {},
): AuditEngine {
  const config: VigilConfig = {
    core: { application_name: "test" },
    storage: { backends: [{ type: "file", directory: dir }] },
    performance: { async: { enabled: opts.async ?? false } },
    ...extra,
  };
  return new AuditEngine({ config, env: {} });
}

/** Every line of every file (plain or gzipped) under `dir`, as raw strings, files in name order. */
export function rawLines(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!/\.log(\.\d+)?(\.gz)?$|\.\d{4}-\d{2}-\d{2}(T\d{2})?(\.\d+)?(\.gz)?$/.test(name)) continue;
    const buf = readFileSync(join(dir, name));
    const text = name.endsWith(".gz") ? gunzipSync(buf).toString("utf8") : buf.toString("utf8");
    for (const line of text.split("\n")) if (line !== "") out.push(line);
  }
  return out;
}

/** The events on disk under `dir`. */
export function eventsOnDisk(dir: string): AuditEvent[] {
  return rawLines(dir).map((l) => JSON.parse(l) as AuditEvent);
}

/** Wait (bounded: `tries` × 10 ms) until `check` returns a value; fails naming `what`. */
export async function eventually<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  tries = 400,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}
