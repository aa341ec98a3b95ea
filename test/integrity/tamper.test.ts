/**
 * The tamper matrix (issue 5): a store of 10,000 events across rotated files, plain and
 * gzipped, clear and encrypted, HMAC and Ed25519 — every kind of tampering is detected and
 * named; the untouched store verifies clean.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encryptLine, NonceSource } from "../../src/crypto/aead.js";
import { createLineOpener } from "../../src/crypto/decode.js";
import { KeyRing } from "../../src/crypto/keyring.js";
import type { AuditEvent, Mutable } from "../../src/event/types.js";
import { sealEvent } from "../../src/integrity/chain.js";
import type { VerifyProblem, VerifyResult } from "../../src/integrity/verify.js";
import { tempDir } from "../helpers.js";
import {
  AES_KEY,
  AES_KEY_OLD,
  buildStore,
  dataFiles,
  linesOf,
  readText,
  type Store,
  withTampered,
  writeBytes,
  writeText,
} from "./store.js";

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seqOf = (line: string): number => Number(/"seq":(\d+)/.exec(line)![1]);
const kinds = (r: VerifyResult): string[] => [...new Set(r.problems.map((p) => p.kind))].sort();
const find = (r: VerifyResult, pred: (p: VerifyProblem) => boolean) => r.problems.find(pred);

const VARIANTS = [
  { name: "plain files, HMAC", gzip: false, encrypt: false, algorithm: "hmac-sha256" },
  { name: "gzipped files, Ed25519", gzip: true, encrypt: false, algorithm: "ed25519" },
  { name: "encrypted files, Ed25519", gzip: false, encrypt: true, algorithm: "ed25519" },
  { name: "gzipped encrypted files, HMAC", gzip: true, encrypt: true, algorithm: "hmac-sha256" },
] as const;

describe.each(VARIANTS)("tamper matrix: $name", (variant) => {
  let tmp: ReturnType<typeof tempDir>;
  let store: Store;
  let rotated: string[];
  /** The middle rotated file of the first family (it has neighbours on both sides). */
  let middle: string;
  /** The file holding the chain's last event. */
  let tailFile: string;

  beforeAll(async () => {
    tmp = tempDir("vigil-tamper-");
    store = await buildStore({
      dir: tmp.dir,
      gzip: variant.gzip,
      encrypt: variant.encrypt,
      algorithm: variant.algorithm,
    });
    rotated = dataFiles(tmp.dir).filter((p) => /\.\d+(\.gz)?$/.test(p));
    const family = rotated.filter((p) =>
      basename(p).startsWith(basename(rotated[0]!).replace(/\.\d+(\.gz)?$/, "")),
    );
    middle = family.find((p) => /\.2(\.gz)?$/.test(p))!;
    let max = 0;
    for (const p of dataFiles(tmp.dir)) {
      for (const l of linesOf(readText(p))) {
        if (seqOf(l) > max) {
          max = seqOf(l);
          tailFile = p;
        }
      }
    }
  }, 120_000);
  afterAll(() => tmp.cleanup());

  /** Rewrite a file's lines, verify, and put the file back. */
  const tamperLines = (path: string, edit: (lines: string[]) => string[]) =>
    withTampered(
      [path],
      () => writeText(path, `${edit(linesOf(readText(path))).join("\n")}\n`),
      () => store.verify(),
    );

  test("the untouched store verifies clean", async () => {
    const r = await store.verify();
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, status: "intact", chains: 1, events: 10_000 });
    expect(rotated.length).toBeGreaterThanOrEqual(3);
    expect(middle).toBeDefined();
    if (variant.gzip) expect(rotated.every((p) => p.endsWith(".gz"))).toBe(true);
    if (variant.encrypt) expect(readText(middle).startsWith('{"v":1,"kid":"k2"')).toBe(true);
  });

  test("flipping one byte anywhere in the events is detected in that file", async () => {
    const rand = prng(variant.name.length * 7919);
    const files = dataFiles(tmp.dir);
    for (let trial = 0; trial < 12; trial++) {
      const path = files[Math.floor(rand() * files.length)]!;
      const bytes = Buffer.from(readText(path), "utf8");
      const at = Math.floor(rand() * bytes.length);
      const flipped = Buffer.from(bytes);
      flipped[at] = flipped[at]! ^ (1 << Math.floor(rand() * 7));
      if (flipped[at] === 0x0a && bytes[at] !== 0x0a) flipped[at] = flipped[at]! ^ 0x20; // keep it one line
      const r = await withTampered(
        [path],
        () => writeBytes(path, flipped),
        () => store.verify(),
      );
      expect(r.ok, `byte ${at} of ${path}`).toBe(false);
      expect(
        r.problems.some((p) => p.file === path),
        `byte ${at} of ${path}: ${JSON.stringify(r.problems)}`,
      ).toBe(true);
    }
  });

  if (variant.gzip)
    test("flipping a byte of the compressed data is detected in that file", async () => {
      const rand = prng(42);
      for (let trial = 0; trial < 4; trial++) {
        const path = rotated[Math.floor(rand() * rotated.length)]!;
        const bytes = readFileSync(path);
        const at = 10 + Math.floor(rand() * (bytes.length - 10));
        const flipped = Buffer.from(bytes);
        flipped[at] = flipped[at]! ^ 0x10;
        const r = await withTampered(
          [path],
          () => writeFileSync(path, flipped),
          () => store.verify(),
        );
        expect(r.ok).toBe(false);
        expect(
          r.problems.some((p) => p.file === path && (p.kind === "unreadable" || p.kind === "modified")),
        ).toBe(true);
      }
    });

  test("deleting a line is named: which event, of which chain", async () => {
    const lines = linesOf(readText(middle));
    const gone = seqOf(lines[4]!);
    const r = await tamperLines(middle, (l) => [...l.slice(0, 4), ...l.slice(5)]);
    expect(kinds(r)).toEqual(["deleted"]);
    expect(r.problems[0]).toMatchObject({ kind: "deleted", seq: gone, toSeq: gone, count: 1 });
  });

  test("a duplicated line is named with its file and line", async () => {
    const r = await tamperLines(middle, (l) => [...l.slice(0, 6), l[5]!, ...l.slice(6)]);
    expect(kinds(r)).toEqual(["duplicated"]);
    expect(r.problems[0]).toMatchObject({ file: middle, line: 7, seq: seqOf(linesOf(readText(middle))[5]!) });
  });

  test("an inserted line with edited content is named as forged", async () => {
    const r = await tamperLines(middle, (l) => {
      const copy = variant.encrypt
        ? l[3]!.replace(/"id":"[^"]+"/, '"id":"01900000-0000-7000-8000-000000000000"')
        : l[3]!.replace(/"username":"user\d+"/, '"username":"mallory"');
      expect(copy).not.toBe(l[3]);
      return [...l.slice(0, 10), copy, ...l.slice(10)];
    });
    expect(kinds(r)).toEqual(["forged"]);
    expect(r.problems[0]).toMatchObject({ file: middle, line: 11 });
  });

  /** A line forged by someone who has the data (and even the encryption key) but not the signing key. */
  const forge = (template: string, seq: number, prev: string, chain: string): string => {
    // with encryption, decrypt with the real key, as an insider holding the encryption key could
    const clear = variant.encrypt ? decryptForTest(template) : template;
    const event = JSON.parse(clear) as Mutable<AuditEvent>;
    (event.actor as { username: string }).username = "mallory";
    const { line, integrity } = sealEvent(event as AuditEvent, chain, seq, prev);
    if (!variant.encrypt) return line;
    const ring = new KeyRing({ key: AES_KEY, key_id: "k2" });
    return encryptLine(
      line,
      { v: 1, kid: "k2", id: event.id, chain, seq: integrity.seq },
      ring.current().key,
      new NonceSource(),
    );
  };

  test("a forged line with a recomputed hash at a taken position is named as forged", async () => {
    const lines = linesOf(readText(middle));
    const clear = variant.encrypt ? decryptForTest(lines[3]!) : lines[3]!;
    const i = (JSON.parse(clear) as AuditEvent).integrity!;
    const forged = forge(lines[3]!, i.seq, i.prev, i.chain);
    const r = await tamperLines(middle, (l) => [...l.slice(0, 3), forged, ...l.slice(4)]);
    expect(kinds(r)).toContain("forged");
    expect(find(r, (p) => p.kind === "forged")).toMatchObject({ file: middle, seq: i.seq });
  });

  test("an event appended after the final checkpoint is named as forged", async () => {
    const lines = linesOf(readText(tailFile));
    const last = lines[lines.length - 1]!;
    const clear = variant.encrypt ? decryptForTest(last) : last;
    const i = (JSON.parse(clear) as AuditEvent).integrity!;
    expect(i.seq).toBe(10_000);
    const forged = forge(last, i.seq + 1, i.hash, i.chain);
    const r = await tamperLines(tailFile, (l) => [...l, forged]);
    expect(kinds(r)).toEqual(["forged"]);
    expect(r.problems[0]).toMatchObject({ file: tailFile, seq: 10_001, line: lines.length + 1 });
  });

  test("swapping two lines is named as reordered", async () => {
    const r = await tamperLines(middle, (l) => [...l.slice(0, 7), l[8]!, l[7]!, ...l.slice(9)]);
    expect(kinds(r)).toEqual(["reordered"]);
    expect(r.problems[0]).toMatchObject({ file: middle, line: 8 });
  });

  test("cutting the tail by k lines is reported as truncated against the last checkpoint", async () => {
    const r = await tamperLines(tailFile, (l) => l.slice(0, -5));
    expect(r.ok).toBe(false);
    const cut = find(r, (p) => p.kind === "truncated");
    expect(cut).toMatchObject({ toSeq: 10_000 });
    expect(kinds(r).every((k) => k === "truncated" || k === "deleted")).toBe(true);
  });

  test("cutting a file mid-line names the file and the line", async () => {
    const text = readText(tailFile);
    const n = linesOf(text).length;
    const r = await withTampered(
      [tailFile],
      () => writeText(tailFile, text.slice(0, text.length - 40)),
      () => store.verify(),
    );
    expect(r.ok).toBe(false);
    expect(find(r, (p) => p.kind === "truncated" && p.file === tailFile && p.line === n)).toBeDefined();
  });

  test("deleting a whole rotated file is named as a missing file and the events it held", async () => {
    const held = linesOf(readText(middle)).map(seqOf);
    const r = await withTampered(
      [middle],
      () => unlinkSync(middle),
      () => store.verify(),
    );
    // the rotation numbering (.1 and .3 are there) says which file is gone and what it held
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({
      kind: "missing-file",
      file: basename(middle),
      chain: expect.any(String),
      seq: held[0],
      toSeq: held[held.length - 1],
      count: held.length,
    });
    expect(r.problems[0]!.message).toContain(
      `${basename(middle)}: missing (the rotation sequence of ${basename(middle).replace(/\.2(\.gz)?$/, "")} has .`,
    );
    expect(r.problems[0]!.message).toContain(`it held ${held.length} events of chain `);
  });

  test("an edited checkpoint is named: file and line", async () => {
    const cp = join(tmp.dir, "checkpoints");
    const file = dataFilesIn(cp)[0]!;
    const r = await withTampered(
      [file],
      () => {
        const lines = linesOf(readFileSync(file, "utf8"));
        lines[2] = lines[2]!.replace(/"seq":(\d+)/, (_, n: string) => `"seq":${Number(n) + 1}`);
        writeFileSync(file, `${lines.join("\n")}\n`);
      },
      () => store.verify(),
    );
    expect(find(r, (p) => p.kind === "bad-signature")).toMatchObject({ file, line: 3 });
    expect(r.ok).toBe(false);
  });

  test("deleted last checkpoints leave the tail unverifiable, never intact", async () => {
    const file = dataFilesIn(join(tmp.dir, "checkpoints"))[0]!;
    // the last two lines: the checkpoint at 10,000 and the final one at close
    const r = await withTampered(
      [file],
      () => writeFileSync(file, `${linesOf(readFileSync(file, "utf8")).slice(0, -2).join("\n")}\n`),
      () => store.verify(),
    );
    expect(r).toMatchObject({ ok: false, status: "unverifiable" });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ kind: "unverifiable", seq: 9_001, toSeq: 10_000, count: 1000 });
  });

  test("verifying with the wrong signing key is named as wrong-key", async () => {
    const signing =
      variant.algorithm === "hmac-sha256"
        ? { ...store.config.security.signing, secret_key: "another-secret-of-enough-length" }
        : {
            ...store.config.security.signing,
            private_key: undefined,
            public_key: generateKeyPairSync("ed25519")
              .publicKey.export({ format: "pem", type: "spki" })
              .toString(),
          };
    const r = await store.verify({ signing });
    expect(r.ok).toBe(false);
    expect(kinds(r)).toEqual(["wrong-key"]);
  });

  if (variant.encrypt)
    test("a wrong or missing decryption key is named by its key id", async () => {
      const wrong = await store.verify({
        encryption: {
          enabled: true,
          key: "33".repeat(32),
          key_id: "k2",
          previous_keys: { k1: AES_KEY_OLD },
          clear_fields: [],
        },
      });
      expect(kinds(wrong)).toEqual(["wrong-key"]);
      expect(wrong.problems[0]).toMatchObject({ keyId: "k2" });
      expect(wrong.problems[0]!.message).toContain('"k2"');
      const missing = await store.verify({
        encryption: { enabled: true, key: "44".repeat(32), key_id: "k3", clear_fields: [] },
      });
      expect(find(missing, (p) => p.kind === "wrong-key" && p.keyId === "k2")?.message).toContain('"k2"');
    });
});

function dataFilesIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith(".jsonl") && n !== "retention.jsonl")
    .sort()
    .map((n) => join(dir, n));
}

const opener = createLineOpener({ key: AES_KEY, key_id: "k2", previous_keys: { k1: AES_KEY_OLD } });
function decryptForTest(line: string): string {
  return opener(line);
}
