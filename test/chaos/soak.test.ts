/**
 * The soak, short form (the long form is `npm run chaos soak`, 15 minutes): 25 s at 2,000
 * events/s with size rotation, gzip, signing, backup_count, a reader and retention. Asserts
 * what does not depend on timing: every event stored once (or deleted under a signed
 * retention record), the store verifies, the queue stays within its bound, descriptors
 * come back to their count before the engine, and the heap after GC does not grow grossly.
 * The memory slope itself is a figure of the long form, not an assertion here.
 */
import { expect, test } from "vitest";
import { soak } from "./soak.js";

test("25 s at 2,000 events/s with rotation, gzip, signing, a reader and retention", async () => {
  const f = await soak({ seconds: 25, sampleSeconds: 2.5, maxBytes: 512 * 1024, backupCount: 15 });
  expect(f.errorSamples).toEqual([]);
  expect(f.failures).toEqual([]);
  expect(f.unreadable).toEqual([]);
  expect(f.logged).toBeGreaterThan(20_000);
  expect(f.dropped).toBe(0);
  expect(f.torn).toBe(0);
  expect(f.duplicates).toBe(0);
  expect(f.missing).toBe(0);
  expect(f.stored + f.retained).toBeGreaterThanOrEqual(f.logged);
  expect(f.retained).toBeGreaterThan(0); // backup_count did delete, under signed records
  expect(f.gzipped).toBeGreaterThan(0);
  expect(f.searches).toBeGreaterThan(0);
  expect(f.retentions).toBeGreaterThan(0);
  expect(f.verify).toBe("intact");
  expect(f.queueMax).toBeLessThanOrEqual(f.queueSize);
  expect(f.fdsLeft).toEqual([]);
  expect(f.fdsAfterClose).toBe(f.baselineFds);
  expect(f.fdsMax - f.fdsMin).toBeLessThan(20);
  expect(f.heapAtEnd - f.heapAfterWarmup).toBeLessThan(50);
}, 90_000);
