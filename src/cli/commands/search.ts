/**
 * `vigil search [QUERY]`: the events matching a query, as a table or JSON.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { terminalSafeJson } from "../../export/json.js";
import { type CliContext, notice, openEngine, write } from "../context.js";
import { eventTable } from "../format.js";
import { addConfigOption, addSearchOptions, joinQuery, type SearchFlags, searchOptions } from "../options.js";
import { formatCount, terminalWidth } from "../terminal.js";

/** The default `--limit` of `vigil search`. */
export const SEARCH_DEFAULT_LIMIT = 100;

interface SearchCommandFlags extends SearchFlags {
  readonly format: "table" | "json" | "ndjson";
  readonly cursor?: string;
}

/** Registers `search` on `program`. */
export function searchCommand(program: Command, ctx: CliContext): Command {
  const command = program
    .command("search")
    .description("find events matching a query (newest first)")
    .argument(
      "[query...]",
      'query, e.g. "action.type:LOGIN AND result.status:FAILURE" (default: every event)',
    )
    .addOption(
      new Option("--format <format>", "output format").choices(["table", "json", "ndjson"]).default("table"),
    )
    .option("--cursor <cursor>", "continue after a previous page (printed on stderr when more events match)");
  addSearchOptions(command, `default ${SEARCH_DEFAULT_LIMIT}`);
  addConfigOption(command);
  command.addHelpText(
    "after",
    `
Examples:
  vigil search 'action.type:LOGIN AND result.status:FAILURE' --range last_24h
  vigil search --category SECURITY --format ndjson --limit 5000 > security.ndjson
  vigil search -- '-category:HEARTBEAT'      (a query starting with "-" comes after --)`,
  );
  command.action(async (words: string[], flags: SearchCommandFlags) => {
    const options = {
      ...searchOptions(joinQuery(words), flags, { limit: SEARCH_DEFAULT_LIMIT }),
      ...(flags.cursor !== undefined ? { cursor: flags.cursor } : {}),
    };
    const engine = openEngine(ctx, flags.config);
    try {
      const page = await engine.searchPage(options);
      if (flags.format === "json") {
        await write(ctx.stdout, `${terminalSafeJson(page.events, 2)}\n`);
      } else if (flags.format === "ndjson") {
        // lines are written in batches of about 64 KiB: one write per event costs more than the search
        let batch = "";
        for (const event of page.events) {
          batch += `${terminalSafeJson(event)}\n`;
          if (batch.length < 65_536) continue;
          const wait = write(ctx.stdout, batch);
          batch = "";
          if (wait) await wait;
        }
        if (batch !== "") await write(ctx.stdout, batch);
      } else if (page.events.length > 0) {
        const lines = eventTable(page.events, terminalWidth(ctx.stdout, ctx.env));
        await write(ctx.stdout, `${lines.join("\n")}\n`);
      }
      if (page.events.length === 0) notice(ctx, "no events match");
      else if (page.cursor !== undefined)
        notice(
          ctx,
          `${formatCount(page.events.length)} events shown; more match: next page with --cursor ${page.cursor}`,
        );
    } finally {
      await engine.close();
    }
  });
  return command;
}
