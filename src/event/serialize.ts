/**
 * One event ↔ one JSON line (the file backend's JSON Lines, SPEC §8).
 *
 * `JSON.stringify` already escapes `\n`, `\r` and every other control character, so its
 * output never spans lines for `JSON.parse`-based readers. Line-oriented tools that follow
 * ECMAScript or Unicode line breaking (JavaScript `split(/\r?\n|\u2028|\u2029/)`, some
 * editors and log viewers) also break at U+2028 LINE SEPARATOR and U+2029 PARAGRAPH
 * SEPARATOR, which JSON leaves raw: {@link toJsonLine} escapes those two as well.
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";

const HAS_SEPARATOR = /[\u2028\u2029]/;
const SEPARATORS = /[\u2028\u2029]/g;
const escapeSeparator = (c: string): string => (c === "\u2028" ? "\\u2028" : "\\u2029");

/**
 * Serializes a JSON-safe value (a sanitized event) to one line: `JSON.stringify` plus
 * `\u2028`/`\u2029` escaped, so the result contains no raw line break of any kind. No
 * trailing newline is added: the writer adds it.
 *
 * @param value - a JSON-safe value, typically an `AuditEvent` whose free-form parts went
 *   through the sanitizer.
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` when the value is not serializable
 *   (`undefined`, a function, a cycle, a BigInt): the sanitizer should have made it safe.
 * @example toJsonLine({ a: "x\u2028y" }) // '{"a":"x\\u2028y"}'
 */
export function toJsonLine(value: unknown): string {
  let line: string | undefined;
  try {
    line = JSON.stringify(value);
  } catch (e) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `toJsonLine: the value is not JSON-serializable (${(e as Error).message}); sanitize it first`,
      { cause: e },
    );
  }
  if (line === undefined) {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `toJsonLine: expected a JSON value, found ${typeof value === "function" ? "a function" : String(value)}`,
    );
  }
  // Fast path: the regex scan is one native pass; only a line that has a separator is copied.
  return HAS_SEPARATOR.test(line) ? line.replace(SEPARATORS, escapeSeparator) : line;
}

/**
 * Parses one line written by {@link toJsonLine} (or any JSON line). Surrounding whitespace,
 * a trailing `\r` and a leading byte-order mark are ignored.
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` naming the problem and the start of the line
 *   when it is not valid JSON (a torn or edited line).
 * @example fromJsonLine('{"a":1}\r') // { a: 1 }
 */
export function fromJsonLine(line: string): unknown {
  const text = line.charCodeAt(0) === 0xfeff ? line.slice(1) : line;
  try {
    return JSON.parse(text);
  } catch (e) {
    const start = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `not a JSON line (${(e as Error).message}): ${JSON.stringify(start)}`,
      { cause: e },
    );
  }
}
