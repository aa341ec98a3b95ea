/**
 * Many processes, one file store (issue 12): four real processes append to one
 * directory with midnight rotation; every event must land exactly once, on a line of its
 * own, in the right file, and no process may report an error. Retention by several
 * engines at once deletes each file once. (Size rotation and gzip shared by four
 * processes: test/chaos/many.test.ts.)
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { tempDir } from "../helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const ENGINE = new URL("../../src/index.ts", import.meta.url).pathname;
const PROCESSES = 4;

interface Outcome {
  missing: number;
  doubled: number;
  torn: number;
  unreadable: string[];
  errors: string[];
  /** Warnings the writers reported (a torn line repaired, a rotation lock waited for). */
  warnings: string[];
  files: string[];
  /** `file name -> days of the events in it` (from the event timestamps). */
  days: Map<string, Set<string>>;
}

/**
 * Run `PROCESSES` writers of `events` events each (metadata `{ p, i }`), with `rotation`;
 * `timestamp` is a JS expression of `i` (or undefined for now), pausing `pauseMs` every 200
 * events; then read every file back.
 */
async function writers(rotation: string, events: number, timestamp: string, pauseMs = 0): Promise<Outcome> {
  const script = join(dir, "writer.mts");
  writeFileSync(
    script,
    `import { AuditEngine } from ${JSON.stringify(ENGINE)};
const [logs, who, n] = process.argv.slice(2);
const engine = new AuditEngine({ env: {}, config: {
  core: { application_name: "mp" },
  storage: { backends: [{ type: "file", directory: logs, filename_pattern: "mp_{date}.log", rotation: ${rotation} }] },
  performance: { async: { enabled: true }, batching: { batch_size: 50, batch_timeout_seconds: 0.05 } },
} });
const errors = [];
const warnings = [];
engine.on("error", (e) => errors.push(String(e?.message ?? e)));
engine.on("warning", (w) => warnings.push(String(w)));
for (let i = 0; i < Number(n); i++) {
  engine.log({ action: "E", timestamp: ${timestamp}, metadata: { p: Number(who), i } });
  if (i % 200 === 199) await new Promise((r) => setTimeout(r, ${pauseMs}));
}
await engine.close();
console.log("RESULT " + JSON.stringify({ errors, warnings }));
`,
  );
  const logs = join(dir, "logs");
  const runs = await Promise.all(
    Array.from({ length: PROCESSES }, (_, who) => {
      const p = spawn(process.execPath, ["--import", "tsx", script, logs, String(who), String(events)], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (out += d));
      return new Promise<{ code: number | null; out: string }>((resolve) =>
        p.on("exit", (code) => resolve({ code, out })),
      );
    }),
  );
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const r of runs) {
    expect(r.code, r.out).toBe(0);
    const result = JSON.parse(/RESULT (.*)/.exec(r.out)![1]!) as { errors: string[]; warnings: string[] };
    errors.push(...result.errors);
    warnings.push(...result.warnings);
  }
  const files = readdirSync(logs);
  const outcome: Outcome = {
    missing: 0,
    doubled: 0,
    torn: 0,
    unreadable: [],
    errors,
    warnings,
    files,
    days: new Map(),
  };
  const seen = new Map<string, number>();
  for (const name of files) {
    if (!name.startsWith("mp_")) continue;
    let text: string;
    try {
      const buf = readFileSync(join(logs, name));
      text = (name.endsWith(".gz") ? gunzipSync(buf) : buf).toString("utf8");
    } catch (err) {
      outcome.unreadable.push(`${name}: ${(err as Error).message}`);
      continue;
    }
    const days = new Set<string>();
    outcome.days.set(name, days);
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        const e = JSON.parse(line) as { timestamp: string; metadata: { p: number; i: number } };
        const key = `${e.metadata.p}:${e.metadata.i}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        days.add(e.timestamp.slice(0, 10));
      } catch {
        outcome.torn++;
      }
    }
  }
  for (let p = 0; p < PROCESSES; p++)
    for (let i = 0; i < events; i++) {
      const n = seen.get(`${p}:${i}`) ?? 0;
      if (n === 0) outcome.missing++;
      if (n > 1) outcome.doubled++;
    }
  console.log(
    `${PROCESSES} processes x ${events} events, rotation ${rotation}: ${outcome.missing} missing, ${outcome.doubled} doubled, ${outcome.torn} torn lines, ${outcome.unreadable.length} unreadable files, ${errors.length} errors, ${warnings.length} warnings, ${files.length} files (${files.filter((n) => n.endsWith(".gz")).length} gzipped)`,
  );
  return outcome;
}

// Size rotation and gzip shared by four processes (a cluster and unrelated programs, signed,
// with retention by four processes at once) is test/chaos/many.test.ts.

it("four processes rotating at midnight put each event in its own day's file, once", async () => {
  const r = await writers(
    "{ enabled: true, when: 'midnight' }",
    5000,
    "new Date(Date.UTC(2026, 2, 1 + (i % 3), 23, 59, 59, 999)).toISOString()",
  );
  expect(r.errors).toEqual([]);
  expect(r.warnings).toEqual([]);
  expect(r.torn).toBe(0);
  expect(r.missing).toBe(0);
  expect(r.doubled).toBe(0);
  expect(r.files.sort()).toEqual(["mp_2026-03-01.log", "mp_2026-03-02.log", "mp_2026-03-03.log"]);
  for (const [name, days] of r.days) expect([...days]).toEqual([name.slice(3, 13)]);
}, 180_000);

it("retention applied by several engines at once on one signed store deletes each file once, without an error", async () => {
  const logs = join(dir, "logs");
  const config = {
    core: { application_name: "mp" },
    storage: {
      backends: [
        {
          type: "file" as const,
          directory: logs,
          filename_pattern: "mp_{date}.log",
          rotation: { enabled: true, when: "size" as const, max_bytes: 4096 },
        },
      ],
    },
    security: {
      signing: {
        enabled: true,
        algorithm: "hmac-sha256" as const,
        secret_key: "mp-retention-secret-0123456789abcdef",
      },
    },
  };
  const old = new Date(Date.now() - 5 * 86_400_000).toISOString();
  const writer = new AuditEngine({ config, env: {} });
  for (let i = 0; i < 600; i++) writer.log({ action: "OLD", timestamp: old, metadata: { i } });
  for (let i = 0; i < 50; i++) writer.log({ action: "NEW", metadata: { i } });
  await writer.close();
  const oldFiles = readdirSync(logs).filter((n) => n.startsWith(`mp_${old.slice(0, 10)}`));
  expect(oldFiles.length).toBeGreaterThan(5);

  const engines = Array.from({ length: 4 }, () => new AuditEngine({ config, env: {} }));
  const outcomes = await Promise.allSettled(engines.map((e) => e.applyRetention({ days: 2 })));
  await Promise.all(engines.map((e) => e.close()));
  const failures = outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason));
  expect(failures).toEqual([]);
  const deleted = outcomes
    .flatMap((o) => (o.status === "fulfilled" ? o.value : []))
    .reduce((n, r) => n + r.deletedEvents, 0);
  expect(deleted).toBe(600); // each old event deleted (and counted) once
  expect(readdirSync(logs).filter((n) => n.startsWith(`mp_${old.slice(0, 10)}`))).toEqual([]);
  const verifier = new AuditEngine({ config, env: {} });
  const result = await verifier.verify();
  await verifier.close();
  expect(result.status).toBe("intact");
  expect(result.retained).toBe(600);
}, 60_000);
