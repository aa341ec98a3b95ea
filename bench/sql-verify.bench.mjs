/**
 * Verify on database rows (issue 5), compared in the same run with its reference: the same
 * events verified from the file store. One engine writes N signed events to a file backend
 * and to SQLite, PostgreSQL and MariaDB backends at once (checkpoints in the file store);
 * then `engine.verify()` reads every backend, and each one's rate comes from the progress
 * callback (time between the last file and each table).
 *
 *   node --import tsx bench/sql-verify.bench.mjs [events] [--encrypted]
 *
 * `--encrypted` turns on encryption at rest: every backend holds envelopes, so the figures
 * include decrypting each record (the file store stays the reference).
 *
 * PostgreSQL and MariaDB are those of test/conformance/sql-servers.ts (loopback); their
 * tables are dropped at the end. Durability is `none`: the write is not what is measured.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { AuditEngine } from "../src/engine.ts";
import { dropTable, MARIADB, POSTGRES } from "../test/conformance/sql-servers.ts";
import { makeIntegrityInput } from "./event.mjs";

const args = process.argv.slice(2);
const ENCRYPTED = args.includes("--encrypted");
const N = Number(args.find((a) => !a.startsWith("--")) ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), "vigil-sql-verify-bench-"));
const table = `bench_verify_${process.pid}`;
const config = {
  core: { application_name: "bench" },
  storage: {
    backends: [
      { type: "file", name: "file", directory: join(dir, "files") },
      {
        type: "database",
        name: "sqlite",
        connection: { dialect: "sqlite", filename: join(dir, "audit.db") },
        table_name: table,
      },
      { type: "database", name: "postgresql", connection: POSTGRES, table_name: table },
      { type: "database", name: "mariadb", connection: MARIADB, table_name: table },
    ],
  },
  performance: {
    async: { enabled: true, queue_size: 1_000_000 },
    batching: { batch_size: 1000 },
    durability: "none",
  },
  security: {
    signing: { enabled: true, secret_key: "bench-secret-0123456789abcdef", checkpoint_every: 10_000 },
    encryption: ENCRYPTED
      ? { enabled: true, key: "ab".repeat(32), key_id: "bench", clear_fields: ["action.category"] }
      : { enabled: false },
  },
};

const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(
  `vigil SQL verify bench: ${fmt(N)} events${ENCRYPTED ? ", encrypted" : ""}, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
try {
  const writer = new AuditEngine({ config, env: {} });
  for (let i = 0; i < N; i++) {
    writer.log(makeIntegrityInput(i));
    if (i % 10_000 === 9_999) await writer.flush();
  }
  await writer.close();

  const best = new Map();
  for (let round = 0; round < 3; round++) {
    const reader = new AuditEngine({ config, env: {}, readOnly: true });
    const marks = [];
    const t0 = performance.now();
    const result = await reader.verify({ onProgress: (p) => marks.push({ at: performance.now(), ...p }) });
    await reader.close();
    if (!result.ok)
      throw new Error(`bench store does not verify: ${JSON.stringify(result.problems.slice(0, 3))}`);
    // the file store's files come first, then one mark per table
    const tables = marks.filter((m) => m.current.includes(table));
    const lastFile = marks[marks.length - tables.length - 1];
    const rates = [["files (reference)", N / (((lastFile?.at ?? t0) - t0) / 1000)]];
    let prev = lastFile?.at ?? t0;
    for (const m of tables) {
      rates.push([m.current.split(":")[0], N / ((m.at - prev) / 1000)]);
      prev = m.at;
    }
    for (const [name, rate] of rates) best.set(name, Math.max(best.get(name) ?? 0, rate));
  }
  console.log("\nverify (best of 3, events/s)");
  for (const [name, rate] of best) console.log(`  ${name.padEnd(18)} ${fmt(rate).padStart(10)}`);
  console.log(`\nrss after verify: ${fmt(process.memoryUsage().rss / 1e6)} MB`);
} finally {
  await dropTable("postgresql", table).catch(() => undefined);
  await dropTable("mysql", table).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
