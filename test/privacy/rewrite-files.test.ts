/**
 * Erasure by rewriting on a file store written without crypto-shredding: the person's
 * fields are replaced in place (plain, rotated and gzipped files, the live file a writer
 * still appends to), a signed erasure record lists each replacement, and verify accepts
 * exactly those — the tamper matrix shows it accepts nothing else.
 */
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, test } from "vitest";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { sealEvent } from "../../src/integrity/chain.js";
import { signRecord } from "../../src/integrity/records.js";
import { createSigner } from "../../src/integrity/signing.js";
import { rawLines, tempDir } from "../helpers.js";
import { ED_PRIVATE, ED_PUBLIC } from "../integrity/store.js";

const tmp = tempDir("vigil-rewrite-");
afterAll(() => tmp.cleanup());

const SECRET = "an-hmac-secret-of-enough-length-0123";
const ALICE = { id: "42", username: "alice", ip: "10.9.8.7", roles: ["admin"] };
const BOB = { id: "7", username: "bob", ip: "10.1.1.1" };

function config(dir: string, extra: Partial<VigilConfig> = {}): VigilConfig {
  return {
    core: { application_name: "rw" },
    storage: {
      backends: [
        {
          type: "file",
          directory: dir,
          rotation: { enabled: true, when: "size", max_bytes: 4000, compress: true, compress_after_days: 0 },
        },
      ],
    },
    performance: { async: { enabled: false } },
    security: { signing: { enabled: true, secret_key: SECRET, checkpoint_every: 10 } },
    compliance: { gdpr: { erasure: { enabled: false, fields: ["metadata.address"] } } },
    ...extra,
  } as VigilConfig;
}

function logSome(engine: AuditEngine, n: number, from = 0): void {
  for (let i = from; i < from + n; i++) {
    engine.log({
      action: "QUERY",
      category: "DATABASE",
      actor: i % 3 === 0 ? ALICE : BOB,
      resource: { type: "table", name: "orders", id: String(i) },
      metadata: { address: i % 3 === 0 ? "12 Elm Street" : "9 Oak Road", request: i },
    });
  }
}

async function writeStore(dir: string): Promise<void> {
  const writer = new AuditEngine({ config: config(dir), env: {} });
  logSome(writer, 60);
  await writer.close();
  // gzip what rotation left behind (compress_after_days 0, settled files)
  const maint = new AuditEngine({ config: config(dir), env: {}, readOnly: true });
  await new Promise((r) => setTimeout(r, 2100));
  await maint.close();
  const m = new AuditEngine({ config: config(dir), env: {} });
  await m.close();
}

async function verifyOf(dir: string, cfg: VigilConfig = config(dir)) {
  const engine = new AuditEngine({ config: cfg, env: {}, readOnly: true });
  try {
    return await engine.verify();
  } finally {
    await engine.close();
  }
}

async function erase(dir: string, subject: string) {
  const engine = new AuditEngine({ config: config(dir), env: {}, readOnly: true });
  try {
    return await engine.eraseSubject(subject);
  } finally {
    await engine.close();
  }
}

/** The configuration without any rotation: writers have no reason of their own to look at the path again. */
const unrotated = (dir: string): VigilConfig =>
  ({
    ...config(dir),
    storage: { backends: [{ type: "file", directory: dir, rotation: { enabled: false } }] },
  }) as VigilConfig;

const erasureRecords = (dir: string) =>
  readFileSync(join(dir, "checkpoints", "erasure.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("erasure by rewriting, file store", () => {
  test("replaces alice's fields in plain and gzipped files, signs each replacement, and the store verifies", async () => {
    const dir = join(tmp.dir, "basic");
    await writeStore(dir);
    const names = readdirSync(dir);
    expect(names.some((n) => n.endsWith(".gz"))).toBe(true);
    expect(rawLines(dir).join("\n")).toContain("alice");
    expect((await verifyOf(dir)).status).toBe("intact");

    const result = await erase(dir, "42");
    expect(result.erased).toBe(false);
    expect(result.rewritten).toBe(20);
    expect(result.stores[0]).toMatchObject({ backend: "file", type: "file", events: 20 });
    expect(result.stores[0]!.refused).toEqual([]);

    const all = rawLines(dir).join("\n");
    for (const secret of ["alice", "10.9.8.7", "12 Elm Street"]) expect(all).not.toContain(secret);
    expect(all).toContain("bob"); // nobody else is touched
    const events = rawLines(dir).map((l) => JSON.parse(l) as AuditEvent);
    const hers = events.filter((e) => e.actor?.id === "42");
    expect(hers).toHaveLength(20);
    for (const e of hers) {
      expect(e.actor).toEqual({ id: "42", ip: "[ERASED]", roles: ["admin"], username: "[ERASED]" });
      expect(e.metadata).toEqual({ address: "[ERASED]", request: Number(e.action.resource!.id) });
    }
    const records = erasureRecords(dir);
    const listed = records.flatMap((r) => r.replacements as { seq: number; old: string; new: string }[]);
    expect(listed).toHaveLength(20);
    expect(records[0]).toMatchObject({ type: "erasure", alg: "hmac-sha256", marker: "[ERASED]" });
    expect(records[0]!.fields).toEqual(["actor.ip", "actor.username", "metadata.address"]);
    for (const e of hers)
      expect(listed.some((x) => x.new === e.integrity!.hash && x.seq === e.integrity!.seq)).toBe(true);

    const verified = await verifyOf(dir);
    expect(verified.problems).toEqual([]);
    expect(verified).toMatchObject({ ok: true, status: "intact", erased: 20 });

    // erasing again changes nothing more
    expect((await erase(dir, "42")).rewritten).toBe(0);
    // and the export shows the redacted events
    const engine = new AuditEngine({ config: config(dir), env: {}, readOnly: true });
    const exported: AuditEvent[] = [];
    for await (const e of engine.exportSubject("42")) exported.push(e);
    await engine.close();
    expect(exported).toHaveLength(20);
    expect(exported.every((e) => e.actor?.username === "[ERASED]")).toBe(true);
  }, 30_000);

  describe("the tamper matrix", () => {
    const dir = join(tmp.dir, "tamper");
    const fileOf = (seq: number): { name: string; index: number } => {
      for (const name of readdirSync(dir).filter((n) => n.includes("rw") && !n.endsWith(".gz"))) {
        const lines = readFileSync(join(dir, name), "utf8").split("\n");
        const index = lines.findIndex((l) => l.includes(`"seq":${seq}}`));
        if (index >= 0) return { name, index };
      }
      throw new Error(`seq ${seq} not in a plain file`);
    };
    const edit = (seq: number, change: (line: string) => string) => {
      const { name, index } = fileOf(seq);
      const path = join(dir, name);
      const lines = readFileSync(path, "utf8").split("\n");
      const before = lines[index]!;
      lines[index] = change(before);
      writeFileSync(path, lines.join("\n"));
      return () => {
        const now = readFileSync(path, "utf8").split("\n");
        now[index] = before;
        writeFileSync(path, now.join("\n"));
      };
    };
    /** Redact a line the way erasure does and re-seal it, without a signed record. */
    const resealed = (line: string, change: (e: AuditEvent) => void) => {
      const e = JSON.parse(line) as AuditEvent;
      change(e);
      const i = e.integrity!;
      return sealEvent(e, i.chain, i.seq, i.prev).line;
    };

    let original = "";
    test("setup: bob's store, alice erased, verifies", async () => {
      await writeStore(dir);
      const { name, index } = fileOf(58);
      original = readFileSync(join(dir, name), "utf8").split("\n")[index]!;
      expect(original).toContain("alice");
      expect((await erase(dir, "42")).rewritten).toBe(20);
      expect((await verifyOf(dir)).status).toBe("intact");
    }, 30_000);

    test("a replacement no signed record lists is caught (bob redacted and re-sealed by hand)", async () => {
      const seq = 59; // bob's (i = 58), in the live file
      const undo = edit(seq, (l) =>
        resealed(l, (e) => {
          (e.actor as Record<string, unknown>).username = "[ERASED]";
        }),
      );
      const r = await verifyOf(dir);
      undo();
      expect(r.status).toBe("tampered");
      expect(r.problems.map((p) => [p.kind, p.seq])).toEqual([["forged", seq]]);
    });

    test("an extra edit in an erased line is caught, re-sealed or not", async () => {
      const seq = 58; // alice's (i = 57), erased
      let undo = edit(seq, (l) => l.replace('"request":57', '"request":333'));
      let r = await verifyOf(dir);
      undo();
      expect(r.problems.map((p) => [p.kind, p.seq])).toEqual([["modified", seq]]);
      undo = edit(seq, (l) =>
        resealed(l, (e) => {
          (e.metadata as Record<string, unknown>).request = 333;
        }),
      );
      r = await verifyOf(dir);
      undo();
      expect(r.problems.map((p) => [p.kind, p.seq])).toEqual([["forged", seq]]);
    });

    test("a forged erasure record (signed with another key, or edited) is caught, and does not authorize", async () => {
      const path = join(dir, "checkpoints", "erasure.jsonl");
      const original = readFileSync(path, "utf8");
      const seq = 59;
      let forgedLine = "";
      const undo = edit(seq, (l) => {
        forgedLine = resealed(l, (e) => {
          (e.actor as Record<string, unknown>).username = "[ERASED]";
        });
        return forgedLine;
      });
      const old = JSON.parse(readFileSync(join(dir, fileOf(60).name), "utf8").split("\n")[fileOf(60).index]!)
        .integrity.prev as string;
      const forged = signRecord(
        {
          v: 1 as const,
          type: "erasure" as const,
          chain: (JSON.parse(forgedLine) as AuditEvent).integrity!.chain,
          replacements: [{ seq, old, new: (JSON.parse(forgedLine) as AuditEvent).integrity!.hash }],
          fields: ["actor.username"],
          marker: "[ERASED]",
          time: new Date().toISOString(),
        },
        createSigner({
          enabled: true,
          algorithm: "hmac-sha256",
          secret_key: "another-secret-of-enough-length-999",
        } as never),
      );
      appendFileSync(path, `${JSON.stringify(forged)}\n`);
      let r = await verifyOf(dir);
      expect(r.problems.map((p) => p.kind).sort()).toEqual(["bad-signature", "forged"]);
      // an edited record: a genuine one with a replacement's new hash changed
      writeFileSync(path, original);
      const records = original.trim().split("\n");
      const rec = JSON.parse(records[0]!) as { replacements: { seq: number; new: string }[] };
      rec.replacements.push({
        seq,
        new: (JSON.parse(forgedLine) as AuditEvent).integrity!.hash,
        old,
      } as never);
      records[0] = JSON.stringify(rec);
      writeFileSync(path, `${records.join("\n")}\n`);
      r = await verifyOf(dir);
      writeFileSync(path, original);
      undo();
      expect(r.problems.some((p) => p.kind === "bad-signature")).toBe(true);
      expect(r.problems.some((p) => p.kind === "forged" && p.seq === seq)).toBe(true);
      expect((await verifyOf(dir)).status).toBe("intact");
    });

    test("the original line put back beside the erased one is a duplicate; in its place it is the event as written", async () => {
      const path = join(dir, fileOf(58).name);
      const saved = readFileSync(path, "utf8");
      edit(58, (l) => `${l}\n${original}`);
      let r = await verifyOf(dir);
      writeFileSync(path, saved);
      expect(r.problems.map((p) => [p.kind, p.seq])).toEqual([["duplicated", 58]]);
      edit(58, () => original);
      r = await verifyOf(dir);
      writeFileSync(path, saved);
      expect(r).toMatchObject({ status: "intact", erased: 19 });
    });

    test("a deleted erasure record is caught: every erased line shows as rewritten", async () => {
      const path = join(dir, "checkpoints", "erasure.jsonl");
      const original = readFileSync(path, "utf8");
      writeFileSync(path, "");
      const r = await verifyOf(dir);
      writeFileSync(path, original);
      expect(r.status).toBe("tampered");
      expect(r.problems.length).toBeGreaterThanOrEqual(20);
      expect(r.problems.every((p) => p.kind === "forged")).toBe(true);
      // each of the 20 erased positions is named
      const named = new Set(r.problems.map((p) => p.seq));
      for (let i = 0; i < 60; i += 3) expect(named.has(i + 1)).toBe(true);
      expect((await verifyOf(dir)).status).toBe("intact");
    });
  });

  test("a writer that keeps appending to the live file loses nothing while another engine erases", async () => {
    const dir = join(tmp.dir, "live");
    const live = unrotated(dir);
    const writer = new AuditEngine({ config: live, env: {} });
    logSome(writer, 30);
    let n = 30;
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        logSome(writer, 1, n++);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const eraser = new AuditEngine({ config: live, env: {}, readOnly: true });
    const result = await eraser.eraseSubject("42");
    await eraser.close();
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await loop;
    await writer.close();
    expect(result.rewritten).toBeGreaterThanOrEqual(10);
    const events = rawLines(dir).map((l) => JSON.parse(l) as AuditEvent);
    const ids = events.map((e) => Number(e.action.resource!.id)).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: n }, (_, i) => i)); // every event, once
    expect(readdirSync(dir).filter((f) => /\.log\.\d+$/.test(f)).length).toBe(1); // the live file was rotated aside
    const verified = await verifyOf(dir, live);
    expect(verified.problems).toEqual([]);
    expect(verified.erased).toBe(result.rewritten);
  }, 30_000);

  test("two writer processes append to the live file throughout another process's erasure: every line kept, the store verifies", async () => {
    const dir = join(tmp.dir, "processes");
    const script = join(tmp.dir, "writer.mts");
    const engineModule = new URL("../../src/index.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { AuditEngine } from ${JSON.stringify(engineModule)};
const [dir, who] = process.argv.slice(2);
const engine = new AuditEngine({ env: {}, config: {
  core: { application_name: "rw" },
  storage: { backends: [{ type: "file", directory: dir, rotation: { enabled: false } }] },
  performance: { async: { enabled: true }, batching: { batch_size: 20, batch_timeout_seconds: 0.01 } },
  security: { signing: { enabled: true, secret_key: ${JSON.stringify(SECRET)}, checkpoint_every: 50 } },
} });
let i = 0;
let stop = false;
process.on("SIGTERM", () => { stop = true; });
while (!stop) {
  engine.log({ action: "QUERY", actor: i % 4 === 0 ? { id: "42", username: "alice" } : { id: "7", username: "bob" },
    resource: { type: "table", id: who + ":" + i } });
  i++;
  if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
}
await engine.close();
console.log("LOGGED " + i);
`,
    );
    const children = ["a", "b"].map((who) => {
      const p = spawn(process.execPath, ["--import", "tsx", script, dir, who], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (out += d));
      return { p, who, done: new Promise<string>((r) => p.on("exit", () => r(out))) };
    });
    // let them write a while, then erase while they keep writing
    const cfg = unrotated(dir);
    for (let tries = 0; tries < 200; tries++) {
      await new Promise((r) => setTimeout(r, 50));
      if (existsSync(dir) && rawLines(dir).length > 400) break;
    }
    const eraser = new AuditEngine({ config: cfg, env: {}, readOnly: true });
    const result = await eraser.eraseSubject("42");
    await eraser.close();
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) c.p.kill("SIGTERM");
    const outs = await Promise.all(children.map((c) => c.done));
    const logged = outs.map((o) => Number(/LOGGED (\d+)/.exec(o)?.[1] ?? Number.NaN));
    expect(
      logged.every((n) => n > 0),
      outs.join("\n"),
    ).toBe(true);
    const ids = new Set(rawLines(dir).map((l) => (JSON.parse(l) as AuditEvent).action.resource!.id));
    for (const [k, who] of ["a", "b"].entries())
      for (let i = 0; i < logged[k]!; i++) expect(ids.has(`${who}:${i}`), `${who}:${i}`).toBe(true);
    expect(rawLines(dir).length).toBe(logged[0]! + logged[1]!);
    expect(result.rewritten).toBeGreaterThan(0);
    expect(rawLines(dir).filter((l) => l.includes("alice")).length).toBeGreaterThan(0); // written after the erasure
    const verified = await verifyOf(dir, cfg);
    expect(verified.problems).toEqual([]);
    expect(verified.erased).toBe(result.rewritten);
  }, 60_000);

  test("a mixed store (clear events from before crypto-shredding, sealed ones after) gets both; encrypted lines are re-encrypted", async () => {
    const dir = join(tmp.dir, "mixed");
    const MASTER = "5a".repeat(32);
    const base = {
      ...config(dir),
      storage: { backends: [{ type: "file", directory: dir }] },
      security: {
        signing: { enabled: true, secret_key: SECRET, checkpoint_every: 10 },
        encryption: { enabled: true, key: "44".repeat(32), key_id: "k1" },
      },
    } as VigilConfig;
    const before = new AuditEngine({ config: base, env: {} });
    logSome(before, 9);
    await before.close();
    const sealing = {
      ...base,
      compliance: { gdpr: { erasure: { enabled: true, key: MASTER, fields: ["metadata.address"] } } },
    } as VigilConfig;
    const after = new AuditEngine({ config: sealing, env: {} });
    logSome(after, 9, 9);
    await after.close();
    // the key rotates: rewritten lines are encrypted with the current key, old ones still read
    const rotated = {
      ...sealing,
      security: {
        ...sealing.security,
        encryption: {
          enabled: true,
          key: "55".repeat(32),
          key_id: "k2",
          previous_keys: { k1: "44".repeat(32) },
        },
      },
    } as VigilConfig;
    const engine = new AuditEngine({ config: rotated, env: {}, readOnly: true });
    try {
      const result = await engine.eraseSubject("42");
      expect(result).toMatchObject({ erased: true, rewritten: 3 }); // her 3 clear events; her 3 sealed ones by key
      const envelopes = rawLines(dir).map((l) => JSON.parse(l) as { kid: string });
      expect(envelopes.filter((e) => e.kid === "k2")).toHaveLength(3);
      const hers: AuditEvent[] = [];
      for await (const e of engine.exportSubject("42")) hers.push(e);
      expect(hers).toHaveLength(6);
      expect(hers.slice(0, 3).every((e) => e.actor?.username === "[ERASED]")).toBe(true);
      expect(hers.slice(3).every((e) => e.subject?.erased === true && e.actor?.username === undefined)).toBe(
        true,
      );
      expect(await engine.count({ query: 'alice OR "12 Elm Street"' })).toBe(0);
      const verified = await engine.verify();
      expect(verified.problems).toEqual([]);
      expect(verified).toMatchObject({ status: "intact", erased: 3 });
    } finally {
      await engine.close();
    }
  }, 30_000);

  test("with Ed25519 signing the records are Ed25519-signed, and a public-key-only verifier accepts them", async () => {
    const dir = join(tmp.dir, "ed25519");
    const ed = {
      ...config(dir),
      security: {
        signing: { enabled: true, algorithm: "ed25519", private_key: ED_PRIVATE, checkpoint_every: 10 },
      },
    } as VigilConfig;
    const writer = new AuditEngine({ config: ed, env: {} });
    logSome(writer, 12);
    await writer.close();
    const engine = new AuditEngine({ config: ed, env: {}, readOnly: true });
    try {
      expect((await engine.eraseSubject("42")).rewritten).toBe(4);
      expect(erasureRecords(dir)[0]).toMatchObject({ alg: "ed25519" });
      const verified = await engine.verify({ publicKey: ED_PUBLIC });
      expect(verified.problems).toEqual([]);
      expect(verified).toMatchObject({ status: "intact", erased: 4 });
    } finally {
      await engine.close();
    }
  }, 30_000);

  test("gzipped files are rewritten gzipped", async () => {
    const dir = join(tmp.dir, "basic");
    const gz = readdirSync(dir).filter((n) => n.endsWith(".gz"));
    expect(gz.length).toBeGreaterThan(0);
    const text = gz.map((n) => gunzipSync(readFileSync(join(dir, n))).toString("utf8")).join("");
    expect(text).toContain("[ERASED]");
    expect(text).not.toContain("alice");
  });
});
