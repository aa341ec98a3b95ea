import { describe, expect, it } from "vitest";
import { uuidv7, uuidv7Time } from "./uuid.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("uuidv7", () => {
  it("has the RFC 9562 version and variant bits and embeds the time", () => {
    const ms = Date.parse("2026-11-26T12:00:00.123Z");
    const id = uuidv7(ms);
    expect(id).toMatch(UUID_V7);
    expect(uuidv7Time(id)).toBe(ms);
  });

  it("is unique and strictly increasing within one millisecond and when the clock goes back", () => {
    const ms = Date.parse("2030-01-01T00:00:00.000Z");
    const ids = [uuidv7(ms)];
    for (let i = 0; i < 20_000; i++) ids.push(uuidv7(ms)); // more than the 12-bit counter holds
    ids.push(uuidv7(ms - 5000));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 50)) expect(id).toMatch(UUID_V7);
  });
});
