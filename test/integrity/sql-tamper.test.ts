/**
 * The tamper matrix on database rows: a database-only store of 3,000 events written
 * through the real engine with signing on (checkpoints in `<table>_checkpoints`), then
 * edited directly in SQLite, PostgreSQL and MariaDB the way someone with write access to
 * the database would — and `engine.verify()` must name exactly what was done, down to the
 * row id and chain position. Each change is undone before the next.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConnectionConfig, VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { checkLine, sealEvent, type VerifyProblem } from "../../src/integrity/index.js";
import { uniqueTable } from "../conformance/sql-servers.js";
import { tempDir } from "../helpers.js";
import { type Db, type Row, TARGETS } from "./sql-db.js";
import { HMAC_SECRET, logEvents } from "./store.js";

const EVENTS = 3000;
const START = Date.parse("2026-03-01T22:00:00.000Z");

function storeConfig(connection: DatabaseConnectionConfig, table: string, secret = HMAC_SECRET): VigilConfig {
  return {
    core: { application_name: "sqltamper" },
    storage: { backends: [{ type: "database", name: "db", connection, table_name: table }] },
    processing: { sanitization: { enabled: false } },
    performance: { async: { enabled: true }, batching: { batch_size: 250 } },
    security: {
      signing: { enabled: true, algorithm: "hmac-sha256", secret_key: secret, checkpoint_every: 1000 },
    },
  } as VigilConfig;
}

/** The id of the `i`th forged row: a UUID, as every dialect's id column accepts. */
const forgedId = (i: number) => `0000f07e-0000-7000-8000-${String(i).padStart(12, "0")}`;

const only = (problems: readonly VerifyProblem[]) => problems.map((p) => p.kind);

describe.each(TARGETS)("verify on $dialect rows", (target) => {
  const temp = tempDir("vigil-sql-tamper-");
  const table = uniqueTable(`vt_${target.dialect.slice(0, 2)}`);
  const connection = target.connection(temp.dir);
  const source = `${target.dialect}:${table}`;
  let db: Db;
  /** Row id and stored line of every event row, in row order. */
  let rows: { r: number; line: string; seq: number }[];

  const verify = async (secret = HMAC_SECRET) => {
    const engine = new AuditEngine({
      config: storeConfig(connection, table, secret),
      env: {},
      readOnly: true,
    });
    try {
      return await engine.verify();
    } finally {
      await engine.close();
    }
  };
  const fullRow = (r: number) => db.fullRow(r);
  const setLine = (r: number, line: string) =>
    db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [line, r]);
  const deleteRow = (r: number) => db.run(`DELETE FROM ${db.events} WHERE ${db.rowId} = ?`, [r]);
  const at = (seq: number) => rows.find((x) => x.seq === seq)!;

  beforeAll(async () => {
    const engine = new AuditEngine({ config: storeConfig(connection, table), env: {} });
    const errors: unknown[] = [];
    engine.on("error", (e) => errors.push(e));
    logEvents(engine, EVENTS, START);
    await engine.close();
    expect(errors).toEqual([]);
    db = await target.open(connection, table);
    const read = await db.all(
      `SELECT ${db.rowId} AS r, ${target.dialect === "mysql" ? "COALESCE(line, event)" : db.lineColumn} AS line FROM ${db.events} ORDER BY ${db.rowId}`,
    );
    rows = read.map((x) => ({ r: Number(x.r), line: String(x.line), seq: checkLine(String(x.line))!.seq }));
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await target.cleanup(table);
    temp.cleanup();
  });

  it("keeps the checkpoints in <table>_checkpoints, signed, beside the events", async () => {
    expect(rows).toHaveLength(EVENTS);
    expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    const cps = await db.all(`SELECT id, type, chain, seq, record FROM ${db.checkpoints} ORDER BY id`);
    expect(cps.map((c) => [c.type, Number(c.seq)])).toEqual([
      ["checkpoint", 1000],
      ["checkpoint", 2000],
      ["checkpoint", 3000],
      ["checkpoint", 3000],
    ]);
    const last = JSON.parse(String(cps[3]!.record));
    expect(last).toMatchObject({ v: 1, type: "checkpoint", seq: 3000, final: true, alg: "hmac-sha256" });
    expect(last.chain).toBe(checkLine(rows[0]!.line)!.chain);
  });

  it("says intact when nothing was touched", async () => {
    const result = await verify();
    expect(result).toMatchObject({ ok: true, status: "intact", events: EVENTS, chains: 1, checkpoints: 4 });
    expect(result.problems).toEqual([]);
    expect(result.backends).toEqual([expect.objectContaining({ backend: "db", type: "database" })]);
  });

  describe("with the append-only triggers dropped", () => {
    beforeAll(() => db.unguard(true));
    afterAll(() => db.unguard(false));

    it("names the row whose line was changed by one byte (modified)", async () => {
      const x = at(1500);
      const edited = x.line.replace('"orders"', '"ordert"');
      expect(edited).not.toBe(x.line);
      await setLine(x.r, edited);
      try {
        const result = await verify();
        expect(result.status).toBe("tampered");
        expect(result.problems).toEqual([
          expect.objectContaining({ kind: "modified", file: source, line: x.r, seq: 1500 }),
        ]);
        expect(result.problems[0]!.message).toContain(`${source} row ${x.r}: seq 1500 was modified`);
      } finally {
        await setLine(x.r, x.line);
      }
    });

    it("reports a deleted row with its neighbours' rows (deleted)", async () => {
      const x = at(1234);
      const saved = await fullRow(x.r);
      await deleteRow(x.r);
      try {
        const result = await verify();
        expect(result.problems).toEqual([
          expect.objectContaining({ kind: "deleted", seq: 1234, toSeq: 1234, count: 1, file: source }),
        ]);
        expect(result.problems[0]!.message).toContain(
          `after ${source} row ${at(1233).r} and before ${source} row ${at(1235).r}`,
        );
      } finally {
        await db.insertRow(saved);
      }
    });

    it("reports inserted rows: an edited copy, a re-hashed copy claiming a taken seq, an exact copy", async () => {
      const x = at(2100);
      const base = await fullRow(x.r);
      const event = JSON.parse(x.line) as AuditEvent & { integrity: { chain: string; prev: string } };
      const { integrity, ...clear } = event;
      // 1. same hash, edited content; 2. re-hashed after the edit, claiming seq 2100; 3. verbatim
      const edited = x.line.replace('"user', '"USER');
      const rehashed = sealEvent(
        { ...clear, actor: { ...clear.actor, username: "mallory" } } as AuditEvent,
        integrity.chain,
        2100,
        integrity.prev,
      ).line;
      const lines = [edited, rehashed, x.line];
      const inserted: number[] = [];
      try {
        for (const [i, line] of lines.entries()) {
          const row: Row = { ...base, id: forgedId(i), [db.lineColumn]: line };
          delete row.rowid;
          delete row.row_id;
          if (target.dialect === "postgresql") row.event = null;
          await db.insertRow(row);
          const [{ r }] = (await db.all(`SELECT ${db.rowId} AS r FROM ${db.events} WHERE id = ?`, [
            forgedId(i),
          ])) as [{ r: unknown }];
          inserted.push(Number(r));
        }
        const result = await verify();
        const byRow = new Map(result.problems.map((p) => [p.line, p]));
        expect(result.problems).toHaveLength(3);
        expect(byRow.get(inserted[0]!)).toMatchObject({ kind: "forged", seq: 2100, file: source });
        expect(byRow.get(inserted[0]!)!.message).toContain(
          `${source} row ${inserted[0]}: an inserted line claims seq 2100 of chain ${integrity.chain}, which is held by ${source} row ${x.r}`,
        );
        expect(byRow.get(inserted[1]!)).toMatchObject({ kind: "forged", seq: 2100, file: source });
        expect(byRow.get(inserted[1]!)!.message).toContain(
          `an inserted line claims seq 2100, which is held by ${source} row ${x.r}`,
        );
        expect(byRow.get(inserted[2]!)).toMatchObject({ kind: "duplicated", seq: 2100, file: source });
        expect(byRow.get(inserted[2]!)!.message).toContain(`repeats ${source} row ${x.r}`);
      } finally {
        for (const r of inserted) await deleteRow(r);
      }
    });

    it("reports two rows whose lines were swapped as reordered: each line is authentic, the row order is not", async () => {
      const a = at(1700);
      const b = at(1701);
      await setLine(a.r, b.line);
      await setLine(b.r, a.line);
      try {
        const result = await verify();
        // Both lines still match their hashes and link 1699 → 1700 → 1701 → 1702 in seq order:
        // nothing was modified; only seq 1701 now sits in a row before seq 1700.
        expect(result.problems).toEqual([
          expect.objectContaining({ kind: "reordered", seq: 1701, file: source, line: a.r }),
        ]);
        expect(result.problems[0]!.message).toContain(
          `${source} row ${a.r}: seq 1701 is stored before seq 1700`,
        );
      } finally {
        await setLine(a.r, a.line);
        await setLine(b.r, b.line);
      }
    });

    it("reports the last rows deleted as truncated against the final checkpoint", async () => {
      const gone = rows.slice(-5);
      const saved = [];
      for (const x of gone) saved.push(await fullRow(x.r));
      for (const x of gone) await deleteRow(x.r);
      try {
        const result = await verify();
        expect(result.problems).toEqual([
          expect.objectContaining({ kind: "truncated", seq: 2996, toSeq: 3000, count: 5 }),
        ]);
        expect(result.problems[0]!.message).toContain(`ends at seq 2995 (${source} row ${at(2995).r})`);
      } finally {
        for (const row of saved) await db.insertRow(row);
      }
    });

    it("reports an edited checkpoint row as bad-signature, named by its row", async () => {
      const [cp] = await db.all(`SELECT id, record FROM ${db.checkpoints} WHERE seq = 2000`);
      const text = String(cp!.record);
      const id = Number(cp!.id);
      await db.run(`UPDATE ${db.checkpoints} SET record = ? WHERE id = ?`, [
        text.replace('"seq":2000', '"seq":2001'),
        id,
      ]);
      try {
        const result = await verify();
        expect(result.problems).toEqual([
          expect.objectContaining({
            kind: "bad-signature",
            file: `${source}_checkpoints`,
            line: id,
            seq: 2001,
          }),
        ]);
        expect(result.problems[0]!.message).toContain(`${source}_checkpoints row ${id}: the signature`);
      } finally {
        await db.run(`UPDATE ${db.checkpoints} SET record = ? WHERE id = ?`, [text, id]);
      }
      expect((await verify()).ok).toBe(true);
    });
  });

  it("reports a wrong verifying key as wrong-key, not as tampered rows", async () => {
    const result = await verify("another-secret-of-enough-length-9876543210");
    expect(result.ok).toBe(false);
    expect(only(result.problems)).toEqual(["wrong-key"]);
  });

  it("accepts rows deleted by signed retention (retained) and still reports one more deleted row", async () => {
    // the cutoff falls between seq 1000 and 1001 (one event a second from START)
    const cutoff = START + 1000 * 1000 - 500;
    const engine = new AuditEngine({ config: storeConfig(connection, table), env: {} });
    const errors: unknown[] = [];
    engine.on("error", (e) => errors.push(e));
    const [outcome] = await engine.applyRetention({ days: 1, now: new Date(cutoff + 86_400_000) });
    await engine.close();
    expect(errors).toEqual([]);
    expect(outcome).toMatchObject({ backend: "db", deletedEvents: 1000, signed: 1 });
    const left = await db.all(`SELECT COUNT(*) AS n FROM ${db.events}`);
    expect(Number(left[0]!.n)).toBe(EVENTS - 1000 + 1); // + RETENTION_APPLIED, in the new chain
    const retention = await db.all(`SELECT record FROM ${db.checkpoints} WHERE type = 'retention'`);
    expect(JSON.parse(String(retention[0]!.record))).toMatchObject({
      type: "retention",
      from: 1,
      to: 1000,
      last_hash: checkLine(at(1000).line)!.hash,
      files: [source],
      cutoff: new Date(cutoff).toISOString(),
    });

    const result = await verify();
    expect(result).toMatchObject({ ok: true, status: "intact", retained: 1000, chains: 2 });

    await db.unguard(true);
    const x = at(2500);
    const saved = await fullRow(x.r);
    await deleteRow(x.r);
    try {
      const after = await verify();
      expect(after.retained).toBe(1000);
      expect(after.problems).toEqual([expect.objectContaining({ kind: "deleted", seq: 2500, count: 1 })]);
    } finally {
      await db.insertRow(saved);
      await db.unguard(false);
    }
  });
});
