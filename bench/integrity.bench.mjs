/**
 * Integrity benchmark (issue 5): what chain hashing (and encryption, and erasure) costs the writer,
 * compared in the same run with the unsigned pipeline, and how fast `verify` reads a store.
 *
 *   node --import tsx bench/integrity.bench.mjs [events]
 *
 * Targets: signing costs the writer at most 25% of its throughput; verify reads at least
 * 200,000 events/s from plain files. Durability is `none` so the figures measure CPU, not fsync.
 *
 * The writer is measured two ways: a burst (all events logged in one synchronous loop, so
 * the queue holds them all before the first batch is written) and steady (1,000 events per
 * turn of the event loop, so batches are written while events arrive, as in a server).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/index.ts";
import { AuditEngine } from "../src/engine.ts";
import { verifyStore } from "../src/integrity/verify.ts";
import { FileBackend } from "../src/storage/file/file-backend.ts";
import { makeIntegrityInput } from "./event.mjs";

const N = Number(process.argv[2] ?? 100_000);
const SECRET = "bench-secret-0123456789abcdef";
const KEY = "ab".repeat(32);

function configFor(dir, { sign, encrypt, erase }) {
  return {
    core: { application_name: "bench" },
    storage: {
      backends: [
        { type: "file", directory: dir, rotation: { enabled: true, when: "size", max_bytes: 20_000_000 } },
      ],
    },
    performance: {
      async: { enabled: true, queue_size: 1_000_000 },
      batching: { batch_size: 500 },
      durability: "none",
    },
    security: {
      signing: sign ? { enabled: true, secret_key: SECRET, checkpoint_every: 10_000 } : { enabled: false },
      encryption: encrypt ? { enabled: true, key: KEY, key_id: "k1" } : { enabled: false },
    },
    // erasure (crypto-shredding): the 100 actors' fields sealed under a key each
    compliance: { gdpr: { erasure: erase ? { enabled: true, key: KEY } : { enabled: false } } },
  };
}

async function write(mode, steady = false) {
  const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
  const input = configFor(dir, mode);
  const config = loadConfig(input, { env: {} });
  const engine = new AuditEngine({ config: input, env: {} });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    if (steady && i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
    engine.log(makeIntegrityInput(i));
  }
  await engine.close();
  const ms = performance.now() - t0;
  return { dir, config, rate: N / (ms / 1000) };
}

async function verify(config) {
  const b = config.storage.backends[0];
  const backend = new FileBackend({ config: b, application: "bench" });
  const t0 = performance.now();
  const r = await verifyStore({
    backend,
    signing: config.security.signing,
    encryption: config.security.encryption,
  });
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`bench store does not verify: ${JSON.stringify(r.problems.slice(0, 3))}`);
  return r.events / (ms / 1000);
}

const fmt = (n) => Math.round(n).toLocaleString("en-US");
const best = (xs) => Math.max(...xs);
const runs = {
  unsigned: [],
  signed: [],
  "signed+encrypted": [],
  "signed+erasure": [],
  "unsigned, steady": [],
  "signed, steady": [],
};
const verifyRates = { plain: [], encrypted: [] };
console.log(
  `vigil integrity bench: ${fmt(N)} events per run, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
for (let round = 0; round < 3; round++) {
  for (const [name, mode] of [
    ["unsigned", { sign: false, encrypt: false }],
    ["signed", { sign: true, encrypt: false }],
    ["signed+encrypted", { sign: true, encrypt: true }],
    ["signed+erasure", { sign: true, encrypt: false, erase: true }],
  ]) {
    const { dir, config, rate } = await write(mode);
    runs[name].push(rate);
    if (name === "signed") verifyRates.plain.push(await verify(config));
    if (name === "signed+encrypted") verifyRates.encrypted.push(await verify(config));
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [name, mode] of [
    ["unsigned, steady", { sign: false }],
    ["signed, steady", { sign: true }],
  ]) {
    const { dir, rate } = await write(mode, true);
    runs[name].push(rate);
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log("\nwriter throughput (best of 3, events/s, engine → file backend, durability none)");
for (const [name, xs] of Object.entries(runs)) {
  const base = best(name.endsWith("steady") ? runs["unsigned, steady"] : runs.unsigned);
  const cost = name.startsWith("unsigned")
    ? ""
    : `  cost ${(((base - best(xs)) / base) * 100).toFixed(1)}%${name.startsWith("signed") && !name.includes("+") ? " (target ≤ 25%)" : ""}`;
  console.log(`  ${name.padEnd(18)} ${fmt(best(xs)).padStart(10)}${cost}`);
}
console.log("\nverify (best of 3, events/s)");
console.log(`  plain files        ${fmt(best(verifyRates.plain)).padStart(10)}  (target ≥ 200,000)`);
console.log(`  encrypted files    ${fmt(best(verifyRates.encrypted)).padStart(10)}`);
