/**
 * `vigil subject export ID` and `vigil subject erase ID` (SPEC §9, §10): everything recorded
 * about one person (GDPR art. 15), and the erasure of their personal fields (art. 17) —
 * by crypto-shredding where it was on, by signed in-place redaction otherwise
 * (`engine.eraseSubject`, docs/privacy.md).
 *
 * A subject about whom nothing is stored is not an error: both verbs say "nothing found"
 * on stderr and exit 0 (an erasure request for someone never recorded is fulfilled).
 *
 * @module
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { createInterface } from "node:readline";
import { type Command, Option } from "commander";
import type { SubjectErasure } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { type CliContext, notice, type OutputStream, openEngine, write } from "../context.js";
import { UsageError } from "../errors.js";
import { addConfigOption } from "../options.js";
import { Progress } from "../progress.js";
import { formatCount, neutralize } from "../terminal.js";

interface ExportFlags {
  readonly config?: string;
  readonly format: "json" | "ndjson";
  readonly output?: string;
}

interface EraseFlags {
  readonly config?: string;
  readonly yes?: boolean;
}

/** The subject id as given: non-empty, one line. */
function subjectArgument(id: string): string {
  if (id.trim() === "") throw new UsageError("subject: expected a non-empty actor id or username");
  if (/[\r\n]/.test(id))
    throw new UsageError("subject: an actor id or username is one line, found a line break");
  return id;
}

/** Registers `subject` (with `export` and `erase`) on `program`. */
export function subjectCommand(program: Command, ctx: CliContext): Command {
  const subject = program
    .command("subject")
    .description("everything about one person (export), or the erasure of their personal data (erase)");

  const exp = subject
    .command("export")
    .description("write every event about one person (actor.id or actor.username), oldest first")
    .argument("<id>", "the person's actor.id (or actor.username)")
    .addOption(
      new Option("--format <format>", "json (an array) or ndjson")
        .choices(["json", "ndjson"])
        .default("json"),
    )
    .option("-o, --output <file>", 'where to write; "-" for stdout (default: stdout)');
  addConfigOption(exp);
  exp.action(async (rawId: string, flags: ExportFlags) => {
    const id = subjectArgument(rawId);
    const engine = openEngine(ctx, flags.config);
    const toStdout = flags.output === undefined || flags.output === "-";
    let out: OutputStream = ctx.stdout;
    if (!toStdout) {
      out = createWriteStream(flags.output!, { flags: "wx", mode: 0o600 });
      try {
        await once(out, "open"); // rejects with the stream's error (an existing file: EEXIST)
      } catch (err) {
        await engine.close();
        throw new UsageError(`cannot write ${neutralize(flags.output!)}: ${(err as Error).message}`);
      }
    }
    let n = 0;
    try {
      const json = flags.format === "json";
      if (json) await write(out, "[");
      for await (const event of engine.exportSubject(id)) {
        const text = JSON.stringify(event);
        await write(out, json ? `${n === 0 ? "\n" : ",\n"}${text}` : `${text}\n`);
        n++;
      }
      if (json) await write(out, n === 0 ? "]\n" : "\n]\n");
    } finally {
      await engine.close();
      if (!toStdout) {
        out.end();
        await once(out, "close");
      }
    }
    if (n === 0) notice(ctx, `nothing found about subject ${JSON.stringify(neutralize(id))}`);
    else
      notice(
        ctx,
        `exported ${formatCount(n)} event${n === 1 ? "" : "s"} about subject ${JSON.stringify(neutralize(id))} to ${toStdout ? "stdout" : neutralize(flags.output!)} (${flags.format})`,
      );
  });

  const erase = subject
    .command("erase")
    .description(
      "erase one person's personal fields from every store (crypto-shredding, or signed in-place redaction)",
    )
    .argument("<id>", "the person's actor.id (or actor.username)")
    .option("-y, --yes", "do not ask for confirmation");
  addConfigOption(erase);
  erase.addHelpText(
    "after",
    `
Every actor member but id and roles, and each of compliance.gdpr.erasure.fields, is
replaced by "[ERASED]" in every event whose actor.id or actor.username is ID; with
signing on, a signed erasure record lists each replacement and vigil verify accepts
exactly those. Where compliance.gdpr.erasure sealed the fields, the person's key is
destroyed instead. This cannot be undone. Without --yes, asks first (answer y).`,
  );
  erase.action(async (rawId: string, flags: EraseFlags) => {
    const id = subjectArgument(rawId);
    const engine = openEngine(ctx, flags.config);
    try {
      let count = 0;
      for await (const _ of engine.exportSubject(id)) count++;
      const shown = JSON.stringify(neutralize(id));
      if (count === 0) {
        notice(ctx, `nothing found about subject ${shown}: nothing erased`);
        return;
      }
      if (flags.yes !== true) {
        const backends = engine
          .getActiveBackends()
          .map((b) => neutralize(b.name))
          .join(", ");
        const ok = await confirm(
          ctx,
          `Erase the personal fields of subject ${shown} from ${formatCount(count)} event${count === 1 ? "" : "s"} in ${backends}? This cannot be undone. [y/N] `,
        );
        if (!ok)
          throw new VigilError(
            ErrorCodes.INVALID_ARGUMENT,
            "not confirmed: nothing erased (pass --yes to skip the question)",
          );
      }
      const progress = new Progress(ctx.stderr, "erasing: read", { unit: "stored events" });
      let result: SubjectErasure;
      try {
        result = await engine.eraseSubject(id, { onProgress: (n) => progress.update(n) });
      } finally {
        progress.done();
      }
      await write(ctx.stdout, erasureReport(result));
      const refused = result.stores.reduce((n, s) => n + s.refused.length, 0);
      if (refused > 0)
        throw new VigilError(
          ErrorCodes.INTEGRITY,
          `${refused} line${refused === 1 ? "" : "s"} about subject ${shown} ${refused === 1 ? "was" : "were"} not rewritten because ${refused === 1 ? "it was" : "they were"} modified after writing (listed above): run vigil verify`,
        );
    } finally {
      await engine.close();
    }
  });
  return subject;
}

/** Ask on stderr, read one line from stdin: true for y or yes. End of input is no. */
async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.stderr.write(question);
  const input = ctx.stdin;
  if (!input) return false;
  const rl = createInterface({ input, terminal: false });
  try {
    for await (const line of rl) return /^\s*y(es)?\s*$/i.test(line);
    return false;
  } finally {
    rl.close();
  }
}

/**
 * What an erasure did, for a human: the key destroyed, then per backend the events rewritten
 * and each replacement (where, chain position, fields), and the lines refused.
 */
export function erasureReport(result: SubjectErasure): string {
  let out = `Erasure of subject ${JSON.stringify(neutralize(result.subject))}:\n`;
  if (result.ref !== undefined)
    out += result.erased
      ? `  crypto-shredding: the person's key (ref ${result.ref}) was destroyed; their sealed fields are unreadable for good\n`
      : `  crypto-shredding: no key for ref ${result.ref} (never sealed, or erased before)\n`;
  for (const s of result.stores) {
    const files =
      s.files && s.files.length > 0
        ? ` in ${formatCount(s.files.length)} file${s.files.length === 1 ? "" : "s"}`
        : "";
    out += `  ${neutralize(s.backend)}: rewrote ${formatCount(s.events)} event${s.events === 1 ? "" : "s"}${files}${
      s.records > 0 ? `; signed ${formatCount(s.records)} erasure record${s.records === 1 ? "" : "s"}` : ""
    }\n`;
    for (const r of s.replacements)
      out += `    ${neutralize(r.at)}${r.seq !== undefined ? `  seq ${r.seq}` : ""}  ${r.fields.join(", ")}\n`;
    for (const r of s.refused) out += `    NOT REWRITTEN ${neutralize(r.at)}: ${neutralize(r.reason)}\n`;
  }
  out += `${formatCount(result.rewritten)} event${result.rewritten === 1 ? "" : "s"} rewritten${result.erased ? ", 1 key destroyed" : ""}.\n`;
  return out;
}
