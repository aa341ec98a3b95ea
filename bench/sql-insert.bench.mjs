// Issue 4's insert benchmark: events per second into each SQL dialect through vigil's
// database backend, compared in the same run with the raw driver inserting the same rows
// in the same batches (same multi-row INSERT, same conflict clause, one transaction per
// batch) into an identical table (created by vigil's migration: same indexes and
// triggers). The raw side gets its column values precomputed outside the timing; vigil
// derives them from the events inside it. Target: vigil at least 0.8x the raw driver.
//
// Rounds alternate vigil and raw on fresh tables. PostgreSQL and MariaDB are the servers
// on this machine (127.0.0.1, database `test`); SQLite writes a temporary file.
//
// Run: node --import tsx bench/sql-insert.bench.mjs
//      (BENCH_EVENTS events per round, default 20,000; BENCH_BATCH rows per batch,
//      default 100 = the engine's batch_size; BENCH_ROUNDS, default 3;
//      BENCH_DIALECTS=sqlite,postgresql,mysql.)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import mysql from "mysql2/promise";
import pg from "pg";
import { createSqlBackend } from "../src/storage/sql/index.ts";
import { BASE_COLUMNS, baseRow, derivedName } from "../src/storage/sql/schema.ts";
import { inBatches, makeRecords } from "./event.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DIALECTS = (process.env.BENCH_DIALECTS ?? "sqlite,postgresql,mysql").split(",");

const PG = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" };
const MY = { host: "127.0.0.1", port: 3306, database: "test", user: "root", password: "" };
const dir = mkdtempSync(join(tmpdir(), "vigil-sql-bench-"));

const records = (round) => makeRecords(N, round * N);
const batches = (list) => inBatches(list, BATCH);

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

function backend(dialect, table) {
  return createSqlBackend({
    type: "database",
    name: "bench",
    enabled: true,
    connection: connection(dialect),
    table_name: table,
  });
}

/** A raw-driver writer for one table: the same statement shape vigil uses. */
async function rawWriter(dialect, table) {
  if (dialect === "sqlite") {
    const db = new Database(join(dir, "bench.db"));
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    const cols = [...BASE_COLUMNS, "event"];
    const tuple = `(${cols.map(() => "?").join(", ")})`;
    const statements = new Map();
    const insert = db.transaction((rows) => {
      let st = statements.get(rows.length);
      if (!st) {
        st = db.prepare(
          `INSERT INTO "${table}" (${cols.join(", ")}) VALUES ${rows.map(() => tuple).join(", ")} ON CONFLICT (id) DO NOTHING`,
        );
        statements.set(rows.length, st);
      }
      st.run(rows.flat());
    });
    return { write: async (rows) => insert(rows), close: async () => db.close() };
  }
  if (dialect === "postgresql") {
    const client = new pg.Client(PG);
    await client.connect();
    const width = BASE_COLUMNS.length + 1;
    const cols = [...BASE_COLUMNS, "line", "event"];
    const texts = new Map();
    return {
      write: async (rows) => {
        let text = texts.get(rows.length);
        if (!text) {
          const tuples = rows.map((_, r) => {
            const p = Array.from({ length: width - 1 }, (_, i) => `$${r * width + i + 1}`);
            const line = `$${r * width + width}::text`;
            return `(${p.join(", ")}, ${line}, ${line}::jsonb)`;
          });
          text = `INSERT INTO "${table}" (${cols.join(", ")}) VALUES ${tuples.join(", ")} ON CONFLICT (id) DO NOTHING`;
          texts.set(rows.length, text);
        }
        await client.query("BEGIN");
        await client.query(text, rows.flat());
        await client.query("COMMIT");
      },
      close: () => client.end(),
    };
  }
  const conn = await mysql.createConnection({ ...MY, charset: "utf8mb4" });
  const cols = [...BASE_COLUMNS, "event", "line"];
  const tuple = `(${cols.map(() => "?").join(", ")})`;
  return {
    write: async (rows) => {
      await conn.query("START TRANSACTION");
      await conn.execute(
        `INSERT INTO \`${table}\` (${cols.join(", ")}) VALUES ${rows.map(() => tuple).join(", ")} ON DUPLICATE KEY UPDATE id = id`,
        rows.flat(),
      );
      await conn.query("COMMIT");
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
    await c.query(`DROP TABLE IF EXISTS "${derivedName(table, "migrations")}"`);
    await c.query(`DROP FUNCTION IF EXISTS "${derivedName(table, "guard")}"()`);
    await c.end();
  } else {
    const c = await mysql.createConnection(MY);
    await c.query(`DROP TABLE IF EXISTS \`${table}\``);
    await c.query(`DROP TABLE IF EXISTS \`${derivedName(table, "migrations")}\``);
    await c.end();
  }
}

async function measureVigil(dialect, table, list) {
  const b = backend(dialect, table);
  await b.open();
  const parts = batches(list);
  const start = process.hrtime.bigint();
  for (const part of parts) await b.write(part, { sync: false });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await b.close();
  return list.length / seconds;
}

async function measureRaw(dialect, table, list) {
  const b = backend(dialect, table); // create the identical table, then leave it to the raw driver
  await b.open();
  await b.close();
  const rows = batches(list).map((part) =>
    part.map((r) =>
      dialect === "postgresql"
        ? [...baseRow(r), r.line]
        : dialect === "mysql"
          ? [...baseRow(r), r.line, null]
          : [...baseRow(r), r.line],
    ),
  );
  const writer = await rawWriter(dialect, table);
  const start = process.hrtime.bigint();
  for (const part of rows) await writer.write(part);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await writer.close();
  return list.length / seconds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`SQL inserts: ${N} events per round, batches of ${BATCH}, ${ROUNDS} rounds (median shown)`);
let failed = false;
try {
  for (const dialect of DIALECTS) {
    const vigil = [];
    const raw = [];
    for (let round = 0; round < ROUNDS; round++) {
      const list = records(round);
      for (const side of round % 2 === 0 ? ["vigil", "raw"] : ["raw", "vigil"]) {
        const table = `bench_${side}_${process.pid}_${round}`;
        try {
          if (side === "vigil") vigil.push(await measureVigil(dialect, table, list));
          else raw.push(await measureRaw(dialect, table, list));
        } finally {
          await dropTable(dialect, table);
        }
      }
    }
    const ratio = median(vigil) / median(raw);
    if (ratio < 0.8) failed = true;
    console.log(
      `${dialect.padEnd(10)} vigil ${Math.round(median(vigil)).toLocaleString("en").padStart(9)} ev/s   raw ${Math.round(median(raw)).toLocaleString("en").padStart(9)} ev/s   ratio ${ratio.toFixed(2)}x ${ratio >= 0.8 ? "(ok, target >= 0.8)" : "(BELOW 0.8)"}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
