/**
 * How the command line reports failures: bad input (a query syntax error, bad options,
 * a missing or invalid config file) is one clear message and exit status 2; a failure
 * while working (storage, a missing optional package) is exit status 1; an interrupted
 * command exits 130. Never a stack trace, unless `VIGIL_DEBUG` is set.
 *
 * @module
 */
import { ErrorCodes, QuerySyntaxError, VigilError } from "../errors.js";
import { type CliContext, notice } from "./context.js";
import { displayWidth, neutralize } from "./terminal.js";

/** Exit status: success. */
export const EXIT_OK = 0;
/** Exit status: the command failed while working. */
export const EXIT_FAILURE = 1;
/** Exit status: bad input (usage, query, options, configuration). */
export const EXIT_USAGE = 2;
/** Exit status: interrupted (SIGINT). */
export const EXIT_INTERRUPTED = 130;

const USAGE_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.QUERY_SYNTAX,
  ErrorCodes.QUERY_OPTIONS,
  ErrorCodes.CONFIG,
  ErrorCodes.CONFIG_FILE,
  ErrorCodes.INVALID_ARGUMENT,
  ErrorCodes.INGEST,
]);

/** Bad input found by the command line itself (exit status 2). */
export class UsageError extends VigilError {
  constructor(message: string) {
    super(ErrorCodes.INVALID_ARGUMENT, message);
    this.name = "UsageError";
  }
}

/** The exit status for an error. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof VigilError) return USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  if (err instanceof Error && err.name === "AbortError") return EXIT_INTERRUPTED;
  return EXIT_FAILURE;
}

/** Show at most this many columns of the query around the error. */
const EXCERPT_SIDE = 60;

/**
 * The query line around the error and a caret under it, both neutralized (a tab or an
 * escape in the query cannot shift or hide the caret), cut to a window around a long
 * query's error.
 */
export function syntaxExcerpt(err: QuerySyntaxError): string[] {
  const lineText = err.query.split("\n")[err.line - 1] ?? "";
  const at = Math.min(err.column - 1, lineText.length);
  const start = Math.max(0, at - EXCERPT_SIDE);
  const end = Math.min(lineText.length, at + EXCERPT_SIDE);
  const before = (start > 0 ? "…" : "") + neutralize(lineText.slice(start, at));
  const after = neutralize(lineText.slice(at, end)) + (end < lineText.length ? "…" : "");
  return [before + after, `${" ".repeat(displayWidth(before))}^`];
}

/** Print `err` on stderr the way its kind calls for, and return the exit status. */
export function reportError(ctx: CliContext, err: unknown): number {
  const code = exitCodeFor(err);
  if (code === EXIT_INTERRUPTED) {
    notice(ctx, "interrupted");
    return code;
  }
  if (err instanceof QuerySyntaxError) {
    const first = err.message.split("\n")[0] ?? err.message;
    const [line, caret] = syntaxExcerpt(err);
    ctx.stderr.write(`vigil: query syntax error: ${neutralize(first)}\n  ${line}\n  ${caret}\n`);
    return code;
  }
  const message = err instanceof Error ? err.message : String(err);
  notice(ctx, message);
  if (ctx.env.VIGIL_DEBUG && err instanceof Error && err.stack) ctx.stderr.write(`${err.stack}\n`);
  else if (code === EXIT_FAILURE && !(err instanceof VigilError))
    notice(ctx, "(set VIGIL_DEBUG=1 to see where this came from)");
  return code;
}
