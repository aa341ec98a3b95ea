// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
/**
 * The `type: otlp` backend against a real OTLP/HTTP receiver on loopback: the mapping as
 * received (decompressed JSON), batching, gzip, every retry rule of the OTLP
 * specification, the bounded buffer and its EVENTS_DROPPED record, and the engine's
 * behaviour with a write-only backend.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { OtlpBackendConfig } from "../../src/config/types.js";
import { resolveConfig } from "../../src/config/validate.js";
import { AuditEngine } from "../../src/engine.js";
import { ConfigError, ErrorCodes, VigilError } from "../../src/errors.js";
import type { AuditEvent } from "../../src/event/types.js";
import { OtlpBackend, type OtlpBackendOptions, retryAfterMs } from "../../src/storage/otlp/backend.js";
import { BufferedWriteError } from "../../src/storage/retry.js";
import { generateCorpus, toRecords } from "../conformance/corpus.js";
import { tempDir } from "../helpers.js";
import { attribute, decode, type Receiver, startReceiver } from "./otlp-receiver.js";

function otlpConfig(extra: Record<string, unknown>, env: Record<string, string> = {}): OtlpBackendConfig {
  const config = resolveConfig({ storage: { backends: [{ type: "otlp", ...extra }] } }, { env });
  return config.storage.backends[0] as OtlpBackendConfig;
}

let receiver: Receiver;
const backends: OtlpBackend[] = [];
const warnings: string[] = [];
const retries: { reason: string; delayMs: number }[] = [];

function backend(extra: Record<string, unknown> = {}, options: OtlpBackendOptions = {}): OtlpBackend {
  const b = new OtlpBackend(otlpConfig({ endpoint: receiver.url, ...extra }), {
    onWarning: (w) => warnings.push(w),
    onRetry: (r) => retries.push(r),
    retryInitialMs: 20,
    retryMaxMs: 200,
    ...options,
  });
  backends.push(b);
  return b;
}

const corpus = generateCorpus(200, 77);
const records = (from: number, to: number) => toRecords(corpus.slice(from, to));
const uids = (list: readonly { attributes: readonly { key: string }[] }[]) =>
  list.map((r) => attribute(r.attributes as never, "log.record.uid"));

beforeEach(async () => {
  receiver = await startReceiver();
  warnings.length = 0;
  retries.length = 0;
});

afterEach(async () => {
  for (const b of backends.splice(0)) await b.close().catch(() => undefined);
  await receiver.close();
});

describe("otlp backend: what the receiver gets", () => {
  it("posts gzip'd OTLP/HTTP JSON with the configured headers, one request per max_batch_size records", async () => {
    const b = backend({
      headers: { Authorization: "Bearer t0k3n", "X-Scope-OrgID": "acme" },
      max_batch_size: 40,
    });
    await b.write(records(0, 100), { sync: false });
    expect(receiver.requests.map((r) => r.reply)).toEqual([200, 200, 200]);
    const [first] = receiver.requests;
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(first?.headers["content-encoding"]).toBe("gzip");
    expect(first?.raw.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b])); // the gzip magic
    expect(first?.headers.authorization).toBe("Bearer t0k3n");
    expect(first?.headers["x-scope-orgid"]).toBe("acme");
    expect(first?.body.resourceLogs[0]?.scopeLogs[0]?.scope.name).toBe("vigil-audit");
    const counts = receiver.requests.map((r) =>
      r.body.resourceLogs.reduce((n, rl) => n + (rl.scopeLogs[0]?.logRecords.length ?? 0), 0),
    );
    expect(counts).toEqual([40, 40, 20]);
    expect(uids(receiver.accepted())).toEqual(corpus.slice(0, 100).map((e) => e.id));
    expect(b.stats()).toMatchObject({ delivered: 100, requests: 3, retries: 0, buffered: 0 });
  });

  it("sends plain JSON with compression: none", async () => {
    const b = backend({ compression: "none" });
    await b.write(records(0, 3), { sync: false });
    const [req] = receiver.requests;
    expect(req?.headers["content-encoding"]).toBeUndefined();
    expect(JSON.parse(req?.raw.toString("utf8") ?? "")).toEqual(req?.body);
  });

  it("maps an event onto the log data model: time, severity, event name, trace context, resource, attributes", async () => {
    const event = {
      schema_version: 1,
      id: "0192f0c4-1d2e-7abc-8def-0123456789ab",
      timestamp: "2026-11-26T12:00:00.123Z",
      severity: "WARNING",
      security_event: true,
      application: {
        name: "traffictracer",
        version: "2.0.0",
        environment: "production",
        host: "web-1",
        pid: 4711,
      },
      actor: {
        id: "42",
        username: "alice",
        ip: "10.0.0.7",
        user_agent: "curl/8",
        session_id: "s-1",
        roles: ["admin"],
      },
      action: {
        type: "HTTP_REQUEST",
        category: "API",
        method: "POST",
        resource: { path: "/api/login", type: "endpoint" },
      },
      result: {
        status: "FAILURE",
        duration_ms: 3.25,
        http_status: 401,
        error: { type: "AuthError", message: "bad credentials" },
      },
      correlation: {
        request_id: "req-1",
        trace_id: "4BF92F3577B34DA6A3CE929D0E0E4736",
        span_id: "00f067aa0ba902b7",
      },
      params: { username: "alice", attempts: [1, 2] },
      metadata: { pool: "main", nested: { deep: true } },
      tenant: "acme",
      integrity: { chain: "web-1:4711:abc", seq: 7, prev: "aa".repeat(32), hash: "bb".repeat(32) },
    } as unknown as AuditEvent;
    const b = backend();
    const line = JSON.stringify(event);
    await b.write([{ event, line }], { sync: false });
    const rl = receiver.requests[0]?.body.resourceLogs[0];
    const resource = rl?.resource.attributes ?? [];
    expect(attribute(resource, "service.name")).toBe("traffictracer");
    expect(attribute(resource, "service.version")).toBe("2.0.0");
    expect(attribute(resource, "deployment.environment.name")).toBe("production");
    expect(attribute(resource, "deployment.environment")).toBe("production");
    expect(attribute(resource, "host.name")).toBe("web-1");
    expect(attribute(resource, "process.pid")).toBe(4711);
    const record = rl?.scopeLogs[0]?.logRecords[0];
    expect(record).toMatchObject({
      timeUnixNano: "1795694400123000000",
      severityNumber: 13,
      severityText: "WARNING",
      eventName: "HTTP_REQUEST",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      body: { stringValue: line },
    });
    expect(BigInt(record?.observedTimeUnixNano ?? "0")).toBeGreaterThan(BigInt(record?.timeUnixNano ?? "0"));
    const attrs = Object.fromEntries((record?.attributes ?? []).map((a) => [a.key, decode(a.value)]));
    expect(attrs).toEqual({
      "event.name": "HTTP_REQUEST",
      "log.record.uid": event.id,
      "vigil.schema_version": 1,
      "vigil.security_event": true,
      "enduser.id": "42",
      "user.name": "alice",
      "client.address": "10.0.0.7",
      "user_agent.original": "curl/8",
      "session.id": "s-1",
      "user.roles": ["admin"],
      "vigil.action.type": "HTTP_REQUEST",
      "vigil.action.category": "API",
      "http.request.method": "POST",
      "url.path": "/api/login",
      "vigil.action.resource.type": "endpoint",
      "vigil.result.status": "FAILURE",
      "vigil.result.duration_ms": 3.25,
      "http.response.status_code": 401,
      "exception.type": "AuthError",
      "exception.message": "bad credentials",
      "vigil.correlation.request_id": "req-1",
      "vigil.params": { username: "alice", attempts: [1, 2] },
      "vigil.metadata": { pool: "main", nested: { deep: true } },
      "vigil.tenant": "acme",
      "vigil.integrity.chain": "web-1:4711:abc",
      "vigil.integrity.seq": 7,
      "vigil.integrity.prev": "aa".repeat(32),
      "vigil.integrity.hash": "bb".repeat(32),
    });
    // typed as OTLP's JSON mapping says: 64-bit integers as strings, doubles as numbers
    const find = (k: string) => record?.attributes.find((a) => a.key === k)?.value;
    expect(find("http.response.status_code")).toEqual({ intValue: "401" });
    expect(find("vigil.result.duration_ms")).toEqual({ doubleValue: 3.25 });
  });

  it("keeps ids that are not valid hex as attributes, not as trace context; maps every severity", async () => {
    const base = corpus[0] as AuditEvent;
    const events = (["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const).map((severity, i) => ({
      ...base,
      id: `${base.id.slice(0, -1)}${i}`,
      severity,
      correlation: [
        { trace_id: "not-a-trace", span_id: "00f067aa0ba902b7" },
        { trace_id: "0".repeat(32), span_id: "1".repeat(16) },
        { trace_id: "a".repeat(31), span_id: "b".repeat(16) },
        { trace_id: "c".repeat(32), span_id: "xyz" },
        { trace_id: "d".repeat(32), span_id: "e".repeat(16) },
      ][i],
    })) as AuditEvent[];
    const b = backend();
    await b.write(toRecords(events), { sync: false });
    const got = receiver.accepted();
    expect(got.map((r) => [r.severityNumber, r.severityText])).toEqual([
      [5, "DEBUG"],
      [9, "INFO"],
      [13, "WARNING"],
      [17, "ERROR"],
      [21, "CRITICAL"],
    ]);
    expect(got.map((r) => [r.traceId, r.spanId])).toEqual([
      [undefined, undefined],
      [undefined, undefined],
      [undefined, undefined],
      ["c".repeat(32), undefined],
      ["d".repeat(32), "e".repeat(16)],
    ]);
    expect(attribute(got[0]?.attributes ?? [], "vigil.correlation.trace_id")).toBe("not-a-trace");
    expect(attribute(got[3]?.attributes ?? [], "vigil.correlation.span_id")).toBe("xyz");
    expect(attribute(got[4]?.attributes ?? [], "vigil.correlation.trace_id")).toBeUndefined();
  });

  it("sends a varied corpus of 200 events with every field and value kind", async () => {
    const b = backend({ max_batch_size: 64 });
    await b.write(records(0, 200), { sync: false });
    const got = receiver.accepted();
    expect(uids(got)).toEqual(corpus.map((e) => e.id));
    for (const [i, r] of got.entries()) {
      const e = corpus[i] as AuditEvent;
      expect(r.body).toEqual({ stringValue: JSON.stringify(e) });
      expect(r.eventName).toBe(e.action.type);
      expect(Number(BigInt(r.timeUnixNano) / 1_000_000n)).toBe(Date.parse(e.timestamp));
      if (e.tenant !== undefined) expect(attribute(r.attributes, "vigil.tenant")).toBe(e.tenant);
      if (e.actor?.username !== undefined)
        expect(attribute(r.attributes, "user.name")).toBe(e.actor.username);
    }
  });
});

describe("otlp backend: retries as the OTLP specification says", () => {
  it("retries a 429 after the Retry-After seconds it gave, then delivers once", async () => {
    const b = backend();
    receiver.script({ status: 429, headers: { "retry-after": "1" } });
    const error = await b.write(records(0, 5), { sync: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BufferedWriteError);
    expect((error as BufferedWriteError).buffered).toBe(true);
    expect(retries).toEqual([{ reason: "HTTP 429", delayMs: 1000 }]);
    expect(b.health().healthy).toBe(false);
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(5), { timeout: 15_000 });
    expect(receiver.requests.map((r) => r.reply)).toEqual([429, 200]);
    expect(uids(receiver.accepted())).toEqual(corpus.slice(0, 5).map((e) => e.id));
    await vi.waitFor(() => expect(b.health().healthy).toBe(true));
  });

  it("reads Retry-After as an HTTP date too", () => {
    const now = Date.parse("2026-12-03T10:00:00Z");
    expect(retryAfterMs("Thu, 03 Dec 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(retryAfterMs("Thu, 03 Dec 2026 09:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("120", now)).toBe(120_000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it.each([502, 503, 504])("retries a %i with exponential back-off and jitter", async (status) => {
    const b = backend();
    receiver.script({ status }, { status }, { status });
    await expect(b.write(records(0, 4), { sync: false })).rejects.toMatchObject({ buffered: true });
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(4), { timeout: 15_000 });
    expect(receiver.requests.map((r) => r.reply)).toEqual([status, status, status, 200]);
    await vi.waitFor(() => expect(b.stats().buffered).toBe(0));
    // 20 ms doubling, each cut by up to a quarter
    const delays = retries.map((r) => r.delayMs);
    expect(delays).toHaveLength(3);
    for (const [i, d] of delays.entries()) {
      expect(d).toBeGreaterThanOrEqual(0.75 * 20 * 2 ** i);
      expect(d).toBeLessThanOrEqual(20 * 2 ** i);
    }
    expect(b.stats()).toMatchObject({ delivered: 4, retries: 3 });
  });

  it.each([
    [400, "bad request"],
    [413, "too large"],
    [401, "unauthorized"],
    [500, "internal"],
  ])("never retries a %i: the batch is refused, counted and reported", async (status, text) => {
    const b = backend({ max_batch_size: 3 });
    receiver.script({ status, body: JSON.stringify({ code: 3, message: text }) });
    const error = await b.write(records(0, 3), { sync: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BufferedWriteError);
    expect(error).toMatchObject({ buffered: false, events: 3 });
    expect((error as Error).message).toContain(`HTTP ${status}: ${text}`);
    if (status === 413) expect((error as Error).message).toContain("lower max_batch_size");
    await new Promise((r) => setTimeout(r, 100)); // a retry would have been due after 20 ms
    expect(receiver.requests).toHaveLength(1);
    expect(retries).toEqual([]);
    expect(b.stats()).toMatchObject({ refused: 3, delivered: 0 });
    expect(warnings.some((w) => w.includes(`refused 3 log record(s), not resent: HTTP ${status}`))).toBe(
      true,
    );
    // the next batch goes out normally
    await b.write(records(3, 5), { sync: false });
    expect(receiver.requests.map((r) => r.reply)).toEqual([status, 200]);
  });

  it("counts and reports a partial success without resending", async () => {
    const b = backend();
    receiver.script({
      status: 200,
      body: JSON.stringify({
        partialSuccess: { rejectedLogRecords: "2", errorMessage: "2 records too old" },
      }),
    });
    await b.write(records(0, 6), { sync: false });
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.requests).toHaveLength(1);
    expect(b.stats()).toMatchObject({ delivered: 4, rejected: 2, retries: 0 });
    expect(warnings).toContainEqual(
      expect.stringContaining(
        "rejected 2 of 6 log record(s) (partial success, not resent): 2 records too old",
      ),
    );
  });

  it("retries after a connection reset", async () => {
    const b = backend();
    receiver.script({ reset: true });
    await expect(b.write(records(0, 3), { sync: false })).rejects.toMatchObject({ buffered: true });
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(3), { timeout: 15_000 });
    expect(receiver.requests.map((r) => r.reply)).toEqual(["reset", 200]);
    expect(retries[0]?.reason).toMatch(/^request failed/);
  });

  it("abandons a slow answer after timeout_seconds and retries with the same record ids, for de-duplication", async () => {
    const b = backend({ timeout_seconds: 0.3 });
    receiver.script({ delayMs: 3000 });
    await expect(b.write(records(0, 3), { sync: false })).rejects.toMatchObject({ buffered: true });
    expect(retries[0]?.reason).toBe("no answer within 0.3 s");
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(3), { timeout: 15_000 });
    const [slow, retried] = receiver.requests;
    expect(slow?.reply).toBe("slow");
    // the receiver may have stored the slow one: the same log.record.uid lets it drop the copy
    expect(uids(retried?.body.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? [])).toEqual(
      uids(slow?.body.resourceLogs[0]?.scopeLogs[0]?.logRecords ?? []),
    );
  });

  it("fails fast and buffers while the receiver is down, and sends in order when it is back", async () => {
    const b = backend({}, { retryInitialMs: 2000, retryMaxMs: 2000 });
    receiver.script({ status: 503 });
    await expect(b.write(records(0, 5), { sync: false })).rejects.toMatchObject({ buffered: true });
    // within the back-off, later batches join the buffer without a request of their own
    await expect(b.write(records(5, 10), { sync: false })).rejects.toMatchObject({ buffered: true });
    await expect(b.write(records(10, 15), { sync: false })).rejects.toMatchObject({ buffered: true });
    expect(receiver.requests).toHaveLength(1);
    expect(b.stats().buffered).toBe(15);
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(15), { timeout: 15_000 });
    expect(uids(receiver.accepted())).toEqual(corpus.slice(0, 15).map((e) => e.id));
    await vi.waitFor(() => expect(b.stats()).toMatchObject({ buffered: 0, delivered: 15 }));
  });
});

describe("otlp backend: bounded", () => {
  it("drops what does not fit in buffer_size, counts it, and sends an EVENTS_DROPPED record ahead of the next delivery", async () => {
    const b = backend({ buffer_size: 8 }, { retryInitialMs: 1200, retryMaxMs: 1200 });
    receiver.script({ status: 503 }, { status: 503 });
    await expect(b.write(records(0, 5), { sync: false })).rejects.toMatchObject({ buffered: true });
    const error = await b.write(records(5, 10), { sync: false }).catch((e: unknown) => e);
    expect(error).toMatchObject({ buffered: false, events: 5 });
    expect((error as Error).message).toContain("buffer is full (5 of 8 events): 5 event(s) dropped");
    expect(b.stats()).toMatchObject({ dropped: 5, buffered: 5 });
    await vi.waitFor(() => expect(receiver.accepted()).toHaveLength(6), { timeout: 15_000 });
    const [notice, ...rest] = receiver.accepted();
    expect(notice?.eventName).toBe("EVENTS_DROPPED");
    expect(notice?.severityText).toBe("WARNING");
    expect(attribute(notice?.attributes ?? [], "vigil.action.category")).toBe("AUDIT");
    expect(attribute(notice?.attributes ?? [], "vigil.result.count")).toBe(5);
    expect(attribute(notice?.attributes ?? [], "vigil.metadata")).toMatchObject({ backend: "otlp" });
    expect(uids(rest)).toEqual(corpus.slice(0, 5).map((e) => e.id));
    // the retried request carried the same notice (same log.record.uid), for de-duplication
    const first = (i: number) => receiver.requests[i]?.body.resourceLogs[0]?.scopeLogs[0]?.logRecords[0];
    expect(receiver.requests.map((r) => r.reply)).toEqual([503, 503, 200]);
    expect(first(1)?.eventName).toBe("EVENTS_DROPPED");
    expect(uids([first(1)!, first(2)!])).toEqual(uids([notice!, notice!]));
    // announced once
    await b.write(records(10, 11), { sync: false });
    expect(receiver.accepted().filter((r) => r.eventName === "EVENTS_DROPPED")).toHaveLength(1);
  });

  it("close() makes one last attempt and reports what it could not send", async () => {
    const b = backend({}, { retryInitialMs: 10_000, retryMaxMs: 10_000 });
    receiver.script({ status: 503 }, { status: 503 });
    await expect(b.write(records(0, 4), { sync: false })).rejects.toMatchObject({ buffered: true });
    const error = await b.close().catch((e: unknown) => e);
    expect(error).toMatchObject({ buffered: false, events: 4 });
    expect((error as Error).message).toContain(
      "closed with 4 buffered event(s) that could not be sent: HTTP 503",
    );
    expect(receiver.requests).toHaveLength(2);
    await expect(b.write(records(4, 5), { sync: false })).rejects.toMatchObject({ code: ErrorCodes.CLOSED });
  });

  it("close() sends what is buffered when the receiver is back", async () => {
    const b = backend({}, { retryInitialMs: 10_000, retryMaxMs: 10_000 });
    receiver.script({ status: 503 });
    await expect(b.write(records(0, 4), { sync: false })).rejects.toMatchObject({ buffered: true });
    await b.close();
    expect(uids(receiver.accepted())).toEqual(corpus.slice(0, 4).map((e) => e.id));
  });
});

describe("otlp backend in the engine", () => {
  it("logDurable resolves on the receiver's 2xx; searches go to the file backend beside it", async () => {
    const { dir, cleanup } = tempDir();
    const engine = new AuditEngine({
      config: {
        core: { application_name: "shop", version: "1.2.3", environment: "test" },
        storage: {
          backends: [
            { type: "otlp", endpoint: receiver.url, headers: { authorization: "Bearer ${OTLP_TOKEN}" } },
            { type: "file", directory: dir },
          ],
        },
      },
      env: { OTLP_TOKEN: "s3cr3t" },
    });
    try {
      const event = await engine.logDurable({
        action: "LOGIN",
        category: "AUTHENTICATION",
        actor: { username: "alice" },
      });
      expect(receiver.accepted().map((r) => attribute(r.attributes, "log.record.uid"))).toContain(event?.id);
      expect(receiver.requests.at(-1)?.headers.authorization).toBe("Bearer s3cr3t");
      const resource = receiver.requests.at(-1)?.body.resourceLogs[0]?.resource.attributes ?? [];
      expect(attribute(resource, "service.name")).toBe("shop");
      expect(attribute(resource, "process.pid")).toBe(process.pid);
      const found = await engine.search({ query: "action.type:LOGIN" });
      expect(found.map((e) => e.id)).toEqual([event?.id]);
      expect(engine.getActiveBackends().map((b) => b.type)).toEqual(["otlp", "file"]);
    } finally {
      await engine.close();
      cleanup();
    }
  });

  it("logDurable rejects while the receiver asks to retry, the event still goes out once it is back, and the file backend beside it is not held up", async () => {
    const { dir, cleanup } = tempDir();
    const engine = new AuditEngine({
      config: {
        storage: {
          backends: [
            { type: "otlp", endpoint: receiver.url },
            { type: "file", directory: dir },
          ],
        },
      },
      env: {},
    });
    const errors: unknown[] = [];
    engine.on("error", (e) => errors.push(e));
    try {
      receiver.script({ status: 503, headers: { "retry-after": "1" } });
      // the file backend stores it: durable
      const first = await engine.logDurable({ action: "LOGIN", actor: { username: "alice" } });
      expect(errors).toContainEqual(expect.objectContaining({ buffered: true }));
      expect(engine.getActiveBackends().find((b) => b.type === "otlp")?.healthy).toBe(false);
      expect((await engine.search({})).map((e) => e.id)).toEqual([first?.id]);
      await vi.waitFor(() => expect(uids(receiver.accepted())).toEqual([first?.id]), { timeout: 15_000 });
    } finally {
      await engine.close();
      cleanup();
    }
  });

  it("counts what it holds while the receiver is away against queue_size: the rest is dropped, counted and recorded as EVENTS_DROPPED, and all of it goes out once the receiver is back", async () => {
    const { dir, cleanup } = tempDir();
    const queueSize = 1000;
    const engine = new AuditEngine({
      config: {
        storage: {
          backends: [
            { type: "otlp", endpoint: receiver.url },
            { type: "file", directory: dir },
          ],
        },
        performance: { async: { enabled: true, queue_size: queueSize }, batching: { batch_size: 100 } },
      },
      env: {},
    });
    const warnings: string[] = [];
    engine.on("error", () => undefined);
    engine.on("warning", (w) => warnings.push(w));
    try {
      await engine.logDurable({ action: "READY" });
      receiver.answerAll({ status: 503, headers: { "retry-after": "1" } });
      const accepted: string[] = [];
      let dropped = 0;
      let mostHeld = 0;
      for (let i = 0; i < 5000; i++) {
        const e = engine.log({ action: "OUTAGE", metadata: { i } });
        if (e) accepted.push(e.id);
        else dropped++;
        if (i % 200 === 199) {
          await new Promise((r) => setTimeout(r, 1));
          mostHeld = Math.max(mostHeld, engine.metrics().backends.otlp!.buffered);
        }
      }
      await engine.flush();
      mostHeld = Math.max(mostHeld, engine.metrics().backends.otlp!.buffered);
      // bounded by the queue (and the batches it may have in flight), not by buffer_size (10,000)
      expect(mostHeld).toBeGreaterThan(0);
      expect(mostHeld).toBeLessThanOrEqual(queueSize + 4 * 101);
      expect(accepted.length).toBeLessThanOrEqual(queueSize + 4 * 101);
      expect(dropped).toBe(5000 - accepted.length);
      expect(engine.metrics().dropped).toBe(dropped);
      expect(warnings.some((w) => /dropped and counted/.test(w))).toBe(true);

      receiver.answerAll(undefined);
      await vi.waitFor(
        async () => {
          await engine.flush();
          expect(engine.metrics().queue_depth).toBe(0);
        },
        { timeout: 30_000, interval: 200 },
      );
      // the store beside it holds the same record
      const stored = await engine.search({ query: "action.type:EVENTS_DROPPED" });
      expect(stored.reduce((n, e) => n + Number(e.result.count), 0)).toBe(dropped);
      await engine.close();
      const records = receiver.accepted();
      const outage = records.filter((r) => r.eventName === "OUTAGE");
      expect(uids(outage)).toEqual(accepted);
      const notices = records.filter((r) => r.eventName === "EVENTS_DROPPED");
      const counted = notices.reduce((n, r) => n + Number(attribute(r.attributes, "vigil.result.count")), 0);
      expect(counted).toBe(dropped);
    } finally {
      await engine.close();
      cleanup();
    }
  }, 60_000);

  it("logDurable rejects with VIGIL_ERR_NOT_DURABLE when otlp is the only backend and the receiver refuses", async () => {
    const engine = new AuditEngine({
      config: { storage: { backends: [{ type: "otlp", endpoint: receiver.url }] } },
      env: {},
    });
    engine.on("error", () => undefined);
    try {
      receiver.script({ status: 400, body: '{"message":"bad"}' });
      await expect(engine.logDurable({ action: "LOGIN" })).rejects.toMatchObject({
        code: ErrorCodes.NOT_DURABLE,
      });
      const ok = await engine.logDurable({ action: "LOGOUT" });
      expect(uids(receiver.accepted())).toEqual([ok?.id]);
    } finally {
      await engine.close();
    }
  });

  it("answers a search with a clear error when otlp is the only backend", async () => {
    const engine = new AuditEngine({
      config: { storage: { backends: [{ type: "otlp", endpoint: receiver.url }] } },
      env: {},
    });
    try {
      engine.log({ action: "X" });
      const error = await engine.search({}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(VigilError);
      expect(error).toMatchObject({ code: ErrorCodes.NOT_QUERYABLE });
      expect((error as Error).message).toContain("add a file or database backend");
      await expect(engine.count({})).rejects.toMatchObject({ code: ErrorCodes.NOT_QUERYABLE });
    } finally {
      await engine.close();
    }
  });

  it("with encryption, sends only the clear fields as attributes and the encrypted envelope as body", async () => {
    const engine = new AuditEngine({
      config: {
        storage: { backends: [{ type: "otlp", endpoint: receiver.url }] },
        security: {
          encryption: { enabled: true, key: "ab".repeat(32), key_id: "k1", clear_fields: ["action.type"] },
        },
      },
      env: {},
    });
    try {
      const event = await engine.logDurable({ action: "LOGIN", actor: { username: "alice" } });
      const [record] = receiver.accepted();
      expect(attribute(record?.attributes ?? [], "vigil.action.type")).toBe("LOGIN");
      expect(attribute(record?.attributes ?? [], "user.name")).toBeUndefined();
      expect(attribute(record?.attributes ?? [], "log.record.uid")).toBe(event?.id);
      const body = (record?.body as { stringValue: string } | undefined)?.stringValue;
      expect(body).not.toContain("alice");
    } finally {
      await engine.close();
    }
  });
});

describe("otlp backend configuration", () => {
  it("fills the defaults", () => {
    expect(
      resolveConfig({ storage: { backends: [{ type: "otlp" }] } }, { env: {} }).storage.backends[0],
    ).toEqual({
      type: "otlp",
      name: "otlp",
      enabled: true,
      endpoint: "http://127.0.0.1:4318/v1/logs",
      headers: {},
      compression: "gzip",
      timeout_seconds: 10,
      max_batch_size: 512,
      buffer_size: 10_000,
    });
  });

  it("adds the logs path to a bare collector address and reads ${VAR}s", () => {
    const c = otlpConfig(
      { endpoint: "https://${COLLECTOR}", headers: { "DD-API-KEY": "${DD_KEY}" } },
      {
        COLLECTOR: "otel.example.com:4318",
        DD_KEY: "k",
      },
    );
    expect(c.endpoint).toBe("https://otel.example.com:4318/v1/logs");
    expect(c.headers).toEqual({ "DD-API-KEY": "k" });
  });

  it("names every problem with its path and never echoes a header value", () => {
    const input = {
      storage: {
        backends: [
          {
            type: "otlp",
            endpoint: "http://127.0.0.1:4317",
            headers: {
              "Content-Encoding": "br",
              "bad header": "x",
              Authorization: "Bearer ${NOPE}",
              "X-Ok": "a\nb",
            },
            compression: "zstd",
            timeout_seconds: 0,
            max_batch_size: 0,
            buffer_siz: 5,
          },
          { type: "otlp", endpoint: "ftp://x" },
        ],
      },
    };
    let error: unknown;
    try {
      resolveConfig(input, { env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map(
      (p) => `${p.path}: ${p.expected} / ${p.found}${p.hint ? ` (${p.hint})` : ""}`,
    );
    const at = "vigil.storage.backends[0]";
    expect(problems).toEqual(
      expect.arrayContaining([
        `${at}.buffer_siz: a known key / "buffer_siz" (did you mean "buffer_size"?)`,
        `${at}.endpoint: the OTLP/HTTP port (4318 by default) / "http://127.0.0.1:4317" (4317 is the OTLP/gRPC port; vigil sends OTLP/HTTP)`,
        `${at}.headers.Content-Encoding: a header vigil does not set itself / "Content-Encoding" (vigil sets this header; remove it)`,
        `${at}.headers.bad header: an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~) / "bad header"`,
        expect.stringMatching(
          /^vigil\.storage\.backends\[0\]\.headers\.Authorization: environment variable NOPE to be set/,
        ),
        `${at}.headers.X-Ok: a header value (text on one line) / a string of 3 characters`,
        `${at}.compression: one of gzip, none / "zstd"`,
        `${at}.timeout_seconds: a number greater than 0 / 0`,
        `${at}.max_batch_size: an integer from 1 to 100000 / 0`,
        `vigil.storage.backends[1].endpoint: an http:// or https:// URL / "ftp://x"`,
      ]),
    );
    expect(problems).toHaveLength(10);
    expect(JSON.stringify(problems)).not.toContain("Bearer");
  });

  it("allows unset variables under enabled: false", () => {
    const config = resolveConfig(
      {
        storage: {
          backends: [{ type: "file" }, { type: "otlp", enabled: false, headers: { a: "${UNSET}" } }],
        },
      },
      { env: {} },
    );
    expect(config.storage.backends[1]).toEqual({ type: "otlp", name: "otlp", enabled: false });
  });
});
