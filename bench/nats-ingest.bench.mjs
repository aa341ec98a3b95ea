// Issue 14's transport benchmark, in one run on this machine:
//   1. four producer engines (each its own chain, signed, batches of 100) publish
//      BENCH_EVENTS events to a fresh stream on NATS (127.0.0.1:4222): publish rate, every
//      event acknowledged by the stream;
//   2. then two `vigil ingest` worker processes carry them into a fresh PostgreSQL table:
//      ingest rate from the first row to the last (their start-up excluded);
//   3. the reference: the same rows (the central table's columns, exported with COPY TO)
//      loaded with raw `COPY … FROM` (psql \copy) into an identical empty table.
//   4. where the gap lies: the same rows in batches of BATCH, one commit each, through
//      (a) vigil's `unnest` insert (the statement every ingest batch runs) and (b) the
//      candidate bulk path, `COPY` into an unindexed temporary staging table then
//      `INSERT … SELECT … ON CONFLICT (id) DO NOTHING`, each into a fresh identical table,
//      alternated over ROUNDS rounds (BENCH_ROUNDS, default 2).
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
import { connectPostgres } from "../src/storage/sql/postgres.ts";
import { median } from "./stats.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 40_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
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

  // 4. the insert statements alone, same rows, batches of BATCH, one commit each
  const lines = (await db.query(`SELECT line FROM "${table}" ORDER BY row_id`)).rows.map((r) => r.line);
  const records = lines.map((line) => ({ event: JSON.parse(line), line }));
  const chunkFiles = [];
  for (let i = 0; i * BATCH < lines.length; i++) {
    const f = join(dir, `chunk${i}.copy`);
    psql(
      `\\copy (SELECT ${cols.join(", ")} FROM "${table}" ORDER BY row_id LIMIT ${BATCH} OFFSET ${i * BATCH}) TO '${f}'`,
    );
    chunkFiles.push(f);
  }
  const extra = [];
  const fresh = async (name) => {
    await db.query(`CREATE TABLE "${name}" (LIKE "${table}" INCLUDING ALL)`);
    extra.push(name);
    return name;
  };
  const viaUnnest = async (name) => {
    const { client, dialect } = await connectPostgres(
      { dialect: "postgresql", host: PG.host, port: PG.port, database: PG.database, username: PG.user },
      name,
      {},
      () => undefined,
    );
    try {
      const t = performance.now();
      for (let i = 0; i < records.length; i += BATCH) {
        const r = dialect.insert(records.slice(i, i + BATCH));
        await client.transaction((s) => s.run(r));
      }
      return performance.now() - t;
    } finally {
      await client.close();
    }
  };
  const viaStaging = (name) => {
    const script = join(dir, `${name}.sql`);
    // no key, no index, no constraint: COPY only appends
    const steps = [
      `CREATE TEMP TABLE vigil_staging AS SELECT ${cols.join(", ")} FROM "${table}" WITH NO DATA;`,
    ];
    for (const f of chunkFiles) {
      steps.push(`\\copy vigil_staging (${cols.join(", ")}) FROM '${f}'`);
      steps.push(
        `INSERT INTO "${name}" (${cols.join(", ")}) SELECT ${cols.join(", ")} FROM vigil_staging ON CONFLICT (id) DO NOTHING;`,
        "TRUNCATE vigil_staging;",
      );
    }
    writeFileSync(script, `${steps.join("\n")}\n`);
    const t = performance.now();
    const r = spawnSync(
      "psql",
      [
        "-h",
        PG.host,
        "-p",
        String(PG.port),
        "-U",
        PG.user,
        "-d",
        PG.database,
        "-qAt",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        script,
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    return performance.now() - t;
  };
  const unnestMs = [];
  const stagingMs = [];
  for (let round = 0; round < ROUNDS; round++) {
    const a = await fresh(`${table}_u${round}`);
    const b = await fresh(`${table}_s${round}`);
    if (round % 2 === 0) {
      unnestMs.push(await viaUnnest(a));
      stagingMs.push(viaStaging(b));
    } else {
      stagingMs.push(viaStaging(b));
      unnestMs.push(await viaUnnest(a));
    }
    if ((await count(a)) !== lines.length || (await count(b)) !== lines.length)
      throw new Error("a path did not store every row");
  }
  for (const t of extra) await db.query(`DROP TABLE IF EXISTS "${t}"`);

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
  const rate = (ms) => (lines.length / (median(ms) / 1000)).toFixed(0);
  const spread = (ms) => ms.map((m) => (lines.length / (m / 1000)).toFixed(0)).join(", ");
  console.log(
    `  insert statements alone, batches of ${BATCH}, one commit each (median of ${ROUNDS}; each run):`,
  );
  console.log(`    vigil unnest insert                 ${rate(unnestMs)} ev/s (${spread(unnestMs)})`);
  console.log(`    COPY to staging + INSERT … SELECT   ${rate(stagingMs)} ev/s (${spread(stagingMs)})`);
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
