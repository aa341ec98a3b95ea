/**
 * Long work stops with its client (issue 11): a verification whose client goes away stops
 * at the next file instead of reading the whole store; and a live tail over a file store
 * follows the files by offset — across all its polls it reads each stored byte once,
 * instead of re-reading today's files every second.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VerifyProgress } from "../../src/integrity/verify.js";
import type { StoreFollower } from "../../src/storage/backend.js";
import { eventually, readEvents, startViewer, testStore } from "./harness.js";

const operator = () => ({ actor: { username: "op" } });
const DAY = 86_400_000;

function storeBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) if (name.endsWith(".log")) n += statSync(join(dir, name)).size;
  return n;
}

describe("viewer: work stops with its client", () => {
  let store: ReturnType<typeof testStore>;
  let viewer: Awaited<ReturnType<typeof startViewer>>;
  beforeAll(async () => {
    store = testStore("files", {
      security: {
        signing: {
          enabled: true,
          algorithm: "hmac-sha256",
          secret_key: "viewer-cancel-signing-secret-0123456789",
        },
      },
    });
    // 60 days: 60 files for verify to go through one by one
    const start = Date.now() - 60 * DAY;
    for (let d = 0; d < 60; d++)
      for (let i = 0; i < 20; i++)
        store.engine.log({
          action: "QUERY",
          category: "DATABASE",
          timestamp: new Date(start + d * DAY + i * 1000),
          metadata: { i },
        });
    await store.engine.flush();
    viewer = await startViewer({ engine: store.engine, authorize: operator });
  });
  afterAll(async () => {
    await viewer?.close();
    await store?.cleanup();
  });

  it("verify stops reading the store when the client disconnects", async () => {
    const engine = store.engine;
    const original = engine.verify.bind(engine);
    let files = 0;
    let total = 0;
    let outcome: Promise<unknown> | undefined;
    const client = new AbortController();
    engine.verify = (options = {}) => {
      outcome = original({
        ...options,
        onProgress: (p: VerifyProgress) => {
          files = p.done;
          total = p.total;
          if (p.done === 1) client.abort(); // the client leaves once the first file is checked
          options.onProgress?.(p);
        },
      });
      outcome.catch(() => undefined); // judged below
      return outcome as ReturnType<typeof original>;
    };
    try {
      await readEvents(`${viewer.url}/api/verify`, {}, () => false, client.signal).catch(() => undefined);
      const stopped = await eventually(
        () => (outcome ? { outcome } : undefined),
        "the verification to start",
      );
      await expect(stopped.outcome).rejects.toThrow(/client went away/);
      expect(total).toBeGreaterThanOrEqual(60);
      expect(files).toBeLessThan(total); // the files after the disconnect were never checked
    } finally {
      engine.verify = original;
    }
  }, 60_000);

  it("a live tail over files reads each stored byte once, whatever the number of polls", async () => {
    const engine = store.engine;
    const original = engine._follow.bind(engine);
    let follower: StoreFollower | undefined;
    engine._follow = (options) => {
      follower = original(options);
      return follower;
    };
    const logs = join(store.dir, "logs");
    // a large file for today: re-reading it on every poll would show in the byte count
    for (let i = 0; i < 3000; i++)
      engine.log({ action: "BEFORE", category: "API", metadata: { pad: "x".repeat(200), i } });
    await engine.flush();
    const client = new AbortController();
    try {
      const seen: string[] = [];
      const reading = readEvents(
        `${viewer.url}/api/tail?q=type:AFTER`,
        {},
        (m) => {
          for (const x of m.splice(0))
            if (x.event === "events") seen.push(...(x.data as { id: string }[]).map((e) => e.id));
          return seen.length >= 30;
        },
        client.signal,
      );
      await eventually(() => follower, "the tail to start following");
      const first = await eventually(
        () => (follower!.bytesRead > 0 ? follower!.bytesRead : undefined),
        "a poll",
      );
      expect(first).toBeGreaterThan(3000 * 200);
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 10; i++) engine.log({ action: "AFTER", category: "API", metadata: { round, i } });
        await engine.flush();
        await eventually(
          () => (seen.length >= 10 * (round + 1) ? true : undefined),
          `round ${round}'s events`,
          1000,
        );
      }
      await reading;
      expect(seen.length).toBe(30);
      // every poll read only what was appended: in all, no more than the store holds
      expect(follower!.bytesRead).toBeLessThanOrEqual(storeBytes(logs));
      expect(follower!.bytesRead).toBeGreaterThan(first);
    } finally {
      client.abort();
      engine._follow = original;
    }
  }, 60_000);
});
