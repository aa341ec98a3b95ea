/**
 * `Ingestor` (vigil ingest) from a real NATS stream into a real PostgreSQL table: every event
 * once by id, checkpoints in `<table>_checkpoints` so the central store verifies; redelivered
 * and re-published events stored once; poison messages dead-lettered without blocking the
 * stream; a database outage (a cut proxy) given back to the stream and resumed.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { ErrorCodes } from "../../src/errors.js";
import { Ingestor, type RejectedMessage } from "../../src/ingest/ingest.js";
import { chainToken } from "../../src/storage/nats/stream.js";
import { dropTable, POSTGRES, pgQuery, uniqueTable } from "../conformance/sql-servers.js";
import { TcpProxy } from "../conformance/tcp-proxy.js";
import { HMAC_SECRET } from "../integrity/store.js";
import { deleteStream, SHARED_NATS, streamMessages, uniqueStream } from "./nats-helpers.js";

const SIGNING = {
  enabled: true,
  algorithm: "hmac-sha256",
  secret_key: HMAC_SECRET,
  checkpoint_every: 50,
} as const;
const streams: string[] = [];
const tables: string[] = [];
afterAll(async () => {
  for (const s of streams) await deleteStream(SHARED_NATS, s);
  for (const t of tables) await dropTable("postgresql", t);
});

function setup(connection = POSTGRES) {
  const u = uniqueStream();
  streams.push(u.stream);
  const table = uniqueTable("nats_ingest");
  tables.push(table);
  const producer: VigilConfig = {
    core: { application_name: "producer" },
    storage: { backends: [{ type: "nats", servers: [SHARED_NATS], ...u }] },
    security: { signing: SIGNING },
    performance: { batching: { batch_size: 40 } },
  };
  const central: VigilConfig = {
    storage: { backends: [{ type: "database", connection, table_name: table }] },
    ingest: { source: { servers: [SHARED_NATS], ...u, durable: `ingest-${u.subject_prefix}` } },
    security: { signing: SIGNING },
  };
  return { ...u, table, producer, central };
}

async function produce(config: VigilConfig, n: number): Promise<string[]> {
  const engine = new AuditEngine({ config });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(engine.log({ action: "ORDER", category: "SHOP", params: { i } })!.id);
  await engine.close();
  return ids;
}

/** Runs `ingestor` until `done()` holds (checked every 100 ms), then stops it. */
async function ingestUntil(ingestor: Ingestor, done: () => Promise<boolean>): Promise<void> {
  const running = ingestor.run();
  try {
    for (let i = 0; i < 300 && !(await done()); i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    ingestor.stop();
    await running;
  }
}

const rowCount = async (table: string) =>
  Number((await pgQuery(`SELECT COUNT(*) AS n FROM "${table}"`))[0]!.n);

async function verifyCentral(central: VigilConfig) {
  const engine = new AuditEngine({ config: central, readOnly: true });
  try {
    return await engine.verify();
  } finally {
    await engine.close();
  }
}

describe("vigil ingest", () => {
  it("stores every event once and the producers' checkpoints, so the central table verifies", async () => {
    const s = setup();
    const ids = [...(await produce(s.producer, 120)), ...(await produce(s.producer, 80))];
    const ingestor = new Ingestor(loadConfig(s.central), { batchSize: 64 });
    await ingestUntil(
      ingestor,
      async () => ingestor.metrics().events_written >= 200 && ingestor.metrics().lag === 0,
    );
    const rows = await pgQuery(`SELECT id::text AS id, COUNT(*) AS n FROM "${s.table}" GROUP BY id`);
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => Number(r.n) === 1)).toBe(true);
    const checkpoints = await pgQuery(`SELECT DISTINCT chain FROM "${s.table}_checkpoints"`);
    expect(checkpoints.length).toBe(2);
    const result = await verifyCentral(s.central);
    expect(result).toMatchObject({ ok: true, status: "intact", events: 200, chains: 2 });
    expect(ingestor.metrics()).toMatchObject({ dead_lettered: 0, backends_up: true });
  }, 60_000);

  it("stores an event published again (outside de-duplication) and redelivered ones only once", async () => {
    const s = setup();
    await produce(s.producer, 30);
    const messages = await streamMessages(SHARED_NATS, s.stream);
    const nc = await connect({ servers: SHARED_NATS });
    // the same events again under other message ids: the server cannot tell, the central store can
    for (const m of messages.filter((x) => x.kind === "event").slice(0, 10))
      await jetstream(nc).publish(m.subject, m.data, { msgID: `again-${m.id}` });
    await nc.close();
    // small batches: copies arrive in other batches than their originals (the database decides)
    const ingestor = new Ingestor(loadConfig(s.central), { batchSize: 8 });
    await ingestUntil(
      ingestor,
      async () => ingestor.metrics().received >= 40 && ingestor.metrics().lag === 0,
    );
    expect(await rowCount(s.table)).toBe(30);
    expect((await verifyCentral(s.central)).ok).toBe(true);
  }, 60_000);

  it("moves poison messages to the dead-letter subject, reports them, and keeps going", async () => {
    const s = setup();
    const before = await produce(s.producer, 5);
    const nc = await connect({ servers: SHARED_NATS });
    const js = jetstream(nc);
    const events = `${s.subject_prefix}.events.${chainToken("intruder")}`;
    await js.publish(events, "this is not json");
    await js.publish(
      events,
      JSON.stringify({ schema_version: 2, id: "0190a8c0-0000-7000-8000-000000000000" }),
    );
    const forged = {
      v: 1,
      type: "checkpoint",
      chain: "h:1:1:ab",
      seq: 3,
      hash: "0".repeat(64),
      time: new Date().toISOString(),
      alg: "hmac-sha256",
      key_id: "x",
      sig: "AAAA",
    };
    await js.publish(`${s.subject_prefix}.records.${chainToken("h:1:1:ab")}`, JSON.stringify(forged));
    await nc.close();
    const after = await produce(s.producer, 5);
    const rejected: RejectedMessage[] = [];
    const ingestor = new Ingestor(loadConfig(s.central), {
      batchSize: 4,
      onRejected: (r) => rejected.push(r),
    });
    await ingestUntil(
      ingestor,
      async () => ingestor.metrics().lag === 0 && ingestor.metrics().events_written >= 10,
    );
    expect(await rowCount(s.table)).toBe(10);
    const ids = (await pgQuery(`SELECT id::text AS id FROM "${s.table}"`)).map((r) => r.id);
    expect(ids.sort()).toEqual([...before, ...after].sort());
    expect(rejected.map((r) => r.reason)).toEqual([
      "not a vigil event: not JSON",
      "unknown schema version 2",
      "the checkpoint of chain h:1:1:ab does not verify (bad signature or another key)",
    ]);
    const dead = (await streamMessages(SHARED_NATS, s.stream)).filter(
      (m) => m.subject === `${s.subject_prefix}.dead`,
    );
    expect(dead.map((m) => m.data)).toEqual([
      "this is not json",
      JSON.stringify({ schema_version: 2, id: "0190a8c0-0000-7000-8000-000000000000" }),
      JSON.stringify(forged),
    ]);
    expect(ingestor.metrics().dead_lettered).toBe(3);
    // nothing of the intruder reached the central checkpoints
    expect(await pgQuery(`SELECT * FROM "${s.table}_checkpoints" WHERE chain = 'h:1:1:ab'`)).toEqual([]);
  }, 60_000);

  it("gives a batch back while the database is away and stores it once when it returns", async () => {
    const proxy = new TcpProxy(POSTGRES.host!, POSTGRES.port!);
    const port = await proxy.start();
    try {
      const s = setup({ ...POSTGRES, port });
      const errors: unknown[] = [];
      const ingestor = new Ingestor(loadConfig(s.central), {
        batchSize: 25,
        retryInitialMs: 100,
        retryMaxMs: 300,
        onError: (e) => errors.push(e),
      });
      await ingestor.start(); // creates the table
      await proxy.cut();
      const ids = await produce(s.producer, 100);
      const running = ingestor.run();
      for (let i = 0; i < 100 && ingestor.metrics().backends_up; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(ingestor.metrics().backends_up).toBe(false);
      expect(ingestor.metrics().events_written).toBe(0);
      await proxy.restore();
      for (
        let i = 0;
        i < 300 && !(ingestor.metrics().events_written >= 100 && ingestor.metrics().lag === 0);
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      ingestor.stop();
      await running;
      const rows = await pgQuery(`SELECT id::text AS id FROM "${s.table}"`);
      expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
      expect(errors.length).toBeGreaterThan(0);
      expect((await verifyCentral({ ...s.central })).ok).toBe(true);
    } finally {
      await proxy.stop();
    }
  }, 90_000);

  it("refuses a configuration without vigil.ingest or with a nats backend, with a coded error", () => {
    expect(() => new Ingestor(loadConfig({}))).toThrow(expect.objectContaining({ code: ErrorCodes.INGEST }));
    expect(
      () =>
        new Ingestor(
          loadConfig({ storage: { backends: [{ type: "nats" }] }, ingest: { source: { stream: "X" } } }),
        ),
    ).toThrow(/it would publish what it consumes/);
  });
});
