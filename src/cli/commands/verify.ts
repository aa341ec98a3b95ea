/**
 * `vigil verify [--from --to] [--public-key FILE | --secret-key-file FILE] [--witness DIR]`:
 * check the hash chains and signed checkpoints of every file and database backend of the
 * store (SPEC §9, §10) and either say it is intact, with counts, or name every problem —
 * file and line (or table and row id), chain position, kind.
 *
 * Exit status 0 when the store is intact, or intact up to its checkpoints with only the
 * pending tails of running writers unsealed (each reported with its count); 1 when it is
 * tampered with or cannot be fully verified (events after the last checkpoint of a writer
 * that stopped, or `--strict`); 2 for bad input.
 *
 * Verifying never changes the store: the engine is opened without a writer chain (so a
 * configuration holding only the Ed25519 public key works, and no checkpoint is written)
 * and without file housekeeping (no gzip of old files, no pruning of backups).
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { keyFileText, parseEd25519PrivateKey, parseEd25519PublicKey } from "../../config/keys.js";
import { loadConfig } from "../../config/load.js";
import type { ResolvedConfig, VigilConfig } from "../../config/types.js";
import { AuditEngine } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { terminalSafeJson } from "../../export/json.js";
import type { StoreVerifyResult, VerifyProblem, VerifyResult } from "../../integrity/index.js";
import { toInstant } from "../../query/time-range.js";
import { type CliContext, configPath, notice, write } from "../context.js";
import { UsageError } from "../errors.js";
import { addConfigOption, addProgressOption } from "../options.js";
import { Progress } from "../progress.js";
import { formatCount, neutralize } from "../terminal.js";

interface VerifyFlags {
  readonly config?: string;
  readonly from?: string;
  readonly to?: string;
  readonly publicKey?: string;
  readonly secretKeyFile?: string;
  readonly witness?: string[];
  readonly format: "text" | "json";
  readonly progress?: boolean;
  readonly strict?: boolean;
}

/** The store is not intact (exit status 1); the problems have been printed already. */
export class VerificationFailedError extends VigilError {
  /** The verification's outcome. */
  readonly result: VerifyResult;

  constructor(result: VerifyResult) {
    const n = result.problems.length + result.omittedProblems;
    super(
      ErrorCodes.INTEGRITY,
      result.status === "unverifiable"
        ? `the store cannot be fully verified: ${plural(n, "problem")}`
        : `the store is not intact: ${plural(n, "problem")}`,
    );
    this.name = "VerificationFailedError";
    this.result = result;
  }
}

/** Registers `verify` on `program`. */
export function verifyCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("verify")
    .description(
      "check the hash chains and signed checkpoints of the store (exit 0 when intact, or when only running writers' pending events are unsealed)",
    )
    .option(
      "--from <time>",
      "only files of days from this time, and rows from the first with a timestamp from it (ISO 8601, e.g. 2025-10-10)",
    )
    .option(
      "--to <time>",
      "only files of days before this time, and rows up to the last before it (ISO 8601)",
    )
    .option(
      "--public-key <file>",
      "verify with this Ed25519 public key (PEM) instead of security.signing: an auditor needs nothing else",
    )
    .option(
      "--secret-key-file <file>",
      "verify an hmac-sha256 store with the secret in this file (the .key file from vigil keygen) instead of security.signing",
    )
    .option(
      "--witness <dir>",
      "a witness directory holding copies of the checkpoints (repeatable)",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      "--strict",
      "report the events after a chain's last checkpoint as unverifiable (exit 1) even when its writer is running",
    )
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"]).default("text"));
  addProgressOption(command);
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil verify
  vigil verify --public-key keys/vigil-ed25519.pub.pem --witness /mnt/worm/checkpoints
  vigil verify --secret-key-file keys/vigil-hmac-sha256.key
  vigil verify --from 2025-10-01 --to 2025-11-01 --format json

Exit status: 0 intact, or intact but for the pending events of running writers (counted);
1 tampered, or events no signed checkpoint covers whose writer stopped (or --strict); 2 bad input.`,
  );
  command.action(async (flags: VerifyFlags) => {
    const from = flags.from === undefined ? undefined : instant(flags.from, "--from");
    const to = flags.to === undefined ? undefined : instant(flags.to, "--to");
    if (from && to && from.getTime() > to.getTime())
      throw new UsageError(`--from ${from.toISOString()} is after --to ${to.toISOString()}`);
    if (flags.publicKey !== undefined && flags.secretKeyFile !== undefined)
      throw new UsageError(
        "give --public-key (an ed25519 store) or --secret-key-file (hmac-sha256), not both",
      );
    const publicKey = flags.publicKey === undefined ? undefined : readPublicKey(ctx, flags.publicKey);
    const secretKey = flags.secretKeyFile === undefined ? undefined : readSecretKey(ctx, flags.secretKeyFile);
    const witness = (flags.witness ?? []).map((dir) => witnessDirectory(ctx, dir));

    const file = configPath(ctx, flags.config);
    const env = { ...ctx.env, VIGIL_ENABLED: "true" };
    const loaded = loadConfig(file ?? {}, { env, cwd: ctx.cwd });
    const config: ResolvedConfig =
      secretKey === undefined
        ? loaded
        : {
            ...loaded,
            security: {
              ...loaded.security,
              signing: { ...loaded.security.signing, algorithm: "hmac-sha256", secret_key: secretKey },
            },
          };
    const where = file === undefined ? "the built-in configuration" : neutralize(file);
    const stores = config.storage.backends.flatMap((b, i) =>
      b.enabled && (b.type === "file" || b.type === "database") ? [{ b, i }] : [],
    );
    if (stores.length === 0)
      throw new UsageError(`${where} has no enabled file or database backend to verify`);
    const places: string[] = [];
    for (const { b, i } of stores) {
      if (b.type !== "file") {
        places.push(`table ${b.table_name} of ${b.name}`);
        continue;
      }
      const directory = resolve(b.directory);
      if (!existsSync(directory))
        throw new UsageError(
          `the store directory ${neutralize(directory)} does not exist (storage.backends[${i}].directory in ${where})`,
        );
      places.push(directory);
    }
    if (publicKey === undefined && secretKey === undefined) requireVerifyingKey(config, where);

    const engine = new AuditEngine({ config: readerConfig(config), env });
    engine.on("error", (err) => notice(ctx, err.message));
    engine.on("warning", (message) => notice(ctx, `warning: ${message}`));
    let progress: Progress | undefined;
    let result: VerifyResult;
    try {
      result = await engine.verify({
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(publicKey !== undefined ? { publicKey } : {}),
        ...(witness.length > 0 ? { witness } : {}),
        ...(flags.strict ? { strict: true } : {}),
        onProgress: (p) => {
          progress ??= new Progress(ctx.stderr, "verifying", {
            total: p.total,
            unit: stores.every((s) => s.b.type === "file") ? "files" : "files and tables",
            ...(flags.progress !== undefined ? { enabled: flags.progress, delayMs: 0 } : {}),
          });
          progress.update(p.done);
        },
      });
    } finally {
      progress?.done();
      await engine.close();
    }

    if (flags.format === "json") await write(ctx.stdout, `${terminalSafeJson(result, 2)}\n`);
    else await write(ctx.stdout, verifyReport(result));
    if (result.events === 0 && result.ok)
      notice(ctx, `warning: no events found in ${neutralize(places.join(", "))}: nothing was verified`);
    if (!result.ok) throw new VerificationFailedError(result);
  });
  return command;
}

/**
 * The text report of a verification: one line per problem (kind, then where and what), one
 * per pending tail, then a summary line starting `OK:`, `TAMPERED:` or `UNVERIFIABLE:`.
 * Every text from the store is neutralized.
 *
 * @example
 * verifyReport(result);
 * // "OK: 20 events in 1 chain across 6 files, 1 checkpoint verified\n"
 */
export function verifyReport(result: VerifyResult | StoreVerifyResult): string {
  let out = "";
  for (const p of result.problems) out += `${problemLine(p)}\n`;
  if (result.omittedProblems > 0)
    out += `… and ${plural(result.omittedProblems, "more problem")} not listed\n`;
  for (const p of result.pending) out += `${"pending".padEnd(KIND_WIDTH)}  ${neutralize(p.message)}\n`;
  const pendingChains = new Set(result.pending.map((p) => p.chain)).size;
  const counts =
    `${plural(result.events, "event")} in ${plural(result.chains, "chain")} across ${places(result)}, ` +
    `${plural(result.checkpoints, "checkpoint")} verified` +
    (result.retained > 0
      ? `; ${plural(result.retained, "event")} deleted under signed retention records`
      : "") +
    (result.erased > 0 ? `; ${plural(result.erased, "event")} rewritten under signed erasure records` : "") +
    (result.pendingEvents > 0
      ? `; ${plural(result.pendingEvents, "event")} pending in ${plural(pendingChains, "chain")} of ${
          pendingChains === 1 ? "a running writer" : "running writers"
        }`
      : "");
  if (result.ok) return `${out}OK: ${counts}\n`;
  const n = result.problems.length + result.omittedProblems;
  return `${out}${result.status === "unverifiable" ? "UNVERIFIABLE" : "TAMPERED"}: ${plural(n, "problem")}; ${counts}\n`;
}

/** `6 files`, `1 table`, `6 files and 1 table`: what was read, by kind of backend. */
function places(result: VerifyResult | StoreVerifyResult): string {
  if (!("backends" in result)) return plural(result.files, "file");
  let files = 0;
  let tables = 0;
  for (const b of result.backends) {
    if (b.type === "database") tables += b.result.files;
    else files += b.result.files;
  }
  if (tables === 0) return plural(files, "file");
  if (files === 0) return plural(tables, "table");
  return `${plural(files, "file")} and ${plural(tables, "table")}`;
}

/** The widest kind (`bad-signature`), so that messages line up. */
const KIND_WIDTH = 13;

function problemLine(p: VerifyProblem): string {
  return `${p.kind.padEnd(KIND_WIDTH)}  ${neutralize(p.message)}`;
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;
}

function instant(text: string, option: string): Date {
  try {
    return toInstant(text, option);
  } catch {
    throw new UsageError(
      `${option}: expected an ISO 8601 date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]), found "${neutralize(text)}"`,
    );
  }
}

/**
 * The HMAC secret in `--secret-key-file FILE`: the file's text without its one trailing
 * newline (as `vigil keygen` and editors write it); whitespace inside is an error.
 */
function readSecretKey(ctx: CliContext, path: string): string {
  const shown = neutralize(path);
  let text: string;
  try {
    text = keyFileText(readFileSync(resolve(ctx.cwd, path), "utf8"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--secret-key-file ${shown}: ${
        code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : "cannot be read"
      }`,
    );
  }
  // never echo the content
  if (text.includes("-----BEGIN"))
    throw new UsageError(
      `--secret-key-file ${shown} holds a PEM key: for an ed25519 store, pass its public key with --public-key`,
    );
  const space = text.search(/\s/);
  if (space >= 0)
    throw new UsageError(
      `--secret-key-file ${shown}: the secret has whitespace at character ${space + 1} of ${text.length} (only one trailing newline is allowed)`,
    );
  if (text.length < 16)
    throw new UsageError(
      `--secret-key-file ${shown}: expected a secret of at least 16 characters, found ${text.length}`,
    );
  return text;
}

/** The PEM text of `--public-key FILE`, checked to be an Ed25519 public key. */
function readPublicKey(ctx: CliContext, path: string): string {
  const shown = neutralize(path);
  let text: string;
  try {
    text = readFileSync(resolve(ctx.cwd, path), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      `--public-key ${shown}: ${
        code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : "cannot be read"
      }`,
    );
  }
  // never echo the content: a private key given by mistake must not reach the terminal
  if (text.includes("PRIVATE KEY") || parseEd25519PrivateKey(text) !== undefined)
    throw new UsageError(
      `--public-key ${shown} is a private key: give the public half (the .pub.pem file from vigil keygen)`,
    );
  if (parseEd25519PublicKey(text) === undefined)
    throw new UsageError(
      `--public-key ${shown} is not a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----)`,
    );
  return text;
}

function witnessDirectory(ctx: CliContext, dir: string): string {
  const path = resolve(ctx.cwd, dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) throw new UsageError(`--witness ${neutralize(dir)}: no such directory`);
  return path;
}

/** Without `--public-key`, the configuration must hold a key that verifies the store's signatures. */
function requireVerifyingKey(config: ResolvedConfig, where: string): void {
  const s = config.security.signing;
  const usable =
    s.algorithm === "hmac-sha256"
      ? s.secret_key !== undefined
      : (s.public_key ?? s.private_key) !== undefined;
  if (usable) return;
  throw new UsageError(
    `no key to verify with: security.signing in ${where} has no ${
      s.algorithm === "hmac-sha256" ? "secret_key (hmac-sha256)" : "public_key or private_key (ed25519)"
    }; set it, or pass --public-key FILE for an Ed25519 store`,
  );
}

/**
 * The configuration of the reading engine: the store as configured, with no writer chain
 * (`security.signing.enabled: false`; the keys stay, to verify with) and no file
 * housekeeping (`rotation.enabled: false`: nothing is compressed or pruned while it is
 * read). Every `${` is written `$${`, so that resolving it again gives the same values.
 */
function readerConfig(config: ResolvedConfig): VigilConfig {
  const reader = {
    ...config,
    security: { ...config.security, signing: { ...config.security.signing, enabled: false } },
    storage: {
      ...config.storage,
      backends: config.storage.backends.map((b) =>
        b.enabled && b.type === "file" ? { ...b, rotation: { ...b.rotation, enabled: false } } : b,
      ),
    },
  };
  return escapeReferences(reader) as VigilConfig;
}

function escapeReferences(value: unknown): unknown {
  if (typeof value === "string") return value.replaceAll("${", () => "$${");
  if (Array.isArray(value)) return value.map(escapeReferences);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = escapeReferences(v);
    return out;
  }
  return value;
}
