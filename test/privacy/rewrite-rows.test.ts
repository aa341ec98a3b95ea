/**
 * Erasure by rewriting on database rows (SQLite, the real PostgreSQL and MariaDB): the
 * person's fields and indexed columns are replaced in place, the signed erasure records go
 * to `<table>_checkpoints` in the same transaction, the store verifies — and a replacement
 * no signed record lists, or a deleted record, is caught. The append-only guard still
 * refuses any other update.
 */
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import type { DatabaseConnectionConfig, VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { sealEvent } from "../../src/integrity/chain.js";
import { uniqueTable } from "../conformance/sql-servers.js";
import { tempDir } from "../helpers.js";
import { TARGETS } from "../integrity/sql-db.js";

const SECRET = "an-hmac-secret-of-enough-length-0123";
const ALICE = { id: "42", username: "alice", ip: "10.9.8.7", roles: ["admin"] };
const BOB = { id: "7", username: "bob", ip: "10.1.1.1" };

function config(connection: DatabaseConnectionConfig, table: string, encrypt: boolean): VigilConfig {
  return {
    core: { application_name: "rwsql" },
    storage: { backends: [{ type: "database", name: "db", connection, table_name: table }] },
    performance: { async: { enabled: false } },
    security: {
      signing: { enabled: true, secret_key: SECRET, checkpoint_every: 10 },
      ...(encrypt ? { encryption: { enabled: true, key: "33".repeat(32), key_id: "k1" } } : {}),
    },
    compliance: { gdpr: { erasure: { enabled: false, fields: ["metadata.address"] } } },
  } as VigilConfig;
}

describe.each(TARGETS)("erasure by rewriting on $dialect rows", (target) => {
  const temp = tempDir("vigil-rewrite-sql-");
  const tables: string[] = [];
  afterAll(async () => {
    for (const t of tables) await target.cleanup(t);
    temp.cleanup();
  });

  for (const encrypt of [false, true]) {
    test(`erase then verify OK${encrypt ? " (encrypted rows, re-encrypted with the current key)" : ""}; the tamper matrix`, async () => {
      const table = uniqueTable(`erasure_${target.dialect.slice(0, 2)}`);
      tables.push(table);
      const connection = target.connection(temp.dir);
      const cfg = config(connection, table, encrypt);
      const writer = new AuditEngine({ config: cfg, env: {} });
      for (let i = 0; i < 30; i++)
        writer.log({
          action: "QUERY",
          category: "DATABASE",
          actor: i % 3 === 0 ? ALICE : BOB,
          resource: { type: "table", id: String(i) },
          metadata: { address: i % 3 === 0 ? "12 Elm Street" : "9 Oak Road", request: i },
        });
      await writer.close();

      const engine = new AuditEngine({ config: cfg, env: {}, readOnly: true });
      try {
        expect((await engine.verify()).status).toBe("intact");
        const result = await engine.eraseSubject("42");
        expect(result).toMatchObject({ erased: false, rewritten: 10 });
        expect(result.stores[0]).toMatchObject({ type: "database", events: 10, records: 1, refused: [] });
        expect(result.stores[0]!.replacements[0]!.at).toMatch(
          new RegExp(`^${target.dialect}:${table} row \\d+$`),
        );

        const db = await target.open(connection, table);
        try {
          // the indexed columns and the stored text hold no trace of her
          if (!encrypt) {
            // (encrypted rows keep no actor in their columns at all)
            const cols = await db.all(`SELECT actor_username FROM ${db.events} WHERE actor_id = ?`, ["42"]);
            expect(cols).toHaveLength(10);
            for (const c of cols) expect(c.actor_username).toBe("[ERASED]");
          }
          const texts = (await db.all(`SELECT * FROM ${db.events}`)).map((r) => JSON.stringify(r)).join("\n");
          for (const secret of ["alice", "10.9.8.7", "12 Elm Street"]) expect(texts).not.toContain(secret);
          const recs = await db.all(`SELECT type, record FROM ${db.checkpoints} WHERE type = ?`, ["erasure"]);
          expect(recs).toHaveLength(1);

          const verified = await engine.verify();
          expect(verified.problems).toEqual([]);
          expect(verified).toMatchObject({ ok: true, status: "intact", erased: 10 });

          // read back through vigil: redacted
          const hers: AuditEvent[] = [];
          for await (const e of engine.exportSubject("42")) hers.push(e);
          expect(hers).toHaveLength(10);
          expect(
            hers.every((e) => e.actor?.username === "[ERASED]" && e.metadata?.address === "[ERASED]"),
          ).toBe(true);

          // the guard still refuses an ordinary update
          await expect(db.run(`UPDATE ${db.events} SET severity = ?`, ["x"])).rejects.toThrow(/append-only/);

          if (!encrypt) {
            // a replacement no signed record lists: bob's row redacted and re-sealed by hand
            const ids = await db.all(`SELECT ${db.rowId} AS r FROM ${db.events} ORDER BY ${db.rowId}`);
            let bobRow: { r: unknown } | undefined;
            let line = "";
            for (const { r } of ids) {
              const full = await db.fullRow(Number(r));
              const text = String(full[db.lineColumn]);
              if (text.includes('"username":"bob"')) {
                bobRow = { r };
                line = text;
                break;
              }
            }
            const e = JSON.parse(line) as AuditEvent;
            (e.actor as Record<string, unknown>).username = "[ERASED]";
            const forged = sealEvent(e, e.integrity!.chain, e.integrity!.seq, e.integrity!.prev).line;
            await db.unguard(true);
            await db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [
              forged,
              bobRow!.r,
            ]);
            await db.unguard(false);
            let r = await engine.verify();
            expect(r.problems.map((p) => [p.kind, p.seq])).toEqual([["forged", e.integrity!.seq]]);
            await db.unguard(true);
            await db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [
              line,
              bobRow!.r,
            ]);
            // a deleted erasure record: every erased row shows as rewritten
            const saved = await db.all(`SELECT * FROM ${db.checkpoints} WHERE type = ?`, ["erasure"]);
            await db.run(`DELETE FROM ${db.checkpoints} WHERE type = ?`, ["erasure"]);
            await db.unguard(false);
            r = await engine.verify();
            expect(r.status).toBe("tampered");
            expect(r.problems.every((p) => p.kind === "forged")).toBe(true);
            expect(r.problems.length).toBeGreaterThanOrEqual(10);
            await db.unguard(true);
            for (const row of saved) {
              const c = ["type", "chain", "seq", "record"];
              await db.run(
                `INSERT INTO ${db.checkpoints} (${c.join(", ")}) VALUES (${c.map(() => "?").join(", ")})`,
                c.map((k) => row[k]),
              );
            }
            await db.unguard(false);
            expect((await engine.verify()).status).toBe("intact");
          }
        } finally {
          await db.close();
        }
      } finally {
        await engine.close();
      }
    }, 60_000);
  }
});

describe("erasure by rewriting on a file store and a database at once", () => {
  const temp = tempDir("vigil-rewrite-both-");
  afterAll(() => temp.cleanup());

  test("both are rewritten, each under its own signed records, and both verify", async () => {
    const cfg = {
      core: { application_name: "both" },
      storage: {
        backends: [
          { type: "file", directory: join(temp.dir, "files") },
          {
            type: "database",
            name: "db",
            connection: { dialect: "sqlite", filename: join(temp.dir, "audit.db") },
            table_name: "events",
          },
        ],
      },
      performance: { async: { enabled: false } },
      security: { signing: { enabled: true, secret_key: SECRET, checkpoint_every: 10 } },
    } as VigilConfig;
    const writer = new AuditEngine({ config: cfg, env: {} });
    for (let i = 0; i < 12; i++)
      writer.log({
        action: "QUERY",
        actor: i % 2 === 0 ? ALICE : BOB,
        resource: { type: "t", id: String(i) },
      });
    await writer.close();
    const engine = new AuditEngine({ config: cfg, env: {}, readOnly: true });
    try {
      const result = await engine.eraseSubject("alice");
      expect(result.rewritten).toBe(12);
      expect(result.stores.map((s) => [s.type, s.events, s.records])).toEqual([
        ["file", 6, 1],
        ["database", 6, 1],
      ]);
      const verified = await engine.verify();
      expect(verified.problems).toEqual([]);
      expect(verified).toMatchObject({ status: "intact", erased: 12 });
      expect(verified.backends.map((b) => b.result.erased)).toEqual([6, 6]);
    } finally {
      await engine.close();
    }
  });
});
