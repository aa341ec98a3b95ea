import { describe, expect, it } from "vitest";
import { BatchBuffer, backoffDelay, Outage, RetrySchedule, SerialQueue } from "./retry.js";

describe("backoffDelay", () => {
  it("doubles from the first delay up to the ceiling, each cut by at most a quarter", () => {
    const o = { initialMs: 100, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 40].map((a) => backoffDelay(a, o, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect([0, 1, 2, 3, 4].map((a) => backoffDelay(a, o, () => 0))).toEqual([75, 150, 300, 600, 750]);
  });
});

describe("BatchBuffer", () => {
  it("keeps whole batches in order up to its limit and refuses a batch that would overflow it", () => {
    const b = new BatchBuffer<number>(5);
    expect(b.offer([1, 2, 3])).toBe(true);
    expect(b.offer([4, 5, 6])).toBe(false);
    expect(b.offer([4, 5])).toBe(true);
    expect([b.items, b.batches]).toEqual([5, 2]);
    expect(b.shift()).toEqual([1, 2, 3]);
    expect(b.peek()).toEqual([4, 5]);
    expect(b.clear()).toBe(2);
    expect(b.empty).toBe(true);
  });

  it("holds copies, not the caller's arrays", () => {
    const b = new BatchBuffer<number>(10);
    const batch = [1];
    b.offer(batch);
    batch.push(2);
    expect(b.all()).toEqual([[1]]);
  });
});

describe("RetrySchedule", () => {
  it("runs one attempt at a time, is waiting until it is due, and starts over after reset", async () => {
    const r = new RetrySchedule({ initialMs: 10, maxMs: 10 });
    const ran: string[] = [];
    r.schedule(() => ran.push("first"));
    r.schedule(() => ran.push("second"), 30); // replaces the first
    expect([r.scheduled, r.waiting]).toEqual([true, true]);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ran).toEqual(["second"]);
    expect([r.scheduled, r.waiting]).toEqual([false, false]);
    r.schedule(() => ran.push("third"));
    r.reset();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(ran).toEqual(["second"]);
  });
});

describe("Outage", () => {
  function outage(closed = false) {
    const said: string[] = [];
    const health: string[] = [];
    let attempts = 0;
    const o = new Outage(
      { initialMs: 5, maxMs: 5 },
      {
        warn: (text) => said.push(text),
        healthy: () => health.push("healthy"),
        unhealthy: (error) => health.push(error.message),
        attempt: () => attempts++,
        closed: () => closed,
      },
      { down: (reason) => `down: ${reason}`, up: "up again", unhealthy: (reason) => `sick: ${reason}` },
    );
    return { o, said, health, attempts: () => attempts };
  }

  it("says an outage once when it starts and once when it ends, whatever fails in between", async () => {
    const { o, said, health, attempts } = outage();
    expect(o.failed("refused")).toBeGreaterThan(0);
    expect(o.failed("timeout")).toBeUndefined(); // an attempt is already scheduled
    expect([o.active, said]).toEqual([true, ["down: refused"]]);
    expect(health).toEqual(["sick: refused", "sick: timeout"]);
    await new Promise((r) => setTimeout(r, 30));
    expect(attempts()).toBe(1);
    o.recovered();
    o.recovered();
    expect([o.active, said]).toEqual([false, ["down: refused", "up again"]]);
    expect(health.at(-1)).toBe("healthy");
  });

  it("waits as long as the server asked, replacing the back-off's attempt", async () => {
    const { o, attempts } = outage();
    o.failed("503");
    expect(o.failed("429", 40)).toBe(40);
    expect(o.waiting).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(attempts()).toBe(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(attempts()).toBe(1);
  });

  it("schedules nothing once stopped or while its backend closes", async () => {
    const stopped = outage();
    stopped.o.failed("refused");
    stopped.o.stop();
    const closing = outage(true);
    expect(closing.o.failed("refused")).toBeUndefined();
    await new Promise((r) => setTimeout(r, 30));
    expect([stopped.attempts(), closing.attempts()]).toEqual([0, 0]);
    expect(closing.said).toEqual(["down: refused"]);
  });
});

describe("SerialQueue", () => {
  it("runs jobs one after another, a failed job not stopping the next", async () => {
    const q = new SerialQueue();
    const order: number[] = [];
    const slow = q.run(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push(1);
      throw new Error("one");
    });
    const fast = q.run(async () => {
      order.push(2);
      return 2;
    });
    await expect(slow).rejects.toThrow("one");
    await expect(fast).resolves.toBe(2);
    expect(order).toEqual([1, 2]);
  });
});
