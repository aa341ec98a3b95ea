/**
 * `vigil export [QUERY] --format xlsx|csv|json|ndjson|ocsf|ecs --output FILE`: every
 * matching event, streamed into a file (or stdout), with progress on a terminal. `ocsf` and
 * `ecs` write NDJSON mapped to those SIEM schemas.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { EXPORT_FORMATS, exportEvents, resolveExportFormat } from "../../export/index.js";
import { type CliContext, notice, openEngine } from "../context.js";
import { UsageError } from "../errors.js";
import {
  addConfigOption,
  addProgressOption,
  addSearchOptions,
  joinQuery,
  type SearchFlags,
  searchOptions,
} from "../options.js";
import { Progress } from "../progress.js";
import { formatBytes, formatCount, formatDuration } from "../terminal.js";

interface ExportFlags extends SearchFlags {
  readonly format?: string;
  readonly output?: string;
  readonly progress?: boolean;
}

/** Registers `export` on `program`. */
export function exportCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("export")
    .description("write matching events to an Excel, CSV, JSON or NDJSON file, or as OCSF or ECS (NDJSON)")
    .argument("[query...]", "only events matching this query (default: every event)")
    .addOption(
      new Option("--format <format>", "file format (default: from the --output file's extension)").choices([
        ...EXPORT_FORMATS,
      ]),
    )
    .option("-o, --output <file>", 'where to write; "-" for stdout (default: stdout)');
  addSearchOptions(command, "default: every matching event");
  addProgressOption(command);
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil export --category SECURITY --range last_7d --output security_audit.xlsx
  vigil export 'result.status:FAILURE' --format csv --output failures.csv
  vigil export --range today --format ndjson | jq .actor.username
  vigil export --range last_24h --format ocsf --output audit.ocsf.ndjson   # OCSF 1.8.0, for Security Lake and SIEMs
  vigil export --range last_24h --format ecs --output audit.ecs.ndjson     # ECS 9.4, for Elasticsearch`,
  );
  command.action(async (words: string[], flags: ExportFlags) => {
    const toStdout = flags.output === undefined || flags.output === "-";
    const format = resolveExportFormat(flags.format, toStdout ? undefined : flags.output);
    if (toStdout && format === "xlsx" && ctx.stdout.isTTY)
      throw new UsageError(
        "an xlsx workbook is binary: write it to a file with --output FILE, or redirect stdout",
      );
    const options = searchOptions(joinQuery(words), flags);
    const engine = openEngine(ctx, flags.config);
    const progress = new Progress(ctx.stderr, "exporting", {
      ...(flags.progress !== undefined ? { enabled: flags.progress, delayMs: 0 } : {}),
      ...(options.limit !== undefined ? { total: options.limit } : {}),
    });
    const abort = new AbortController();
    const interrupt = () => abort.abort(Object.assign(new Error("interrupted"), { name: "AbortError" }));
    process.once("SIGINT", interrupt);
    process.once("SIGTERM", interrupt);
    const started = performance.now();
    try {
      const result = await exportEvents(
        engine.stream(options),
        format,
        toStdout ? ctx.stdout : flags.output!,
        {
          onProgress: (n) => progress.update(n),
          signal: abort.signal,
        },
      );
      progress.done();
      const where = result.path ?? "stdout";
      notice(
        ctx,
        `exported ${formatCount(result.count)} events to ${where} (${result.format}, ${formatBytes(result.bytes)}, ${formatDuration(performance.now() - started)})`,
      );
    } finally {
      progress.done();
      process.off("SIGINT", interrupt);
      process.off("SIGTERM", interrupt);
      await engine.close();
    }
  });
  return command;
}
