/**
 * The disk misbehaving, short form (the long form is `npm run chaos disk`): a full disk
 * (tmpfs) filled and freed under both `on_full` modes, write permission removed (the writer
 * obeys file modes), the log directory deleted, too many open files, and an external
 * logrotate in both modes. The application never sees a throw, every event is stored or
 * counted as dropped, each kind of error is reported once, nothing torn lands on disk, and
 * writing resumes by itself.
 */
import { describe, expect, test } from "vitest";
import { type DiskFigures, diskScenario } from "./disk.js";

/** What holds in every scenario. */
function survived(f: DiskFigures): void {
  expect(f.threw).toBe(0);
  if (f.answered !== "—") expect(f.answered).toMatch(/^(\d+) \/ \1$/);
  expect(f.failed).toBe(0);
  expect(f.duplicates).toBe(0);
  expect(f.tornLines).toBe(0);
  expect(f.nulBytes).toBe(0);
  expect(f.droppedRecorded).toBe(f.dropped);
}

describe.each(["full-drop", "full-block"] as const)("a full disk (%s)", (scenario) => {
  test("keeps serving, reports ENOSPC once, holds then drops (recorded), resumes when space returns, tears nothing", async () => {
    const f = await diskScenario(scenario, 6000);
    survived(f);
    expect(f.unaccounted).toBe(0);
    expect(f.dropped).toBeGreaterThan(0); // the outage outlasted the queue
    expect(f.stored).toBe(f.offered - f.dropped);
    expect(f.errorKinds).toContain("file/ENOSPC");
    // once per kind: the file store's ENOSPC (and at most the checkpoint's)
    expect(f.errorsReported).toBe(f.errorKinds.length);
    expect(f.errorKinds.every((k) => k === "file/ENOSPC" || k === "checkpoint/ENOSPC")).toBe(true);
    expect(f.errorsSuppressed).toBeGreaterThan(0);
    expect(f.recoveryReported).toBe(true);
    expect(f.verify).toBe("intact");
  }, 60_000);
});

test("write permission removed from a writer that obeys file modes: EACCES once, held, nothing lost once restored", async () => {
  const f = await diskScenario("permission", 3000);
  survived(f);
  expect(f.stored).toBe(f.offered);
  expect(f.errorKinds).toContain("file/EACCES");
  expect(f.errorsReported).toBe(f.errorKinds.length);
  expect(f.recoveryReported).toBe(true);
  expect(f.verify).toBe("intact");
}, 60_000);

test("the log directory deleted: created again, said, and every later event stored", async () => {
  const f = await diskScenario("dir-deleted", 3000);
  survived(f);
  expect(f.destroyed).toBeGreaterThan(0);
  expect(f.unaccounted).toBe(0);
  expect(f.warnings.join("\n")).toMatch(/was deleted; created it again/);
  // the deleted files held the chain's start: verify says so, never "intact"
  expect(f.verify).toMatch(/^tampered/);
}, 60_000);

test("too many open files: EMFILE once, held, nothing lost once descriptors are free", async () => {
  const f = await diskScenario("emfile", 3000);
  survived(f);
  expect(f.stored).toBe(f.offered);
  expect(f.errorKinds).toContain("file/EMFILE");
  expect(f.errorsReported).toBe(f.errorKinds.length);
  expect(f.recoveryReported).toBe(true);
  expect(f.verify).toBe("intact");
}, 60_000);

test("logrotate create: the writer follows the new file, nothing lost, the chain verifies", async () => {
  const f = await diskScenario("logrotate-create", 3000);
  survived(f);
  expect(f.stored).toBe(f.offered);
  expect(f.errorsReported).toBe(0);
  expect(f.verify).toBe("intact");
}, 60_000);

test("logrotate copytruncate: no NUL hole, no torn line; only its own copy-to-truncate window is lost, and verify says so", async () => {
  const f = await diskScenario("logrotate-copytruncate", 3000);
  survived(f);
  expect(f.unaccounted).toBeGreaterThanOrEqual(0);
  expect(f.errorsReported).toBe(0);
  if (f.unaccounted > 0) expect(f.verify).toMatch(/^tampered/);
  else expect(f.verify).toBe("intact");
}, 60_000);
