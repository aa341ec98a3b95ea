/**
 * A store that refuses every write for a while (a full disk): the engine holds the batches
 * in order, reports the error once per kind, counts the repeats, drops past queue_size per
 * on_full (recorded), writes everything held once the store takes writes again — in the
 * order logged — and says so once. A backend stands in for the disk here, refusing
 * synchronously with an errno as the file store does; test/chaos/disk.test.ts does the same
 * on a real full tmpfs.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { AuditEngine } from "./engine.js";
import type { VigilError } from "./errors.js";
import type { AuditEvent } from "./event/types.js";
import { BaseBackend, type StoredRecord } from "./storage/backend.js";

/** Stores in memory; while `refusing` is set, throws it synchronously from write(). */
class FlakyBackend extends BaseBackend {
  readonly type = "flaky";
  readonly stored: AuditEvent[] = [];
  refusing: NodeJS.ErrnoException | undefined;
  attempts = 0;
  override write(batch: readonly StoredRecord[]): Promise<void> {
    this.attempts++;
    if (this.refusing) throw this.refusing;
    for (const r of batch) this.stored.push(r.event);
    return Promise.resolve();
  }
  async *query(): AsyncIterable<AuditEvent> {}
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: refused`), { code });
}

const engines: AuditEngine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
});

function setup(onFull: "drop" | "block", queueSize = 50) {
  const backend = new FlakyBackend("flaky");
  const engine = new AuditEngine({
    config: {
      storage: { backends: [{ type: "file", enabled: false }] },
      performance: {
        async: { enabled: true, queue_size: queueSize, on_full: onFull },
        batching: { batch_size: 10, batch_timeout_seconds: 0.01 },
      },
    },
    backends: [backend],
    env: {},
  });
  engines.push(engine);
  const errors: VigilError[] = [];
  const warnings: string[] = [];
  engine.on("error", (e) => errors.push(e));
  engine.on("warning", (w) => warnings.push(w));
  return { backend, engine, errors, warnings };
}

const numbers = (events: readonly AuditEvent[]) =>
  events.filter((e) => e.action.type === "N").map((e) => (e.metadata as { i: number }).i);

describe.each(["drop", "block"] as const)("on_full: %s, a store refusing writes", (onFull) => {
  it("holds in order, reports once per kind, drops past the queue (recorded), resumes and says so", async () => {
    const { backend, engine, errors, warnings } = setup(onFull);
    backend.refusing = errno("ENOSPC");
    let threw = 0;
    const returned: number[] = [];
    for (let i = 0; i < 200; i++) {
      try {
        if (engine.log({ action: "N", metadata: { i } }) !== undefined) returned.push(i);
      } catch {
        threw++;
      }
      if (i % 10 === 9) await sleep(1);
    }
    backend.refusing = errno("EMFILE"); // a second kind while still failing
    await sleep(120);
    expect(threw).toBe(0);
    expect(backend.stored).toEqual([]);
    expect(engine.metrics().queue_depth).toBeLessThanOrEqual(50 + 10);
    expect(engine.metrics().queue_depth).toBeGreaterThan(0);
    expect(errors.map((e) => (e.cause as { code?: string }).code)).toEqual(["ENOSPC", "EMFILE"]);
    expect(engine.metrics().errors_suppressed).toBeGreaterThan(0);
    const dropped = engine.metrics().dropped;
    expect(dropped).toBe(200 - returned.length);
    expect(dropped).toBeGreaterThan(0);

    backend.refusing = undefined;
    for (let t = 0; t < 100 && engine.metrics().queue_depth > 0; t++) await sleep(20);
    await engine.flush();
    // everything log() returned is stored, once, in the order logged; the drops are recorded
    expect(numbers(backend.stored)).toEqual(returned);
    const record = backend.stored.filter((e) => e.action.type === "EVENTS_DROPPED");
    expect(record.reduce((n, e) => n + ((e.result as { count: number }).count ?? 0), 0)).toBe(dropped);
    expect(engine.metrics().failed).toBe(0);
    expect(warnings.filter((w) => /writing again/.test(w))).toHaveLength(1);
    // reports are re-armed: the next failure is reported afresh
    backend.refusing = errno("ENOSPC");
    for (let i = 0; i < 20; i++) engine.log({ action: "LATER" });
    await sleep(30);
    expect(errors).toHaveLength(3);
    backend.refusing = undefined;
  });
});

it("logDurable is answered at once while the store refuses; its event is still written when it recovers", async () => {
  const { backend, engine } = setup("drop");
  backend.refusing = errno("ENOSPC");
  await expect(engine.logDurable({ action: "N", metadata: { i: 1 } })).rejects.toMatchObject({
    code: "VIGIL_ERR_NOT_DURABLE",
  });
  backend.refusing = undefined;
  for (let t = 0; t < 100 && engine.metrics().queue_depth > 0; t++) await sleep(20);
  expect(numbers(backend.stored)).toEqual([1]);
});

it("close() counts and reports what a store that never came back still held", async () => {
  const { backend, engine, errors } = setup("drop");
  backend.refusing = errno("EACCES");
  for (let i = 0; i < 25; i++) engine.log({ action: "N", metadata: { i } });
  await engine.flush();
  await engine.close();
  expect(engine.metrics().failed).toBe(25);
  expect(errors.map((e) => e.message).join("\n")).toMatch(/close\(\): 25 events held .* were not stored/);
});

it("an error a retry cannot fix is not held: the batch fails as before", async () => {
  const { backend, engine, errors } = setup("drop");
  backend.refusing = errno("ENOTDIR");
  for (let i = 0; i < 10; i++) engine.log({ action: "N", metadata: { i } });
  await engine.flush();
  expect(engine.metrics().failed).toBe(10);
  expect(engine.metrics().queue_depth).toBe(0);
  expect(errors).toHaveLength(1);
});
