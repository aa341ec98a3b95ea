/**
 * The crash matrix, short form (the long form is `npm run chaos crash`): on files, SQLite
 * and PostgreSQL, a writer killed with SIGKILL at random moments loses nothing it was told
 * was durable, loses at most its bound otherwise, leaves no torn line unreported and no
 * duplicate, and verify never calls a crash tampering nor tampering a crash.
 */
import { describe, expect, test } from "vitest";
import { CRASH_MODES, crashCell } from "./crash.js";
import { STORE_KINDS } from "./stores.js";

describe.each(STORE_KINDS)("kill -9 on a %s store", (store) => {
  test.each(CRASH_MODES)(
    "%s mode",
    async (mode) => {
      const cell = await crashCell({ store, mode, signed: true, kills: 2, maxRunMs: 700 });
      expect(cell.logged).toBeGreaterThan(0);
      if (mode !== "async" && (mode === "durable" || store !== "postgresql"))
        expect(cell.acknowledged).toBeGreaterThan(0);
      expect(cell.lostAcknowledged).toBe(0);
      expect(cell.worstLossPerKill).toBeLessThanOrEqual(cell.lossBound);
      expect(cell.holes).toBe(0);
      expect(cell.duplicates).toBe(0);
      expect(cell.tornUnreported).toBe(0);
      expect(cell.verifyAfterCrashes).not.toBe("tampered");
      expect(cell.verifyAfterTamper).toBe("tampered");
    },
    60_000,
  );
});

test("an unsigned file store survives the same crashes", async () => {
  const cell = await crashCell({ store: "file", mode: "async", signed: false, kills: 2, maxRunMs: 700 });
  expect(cell.logged).toBeGreaterThan(0);
  expect(cell.holes + cell.duplicates + cell.tornUnreported).toBe(0);
  expect(cell.worstLossPerKill).toBeLessThanOrEqual(cell.lossBound);
}, 60_000);
