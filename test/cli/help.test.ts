import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { run } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "vigil-help-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VERBS = ["search", "tail", "export", "stats", "init", "retention"];

describe("vigil --help", () => {
  it("lists this issue's verbs and exits 0", async () => {
    const r = await run(["--help"], { cwd: dir });
    expect(r.code).toBe(0);
    for (const verb of VERBS) expect(r.stdout).toMatch(new RegExp(`^  ${verb}\\b`, "m"));
    expect(r.stdout).toContain("Exit status: 0 success, 1 failure, 2 bad input");
  });

  it.each(VERBS)("vigil %s --help documents --config and exits 0", async (verb) => {
    const r = await run([verb, "--help"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: vigil ${verb}`, "m"));
    expect(r.stdout).toContain("--config <path>");
  });

  it("prints the package version", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    const r = await run(["--version"], { cwd: dir });
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it("shows help and exits 2 when no command is given", async () => {
    const r = await run([], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^Usage: vigil/);
  });
});
