/**
 * Integrity scenarios beyond single edits: a restored older copy of a file, a store rolled
 * back against its witness, retention that stays verifiable, a store still being written,
 * rows from a non-file source, and key rotation.
 */
import { cpSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { createLineDecoder } from "../../src/crypto/decode.js";
import { FileCheckpointSink, readRecords } from "../../src/integrity/records.js";
import { applyVerifiableRetention } from "../../src/integrity/retention.js";
import { createSigner, createVerifier } from "../../src/integrity/signing.js";
import { ChainVerifier, verifyStore } from "../../src/integrity/verify.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";
import { tempDir } from "../helpers.js";
import { AES_KEY, AES_KEY_OLD, buildStore, dataFiles, linesOf, logEvents, readText } from "./store.js";

const temps: ReturnType<typeof tempDir>[] = [];
const temp = () => {
  const t = tempDir("vigil-scenario-");
  temps.push(t);
  return t.dir;
};
afterEach(() => {
  for (const t of temps.splice(0)) t.cleanup();
});

describe("restoring older copies", () => {
  test("an older copy of a file put back over the current one is detected", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 3000, keepOpen: true, checkpointEvery: 500 });
    const active = dataFiles(dir).filter((p) => p.endsWith(".log"));
    const saved = active.map((p) => readFileSync(p));
    logEvents(store.engine, 300, Date.parse("2026-03-01T23:00:00.000Z"));
    await store.engine.close();
    expect((await store.verify()).ok).toBe(true);
    for (const [i, p] of active.entries()) writeFileSync(p, saved[i]!); // the attacker restores an old backup
    const r = await store.verify();
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.kind)).toContain("truncated");
  });

  test("a whole store rolled back (data and checkpoints) is caught by the witness", async () => {
    const dir = temp();
    const witness = join(temp(), "witness");
    const backup = temp();
    const store = await buildStore({ dir, events: 3000, keepOpen: true, checkpointEvery: 500, witness });
    cpSync(dir, backup, { recursive: true }); // a copy taken while running
    logEvents(store.engine, 600, Date.parse("2026-03-02T06:00:00.000Z"));
    await store.engine.close();
    rmSync(dir, { recursive: true });
    cpSync(backup, dir, { recursive: true }); // ... restored later
    // alone, a consistent older copy cannot be told from the truth: that is what the witness is for
    expect((await store.verify()).ok).toBe(true);
    const r = await store.verify({ witness });
    expect(r.problems.find((p) => p.kind === "rollback")).toMatchObject({ toSeq: 3600 });
    expect(r.status).toBe("tampered");
  });
});

describe("retention", () => {
  const cutoff = new Date("2026-03-02T00:00:00.000Z");
  const DAY1_23H = Date.parse("2026-03-01T23:00:00.000Z");

  test("files deleted with signed retention records leave a store that verifies", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 4000, checkpointEvery: 500, start: DAY1_23H });
    const before = dataFiles(dir).filter((p) => p.includes("2026-03-01"));
    expect(before.length).toBeGreaterThan(0);
    const signer = createSigner(store.config.security.signing);
    const sink = new FileCheckpointSink(join(dir, "checkpoints"));
    const result = await applyVerifiableRetention({ backend: store.backend, cutoff, signer, sink });
    sink.close();
    expect(result.deletedFiles).toHaveLength(before.length);
    expect(dataFiles(dir).filter((p) => p.includes("2026-03-01"))).toEqual([]);
    const r = await store.verify();
    expect(r.problems).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.retained).toBe(3600); // 23:00 to midnight, one event a second
    expect(r.retained + r.events).toBe(4000);
    const records = readRecords(join(dir, "checkpoints")).records.filter(
      (x) => x.record.type === "retention",
    );
    expect(records).toHaveLength(1);
    expect(records[0]!.record).toMatchObject({ from: 1, to: 3600 });
  });

  test("a deletion besides the authorized one is still reported", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 4000, checkpointEvery: 500, start: DAY1_23H });
    const signer = createSigner(store.config.security.signing);
    const sink = new FileCheckpointSink(join(dir, "checkpoints"));
    await applyVerifiableRetention({ backend: store.backend, cutoff, signer, sink });
    sink.close();
    const file = dataFiles(dir)[0]!;
    const lines = linesOf(readText(file));
    writeFileSync(file, `${[...lines.slice(0, 10), ...lines.slice(11)].join("\n")}\n`);
    const r = await store.verify();
    expect(r.problems.map((p) => p.kind)).toEqual(["deleted"]);
  });

  test("rotation backup_count prunes a signed store verifiably; a file deleted besides it is still reported", async () => {
    const dir = temp();
    const options = { dir, events: 3000, maxBytes: 40_000, backupCount: 2, checkpointEvery: 500 };
    const store = await buildStore(options); // the writer's close() waits for its housekeeping
    const rotated = dataFiles(dir).filter((p) => /\.log\.\d+$/.test(p));
    const families = new Map<string, number[]>();
    for (const p of rotated) {
      const m = /^(.*\.log)\.(\d+)$/.exec(basename(p))!;
      families.set(m[1]!, [...(families.get(m[1]!) ?? []), Number(m[2])]);
    }
    expect([...families.keys()].sort()).toEqual([
      "audit_api_2026-03-01.log",
      "audit_authentication_2026-03-01.log",
      "audit_database_2026-03-01.log",
    ]);
    for (const indexes of families.values()) {
      indexes.sort((a, b) => a - b);
      expect(indexes).toHaveLength(2);
      expect(indexes[0]).toBeGreaterThan(1); // the oldest went; indexes are never reused
      expect(indexes[1]).toBe(indexes[0]! + 1);
    }
    const records = readRecords(join(dir, "checkpoints")).records.map((x) => x.record);
    const retention = records.filter((r) => r.type === "retention");
    expect(retention.length).toBeGreaterThan(0);
    for (const r of retention) expect(r).toMatchObject({ reason: "rotation.backup_count 2" });

    const r = await store.verify();
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, status: "intact" });
    expect(r.retained).toBeGreaterThan(0);
    expect(r.retained + r.events).toBe(3000);

    // one more file deleted by hand: named, with the events it held
    const [family, indexes] = [...families.entries()][0]!;
    const gone = join(dir, `${family}.${indexes[0]}`);
    const held = linesOf(readText(gone)).map((l) => Number(/"seq":(\d+)/.exec(l)![1]));
    unlinkSync(gone);
    const after = await store.verify();
    expect(after.ok).toBe(false);
    expect(after.problems).toHaveLength(1);
    expect(after.problems[0]).toMatchObject({
      kind: "missing-file",
      file: basename(gone),
      seq: held[0],
      toSeq: held[held.length - 1],
      count: held.length,
    });
  }, 60_000);

  test("files deleted without a retention record are reported as deleted", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 4000, checkpointEvery: 500, start: DAY1_23H });
    for (const p of dataFiles(dir)) if (p.includes("2026-03-01")) unlinkSync(p);
    const r = await store.verify();
    expect(r.problems.find((p) => p.kind === "deleted")).toMatchObject({ seq: 1, toSeq: 3600 });
  }, 60_000);
});

describe("a store still being written", () => {
  test("has a pending tail while its writer runs, and verifies intact once it closed", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 1500, keepOpen: true, checkpointEvery: 1000 });
    const live = await store.verify();
    expect(live).toMatchObject({ ok: true, status: "pending", problems: [], pendingEvents: 500 });
    expect(live.pending).toEqual([
      expect.objectContaining({ seq: 1001, toSeq: 1500, count: 500, writer: "alive", pid: process.pid }),
    ]);
    expect(live.pending[0]!.message).toMatch(
      /: 500 events pending \(seq 1001\.\.1500; writer alive, pid \d+ on this host, last checkpoint \d+\.\d s ago\)$/,
    );
    await store.engine.close();
    expect(await store.verify()).toMatchObject({ ok: true, status: "intact", pending: [], pendingEvents: 0 });
  });

  test("is unverifiable, never intact, in strict mode", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 1500, keepOpen: true, checkpointEvery: 1000 });
    const strict = await store.verify({ pending: false });
    expect(strict).toMatchObject({ ok: false, status: "unverifiable", pending: [] });
    expect(strict.problems).toEqual([
      expect.objectContaining({ kind: "unverifiable", seq: 1001, toSeq: 1500, count: 500 }),
    ]);
    await store.engine.close();
  });

  test("is unverifiable once its tail has waited longer than the checkpoint interval and grace", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 1500, keepOpen: true, checkpointEvery: 1000 });
    const inTime = await store.verify({ pending: { intervalSeconds: 60, now: () => Date.now() + 60_000 } });
    expect(inTime).toMatchObject({ status: "pending", pendingEvents: 500 });
    const late = await store.verify({ pending: { intervalSeconds: 60, now: () => Date.now() + 90_000 } });
    expect(late).toMatchObject({ ok: false, status: "unverifiable", pending: [] });
    expect(late.problems).toEqual([
      expect.objectContaining({ kind: "unverifiable", seq: 1001, toSeq: 1500, count: 500 }),
    ]);
    expect(late.problems[0]!.message).toMatch(
      /cannot be verified \(they have waited 9\d\.\d s for a checkpoint, more than the checkpoint interval \(60\.0 s\) and grace \(15\.0 s\): the writer \(pid \d+ on this host\) runs but does not seal its events\)$/,
    );
    await store.engine.close();
  });

  test("of another host is judged by the age of its tail alone", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 1500, keepOpen: true, checkpointEvery: 1000 });
    const writerState = () => "remote" as const;
    const fresh = await store.verify({ pending: { writerState } });
    expect(fresh.pending).toEqual([expect.objectContaining({ count: 500, writer: "remote" })]);
    expect(fresh.pending[0]!.message).toMatch(/; writer on host .+, judged by age, last checkpoint/);
    const old = await store.verify({ pending: { writerState, now: () => Date.now() + 3_600_000 } });
    expect(old.status).toBe("unverifiable");
    expect(old.problems[0]!.message).toMatch(
      /: the writer \(pid \d+ on host .+\) stopped, or does not seal its events\)$/,
    );
    await store.engine.close();
  });

  test("whose writer closed is no longer pending, even when its final checkpoints are gone", async () => {
    const dir = temp();
    const store = await buildStore({ dir, events: 1500, keepOpen: true, checkpointEvery: 1000 });
    await store.engine.close();
    const [file] = readdirSync(join(dir, "checkpoints")).map((n) => join(dir, "checkpoints", n));
    const records = linesOf(readFileSync(file!, "utf8"));
    expect(records.at(-1)).toContain('"final":true');
    writeFileSync(file!, `${records.slice(0, -1).join("\n")}\n`); // the final checkpoint deleted
    const r = await store.verify();
    expect(r).toMatchObject({ ok: false, status: "unverifiable", pending: [] });
    expect(r.problems[0]!.message).toContain("is no longer running and did not seal them");
  });
});

test("rows from another source (the SQL extension point) verify and are located by row id", async () => {
  const dir = temp();
  const store = await buildStore({ dir, events: 900, checkpointEvery: 300 });
  const rows: { at: number; line: string }[] = [];
  for (const p of dataFiles(dir))
    for (const line of linesOf(readText(p))) rows.push({ at: rows.length + 1, line });
  rows.sort((a, b) => Number(/"seq":(\d+)/.exec(a.line)![1]) - Number(/"seq":(\d+)/.exec(b.line)![1]));
  const check = async (mutate: (r: typeof rows) => typeof rows) => {
    const v = new ChainVerifier({ verifier: createVerifier(store.config.security.signing) });
    v.addRecords(readRecords(join(dir, "checkpoints")));
    const src = v.addSource("sqlite:vigil_audit_events", { rows: true });
    for (const r of mutate(rows.map((r, i) => ({ at: i + 1, line: r.line })))) v.addLine(src, r.at, r.line);
    return v.finish();
  };
  expect((await check((r) => r)).ok).toBe(true);
  const r = await check((r) =>
    r.map((x) => (x.at === 17 ? { ...x, line: x.line.replace("user", "usr") } : x)),
  );
  expect(r.problems[0]).toMatchObject({
    kind: "modified",
    file: "sqlite:vigil_audit_events",
    line: 17,
    seq: 17,
  });
  expect(r.problems[0]!.message).toContain("sqlite:vigil_audit_events row 17");
});

describe("encryption key rotation", () => {
  test("records written under an old key stay readable and verifiable after rotation", async () => {
    const dir = temp();
    // first writer: key k1
    const first = await buildStore({ dir, events: 600, encrypt: true, checkpointEvery: 200 });
    // rewrite its envelopes' key id: simulate a store started under k1 by building with k1 as current
    rmSync(dir, { recursive: true });
    const { loadConfig } = await import("../../src/config/index.js");
    const { storeConfig } = await import("./store.js");
    const { AuditEngine } = await import("../../src/engine.js");
    const { createIntegrityStage } = await import("../../src/integrity/stage.js");
    const { createEncryptionStage } = await import("../../src/crypto/stage.js");
    const write = async (key: string, keyId: string, previous: Record<string, string>, start: number) => {
      const input = storeConfig({ dir, encrypt: true, checkpointEvery: 200 });
      const withKey = {
        ...input,
        security: {
          ...input.security,
          encryption: { enabled: true, key, key_id: keyId, previous_keys: previous },
        },
      };
      const config = loadConfig(withKey, { env: {} });
      const engine = new AuditEngine({
        config: withKey,
        env: {},
        stages: [createIntegrityStage(config)!, createEncryptionStage(config)!],
      });
      logEvents(engine, 300, start);
      await engine.close();
      return config;
    };
    await write(AES_KEY_OLD, "k1", {}, Date.parse("2026-03-01T10:00:00.000Z"));
    const config = await write(AES_KEY, "k2", { k1: AES_KEY_OLD }, Date.parse("2026-03-01T12:00:00.000Z"));
    const kids = new Set(
      dataFiles(dir).flatMap((p) => linesOf(readText(p)).map((l) => /"kid":"(\w+)"/.exec(l)![1])),
    );
    expect([...kids].sort()).toEqual(["k1", "k2"]);
    const backendConfig = config.storage.backends[0]!;
    if (!backendConfig.enabled || backendConfig.type !== "file") throw new Error("file backend expected");
    const backend = new FileBackend({
      config: backendConfig,
      application: "tamper",
      decode: createLineDecoder(config),
    });
    const r = await verifyStore({
      backend,
      signing: config.security.signing,
      encryption: config.security.encryption,
    });
    expect(r).toMatchObject({ ok: true, chains: 2, events: 600 });
    // search decrypts transparently, across both keys
    let found = 0;
    for await (const e of backend.query({ order: "asc" })) {
      expect(e.actor?.username).toMatch(/^user\d+$/);
      found++;
    }
    expect(found).toBe(600);
    // without k1, the old records are named by their key id
    const noOld = await verifyStore({
      backend,
      signing: config.security.signing,
      encryption: { key: AES_KEY, key_id: "k2" },
    });
    expect(noOld.problems.find((p) => p.kind === "wrong-key")).toMatchObject({ keyId: "k1" });
    expect(() =>
      createLineDecoder({
        ...config,
        security: {
          ...config.security,
          encryption: { enabled: true, key: AES_KEY, key_id: "k2", clear_fields: [] },
        },
      })(readdirSync(dir).length > 0 ? linesOf(readText(dataFiles(dir)[0]!))[0]! : ""),
    ).toThrow(/"k1"/);
    expect(first.dir).toBe(dir);
  });
});
