// Issue 14's transport benchmark, in one run on this machine:
//   1. four producer engines (each its own chain, signed, batches of 100) publish
//      BENCH_EVENTS events to a fresh stream on NATS (127.0.0.1:4222): publish rate, every
//      event acknowledged by the stream;
//   2. then two `vigil ingest` worker processes carry them into a fresh PostgreSQL table:
//      ingest rate from the first row to the last (their start-up excluded);
//   3. the reference: the same rows (the central table's columns, exported with COPY TO)
//      loaded with raw `COPY … FROM` (psql \copy) into an identical empty table.
// Reports the ingest rate as a ratio of the raw COPY rate (issue 14 target: ≥ 0.7x).
//
// Run: node --import tsx bench/nats-ingest.bench.mjs   (BENCH_EVENTS, default 40,000;
//      BENCH_BATCH, ingest --batch-size, default 2,000 as the command)
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { AuditEngine } from "../src/engine.ts";

const N = Number(process.env.BENCH_EVENTS ?? 40_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);
const PRODUCERS = 4;
const WORKERS = 2;
const NATS = "nats://127.0.0.1:4222";
const PG = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" };
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const tag = randomBytes(4).toString("hex");
const stream = `BENCH_${tag}`;
const prefix = `bench${tag}`;
const table = `nats_bench_${tag}`;
const copyTable = `${table}_copy`;
const dir = mkdtempSync(join(tmpdir(), "vigil-nats-bench-"));
const secret = "a-bench-secret-of-enough-length-0123456789";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const db = new pg.Client(PG);
await db.connect();
const count = async (t) =>
  Number((await db.query(`SELECT COUNT(*) AS n FROM "${t}"`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
const workers = [];
try {
  writeFileSync(
    join(dir, "central.yaml"),
    `vigil:
  storage:
    backends:
      - type: database
        connection: { dialect: postgresql, host: ${PG.host}, port: ${PG.port}, database: ${PG.database}, username: ${PG.user} }
        table_name: ${table}
  ingest:
    source: { servers: ["${NATS}"], stream: ${stream}, subject_prefix: ${prefix} }
  security:
    signing: { enabled: true, algorithm: hmac-sha256, secret_key: "${secret}" }
`,
  );
  // 1. publish, no worker running yet
  const t0 = performance.now();
  let firstRowAt;
  let maxLag = 0;
  const nc = await connect({ servers: NATS });
  const jsm = await jetstreamManager(nc);
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const n = await count(table);
      if (n > 0 && firstRowAt === undefined) firstRowAt = performance.now();
      const info = await jsm.consumers.info(stream, "vigil-ingest").catch(() => undefined);
      if (info) maxLag = Math.max(maxLag, info.num_pending + info.num_ack_pending);
      if (process.env.BENCH_VERBOSE && firstRowAt)
        process.stderr.write(`${((performance.now() - firstRowAt) / 1000).toFixed(1)} s: ${n} rows\n`);
      if (n >= N) return performance.now();
      await sleep(50);
    }
  })();
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, p) => {
      const engine = new AuditEngine({
        config: {
          core: { application_name: `producer-${p}` },
          storage: { backends: [{ type: "nats", servers: [NATS], stream, subject_prefix: prefix }] },
          performance: { batching: { batch_size: 100 } },
          security: { signing: { enabled: true, algorithm: "hmac-sha256", secret_key: secret } },
        },
      });
      for (let i = 0; i < N / PRODUCERS; i++) {
        engine.log({
          action: "ORDER_PLACED",
          category: "SHOP",
          actor: { id: `u${i % 500}`, username: `user${i % 500}` },
          params: { order: i, amount: (i * 7) % 1000, currency: "EUR" },
        });
        if (i % 1000 === 999) await engine.flush();
      }
      await engine.close();
      const m = engine.metrics();
      if (m.failed > 0 || m.dropped > 0)
        throw new Error(`producer ${p}: ${m.failed} failed, ${m.dropped} dropped`);
    }),
  );
  const published = performance.now();
  // 2. the workers start on a full stream: the ingest rate is theirs alone
  for (let i = 0; i < WORKERS; i++) {
    const child = spawn(
      process.execPath,
      [
        "--import",
        import.meta.resolve("tsx"),
        join(ROOT, "src/cli/bin.ts"),
        "ingest",
        "--config",
        "central.yaml",
        "--batch-size",
        String(BATCH),
      ],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (s) => {
      err += s;
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[worker ${i}] ${s}`);
    });
    workers.push({ child, err: () => err });
  }
  while (!workers.every((w) => w.err().includes("ingesting stream"))) {
    if (workers.some((w) => w.child.exitCode !== null))
      throw new Error(workers.map((w) => w.err()).join("\n"));
    await sleep(100);
  }
  const done = await watcher;
  watching = false;
  await nc.close();
  const publishRate = N / ((published - t0) / 1000);
  const ingestRate = N / ((done - firstRowAt) / 1000);
  const rows = await count(table);
  const distinct = Number((await db.query(`SELECT COUNT(DISTINCT id) AS n FROM "${table}"`)).rows[0].n);

  // 3. raw COPY of the same rows into an identical table
  const file = join(dir, "rows.copy");
  await db.query(`CREATE TABLE "${copyTable}" (LIKE "${table}" INCLUDING ALL)`);
  const cols = (
    await db.query(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND is_identity = 'NO' AND is_generated = 'NEVER' ORDER BY ordinal_position`,
      [table],
    )
  ).rows.map((r) => `"${r.column_name}"`);
  const psql = (command) => {
    const r = spawnSync(
      "psql",
      ["-h", PG.host, "-p", String(PG.port), "-U", PG.user, "-d", PG.database, "-qAt", "-c", command],
      {
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(r.stderr);
  };
  psql(`\\copy "${table}" (${cols.join(", ")}) TO '${file}'`);
  const c0 = performance.now();
  psql(`\\copy "${copyTable}" (${cols.join(", ")}) FROM '${file}'`);
  const copyRate = N / ((performance.now() - c0) / 1000);
  const copied = await count(copyTable);

  const load = (await import("node:os")).loadavg()[0].toFixed(1);
  console.log(
    `${N} events, ${PRODUCERS} producers → NATS → ${WORKERS} vigil ingest (batch ${BATCH}) → PostgreSQL (load ${load})`,
  );
  console.log(`  publish (4 producers, acknowledged)  ${publishRate.toFixed(0)} ev/s`);
  console.log(
    `  ingest (first row → last row)         ${ingestRate.toFixed(0)} ev/s; ${rows} rows, ${distinct} distinct ids; lag at start ${maxLag}`,
  );
  console.log(`  raw COPY of the same ${copied} rows     ${copyRate.toFixed(0)} ev/s`);
  console.log(`  ingest / COPY: ${(ingestRate / copyRate).toFixed(2)}x (target ≥ 0.7x)`);
} finally {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGTERM");
  await Promise.all(
    workers.map((w) => (w.child.exitCode === null ? new Promise((r) => w.child.once("exit", r)) : undefined)),
  );
  await db.query(`DROP TABLE IF EXISTS "${copyTable}"`).catch(() => undefined);
  await db.query(`DROP TABLE IF EXISTS "${table}" CASCADE`).catch(() => undefined);
  await db.query(`DROP TABLE IF EXISTS "${table}_checkpoints" CASCADE`).catch(() => undefined);
  await db.query(`DROP TABLE IF EXISTS "${table}_migrations"`).catch(() => undefined);
  await db.query(`DROP FUNCTION IF EXISTS "${table}_guard"()`).catch(() => undefined);
  await db.query(`DROP FUNCTION IF EXISTS "${table}_checkpoints_guard"()`).catch(() => undefined);
  await db.end();
  const nc = await connect({ servers: NATS });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  await nc.close();
  rmSync(dir, { recursive: true, force: true });
}
