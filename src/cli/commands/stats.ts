/**
 * `vigil stats [QUERY] --by FIELD [--interval 1h]`: counts per value or per time bucket,
 * drawn as a bar chart on the terminal (or printed as JSON).
 *
 * @module
 */
import { type Command, Option } from "commander";
import { terminalSafeJson } from "../../export/json.js";
import type { AggregateBucket, AggregateResult } from "../../query/aggregate.js";
import { resolveField } from "../../query/fields.js";
import { type CliContext, openEngine, write } from "../context.js";
import {
  addConfigOption,
  addProgressOption,
  addSearchOptions,
  joinQuery,
  positiveInteger,
  type SearchFlags,
  searchOptions,
} from "../options.js";
import { Progress } from "../progress.js";
import { bar, displayWidth, formatCount, neutralize, pad, terminalWidth, truncate } from "../terminal.js";

interface StatsFlags extends SearchFlags {
  readonly by?: string;
  readonly interval?: string;
  readonly top: number;
  readonly format: "chart" | "json";
  readonly progress?: boolean;
}

/** The field counted when neither `--by` nor `--interval` is given. */
export const STATS_DEFAULT_FIELD = "action.category";
const MAX_LABEL = 32;
const MAX_BAR = 50;
/** Chart width when stdout is not a terminal. */
const PIPED_WIDTH = 80;

function label(key: string | null): string {
  return key === null ? "(none)" : neutralize(key);
}

/** A time bucket's start, as precise as its interval needs. */
function timeLabel(iso: string, intervalMs: number): string {
  if (intervalMs % 86_400_000 === 0) return iso.slice(0, 10);
  if (intervalMs % 60_000 === 0) return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

function percent(count: number, total: number): string {
  return total > 0 ? `${((100 * count) / total).toFixed(1)}%` : "";
}

/** The chart's lines. */
export function renderChart(result: AggregateResult, title: string, width: number): string[] {
  const lines = [title];
  const { buckets } = result;
  if (buckets.length === 0) return [...lines, "(no events)"];
  const intervalMs = result.intervalMs;
  const labels = buckets.map((b) =>
    intervalMs !== undefined && b.key !== null
      ? timeLabel(b.key, intervalMs)
      : truncate(label(b.key), MAX_LABEL),
  );
  const labelWidth = Math.max(...labels.map(displayWidth));
  const countWidth = Math.max(...buckets.map((b) => formatCount(b.count).length));
  const max = Math.max(...buckets.map((b) => b.count));
  const fixed = labelWidth + 2 + 2 + countWidth + (intervalMs === undefined ? 8 : 2);
  const barWidth = Math.max(10, Math.min(MAX_BAR, width - fixed - (buckets[0]!.groups ? 24 : 0)));
  buckets.forEach((b, i) => {
    let line = `${pad(labels[i]!, labelWidth)}  ${pad(bar(max > 0 ? b.count / max : 0, barWidth), barWidth)}  ${pad(formatCount(b.count), countWidth, "right")}`;
    if (intervalMs === undefined) line += `  ${pad(percent(b.count, result.total), 6, "right")}`;
    if (b.groups && b.groups.length > 0) line += `  ${groupSummary(b)}`;
    lines.push(Number.isFinite(width) ? truncate(line.trimEnd(), width) : line.trimEnd());
  });
  if (result.other !== undefined && result.other > 0)
    lines.push(`… more values: ${formatCount(result.other)} events`);
  return lines;
}

function groupSummary(bucket: AggregateBucket): string {
  const parts = (bucket.groups ?? []).map((g) => `${truncate(label(g.key), 20)} ${formatCount(g.count)}`);
  if (bucket.other) parts.push(`others ${formatCount(bucket.other)}`);
  return parts.join(", ");
}

/** Registers `stats` on `program`. */
export function statsCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("stats")
    .description("count events per field value or per time interval, as a bar chart")
    .argument("[query...]", "only events matching this query (default: every event)")
    .option(
      "-b, --by <field>",
      `the field to count by, e.g. actor.username, category (default: ${STATS_DEFAULT_FIELD})`,
    )
    .option("-i, --interval <width>", "count per time bucket: <n>s|m|h|d|w, e.g. 5m, 1h, 1d")
    .option("--top <n>", "show the n largest values", positiveInteger, 20)
    .addOption(new Option("--format <format>", "output format").choices(["chart", "json"]).default("chart"));
  addSearchOptions(command);
  addProgressOption(command);
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil stats --by category --range last_24h
  vigil stats 'action.type:LOGIN AND result.status:FAILURE' --by actor.ip --top 10
  vigil stats --interval 1h --range today
  vigil stats --by status --interval 1d --range last_7d`,
  );
  command.action(async (words: string[], flags: StatsFlags) => {
    const options = searchOptions(joinQuery(words), flags);
    const groupBy = flags.by ?? (flags.interval === undefined ? STATS_DEFAULT_FIELD : undefined);
    const engine = openEngine(ctx, flags.config);
    const progress = new Progress(ctx.stderr, "scanning", {
      ...(flags.progress !== undefined ? { enabled: flags.progress, delayMs: 0 } : {}),
    });
    try {
      const result = await engine.aggregate({
        ...options,
        ...(groupBy !== undefined ? { groupBy } : {}),
        ...(flags.interval !== undefined ? { interval: flags.interval } : {}),
        top: flags.top,
        onProgress: (n) => progress.update(n),
      });
      progress.done();
      if (flags.format === "json") {
        await write(ctx.stdout, `${terminalSafeJson(result, 2)}\n`);
        return;
      }
      const what = [
        groupBy ? neutralize(resolveField(groupBy)) : undefined,
        flags.interval ? `per ${flags.interval}` : undefined,
      ]
        .filter((s) => s !== undefined)
        .join(" ");
      const title = `${what} · ${formatCount(result.total)} events${flags.range ? ` · ${neutralize(flags.range)}` : ""}`;
      const width = terminalWidth(ctx.stdout, ctx.env);
      const lines = renderChart(result, title, Number.isFinite(width) ? width : PIPED_WIDTH);
      await write(ctx.stdout, `${lines.join("\n")}\n`);
    } finally {
      progress.done();
      await engine.close();
    }
  });
  return command;
}
