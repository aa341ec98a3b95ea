/**
 * Test helpers for the integrity suite: a signed (optionally encrypted, optionally
 * gzipped) file store written through the real engine, and tools to tamper with it and
 * put it back.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { loadConfig } from "../../src/config/index.js";
import type { ResolvedConfig, VigilConfig } from "../../src/config/types.js";
import { createEncryptionStage } from "../../src/crypto/stage.js";
import { AuditEngine } from "../../src/engine.js";
import type { PendingOptions } from "../../src/integrity/pending.js";
import { createIntegrityStage } from "../../src/integrity/stage.js";
import { type VerifyResult, verifyStore } from "../../src/integrity/verify.js";
import type { BatchStage } from "../../src/pipeline/stage.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";

export const HMAC_SECRET = "a-test-secret-of-enough-length-0123456789";
export const AES_KEY = "11".repeat(32);
export const AES_KEY_OLD = "22".repeat(32);
const pair = generateKeyPairSync("ed25519");
export const ED_PRIVATE = pair.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
export const ED_PUBLIC = pair.publicKey.export({ format: "pem", type: "spki" }).toString();

export interface StoreOptions {
  readonly dir: string;
  readonly algorithm?: "hmac-sha256" | "ed25519";
  readonly encrypt?: boolean;
  readonly gzip?: boolean;
  readonly events?: number;
  readonly maxBytes?: number;
  /** `rotation.backup_count` (default 0: keep every file). */
  readonly backupCount?: number;
  readonly checkpointEvery?: number;
  readonly witness?: string;
  /** Time of the first event (one event a second after it). Default 2026-03-01T22:00Z. */
  readonly start?: number;
  /** Leave the engine open (no final checkpoint): returns it. */
  readonly keepOpen?: boolean;
}

export interface Store {
  readonly dir: string;
  readonly config: ResolvedConfig;
  readonly backend: FileBackend;
  readonly engine: AuditEngine;
  verify(extra?: {
    signing?: ResolvedConfig["security"]["signing"];
    encryption?: ResolvedConfig["security"]["encryption"];
    witness?: string;
    pending?: PendingOptions | false;
  }): Promise<VerifyResult>;
}

/** The configuration of a test store. */
export function storeConfig(o: StoreOptions): VigilConfig {
  const algorithm = o.algorithm ?? "hmac-sha256";
  return {
    core: { application_name: "tamper" },
    storage: {
      backends: [
        {
          type: "file",
          directory: o.dir,
          filename_pattern: "audit_{category}_{date}.log",
          rotation: {
            enabled: true,
            when: "size",
            max_bytes: o.maxBytes ?? 300_000,
            compress: false,
            backup_count: o.backupCount ?? 0,
          },
        },
      ],
    },
    processing: { sanitization: { enabled: false } },
    performance: { async: { enabled: true }, batching: { batch_size: 250 } },
    security: {
      signing:
        algorithm === "hmac-sha256"
          ? { enabled: true, algorithm, secret_key: HMAC_SECRET, checkpoint_every: o.checkpointEvery ?? 1000 }
          : {
              enabled: true,
              algorithm,
              private_key: ED_PRIVATE,
              checkpoint_every: o.checkpointEvery ?? 1000,
            },
      encryption: o.encrypt
        ? { enabled: true, key: AES_KEY, key_id: "k2", previous_keys: { k1: AES_KEY_OLD } }
        : { enabled: false },
    },
  };
}

/** Events over two UTC days and three categories, in time order. */
export function logEvents(
  engine: AuditEngine,
  n: number,
  start = Date.parse("2026-03-01T22:00:00.000Z"),
): void {
  const cats = ["AUTHENTICATION", "DATABASE", "API"];
  for (let i = 0; i < n; i++) {
    engine.log({
      action: i % 7 === 0 ? "LOGIN" : "QUERY",
      category: cats[i % 3]!,
      timestamp: start + i * 1000,
      actor: { id: String(i % 50), username: `user${i % 50}`, ip: "10.0.0.7" },
      resource: { type: "table", id: String(i), name: "orders" },
      metadata: { i, note: "é ✓ \u2028 line", nested: { z: 1, a: [1, 2.5, "x"] } },
    });
  }
}

/** Write a store through the engine with the integrity (and encryption) stages. */
export async function buildStore(o: StoreOptions): Promise<Store> {
  const input = storeConfig(o);
  const config = loadConfig(input, { env: {} });
  const stages: BatchStage[] = [];
  const integrity = createIntegrityStage(config, o.witness ? { witness: o.witness } : {});
  if (integrity) stages.push(integrity);
  const enc = createEncryptionStage(config);
  if (enc) stages.push(enc);
  const engine = new AuditEngine({ config: input, env: {}, stages });
  logEvents(engine, o.events ?? 10_000, o.start);
  if (o.keepOpen) await engine.flush();
  else await engine.close();
  if (o.gzip) gzipRotated(o.dir);
  const backendConfig = config.storage.backends[0]!;
  if (!backendConfig.enabled || backendConfig.type !== "file") throw new Error("file backend expected");
  const backend = new FileBackend({ config: backendConfig, application: "tamper" });
  return {
    dir: o.dir,
    config,
    backend,
    engine,
    verify: (extra = {}) =>
      verifyStore({
        backend,
        signing: extra.signing ?? config.security.signing,
        encryption: extra.encryption ?? config.security.encryption,
        ...(extra.witness ? { witness: extra.witness } : {}),
        ...(extra.pending !== undefined ? { pending: extra.pending } : {}),
      }),
  };
}

/** Gzip every rotated (`.N`) file, as compression of old files would. */
export function gzipRotated(dir: string): void {
  for (const name of readdirSync(dir)) {
    if (!/\.\d+$/.test(name)) continue;
    const path = join(dir, name);
    writeFileSync(`${path}.gz`, gzipSync(readFileSync(path)));
    unlinkSync(path);
  }
}

/** The data files of a store, sorted by name. */
export function dataFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".log") || /\.log\.\d+(\.gz)?$/.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** A file's text (gunzipped when needed). */
export function readText(path: string): string {
  const buf = readFileSync(path);
  return path.endsWith(".gz") ? gunzipSync(buf).toString("utf8") : buf.toString("utf8");
}

/** Replace a file's text (gzipped when needed). */
export function writeText(path: string, text: string): void {
  writeFileSync(path, path.endsWith(".gz") ? gzipSync(Buffer.from(text, "utf8")) : text);
}

/** Replace a file's bytes (of its decompressed content: gzipped when needed). */
export function writeBytes(path: string, bytes: Buffer): void {
  writeFileSync(path, path.endsWith(".gz") ? gzipSync(bytes) : bytes);
}

/** Change a file, run `fn`, and put the file back exactly as it was. */
export async function withTampered<T>(
  paths: readonly string[],
  tamper: () => void,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = paths.map((p) => (existsSync(p) ? readFileSync(p) : undefined));
  try {
    tamper();
    return await fn();
  } finally {
    paths.forEach((p, i) => {
      const b = saved[i];
      if (b) writeFileSync(p, b);
      else if (existsSync(p)) unlinkSync(p);
    });
  }
}

/** Lines of a text without the final empty one. */
export function linesOf(text: string): string[] {
  const l = text.split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
}
