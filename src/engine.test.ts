import { readdirSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { eventsOnDisk, fileEngine, rawLines, tempDir } from "../test/helpers.js";
import { withAuditScope } from "./capture/scope.js";
import { AuditEngine } from "./engine.js";
import type { VigilError } from "./errors.js";
import type { AuditEvent, LogInput } from "./event/types.js";
import { BaseBackend, type StoredRecord } from "./storage/backend.js";

let dir: string;
let cleanup: () => void;
const engines: AuditEngine[] = [];
function track(e: AuditEngine): AuditEngine {
  engines.push(e);
  return e;
}

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  cleanup();
});

describe("AuditEngine.log", () => {
  it("writes one jq-readable JSON line per event with the SPEC §2 shape", async () => {
    const engine = track(
      fileEngine(dir, {
        core: { application_name: "traffictracer", version: "2.0.0", environment: "production" },
      }),
    );
    const returned = engine.log({
      action: "query",
      category: "database",
      actor: { id: "42", username: "alice", roles: ["admin"] },
      resource: { type: "table", name: "orders" },
      result: { count: 3, duration_ms: 1.5 },
      metadata: { version: "2.0.0" },
    });
    const [event] = eventsOnDisk(dir);
    expect(event).toEqual(returned);
    expect(event).toMatchObject({
      schema_version: 1,
      severity: "INFO",
      security_event: false,
      application: { name: "traffictracer", version: "2.0.0", environment: "production", pid: process.pid },
      actor: { id: "42", username: "alice", roles: ["admin"] },
      action: { type: "QUERY", category: "DATABASE", resource: { type: "table", name: "orders" } },
      result: { status: "SUCCESS", count: 3, duration_ms: 1.5 },
      metadata: { version: "2.0.0" },
    });
    expect(event!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event!.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(typeof event!.application.host).toBe("string");
    // absent values are omitted, not null
    expect(rawLines(dir)[0]).not.toContain("null");
    expect(Object.keys(event!)).not.toContain("correlation");
  });

  it("defaults severity: INFO on success, WARNING on failure, ERROR on a captured error; explicit wins", async () => {
    const engine = track(fileEngine(dir));
    expect(engine.log({ action: "A" })!.severity).toBe("INFO");
    expect(engine.log({ action: "B", status: "FAILURE" })!.severity).toBe("WARNING");
    const c = engine.log({ action: "C", error: new TypeError("boom") })!;
    expect(c.severity).toBe("ERROR");
    expect(c.result).toMatchObject({ status: "FAILURE", error: { type: "TypeError", message: "boom" } });
    expect(engine.log({ action: "D", status: "FAILURE", severity: "CRITICAL" })!.severity).toBe("CRITICAL");
    expect(eventsOnDisk(dir).map((e) => e.severity)).toEqual(["INFO", "WARNING", "ERROR", "CRITICAL"]);
  });

  it("reports malformed input through on('error') and still records the event", async () => {
    const engine = track(fileEngine(dir));
    const errors: VigilError[] = [];
    engine.on("error", (e) => errors.push(e));
    const malformed: unknown = { action: 42, severity: "LOUD", status: "MAYBE", timestamp: "yesterday-ish" };
    const bad = engine.log(malformed as LogInput);
    expect(bad).toBeDefined();
    expect(errors.map((e) => e.code)).toEqual(Array(4).fill("VIGIL_ERR_INVALID_ARGUMENT"));
    expect(errors.map((e) => e.message).join("\n")).toMatch(
      /input\.action must be a non-empty string, found number/,
    );
    expect(errors.map((e) => e.message).join("\n")).toMatch(
      /input\.severity must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, found "LOUD"/,
    );
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
    expect(() => engine.log(null as any)).not.toThrow();
    const stored = eventsOnDisk(dir);
    expect(stored.map((e) => e.action.type)).toEqual(["UNSPECIFIED", "UNSPECIFIED"]);
    expect(stored[0]!.severity).toBe("INFO");
  });

  it("copies the caller's result and merged metadata without changing them; a __proto__ key stays an own key", async () => {
    const engine = track(fileEngine(dir));
    const result = JSON.parse('{"count": 2, "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const scoped = { route: "/orders" };
    const own = { request: 7 };
    const event = await withAuditScope({ metadata: scoped }, async () =>
      engine.log({ action: "A", status: "FAILURE", result, metadata: own }),
    );
    expect(Object.keys(result)).toEqual(["count", "__proto__"]);
    expect(scoped).toEqual({ route: "/orders" });
    expect(own).toEqual({ request: 7 });
    expect(Object.getPrototypeOf(event!.result)).toBe(Object.prototype);
    expect((event!.result as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(event!.result)).toEqual(["count", "__proto__", "status"]);
    expect(event!.metadata).toEqual({ route: "/orders", request: 7 });
    const [stored] = eventsOnDisk(dir);
    expect(stored!.result).toMatchObject({ count: 2, status: "FAILURE" });
    expect(stored!.metadata).toEqual({ route: "/orders", request: 7 });
  });

  it("carries the ambient scope's actor and correlation unless the event names its own", async () => {
    const engine = track(fileEngine(dir));
    await withAuditScope(
      { actor: { username: "alice", ip: "10.0.0.7" }, correlation: { request_id: "r-1" } },
      async () => {
        await new Promise((r) => setTimeout(r, 1));
        engine.log({ action: "INNER" });
        engine.log({ action: "OWN", actor: { username: "bob" } });
        await withAuditScope({ correlation: { trace_id: "t-9" } }, async () =>
          engine.log({ action: "NESTED" }),
        );
      },
    );
    engine.log({ action: "OUTSIDE" });
    const [inner, own, nested, outside] = eventsOnDisk(dir);
    expect(inner).toMatchObject({
      actor: { username: "alice", ip: "10.0.0.7" },
      correlation: { request_id: "r-1" },
    });
    expect(own!.actor).toEqual({ username: "bob" });
    expect(nested!.correlation).toEqual({ request_id: "r-1", trace_id: "t-9" });
    expect(outside!.actor).toBeUndefined();
  });

  it("redacts params, metadata, results and error messages before they reach the disk", async () => {
    const engine = track(fileEngine(dir));
    engine.log({
      action: "LOGIN",
      params: { username: "yannick", password: "hunter2" },
      metadata: { card: "4111 1111 1111 1111", ssn: "123-45-6789", email: "yannick.verrydt@example.com" },
      error: new Error("login failed: password=hunter2"),
    });
    const line = rawLines(dir)[0]!;
    expect(line).not.toContain("hunter2");
    expect(line).not.toContain("4111 1111 1111 1111");
    expect(line).not.toContain("123-45-6789");
    const e = JSON.parse(line);
    expect(e.params).toEqual({ username: "yannick", password: "[REDACTED]" });
    expect(e.metadata.card).toMatch(/1111$/);
    expect(e.metadata.ssn).toBe("***-**-6789");
    expect(e.metadata.email).toBe("y***@example.com");
  });
});

describe("filters", () => {
  it("drops filtered events, counts them per category and warns once per category", async () => {
    const engine = track(
      fileEngine(dir, {
        processing: {
          filters: [
            { type: "severity", levels: ["INFO", "WARNING", "ERROR", "CRITICAL"] },
            { type: "category", include: ["DATABASE", "API", "AUTH", "SECURITY"], exclude: ["HEARTBEAT"] },
          ],
        },
      }),
    );
    const warnings: string[] = [];
    engine.on("warning", (w) => warnings.push(w));
    expect(engine.log({ action: "LOGIN", category: "AUTHENTICATION" })).toBeUndefined();
    engine.log({ action: "LOGIN", category: "AUTHENTICATION" });
    engine.log({ action: "PING", category: "HEARTBEAT" });
    engine.log({ action: "Q", category: "DATABASE", severity: "DEBUG" });
    engine.log({ action: "Q", category: "DATABASE" });
    expect(eventsOnDisk(dir).map((e) => e.action.category)).toEqual(["DATABASE"]);
    const m = engine.metrics();
    expect(m.filtered).toBe(4);
    expect(m.filtered_by_category).toEqual({ AUTHENTICATION: 2, HEARTBEAT: 1, DATABASE: 1 });
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      /AUTHENTICATION is not in the include list \[DATABASE, API, AUTH, SECURITY\]/,
    );
  });
});

describe("async pipeline", () => {
  it("batches by size and by timeout, and flush() writes everything", async () => {
    const engine = track(
      fileEngine(
        dir,
        {
          performance: {
            async: { enabled: true },
            batching: { batch_size: 10, batch_timeout_seconds: 0.05 },
          },
        },
        { async: true },
      ),
    );
    for (let i = 0; i < 25; i++) engine.log({ action: "E", metadata: { i } });
    expect(rawLines(dir)).toHaveLength(0); // nothing on the caller's path
    await new Promise((r) => setTimeout(r, 20));
    expect(rawLines(dir).length).toBe(20); // two full batches went out at once
    await new Promise((r) => setTimeout(r, 150));
    expect(rawLines(dir).length).toBe(25); // the rest after the timeout
    engine.log({ action: "LAST" });
    await engine.flush();
    const events = eventsOnDisk(dir);
    expect(events).toHaveLength(26);
    expect(events.slice(0, 25).map((e) => e.metadata!.i)).toEqual([...Array(25).keys()]);
    expect(engine.metrics()).toMatchObject({ logged: 26, written: 26, queue_depth: 0 });
  });

  it("on_full: drop drops, counts, and records the drop as an EVENTS_DROPPED event", async () => {
    const engine = track(
      fileEngine(
        dir,
        {
          performance: {
            async: { enabled: true, queue_size: 5, on_full: "drop" },
            batching: { batch_size: 100, batch_timeout_seconds: 10 },
          },
        },
        { async: true },
      ),
    );
    for (let i = 0; i < 12; i++) engine.log({ action: "E", metadata: { i } });
    await engine.flush();
    const events = eventsOnDisk(dir);
    expect(engine.metrics().dropped).toBe(7);
    const drop = events.find((e) => e.action.type === "EVENTS_DROPPED");
    expect(drop).toMatchObject({
      action: { category: "AUDIT" },
      result: { status: "FAILURE", count: 7 },
      severity: "WARNING",
    });
    expect(events.filter((e) => e.action.type === "E").map((e) => e.metadata!.i)).toEqual([0, 1, 2, 3, 4]);
  });

  it("on_full: block writes the queue on the caller's thread and loses nothing", async () => {
    const engine = track(
      fileEngine(
        dir,
        {
          performance: {
            async: { enabled: true, queue_size: 5, on_full: "block" },
            batching: { batch_size: 100, batch_timeout_seconds: 10 },
          },
        },
        { async: true },
      ),
    );
    for (let i = 0; i < 12; i++) engine.log({ action: "E", metadata: { i } });
    expect(rawLines(dir).length).toBe(10); // two full queues were written synchronously
    await engine.flush();
    expect(eventsOnDisk(dir).map((e) => e.metadata!.i)).toEqual([...Array(12).keys()]);
    expect(engine.metrics().dropped).toBe(0);
  });

  describe("a backend slower than the application (a database over the network)", () => {
    const remotes: RemoteBackend[] = [];
    afterEach(() => {
      for (const r of remotes.splice(0)) r.release(); // so that close() can finish, pass or fail
    });
    /** Commits nothing until `release()`: what `write` was handed is in memory only. */
    class RemoteBackend extends BaseBackend {
      readonly type = "remote";
      readonly stored: AuditEvent[] = [];
      constructor(name: string) {
        super(name);
        remotes.push(this);
      }
      #open!: () => void;
      readonly #gate = new Promise<void>((resolve) => {
        this.#open = resolve;
      });
      release(): void {
        this.#open();
      }
      async write(batch: readonly StoredRecord[]): Promise<void> {
        await this.#gate;
        for (const r of batch) this.stored.push(r.event);
      }
      async *query(): AsyncIterable<AuditEvent> {}
    }

    for (const [label, performance] of [
      ["durability: event", { async: { enabled: true, queue_size: 50 }, durability: "event" }],
      ["async.enabled: false", { async: { enabled: false, queue_size: 50 } }],
      [
        "a full queue under on_full: block",
        { async: { enabled: true, queue_size: 50, on_full: "block" }, batching: { batch_size: 10 } },
      ],
    ] as const) {
      it(`${label}: what it holds uncommitted stays within queue_size; the rest is dropped, counted, recorded and said once`, async () => {
        const remote = new RemoteBackend("remote");
        const engine = track(
          new AuditEngine({
            config: { storage: { backends: [{ type: "file", directory: dir }] }, performance },
            env: {},
            backends: [remote],
          }),
        );
        const warnings: string[] = [];
        engine.on("warning", (m) => warnings.push(m));
        for (let i = 0; i < 200; i++) engine.log({ action: "E", metadata: { i } });
        expect(engine.metrics().queue_depth).toBeLessThanOrEqual(50);
        const dropped = engine.metrics().dropped;
        expect(dropped).toBeGreaterThanOrEqual(150 - 10);
        expect(warnings.filter((w) => /still being written to remote/.test(w))).toHaveLength(1);
        remote.release();
        await engine.flush();
        const kept = remote.stored.filter((e) => e.action.type === "E");
        expect(kept.length).toBe(200 - dropped);
        expect(remote.stored.find((e) => e.action.type === "EVENTS_DROPPED")?.result.count).toBe(dropped);
        // the file store, written synchronously, received the same events
        expect(eventsOnDisk(dir).filter((e) => e.action.type === "E")).toHaveLength(200 - dropped);
      });
    }

    it("logDurable is never dropped: its caller waits for the database instead", async () => {
      const remote = new RemoteBackend("remote");
      const engine = track(
        new AuditEngine({
          config: {
            storage: { backends: [{ type: "file", directory: dir }] },
            performance: { async: { enabled: true, queue_size: 5 }, durability: "event" },
          },
          env: {},
          backends: [remote],
        }),
      );
      for (let i = 0; i < 5; i++) engine.log({ action: "E" });
      const durable = engine.logDurable({ action: "D" });
      remote.release();
      expect((await durable)?.action.type).toBe("D");
      expect(engine.metrics().dropped).toBe(0);
    });
  });

  it("logDurable resolves after the event is on disk", async () => {
    const engine = track(
      fileEngine(
        dir,
        {
          performance: {
            async: { enabled: true },
            batching: { batch_timeout_seconds: 60 },
            durability: "none",
          },
        },
        { async: true },
      ),
    );
    const event = await engine.logDurable({ action: "PAYMENT", category: "SECURITY" });
    expect(eventsOnDisk(dir).map((e) => e.id)).toEqual([event!.id]);
  });

  it("logDurable rejects with VIGIL_ERR_NOT_DURABLE when no backend can store the event", async () => {
    const engine = track(
      fileEngine(
        dir,
        { storage: { backends: [{ type: "file", directory: "/dev/null/vigil-cannot-write" }] } },
        { async: true },
      ),
    );
    const errors: VigilError[] = [];
    engine.on("error", (e) => errors.push(e));
    await expect(engine.logDurable({ action: "PAYMENT" })).rejects.toMatchObject({
      code: "VIGIL_ERR_NOT_DURABLE",
    });
    expect(engine.log({ action: "OTHER" })).toBeDefined(); // log() itself never throws
    await engine.flush();
    expect(engine.metrics().failed).toBe(2);
    expect(engine.getActiveBackends()).toEqual([expect.objectContaining({ type: "file", healthy: false })]);
    expect(errors.some((e) => e.code === "VIGIL_ERR_STORAGE" && /cannot write/.test(e.message))).toBe(true);
  });

  it("is a no-op with core.enabled false or VIGIL_ENABLED=false", async () => {
    const engine = track(fileEngine(dir, { core: { enabled: false } }));
    expect(engine.log({ action: "X" })).toBeUndefined();
    expect(engine.enabled).toBe(false);
    await engine.flush();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("introspection and search", () => {
  it("answers getLastEvent, getLastEventTime, getEventCount, getActiveBackends and search", async () => {
    const engine = track(fileEngine(dir, {}, { async: true }));
    engine.log({ action: "TEST_EVENT", category: "TEST" });
    engine.log({
      action: "LOGIN",
      category: "AUTHENTICATION",
      status: "FAILURE",
      actor: { username: "alice" },
    });
    engine.log({ action: "OLD", category: "TEST", timestamp: new Date(Date.now() - 3 * 86_400_000) });
    const last = engine.getLastEvent()!;
    expect(last.action.type).toBe("OLD");
    expect(engine.getLastEventTime()).toEqual(new Date(last.timestamp));
    expect(await engine.getEventCount({ timeRange: "today" })).toBe(2);
    expect(engine.getActiveBackends()).toEqual([{ type: "file", name: "file", healthy: true }]);
    const tests = await engine.search({ timeRange: "last_1h", category: "TEST" });
    expect(tests.map((e) => e.action.type)).toEqual(["TEST_EVENT"]);
    const failed = await engine.search({
      query: "action.type:LOGIN AND result.status:FAILURE",
      timeRange: "last_24h",
    });
    expect(failed.map((e) => e.actor?.username)).toEqual(["alice"]);
    expect((await engine.search({ filters: { "actor.username": "ALICE" } })).length).toBe(1);
    expect((await engine.search({ order: "asc" })).map((e) => e.action.type)).toEqual([
      "OLD",
      "TEST_EVENT",
      "LOGIN",
    ]);
  });

  it("pages with a cursor that stays stable while new events arrive", async () => {
    const engine = track(fileEngine(dir));
    for (let i = 0; i < 7; i++) engine.log({ action: "E", metadata: { i } });
    const p1 = await engine.searchPage({ limit: 3, order: "asc" });
    engine.log({ action: "E", metadata: { i: 7 } });
    const p2 = await engine.searchPage({ limit: 3, order: "asc", cursor: p1.cursor! });
    const p3 = await engine.searchPage({ limit: 3, order: "asc", cursor: p2.cursor! });
    expect([...p1.events, ...p2.events, ...p3.events].map((e) => e.metadata!.i)).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, undefined].slice(0, 8),
    );
    expect(p3.cursor).toBeUndefined();
  });

  it("pages to the end as the docs show, also when the matches fill the last page exactly", async () => {
    const engine = track(fileEngine(dir));
    for (let i = 0; i < 6; i++) engine.log({ action: i % 2 === 0 ? "LOGIN" : "LOGOUT", metadata: { i } });
    for (const limit of [2, 3, 4]) {
      const seen: number[] = [];
      let pages = 0;
      let cursor: string | undefined;
      do {
        const page = await engine.searchPage({ query: "action.type:LOGIN", order: "asc", limit, cursor });
        seen.push(...page.events.map((e) => e.metadata!.i as number));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      expect(seen).toEqual([0, 2, 4]);
      expect(pages).toBe(limit === 3 ? 2 : limit === 2 ? 2 : 1);
    }
  });

  it("rejects bad search options with precise errors", async () => {
    const engine = track(fileEngine(dir));
    await expect(engine.search({ limit: 0 })).rejects.toThrow(/limit: expected a positive integer, found 0/);
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
    await expect(engine.search({ order: "up" as any })).rejects.toThrow(/order: expected "asc" or "desc"/);
    await expect(engine.search({ filters: { "a b": "x" } })).rejects.toThrow(/invalid field name "a b"/);
    await expect(engine.search({ query: "action.type:(" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_SYNTAX",
    });
    await expect(engine.search({ timeRange: "last_24x" })).rejects.toMatchObject({
      code: "VIGIL_ERR_QUERY_OPTIONS",
    });
  });
});

describe("GDPR access", () => {
  it("exportSubject returns every event about one person, by actor id or username, oldest first", async () => {
    const engine = track(fileEngine(dir));
    engine.log({
      action: "LOGIN",
      actor: { id: "42", username: "alice" },
      timestamp: "2026-01-01T00:00:00Z",
    });
    engine.log({ action: "LOGIN", actor: { id: "7", username: "bob" } });
    engine.log({ action: "EXPORT", actor: { username: "alice" } });
    engine.log({ action: "VIEW", actor: { id: "42" } });
    const byId: string[] = [];
    for await (const e of engine.exportSubject("42")) byId.push(e.action.type);
    expect(byId).toEqual(["LOGIN", "VIEW"]);
    const byName: string[] = [];
    for await (const e of engine.exportSubject("alice")) byName.push(e.action.type);
    expect(byName).toEqual(["LOGIN", "EXPORT"]);
    expect(() => engine.exportSubject("")).toThrow(/non-empty actor id or username/);
  });
});

describe("retention with signing", () => {
  it("applyRetention leaves signed retention records, so the store still verifies", async () => {
    const signed = {
      security: {
        signing: {
          enabled: true,
          algorithm: "hmac-sha256" as const,
          secret_key: "a-test-secret-of-enough-length",
        },
      },
    };
    const day = 86_400_000;
    const writer = fileEngine(dir, signed);
    for (let d = 10; d >= 0; d--)
      for (let i = 0; i < 3; i++)
        writer.log({ action: "E", timestamp: new Date(Date.now() - d * day), metadata: { d, i } });
    await writer.close();

    const keeper = fileEngine(dir, signed);
    const results = await keeper.applyRetention({ days: 5 });
    expect(results[0]!.deletedEvents).toBeGreaterThanOrEqual(15);
    await keeper.close();

    const auditor = track(fileEngine(dir, signed));
    const verdict = await auditor.verify();
    expect(verdict.problems).toEqual([]);
    expect(verdict.ok).toBe(true);
    const kept = await auditor.search({ query: "action.type:E", limit: 100 });
    expect(kept.every((e) => Date.parse(e.timestamp) > Date.now() - 6 * day)).toBe(true);
    expect((await auditor.search({ query: "action.type:RETENTION_APPLIED" })).length).toBe(1);
  });
});

describe("read-only engines", () => {
  it("search an existing store without recording, creating directories or housekeeping", async () => {
    const writer = fileEngine(dir);
    writer.log({ action: "WRITTEN" });
    await writer.close();
    const { AuditEngine } = await import("./engine.js");
    const missing = `${dir}/not-there`;
    const ro = track(
      new AuditEngine({
        readOnly: true,
        env: {},
        config: {
          core: { application_name: "test" },
          storage: {
            backends: [
              { type: "file", directory: dir },
              { type: "file", directory: missing },
            ],
          },
        },
      }),
    );
    expect(ro.enabled).toBe(false);
    expect(ro.log({ action: "IGNORED" })).toBeUndefined();
    expect((await ro.search()).map((e) => e.action.type)).toEqual(["WRITTEN"]);
    await ro.close();
    expect(readdirSync(dir)).not.toContain("not-there");
    expect(eventsOnDisk(dir).map((e) => e.action.type)).toEqual(["WRITTEN"]);
  });
});
