/**
 * `vigil verify` on a store whose writer is still running (issue 12): the events written
 * since the writer's last checkpoint are a pending tail — reported with their exact count,
 * exit status 0 — while the same store after the writer was killed is an unsealed tail
 * after a crash (exit 1, as before), and a changed line is tampering whatever the writer
 * does. The writer is a real child process (`test/fixtures/live-writer.ts`); the store is a
 * file store, and a database-only store on SQLite, PostgreSQL and MariaDB.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VerifyResult } from "../../src/integrity/index.js";
import { uniqueTable } from "../conformance/sql-servers.js";
import { type Db, TARGETS, type Target } from "../integrity/sql-db.js";
import { type Collected, collect, lines, run } from "./helpers.js";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const WRITER = join(ROOT, "test/fixtures/live-writer.ts");
const SECRET = "test-signing-secret-0123456789abcdef";
const EVENTS = 25;
/** `checkpoint_every` of the writer: each synchronous `log()` is a batch, so it seals 10 and 20. */
const EVERY = 10;
const SEALED = Math.floor(EVENTS / EVERY) * EVERY;

/** Poll `read` until it returns `want` (a database sink commits the last checkpoint after `flush()` returns). */
async function waitFor<T>(read: () => T | Promise<T>, want: T, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await read();
    if (got === want || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Kind {
  readonly name: string;
  readonly backend: (dir: string) => string;
  /** The seq of the last checkpoint written, read from the store itself. */
  readonly lastCheckpoint: (dir: string) => number | Promise<number>;
  /** Change the stored line of seq `seq`; resolves to a function that puts it back. */
  readonly tamper: (dir: string, seq: number) => Promise<() => void | Promise<void>>;
  readonly cleanup?: () => Promise<void>;
}

const fileKind: Kind = {
  name: "a file store",
  backend: (dir) => `      - type: file
        directory: ${JSON.stringify(join(dir, "logs"))}
        filename_pattern: "app_audit_{category}.log"
`,
  lastCheckpoint: (dir) => {
    const cps = join(dir, "logs", "checkpoints");
    const [name] = readdirSync(cps).filter((n) => n !== "retention.jsonl");
    const records = lines(readFileSync(join(cps, name!), "utf8")).map(
      (l) => JSON.parse(l) as { seq: number },
    );
    return records.at(-1)!.seq;
  },
  tamper: async (dir, seq) => {
    const [name] = readdirSync(join(dir, "logs")).filter((n) => n.startsWith("app_audit_authentication.log"));
    const path = join(dir, "logs", name!);
    const before = readFileSync(path, "utf8");
    const all = lines(before);
    const i = all.findIndex((l) => l.includes(`"seq":${seq}}`));
    all[i] = all[i]!.replace('"type":"LOGIN"', '"type":"LOGOUT"');
    writeFileSync(path, `${all.join("\n")}\n`);
    return () => writeFileSync(path, before);
  },
};

/** A database-only store on `target` (SQLite, PostgreSQL, MariaDB), read and changed as `sql-db.ts` does. */
function databaseKind(target: Target): Kind {
  const table = uniqueTable(`vl_${target.dialect.slice(0, 2)}`);
  const withDb = async <T>(dir: string, fn: (db: Db) => Promise<T>): Promise<T> => {
    const db = await target.open(target.connection(dir), table);
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  };
  return {
    name: `a database-only store (${target.dialect})`,
    backend: (dir) => {
      const c = target.connection(dir);
      const fields = Object.entries(c).map(([k, v]) => `          ${k}: ${JSON.stringify(v)}\n`);
      return `      - type: database
        name: audit-db
        connection:
${fields.join("")}        table_name: ${table}
`;
    },
    lastCheckpoint: (dir) =>
      withDb(dir, async (db) => {
        const [row] = await db.all(`SELECT max(seq) AS s FROM ${db.checkpoints} WHERE type = 'checkpoint'`);
        return Number(row!.s);
      }),
    tamper: (dir, seq) =>
      withDb(dir, async (db) => {
        // as someone with write access to the database: the append-only guard is turned off
        await db.unguard(true);
        const [row] = await db.all(
          `SELECT ${db.rowId} AS r, ${db.lineColumn} AS line FROM ${db.events} WHERE integrity_seq = ?`,
          [seq],
        );
        const line = typeof row!.line === "string" ? row!.line : JSON.stringify(row!.line);
        const set = (text: string) =>
          db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [text, row!.r]);
        await set(line.replace('"type":"LOGIN"', '"type":"LOGOUT"'));
        await db.unguard(false);
        return () =>
          withDb(dir, async (again) => {
            await again.unguard(true);
            await again.run(`UPDATE ${again.events} SET ${again.lineColumn} = ? WHERE ${again.rowId} = ?`, [
              line,
              row!.r,
            ]);
            await again.unguard(false);
          });
      }),
    cleanup: () => target.cleanup(table),
  };
}

describe.each([fileKind, ...TARGETS.map(databaseKind)])(
  "vigil verify while the writer of $name runs",
  (kind) => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cli-live-"));
    const configPath = join(dir, "audit.yaml");
    let writer: ChildProcess;
    let output: Collected;
    let pid: number;
    let sealed: number;
    const verify = (...args: string[]) => run(["verify", "--config", configPath, ...args], { cwd: dir });

    beforeAll(async () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        configPath,
        `vigil:
  core:
    application_name: live
  storage:
    backends:
${kind.backend(dir)}  performance:
    async:
      enabled: false
  security:
    signing:
      enabled: true
      algorithm: hmac-sha256
      secret_key: ${JSON.stringify(SECRET)}
      checkpoint_every: ${EVERY}
      checkpoint_interval_seconds: 60
`,
      );
      writer = spawn(
        process.execPath,
        ["--import", import.meta.resolve("tsx"), WRITER, configPath, String(EVENTS)],
        {
          cwd: dir,
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      output = collect(writer);
      const ready = await output.waitFor((s) => s.includes("\n"));
      pid = Number(/^ready (\d+)/.exec(ready)![1]);
      sealed = await waitFor(() => kind.lastCheckpoint(dir), SEALED);
    });
    afterAll(async () => {
      if (writer.exitCode === null && writer.signalCode === null) {
        writer.kill("SIGKILL");
        await output.exited;
      }
      await kind.cleanup?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it("exits 0 and counts the events the running writer has not sealed yet", async () => {
      expect(sealed).toBe(SEALED);
      const pending = EVENTS - sealed;
      const json = await verify("--format", "json");
      expect(json.stderr).toBe("");
      expect(json.code).toBe(0);
      const result = JSON.parse(json.stdout) as VerifyResult;
      expect(result).toMatchObject({ ok: true, status: "pending", events: EVENTS, pendingEvents: pending });
      expect(result.problems).toEqual([]);
      expect(result.pending).toEqual([
        expect.objectContaining({
          seq: sealed + 1,
          toSeq: EVENTS,
          count: pending,
          pid,
          writer: "alive",
        }),
      ]);
      const chain = result.pending[0]!.chain;
      expect(chain.split(":")[1]).toBe(String(pid));

      const text = await verify();
      expect(text.code).toBe(0);
      const out = lines(text.stdout);
      expect(out[0]).toMatch(
        new RegExp(
          `^pending {8}chain ${chain}: ${pending} events pending \\(seq ${sealed + 1}\\.\\.${EVENTS}; writer alive, pid ${pid} on this host, last checkpoint \\d+\\.\\d s ago\\)$`,
        ),
      );
      expect(out.at(-1)).toMatch(
        new RegExp(
          `^OK: ${EVENTS} events in 1 chain across 1 (file|table), \\d+ checkpoints verified; ${pending} events pending in 1 chain of a running writer$`,
        ),
      );
    });

    it("still reports a changed line of the live store as tampering (exit 1)", async () => {
      for (const seq of [3, EVENTS]) {
        // a sealed event, then one of the pending tail
        const restore = await kind.tamper(dir, seq);
        try {
          const r = await verify("--format", "json");
          expect(r.code).toBe(1);
          const result = JSON.parse(r.stdout) as VerifyResult;
          expect(result).toMatchObject({ ok: false, status: "tampered" });
          expect(result.problems).toEqual([expect.objectContaining({ kind: "modified", seq })]);
        } finally {
          await restore();
        }
      }
      expect((await verify()).code).toBe(0);
    });

    it("reports the same tail as unverifiable once the writer was killed (exit 1)", async () => {
      writer.kill("SIGKILL");
      await output.exited;
      const r = await verify("--format", "json");
      expect(r.code).toBe(1);
      const result = JSON.parse(r.stdout) as VerifyResult;
      expect(result).toMatchObject({ ok: false, status: "unverifiable", pendingEvents: 0, pending: [] });
      expect(result.problems).toEqual([
        expect.objectContaining({
          kind: "unverifiable",
          seq: sealed + 1,
          toSeq: EVENTS,
          count: EVENTS - sealed,
        }),
      ]);
      expect(result.problems[0]!.message).toContain(
        `its writer, pid ${pid} on this host, is no longer running`,
      );
      const text = await verify();
      expect(text.code).toBe(1);
      expect(lines(text.stdout).at(-1)).toMatch(/^UNVERIFIABLE: 1 problem; /);
      expect(text.stderr).toBe("vigil: the store cannot be fully verified: 1 problem\n");
    });
  },
);
