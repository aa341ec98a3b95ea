/**
 * Loading the configuration: from a YAML file ({@link loadConfigFile}), or by the public
 * {@link loadConfig}, which takes a path, an object, or nothing (discovery).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import { ErrorCodes, VigilError } from "../errors.js";
import { discoverConfigPath } from "./discover.js";
import type { Env } from "./interpolate.js";
import type { ResolvedConfig, VigilConfig } from "./types.js";
import { resolveConfig } from "./validate.js";

/** Options of {@link loadConfig} and {@link loadConfigFile}. */
export interface LoadOptions {
  /** Where `${VAR}`, `VIGIL_ENABLED` and `VIGIL_CONFIG` are read. Default `process.env`. */
  readonly env?: Env;
  /** The directory relative paths start from. Default `process.cwd()`. */
  readonly cwd?: string;
}

/**
 * A configuration file that cannot be read or is not valid YAML
 * (code `VIGIL_ERR_CONFIG_FILE`). `line` and `column` (1-based) locate the first YAML error.
 */
export class ConfigFileError extends VigilError {
  /** The file, as it was named. */
  readonly file: string;
  /** 1-based line of the first YAML error; absent when the file could not be read. */
  readonly line: number | undefined;
  /** 1-based column of the first YAML error; absent when the file could not be read. */
  readonly column: number | undefined;

  constructor(file: string, message: string, position?: { line: number; column: number }, cause?: unknown) {
    super(ErrorCodes.CONFIG_FILE, message, cause === undefined ? undefined : { cause });
    this.name = "ConfigFileError";
    this.file = file;
    this.line = position?.line;
    this.column = position?.column;
  }
}

/**
 * Read the YAML file at `path` (relative to `options.cwd`) and resolve it.
 *
 * @throws {ConfigFileError} `config file not found: <path>`, or a YAML error with its line and column.
 * @throws {ConfigError} when the YAML is valid but the configuration is not; its `source` is `path`.
 *
 * @example
 * const config = loadConfigFile("config/audit.yaml");
 */
export function loadConfigFile(path: string, options: LoadOptions = {}): ResolvedConfig {
  const absolute = resolve(options.cwd ?? process.cwd(), path);
  let text: string;
  try {
    text = readFileSync(absolute, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const shown = absolute === path ? path : `${path} (${absolute})`;
    if (code === "ENOENT")
      throw new ConfigFileError(path, `config file not found: ${shown}`, undefined, error);
    if (code === "EISDIR")
      throw new ConfigFileError(path, `config file is a directory: ${shown}`, undefined, error);
    throw new ConfigFileError(
      path,
      `cannot read config file ${shown}: ${(error as Error).message}`,
      undefined,
      error,
    );
  }
  return resolveConfig(parseYaml(path, text), { env: options.env ?? process.env, source: path });
}

/**
 * Parse `text` (the content of `file`) as one YAML document. Duplicate keys, unknown tags
 * and several documents in one file are errors.
 *
 * @throws {ConfigFileError} naming the file, line and column of each YAML problem.
 */
export function parseYaml(file: string, text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, merge: true });
  const issues = [...doc.errors, ...doc.warnings];
  if (issues.length === 0) {
    try {
      return doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      throw new ConfigFileError(
        file,
        `invalid YAML in ${file}: ${(error as Error).message}`,
        undefined,
        error,
      );
    }
  }
  const located = issues.map((issue) => ({ message: issue.message, ...position(text, issue.pos[0]) }));
  const first = located[0]!;
  const lines = located.map(
    (l) => `  - line ${l.line}, column ${l.column}: ${l.message}\n${excerpt(text, l)}`,
  );
  throw new ConfigFileError(
    file,
    `invalid YAML in ${file} at line ${first.line}, column ${first.column}: ${first.message}` +
      (located.length > 1 ? `\n${lines.join("\n")}` : `\n${excerpt(text, first)}`),
    { line: first.line, column: first.column },
  );
}

/**
 * The public loader.
 *
 * - a string: the YAML file at that path (relative to `options.cwd`);
 * - an object: the configuration itself, with or without the top-level `vigil` key;
 * - nothing: `$VIGIL_CONFIG` (which must exist when set), else `./config/audit.yaml` if it
 *   exists, else the built-in defaults.
 *
 * @throws {ConfigError} listing every problem; {@link ConfigFileError} for unreadable files or bad YAML.
 *
 * @example
 * loadConfig();                                   // discovery
 * loadConfig("config/audit.yaml");
 * loadConfig({ core: { application_name: "traffictracer" } });
 */
export function loadConfig(pathOrObject?: string | VigilConfig, options: LoadOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  if (typeof pathOrObject === "string") return loadConfigFile(pathOrObject, options);
  if (pathOrObject === undefined) {
    const discovered = discoverConfigPath(env, options.cwd ?? process.cwd());
    return discovered === undefined ? resolveConfig(undefined, { env }) : loadConfigFile(discovered, options);
  }
  if (typeof pathOrObject !== "object" || pathOrObject === null || Array.isArray(pathOrObject)) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `loadConfig: expected a file path, a configuration object or nothing, found ${
        pathOrObject === null ? "null" : Array.isArray(pathOrObject) ? "an array" : typeof pathOrObject
      }`,
    );
  }
  return resolveConfig(pathOrObject, { env });
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

function excerpt(text: string, at: { line: number; column: number }): string {
  const lineText = (text.split("\n")[at.line - 1] ?? "").replace(/\r$/, "");
  return `    ${lineText}\n    ${" ".repeat(Math.max(0, at.column - 1))}^`;
}
