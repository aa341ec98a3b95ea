// Issues 4 and 13's insert benchmark: events per second into each SQL dialect, compared in
// the same run with the raw driver inserting the same rows with the same statement form
// (PostgreSQL one `INSERT … SELECT FROM unnest(…)`, MariaDB multi-row `VALUES` of up to
// 1,000 rows, SQLite one prepared single-row statement; the same conflict clause; one
// transaction per commit) into an identical table (created by vigil's migration: same
// indexes and triggers). The raw side gets its column values precomputed outside the
// timing; vigil derives them from the events inside it. Target: vigil at least 0.8x raw.
//
//   sustained: an engine (sanitization on, durability batch, batch_size BENCH_BATCH) logs
//     BENCH_EVENTS events in bursts of 1,000, pausing while its queue holds more than 5,000
//     (deep but never full: nothing dropped), and flushes; the engine hands a deep queue
//     over as one batch of several batch_sizes (up to a quarter of queue_size) and batches
//     that queue behind a commit go in the next one, so a commit carries more than a batch.
//     The raw driver then inserts as many rows in commits of the mean size vigil's commits
//     had. Client CPU time per event is printed for both (the server's is in neither).
//   direct: `backend.write` of one batch after another (BENCH_BATCH rows, then 1,000),
//     each awaited, vs the raw driver at the same batch size.
//   postgresql forms (PostgreSQL only, raw driver): multi-row `VALUES` vs `unnest`, at
//     the sustained commit size.
//
// Rounds alternate vigil and raw on fresh tables. PostgreSQL and MariaDB are the servers
// on this machine (127.0.0.1, database `test`); SQLite writes a temporary file.
//
// Run: node --import tsx bench/sql-insert.bench.mjs
//      (BENCH_EVENTS events per round, default 20,000; BENCH_BATCH rows per batch,
//      default 100 = the engine's batch_size; BENCH_ROUNDS, default 3;
//      BENCH_DIALECTS=sqlite,postgresql,mysql; BENCH_DIRECT=0 runs the sustained
//      comparison alone.)
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep, setImmediate as tick } from "node:timers/promises";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { AuditEngine } from "../src/engine.ts";
import { createSqlBackend } from "../src/storage/sql/index.ts";
import { BASE_COLUMNS, baseRow, derivedName } from "../src/storage/sql/schema.ts";
import { inBatches, makeLogInput, makeRecords } from "./event.mjs";
import { median } from "./stats.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DIALECTS = (process.env.BENCH_DIALECTS ?? "sqlite,postgresql,mysql").split(",");
/** BENCH_DIRECT=0: the sustained comparison only (no direct writes, no PostgreSQL forms). */
const DIRECT = process.env.BENCH_DIRECT !== "0";

const PG = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" };
const MY = { host: "127.0.0.1", port: 3306, database: "test", user: "root", password: "" };
const dir = mkdtempSync(join(tmpdir(), "vigil-sql-bench-"));

const records = (round) => makeRecords(N, round * N);

function connection(dialect) {
  if (dialect === "sqlite") return { dialect, filename: join(dir, "bench.db") };
  if (dialect === "postgresql")
    return { dialect, host: PG.host, port: PG.port, database: PG.database, username: PG.user };
  return {
    dialect,
    host: MY.host,
    port: MY.port,
    database: MY.database,
    username: MY.user,
    password: MY.password,
  };
}

function backendConfig(dialect, table) {
  return {
    type: "database",
    name: "bench",
    enabled: true,
    connection: connection(dialect),
    table_name: table,
  };
}

function backend(dialect, table) {
  return createSqlBackend(backendConfig(dialect, table));
}

/** PostgreSQL's array type of each column and the line, as the backend's unnest binds them. */
const PG_TYPES = [
  "uuid",
  "timestamptz",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "text",
  "boolean",
  "text",
  "int8",
  "text",
  "text",
  "text",
];

/** A raw-driver writer for one table: the same statement shape vigil uses. */
async function rawWriter(dialect, table, form = "unnest") {
  if (dialect === "sqlite") {
    const db = new Database(join(dir, "bench.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    const cols = [...BASE_COLUMNS, "event"];
    const st = db.prepare(
      `INSERT INTO "${table}" (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")}) ON CONFLICT (id) DO NOTHING`,
    );
    const insert = db.transaction((rows) => {
      for (const row of rows) st.run(row);
    });
    return { write: async (rows) => insert(rows), close: async () => db.close() };
  }
  if (dialect === "postgresql") {
    const client = new pg.Client(PG);
    await client.connect();
    const names = [...BASE_COLUMNS, "line"];
    const unnest = `INSERT INTO "${table}" (${[...names, "event"].join(", ")}) SELECT ${names.join(", ")}, line::jsonb FROM unnest(${names.map((_, i) => `$${i + 1}::${PG_TYPES[i]}[]`).join(", ")}) AS u(${names.join(", ")}) ON CONFLICT (id) DO NOTHING`;
    const width = names.length;
    const texts = new Map();
    const values = (rows) => {
      let text = texts.get(rows.length);
      if (!text) {
        const tuples = rows.map((_, r) => {
          const p = Array.from({ length: width - 1 }, (_, i) => `$${r * width + i + 1}`);
          const line = `$${r * width + width}::text`;
          return `(${p.join(", ")}, ${line}, ${line}::jsonb)`;
        });
        text = `INSERT INTO "${table}" (${[...names, "event"].join(", ")}) VALUES ${tuples.join(", ")} ON CONFLICT (id) DO NOTHING`;
        texts.set(rows.length, text);
      }
      return text;
    };
    return {
      write: async (rows) => {
        if (form === "values") {
          // at most 1,000 rows per statement (65,535 bind parameters), one transaction
          await client.query("BEGIN");
          for (let i = 0; i < rows.length; i += 1000) {
            const part = rows.slice(i, i + 1000);
            await client.query(values(part), part.flat());
          }
          await client.query("COMMIT");
        } else {
          const arrays = names.map((_, c) => rows.map((r) => r[c]));
          await client.query(unnest, arrays);
        }
      },
      close: () => client.end(),
    };
  }
  const conn = await mysql.createConnection({ ...MY, charset: "utf8mb4" });
  const cols = [...BASE_COLUMNS, "event", "line"];
  const tuple = `(${cols.map(() => "?").join(", ")})`;
  // ts is DATETIME(3) on MariaDB (schema version 5): its text form, as vigil binds it
  const tsAt = cols.indexOf("ts");
  const bind = (row) => row.map((v, c) => (c === tsAt ? v.slice(0, 23).replace("T", " ") : v));
  return {
    write: async (rows) => {
      const insert = (part) =>
        conn.execute(
          `INSERT INTO \`${table}\` (${cols.join(", ")}) VALUES ${part.map(() => tuple).join(", ")} ON DUPLICATE KEY UPDATE id = id`,
          part.flatMap(bind),
        );
      if (rows.length <= 1000)
        await insert(rows); // one statement commits alone, as vigil's
      else {
        await conn.query("START TRANSACTION");
        for (let i = 0; i < rows.length; i += 1000) await insert(rows.slice(i, i + 1000));
        await conn.query("COMMIT");
      }
    },
    close: () => conn.end(),
  };
}

async function dropTable(dialect, table) {
  if (dialect === "sqlite") {
    const db = new Database(join(dir, "bench.db"));
    for (const t of [table, derivedName(table, "migrations"), derivedName(table, "guard")])
      db.exec(`DROP TABLE IF EXISTS "${t}"`);
    db.close();
  } else if (dialect === "postgresql") {
    const c = new pg.Client(PG);
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS "${table}" CASCADE`);
    await c.query(`DROP TABLE IF EXISTS "${derivedName(table, "checkpoints")}" CASCADE`);
    await c.query(`DROP TABLE IF EXISTS "${derivedName(table, "migrations")}"`);
    await c.query(`DROP FUNCTION IF EXISTS "${derivedName(table, "guard")}"()`);
    await c.query(`DROP FUNCTION IF EXISTS "${derivedName(table, "checkpoints_guard")}"()`);
    await c.end();
  } else {
    const c = await mysql.createConnection(MY);
    await c.query(`DROP TABLE IF EXISTS \`${table}\``);
    await c.query(`DROP TABLE IF EXISTS \`${derivedName(table, "checkpoints")}\``);
    await c.query(`DROP TABLE IF EXISTS \`${derivedName(table, "migrations")}\``);
    await c.end();
  }
}

/** Rows as the raw driver binds them, from stored records. */
function rawRows(dialect, list) {
  return list.map((r) => (dialect === "mysql" ? [...baseRow(r), r.line, null] : [...baseRow(r), r.line]));
}

/** This process's CPU time (user + system) since `c0`, in µs per event. */
function cpuPerEvent(c0, events) {
  const cpu = process.cpuUsage(c0);
  return (cpu.user + cpu.system) / events;
}

/** The raw side's CPU per event in its last measurement (the server's own CPU is not in it). */
let lastRawCpu = 0;

/** An engine logging N events through the backend: sanitization on, durability batch. */
async function measureEngine(dialect, table, round) {
  const b = backend(dialect, table);
  const engine = new AuditEngine({
    env: {},
    config: {
      core: { application_name: "traffictracer", version: "2.0.0", environment: "production" },
      // the backend is passed below (to read its commit counts); this one stays off
      storage: { backends: [{ ...backendConfig(dialect, table), enabled: false }] },
      processing: { sanitization: { enabled: true } },
      performance: {
        durability: "batch",
        batching: { enabled: true, batch_size: BATCH, batch_timeout_seconds: 1 },
      },
    },
    backends: [b],
  });
  await b.open();
  const inputs = Array.from({ length: N }, (_, i) => makeLogInput(round * N + i));
  const c0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i += 1000) {
    for (let j = i; j < i + 1000 && j < N; j++) engine.log(inputs[j]);
    await tick();
    // sustained, not overrun: keep the queue deep (half of queue_size) but never full
    while (engine.metrics().queue_depth > 5000) await sleep(1);
  }
  await engine.flush();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = cpuPerEvent(c0, N);
  const { commits, events } = b.commitStats();
  await engine.close();
  if (events !== N) throw new Error(`${dialect}: ${events} of ${N} events committed`);
  return { rate: N / seconds, perCommit: events / commits, cpu };
}

async function measureVigil(dialect, table, list, size) {
  const b = backend(dialect, table);
  await b.open();
  const parts = inBatches(list, size);
  const start = process.hrtime.bigint();
  for (const part of parts) await b.write(part, { sync: false });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await b.close();
  return list.length / seconds;
}

async function measureRaw(dialect, table, list, size, form) {
  const b = backend(dialect, table); // create the identical table, then leave it to the raw driver
  await b.open();
  await b.close();
  const rows = inBatches(rawRows(dialect, list), size);
  const writer = await rawWriter(dialect, table, form);
  const c0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  for (const part of rows) await writer.write(part);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lastRawCpu = cpuPerEvent(c0, list.length);
  await writer.close();
  return list.length / seconds;
}

const spread = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const fmt = (x) => Math.round(x).toLocaleString("en");
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");

/** Runs `sides` (name → measure(table, round)) alternately for ROUNDS rounds on fresh tables. */
async function alternate(dialect, sides) {
  const out = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  const names = Object.keys(sides);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const side of order) {
      const table = `sqlfast_bench_${side}_${process.pid}_${round}`;
      try {
        out[side].push(await sides[side](table, round));
      } finally {
        await dropTable(dialect, table);
      }
    }
  }
  return out;
}

function line(dialect, label, vigil, raw, target = 0.8) {
  const ratio = median(vigil) / median(raw);
  console.log(
    `${dialect.padEnd(10)} ${label.padEnd(26)} vigil ${fmt(median(vigil)).padStart(7)} ev/s (${spread(vigil)})   raw ${fmt(median(raw)).padStart(7)} (${spread(raw)})   ${ratio.toFixed(2)}x${target > 0 && ratio < target ? " (BELOW 0.8)" : ""}`,
  );
  return ratio >= target;
}

console.log(
  `SQL inserts: ${N} events per round, batch_size ${BATCH}, ${ROUNDS} rounds (median, spread), load average ${load()}`,
);
let failed = false;
try {
  for (const dialect of DIALECTS) {
    // sustained: the engine first, then the raw driver at the commit size it reached
    const engine = [];
    const cpu = { vigil: [], raw: [] };
    const sustained = await alternate(dialect, {
      vigil: async (table, round) => {
        const r = await measureEngine(dialect, table, round);
        engine.push(r.perCommit);
        cpu.vigil.push(r.cpu);
        return r.rate;
      },
      raw: async (table, round) => {
        const size = Math.max(1, Math.round(engine.length > 0 ? median(engine) : BATCH));
        const rate = await measureRaw(dialect, table, records(round), size);
        cpu.raw.push(lastRawCpu);
        return rate;
      },
    });
    const commit = Math.round(median(engine));
    if (!line(dialect, `sustained (~${commit}/commit)`, sustained.vigil, sustained.raw)) failed = true;
    console.log(
      `${"".padEnd(10)} client CPU per event: vigil ${median(cpu.vigil).toFixed(1)} µs (engine: build, sanitize, serialize, insert)   raw ${median(cpu.raw).toFixed(1)} µs (insert only)`,
    );
    for (const size of DIRECT ? [BATCH, 1000] : []) {
      const direct = await alternate(dialect, {
        vigil: (table, round) => measureVigil(dialect, table, records(round), size),
        raw: (table, round) => measureRaw(dialect, table, records(round), size),
      });
      if (!line(dialect, `direct, batches of ${size}`, direct.vigil, direct.raw)) failed = true;
    }
    if (DIRECT && dialect === "postgresql") {
      const forms = await alternate(dialect, {
        unnest: (table, round) => measureRaw(dialect, table, records(round), commit, "unnest"),
        values: (table, round) => measureRaw(dialect, table, records(round), commit, "values"),
      });
      console.log(
        `${dialect.padEnd(10)} raw forms, ${commit}/commit      unnest ${fmt(median(forms.unnest))} ev/s (${spread(forms.unnest)})   VALUES ${fmt(median(forms.values))} (${spread(forms.values)})`,
      );
    }
    console.log(`           load average ${load()}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
