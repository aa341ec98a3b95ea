/**
 * `vigil keygen [--algorithm hmac-sha256|ed25519|aes-256-gcm] [--out DIR] [--name NAME] [--force]`:
 * new key material in files readable only by their owner (mode 0600, directory 0700), and
 * how to reference them from the configuration. The key itself is never printed.
 *
 * @module
 */
import { chmodSync, existsSync, statSync, unlinkSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { type Command, Option } from "commander";
import { type KeygenAlgorithm, keygen } from "../../crypto/keygen.js";
import { type CliContext, write } from "../context.js";
import { UsageError } from "../errors.js";
import { neutralize } from "../terminal.js";

interface KeygenFlags {
  readonly algorithm: KeygenAlgorithm;
  readonly out: string;
  readonly name?: string;
  readonly force?: boolean;
}

/** The default `--out` directory. */
export const KEYGEN_DEFAULT_DIRECTORY = "keys";

/** What each algorithm makes, for people. */
const WHAT: Readonly<Record<KeygenAlgorithm, string>> = {
  "hmac-sha256": "an HMAC-SHA256 signing secret",
  ed25519: "an Ed25519 signing key pair",
  "aes-256-gcm": "an AES-256-GCM encryption key",
};

/** The files {@link keygen} writes for `stem`, secret first (its documented names). */
function fileNames(algorithm: KeygenAlgorithm, stem: string): string[] {
  return algorithm === "ed25519" ? [`${stem}.pem`, `${stem}.pub.pem`] : [`${stem}.key`];
}

/** Registers `keygen` on `program`. */
export function keygenCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("keygen")
    .description("write a new signing or encryption key to files only you can read (mode 0600)")
    .addOption(
      new Option(
        "-a, --algorithm <algorithm>",
        "what to make: a signing secret, a signing key pair, or an encryption key",
      )
        .choices(["hmac-sha256", "ed25519", "aes-256-gcm"])
        .default("hmac-sha256"),
    )
    .option(
      "-o, --out <dir>",
      "directory for the key files (created with mode 0700)",
      KEYGEN_DEFAULT_DIRECTORY,
    )
    .option("--name <name>", "file name stem (default: vigil-<algorithm>)")
    .option("--force", "replace existing key files");
  command.addHelpText(
    "after",
    `
Files (NAME defaults to vigil-<algorithm>):
  hmac-sha256   NAME.key       64 hex characters  -> security.signing.secret_key
  ed25519       NAME.pem       private key (PEM)  -> security.signing.private_key
                NAME.pub.pem   public key (PEM)   -> give it to auditors: vigil verify --public-key NAME.pub.pem
  aes-256-gcm   NAME.key       64 hex characters  -> security.encryption.key

The key is never printed. Keep the files out of version control and load them into the
environment of the application, e.g. export VIGIL_SIGNING_SECRET="$(cat keys/vigil-hmac-sha256.key)".`,
  );
  command.action(async (flags: KeygenFlags) => {
    const stem = flags.name ?? `vigil-${flags.algorithm}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(stem))
      throw new UsageError(
        `--name: expected a file name of letters, digits, ".", "_" and "-" (no directories), found "${neutralize(stem)}"`,
      );
    const dir = resolve(ctx.cwd, flags.out);
    if (existsSync(dir) && !statSync(dir).isDirectory())
      throw new UsageError(`--out ${neutralize(flags.out)} is not a directory`);
    const targets = fileNames(flags.algorithm, stem).map((f) => join(dir, f));
    const existing = targets.filter((p) => existsSync(p));
    if (existing.length > 0 && !flags.force)
      throw new UsageError(
        `${neutralize(shown(ctx, existing[0]!))} exists: choose another --name or --out, or pass --force to replace it`,
      );
    // Replaced files are removed first, so that the new ones are created with mode 0600
    // (rewriting a file in place would keep whatever mode it had).
    for (const p of existing) unlinkSync(p);

    const result = keygen({ algorithm: flags.algorithm, outDir: dir, name: stem });
    for (const f of result.files) chmodSync(f, 0o600);
    await write(ctx.stdout, keygenReport(ctx, result));
  });
  return command;
}

/** A path relative to the working directory when it is inside it. */
function shown(ctx: CliContext, path: string): string {
  const rel = relative(ctx.cwd, path);
  return rel !== "" && !rel.startsWith("..") ? rel : path;
}

/** `'text'` for a POSIX shell. */
function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The configuration hint as YAML that loads: a `${VAR}` reference inside a flow mapping
 * (`{ key: ${VAR} }`) must be quoted, or YAML reads its braces as a nested mapping.
 */
function yamlHint(hint: string): string {
  return hint.replace(/(?<!")\$\{([A-Za-z_][A-Za-z0-9_]*)\}(?!")/g, (ref) => `"${ref}"`);
}

function keygenReport(ctx: CliContext, result: ReturnType<typeof keygen>): string {
  const files = result.files.map((f) => neutralize(shown(ctx, f)));
  let out = `Wrote ${WHAT[result.algorithm]} (key id ${result.keyId}):\n`;
  if (result.algorithm === "ed25519") {
    const width = Math.max(files[0]!.length, files[1]!.length);
    out += `  ${files[0]!.padEnd(width)}  private key, mode 0600: the application signs with it\n`;
    out += `  ${files[1]!.padEnd(width)}  public key: auditors verify with it alone (vigil verify --public-key ${files[1]})\n`;
  } else out += `  ${files[0]}  mode 0600\n`;
  out += "\nAdd to the configuration, under vigil:\n";
  for (const line of yamlHint(result.configHint).split("\n")) out += `  ${line}\n`;
  // the environment variable the snippet references (the first ${NAME} in it)
  const variable = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(result.configHint)?.[1];
  if (variable !== undefined) {
    const secretFile = shellQuote(shown(ctx, result.files[0]!));
    out += `\nand give the application the key through the environment:\n`;
    out += `  export ${variable}="$(cat ${neutralize(secretFile)})"\n`;
  }
  out += "\nKeep the key files secret and out of version control.\n";
  return out;
}
