/**
 * Where checkpoints go when the store has database backends, and how verification reads
 * them: a database-only store keeps them in `<table>_checkpoints` (written in order behind
 * the events, through an outage too); a store with a file backend as well keeps them in the
 * file store, and verify of the database reads them there. Verify windows on rows.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { DatabaseConnectionConfig, VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { checkLine, createIntegrityStage } from "../../src/integrity/index.js";
import { derivedName } from "../../src/storage/sql/schema.js";
import { dropTable, POSTGRES, pgQuery, uniqueTable } from "../conformance/sql-servers.js";
import { TcpProxy } from "../conformance/tcp-proxy.js";
import { tempDir } from "../helpers.js";
import { HMAC_SECRET, logEvents } from "./store.js";

const temp = tempDir("vigil-sql-store-");
afterAll(() => temp.cleanup());

const START = Date.parse("2026-03-01T22:00:00.000Z");
const SIGNING = {
  enabled: true,
  algorithm: "hmac-sha256",
  secret_key: HMAC_SECRET,
  checkpoint_every: 500,
} as const;

function sqliteBackend(name: string) {
  return {
    type: "database",
    name: "db",
    connection: { dialect: "sqlite", filename: join(temp.dir, name, "audit.db") },
    table_name: "vigil_audit_events",
  } as const;
}

function config(backends: unknown[]): VigilConfig {
  return {
    core: { application_name: "sqlstore" },
    storage: { backends },
    processing: { sanitization: { enabled: false } },
    performance: { async: { enabled: true }, batching: { batch_size: 200 } },
    security: { signing: SIGNING },
  } as VigilConfig;
}

async function write(cfg: VigilConfig, n: number): Promise<unknown[]> {
  const engine = new AuditEngine({ config: cfg, env: {} });
  const errors: unknown[] = [];
  engine.on("error", (e) => errors.push(e));
  logEvents(engine, n, START);
  await engine.close();
  return errors;
}

async function verify(cfg: VigilConfig, window: { from?: Date; to?: Date; strict?: boolean } = {}) {
  const engine = new AuditEngine({ config: cfg, env: {}, readOnly: true });
  try {
    return await engine.verify(window);
  } finally {
    await engine.close();
  }
}

describe("createIntegrityStage without a file backend", () => {
  it("refuses when there is no file or database backend to keep checkpoints in", () => {
    const cfg = loadConfig(
      { storage: { backends: [sqliteBackend("refuse")] }, security: { signing: SIGNING } },
      { env: {} },
    );
    expect(() => createIntegrityStage(cfg)).toThrow(
      "security.signing is enabled but there is no file or database backend to keep checkpoints in: pass a checkpointSink",
    );
  });
});

describe("a store with a file backend and a database backend", () => {
  const dir = join(temp.dir, "both-files");
  const cfg = config([
    { type: "file", directory: dir, filename_pattern: "audit_{date}.log" },
    sqliteBackend("both"),
  ]);
  const file = join(temp.dir, "both", "audit.db");

  it("keeps checkpoints in the file store only; verify reads them for the rows too", async () => {
    expect(await write(cfg, 1200)).toEqual([]);
    const cps = readdirSync(join(dir, "checkpoints"));
    expect(cps).toHaveLength(1);
    const lines = readFileSync(join(dir, "checkpoints", cps[0]!), "utf8")
      .trim()
      .split("\n");
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([600, 1200, 1200]);
    const db = new Database(file);
    try {
      const n = db
        .prepare(`SELECT COUNT(*) AS n FROM "${derivedName("vigil_audit_events", "checkpoints")}"`)
        .get();
      expect(n).toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const result = await verify(cfg);
    expect(result).toMatchObject({ ok: true, status: "intact", events: 2400, checkpoints: 6 });
    expect(result.backends.map((b) => [b.backend, b.type, b.result.status, b.result.events])).toEqual([
      ["file", "file", "intact", 1200],
      ["db", "database", "intact", 1200],
    ]);
  });

  it("names the tampered row in the database's result while the files stay intact", async () => {
    const db = new Database(file);
    try {
      db.exec(`DROP TRIGGER "${derivedName("vigil_audit_events", "no_update")}"`);
      const row = db.prepare("SELECT rowid AS r, event FROM vigil_audit_events WHERE rowid = 700").get() as {
        r: number;
        event: string;
      };
      db.prepare("UPDATE vigil_audit_events SET event = ? WHERE rowid = 700").run(
        row.event.replace('"QUERY"', '"QUERZ"').replace('"LOGIN"', '"LOGIM"'),
      );
      const result = await verify(cfg);
      expect(result.status).toBe("tampered");
      expect(result.backends.map((b) => b.result.status)).toEqual(["intact", "tampered"]);
      expect(result.problems).toEqual([
        expect.objectContaining({
          kind: "modified",
          file: "sqlite:vigil_audit_events",
          line: 700,
          seq: checkLine(row.event)!.seq,
        }),
      ]);
    } finally {
      db.close();
    }
  });
});

describe("verify with from/to on rows", () => {
  const cfg = config([sqliteBackend("window")]);
  const file = join(temp.dir, "window", "audit.db");
  // one event a second from START: [from, to) holds seq 1001..2000
  const from = new Date(START + 1000 * 1000);
  const to = new Date(START + 2000 * 1000);

  it("reads the rows of the window and reports a row deleted inside it, not one outside", async () => {
    expect(await write(cfg, 3000)).toEqual([]);
    const intact = await verify(cfg, { from, to });
    expect(intact).toMatchObject({ ok: true, events: 1000 });
    const db = new Database(file);
    try {
      db.exec(`DROP TRIGGER "${derivedName("vigil_audit_events", "no_delete")}"`);
      const seqOf = (r: number) =>
        checkLine(
          (db.prepare("SELECT event FROM vigil_audit_events WHERE rowid = ?").get(r) as { event: string })
            .event,
        )!.seq;
      expect([seqOf(1500), seqOf(2500)]).toEqual([1500, 2500]);
      db.prepare("DELETE FROM vigil_audit_events WHERE rowid IN (1500, 2500)").run();
    } finally {
      db.close();
    }
    const result = await verify(cfg, { from, to });
    expect(result.events).toBe(999);
    expect(result.problems).toEqual([expect.objectContaining({ kind: "deleted", seq: 1500, count: 1 })]);
    const whole = await verify(cfg);
    expect(whole.problems.map((p) => [p.kind, p.seq])).toEqual([
      ["deleted", 1500],
      ["deleted", 2500],
    ]);
  });
});

describe("rows after the last checkpoint", () => {
  const cfg = config([sqliteBackend("open")]);
  const file = join(temp.dir, "open", "audit.db");

  it("are pending while the writer runs (unverifiable when strict), also when the last ones are deleted; truncated once it closed", async () => {
    const engine = new AuditEngine({ config: cfg, env: {} });
    logEvents(engine, 700, START); // a checkpoint at 600 (batches of 200)
    await engine.flush();
    const open = await verify(cfg);
    expect(open).toMatchObject({ ok: true, status: "pending", problems: [], pendingEvents: 100 });
    expect(open.pending).toEqual([
      expect.objectContaining({ seq: 601, toSeq: 700, count: 100, line: 601, writer: "alive" }),
    ]);
    // the writer's own engine says the same
    expect(await engine.verify()).toMatchObject({ status: "pending", pendingEvents: 100 });
    const strict = await verify(cfg, { strict: true });
    expect(strict.status).toBe("unverifiable");
    expect(strict.problems).toEqual([
      expect.objectContaining({ kind: "unverifiable", seq: 601, toSeq: 700, count: 100, line: 601 }),
    ]);
    const db = new Database(file);
    try {
      db.exec(`DROP TRIGGER "${derivedName("vigil_audit_events", "no_delete")}"`);
      db.prepare("DELETE FROM vigil_audit_events WHERE rowid > 650").run();
      // what no checkpoint covers yet can be deleted unnoticed while the writer runs
      const cut = await verify(cfg);
      expect(cut).toMatchObject({ status: "pending", pendingEvents: 50 });
      expect(cut.pending).toEqual([expect.objectContaining({ seq: 601, toSeq: 650, count: 50 })]);
      // the writer signs its final checkpoint (seq 700) at close: the cut now shows
      await engine.close();
      const closed = await verify(cfg);
      expect(closed.problems).toEqual([
        expect.objectContaining({ kind: "truncated", seq: 651, toSeq: 700, count: 50 }),
      ]);
    } finally {
      db.close();
    }
  });
});

describe("a database-only store with a witness directory", () => {
  const witness = join(temp.dir, "witness");
  const cfg = { ...config([sqliteBackend("witnessed")]) } as VigilConfig & {
    security: { signing: Record<string, unknown> };
  };
  cfg.security.signing = { ...SIGNING, witness };
  const file = join(temp.dir, "witnessed", "audit.db");

  it("copies every checkpoint to the witness, which reveals checkpoint rows deleted from the table", async () => {
    expect(await write(cfg, 1000)).toEqual([]);
    const copies = readdirSync(witness);
    expect(copies).toHaveLength(1);
    const seqs = readFileSync(join(witness, copies[0]!), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).seq);
    expect(seqs).toEqual([600, 1000]);
    expect((await verify(cfg)).ok).toBe(true);
    const table = derivedName("vigil_audit_events", "checkpoints");
    const db = new Database(file);
    try {
      db.exec(`DROP TRIGGER "${derivedName("vigil_audit_events", "checkpoints_no_delete")}"`);
      db.prepare(`DELETE FROM "${table}" WHERE seq = 1000`).run();
    } finally {
      db.close();
    }
    const result = await verify(cfg);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual([expect.objectContaining({ kind: "rollback", seq: 601, toSeq: 1000 })]);
  });
});

describe("retention of rows with --dry-run", () => {
  const cfg = config([sqliteBackend("dry")]);
  const file = join(temp.dir, "dry", "audit.db");

  it("counts the rows and the records it would sign, and changes nothing", async () => {
    expect(await write(cfg, 1000)).toEqual([]);
    const engine = new AuditEngine({ config: cfg, env: {} });
    const cutoff = START + 400 * 1000 - 500; // seq 1..400 are older
    const [outcome] = await engine.applyRetention({
      dryRun: true,
      days: 1,
      now: new Date(cutoff + 86_400_000),
    });
    await engine.close();
    expect(outcome).toMatchObject({ backend: "db", deletedEvents: 400, signed: 1 });
    const db = new Database(file);
    try {
      expect(db.prepare("SELECT COUNT(*) AS n FROM vigil_audit_events").get()).toEqual({ n: 1000 });
      expect(
        db
          .prepare(
            `SELECT type, COUNT(*) AS n FROM "${derivedName("vigil_audit_events", "checkpoints")}" GROUP BY type`,
          )
          .all(),
      ).toEqual([{ type: "checkpoint", n: 2 }]); // 600 and the final 1000: nothing signed for retention
    } finally {
      db.close();
    }
  });
});

describe("checkpoints of a PostgreSQL-only store through an outage", () => {
  const table = uniqueTable("vs_pg");
  afterAll(() => dropTable("postgresql", table));

  it("keeps checkpoints that could not be written and writes them, after the events, once the server is back", async () => {
    const proxy = new TcpProxy(POSTGRES.host as string, POSTGRES.port as number);
    await proxy.start();
    const connection: DatabaseConnectionConfig = { ...POSTGRES, port: proxy.port };
    const cfg = config([{ type: "database", name: "pg", connection, table_name: table }]);
    const engine = new AuditEngine({ config: cfg, env: {} });
    const errors: string[] = [];
    engine.on("error", (e) => errors.push(e.message));
    try {
      logEvents(engine, 600, START); // a checkpoint at 600 (batches of 200)
      await engine.flush();
      await proxy.cut();
      logEvents(engine, 600, START + 600_000); // the checkpoint at 1200 cannot be written
      await engine.flush();
      await proxy.restore();
      await engine.close(); // the buffered events, then the queued checkpoints and the final one
    } finally {
      await proxy.stop();
    }
    expect(errors.some((m) => m.includes("signed record(s) not written to postgresql:"))).toBe(true);
    const cps = await pgQuery(`SELECT seq, record FROM "${derivedName(table, "checkpoints")}" ORDER BY id`);
    expect(cps.map((c) => Number(c.seq))).toEqual([600, 1200, 1200]);
    const result = await verify(
      config([{ type: "database", name: "pg", connection: POSTGRES, table_name: table }]),
    );
    expect(result).toMatchObject({ ok: true, status: "intact", events: 1200, checkpoints: 3 });
  });
});
