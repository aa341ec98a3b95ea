/**
 * Directory creation (issue 12): a bounded walk instead of Node's recursive mkdir, which
 * spins forever at 100% CPU where a parent exists but the kernel answers ENOENT for the
 * child (procfs). The /proc cases run in a child process killed after a timeout, so a
 * regression fails this test instead of hanging the suite.
 */
import { spawn } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DirectoryError, makeDirectory, makeDirectorySync } from "../../src/storage/dirs.js";
import { run } from "../cli/helpers.js";
import { tempDir } from "../helpers.js";

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(() => cleanup());

const SRC = new URL("../../src/", import.meta.url).pathname;
/** Far beyond what the child needs (about a second); a hang is killed and fails the test. */
const KILL_AFTER_MS = 20_000;

function runChild(source: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  const script = join(dir, "child.mts");
  writeFileSync(script, source);
  const p = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
  const timer = setTimeout(() => p.kill("SIGKILL"), KILL_AFTER_MS);
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) =>
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    }),
  );
}

describe("directories under /proc (the kernel answers ENOENT under an existing parent)", () => {
  it("the engine constructor returns, log() does not throw, and the error names the path and the errno", async () => {
    const r = await runChild(`
import { AuditEngine } from ${JSON.stringify(`${SRC}index.ts`)};
import { makeDirectory, makeDirectorySync } from ${JSON.stringify(`${SRC}storage/dirs.ts`)};
const seen = [];
for (const make of [makeDirectorySync, makeDirectory]) {
  try { await make("/proc/vigil-test/logs"); seen.push("created?!"); } catch (e) { seen.push(e.code + " " + e.errno + " " + e.message); }
}
const engine = new AuditEngine({ env: {}, config: {
  core: { application_name: "proc" },
  storage: { backends: [
    { type: "file", directory: "/proc/vigil-test/logs" },
    { type: "database", connection: { dialect: "sqlite", filename: "/proc/vigil-test/db/audit.db" } },
  ] },
  performance: { async: { enabled: true } },
} });
const errors = [];
engine.on("error", (e) => errors.push(e.message));
engine.log({ action: "E" });
await engine.flush();
await engine.close();
console.log("RESULT " + JSON.stringify({ seen, errors }));
`);
    expect(r.signal, r.out).toBeNull();
    expect(r.code, r.out).toBe(0);
    const { seen, errors } = JSON.parse(/RESULT (.*)/.exec(r.out)![1]!) as {
      seen: string[];
      errors: string[];
    };
    const refused =
      "cannot create directory /proc/vigil-test/logs: the filesystem of /proc refuses to create /proc/vigil-test (procfs, sysfs or a stale mount?) (ENOENT)";
    expect(seen).toEqual([`VIGIL_ERR_STORAGE ENOENT ${refused}`, `VIGIL_ERR_STORAGE ENOENT ${refused}`]);
    expect(errors.some((e) => e.includes(`file: ${refused}`))).toBe(true); // open
    expect(errors.some((e) => e.includes(`file: cannot write to /proc/vigil-test/logs: ${refused}`))).toBe(
      true,
    );
    expect(errors.some((e) => e.includes("cannot create directory /proc/vigil-test/db"))).toBe(true);
  });
  it("vigil init and vigil keygen end at once with the error (the runner kills a hang after 25 s)", async () => {
    const init = await run(["init", "-c", "/proc/vigil-test/config/audit.yaml"], { cwd: dir });
    expect(init.code).toBe(1);
    expect(init.stderr).toContain(
      "cannot create directory /proc/vigil-test/config: the filesystem of /proc refuses to create /proc/vigil-test",
    );
    const keygen = await run(["keygen", "-o", "/proc/vigil-test/keys"], { cwd: dir });
    expect(keygen.code).toBe(1);
    expect(keygen.stderr).toContain(
      "cannot create directory /proc/vigil-test/keys: the filesystem of /proc refuses to create /proc/vigil-test",
    );
  });
});

describe("makeDirectory and makeDirectorySync", () => {
  it("create every missing component of a nested path, with the mode asked for", async () => {
    makeDirectorySync(join(dir, "a/b/c"), { mode: 0o700 });
    await makeDirectory(join(dir, "x/y/z"), { mode: 0o700 });
    for (const p of ["a", "a/b", "a/b/c", "x", "x/y", "x/y/z"]) {
      const st = statSync(join(dir, p));
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
    }
    makeDirectorySync(join(dir, "a/b/c")); // exists: nothing to do
    await makeDirectory(join(dir, "a/b/c"));
  });

  it("accept components created by someone else at the same moment", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => makeDirectory(join(dir, "race/deep/er", String(i % 2)))),
    );
    expect(statSync(join(dir, "race/deep/er/1")).isDirectory()).toBe(true);
  });

  it("report ENOTDIR, naming the component, when a parent is a regular file", async () => {
    writeFileSync(join(dir, "file"), "x");
    const target = join(dir, "file/logs/audit");
    const expected = `cannot create directory ${target}: ${join(dir, "file")} exists and is not a directory (ENOTDIR)`;
    expect(() => makeDirectorySync(target)).toThrow(expected);
    await expect(makeDirectory(target)).rejects.toThrow(expected);
    try {
      makeDirectorySync(target);
    } catch (err) {
      expect(err).toBeInstanceOf(DirectoryError);
      expect(err).toMatchObject({
        code: "VIGIL_ERR_STORAGE",
        errno: "ENOTDIR",
        component: join(dir, "file"),
      });
    }
  });
});
