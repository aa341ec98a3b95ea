/**
 * A process of the outbox crash tests (run with `node --import tsx`). Environment:
 * `DIALECT` (sqlite | postgres), `DB` (SQLite file), `TABLE` (outbox table), `APP_TABLE`,
 * `LOGS` (the audit store: a directory, or with `STORE=sql` the SQLite store `<LOGS>.db`), `MODE`:
 *
 * - `commit-and-die`: migrate, commit one application change with its audit event, print
 *   `COMMITTED <id>`, and SIGKILL itself before any relay runs;
 * - `relay-and-die`: relay, but SIGKILL itself when the relay is about to delete the rows
 *   it has just stored (after `logDurable` resolved);
 * - `relay`: relay everything, print `RELAYED <relayed> <recovered>`, exit normally.
 */
import Database from "better-sqlite3";
import pg from "pg";
import { AuditEngine } from "../../src/engine.js";
import { createAuditOutbox } from "../../src/outbox/index.js";

const env = process.env;
const mode = env.MODE!;
const engine = new AuditEngine({
  env: {},
  config: {
    core: { application_name: "outbox-child" },
    storage: {
      backends: [
        env.STORE === "sql"
          ? { type: "database", connection: { dialect: "sqlite", filename: `${env.LOGS}.db` } }
          : { type: "file", directory: env.LOGS! },
      ],
    },
    performance: { async: { enabled: true }, durability: "batch" },
    security: {
      signing: { enabled: true, algorithm: "hmac-sha256", secret_key: "outbox-test-secret-0123456789abcdef" },
    },
  },
});

/** Kill this process when a statement deleting relayed rows is about to run. */
const dieBeforeDelete = (sql: string): void => {
  if (mode === "relay-and-die" && /^\/\* vigil:outbox \*\/ DELETE FROM/.test(sql))
    process.kill(process.pid, "SIGKILL");
};

if (env.DIALECT === "sqlite") {
  const db = new Database(env.DB!);
  db.pragma("journal_mode = WAL");
  const prepare = db.prepare.bind(db);
  db.prepare = ((sql: string) => {
    dieBeforeDelete(sql);
    return prepare(sql);
  }) as typeof db.prepare;
  const outbox = createAuditOutbox({ engine, database: db, table: env.TABLE! });
  await outbox.migrate();
  if (mode === "commit-and-die") {
    db.exec(`CREATE TABLE IF NOT EXISTS ${env.APP_TABLE} (id INTEGER PRIMARY KEY, status TEXT)`);
    let id: string | undefined;
    db.transaction(() => {
      db.prepare(`INSERT INTO ${env.APP_TABLE} (id, status) VALUES (17, 'paid')`).run();
      id = outbox.logSync(db, {
        action: "ORDER_PAID",
        category: "BUSINESS",
        resource: { type: "order", id: "17" },
      });
    })();
    process.stdout.write(`COMMITTED ${id}\n`, () => process.kill(process.pid, "SIGKILL"));
  } else {
    const r = await outbox.relayOnce();
    await outbox.close();
    await engine.close();
    db.close();
    process.stdout.write(`RELAYED ${r.relayed} ${r.recovered}\n`);
  }
} else {
  const pool = new pg.Pool({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test", max: 3 });
  // the relay's statements run on a client of the pool: watch every client's query
  pool.on("connect", (client) => {
    const q = client.query.bind(client);
    client.query = ((...args: Parameters<typeof q>) => {
      if (typeof args[0] === "string") dieBeforeDelete(args[0]);
      return q(...args);
    }) as typeof client.query;
  });
  const outbox = createAuditOutbox({ engine, database: pool, table: env.TABLE! });
  await outbox.migrate();
  if (mode === "commit-and-die") {
    const client = await pool.connect();
    await client.query(`CREATE TABLE IF NOT EXISTS ${env.APP_TABLE} (id integer PRIMARY KEY, status text)`);
    await client.query("BEGIN");
    await client.query(`INSERT INTO ${env.APP_TABLE} (id, status) VALUES (17, 'paid')`);
    const id = await outbox.log(client, {
      action: "ORDER_PAID",
      category: "BUSINESS",
      resource: { type: "order", id: "17" },
    });
    await client.query("COMMIT");
    process.stdout.write(`COMMITTED ${id}\n`, () => process.kill(process.pid, "SIGKILL"));
  } else {
    const r = await outbox.relayOnce();
    await outbox.close();
    await engine.close();
    await pool.end();
    process.stdout.write(`RELAYED ${r.relayed} ${r.recovered}\n`);
  }
}
