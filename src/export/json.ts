/**
 * JSON exports: `json` (one valid JSON array, written event by event, never held in
 * memory whole) and `ndjson` (one event per line, `jq`-readable like the file store).
 *
 * Besides the C0 controls that `JSON.stringify` already escapes, the text is kept free
 * of characters a terminal may act on when the export is printed: DEL, the C1 controls
 * (U+0080–U+009F, which include an 8-bit CSI), the line and paragraph separators and the
 * bidirectional overrides are written as `\uXXXX` escapes. `JSON.parse` gives back
 * exactly the same values.
 *
 * @module
 */
import type { AuditEvent } from "../event/types.js";
import { safeJson } from "./columns.js";
import type { Output } from "./output.js";

// A single character class: linear, no backtracking. (`HAS_` has no `g` flag, so no `lastIndex` state.)
const UNSAFE_CLASS = "[\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]";
const HAS_TERMINAL_UNSAFE = new RegExp(UNSAFE_CLASS);
const TERMINAL_UNSAFE = new RegExp(UNSAFE_CLASS, "g");

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `JSON.stringify(value)` with the terminal-unsafe characters above escaped. Still
 * valid JSON that parses to the same value.
 *
 * @example
 * terminalSafeJson({ a: "\u009b31m" }); // '{"a":"\\u009b31m"}'
 */
export function terminalSafeJson(value: unknown, indent?: number): string {
  const text = indent === undefined ? safeJson(value) : (JSON.stringify(value, null, indent) ?? "");
  return HAS_TERMINAL_UNSAFE.test(text) ? text.replace(TERMINAL_UNSAFE, escapeChar) : text;
}

/**
 * Write every event as one line of JSON — the event itself, or what `map` makes of it
 * (the OCSF and ECS mappings); returns how many were written.
 */
export async function writeNdjson(
  events: AsyncIterable<AuditEvent>,
  out: Output,
  progress: (count: number) => void,
  map?: (event: AuditEvent) => unknown,
): Promise<number> {
  let count = 0;
  for await (const event of events) {
    const wait = out.push(`${terminalSafeJson(map ? map(event) : event)}\n`);
    if (wait) await wait;
    if ((++count & 1023) === 0) progress(count);
  }
  return count;
}

/** Write every event into one JSON array (`[]` when there is none); returns how many were written. */
export async function writeJsonArray(
  events: AsyncIterable<AuditEvent>,
  out: Output,
  progress: (count: number) => void,
): Promise<number> {
  let count = 0;
  for await (const event of events) {
    const wait = out.push(`${count === 0 ? "[\n" : ",\n"}${terminalSafeJson(event)}`);
    if (wait) await wait;
    if ((++count & 1023) === 0) progress(count);
  }
  out.push(count === 0 ? "[]\n" : "\n]\n");
  return count;
}
