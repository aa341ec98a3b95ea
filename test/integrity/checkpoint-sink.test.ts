/**
 * The checkpoint file sink: checkpoints are on disk when `append` returns and fsync'd on the
 * thread pool (never on the writer's event loop); retention records are fsync'd before
 * `appendAll` returns; `close` syncs everything and closes each file once its background
 * sync is done.
 */
import * as fs from "node:fs";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test, vi } from "vitest";
import { GENESIS } from "../../src/integrity/chain.js";
import { FileCheckpointSink, signRecord } from "../../src/integrity/records.js";
import { createSigner } from "../../src/integrity/signing.js";
import { tempDir } from "../helpers.js";
import { HMAC_SECRET } from "./store.js";

// count the sink's synchronous and background fsyncs (both still do their work)
vi.mock("node:fs", async (original) => {
  const real = await original<typeof import("node:fs")>();
  return { ...real, fsync: vi.fn(real.fsync), fsyncSync: vi.fn(real.fsyncSync) };
});

const tmp = tempDir("vigil-sink-");
afterAll(() => tmp.cleanup());

const signer = createSigner({ algorithm: "hmac-sha256", secret_key: HMAC_SECRET });
const checkpoint = (seq: number) =>
  signRecord(
    { v: 1, type: "checkpoint", chain: "c1", seq, hash: GENESIS, time: "2026-11-26T00:00:00.000Z" },
    signer,
  );

/** Whether this process holds `path` open (its descriptors, as Linux lists them). */
function isOpen(path: string): boolean {
  return readdirSync("/proc/self/fd").some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // the descriptor of the listing itself is gone
    }
  });
}

describe("the checkpoint file sink", () => {
  test("writes each checkpoint at once, syncs it in the background, and closes after the last sync", async () => {
    const dir = join(tmp.dir, "checkpoints");
    const errors: unknown[] = [];
    const sink = new FileCheckpointSink(dir, [], (e) => errors.push(e));
    const path = join(dir, "c1.jsonl");
    vi.mocked(fs.fsyncSync).mockClear();
    for (let seq = 1; seq <= 200; seq++) {
      sink.append(checkpoint(seq));
      expect(readFileSync(path, "utf8").split("\n")).toHaveLength(seq + 1);
    }
    expect(vi.mocked(fs.fsyncSync)).not.toHaveBeenCalled();
    expect(vi.mocked(fs.fsync).mock.calls.length).toBeGreaterThan(0);
    expect(isOpen(path)).toBe(true);

    sink.close();
    expect(vi.mocked(fs.fsyncSync)).toHaveBeenCalledTimes(1); // everything written is durable now
    const seqs = readFileSync(path, "utf8")
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (let i = 0; i < 200 && isOpen(path); i++) await new Promise((r) => setTimeout(r, 10));
    expect(isOpen(path)).toBe(false);
    expect(errors).toEqual([]);
  });

  test("syncs retention records, in every directory, before appendAll returns", () => {
    const dirs = [join(tmp.dir, "store"), join(tmp.dir, "witness")];
    const sink = new FileCheckpointSink(dirs[0]!, [dirs[1]!]);
    vi.mocked(fs.fsyncSync).mockClear();
    const retention = signRecord(
      {
        v: 1,
        type: "retention",
        chain: "c1",
        from: 1,
        to: 10,
        last_hash: GENESIS,
        files: ["a.log"],
        cutoff: "2026-11-01T00:00:00.000Z",
        time: "2026-11-26T00:00:00.000Z",
      },
      signer,
    );
    sink.appendAll([retention]);
    expect(vi.mocked(fs.fsyncSync)).toHaveBeenCalledTimes(2);
    for (const dir of dirs) expect(readFileSync(join(dir, "retention.jsonl"), "utf8")).toContain('"to":10');
    sink.close();
  });
});
