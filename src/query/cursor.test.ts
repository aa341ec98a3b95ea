import { describe, expect, it } from "vitest";
import { ErrorCodes, VigilError } from "../errors.js";
import { type CursorPosition, decodeCursor, encodeCursor } from "./cursor.js";

const position: CursorPosition = {
  timestamp: "2026-11-26T12:00:00.123Z",
  id: "0192f0c4-0000-7000-8000-000000000001",
  order: "desc",
};

function cursorError(fn: () => unknown): VigilError {
  try {
    fn();
  } catch (error) {
    if (error instanceof VigilError && error.code === ErrorCodes.QUERY_OPTIONS) return error;
    throw error;
  }
  throw new Error("expected a VIGIL_ERR_QUERY_OPTIONS error");
}

describe("cursor", () => {
  it("round-trips a position through an opaque URL-safe string", () => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(position.id);
    expect(decodeCursor(cursor)).toEqual(position);
    expect(decodeCursor(cursor, "desc")).toEqual(position);
  });

  it("keeps ids with any characters", () => {
    const odd = { ...position, id: 'a"b\\c/é😀', order: "asc" as const };
    expect(decodeCursor(encodeCursor(odd))).toEqual(odd);
  });

  it("rejects a cursor made for the other order", () => {
    expect(cursorError(() => decodeCursor(encodeCursor(position), "asc")).message).toBe(
      "invalid cursor: it was made for order 'desc' but this search uses order 'asc'",
    );
  });

  it("rejects any single-character change", () => {
    const cursor = encodeCursor(position);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let i = 0; i < cursor.length; i++) {
      if (cursor[i] === ".") continue;
      const replacement = alphabet[(alphabet.indexOf(cursor[i] as string) + 1) % alphabet.length];
      const tampered = cursor.slice(0, i) + replacement + cursor.slice(i + 1);
      // The last character may carry unused bits, so a change there can decode to the same bytes.
      let decoded: CursorPosition | undefined;
      try {
        decoded = decodeCursor(tampered);
      } catch (error) {
        expect(error).toBeInstanceOf(VigilError);
        expect((error as VigilError).code).toBe(ErrorCodes.QUERY_OPTIONS);
      }
      if (decoded !== undefined) expect(decoded).toEqual(position);
    }
  });

  it.each([
    ["", "invalid cursor: not a vigil cursor; pass back the cursor of a previous page unchanged"],
    ["garbage", "invalid cursor: not a vigil cursor; pass back the cursor of a previous page unchanged"],
    ["a.b.c", "invalid cursor: not a vigil cursor; pass back the cursor of a previous page unchanged"],
    [
      "abc.def",
      "invalid cursor: checksum mismatch (damaged or edited); pass back the cursor of a previous page unchanged",
    ],
    ["x".repeat(5000), "invalid cursor: too long; pass back the cursor of a previous page unchanged"],
  ])("rejects %j", (cursor, message) => {
    expect(cursorError(() => decodeCursor(cursor)).message).toBe(message);
  });

  it("rejects non-strings", () => {
    expect(cursorError(() => decodeCursor(42)).message).toMatch(
      /^invalid cursor: expected a string, found number/,
    );
  });

  it("refuses to encode a malformed position", () => {
    expect(() => encodeCursor({ ...position, timestamp: "yesterday" })).toThrow(
      "cannot encode cursor: timestamp must be an ISO 8601 date",
    );
    expect(() => encodeCursor({ ...position, id: "" })).toThrow(
      /cannot encode cursor: id must be a non-empty string/,
    );
    expect(() => encodeCursor({ ...position, order: "up" as "asc" })).toThrow(
      "cannot encode cursor: order must be 'asc' or 'desc'",
    );
  });
});
