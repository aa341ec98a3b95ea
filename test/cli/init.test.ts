// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${NAME}" is the configuration's own syntax under test.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/load.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { lines, run } from "./helpers.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-init-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("vigil init", () => {
  it("writes a commented config/audit.yaml that loads, named after package.json", async () => {
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "@acme/traffictracer" }));
    const r = await run(["init"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)[0]).toBe("Wrote config/audit.yaml.");
    const path = join(dir, "config", "audit.yaml");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, "utf8");
    expect(text.split("\n").filter((l) => l.trimStart().startsWith("#")).length).toBeGreaterThan(30);
    const config = loadConfig(path, { env: {} });
    expect(config.core).toMatchObject({ enabled: true, application_name: "traffictracer" });
    expect(config.storage.backends).toMatchObject([{ type: "file", directory: "./logs/audit" }]);
    expect(config.compliance.gdpr).toEqual({
      enabled: false,
      retention_days: 0,
      auto_delete_after_retention: false,
      erasure: { enabled: false, fields: [] },
    });
  });

  it("refuses to overwrite without --force, and overwrites with it", async () => {
    expect((await run(["init", "--name", "first"], { cwd: dir })).code).toBe(0);
    const again = await run(["init", "--name", "second"], { cwd: dir });
    expect(again.code).toBe(2);
    expect(again.stderr).toBe("vigil: config/audit.yaml already exists: use --force to overwrite it\n");
    expect(loadConfig(join(dir, "config/audit.yaml"), { env: {} }).core.application_name).toBe("first");
    expect((await run(["init", "--name", "second", "--force"], { cwd: dir })).code).toBe(0);
    expect(loadConfig(join(dir, "config/audit.yaml"), { env: {} }).core.application_name).toBe("second");
  });

  it("writes where --config says, with the names given, quoting what YAML or ${} would misread", async () => {
    const r = await run(
      [
        "init",
        "--config",
        "etc/vigil.yaml",
        "--name",
        'we"ird: ${NAME} #1',
        "--directory",
        "/var/log/app audit",
      ],
      {
        cwd: dir,
      },
    );
    expect(r.code).toBe(0);
    const config = loadConfig(join(dir, "etc/vigil.yaml"), { env: {} });
    expect(config.core.application_name).toBe('we"ird: ${NAME} #1');
    expect(config.storage.backends).toMatchObject([{ directory: "/var/log/app audit" }]);
  });

  it("gives a configuration the other commands use: events logged with it are found", async () => {
    expect((await run(["init", "--name", "shop"], { cwd: dir })).code).toBe(0);
    const configFile = join(dir, "config/audit.yaml");
    const text = readFileSync(configFile, "utf8").replace(
      'directory: "./logs/audit"',
      `directory: ${JSON.stringify(join(dir, "logs/audit"))}`,
    );
    writeFileSync(configFile, text);
    const engine = new AuditEngine({ configFile, env: {} });
    const event = engine.log({ action: "CHECKOUT", category: "API" })!;
    await engine.close();
    const r = await run(["search", "--format", "ndjson"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => (JSON.parse(l) as AuditEvent).id)).toEqual([event.id]);
  });
});
