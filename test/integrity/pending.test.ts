/**
 * Pending tails (issue 12): when the events after a chain's last checkpoint are the pending
 * tail of a running writer, and when they stay `unverifiable` — judged by the chain id's
 * writer, the time of the last checkpoint and the time of the oldest pending event, on a
 * controlled clock. The running-writer cases with real processes are in
 * `test/cli/verify-live.test.ts`.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { AuditEvent } from "../../src/event/types.js";
import { createChainId, GENESIS, sealEvent } from "../../src/integrity/chain.js";
import {
  localWriterState,
  parseChainId,
  pendingPolicy,
  type WriterState,
} from "../../src/integrity/pending.js";
import { type CheckpointRecord, signRecord } from "../../src/integrity/records.js";
import { createSigner, createVerifier } from "../../src/integrity/signing.js";
import { ChainVerifier, type VerifyResult, verifyStore } from "../../src/integrity/verify.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";
import { tempDir } from "../helpers.js";
import { buildStore } from "./store.js";

const WRITER = resolve(fileURLToPath(new URL("../fixtures/live-writer.ts", import.meta.url)));
const KEYS = { algorithm: "hmac-sha256", secret_key: "a-test-secret-of-enough-length-0123" } as const;
const signer = createSigner(KEYS);
const T0 = Date.parse("2026-12-01T10:00:00.000Z");
const CHAIN = `web-2:4711:${T0}:9f3a01bc`;

/** A UUIDv7 holding exactly `ms` (`idAt()` stays monotonic, so it cannot go back in time). */
const idAt = (ms: number): string => {
  const h = ms.toString(16).padStart(12, "0");
  return `${h.slice(0, 8)}-${h.slice(8)}-7000-8000-000000000000`;
};

/** `count` events of CHAIN, the i-th built at `times(i)`, and a checkpoint signed at `cpTime` after `sealed` of them. */
function judge(options: {
  readonly count: number;
  readonly sealed: number;
  readonly cpTime?: number;
  readonly times: (i: number) => number;
  readonly now: number;
  readonly writer?: WriterState;
  readonly chain?: string;
  /** Positions not stored (read). */
  readonly missing?: readonly number[];
}): VerifyResult {
  const chain = options.chain ?? CHAIN;
  const v = new ChainVerifier({
    verifier: createVerifier(KEYS),
    pending: pendingPolicy({
      intervalSeconds: 60,
      now: () => options.now,
      writerState: () => options.writer ?? "remote",
    }),
  });
  let prev = GENESIS;
  const lines: string[] = [];
  let checkpoint: CheckpointRecord | undefined;
  for (let i = 1; i <= options.count; i++) {
    const event = {
      action: { category: "AUTHENTICATION", type: "LOGIN" },
      id: idAt(options.times(i)),
      schema_version: 1,
      timestamp: "2020-01-01T00:00:00.000Z", // the user's own time: not what verify goes by
    } as unknown as AuditEvent;
    const sealed = sealEvent(event, chain, i, prev);
    prev = sealed.integrity.hash;
    lines.push(sealed.line);
    if (i === options.sealed && options.cpTime !== undefined)
      checkpoint = signRecord(
        { v: 1, type: "checkpoint", chain, seq: i, hash: prev, time: new Date(options.cpTime).toISOString() },
        signer,
      );
  }
  if (checkpoint) v.addRecords({ records: [{ record: checkpoint, file: "cp.jsonl", line: 1 }], bad: [] });
  const src = v.addSource("audit.log");
  for (const [i, line] of lines.entries()) {
    if (options.missing?.includes(i + 1)) continue;
    const buf = Buffer.from(line);
    v.addLineBytes(src, i + 1, buf, 0, buf.length);
  }
  return v.finish();
}

describe("a tail after the last checkpoint", () => {
  test("is pending while younger than the interval and grace, counted exactly", () => {
    const r = judge({
      count: 37,
      sealed: 30,
      cpTime: T0 + 30_000,
      times: (i) => T0 + i * 1000,
      now: T0 + 40_000,
    });
    expect(r).toMatchObject({ ok: true, status: "pending", problems: [], pendingEvents: 7 });
    expect(r.pending).toEqual([
      {
        chain: CHAIN,
        seq: 31,
        toSeq: 37,
        count: 7,
        unread: 0,
        host: "web-2",
        pid: 4711,
        writer: "remote",
        lastCheckpoint: "2026-12-01T10:00:30.000Z",
        sinceCheckpointMs: 10_000,
        waitingMs: 9_000,
        file: "audit.log",
        line: 31,
        message: `chain ${CHAIN}: 7 events pending (seq 31..37; writer on host web-2, judged by age, last checkpoint 10.0 s ago)`,
      },
    ]);
  });

  test("after an idle hour is pending by the time of its oldest event, not of the old checkpoint", () => {
    const late = T0 + 3_600_000;
    const r = judge({
      count: 12,
      sealed: 10,
      cpTime: T0 + 10_000,
      times: (i) => (i <= 10 ? T0 + i * 1000 : late + i),
      now: late + 5_000,
    });
    expect(r).toMatchObject({ status: "pending", pendingEvents: 2 });
    expect(r.pending[0]).toMatchObject({ seq: 11, waitingMs: 5_000 - 11, sinceCheckpointMs: 3_595_000 });
  });

  test("is unverifiable once it has waited longer than the interval and grace", () => {
    const r = judge({
      count: 12,
      sealed: 10,
      cpTime: T0 + 10_000,
      times: (i) => T0 + i * 1000,
      now: T0 + 86_500,
    });
    expect(r).toMatchObject({ ok: false, status: "unverifiable", pending: [], pendingEvents: 0 });
    expect(r.problems).toEqual([
      expect.objectContaining({ kind: "unverifiable", chain: CHAIN, seq: 11, toSeq: 12, count: 2, line: 11 }),
    ]);
    expect(r.problems[0]!.message).toBe(
      "audit.log:11: 2 events (seq 11..12) after the last signed checkpoint cannot be verified (they have waited 75.5 s for a checkpoint, more than the checkpoint interval (60.0 s) and grace (15.0 s): the writer (pid 4711 on host web-2) stopped, or does not seal its events)",
    );
  });

  test("of a chain without a checkpoint is judged from the chain's start", () => {
    const young = judge({ count: 3, sealed: 0, times: (i) => T0 + i, now: T0 + 70_000 });
    expect(young.pending[0]!.message).toBe(
      `chain ${CHAIN}: 3 events pending (seq 1..3; writer on host web-2, judged by age, no checkpoint yet, chain started 70.0 s ago)`,
    );
    const old = judge({ count: 3, sealed: 0, times: (i) => T0 + i, now: T0 + 80_000 });
    expect(old.problems[0]!.message).toMatch(
      /^audit\.log:1: chain .+ has no signed checkpoint: its 3 events cannot be verified \(they have waited 80\.0 s/,
    );
  });

  test("of a writer that is no longer running is unverifiable at once, however young", () => {
    const r = judge({ count: 5, sealed: 2, cpTime: T0, times: () => T0, now: T0 + 1_000, writer: "dead" });
    expect(r.status).toBe("unverifiable");
    expect(r.problems[0]!.message).toContain(
      "cannot be verified (its writer, pid 4711 on this host, is no longer running and did not seal them: it crashed or was killed, or the checkpoints covering them were deleted)",
    );
  });

  test("carrying times far ahead of the verifying clock is not pending", () => {
    const r = judge({ count: 5, sealed: 2, cpTime: T0 + 60_000, times: () => T0 + 60_000, now: T0 });
    expect(r.status).toBe("unverifiable");
    expect(r.problems[0]!.message).toContain("their times are 60.0 s ahead of this clock");
  });

  test("with positions not found (written to another file meanwhile) is pending, counting them", () => {
    const at = {
      count: 40,
      sealed: 30,
      cpTime: T0 + 30_000,
      times: (i: number) => T0 + i * 1000,
      now: T0 + 41_000,
    };
    const r = judge({ ...at, missing: [34, 35, 38] });
    expect(r).toMatchObject({ status: "pending", problems: [], pendingEvents: 7 });
    expect(r.pending[0]).toMatchObject({ seq: 31, toSeq: 40, count: 7, unread: 3 });
    expect(r.pending[0]!.message).toContain(
      "7 events pending (seq 31..40, 3 more not read (stored while verify read the store, or deleted: the next checkpoint tells); writer on host web-2",
    );
    // a position the last checkpoint covers is missing: deleted, live writer or not
    const sealed = judge({ ...at, missing: [29, 35] });
    expect(sealed.status).toBe("tampered");
    expect(sealed.problems).toEqual([expect.objectContaining({ kind: "deleted", seq: 29, toSeq: 29 })]);
    expect(sealed.pending[0]).toMatchObject({ count: 9, unread: 1 });
    // the writer gone: the tail's holes are deletions again
    const dead = judge({ ...at, missing: [35], writer: "dead" });
    expect(dead.problems.map((p) => [p.kind, p.seq])).toEqual([
      ["deleted", 35],
      ["unverifiable", 31],
    ]);
  });

  test("of a chain id that names no writer is never pending", () => {
    const r = judge({ count: 5, sealed: 2, cpTime: T0, times: () => T0, now: T0, chain: "fixed-chain" });
    expect(r.status).toBe("unverifiable");
    expect(r.problems[0]!.message).toContain(
      "cannot be verified yet (the writer may still be running, or crashed)",
    );
  });

  test("with a changed line is tampering, pending or not", () => {
    const v = new ChainVerifier({
      verifier: createVerifier(KEYS),
      pending: pendingPolicy({ now: () => T0 }),
    });
    const event = { id: idAt(T0), schema_version: 1 } as unknown as AuditEvent;
    const { line } = sealEvent(event, CHAIN, 1, GENESIS);
    v.addLine(v.addSource("audit.log"), 1, line.replace('"schema_version":1', '"schema_version":2'));
    const r = v.finish();
    expect(r).toMatchObject({ ok: false, status: "tampered" });
    expect(r.problems).toEqual([expect.objectContaining({ kind: "modified", chain: CHAIN, seq: 1 })]);
  });
});

describe("the writer of a chain on this host", () => {
  test("is dead when its process was killed and waits to be reaped (a zombie), though kill(pid, 0) finds it", async () => {
    // `sh` starts a short `sleep` and becomes a long one, which never reaps it: once the short
    // one ends (after the exec), it stays a zombie
    const parent = spawn("sh", ["-c", "sleep 0.3 & echo $!; exec sleep 10"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    const exited = new Promise((r) => parent.on("close", r));
    try {
      const pid = Number(
        await new Promise<string>((r) => parent.stdout!.once("data", (d: Buffer) => r(d.toString()))),
      );
      const state = () => readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]![0];
      while (state() !== "Z") await new Promise((r) => setTimeout(r, 10));
      expect(() => process.kill(pid, 0)).not.toThrow();
      const chain = createChainId(hostname(), pid, Date.now() - 1000);
      expect(localWriterState(chain, parseChainId(chain)!)).toBe("dead");
      const live = createChainId(hostname(), parent.pid!, Date.now());
      expect(localWriterState(live, parseChainId(live)!)).toBe("alive");
      // the same pid, named by a chain that started long before it: another program reused it
      const reused = createChainId(hostname(), parent.pid!, Date.now() - 3_600_000);
      expect(localWriterState(reused, parseChainId(reused)!)).toBe("dead");
    } finally {
      parent.kill("SIGKILL");
      await exited;
    }
  });
});

describe("parseChainId", () => {
  test("reads host, pid and start time from the id a writer makes", () => {
    expect(parseChainId("web-1:4711:1764158400123:9f3a01bc")).toEqual({
      host: "web-1",
      pid: 4711,
      startMs: 1764158400123,
    });
    expect(parseChainId("fe80::1:12:1764158400123:0000ffff")).toEqual({
      host: "fe80::1",
      pid: 12,
      startMs: 1764158400123,
    });
  });

  test("names no writer for ids of another form", () => {
    for (const id of [
      "fixed-chain",
      "web-1:0:1:9f3a01bc",
      "web-1:12:x:9f3a01bc",
      ":12:1:9f3a01bc",
      "h:1:2:3",
    ])
      expect(parseChainId(id)).toBeUndefined();
  });
});

describe("an encrypted store still being written", () => {
  const temps: ReturnType<typeof tempDir>[] = [];
  afterEach(() => {
    for (const t of temps.splice(0)) t.cleanup();
  });

  test("has its pending tail found through decryption, and verifies intact once closed", async () => {
    const t = tempDir("vigil-pending-");
    temps.push(t);
    const store = await buildStore({
      dir: t.dir,
      events: 1200,
      keepOpen: true,
      encrypt: true,
      checkpointEvery: 500,
    });
    const live = await store.verify();
    expect(live).toMatchObject({ ok: true, status: "pending", pendingEvents: 200 });
    expect(live.pending).toEqual([expect.objectContaining({ seq: 1001, toSeq: 1200, writer: "alive" })]);
    await store.engine.close();
    expect(await store.verify()).toMatchObject({ status: "intact", pendingEvents: 0 });
  });
});

describe("a busy live store (a writer logging into two categories with fast size rotation)", () => {
  test("verifies as pending, with no problem, however the reads interleave with its writes", async () => {
    const t = tempDir("vigil-busy-");
    const configFile = join(t.dir, "audit.yaml");
    writeFileSync(
      configFile,
      `vigil:
  core:
    application_name: busy
  storage:
    backends:
      - type: file
        directory: ${JSON.stringify(join(t.dir, "logs"))}
        rotation:
          enabled: true
          when: size
          max_bytes: 200000
  security:
    signing:
      enabled: true
      algorithm: hmac-sha256
      secret_key: ${JSON.stringify(KEYS.secret_key)}
      checkpoint_every: 1000
      checkpoint_interval_seconds: 5
`,
    );
    const writer = spawn(
      process.execPath,
      ["--import", import.meta.resolve("tsx"), WRITER, configFile, "10", "--busy"],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const exited = new Promise((r) => writer.on("close", r));
    try {
      await new Promise<void>((resolve, reject) => {
        writer.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
        writer.on("error", reject);
      });
      const config = loadConfig(configFile, { env: {} });
      const b = config.storage.backends[0]!;
      if (b.type !== "file" || !b.enabled) throw new Error("file backend expected");
      const backend = new FileBackend({ config: b, application: "busy" });
      let rotated = 0;
      let pendingSeen = 0;
      // verify again and again while the writer writes and rotates (at least 6 rotations)
      for (let round = 0; round < 4 || (rotated < 6 && round < 200); round++) {
        const r = await verifyStore({ backend, signing: config.security.signing });
        expect(r.problems).toEqual([]);
        expect(r.ok).toBe(true);
        // intact when it was read just after a checkpoint covered everything
        if (r.status !== "intact") {
          expect(r.status).toBe("pending");
          expect(r.pending).toEqual([expect.objectContaining({ writer: "alive", pid: writer.pid })]);
          pendingSeen++;
        }
        rotated = readdirSync(join(t.dir, "logs")).filter((n) => /\.log\.\d+$/.test(n)).length;
      }
      expect(rotated).toBeGreaterThanOrEqual(6); // the writer rotated files while they were read
      expect(pendingSeen).toBeGreaterThan(0);
    } finally {
      writer.kill("SIGKILL");
      await exited;
      t.cleanup();
    }
  }, 60_000);
});

describe("a store whose writer rotates files while verify reads them", () => {
  const temps: ReturnType<typeof tempDir>[] = [];
  afterEach(() => {
    for (const t of temps.splice(0)) t.cleanup();
  });

  /** A closed store of 3,000 events in rotated files, verified through a listing that changes the files as `change` says. */
  async function verifyWhile(change: (dir: string, call: number) => void): Promise<VerifyResult> {
    const t = tempDir("vigil-rotating-");
    temps.push(t);
    const store = await buildStore({ dir: t.dir, events: 3000, checkpointEvery: 500, maxBytes: 200_000 });
    let calls = 0;
    const backend = {
      directory: store.backend.directory,
      listFiles: async () => {
        const files = await store.backend.listFiles();
        change(t.dir, ++calls);
        return files;
      },
    };
    return verifyStore({ backend, signing: store.config.security.signing });
  }

  const activeFile = (dir: string) => readdirSync(dir).find((n) => n.endsWith(".log"))!;
  const nextIndex = (dir: string, name: string) =>
    1 + Math.max(0, ...readdirSync(dir).map((n) => Number(n.slice(name.length + 1).replace(".gz", "")) || 0));

  test("reads the active file renamed (rotated) after it was listed under its new name", async () => {
    const r = await verifyWhile((dir, call) => {
      if (call !== 1) return;
      const active = activeFile(dir);
      renameSync(join(dir, active), join(dir, `${active}.${nextIndex(dir, active)}`));
      writeFileSync(join(dir, active), ""); // the new active file
    });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ status: "intact", events: 3000 });
  });

  test("takes a last line read while it was being written, once it is complete; a line still cut stays truncated", async () => {
    let full = Buffer.alloc(0);
    let path = "";
    const cut = (dir: string, call: number, complete: boolean) => {
      if (call === 1) {
        path = join(dir, activeFile(dir));
        full = readFileSync(path);
        writeFileSync(path, full.subarray(0, full.length - 40)); // the writer is half-way through its last line
      } else if (call === 2 && complete) writeFileSync(path, full); // ... and has finished it
    };
    const finished = await verifyWhile((dir, call) => cut(dir, call, true));
    expect(finished.problems).toEqual([]);
    expect(finished).toMatchObject({ status: "intact", events: 3000 });
    const cutOff = await verifyWhile((dir, call) => cut(dir, call, false));
    expect(cutOff.status).toBe("tampered");
    expect(cutOff.problems).toContainEqual(
      expect.objectContaining({
        kind: "truncated",
        file: path,
        message: expect.stringContaining("cut mid-line"),
      }),
    );
  });

  test("reads a rotated file compressed after it was listed, and not twice when compressed after it was read", async () => {
    const gzipFirst = (dir: string) => {
      const name = readdirSync(dir).find((n) => /\.log\.1$/.test(n))!;
      writeFileSync(join(dir, `${name}.gz`), gzipSync(readFileSync(join(dir, name))));
      unlinkSync(join(dir, name));
    };
    const before = await verifyWhile((dir, call) => call === 1 && gzipFirst(dir));
    expect(before.problems).toEqual([]);
    expect(before).toMatchObject({ status: "intact", events: 3000 });
    const after = await verifyWhile((dir, call) => call === 2 && gzipFirst(dir));
    expect(after.problems).toEqual([]);
    expect(after).toMatchObject({ status: "intact", events: 3000 });
  });
});
