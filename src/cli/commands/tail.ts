/**
 * `vigil tail [-f] [QUERY]`: the last events, oldest first; with `--follow`, then every
 * new event as it is stored, until interrupted.
 *
 * Following polls the store (`--interval`, default 1 s). Each poll reads the events
 * stamped since a little before the newest one seen — a window of two minutes — and
 * prints those not printed yet, so events that reach the store late (a writer's batch
 * delay, several writer processes) are not missed. Events stored more than two minutes
 * after their timestamp are not shown.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { AuditEvent } from "../../event/types.js";
import { terminalSafeJson } from "../../export/json.js";
import type { SearchOptions } from "../../query/search.js";
import { resolveTimeRange } from "../../query/time-range.js";
import { type CliContext, openEngine, write } from "../context.js";
import { eventCells, streamHeader, streamLine } from "../format.js";
import {
  addConfigOption,
  addSearchOptions,
  joinQuery,
  nonNegativeInteger,
  positiveInteger,
  type SearchFlags,
  searchOptions,
} from "../options.js";
import { terminalWidth } from "../terminal.js";

/** How far back each poll looks before the newest event seen. */
export const FOLLOW_WINDOW_MS = 120_000;

interface TailFlags extends SearchFlags {
  readonly lines: number;
  readonly follow?: boolean;
  readonly interval: number;
  readonly format: "table" | "ndjson";
}

/** Registers `tail` on `program`. */
export function tailCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("tail")
    .description("show the last events; with --follow, keep printing new ones")
    .argument("[query...]", "only events matching this query (default: every event)")
    .option("-n, --lines <n>", "how many of the latest events to show first", nonNegativeInteger, 10)
    .option("-f, --follow", "keep running and print new events as they are stored (Ctrl-C stops)")
    .option(
      "--interval <ms>",
      "with --follow: how often to look for new events, in milliseconds",
      positiveInteger,
      1000,
    )
    .addOption(
      new Option("--format <format>", "output format").choices(["table", "ndjson"]).default("table"),
    );
  addSearchOptions(command);
  addConfigOption(command);
  command.action(async (words: string[], flags: TailFlags) => {
    const base = searchOptions(joinQuery(words), flags);
    const width = terminalWidth(ctx.stdout, ctx.env);
    const engine = openEngine(ctx, flags.config);
    let stopped = false;
    let wake: (() => void) | undefined;
    const stop = () => {
      stopped = true;
      wake?.();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    ctx.stdout.once("error", stop); // a closed pipe ends the command
    ctx.stdout.once("close", stop);

    const print = async (events: readonly AuditEvent[]) => {
      for (const event of events) {
        const text =
          flags.format === "ndjson" ? terminalSafeJson(event) : streamLine(eventCells(event), width);
        const wait = write(ctx.stdout, `${text}\n`);
        if (wait) await wait;
      }
    };

    try {
      const seen = new Map<string, number>();
      let newest = Date.now();
      const remember = (event: AuditEvent) => {
        const t = Date.parse(event.timestamp);
        seen.set(event.id, t);
        if (t > newest) newest = t;
      };
      const userFrom = resolveTimeRange(base).from?.getTime() ?? Number.NEGATIVE_INFINITY;
      const since = () => new Date(Math.max(userFrom, newest - FOLLOW_WINDOW_MS));
      if (flags.follow) {
        // Everything already stored near "now" counts as seen: only what arrives later is new.
        for await (const event of engine.stream({ ...base, from: since() })) remember(event);
      }
      if (flags.format === "table") await write(ctx.stdout, `${streamHeader(width)}\n`);
      if (flags.lines > 0) {
        const last = await engine.search({ ...base, limit: flags.lines, order: "desc" });
        last.reverse();
        for (const event of last) remember(event);
        await print(last);
      }
      while (flags.follow && !stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, flags.interval);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
        if (stopped) break;
        const poll: SearchOptions = { ...base, from: since(), order: "asc" };
        const fresh: AuditEvent[] = [];
        for await (const event of engine.stream(poll)) if (!seen.has(event.id)) fresh.push(event);
        for (const event of fresh) remember(event);
        await print(fresh);
        const horizon = newest - FOLLOW_WINDOW_MS;
        for (const [id, t] of seen) if (t < horizon) seen.delete(id);
      }
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      await engine.close();
    }
  });
  return command;
}
