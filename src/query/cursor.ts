/**
 * Paging cursors: an opaque, URL-safe token for "continue after this event". It holds
 * the last event's `timestamp` and `id` and the sort order it was made for, plus a
 * checksum so that a damaged or edited cursor is rejected rather than silently read
 * as another position.
 *
 * Format (not a contract; only `encodeCursor` output is accepted):
 * `base64url(JSON [1, order, timestamp, id]) "." base64url(first 8 bytes of SHA-256)`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { ErrorCodes, VigilError } from "../errors.js";
import { parseDateText } from "./time-range.js";

/** Where a page ended, and in which order the search ran. */
export interface CursorPosition {
  /** The last returned event's `timestamp` (ISO 8601). */
  readonly timestamp: string;
  /** The last returned event's `id`. */
  readonly id: string;
  /** The search order the cursor belongs to. */
  readonly order: "asc" | "desc";
}

const VERSION = 1;
/** Longer cursors are rejected before decoding. */
const MAX_CURSOR_LENGTH = 2048;
/** Longest accepted event id. */
const MAX_ID_LENGTH = 512;

function cursorError(reason: string): VigilError {
  return new VigilError(
    ErrorCodes.QUERY_OPTIONS,
    `invalid cursor: ${reason}; pass back the cursor of a previous page unchanged`,
  );
}

function checksum(payload: string): string {
  return createHash("sha256").update(payload).digest().subarray(0, 8).toString("base64url");
}

function isBase64Url(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2d ||
      c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

function checkPosition(timestamp: unknown, id: unknown, order: unknown): string | undefined {
  if (order !== "asc" && order !== "desc") return "order must be 'asc' or 'desc'";
  if (typeof timestamp !== "string" || parseDateText(timestamp) === undefined) {
    return "timestamp must be an ISO 8601 date";
  }
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH) {
    return `id must be a non-empty string of at most ${MAX_ID_LENGTH} characters`;
  }
  return undefined;
}

/**
 * Encodes a position as an opaque cursor string (base64url characters and one `.`).
 *
 * @throws VigilError `VIGIL_ERR_INVALID_ARGUMENT` when the position is malformed.
 * @example
 * const cursor = encodeCursor({ timestamp: last.timestamp, id: last.id, order: "desc" });
 */
export function encodeCursor(position: CursorPosition): string {
  const problem = checkPosition(position.timestamp, position.id, position.order);
  if (problem !== undefined) {
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, `cannot encode cursor: ${problem}`);
  }
  const payload = JSON.stringify([VERSION, position.order, position.timestamp, position.id]);
  return `${Buffer.from(payload, "utf8").toString("base64url")}.${checksum(payload)}`;
}

/**
 * Decodes and checks a cursor made by {@link encodeCursor}.
 *
 * @param expectedOrder - when given, the cursor must have been made for this order.
 * @throws VigilError `VIGIL_ERR_QUERY_OPTIONS` for anything that is not an intact
 *   cursor (garbage, truncated, edited, wrong order).
 * @example
 * const { timestamp, id } = decodeCursor(options.cursor, "desc");
 */
export function decodeCursor(cursor: unknown, expectedOrder?: "asc" | "desc"): CursorPosition {
  if (typeof cursor !== "string") throw cursorError(`expected a string, found ${typeof cursor}`);
  if (cursor.length > MAX_CURSOR_LENGTH) throw cursorError("too long");
  const dot = cursor.indexOf(".");
  const body = dot === -1 ? "" : cursor.slice(0, dot);
  const check = dot === -1 ? "" : cursor.slice(dot + 1);
  if (!isBase64Url(body) || !isBase64Url(check)) throw cursorError("not a vigil cursor");
  const payload = Buffer.from(body, "base64url").toString("utf8");
  if (checksum(payload) !== check) throw cursorError("checksum mismatch (damaged or edited)");
  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    throw cursorError("not a vigil cursor");
  }
  if (!Array.isArray(data) || data.length !== 4 || data[0] !== VERSION) {
    throw cursorError("unsupported cursor version");
  }
  const [, order, timestamp, id] = data as [number, unknown, unknown, unknown];
  const problem = checkPosition(timestamp, id, order);
  if (problem !== undefined) throw cursorError(problem);
  const position: CursorPosition = {
    timestamp: timestamp as string,
    id: id as string,
    order: order as "asc" | "desc",
  };
  if (expectedOrder !== undefined && position.order !== expectedOrder) {
    throw new VigilError(
      ErrorCodes.QUERY_OPTIONS,
      `invalid cursor: it was made for order '${position.order}' but this search uses order '${expectedOrder}'`,
    );
  }
  return position;
}
