/**
 * The stores the chaos scenarios run against — files, SQLite, PostgreSQL — each as a
 * backend configuration, a way to read back every stored line, and a way to tamper with one.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { type Db, TARGETS } from "../integrity/sql-db.js";

export type StoreKind = "file" | "sqlite" | "postgresql";
export const STORE_KINDS: readonly StoreKind[] = ["file", "sqlite", "postgresql"];

/** One stored line, where it was read, and its event when it parses. */
export interface StoredLine {
  readonly where: string;
  readonly text: string;
  readonly event?: { readonly metadata?: Record<string, unknown> };
  /** Set (to the error) for a file that could not be read at all, e.g. a broken `.gz`. */
  readonly unreadable?: string;
}

export interface ChaosStore {
  readonly kind: StoreKind;
  /** The `storage.backends` entry. */
  readonly backend: Record<string, unknown>;
  /** Every stored line, in store order (a line that does not parse has no `event`). */
  lines(): Promise<StoredLine[]>;
  /** Change one stored event's metadata in place, as an attacker with write access would. */
  tamper(): Promise<void>;
  drop(): Promise<void>;
}

function parse(text: string): StoredLine["event"] {
  try {
    return JSON.parse(text) as StoredLine["event"];
  } catch {
    return undefined;
  }
}

/** A file store under `dir` (its pattern, and midnight rotation unless `rotation` is given). */
export function fileStore(dir: string, rotation?: Record<string, unknown>): ChaosStore {
  const directory = join(dir, "logs");
  const dataFiles = () =>
    readdirSync(directory)
      .filter((n) => /\.log(\.\d+)?(\.gz)?$/.test(n))
      .sort();
  return {
    kind: "file",
    backend: {
      type: "file",
      directory,
      filename_pattern: "chaos_{category}_{date}.log",
      ...(rotation ? { rotation } : {}),
    },
    async lines() {
      const out: StoredLine[] = [];
      for (const name of dataFiles()) {
        let text: string;
        try {
          const buf = readFileSync(join(directory, name));
          text = name.endsWith(".gz") ? gunzipSync(buf).toString("utf8") : buf.toString("utf8");
        } catch (err) {
          out.push({ where: name, text: "", unreadable: (err as Error).message });
          continue;
        }
        const lines = text.split("\n");
        lines.forEach((line, n) => {
          if (line !== "" || n < lines.length - 1)
            out.push({ where: `${name}:${n + 1}`, text: line, event: parse(line) });
        });
      }
      return out;
    },
    async tamper() {
      const name = dataFiles()[0]!;
      const path = join(directory, name);
      const text = readFileSync(path, "utf8");
      writeFileSync(path, bump(text));
    },
    async drop() {},
  };
}

/** A database store (SQLite in `dir`, or a table of its own in PostgreSQL's `test` database). */
export function sqlStore(kind: "sqlite" | "postgresql", dir: string): ChaosStore {
  const target = TARGETS.find((t) => t.dialect === kind)!;
  const connection = target.connection(dir);
  const table = `chaos_${randomBytes(4).toString("hex")}`;
  const withDb = async <T>(fn: (db: Db) => Promise<T>): Promise<T> => {
    const db = await target.open(connection, table);
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };
  return {
    kind,
    backend: { type: "database", connection, table_name: table },
    lines: () =>
      withDb(async (db) => {
        const rows = await db.all(
          `SELECT ${db.rowId} AS r, ${db.lineColumn} AS line FROM ${db.events} ORDER BY r`,
        );
        return rows.map((row) => {
          const text = String(row.line);
          return { where: `row ${String(row.r)}`, text, event: parse(text) };
        });
      }),
    tamper: () =>
      withDb(async (db) => {
        // the first row a writer numbered (not its CHAOS_READY event)
        const rows = await db.all(
          `SELECT ${db.rowId} AS r, ${db.lineColumn} AS line FROM ${db.events} ORDER BY r LIMIT 100`,
        );
        const row = rows.find((r) => bump(String(r.line)) !== String(r.line));
        if (row === undefined) throw new Error(`${kind} store ${table}: no row to tamper with`);
        await db.unguard(true);
        await db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [
          bump(String(row!.line)),
          row!.r,
        ]);
        await db.unguard(false);
      }),
    drop: () => target.cleanup(table),
  };
}

/** The first `"i":N` of a line changed to another number: an edit verify must name. */
function bump(line: string): string {
  return line.replace(/"i":(\d+)/, (_m, n: string) => `"i":${Number(n) + 1_000_000}`);
}

export function makeStore(kind: StoreKind, dir: string): ChaosStore {
  return kind === "file" ? fileStore(dir) : sqlStore(kind, dir);
}
