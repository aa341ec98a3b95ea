/**
 * `vigil init [--force]`: write a commented configuration file (`config/audit.yaml`, or
 * `--config PATH`), checked to load before it is written.
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH } from "../../config/discover.js";
import { parseYaml } from "../../config/load.js";
import { resolveConfig } from "../../config/validate.js";
import { makeDirectorySync } from "../../storage/dirs.js";
import { type CliContext, write } from "../context.js";
import { UsageError } from "../errors.js";
import { initTemplate } from "../init-template.js";
import { neutralize } from "../terminal.js";

interface InitFlags {
  readonly config?: string;
  readonly force?: boolean;
  readonly name?: string;
  readonly directory?: string;
}

/** The application name to suggest: `name` from ./package.json (without its scope), else the directory's name. */
export function guessApplicationName(cwd: string): string {
  try {
    const pkg = JSON.parse(readFileSync(join(cwd, "package.json"), "utf8")) as { name?: unknown };
    if (typeof pkg.name === "string" && pkg.name.trim() !== "") return pkg.name.replace(/^@[^/]*\//, "");
  } catch {
    // no package.json, or not JSON: use the directory's name
  }
  return basename(resolve(cwd)) || "app";
}

/** Registers `init` on `program`. */
export function initCommand(program: Command, ctx: CliContext): Command {
  return program
    .command("init")
    .description(`write a commented configuration file (${DEFAULT_CONFIG_PATH})`)
    .option("--force", "overwrite the file if it exists")
    .option(
      "--name <application>",
      "core.application_name (default: the name in ./package.json, else the directory's)",
    )
    .option("--directory <dir>", "where the file backend writes (default: ./logs/audit)")
    .option(
      "-c, --config <path>",
      `the file to write (default: $VIGIL_CONFIG, else ./${DEFAULT_CONFIG_PATH})`,
    )
    .action(async (flags: InitFlags) => {
      const named = flags.config ?? (ctx.env.VIGIL_CONFIG?.trim() || undefined) ?? DEFAULT_CONFIG_PATH;
      const path = resolve(ctx.cwd, named);
      const text = initTemplate({
        applicationName: flags.name ?? guessApplicationName(ctx.cwd),
        ...(flags.directory !== undefined ? { directory: flags.directory } : {}),
      });
      // The file must load: check it (with an empty environment) before writing anything.
      resolveConfig(parseYaml(path, text), { env: {}, source: path });
      makeDirectorySync(dirname(path));
      try {
        writeFileSync(path, text, { flag: flags.force ? "w" : "wx", mode: 0o600 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw new UsageError(`${named} already exists: use --force to overwrite it`);
        if (code === "EISDIR") throw new UsageError(`${named} is a directory`);
        throw err;
      }
      const shown = relative(ctx.cwd, path) || path;
      await write(
        ctx.stdout,
        `Wrote ${neutralize(shown)}.\n` +
          `Next: record events with vigil-audit in your application, then look at them with\n` +
          `  vigil search --range today\n` +
          (named === DEFAULT_CONFIG_PATH || flags.config === undefined
            ? ""
            : `(pass --config ${neutralize(named)} or set VIGIL_CONFIG)\n`),
      );
    });
}
