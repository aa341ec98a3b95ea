/**
 * `main.ts`, run as a user runs it (`node --import tsx examples/traffictracer/main.ts`
 * from the repository root), with its logs and workbook in a temporary directory.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOnDisk, tempDir } from "./helpers.js";

const REPO_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const today = new Date().toISOString().slice(0, 10);

let tmp: ReturnType<typeof tempDir>;
let run: { code: number | null; stdout: string; stderr: string };

beforeAll(async () => {
  tmp = tempDir();
  run = await new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "examples/traffictracer/main.ts"],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          AUDIT_LOG_DIR: join(tmp.dir, "audit"),
          TRAFFICTRACER_EXPORT_DIR: join(tmp.dir, "exports"),
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}, 90_000);

afterAll(() => tmp.cleanup());

describe("the demo (main.ts)", () => {
  it("exits 0 without writing to stderr", () => {
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });

  it("writes one JSON-lines file per category, holding the expected events", () => {
    const dir = join(tmp.dir, "audit");
    expect(readdirSync(dir).sort()).toEqual(
      ["api", "authentication", "database", "system", "test", "ui_action"].map(
        (c) => `traffictracer_audit_${c}_${today}.log`,
      ),
    );
    const events = eventsOnDisk(dir);
    const types = (category: string) =>
      events.filter((e) => e.action.category === category).map((e) => `${e.action.type}:${e.result.status}`);
    expect(types("SYSTEM")).toEqual(["APPLICATION_STARTUP:SUCCESS"]);
    expect(types("AUTHENTICATION").sort()).toEqual(["LOGIN:FAILURE", "LOGIN:FAILURE", "LOGIN:SUCCESS"]);
    expect(types("DATABASE").sort()).toEqual([
      "CONNECTION_CREATE:FAILURE",
      "CONNECTION_CREATE:SUCCESS",
      "QUERY:SUCCESS",
      "SCRIPT:SUCCESS",
    ]);
    expect(types("API")).toHaveLength(6);
    expect(types("UI_ACTION")).toEqual(["EXPORT:SUCCESS"]);
    expect(types("TEST")).toEqual(["TEST_EVENT:SUCCESS"]);
    expect(events.find((e) => e.action.type === "APPLICATION_STARTUP")?.metadata).toEqual({
      version: "2.0.0",
    });
  });

  it("writes the workbook and prints the seed's answers", () => {
    expect(existsSync(join(tmp.dir, "exports", "security_audit.xlsx"))).toBe(true);
    expect(run.stdout).toContain("filters dropped an event of category AUTHENTICATION");
    expect(run.stdout).toContain('search("action.type:LOGIN AND result.status:FAILURE", last_24h): 2 events');
    expect(run.stdout).toContain("Step 7: ✅ Audit logging is working: 1 event found");
    expect(run.stdout).toContain("onExportClick(): 3 security events");
    expect(run.stdout).toContain("passwords in the logs: none");
    expect(run.stdout.trimEnd().split("\n").length).toBeLessThanOrEqual(62);
  });
});
