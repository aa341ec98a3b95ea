/**
 * The `vigil` program (SPEC §10): its commands, and how a run ends — exit status 0 on
 * success, 2 for bad input (with one clear message, no stack trace), 1 for a failure
 * while working, 130 when interrupted.
 *
 * @module
 */
import { Command, CommanderError } from "commander";
import packageJson from "../../package.json" with { type: "json" };
import { exportCommand } from "./commands/export.js";
import { ingestCommand } from "./commands/ingest.js";
import { initCommand } from "./commands/init.js";
import { keygenCommand } from "./commands/keygen.js";
import { retentionCommand } from "./commands/retention.js";
import { searchCommand } from "./commands/search.js";
import { serveCommand } from "./commands/serve.js";
import { statsCommand } from "./commands/stats.js";
import { subjectCommand } from "./commands/subject.js";
import { tailCommand } from "./commands/tail.js";
import { verifyCommand } from "./commands/verify.js";
import { type CliContext, processContext } from "./context.js";
import { EXIT_OK, EXIT_USAGE, reportError } from "./errors.js";
import { neutralize } from "./terminal.js";

/** The program with every command, writing to `ctx`. Commander's own exits are turned into exceptions. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command("vigil")
    .description("search, follow, export and maintain vigil audit logs")
    .version(packageJson.version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show help")
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => ctx.stdout.write(text),
      writeErr: (text) => ctx.stderr.write(text),
      outputError: (text, writeErr) =>
        writeErr(`vigil: ${neutralize(text.replace(/^error: /, "").trimEnd())}\n`),
    })
    .helpCommand("help [command]", "show help for a command");
  program.addHelpText(
    "after",
    `
Every command reads the configuration given by --config, else $VIGIL_CONFIG, else
./config/audit.yaml, else the built-in defaults (events under ./logs/audit).
Exit status: 0 success, 1 failure, 2 bad input (query, options, configuration).`,
  );
  searchCommand(program, ctx);
  tailCommand(program, ctx);
  exportCommand(program, ctx);
  statsCommand(program, ctx);
  initCommand(program, ctx);
  retentionCommand(program, ctx);
  verifyCommand(program, ctx);
  serveCommand(program, ctx);
  keygenCommand(program, ctx);
  subjectCommand(program, ctx);
  ingestCommand(program, ctx);
  return program;
}

/**
 * Run `vigil` with `argv` (as `process.argv`: node, script, then the arguments) and
 * resolve the exit status. Never rejects.
 *
 * @example
 * main(process.argv).then((code) => { process.exitCode = code; });
 */
export async function main(argv: readonly string[], ctx: CliContext = processContext()): Promise<number> {
  const program = createProgram(ctx);
  if (argv.length <= 2) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has printed its message (or the help / version) already
      if (
        err.code === "commander.helpDisplayed" ||
        err.code === "commander.version" ||
        err.code === "commander.help"
      )
        return EXIT_OK;
      return EXIT_USAGE;
    }
    return reportError(ctx, err);
  }
}
