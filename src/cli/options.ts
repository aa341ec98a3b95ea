/**
 * Options shared by the commands: `--config`, the search options (`--range`, `--from`,
 * `--to`, `--category`, `--filter`, `--limit`, `--order`) and `--progress`, with their
 * parsers, and the translation into the engine's `SearchOptions`.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import type { FilterValue, SearchOptions } from "../query/search.js";
import { toQuerySpec } from "../query/search.js";

/** `--config PATH`, on every command. */
export function addConfigOption(command: Command): Command {
  return command.option(
    "-c, --config <path>",
    "configuration file (default: $VIGIL_CONFIG, else ./config/audit.yaml, else built-in defaults)",
  );
}

/** Parses a positive integer option value. */
export function positiveInteger(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value) || Number(value) === 0)
    throw new InvalidArgumentError(`expected a positive integer, found "${value}"`);
  return Number(value);
}

/** Parses a non-negative integer option value. */
export function nonNegativeInteger(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value))
    throw new InvalidArgumentError(`expected a whole number, found "${value}"`);
  return Number(value);
}

/** Collects a repeatable option; commas also separate values (`--category API,DATABASE`). */
function collectList(value: string, previous: string[] | undefined): string[] {
  const parts = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (parts.length === 0) throw new InvalidArgumentError("expected a value");
  return [...(previous ?? []), ...parts];
}

/** Collects `--filter field=value` pairs. */
function collectFilter(value: string, previous: [string, string][] | undefined): [string, string][] {
  const eq = value.indexOf("=");
  if (eq <= 0)
    throw new InvalidArgumentError(`expected field=value, like actor.username=alice, found "${value}"`);
  return [...(previous ?? []), [value.slice(0, eq).trim(), value.slice(eq + 1)]];
}

/** The search flags as commander parses them. */
export interface SearchFlags {
  readonly config?: string;
  readonly range?: string;
  readonly from?: string;
  readonly to?: string;
  readonly category?: string[];
  readonly filter?: [string, string][];
  readonly limit?: number;
  readonly order?: "asc" | "desc";
  readonly tenant?: string;
}

/**
 * Adds the search options. `limitHelp` says what no `--limit` means for this command;
 * without it the command takes no `--limit` and `--order` (`tail`).
 */
export function addSearchOptions(command: Command, limitHelp?: string): Command {
  command
    .option(
      "-r, --range <name>",
      "time range: last_<n>m|h|d|w (last_24h), today, yesterday, this_week, this_month",
    )
    .option("--from <time>", "from this time, inclusive (ISO 8601, e.g. 2025-10-10 or 2025-10-10T12:00Z)")
    .option("--to <time>", "up to this time, exclusive (ISO 8601)")
    .option("--category <name>", "only these categories (repeatable, or comma-separated)", collectList)
    .option("--filter <field=value>", "only events whose field equals value (repeatable)", collectFilter)
    .option("--tenant <id>", "only this tenant's events, compared exactly (case-sensitive)");
  if (limitHelp === undefined) return command;
  return command
    .option("-l, --limit <n>", `at most n events (${limitHelp})`, positiveInteger)
    .addOption(
      new Option("--order <order>", "newest first (desc) or oldest first (asc)").choices(["asc", "desc"]),
    );
}

/** `--progress` / `--no-progress`: draw a progress line on stderr; default when stderr is a terminal. */
export function addProgressOption(command: Command): Command {
  return command
    .option("--progress", "show progress on stderr (default: when stderr is a terminal)")
    .option("--no-progress", "never show progress");
}

/** The query from the positional words: `vigil search type:LOGIN AND status:FAILURE` works unquoted. */
export function joinQuery(words: readonly string[] | string | undefined): string | undefined {
  const text = Array.isArray(words) ? words.join(" ") : (words as string | undefined);
  return text === undefined || text.trim() === "" ? undefined : text;
}

/**
 * The engine's search options for the flags, checked now (a syntax error or a bad range
 * fails here, before any file is opened).
 */
export function searchOptions(
  query: string | undefined,
  flags: SearchFlags,
  defaults: { limit?: number } = {},
): SearchOptions {
  const filters: Record<string, FilterValue> = {};
  for (const [field, value] of flags.filter ?? []) {
    const previous = filters[field];
    filters[field] =
      previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
  }
  const limit = flags.limit ?? defaults.limit;
  const options: SearchOptions = {
    ...(query !== undefined ? { query } : {}),
    ...(flags.range !== undefined ? { timeRange: flags.range } : {}),
    ...(flags.from !== undefined ? { from: flags.from } : {}),
    ...(flags.to !== undefined ? { to: flags.to } : {}),
    ...(flags.category?.length ? { category: flags.category } : {}),
    ...(Object.keys(filters).length > 0 ? { filters } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(flags.order !== undefined ? { order: flags.order } : {}),
    ...(flags.tenant !== undefined ? { tenant: flags.tenant } : {}),
  };
  toQuerySpec({ ...options, limit: options.limit ?? Number.POSITIVE_INFINITY });
  return options;
}
