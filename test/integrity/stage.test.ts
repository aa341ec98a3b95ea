/** The integrity stage: chain fields, checkpoint cadence, sinks. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { ResolvedConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { VigilError } from "../../src/errors.js";
import type { AuditEvent } from "../../src/event/types.js";
import { GENESIS } from "../../src/integrity/chain.js";
import type { CheckpointSink, SignedRecord } from "../../src/integrity/records.js";
import { createIntegrityStage } from "../../src/integrity/stage.js";
import { BaseBackend, type StoredRecord } from "../../src/storage/backend.js";
import { tempDir } from "../helpers.js";
import { HMAC_SECRET } from "./store.js";

const tmp = tempDir("vigil-stage-");
afterAll(() => tmp.cleanup());

const configWith = (signing: Record<string, unknown>): ResolvedConfig =>
  loadConfig(
    {
      storage: { backends: [{ type: "file", directory: tmp.dir }] },
      security: { signing: { enabled: true, algorithm: "hmac-sha256", secret_key: HMAC_SECRET, ...signing } },
    },
    { env: {} },
  );

class MemorySink implements CheckpointSink {
  readonly records: SignedRecord[] = [];
  closed = false;
  append(r: SignedRecord): void {
    this.records.push(r);
  }
  close(): void {
    this.closed = true;
  }
}

describe("createIntegrityStage", () => {
  test("is absent when signing is off, so an unsigned pipeline pays nothing", () => {
    expect(createIntegrityStage(loadConfig({}, { env: {} }))).toBeUndefined();
  });

  test("refuses to write with only an Ed25519 public key", () => {
    const config = loadConfig(
      {
        security: {
          signing: {
            enabled: true,
            algorithm: "ed25519",
            public_key:
              "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
          },
        },
      },
      { env: {} },
    );
    expect(() => createIntegrityStage(config)).toThrow(/private_key is required/);
  });

  test("numbers events gaplessly from 1, links them, and signs every N events and at close", async () => {
    const sink = new MemorySink();
    const config = configWith({ checkpoint_every: 10 });
    const stage = createIntegrityStage(config, { checkpointSink: sink, application: { host: "h", pid: 7 } })!;
    expect(stage.chain).toMatch(/^h:7:\d+:[0-9a-f]{8}$/);
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: join(tmp.dir, "n") }] },
        performance: { async: { enabled: false } },
      },
      env: {},
      stages: [stage],
    });
    const events: AuditEvent[] = [];
    for (let i = 0; i < 25; i++) events.push(engine.log({ action: "X" })!);
    await engine.close();
    expect(events.map((e) => e.integrity!.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(events[0]!.integrity!.prev).toBe(GENESIS);
    for (let i = 1; i < 25; i++) expect(events[i]!.integrity!.prev).toBe(events[i - 1]!.integrity!.hash);
    expect(sink.records.map((r) => (r.type === "checkpoint" ? [r.seq, r.final ?? false] : []))).toEqual([
      [10, false],
      [20, false],
      [25, true],
    ]);
    expect(sink.closed).toBe(true);
    // the stored lines are the canonical sealed lines
    const dir = join(tmp.dir, "n");
    const stored = readdirSync(dir).filter((n) => n.endsWith(".log"));
    const first = readFileSync(join(dir, stored[0]!), "utf8").split("\n")[0]!;
    expect(JSON.parse(first)).toEqual(JSON.parse(JSON.stringify(events[0])));
  });

  test("signs on the interval when fewer than N events came", async () => {
    const sink = new MemorySink();
    const stage = createIntegrityStage(
      configWith({ checkpoint_every: 1000, checkpoint_interval_seconds: 0.05 }),
      {
        checkpointSink: sink,
      },
    )!;
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: join(tmp.dir, "t") }] },
        performance: { async: { enabled: false } },
      },
      env: {},
      stages: [stage],
    });
    engine.log({ action: "X" });
    engine.log({ action: "Y" });
    await new Promise((r) => setTimeout(r, 300));
    expect(sink.records).toHaveLength(1);
    expect(sink.records[0]).toMatchObject({ type: "checkpoint", seq: 2 });
    await engine.close();
    expect(sink.records.at(-1)).toMatchObject({ seq: 2, final: true });
  });

  test("writes checkpoints beside the data and to each witness, fsync'd JSON lines", async () => {
    const dir = join(tmp.dir, "w");
    const witness = join(tmp.dir, "witness");
    const config = loadConfig(
      {
        storage: { backends: [{ type: "file", directory: dir }] },
        security: { signing: { enabled: true, secret_key: HMAC_SECRET, checkpoint_every: 2 } },
        performance: { async: { enabled: false } },
      },
      { env: {} },
    );
    const stage = createIntegrityStage(config, { witness })!;
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        performance: { async: { enabled: false } },
      },
      env: {},
      stages: [stage],
    });
    for (let i = 0; i < 4; i++) engine.log({ action: "X" });
    await engine.close();
    const name = `${stage.chain.replace(/[^A-Za-z0-9._-]/g, "_")}.jsonl`;
    const own = readFileSync(join(dir, "checkpoints", name), "utf8");
    expect(readFileSync(join(witness, name), "utf8")).toBe(own);
    expect(
      own
        .trim()
        .split("\n")
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([2, 4, 4]);
  });

  test("security.signing.witness receives the copies, and engine.verify reads it", async () => {
    const dir = join(tmp.dir, "cw");
    const witness = join(tmp.dir, "cw-witness");
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        security: { signing: { enabled: true, secret_key: HMAC_SECRET, checkpoint_every: 3, witness } },
        performance: { async: { enabled: false } },
      },
      env: {},
    });
    for (let i = 0; i < 7; i++) engine.log({ action: "X" });
    await engine.flush();
    const names = readdirSync(witness);
    expect(names).toHaveLength(1);
    expect(readFileSync(join(witness, names[0]!), "utf8")).toBe(
      readFileSync(join(dir, "checkpoints", names[0]!), "utf8"),
    );
    // the witness holds a checkpoint the store has lost: verify (reading the witness by default) says rollback
    const first = readFileSync(join(dir, "checkpoints", names[0]!), "utf8").split("\n")[0]!;
    await engine.close();
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(dir, "checkpoints", names[0]!), `${first}\n`);
    const result = await new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        security: { signing: { enabled: true, secret_key: HMAC_SECRET, witness } },
      },
      env: {},
      readOnly: true,
    }).verify();
    expect(result.ok).toBe(false);
    expect(result.problems.map((p) => p.kind)).toContain("rollback");
  });

  test("a stage named integrity in options.stages takes the built-in's place: one chain, not two", async () => {
    const dir = join(tmp.dir, "own");
    const config = configWith({});
    const sink = new MemorySink();
    const stage = createIntegrityStage(config, { checkpointSink: sink })!;
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        security: { signing: { enabled: true, secret_key: HMAC_SECRET } },
      },
      env: {},
      stages: [stage],
    });
    for (let i = 0; i < 3; i++) engine.log({ action: "X" });
    await engine.close();
    const lines = readdirSync(dir)
      .filter((n) => n.endsWith(".log"))
      .flatMap((n) => readFileSync(join(dir, n), "utf8").trim().split("\n"));
    const chains = new Set(lines.map((l) => (JSON.parse(l) as AuditEvent).integrity!.chain));
    expect([...chains]).toEqual([stage.chain]);
    expect(sink.records.map((r) => (r as { seq: number }).seq)).toEqual([3]);
  });

  test("a signed store keeps an own __proto__ member of a result (sorted copies do not drop it)", async () => {
    const dir = join(tmp.dir, "proto");
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: dir }] },
        security: { signing: { enabled: true, secret_key: HMAC_SECRET } },
        performance: { async: { enabled: false } },
      },
      env: {},
    });
    engine.log({ action: "X", result: JSON.parse('{"count":2,"__proto__":{"polluted":1}}') });
    await engine.close();
    const name = readdirSync(dir).find((n) => n.endsWith(".log"))!;
    const line = readFileSync(join(dir, name), "utf8").trim();
    expect(line).toContain('"result":{"__proto__":{"polluted":1},"count":2,"status":"SUCCESS"}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("a checkpoint is signed only once the backends are done with the batch it covers", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const stored: number[] = [];
    class SlowBackend extends BaseBackend {
      readonly type = "slow";
      async write(batch: readonly StoredRecord[]): Promise<void> {
        await gate; // the batch is "on its way to disk"
        for (const r of batch) stored.push(r.event.integrity!.seq);
      }
      async *query(): AsyncIterable<AuditEvent> {}
    }
    const sink = new MemorySink();
    const stage = createIntegrityStage(configWith({ checkpoint_every: 1 }), { checkpointSink: sink })!;
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: join(tmp.dir, "slow") }] },
        performance: { async: { enabled: true } },
      },
      env: {},
      stages: [stage],
      backends: [new SlowBackend("slow")],
    });
    for (let i = 0; i < 3; i++) engine.log({ action: "X" });
    const flushed = engine.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(stored).toEqual([]);
    expect(sink.records).toEqual([]); // handed over, not yet written: nothing may be claimed
    release();
    await flushed;
    expect(stored).toEqual([1, 2, 3]);
    expect(sink.records.map((r) => (r as { seq: number }).seq)).toEqual([3]);
    await engine.close();
  });
});

test("a checkpoint that cannot be written is reported as VIGIL_ERR_INTEGRITY, never thrown at the caller", async () => {
  const failing: CheckpointSink = {
    append() {
      throw new Error("ENOSPC: no space left on device");
    },
    close() {},
  };
  const stage = createIntegrityStage(configWith({ checkpoint_every: 5 }), { checkpointSink: failing })!;
  const engine = new AuditEngine({
    config: {
      storage: { backends: [{ type: "file", directory: join(tmp.dir, "full") }] },
      performance: { async: { enabled: false } },
    },
    env: {},
    stages: [stage],
  });
  const errors: VigilError[] = [];
  engine.on("error", (e: VigilError) => errors.push(e));
  for (let i = 0; i < 5; i++) engine.log({ action: "X" });
  await engine.close();
  expect(errors.map((e) => e.code)).toEqual(["VIGIL_ERR_INTEGRITY", "VIGIL_ERR_INTEGRITY"]);
  expect(errors[0]!.message).toBe(
    `the checkpoint of chain ${stage.chain} at seq 5 could not be written: ENOSPC: no space left on device`,
  );
  // the events themselves were stored
  const dir = join(tmp.dir, "full");
  const stored = readdirSync(dir).filter((n) => n.endsWith(".log"));
  expect(readFileSync(join(dir, stored[0]!), "utf8").split("\n")).toHaveLength(6);
});
