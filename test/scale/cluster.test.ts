/**
 * Issue 14, "done when": four producers → NATS → two `vigil ingest` workers → PostgreSQL; one
 * worker SIGKILLed and NATS restarted mid-run; every event exactly once, every chain verifies.
 */
import { describe, expect, it } from "vitest";
import { runCluster } from "./cluster.js";

describe("scale-out: producers → NATS → vigil ingest → PostgreSQL", () => {
  it("stores every event exactly once through a killed worker and a NATS restart, and verifies", async () => {
    const lines: string[] = [];
    const r = await runCluster({
      producers: 4,
      workers: 2,
      events: 1500,
      spreadMs: 10_000,
      log: (l) => lines.push(l),
    });
    const context = `${lines.join("\n")}\n${r.verifyOutput}`;
    expect(r.killedWorkerSignal, context).toBe("SIGKILL");
    expect(r.producersRunningAtRestart, context).toBeGreaterThan(0);
    expect(r.producerExits, context).toEqual([0, 0, 0, 0]);
    expect(r.logged, context).toBe(6000);
    expect(
      { rows: r.rows, distinct: r.distinct, missing: r.missing, unexpected: r.unexpected },
      context,
    ).toEqual({
      rows: 6000,
      distinct: 6000,
      missing: 0,
      unexpected: 0,
    });
    expect(r.workerExits, context).toEqual([0, 0]);
    expect(r.verifyCode, context).toBe(0);
    expect(r.verifyOutput, context).toMatch(
      /^OK: 6,000 events in 4 chains across 1 table, \d+ checkpoints verified/m,
    );
  }, 300_000);
});
