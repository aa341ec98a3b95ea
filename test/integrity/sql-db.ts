/**
 * Direct access to the audit tables of SQLite, PostgreSQL and MariaDB, as someone with
 * write access to the database has it: read and change rows, turn the append-only
 * triggers off. Shared by the SQL tamper tests.
 *
 * @module
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import type { DatabaseConnectionConfig } from "../../src/config/types.js";
import { derivedName } from "../../src/storage/sql/schema.js";
import { dropTable, MARIADB, mysqlConnect, POSTGRES, pgConnect } from "../conformance/sql-servers.js";

export type Row = Record<string, unknown>;

/** Direct access to the database, as an attacker (or a test) has it. */
export interface Db {
  /** The row id column (`rowid`, `row_id`) and the column holding the stored line. */
  readonly rowId: string;
  readonly lineColumn: string;
  /** Quoted events and checkpoints tables. */
  readonly events: string;
  readonly checkpoints: string;
  all(text: string, values?: unknown[]): Promise<Row[]>;
  run(text: string, values?: unknown[]): Promise<void>;
  /** A whole row, every column as stored, with its row id. */
  fullRow(r: number): Promise<Row>;
  /** A whole row back, with its row id (after a delete). */
  insertRow(row: Row): Promise<void>;
  /** Turn the append-only triggers off (true) or back on (false). */
  unguard(off: boolean): Promise<void>;
  close(): Promise<void>;
}

export interface Target {
  readonly dialect: "sqlite" | "postgresql" | "mysql";
  connection(dir: string): DatabaseConnectionConfig;
  open(connection: DatabaseConnectionConfig, table: string): Promise<Db>;
  cleanup(table: string): Promise<void>;
}

function sqliteDb(connection: DatabaseConnectionConfig, table: string): Db {
  const db = new Database(connection.filename!);
  const events = `"${table}"`;
  const checkpoints = `"${derivedName(table, "checkpoints")}"`;
  let saved: { name: string; sql: string }[] = [];
  return {
    rowId: "rowid",
    lineColumn: "event",
    events,
    checkpoints,
    all: async (text, values = []) => db.prepare(text).all(...values) as Row[],
    run: async (text, values = []) => void db.prepare(text).run(...values),
    fullRow: async (r) => db.prepare(`SELECT rowid AS rowid, * FROM ${events} WHERE rowid = ?`).get(r) as Row,
    insertRow: async (row) => {
      const cols = Object.keys(row);
      db.prepare(`INSERT INTO ${events} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`).run(
        ...cols.map((c) => row[c]),
      );
    },
    unguard: async (off) => {
      if (off) {
        saved = db
          .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (?, ?)")
          .all(table, derivedName(table, "checkpoints")) as { name: string; sql: string }[];
        for (const t of saved) db.exec(`DROP TRIGGER "${t.name}"`);
      } else for (const t of saved) db.exec(t.sql);
    },
    close: async () => void db.close(),
  };
}

async function pgDb(connection: DatabaseConnectionConfig, table: string): Promise<Db> {
  const client = await pgConnect(connection);
  const dollar = (text: string) => {
    let n = 0;
    return text.replace(/\?/g, () => `$${++n}`);
  };
  const events = `"${table}"`;
  const checkpoints = `"${derivedName(table, "checkpoints")}"`;
  return {
    rowId: "row_id",
    lineColumn: "line",
    events,
    checkpoints,
    all: async (text, values = []) => (await client.query(dollar(text), values)).rows,
    run: async (text, values = []) => void (await client.query(dollar(text), values)),
    fullRow: async (r) => (await client.query(`SELECT * FROM ${events} WHERE row_id = $1`, [r])).rows[0],
    insertRow: async (row) => {
      const cols = Object.keys(row);
      await client.query(
        `INSERT INTO ${events} (${cols.join(", ")}) OVERRIDING SYSTEM VALUE VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`,
        cols.map((c) => (c === "event" && row[c] !== null ? JSON.stringify(row[c]) : row[c])),
      );
    },
    unguard: async (off) => {
      for (const t of [events, checkpoints])
        await client.query(`ALTER TABLE ${t} ${off ? "DISABLE" : "ENABLE"} TRIGGER USER`);
    },
    close: () => client.end(),
  };
}

async function mysqlDb(connection: DatabaseConnectionConfig, table: string): Promise<Db> {
  const conn = await mysqlConnect(connection);
  const events = `\`${table}\``;
  const checkpoints = `\`${derivedName(table, "checkpoints")}\``;
  let saved: Row[] = [];
  return {
    rowId: "row_id",
    // MariaDB keeps the verbatim text in the JSON column (`line` only for what JSON refuses)
    lineColumn: "event",
    events,
    checkpoints,
    all: async (text, values = []) => (await conn.query(text, values))[0] as Row[],
    run: async (text, values = []) => void (await conn.query(text, values)),
    fullRow: async (r) => {
      // mysql2 parses JSON columns: read the verbatim text instead
      const [rows] = (await conn.query(
        `SELECT *, CAST(event AS CHAR) AS event_text FROM ${events} WHERE row_id = ?`,
        [r],
      )) as [Row[], unknown];
      const { event_text, ...row } = rows[0]!;
      return { ...row, event: event_text };
    },
    insertRow: async (row) => {
      const cols = Object.keys(row);
      await conn.query(
        `INSERT INTO ${events} (${cols.join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`,
        cols.map((c) => row[c]),
      );
    },
    unguard: async (off) => {
      if (off) {
        [saved] = (await conn.query(
          `SELECT TRIGGER_NAME AS name, ACTION_TIMING AS timing, EVENT_MANIPULATION AS op,
             EVENT_OBJECT_TABLE AS tbl, ACTION_STATEMENT AS body
           FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN (?, ?)`,
          [table, derivedName(table, "checkpoints")],
        )) as [Row[], unknown];
        for (const t of saved) await conn.query(`DROP TRIGGER \`${String(t.name)}\``);
      } else {
        for (const t of saved)
          await conn.query(
            `CREATE TRIGGER \`${String(t.name)}\` ${String(t.timing)} ${String(t.op)} ON \`${String(t.tbl)}\` FOR EACH ROW ${String(t.body)}`,
          );
      }
    },
    close: () => conn.end(),
  };
}

export const TARGETS: Target[] = [
  {
    dialect: "sqlite",
    connection: (dir) => ({ dialect: "sqlite", filename: join(dir, "audit.db") }),
    open: async (c, t) => sqliteDb(c, t),
    cleanup: async () => {},
  },
  {
    dialect: "postgresql",
    connection: () => POSTGRES,
    open: pgDb,
    cleanup: (t) => dropTable("postgresql", t),
  },
  {
    dialect: "mysql",
    connection: () => MARIADB,
    open: mysqlDb,
    cleanup: (t) => dropTable("mysql", t),
  },
];
