/**
 * Where the configuration comes from when none is given (SPEC §4, §10): `$VIGIL_CONFIG`,
 * else `./config/audit.yaml`, else the built-in defaults.
 *
 * @module
 */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Env } from "./interpolate.js";

/** The file looked for, relative to the working directory, when `VIGIL_CONFIG` is not set. */
export const DEFAULT_CONFIG_PATH = "config/audit.yaml";

/**
 * The configuration file to use, or `undefined` for the built-in defaults:
 *
 * 1. `env.VIGIL_CONFIG`, when set and not empty (relative to `cwd`). It must name an
 *    existing file: a missing one is an error, not a silent fall-back to defaults.
 * 2. `<cwd>/config/audit.yaml`, when that file exists.
 * 3. `undefined`.
 *
 * @param env - where `VIGIL_CONFIG` is read; default `process.env`.
 * @param cwd - the directory relative paths start from; default `process.cwd()`.
 * @returns an absolute path, or `undefined`.
 * @throws {VigilError} `VIGIL_ERR_CONFIG_FILE` when `VIGIL_CONFIG` names no file.
 *
 * @example
 * discoverConfigPath({ VIGIL_CONFIG: "/etc/app/audit.yaml" }, "/srv/app"); // "/etc/app/audit.yaml"
 * discoverConfigPath({}, "/srv/app"); // "/srv/app/config/audit.yaml" if it exists, else undefined
 */
export function discoverConfigPath(env: Env = process.env, cwd: string = process.cwd()): string | undefined {
  const named = env.VIGIL_CONFIG;
  if (named !== undefined && named.trim() !== "") {
    const path = resolve(cwd, named);
    const kind = fileKind(path);
    if (kind !== "file") {
      const what = kind === "missing" ? "does not exist" : "is a directory, not a file";
      throw new VigilError(
        ErrorCodes.CONFIG_FILE,
        `config file not found: VIGIL_CONFIG is set to ${JSON.stringify(named)}, but ${path} ${what}`,
      );
    }
    return path;
  }
  const fallback = resolve(cwd, DEFAULT_CONFIG_PATH);
  return fileKind(fallback) === "file" ? fallback : undefined;
}

function fileKind(path: string): "file" | "directory" | "missing" {
  try {
    const stat = statSync(path);
    return stat.isDirectory() ? "directory" : "file";
  } catch {
    return "missing";
  }
}
