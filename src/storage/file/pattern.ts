/**
 * File names from `filename_pattern` (SPEC §8): placeholders `{category}` (lower
 * case), `{date}` (the event's UTC date, YYYY-MM-DD), `{hour}` (its UTC hour, HH) and
 * `{application}`. Each value is made safe for a file name, so no category can name a
 * path outside the directory. The same pattern compiles to a matcher that recognizes
 * the files it produced — with rotation suffixes and `.gz` — and reads their date back.
 *
 * @module
 */

const PLACEHOLDER = /\{(category|date|hour|application)\}/g;

/** Make a value safe as one path segment: `[a-z0-9._-]`, no leading dot, at most 64 chars. */
export function safeSegment(value: string, lowerCase: boolean): string {
  const v = lowerCase ? value.toLowerCase() : value;
  let out = v.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 64);
  if (out === "" || out === "_") out = "unknown";
  return out;
}

export interface FileNameParts {
  readonly category: string;
  /** ISO timestamp of the event. */
  readonly timestamp: string;
  readonly application: string;
}

/** A file this pattern produced, as recognized by {@link CompiledPattern.match}. */
export interface MatchedFile {
  /** UTC day start of the file's events when the name carries `{date}`, else undefined. */
  readonly day?: number;
  /** Rotation index suffix (`.1`, `.2`, ...), 0 for the active file. */
  readonly index: number;
  /** A time-rotation suffix (`.2026-11-26` or `.2026-11-26T13`) when the pattern lacks the placeholder. */
  readonly periodSuffix?: string;
  readonly gzip: boolean;
}

export interface CompiledPattern {
  readonly hasDate: boolean;
  readonly hasHour: boolean;
  /** The active file name for an event. */
  name(parts: FileNameParts): string;
  /** Recognize a file name this pattern produced (with rotation suffixes), or undefined. */
  match(fileName: string): MatchedFile | undefined;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Compile a pattern once, at setup. */
export function compilePattern(pattern: string, application: string): CompiledPattern {
  const app = safeSegment(application, false);
  const hasDate = pattern.includes("{date}");
  const hasHour = pattern.includes("{hour}");
  // The matcher: each placeholder becomes a group; the literal parts are escaped.
  let source = "";
  let last = 0;
  const groups: string[] = [];
  for (const m of pattern.matchAll(PLACEHOLDER)) {
    source += escapeRegExp(pattern.slice(last, m.index));
    const kind = m[1]!;
    if (kind === "application") source += escapeRegExp(app);
    else {
      groups.push(kind); // one capture group per entry, in order
      if (kind === "date") source += "(\\d{4}-\\d{2}-\\d{2})";
      else if (kind === "hour") source += "(\\d{2})";
      else source += "([A-Za-z0-9_-]{1,64})";
    }
    last = m.index + m[0].length;
  }
  source += escapeRegExp(pattern.slice(last));
  const matcher = new RegExp(
    `^${source}(?:\\.(\\d{4}-\\d{2}-\\d{2}(?:T\\d{2})?))?(?:\\.(\\d{1,9}))?(\\.gz)?$`,
  );

  return {
    hasDate,
    hasHour,
    name(parts) {
      return pattern.replace(PLACEHOLDER, (_, kind: string) => {
        switch (kind) {
          case "category":
            return safeSegment(parts.category, true);
          case "date":
            return parts.timestamp.slice(0, 10);
          case "hour":
            return parts.timestamp.slice(11, 13);
          default:
            return app;
        }
      });
    },
    match(fileName) {
      const m = matcher.exec(fileName);
      if (!m) return undefined;
      let day: number | undefined;
      const dateGroup = groups.indexOf("date");
      if (dateGroup >= 0) day = Date.parse(`${m[dateGroup + 1]}T00:00:00.000Z`);
      const n = groups.length;
      const periodSuffix = m[n + 1];
      if (day === undefined && periodSuffix) day = Date.parse(`${periodSuffix.slice(0, 10)}T00:00:00.000Z`);
      const result: MatchedFile = {
        index: m[n + 2] ? Number(m[n + 2]) : 0,
        gzip: m[n + 3] !== undefined,
        ...(day !== undefined && !Number.isNaN(day) ? { day } : {}),
        ...(periodSuffix ? { periodSuffix } : {}),
      };
      return result;
    },
  };
}
