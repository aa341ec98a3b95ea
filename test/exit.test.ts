/**
 * The exit guarantees (SPEC §4), each in a real child process: a clean exit,
 * process.exit(), SIGINT and SIGTERM lose nothing queued; the application's own
 * signal handling is kept; kill -9 loses nothing that logDurable acknowledged.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventsOnDisk, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const ENGINE = new URL("../src/index.ts", import.meta.url).pathname;

/** A child that logs `n` events into an async engine with a long batch timeout, then runs `tail`. */
function child(n: number, tail: string): ChildProcess {
  const script = join(dir, "child.mts");
  writeFileSync(
    script,
    `import { AuditEngine } from ${JSON.stringify(ENGINE)};
const engine = new AuditEngine({ env: {}, config: {
  core: { application_name: "exit" },
  storage: { backends: [{ type: "file", directory: ${JSON.stringify(join(dir, "logs"))} }] },
  performance: { async: { enabled: true }, batching: { batch_size: 100000, batch_timeout_seconds: 3600 }, durability: "none" },
} });
for (let i = 0; i < ${n}; i++) engine.log({ action: "E", metadata: { i } });
${tail}
`,
  );
  return spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
}

function exited(
  p: ChildProcess,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (out += d));
  return new Promise((resolve) => p.on("exit", (code, signal) => resolve({ code, signal, out })));
}

function waitFor(p: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve) => {
    let buf = "";
    p.stdout!.on("data", (d) => {
      buf += d;
      if (buf.includes(text)) resolve();
    });
  });
}

const logged = () => eventsOnDisk(join(dir, "logs")).map((e) => e.metadata!.i);
const all = (n: number) => [...Array(n).keys()];

describe("flush on exit", () => {
  it("a natural exit writes every queued event", async () => {
    const r = await exited(child(500, ""));
    expect(r.code).toBe(0);
    expect(logged()).toEqual(all(500));
  });

  it("process.exit() writes every queued event synchronously", async () => {
    const r = await exited(child(500, "process.exit(3);"));
    expect(r.code).toBe(3);
    expect(logged()).toEqual(all(500));
  });

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} writes the queue and still ends the process by the signal`, async () => {
      const p = child(300, 'console.log("ready"); setInterval(() => {}, 1000);');
      const done = exited(p);
      await waitFor(p, "ready");
      p.kill(signal);
      const r = await done;
      expect(r.signal).toBe(signal);
      expect(logged()).toEqual(all(300));
    });
  }

  it("keeps the application's own SIGTERM handler in charge", async () => {
    const p = child(
      200,
      `process.on("SIGTERM", () => { engine.log({ action: "E", metadata: { i: 200 } }); setTimeout(() => process.exit(0), 20); });
console.log("ready"); setInterval(() => {}, 1000);`,
    );
    const done = exited(p);
    await waitFor(p, "ready");
    p.kill("SIGTERM");
    const r = await done;
    expect(r.code).toBe(0); // the app decided how to end
    expect(logged()).toEqual(all(201));
  });

  it("kill -9 loses nothing that logDurable acknowledged", async () => {
    const p = child(
      0,
      `for (let i = 0; i < 50; i++) await engine.logDurable({ action: "E", metadata: { i } });
console.log("acked"); setInterval(() => {}, 1000);`,
    );
    const done = exited(p);
    await waitFor(p, "acked");
    p.kill("SIGKILL");
    await done;
    expect(logged()).toEqual(all(50));
  });

  it("kill -9 loses nothing logged under durability: event on SQLite, even before the engine finished opening", async () => {
    const filename = join(dir, "audit.db");
    const script = join(dir, "sqlite-event.mts");
    writeFileSync(
      script,
      `import { AuditEngine } from ${JSON.stringify(ENGINE)};
const engine = new AuditEngine({ env: {}, config: {
  storage: { backends: [{ type: "database", connection: { dialect: "sqlite", filename: ${JSON.stringify(filename)} } }] },
  performance: { durability: "event" },
} });
for (let i = 0; i < 3; i++) engine.log({ action: "E", metadata: { i } }); // log() has returned: stored
process.kill(process.pid, "SIGKILL");
`,
    );
    const r = await exited(
      spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] }),
    );
    expect(r.signal).toBe("SIGKILL");
    const db = new Database(filename, { readonly: true });
    try {
      const rows = db.prepare("SELECT event FROM vigil_audit_events ORDER BY ts, id").all() as {
        event: string;
      }[];
      expect(rows.map((row) => (JSON.parse(row.event) as { metadata: { i: number } }).metadata.i)).toEqual([
        0, 1, 2,
      ]);
    } finally {
      db.close();
    }
  });
});
