// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, ErrorCodes, VigilError } from "../errors.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import { discoverConfigPath } from "./discover.js";
import { ConfigFileError, loadConfig, loadConfigFile } from "./load.js";
import type { VigilConfig } from "./types.js";

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "vigil-config-"));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(relative: string, text: string): string {
  const path = join(dir, relative);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
  return path;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

describe("loadConfigFile", () => {
  it("reads YAML and resolves it, relative to cwd", () => {
    write("conf/a.yaml", "vigil:\n  core:\n    application_name: ${APP:-demo}\n");
    const config = loadConfigFile("conf/a.yaml", { cwd: dir, env: {} });
    expect(config.core.application_name).toBe("demo");
  });

  it("gives the built-in defaults for an empty file or a bare vigil key", () => {
    expect(loadConfigFile(write("empty.yaml", ""), { env: {} })).toEqual(DEFAULT_CONFIG);
    expect(loadConfigFile(write("comment.yaml", "# nothing yet\n"), { env: {} })).toEqual(DEFAULT_CONFIG);
    expect(loadConfigFile(write("bare.yaml", "vigil:\n"), { env: {} })).toEqual(DEFAULT_CONFIG);
  });

  it("says a missing file is not found", () => {
    const error = thrown(() => loadConfigFile(join(dir, "nope.yaml")));
    expect(error).toBeInstanceOf(ConfigFileError);
    expect((error as VigilError).code).toBe(ErrorCodes.CONFIG_FILE);
    expect(error.message).toBe(`config file not found: ${join(dir, "nope.yaml")}`);
    expect(thrown(() => loadConfigFile("nope.yaml", { cwd: dir })).message).toBe(
      `config file not found: nope.yaml (${join(dir, "nope.yaml")})`,
    );
  });

  it("says a directory is not a file", () => {
    expect(thrown(() => loadConfigFile(dir)).message).toBe(`config file is a directory: ${dir}`);
  });

  it("locates a YAML syntax error by line and column", () => {
    const file = write(
      "bad.yaml",
      "vigil:\n  core:\n    enabled: true\n  storage: [a, b\n  processing: {}\n",
    );
    const error = thrown(() => loadConfigFile(file)) as ConfigFileError;
    expect(error).toBeInstanceOf(ConfigFileError);
    expect(error.code).toBe(ErrorCodes.CONFIG_FILE);
    expect(error.file).toBe(file);
    expect([error.line, error.column]).toEqual([5, 3]);
    expect(error.message).toBe(
      `invalid YAML in ${file} at line 5, column 3: ` +
        "Flow sequence in block collection must be sufficiently indented and end with a ]\n" +
        "      processing: {}\n" +
        "      ^",
    );
  });

  it("rejects duplicate keys, with the line of the second", () => {
    const file = write("dup.yaml", "vigil:\n  core:\n    enabled: true\n    enabled: false\n");
    const error = thrown(() => loadConfigFile(file)) as ConfigFileError;
    expect([error.line, error.column]).toEqual([4, 5]);
    expect(error.message).toContain("Map keys must be unique");
  });

  it("lists every YAML problem when there are several", () => {
    const file = write("two.yaml", "a: 1\na: 2\nb: !nope 3\n");
    const error = thrown(() => loadConfigFile(file)) as ConfigFileError;
    expect([error.line, error.column]).toEqual([2, 1]);
    expect(error.message).toContain("  - line 2, column 1: Map keys must be unique");
    expect(error.message).toContain("  - line 3, column 4: Unresolved tag: !nope");
  });

  it("rejects several documents in one file", () => {
    const error = thrown(() =>
      loadConfigFile(write("multi.yaml", "vigil: {}\n---\nvigil: {}\n")),
    ) as ConfigFileError;
    expect(error.message).toContain("Source contains multiple documents");
    expect(error.line).toBe(2);
  });

  it("supports anchors and merge keys", () => {
    const file = write(
      "anchors.yaml",
      [
        "vigil:",
        "  storage:",
        "    backends:",
        "      - &base { type: file, directory: ./a, rotation: { when: hourly } }",
        "      - { <<: *base, directory: ./b }",
      ].join("\n"),
    );
    const backends = loadConfigFile(file, { env: {} }).storage.backends;
    expect(backends.map((b) => [b.name, b.enabled && b.type === "file" ? b.directory : ""])).toEqual([
      ["file", "./a"],
      ["file-2", "./b"],
    ]);
  });

  it("reports configuration problems with the file as source", () => {
    const file = write("typo.yaml", "vigil:\n  performance:\n    batching:\n      batch_sise: 10\n");
    const error = thrown(() => loadConfigFile(file, { env: {} })) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.source).toBe(file);
    expect(error.message).toBe(
      `invalid vigil configuration in ${file}: 1 problem\n` +
        '  - vigil.performance.batching.batch_sise: expected a known key, found "batch_sise" (did you mean "batch_size"?)',
    );
  });

  it("coerces quoted YAML numbers and reads env from options, not process.env", () => {
    const file = write("port.yaml", 'vigil:\n  performance:\n    async:\n      queue_size: "${Q}"\n');
    expect(loadConfigFile(file, { env: { Q: "77" } }).performance.async.queue_size).toBe(77);
  });
});

describe("discoverConfigPath", () => {
  it("prefers $VIGIL_CONFIG, relative to cwd", () => {
    const named = write("elsewhere/custom.yaml", "vigil: {}\n");
    write("config/audit.yaml", "vigil: {}\n");
    expect(discoverConfigPath({ VIGIL_CONFIG: named }, dir)).toBe(named);
    expect(discoverConfigPath({ VIGIL_CONFIG: "elsewhere/custom.yaml" }, dir)).toBe(named);
  });

  it("fails when $VIGIL_CONFIG names a missing file or a directory", () => {
    write("config/audit.yaml", "vigil: {}\n");
    const missing = thrown(() => discoverConfigPath({ VIGIL_CONFIG: "missing.yaml" }, dir));
    expect(missing).toBeInstanceOf(VigilError);
    expect((missing as VigilError).code).toBe(ErrorCodes.CONFIG_FILE);
    expect(missing.message).toBe(
      `config file not found: VIGIL_CONFIG is set to "missing.yaml", but ${join(dir, "missing.yaml")} does not exist`,
    );
    expect(thrown(() => discoverConfigPath({ VIGIL_CONFIG: "config" }, dir)).message).toContain(
      "is a directory, not a file",
    );
  });

  it("falls back to ./config/audit.yaml, then to nothing", () => {
    expect(discoverConfigPath({}, dir)).toBeUndefined();
    expect(discoverConfigPath({ VIGIL_CONFIG: "" }, dir)).toBeUndefined();
    const fallback = write("config/audit.yaml", "vigil: {}\n");
    expect(discoverConfigPath({}, dir)).toBe(fallback);
    expect(discoverConfigPath({ VIGIL_CONFIG: "  " }, dir)).toBe(fallback);
  });
});

describe("loadConfig", () => {
  it("loads a path", () => {
    write("c.yaml", "vigil:\n  core:\n    application_name: from-path\n");
    expect(loadConfig("c.yaml", { cwd: dir, env: {} }).core.application_name).toBe("from-path");
  });

  it("resolves an object, with or without the vigil key", () => {
    expect(loadConfig({ core: { application_name: "obj" } }, { env: {} }).core.application_name).toBe("obj");
    expect(
      loadConfig({ vigil: { core: { application_name: "obj" } } }, { env: {} }).core.application_name,
    ).toBe("obj");
  });

  it("discovers $VIGIL_CONFIG first, then ./config/audit.yaml, then the defaults", () => {
    expect(loadConfig(undefined, { cwd: dir, env: {} })).toEqual(DEFAULT_CONFIG);
    write("config/audit.yaml", "vigil:\n  core:\n    application_name: local\n");
    expect(loadConfig(undefined, { cwd: dir, env: {} }).core.application_name).toBe("local");
    write("env.yaml", "vigil:\n  core:\n    application_name: from-env\n");
    expect(loadConfig(undefined, { cwd: dir, env: { VIGIL_CONFIG: "env.yaml" } }).core.application_name).toBe(
      "from-env",
    );
    expect(() => loadConfig(undefined, { cwd: dir, env: { VIGIL_CONFIG: "gone.yaml" } })).toThrow(
      /VIGIL_CONFIG is set to "gone.yaml"/,
    );
  });

  it("applies VIGIL_ENABLED to a discovered file", () => {
    write("config/audit.yaml", "vigil:\n  core:\n    enabled: true\n");
    expect(loadConfig(undefined, { cwd: dir, env: { VIGIL_ENABLED: "0" } }).core.enabled).toBe(false);
  });

  it("takes typed objects, including an already resolved configuration", () => {
    const typed: VigilConfig = {
      vigil: {
        core: { application_name: "typed" },
        storage: {
          backends: [
            { type: "file", rotation: { when: "hourly" } },
            { type: "database", enabled: false, connection: { dialect: "postgresql", port: 5432 } },
          ],
        },
      },
    };
    const resolved = loadConfig(typed, { env: {} });
    expect(resolved.storage.backends.map((b) => `${b.name}:${b.enabled}`)).toEqual([
      "file:true",
      "database:false",
    ]);
    expect(loadConfig(resolved, { env: {} })).toEqual(resolved);
  });

  it("rejects anything else with an invalid-argument error", () => {
    const error = thrown(() => loadConfig(42 as never)) as VigilError;
    expect(error.code).toBe(ErrorCodes.INVALID_ARGUMENT);
    expect(error.message).toBe(
      "loadConfig: expected a file path, a configuration object or nothing, found number",
    );
  });
});
