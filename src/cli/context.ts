/**
 * What every command runs with: its output streams, environment and working
 * directory, and the engine opened from `--config` (or the default engine's discovery).
 *
 * @module
 */
import { resolve } from "node:path";
import type { Writable } from "node:stream";
import { discoverConfigPath } from "../config/discover.js";
import { AuditEngine } from "../engine.js";
import { neutralize } from "./terminal.js";

/** An output stream, as `process.stdout` and `process.stderr` are. */
export type OutputStream = Writable & { readonly isTTY?: boolean; readonly columns?: number };

/** The process a command runs in. */
export interface CliContext {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Where answers to questions come from (`vigil subject erase` asks); none: every question is answered no. */
  readonly stdin?: NodeJS.ReadableStream;
}

/** The context of the running process. */
export function processContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stdin: process.stdin,
  };
}

/**
 * Write `text` to `stream`; the returned promise (only when the stream's buffer is
 * full) resolves once it has drained. A closed pipe (`vigil search | head`) is not an
 * error: the promise resolves and the command's output is simply cut.
 */
export function write(stream: OutputStream, text: string): Promise<void> | undefined {
  if (stream.destroyed || stream.writableEnded) return undefined;
  if (stream.write(text)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      stream.off("error", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
    stream.on("error", done);
  });
}

/** A one-line notice on stderr, prefixed `vigil: `, with untrusted text neutralized. */
export function notice(ctx: CliContext, message: string): void {
  ctx.stderr.write(`vigil: ${message.split("\n").map(neutralize).join("\n  ")}\n`);
}

/**
 * The configuration file a command uses: `--config PATH` (relative to the working
 * directory), else `$VIGIL_CONFIG`, else `./config/audit.yaml` when it exists, else
 * none (the built-in defaults) — the default engine's discovery.
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG_FILE` when `$VIGIL_CONFIG` names no file.
 */
export function configPath(ctx: CliContext, option: string | undefined): string | undefined {
  // As given when relative to this process's directory, so messages name the file the way the user did.
  if (option !== undefined) return ctx.cwd === process.cwd() ? option : resolve(ctx.cwd, option);
  return discoverConfigPath(ctx.env, ctx.cwd);
}

/**
 * An engine for reading the store: its configuration from {@link configPath}, and
 * enabled whatever `core.enabled` or `$VIGIL_ENABLED` say, because those switch
 * capture off, not the records already kept. Engine errors and warnings are printed
 * on stderr, one line each.
 *
 * @throws {ConfigFileError} `config file not found: ...` and other unreadable files.
 * @throws {ConfigError} an invalid configuration, every problem listed.
 */
export function openEngine(ctx: CliContext, option: string | undefined): AuditEngine {
  const file = configPath(ctx, option);
  const env = { ...ctx.env, VIGIL_ENABLED: "true" };
  const engine =
    file === undefined
      ? new AuditEngine({ config: {}, env, readOnly: true })
      : new AuditEngine({ configFile: file, env, readOnly: true });
  engine.on("error", (err) => notice(ctx, err.message));
  engine.on("warning", (message) => notice(ctx, `warning: ${message}`));
  return engine;
}
