/**
 * `vigil retention [--dry-run]`: delete what is older than the retention period
 * (`compliance.gdpr.retention_days`, or `--days`) from every configured backend.
 *
 * With `security.signing` enabled, deletion stays verifiable: before a file store's files
 * (or a database's rows) go, a signed retention record per chain range is written beside the
 * checkpoints (`applyVerifiableRetention`) or into `<table>_checkpoints` (`retainRows`), so
 * `vigil verify` accepts exactly that gap.
 *
 * @module
 */
import type { Command } from "commander";
import { loadConfig } from "../../config/load.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { createSigner, retainBackend, type Signer, type SigningKeys } from "../../integrity/index.js";
import type { RetentionResult, StorageBackend } from "../../storage/backend.js";
import { createBackends } from "../../storage/index.js";
import { type CliContext, configPath, notice, write } from "../context.js";
import { UsageError } from "../errors.js";
import { addConfigOption, nonNegativeInteger } from "../options.js";
import { formatCount, neutralize } from "../terminal.js";

const DAY_MS = 86_400_000;

interface RetentionFlags {
  readonly config?: string;
  readonly dryRun?: boolean;
  readonly days?: number;
}

/** A backend's answer (with the retention records signed for it), or why it failed. */
type Outcome = { readonly backend: StorageBackend } & (
  | { readonly result: RetentionResult; readonly signed?: number }
  | { readonly error: unknown }
);

/** Registers `retention` on `program`. */
export function retentionCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("retention")
    .description("delete events older than the retention period (compliance.gdpr.retention_days)")
    .option("--dry-run", "only show what would be deleted")
    .option(
      "--days <n>",
      "keep this many days instead of compliance.gdpr.retention_days",
      nonNegativeInteger,
    );
  addConfigOption(command);
  command.action(async (flags: RetentionFlags) => {
    const file = configPath(ctx, flags.config);
    // Enabled whatever core.enabled says: that switch is about recording, not about the stored records.
    const config = loadConfig(file ?? {}, { env: { ...ctx.env, VIGIL_ENABLED: "true" }, cwd: ctx.cwd });
    const { gdpr } = config.compliance;
    const days = flags.days ?? (gdpr.enabled && gdpr.retention_days > 0 ? gdpr.retention_days : undefined);
    if (days === undefined)
      throw new UsageError(
        `no retention period: ${file ? neutralize(file) : "the built-in configuration"} has ${
          gdpr.enabled ? "compliance.gdpr.retention_days: 0" : "compliance.gdpr.enabled: false"
        }; set compliance.gdpr (enabled: true, retention_days: N) or pass --days N`,
      );
    if (days === 0) throw new UsageError("--days 0 would delete everything: give at least 1");
    const cutoff = new Date(Date.now() - days * DAY_MS);
    const signer = config.security.signing.enabled ? retentionSigner(config.security.signing) : undefined;
    const backends = createBackends(config, { onWarning: (m) => notice(ctx, `warning: ${m}`) });
    if (backends.length === 0) throw new UsageError("no storage backend is enabled in the configuration");

    const outcomes: Outcome[] = [];
    for (const backend of backends) {
      try {
        const result = await retainBackend(backend, cutoff, {
          ...(signer ? { signer } : {}),
          encryption: config.security.encryption,
          dryRun: flags.dryRun === true,
        });
        outcomes.push({ backend, result, ...(result.signed !== undefined ? { signed: result.signed } : {}) });
      } catch (error) {
        outcomes.push({ backend, error });
      } finally {
        await backend.close().catch(() => {});
      }
    }

    const verb = flags.dryRun ? "would delete" : "deleted";
    let out = `Retention: keep ${days} day${days === 1 ? "" : "s"}; events before ${cutoff.toISOString()} go.${
      flags.dryRun ? " (dry run: nothing is deleted)" : ""
    }\n`;
    let failed = 0;
    for (const o of outcomes) {
      const name = neutralize(o.backend.name);
      if ("error" in o) {
        failed++;
        out += `${name}: failed: ${neutralize(o.error instanceof Error ? o.error.message : String(o.error))}\n`;
        continue;
      }
      const files = o.result.deletedFiles;
      out += `${name}: ${verb} ${formatCount(o.result.deletedEvents)} events${
        files ? ` in ${formatCount(files.length)} file${files.length === 1 ? "" : "s"}` : ""
      }${
        o.signed === undefined
          ? ""
          : `; ${flags.dryRun ? "would sign" : "signed"} ${formatCount(o.signed)} retention record${o.signed === 1 ? "" : "s"}`
      }\n`;
      for (const f of files ?? []) out += `  ${neutralize(f)}\n`;
    }
    await write(ctx.stdout, out);
    if (failed > 0)
      throw new VigilError(
        ErrorCodes.STORAGE,
        `retention failed on ${failed} of ${outcomes.length} backends`,
      );
  });
  return command;
}

/** The signer of retention records; without the signing key, nothing may be deleted. */
function retentionSigner(keys: SigningKeys): Signer {
  try {
    return createSigner(keys);
  } catch (err) {
    throw new UsageError(
      `security.signing is enabled, so deleted files must be covered by signed retention records, but ${
        (err as Error).message
      }`,
    );
  }
}
