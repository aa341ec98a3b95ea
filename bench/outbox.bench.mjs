// Issue 15's outbox benchmark: what writing the audit event in the application's
// transaction costs, against the same transaction without it, in the same run.
//
// - SQLite (a WAL file): one transaction = INSERT one application row (reference), the
//   same plus `outbox.logSync` (the event built, redacted and inserted in the transaction).
// - PostgreSQL (127.0.0.1, database test): BEGIN; INSERT; COMMIT from 1 and from 8
//   concurrent clients (reference), the same plus `outbox.log` — the outbox's commit trigger
//   serializes the commits of outbox transactions, which the 8-client figure shows.
// - The relay: committed rows moved into a signed file store (logDurable, delete), events
//   per second, against `engine.logDurable` of the same events with no outbox.
//
// Rounds alternate reference and outbox. Run: node --import tsx bench/outbox.bench.mjs
// (BENCH_TX transactions per round, default 2000; BENCH_ROUNDS, default 3).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { AuditEngine } from "../src/engine.ts";
import { createAuditOutbox } from "../src/outbox/index.ts";
import { median } from "./stats.mjs";

const N = Number(process.env.BENCH_TX ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PG = { host: "127.0.0.1", port: 5432, database: "test", user: "postgres" };
const dir = mkdtempSync(join(tmpdir(), "vigil-outbox-bench-"));
const tag = `${process.pid}_${randomBytes(3).toString("hex")}`;

function engine(name) {
  return new AuditEngine({
    env: {},
    config: {
      core: { application_name: "bench" },
      storage: { backends: [{ type: "file", directory: join(dir, name) }] },
      performance: { async: { enabled: true }, durability: "batch" },
      security: {
        signing: { enabled: true, algorithm: "hmac-sha256", secret_key: "bench-secret-0123456789abcdef0123" },
      },
    },
  });
}
const input = (i) => ({
  action: "ORDER_PAID",
  category: "BUSINESS",
  resource: { type: "order", id: String(i) },
  actor: { id: "alice" },
  metadata: { amount: i },
});
const rate = (n, ms) => Math.round((n / ms) * 1000);

async function sqlite() {
  const e = engine("sqlite");
  const db = new Database(join(dir, "app.db"));
  db.pragma("journal_mode = WAL");
  db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT)");
  const outbox = createAuditOutbox({ engine: e, database: db, table: "bench_outbox" });
  await outbox.migrate();
  const insert = db.prepare("INSERT INTO orders (status) VALUES (?)");
  const plain = db.transaction((i) => insert.run(`paid ${i}`));
  const withOutbox = db.transaction((i) => {
    insert.run(`paid ${i}`);
    outbox.logSync(db, input(i));
  });
  const ref = [];
  const out = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t = performance.now();
    for (let i = 0; i < N; i++) plain(i);
    ref.push(rate(N, performance.now() - t));
    t = performance.now();
    for (let i = 0; i < N; i++) withOutbox(i);
    out.push(rate(N, performance.now() - t));
  }
  console.log(
    `sqlite  transactions/s: plain ${median(ref)}, with outbox ${median(out)} (${(median(out) / median(ref)).toFixed(2)}x)`,
  );
  // the relay: the rows just committed, into the signed file store
  const pending = await outbox.pending();
  let t = performance.now();
  const r = await outbox.relayOnce();
  const relayRate = rate(r.relayed, performance.now() - t);
  const direct = engine("direct");
  t = performance.now();
  const waits = [];
  for (let i = 0; i < pending; i++) waits.push(direct.logDurable(input(i)));
  await Promise.all(waits);
  const directRate = rate(pending, performance.now() - t);
  console.log(
    `relay   events/s: ${relayRate} (${r.relayed} rows, read+mark+logDurable+delete), engine.logDurable alone ${directRate} (${(relayRate / directRate).toFixed(2)}x)`,
  );
  await outbox.close();
  await direct.close();
  await e.close();
  db.close();
}

async function postgres() {
  const e = engine("pg");
  const app = `bench_orders_${tag}`;
  const table = `bench_outbox_${tag}`;
  const pool = new pg.Pool({ ...PG, max: 10 });
  await pool.query(`CREATE TABLE ${app} (id serial PRIMARY KEY, status text)`);
  const outbox = createAuditOutbox({ engine: e, database: pool, table });
  await outbox.migrate();
  const tx = async (client, i, audited) => {
    await client.query("BEGIN");
    await client.query(`INSERT INTO ${app} (status) VALUES ($1)`, [`paid ${i}`]);
    if (audited) await outbox.log(client, input(i));
    await client.query("COMMIT");
  };
  const run = async (clients, audited) => {
    const per = Math.floor(N / clients);
    const t = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const client = await pool.connect();
        try {
          for (let i = 0; i < per; i++) await tx(client, c * per + i, audited);
        } finally {
          client.release();
        }
      }),
    );
    return rate(per * clients, performance.now() - t);
  };
  try {
    for (const clients of [1, 8]) {
      const ref = [];
      const out = [];
      for (let r = 0; r < ROUNDS; r++) {
        ref.push(await run(clients, false));
        out.push(await run(clients, true));
      }
      console.log(
        `postgres transactions/s, ${clients} client${clients > 1 ? "s" : ""}: plain ${median(ref)}, with outbox ${median(out)} (${(median(out) / median(ref)).toFixed(2)}x)`,
      );
    }
    const t = performance.now();
    let relayed = 0;
    for (;;) {
      const r = await outbox.relayOnce();
      if (r.relayed === 0) break;
      relayed += r.relayed;
    }
    console.log(`relay   events/s on PostgreSQL: ${rate(relayed, performance.now() - t)} (${relayed} rows)`);
  } finally {
    await outbox.close();
    for (const drop of [
      `DROP TABLE IF EXISTS ${app}`,
      `DROP TABLE IF EXISTS ${table}`,
      `DROP SEQUENCE IF EXISTS ${table}_commit_seq`,
      `DROP FUNCTION IF EXISTS ${table}_at_commit()`,
    ])
      await pool.query(drop).catch((error) => console.error(`cleanup: ${drop}: ${error.message}`));
    await pool.end();
    await e.close();
  }
}

try {
  await sqlite();
  await postgres();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
