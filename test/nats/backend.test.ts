/**
 * The `type: nats` backend against a real nats-server: what lands on the stream (one subject
 * per chain, the event id as message id, checkpoints on their own subject), the stream's
 * settings, a fork refused, write-only queries, and an outage of a private server (buffered,
 * published on its return; drops recorded as EVENTS_DROPPED).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/index.js";
import type { NatsBackendConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { ErrorCodes } from "../../src/errors.js";
import { NatsBackend } from "../../src/storage/nats/backend.js";
import { chainToken } from "../../src/storage/nats/stream.js";
import { tempDir } from "../helpers.js";
import { HMAC_SECRET } from "../integrity/store.js";
import { deleteStream, PrivateNats, SHARED_NATS, streamMessages, uniqueStream } from "./nats-helpers.js";

const temp = tempDir("vigil-nats-backend-");
const created: string[] = [];
afterAll(async () => {
  for (const s of created) await deleteStream(SHARED_NATS, s);
  temp.cleanup();
});

const SIGNING = {
  enabled: true,
  algorithm: "hmac-sha256",
  secret_key: HMAC_SECRET,
  checkpoint_every: 10,
} as const;

function natsConfig(extra: Record<string, unknown> = {}, servers = SHARED_NATS) {
  const u = uniqueStream();
  created.push(u.stream);
  return { type: "nats", servers: [servers], ...u, ...extra } as const;
}

function backendConfig(b: Record<string, unknown>): NatsBackendConfig {
  return resolveConfig({ storage: { backends: [b] } }).storage.backends[0] as NatsBackendConfig;
}

describe("nats backend", () => {
  it("publishes each event on its chain's subject with its id as message id, checkpoints beside them", async () => {
    const nats = natsConfig();
    const engine = new AuditEngine({
      config: {
        core: { application_name: "natstest" },
        storage: { backends: [nats, { type: "file", directory: temp.dir }] },
        security: { signing: SIGNING },
        performance: { batching: { batch_size: 7 } },
      },
    });
    const ids: string[] = [];
    for (let i = 0; i < 25; i++)
      ids.push(engine.log({ action: "LOGIN", category: "AUTH", params: { i } })!.id);
    const durable = await engine.logDurable({ action: "PAY", category: "BILLING" });
    ids.push(durable!.id);
    // the engine searches the file backend: the nats backend is write-only
    expect((await engine.search({ limit: 100 })).length).toBe(26);
    await engine.close();

    const messages = await streamMessages(SHARED_NATS, nats.stream);
    const events = messages.filter((m) => m.kind === "event");
    expect(events.map((m) => m.id)).toEqual(ids);
    const chain = (JSON.parse(events[0]!.data) as { integrity: { chain: string } }).integrity.chain;
    expect(new Set(events.map((m) => m.subject))).toEqual(
      new Set([`${nats.subject_prefix}.events.${chainToken(chain)}`]),
    );
    expect(events.map((m) => (JSON.parse(m.data) as { integrity: { seq: number } }).integrity.seq)).toEqual(
      ids.map((_, i) => i + 1),
    );
    const records = messages.filter((m) => m.kind === "record").map((m) => JSON.parse(m.data));
    expect(records.length).toBeGreaterThanOrEqual(3);
    expect(records[records.length - 1]).toMatchObject({ type: "checkpoint", chain, seq: 26, final: true });
    for (const m of messages.filter((x) => x.kind === "record"))
      expect(m.subject).toBe(`${nats.subject_prefix}.records.${chainToken(chain)}`);

    // the stream was created with the documented settings
    const nc = await connect({ servers: SHARED_NATS });
    const info = await (await jetstreamManager(nc)).streams.info(nats.stream);
    await nc.close();
    expect(info.config).toMatchObject({
      subjects: [`${nats.subject_prefix}.>`],
      retention: "limits",
      storage: "file",
      max_age: 7 * 24 * 3600 * 1e9,
      num_replicas: 1,
      duplicate_window: 120 * 1e9,
    });
  });

  it("a batch sent again is de-duplicated by the server (event id = Nats-Msg-Id)", async () => {
    const b = new NatsBackend(backendConfig(natsConfig()));
    await b.open();
    const engine = new AuditEngine({
      config: { storage: { backends: [{ type: "file", directory: temp.dir }] } },
    });
    const e = engine.log({ action: "X" })!;
    await engine.close();
    const record = { event: e, line: JSON.stringify(e) };
    await b.write([record], { sync: true });
    await b.write([record], { sync: true });
    await b.close();
    const messages = await streamMessages(SHARED_NATS, b.stream);
    expect(messages.map((m) => m.id)).toEqual([e.id]);
  });

  it("refuses an existing stream with incompatible settings, with a coded error", async () => {
    const nats = natsConfig();
    const nc = await connect({ servers: SHARED_NATS });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: nats.stream, subjects: ["elsewhere.>"], duplicate_window: 1e9 });
    await nc.close();
    const b = new NatsBackend(backendConfig(nats));
    const error = await b.open().then(
      () => undefined,
      (err: unknown) => err,
    );
    await b.close();
    expect(error).toMatchObject({ code: ErrorCodes.NATS_STREAM });
    expect((error as Error).message).toContain(`do not include ${nats.subject_prefix}.>`);
    expect((error as Error).message).toContain("duplicate window is 1 s");
  });

  it("refuses to continue a chain whose subject holds a message it did not publish (a fork)", async () => {
    const nats = natsConfig();
    const b = new NatsBackend(backendConfig(nats));
    await b.open();
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "file", directory: temp.dir }] },
        security: { signing: SIGNING },
      },
    });
    const events = [engine.log({ action: "A" })!, engine.log({ action: "B" })!];
    await engine.close();
    const sealed = (await engine.search({ order: "asc", limit: 1000 })).filter((x) =>
      events.some((e) => e.id === x.id),
    );
    await b.write([{ event: sealed[0]!, line: JSON.stringify(sealed[0]) }], { sync: true });
    // another writer publishes on the same chain subject
    const nc = await connect({ servers: SHARED_NATS });
    const { jetstream } = await import("@nats-io/jetstream");
    await jetstream(nc).publish(
      `${nats.subject_prefix}.events.${chainToken(sealed[0]!.integrity!.chain)}`,
      "forged",
    );
    await nc.close();
    const error = await b
      .write([{ event: sealed[1]!, line: JSON.stringify(sealed[1]) }], { sync: true })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    await b.close();
    expect(error).toMatchObject({ code: ErrorCodes.NATS_STREAM, buffered: false, droppedEvents: 0 });
    const messages = await streamMessages(SHARED_NATS, nats.stream);
    expect(messages.map((m) => m.data)).toEqual([JSON.stringify(sealed[0]), "forged"]);
  });

  it("a credentials file that cannot be read is one clear config error naming the key, at open", async () => {
    const b = new NatsBackend(backendConfig(natsConfig({ credentials_file: "/nonexistent/vigil.creds" })));
    const error = await b.open().then(
      () => undefined,
      (err: unknown) => err,
    );
    await b.close();
    expect(error).toMatchObject({
      code: ErrorCodes.CONFIG,
      message: 'storage.backends.nats.credentials_file: cannot read "/nonexistent/vigil.creds": ENOENT',
    });
  });

  it("is write-only: a search with no other backend is a clear coded error", async () => {
    const engine = new AuditEngine({ config: { storage: { backends: [natsConfig()] } } });
    engine.log({ action: "A" });
    await expect(engine.search()).rejects.toMatchObject({ code: ErrorCodes.NOT_QUERYABLE });
    await expect(engine.count()).rejects.toMatchObject({ code: ErrorCodes.NOT_QUERYABLE });
    await engine.close();
  });

  it("buffers through an outage of its server and publishes in order on its return; overflow is recorded", async () => {
    const server = await PrivateNats.start();
    try {
      const config = backendConfig({ ...natsConfig({}, server.url) });
      const backend = new NatsBackend(config, {
        bufferLimit: 30,
        retryInitialMs: 50,
        retryMaxMs: 200,
        ackTimeoutMs: 500,
      });
      const errors: unknown[] = [];
      const engine = new AuditEngine({
        config: {
          storage: { backends: [{ type: "file", directory: temp.dir }] },
          performance: { batching: { batch_size: 10 } },
        },
        backends: [backend],
      });
      engine.on("error", (e) => errors.push(e));
      const before: string[] = [];
      for (let i = 0; i < 10; i++) before.push(engine.log({ action: "BEFORE" })!.id);
      await engine.flush();
      await server.stop();
      const during: string[] = [];
      for (let i = 0; i < 50; i++) {
        during.push(engine.log({ action: "DURING" })!.id);
        if (i % 10 === 9) await engine.flush();
      }
      expect(backend.pendingEvents()).toBe(30);
      await server.start();
      const after = engine.log({ action: "AFTER" })!.id;
      for (let i = 0; i < 100 && backend.pendingEvents() > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      await engine.close();
      const messages = await streamMessages(server.url, config.stream);
      const ids = messages.map((m) => m.id);
      const dropped = messages
        .map((m) => JSON.parse(m.data))
        .filter((e) => e.action.type === "EVENTS_DROPPED");
      // the first 30 of the outage were buffered, the next 20 did not fit and were recorded
      expect(ids.slice(0, 40)).toEqual([...before, ...during.slice(0, 30)]);
      expect(ids).toContain(after);
      expect(ids.filter((id) => during.slice(30).includes(id!))).toEqual([]);
      expect(dropped.reduce((n, e) => n + e.result.count, 0)).toBe(20);
      expect(dropped[0].metadata).toMatchObject({ backend: "nats" });
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await server.destroy();
    }
  }, 60_000);
});
