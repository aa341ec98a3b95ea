/**
 * Answering a {@link QuerySpec} from the files of a store. Files whose name carries
 * a date outside the time range are never opened. Because an event's file is chosen
 * by its own UTC date, one day's files hold exactly that day's events: days are read
 * one at a time in the requested order, so memory holds one day's matches, and a
 * search with a limit stops at the first days that fill it.
 *
 * @module
 */
import { KeyError } from "../../crypto/keyring.js";
import type { AuditEvent } from "../../event/types.js";
import { compileQuery } from "../../query/evaluate.js";
import type { QuerySpec } from "../backend.js";
import type { StoreFile } from "./file-backend.js";
import { readLines } from "./lines.js";

const DAY_MS = 86_400_000;

/** Compare two events by (timestamp, id): the one order every backend uses. */
export function compareEvents(a: AuditEvent, b: AuditEvent): number {
  if (a.timestamp !== b.timestamp) return a.timestamp < b.timestamp ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Whether an event lies strictly after the cursor position in the given order. */
function afterCursor(e: AuditEvent, spec: QuerySpec): boolean {
  const a = spec.after;
  if (!a) return true;
  const c =
    e.timestamp !== a.timestamp
      ? e.timestamp < a.timestamp
        ? -1
        : 1
      : e.id < a.id
        ? -1
        : e.id > a.id
          ? 1
          : 0;
  return spec.order === "asc" ? c > 0 : c < 0;
}

export async function* queryFiles(
  listFiles: () => Promise<StoreFile[]>,
  spec: QuerySpec,
  decode: (line: string) => AuditEvent,
): AsyncGenerator<AuditEvent> {
  const where = spec.where ? compileQuery(spec.where) : undefined;
  const tenant = spec.tenant;
  const matches =
    tenant === undefined
      ? (where ?? (() => true))
      : (e: AuditEvent) => e.tenant === tenant && (where === undefined || where(e));
  const fromIso = spec.from?.toISOString();
  const toIso = spec.to?.toISOString();
  const fromMs = spec.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const toMs = spec.to?.getTime() ?? Number.POSITIVE_INFINITY;
  const afterDay = spec.after ? Date.parse(`${spec.after.timestamp.slice(0, 10)}T00:00:00.000Z`) : undefined;

  const files = await listFiles();
  // Group by day; a file without a day in its name may hold any time, so then one group holds all.
  const undated = files.some((f) => f.day === undefined);
  const groups = new Map<number, StoreFile[]>();
  for (const f of files) {
    const day = undated ? 0 : f.day!;
    if (!undated) {
      if (day + DAY_MS <= fromMs || day >= toMs) continue;
      if (afterDay !== undefined && (spec.order === "asc" ? day < afterDay : day > afterDay)) continue;
    }
    let list = groups.get(day);
    if (!list) {
      list = [];
      groups.set(day, list);
    }
    list.push(f);
  }
  const days = [...groups.keys()].sort((a, b) => (spec.order === "asc" ? a - b : b - a));
  const dir = spec.order === "asc" ? 1 : -1;
  let remaining = spec.limit ?? Number.POSITIVE_INFINITY;
  for (const day of days) {
    if (remaining <= 0) return;
    const found: AuditEvent[] = [];
    for (const f of groups.get(day)!) {
      try {
        for await (const { line } of readFileLines(f)) {
          let event: AuditEvent;
          try {
            event = decode(line);
          } catch (err) {
            if (err instanceof KeyError) throw err; // a wrong or missing key must not look like "no results"
            continue; // a corrupt line: `verify` names it; a search cannot return it
          }
          const ts = event.timestamp;
          if (typeof ts !== "string") continue;
          if (fromIso !== undefined && ts < fromIso) continue;
          if (toIso !== undefined && ts >= toIso) continue;
          if (!afterCursor(event, spec) || !matches(event)) continue;
          found.push(event);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // deleted by retention meanwhile
        throw err;
      }
    }
    found.sort((a, b) => dir * compareEvents(a, b));
    for (const e of found) {
      if (remaining-- <= 0) return;
      yield e;
    }
  }
}

/** A file's lines; a plain file gzipped (and removed) since it was listed is read from its `.gz`. */
async function* readFileLines(f: StoreFile): AsyncGenerator<{ readonly line: string }> {
  let opened = false;
  try {
    for await (const l of readLines(f.path, f.gzip)) {
      opened = true;
      yield l;
    }
  } catch (err) {
    if (opened || f.gzip || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    yield* readLines(`${f.path}.gz`, true);
  }
}
