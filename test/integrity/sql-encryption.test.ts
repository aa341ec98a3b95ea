/**
 * Encryption at rest on database backends, through the real engine on SQLite, PostgreSQL
 * and MariaDB: rows hold AES-256-GCM envelopes and, in the indexed columns, only the
 * fields the user opted into (`clear_fields`) — no name, address or IP anywhere in the
 * table. Search and count decrypt transparently and answer as on clear rows; verify
 * decrypts and names a changed or deleted row; a wrong key is named by its key id; after
 * key rotation old rows stay readable.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseConnectionConfig, VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { uniqueTable } from "../conformance/sql-servers.js";
import { tempDir } from "../helpers.js";
import { type Db, TARGETS } from "./sql-db.js";
import { HMAC_SECRET } from "./store.js";

const KEY1 = "1f".repeat(32);
const KEY2 = "2e".repeat(32);
const EVENTS = 300;

function config(
  connection: DatabaseConnectionConfig,
  table: string,
  encryption: Record<string, unknown> = { key: KEY1, key_id: "k1" },
): VigilConfig {
  return {
    core: { application_name: "sqlenc" },
    storage: { backends: [{ type: "database", name: "db", connection, table_name: table }] },
    performance: { async: { enabled: true }, batching: { batch_size: 100 } },
    security: {
      signing: { enabled: true, secret_key: HMAC_SECRET, checkpoint_every: 100 },
      encryption: { enabled: true, clear_fields: ["action.category", "severity"], ...encryption },
    },
  } as VigilConfig;
}

/** Alice and Bob, with their names, addresses and IPs: none of it may reach the table. */
function logPeople(engine: AuditEngine, n: number, start: number): void {
  for (let i = 0; i < n; i++) {
    const alice = i % 3 === 0;
    engine.log({
      action: i % 5 === 0 ? "LOGIN" : "QUERY",
      category: i % 2 === 0 ? "DATABASE" : "API",
      timestamp: start + i * 1000,
      actor: alice
        ? { id: "42", username: "alice.cooper", ip: "10.9.8.7" }
        : { id: "7", username: "bob.marley", ip: "10.1.1.1" },
      resource: { type: "table", path: `/customers/${i}`, id: String(i) },
      metadata: { address: alice ? "12 Elm Street" : "9 Oak Road", i },
    });
  }
}

describe.each(TARGETS)("encryption at rest on $dialect rows", (target) => {
  const temp = tempDir("vigil-sql-enc-");
  const table = uniqueTable(`ve_${target.dialect.slice(0, 2)}`);
  const connection = target.connection(temp.dir);
  let db: Db;
  const open = (c: VigilConfig = config(connection, table)) => new AuditEngine({ config: c, env: {} });
  const readOnly = (c: VigilConfig = config(connection, table)) =>
    new AuditEngine({ config: c, env: {}, readOnly: true });
  /** A row's stored envelope (mysql2 hands MariaDB's JSON column over parsed). */
  const lineOf = (row: Record<string, unknown>): string => {
    const value = target.dialect === "mysql" ? (row.line ?? row.event) : row[db.lineColumn];
    return typeof value === "string" ? value : JSON.stringify(value);
  };

  beforeAll(async () => {
    const engine = open();
    const errors: unknown[] = [];
    engine.on("error", (e) => errors.push(e));
    logPeople(engine, EVENTS, Date.parse("2026-05-04T10:00:00.000Z"));
    await engine.close();
    expect(errors).toEqual([]);
    db = await target.open(connection, table);
  }, 60_000);

  afterAll(async () => {
    await db?.close();
    await target.cleanup(table);
    temp.cleanup();
  }, 30_000);

  it("keeps nothing personal in the table: envelopes, and only the opted-in columns filled", async () => {
    const rows = await db.all(`SELECT * FROM ${db.events}`);
    expect(rows).toHaveLength(EVENTS);
    const everything = JSON.stringify(rows);
    for (const secret of [
      "alice",
      "bob.marley",
      "10.9.8.7",
      "10.1.1.1",
      "Elm Street",
      "Oak Road",
      "/customers/",
    ])
      expect(everything, secret).not.toContain(secret);
    for (const row of rows) {
      expect(row.category === "DATABASE" || row.category === "API").toBe(true);
      expect(row.severity).toBe("INFO");
      expect(row.actor_username ?? null).toBeNull();
      expect(row.actor_id ?? null).toBeNull();
      expect(row.resource_path ?? null).toBeNull();
      expect(row.type ?? null).toBeNull();
      expect(row.status ?? null).toBeNull();
      expect(JSON.parse(lineOf(row))).toMatchObject({ v: 1, kid: "k1", id: row.id });
    }
  });

  it("searches and counts on decrypted events, in SQL where a clear column decides", async () => {
    const engine = readOnly();
    try {
      expect(await engine.count({ query: "actor.username:alice.cooper" })).toBe(100);
      expect(await engine.count({ query: "category:database AND user:bob*" })).toBe(100);
      expect(await engine.count({ query: "Elm" })).toBe(100);
      expect(await engine.count({ query: "action.type:LOGIN AND NOT actor.id:42" })).toBe(40);
      const found = await engine.search({ query: "actor.id:42 AND metadata.i:<10", order: "asc" });
      expect(found.map((e) => e.metadata?.i)).toEqual([0, 3, 6, 9]);
      expect(found[0]).toMatchObject({
        actor: { id: "42", username: "alice.cooper", ip: "10.9.8.7" },
        action: { type: "LOGIN", category: "DATABASE", resource: { path: "/customers/0" } },
        metadata: { address: "12 Elm Street" },
      });
    } finally {
      await engine.close();
    }
  });

  it("verifies the encrypted rows, and names a changed and a deleted row", async () => {
    const engine = readOnly();
    try {
      const intact = await engine.verify();
      expect(intact.ok, JSON.stringify(intact.problems.slice(0, 3))).toBe(true);
      expect(intact.events).toBe(EVENTS);

      const [victim] = await db.all(
        `SELECT ${db.rowId} AS r FROM ${db.events} ORDER BY ${db.rowId} LIMIT 1 OFFSET 50`,
      );
      const r = Number(victim!.r);
      const full = await db.fullRow(r);
      const envelope = JSON.parse(lineOf(full)) as { ct: string };
      const changed = { ...envelope, ct: `${envelope.ct[0] === "A" ? "B" : "A"}${envelope.ct.slice(1)}` };
      await db.unguard(true);
      try {
        await db.run(`UPDATE ${db.events} SET ${db.lineColumn} = ? WHERE ${db.rowId} = ?`, [
          JSON.stringify(changed),
          r,
        ]);
        const modified = await engine.verify();
        expect(modified.ok).toBe(false);
        expect(
          modified.problems.some((p) => p.line === r),
          JSON.stringify(modified.problems),
        ).toBe(true);

        await db.run(`DELETE FROM ${db.events} WHERE ${db.rowId} = ?`, [r]);
        const deleted = await engine.verify();
        expect(deleted.ok).toBe(false);
        expect(deleted.problems.map((p) => p.kind)).toContain("deleted");
        await db.insertRow(full);
        expect((await engine.verify()).ok).toBe(true);
      } finally {
        await db.unguard(false);
      }
    } finally {
      await engine.close();
    }
  });

  it("names the key id when the key is wrong or missing", async () => {
    const wrong = readOnly(config(connection, table, { key: KEY2, key_id: "k1" }));
    try {
      await expect(wrong.count({ query: "user:alice.cooper" })).rejects.toThrow(/"k1"/);
      const r = await wrong.verify();
      expect(r.ok).toBe(false);
      expect(r.problems[0]).toMatchObject({ kind: "wrong-key", keyId: "k1" });
    } finally {
      await wrong.close();
    }
    const missing = open(config(connection, table, { key: KEY2, key_id: "k2" }));
    try {
      await expect(missing.search({ query: "user:alice.cooper" })).rejects.toThrow(/"k1"/);
      // retention cannot sign for rows it cannot read: it deletes nothing
      const now = new Date(Date.parse("2026-05-05T10:02:00.000Z"));
      await expect(missing.applyRetention({ days: 1, now })).rejects.toThrow(/"k1"/);
      expect(await db.all(`SELECT id FROM ${db.events}`)).toHaveLength(EVENTS);
    } finally {
      await missing.close();
    }
  });

  it("after key rotation writes with the new key and still reads the old rows", async () => {
    const rotated = config(connection, table, { key: KEY2, key_id: "k2", previous_keys: { k1: KEY1 } });
    const engine = open(rotated);
    try {
      logPeople(engine, 30, Date.parse("2026-05-05T10:00:00.000Z"));
      await engine.flush();
      const kids = (await db.all(`SELECT * FROM ${db.events}`)).map(
        (row) => (JSON.parse(lineOf(row)) as { kid: string }).kid,
      );
      expect(kids.filter((k) => k === "k1")).toHaveLength(EVENTS);
      expect(kids.filter((k) => k === "k2")).toHaveLength(30);
      expect(await engine.count({ query: "actor.username:alice.cooper" })).toBe(110);
    } finally {
      await engine.close();
    }
    const check = readOnly(rotated);
    try {
      const r = await check.verify();
      expect(r.ok, JSON.stringify(r.problems.slice(0, 3))).toBe(true);
      expect(r.events).toBe(EVENTS + 30);
    } finally {
      await check.close();
    }
  });

  it("applies retention to encrypted rows under a signed record that verify accepts", async () => {
    const engine = open(config(connection, table, { key: KEY2, key_id: "k2", previous_keys: { k1: KEY1 } }));
    try {
      // the first 120 of the 300 events (one a second from 10:00) are older than 10:02
      const cutoff = Date.parse("2026-05-04T10:02:00.000Z");
      const [outcome] = await engine.applyRetention({ days: 1, now: new Date(cutoff + 86_400_000) });
      expect(outcome!.deletedEvents).toBe(120);
      expect(await engine.count({ query: "actor.username:alice.cooper" })).toBe(110 - 40);
    } finally {
      await engine.close(); // its RETENTION_APPLIED event is checkpointed at close
    }
    const check = readOnly(
      config(connection, table, { key: KEY2, key_id: "k2", previous_keys: { k1: KEY1 } }),
    );
    try {
      const r = await check.verify();
      expect(r.ok, JSON.stringify(r.problems.slice(0, 3))).toBe(true);
      expect(r.events).toBe(EVENTS + 30 - 120 + 1);
    } finally {
      await check.close();
    }
  });
});

describe("encryption and erasure together on SQLite rows", () => {
  const temp = tempDir("vigil-sql-enc-erase-");
  afterAll(() => temp.cleanup());

  it("searches sealed and encrypted fields alike, and an erased person stays unreadable", async () => {
    const connection = { dialect: "sqlite" as const, filename: `${temp.dir}/audit.db` };
    const table = "audit_events";
    const both = {
      ...config(connection, table),
      compliance: {
        gdpr: {
          erasure: {
            enabled: true,
            key: "5a".repeat(32),
            fields: ["metadata.address"],
            key_store: `${temp.dir}/keys`,
          },
        },
      },
    } as VigilConfig;
    const engine = new AuditEngine({ config: both, env: {} });
    try {
      logPeople(engine, 30, Date.parse("2026-05-04T10:00:00.000Z"));
      await engine.flush();
      expect(await engine.count({ query: "actor.username:alice.cooper" })).toBe(10);
      expect(await engine.count({ query: "Elm AND category:database" })).toBe(5);
      await engine.eraseSubject("42");
      expect(await engine.count({ query: "actor.username:alice.cooper" })).toBe(0);
      const erased = await engine.search({ query: "actor.id:42", order: "asc" });
      expect(erased).toHaveLength(10);
      expect(erased.every((e) => e.subject?.erased === true && e.metadata?.address === undefined)).toBe(true);
      expect(await engine.count({ query: "actor.username:bob.marley AND Oak" })).toBe(20);
    } finally {
      await engine.close();
    }
    const check = new AuditEngine({ config: both, env: {}, readOnly: true });
    try {
      const r = await check.verify();
      expect(r.ok, JSON.stringify(r.problems.slice(0, 3))).toBe(true);
    } finally {
      await check.close();
    }
  });
});
