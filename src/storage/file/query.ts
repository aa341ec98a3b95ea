/**
 * Answering a {@link QuerySpec} from the files of a store. Files whose name carries
 * a date outside the time range are never opened. Because an event's file is chosen
 * by its own UTC date, one day's files hold exactly that day's events: days are read
 * one at a time in the requested order, so memory holds one day's matches, and a
 * search with a limit stops at the first days that fill it.
 *
 * Lines are judged on their bytes first (`scan.ts`): those that cannot match are never
 * decoded. With a limit, a line that can only match is not decoded either until it is
 * among the day's best `limit` by its timestamp text; if what those lines hold does not
 * fill the page, the day is read again in full.
 *
 * Counts, aggregations and facets need no order: {@link scanFiles} hands matches over in
 * batches as they are read, and only their timestamps when that is all that is asked (a
 * line that needs no evaluator is then never decoded at all).
 *
 * @module
 */

import { type FileHandle, open } from "node:fs/promises";
import { KeyError } from "../../crypto/keyring.js";
import type { AuditEvent } from "../../event/types.js";
import { compileQuery } from "../../query/evaluate.js";
import { bothNeeds, type LineNeed, lineNeed, tenantNeed } from "../../query/prefilter.js";
import type { QuerySpec, ScanSink, StoreFollower } from "../backend.js";
import { LineFields } from "./fields.js";
import type { StoreFile } from "./file-backend.js";
import { type Chunk, judgeChunk, LineJudge, readChunks, Verdict } from "./scan.js";

const DAY_MS = 86_400_000;
/** With a limit up to this, a day's lines are decoded lazily (best timestamps first). */
const LAZY_LIMIT = 10_000;

/** How the files of a store are read. */
export interface FileSource {
  readonly listFiles: () => Promise<StoreFile[]>;
  readonly decode: (line: string) => AuditEvent;
  /**
   * Whether a line that is not an envelope nor holds a sealed subject is the event's JSON as
   * `decode` returns it, so its bytes may be judged. False: every line is decoded.
   */
  readonly plainLines: boolean;
  /** Whether `decode` opens sealed subjects: a line with a `subject` member is then decoded before it is judged. */
  readonly sealedSubjects: boolean;
}

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

const ALL: LineNeed = { kind: "all" };

/** What a search asks of a line and of an event, compiled once. */
interface Plan {
  /** The evaluator's full judgement of a decoded event (time range, cursor, query, tenant). */
  readonly accept: (e: AuditEvent) => boolean;
  readonly judge: (stampless?: boolean) => LineJudge;
  /** Whether the query's texts and the time range are all there is to judge (no evaluator needed). */
  readonly exact: boolean;
  readonly fromIso: string | undefined;
  readonly toIso: string | undefined;
  /** The files to read, grouped by day in the requested order. */
  readonly days: (files: StoreFile[]) => StoreFile[][];
}

function plan(spec: QuerySpec, source: FileSource, useCursor: boolean): Plan {
  const where = spec.where ? compileQuery(spec.where) : undefined;
  const tenant = spec.tenant;
  const fromIso = spec.from?.toISOString();
  const toIso = spec.to?.toISOString();
  const after = useCursor ? spec.after : undefined;
  const accept = (e: AuditEvent): boolean => {
    const ts = e.timestamp;
    if (typeof ts !== "string") return false;
    if (fromIso !== undefined && ts < fromIso) return false;
    if (toIso !== undefined && ts >= toIso) return false;
    if (after !== undefined && !afterCursor(e, spec)) return false;
    if (tenant !== undefined && e.tenant !== tenant) return false;
    return where === undefined || where(e);
  };
  const need = source.plainLines
    ? bothNeeds(spec.where ? lineNeed(spec.where) : ALL, tenant !== undefined ? tenantNeed(tenant) : ALL)
    : ALL;
  const exact = where === undefined && tenant === undefined && after === undefined;
  const judge = (stampless = false) =>
    new LineJudge({
      need,
      exact,
      opaque: !source.plainLines,
      sealed: source.sealedSubjects,
      stampless,
      fromIso,
      toIso,
      ...(after !== undefined
        ? spec.order === "asc"
          ? { minTs: after.timestamp }
          : { maxTs: after.timestamp }
        : {}),
    });
  const fromMs = spec.from?.getTime() ?? Number.NEGATIVE_INFINITY;
  const toMs = spec.to?.getTime() ?? Number.POSITIVE_INFINITY;
  const afterDay = after ? Date.parse(`${after.timestamp.slice(0, 10)}T00:00:00.000Z`) : undefined;
  const days = (files: StoreFile[]): StoreFile[][] => {
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
    return [...groups.keys()]
      .sort((a, b) => (spec.order === "asc" ? a - b : b - a))
      .map((d) => groups.get(d)!);
  };
  return { accept, judge, days, exact, fromIso, toIso };
}

/** Decode a line: undefined for a corrupt one (`verify` names it; a search cannot return it). */
function decodeLine(
  decode: (line: string) => AuditEvent,
  buf: Buffer,
  start: number,
  end: number,
): AuditEvent | undefined {
  try {
    return decode(buf.toString("utf8", start, end));
  } catch (err) {
    if (err instanceof KeyError) throw err; // a wrong or missing key must not look like "no results"
    return undefined;
  }
}

/** A file's chunks; a plain file gzipped (and removed) since it was listed is read from its `.gz`. */
async function* fileChunks(f: StoreFile): AsyncGenerator<Chunk> {
  let opened = false;
  try {
    for await (const c of readChunks(f.path, f.gzip)) {
      opened = true;
      yield c;
    }
  } catch (err) {
    if (opened || f.gzip || (err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    yield* readChunks(`${f.path}.gz`, true);
  }
}

/** Every chunk of `files`, a file deleted meanwhile (retention) skipped; stops when `signal` aborts. */
async function* chunksOf(
  files: readonly StoreFile[],
  signal: AbortSignal | undefined,
): AsyncGenerator<Chunk> {
  for (const f of files) {
    try {
      for await (const chunk of fileChunks(f)) {
        signal?.throwIfAborted();
        yield chunk;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
  }
}

/**
 * The best lines of a day by their timestamp text, in the search's order, kept undecoded:
 * at most twice `keep` at once; when full, the worse half goes, except lines tied with the
 * `keep`-th (ties are broken by id, which only decoding tells).
 */
class BestLines {
  readonly #desc: boolean;
  readonly #keep: number;
  #items: { ts: string; line: string }[] = [];
  /** Once something was dropped: lines worse than this were dropped. */
  threshold: string | undefined;

  constructor(order: "asc" | "desc", keep: number) {
    this.#desc = order === "desc";
    this.#keep = keep;
  }

  worse(ts: string, than: string): boolean {
    return this.#desc ? ts < than : ts > than;
  }

  offer(ts: string, buf: Buffer, start: number, end: number): void {
    if (this.threshold !== undefined && this.worse(ts, this.threshold)) return;
    this.#items.push({ ts, line: buf.toString("utf8", start, end) });
    if (this.#items.length >= 2 * this.#keep) this.#shrink();
  }

  #shrink(): void {
    const dir = this.#desc ? -1 : 1;
    this.#items.sort((a, b) => (a.ts === b.ts ? 0 : a.ts < b.ts ? -dir : dir));
    const edge = this.#items[this.#keep - 1]!.ts;
    let n = this.#keep;
    while (n < this.#items.length && this.#items[n]!.ts === edge) n++;
    this.#items.length = n;
    this.threshold = edge;
  }

  lines(): readonly { ts: string; line: string }[] {
    return this.#items;
  }
}

export async function* queryFiles(source: FileSource, spec: QuerySpec): AsyncGenerator<AuditEvent> {
  const { accept, judge: newJudge, days } = plan(spec, source, true);
  const decode = source.decode;
  const dir = spec.order === "asc" ? 1 : -1;
  const signal = spec.signal;
  let remaining = spec.limit ?? Number.POSITIVE_INFINITY;
  for (const group of days(await source.listFiles())) {
    if (remaining <= 0) return;
    let found = await readDay(group, remaining <= LAZY_LIMIT ? remaining : undefined);
    if (found === undefined) found = (await readDay(group, undefined))!;
    for (const e of found) {
      if (remaining-- <= 0) return;
      yield e;
    }
  }

  /**
   * The day's matches, sorted. With `lazy`, lines are decoded best timestamp first; undefined
   * when the lines kept did not surely hold the day's first `lazy` matches.
   */
  async function readDay(
    group: readonly StoreFile[],
    lazy: number | undefined,
  ): Promise<AuditEvent[] | undefined> {
    const judge = newJudge();
    const best = lazy !== undefined ? new BestLines(spec.order, Math.max(lazy, 64)) : undefined;
    const found: AuditEvent[] = [];
    for await (const chunk of chunksOf(group, signal)) {
      judgeChunk(chunk, judge, (start, end) => {
        const ts = judge.timestamp;
        if (best !== undefined && ts !== undefined) {
          best.offer(ts, chunk.buf, start, end);
          return;
        }
        const e = decodeLine(decode, chunk.buf, start, end);
        if (e !== undefined && accept(e)) found.push(e);
      });
    }
    if (best !== undefined) {
      for (const { line } of best.lines()) {
        let e: AuditEvent;
        try {
          e = decode(line);
        } catch (err) {
          if (err instanceof KeyError) throw err;
          continue;
        }
        if (accept(e)) found.push(e);
      }
    }
    found.sort((a, b) => dir * compareEvents(a, b));
    if (best?.threshold !== undefined) {
      const last = found[lazy! - 1];
      if (last === undefined || best.worse(last.timestamp, best.threshold)) return undefined;
    }
    return found;
  }
}

/**
 * Every match of `spec` (its limit and cursor ignored), in no particular order, handed to
 * `sink` a chunk's worth at a time. With a `times` sink a line that needs no evaluator is
 * never decoded.
 */
export async function scanFiles(source: FileSource, spec: QuerySpec, sink: ScanSink): Promise<void> {
  const planned = plan({ ...spec, after: undefined }, source, false);
  const { accept, judge: newJudge, days } = planned;
  const decode = source.decode;
  const files = days(await source.listFiles()).flat();
  if ("values" in sink && planned.exact && source.plainLines) {
    await scanValues(planned, decode, files, spec.signal, sink);
    return;
  }
  const judge = newJudge();
  if ("times" in sink) {
    let batch: string[] = [];
    for await (const chunk of chunksOf(files, spec.signal)) {
      judgeChunk(chunk, judge, (start, end, verdict) => {
        if (verdict === Verdict.Match) batch.push(judge.timestamp!);
        else {
          const e = decodeLine(decode, chunk.buf, start, end);
          if (e !== undefined && accept(e)) batch.push(e.timestamp);
        }
      });
      if (batch.length > 0) {
        sink.times(batch);
        batch = [];
      }
    }
    return;
  }
  let batch: AuditEvent[] = [];
  for await (const chunk of chunksOf(files, spec.signal)) {
    judgeChunk(chunk, judge, (start, end) => {
      const e = decodeLine(decode, chunk.buf, start, end);
      if (e !== undefined && accept(e)) batch.push(e);
    });
    if (batch.length > 0) {
      sink.events(batch);
      batch = [];
    }
  }
}

/**
 * {@link scanFiles} for a sink that takes one field's values, when nothing but the time range
 * is asked: a plain line's timestamp and field are read from its bytes ({@link LineFields}),
 * exactly as decoding would read them; a line whose bytes leave any doubt is decoded.
 */
async function scanValues(
  planned: Plan,
  decode: (line: string) => AuditEvent,
  files: readonly StoreFile[],
  signal: AbortSignal | undefined,
  sink: Extract<ScanSink, { readonly field: string }>,
): Promise<void> {
  const { accept, fromIso, toIso } = planned;
  const judge = planned.judge(true);
  const fields = new LineFields(["timestamp", sink.field]);
  let times: string[] = [];
  let values: (string | null)[] = [];
  let events: AuditEvent[] = [];
  for await (const chunk of chunksOf(files, signal)) {
    const buf = chunk.buf;
    judgeChunk(chunk, judge, (start, end, verdict) => {
      if (verdict === Verdict.Plain && fields.read(buf, start, end)) {
        const ts = fields.value(0);
        // a line without a string timestamp is no event a search returns
        if (ts === null || (fromIso !== undefined && ts < fromIso) || (toIso !== undefined && ts >= toIso))
          return;
        times.push(ts);
        values.push(fields.value(1));
        return;
      }
      const e = decodeLine(decode, buf, start, end);
      if (e !== undefined && accept(e)) events.push(e);
    });
    if (times.length > 0) {
      sink.values(times, values);
      times = [];
      values = [];
    }
    if (events.length > 0) {
      sink.events(events);
      events = [];
    }
  }
}

/**
 * A follower of a file store for a live tail (`StorageBackend.follow`): remembers how far it
 * read each file, by inode (a file renamed by rotation is followed under its new name), and
 * reads only the bytes appended since — a new file (a new day, a rotation) from its start.
 * Lines are judged on their bytes like a search's; gzipped files are closed ones and never read.
 */
export function followFiles(source: FileSource, spec: QuerySpec): StoreFollower {
  const { accept, judge: newJudge } = plan({ ...spec, after: undefined, limit: undefined }, source, false);
  const judge = newJudge();
  const fromDay = spec.from ? Math.floor(spec.from.getTime() / DAY_MS) * DAY_MS : undefined;
  /** How far each file (by device and inode) was read: up to its last complete line. */
  const offsets = new Map<string, number>();
  let bytesRead = 0;
  return {
    get bytesRead() {
      return bytesRead;
    },
    async poll() {
      const found: AuditEvent[] = [];
      const seen = new Set<string>();
      for (const f of await source.listFiles()) {
        if (f.gzip || (fromDay !== undefined && f.day !== undefined && f.day < fromDay)) continue;
        let fh: FileHandle;
        try {
          fh = await open(f.path, "r");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // rotated or pruned meanwhile
          throw err;
        }
        try {
          const st = await fh.stat();
          const key = `${st.dev}:${st.ino}`;
          seen.add(key);
          let offset = offsets.get(key) ?? 0;
          if (st.size < offset) offset = 0; // truncated (a torn tail repaired): read it again
          // in chunks of whole lines; a line still being written waits for the next poll
          let size = 1 << 20;
          while (offset < st.size) {
            const buf = Buffer.allocUnsafe(Math.min(size, st.size - offset));
            let n = 0;
            while (n < buf.length) {
              const r = await fh.read(buf, n, buf.length - n, offset + n);
              if (r.bytesRead === 0) break;
              n += r.bytesRead;
            }
            bytesRead += n;
            const end = n === 0 ? 0 : buf.lastIndexOf(0x0a, n - 1) + 1;
            if (end === 0) {
              if (n < buf.length || offset + n >= st.size) break; // the last, unfinished line
              size *= 2; // a line longer than the chunk
              continue;
            }
            offset += end;
            judgeChunk({ buf, length: end }, judge, (start, stop) => {
              const e = decodeLine(source.decode, buf, start, stop);
              if (e !== undefined && accept(e)) found.push(e);
            });
          }
          offsets.set(key, offset);
        } finally {
          await fh.close().catch(() => undefined);
        }
      }
      for (const key of offsets.keys()) if (!seen.has(key)) offsets.delete(key);
      found.sort(compareEvents);
      return found;
    },
  };
}
