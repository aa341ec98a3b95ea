/**
 * Many processes, one store, short form (the long form is `npm run chaos many`): four
 * writers as `node:cluster` workers and as unrelated processes, on a file store with small
 * size rotation and gzip and on one SQLite file, then four processes applying retention at
 * once: every accepted event stored once, no torn line, no unreadable file, each old event
 * deleted once, no lock left, no error, and every chain verifies.
 */
import { describe, expect, test } from "vitest";
import { MANY_LAUNCHES, manyCell } from "./many.js";

describe.each(["file", "sqlite"] as const)("four processes on one %s store", (store) => {
  test.each(MANY_LAUNCHES)(
    "as %s",
    async (launch) => {
      // 30 pauses of 100 ms: the writers run for over 3 s, longer than a rotated file must rest
      // (2 s) before it is gzipped, so gzip runs while they write, whatever the machine's speed
      const c = await manyCell({ launch, store, signed: true, events: 3000, pauseMs: 100 });
      expect(c.pids).toBe(4);
      expect(c.errors).toEqual([]);
      expect(c.warnings).toEqual([]);
      expect(c.unreadable).toEqual([]);
      expect(c.logged).toBe(4 * 3000);
      expect(c.torn).toBe(0);
      expect(c.missing).toBe(0);
      expect(c.duplicates).toBe(0);
      expect(c.retentionDeleted).toBe(c.old);
      expect(c.oldLeft).toBe(0);
      expect(c.leftovers).toEqual([]);
      expect(c.verifyProblems).toEqual([]);
      expect(c.verify).toBe("intact");
      expect(c.chains).toBe(8); // four writers, four retention runs (each records RETENTION_APPLIED)
      if (store === "file") {
        expect(c.rotated).toBeGreaterThan(20);
        expect(c.gzipped).toBeGreaterThan(0);
      }
    },
    120_000,
  );
});
