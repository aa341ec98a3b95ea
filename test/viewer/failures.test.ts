/**
 * The viewer when things go wrong: the store unreachable (503 naming the backend), a key
 * that does not open the records (the key id named), a store that hangs (504 at the time
 * limit), too many live tails (429), and a tail's timers gone once its client leaves.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { call, eventually, readEvents, startViewer, testStore } from "./harness.js";

const operator = () => ({ actor: { username: "olga" } });

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function pgEngine(port: number): AuditEngine {
  const engine = new AuditEngine({
    config: {
      storage: {
        backends: [
          {
            type: "database",
            name: "audit-pg",
            connection: {
              dialect: "postgresql",
              host: "127.0.0.1",
              port,
              database: "test",
              username: "postgres",
            },
            table_name: "never_reached",
          },
        ],
      },
    },
    env: {},
  });
  engine.on("error", () => undefined);
  return engine;
}

describe("viewer failures", () => {
  it("an unreachable store is 503 naming the backend; the session says it is unhealthy", async () => {
    const engine = pgEngine(await closedPort());
    const viewer = await startViewer({ engine, authorize: operator });
    try {
      const r = await call(viewer.url, "/api/search");
      expect(r.status).toBe(503);
      const { error } = r.json<{ error: { code: string; message: string; backend: string } }>();
      expect(error.code).toBe("VIGIL_ERR_STORAGE");
      expect(error.backend).toBe("audit-pg");
      expect(error.message).toMatch(/^store unavailable: audit-pg: cannot query: .*ECONNREFUSED/);
      const session = (await call(viewer.url, "/api/session")).json<{ backends: { healthy: boolean }[] }>();
      expect(session.backends[0]!.healthy).toBe(false);
    } finally {
      await viewer.close();
      await engine.close();
    }
  }, 30_000);

  it("a store that hangs is cancelled at the time limit: 504 with a clear message", async () => {
    const hole = await blackHole();
    const engine = pgEngine(hole.port);
    const viewer = await startViewer({ engine, authorize: operator, limits: { timeoutMs: 300 } });
    try {
      const r = await call(viewer.url, "/api/count");
      expect(r.status).toBe(504);
      expect(r.json()).toEqual({
        error: {
          code: "VIGIL_ERR_VIEWER_TIMEOUT",
          message: "the request took longer than 0.3 s and was cancelled; narrow the time range or the query",
        },
      });
    } finally {
      await viewer.close();
      await hole.close();
      await engine.close();
    }
  }, 30_000);

  it("a wrong decryption key names the key id", async () => {
    const store = testStore("files", {
      security: { encryption: { enabled: true, key: "11".repeat(32), key_id: "k-2026-01" } },
    });
    store.engine.log({ action: "SECRET_THING" });
    const reader = new AuditEngine({
      config: {
        ...store.config,
        security: { encryption: { enabled: true, key: "22".repeat(32), key_id: "k-2026-02" } },
      },
      env: {},
    });
    reader.on("error", () => undefined);
    const viewer = await startViewer({ engine: reader, authorize: operator });
    try {
      const r = await call(viewer.url, "/api/search?q=type:SECRET_THING");
      expect(r.status).toBe(500);
      const { error } = r.json<{ error: { code: string; message: string; keyId: string } }>();
      expect(error.keyId).toBe("k-2026-01");
      expect(error.message).toContain("k-2026-01");
    } finally {
      await viewer.close();
      await reader.close();
      await store.cleanup();
    }
  });

  it("records refused requests, but at most 100 a minute: a flood does not flood the audit log", async () => {
    const store = testStore("sqlite");
    const viewer = await startViewer({ engine: store.engine, authorize: () => undefined });
    try {
      for (let i = 0; i < 105; i++) expect((await call(viewer.url, "/api/search")).status).toBe(401);
      const recorded = await store.engine.search({
        query: "type:VIEWER_AUTH_FAILED",
        timeRange: "last_1h",
        limit: 1000,
      });
      expect(recorded).toHaveLength(100);
      expect(recorded[0]!.metadata).toMatchObject({
        reason: "not authorized",
        path: "/api/search",
        ip: "127.0.0.1",
      });
    } finally {
      await viewer.close();
      await store.cleanup();
    }
  });

  it("an authorize that returns an invalid tenant is an error, never an identity that sees every tenant", async () => {
    const store = testStore("files");
    store.engine.log({ action: "OTHER_TENANT", tenant: "globex" });
    for (const tenant of ["", "a\nb", 42, "x".repeat(129)]) {
      const viewer = await startViewer({
        engine: store.engine,
        authorize: () => ({ actor: { username: "u" }, tenant: tenant as string }),
      });
      try {
        const r = await call(viewer.url, "/api/search?q=type:OTHER_TENANT");
        expect(r.status).toBe(500);
        expect(r.json<{ error: { message: string } }>().error.message).toMatch(
          /^authorize\(req\) returned an invalid tenant: it /,
        );
        expect(r.text).not.toContain("globex");
      } finally {
        await viewer.close();
      }
    }
    await store.cleanup();
  });

  describe("live tails", () => {
    let store: ReturnType<typeof testStore>;
    let viewer: Awaited<ReturnType<typeof startViewer>>;
    beforeAll(async () => {
      store = testStore("files");
      viewer = await startViewer({ engine: store.engine, authorize: operator, limits: { tails: 1 } });
    });
    afterAll(async () => {
      await viewer.close();
      await store.cleanup();
    });

    afterEach(() => vi.restoreAllMocks());

    /** The timers created from now on with one of `delays` (the tail's poll and heartbeat). */
    function watchTimers(delays: readonly number[]): NodeJS.Timeout[] {
      const created: NodeJS.Timeout[] = [];
      for (const name of ["setTimeout", "setInterval"] as const) {
        const original = globalThis[name];
        vi.spyOn(globalThis, name).mockImplementation(((fn: () => void, ms?: number, ...args: unknown[]) => {
          const t = (original as (...a: unknown[]) => NodeJS.Timeout)(fn, ms, ...args);
          if (ms !== undefined && delays.includes(ms)) created.push(t);
          return t;
        }) as never);
      }
      return created;
    }
    /** Node marks a timer destroyed once cleared, or once a timeout has fired without being re-armed. */
    const live = (timers: NodeJS.Timeout[]) =>
      timers.filter((t) => !(t as unknown as { _destroyed: boolean })._destroyed);

    it("a second tail beyond the limit is 429; a closed tail frees its slot and its timers", async () => {
      const timers = watchTimers([1000, 15_000]);
      const first = new AbortController();
      const res = await fetch(`${viewer.url}/api/tail`, { signal: first.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const reader = res.body!.getReader();
      expect(new TextDecoder().decode((await reader.read()).value)).toBe(": tail started\n\n");
      expect(live(timers).length).toBe(2); // the next poll and the heartbeat

      const second = await call(viewer.url, "/api/tail");
      expect(second.status).toBe(429);
      expect(second.json<{ error: { code: string } }>().error.code).toBe("VIGIL_ERR_VIEWER_LIMIT");

      first.abort();
      // the poll timer and the heartbeat go with the client
      await eventually(
        () => (live(timers).length === 0 ? true : undefined),
        "the tail's timers to be cleared",
      );
      vi.restoreAllMocks();
      const again = new AbortController();
      const messages = readEvents(
        `${viewer.url}/api/tail?q=type:AFTER`,
        {},
        (m) => m.some((x) => x.event === "events"),
        again.signal,
      );
      await new Promise((r) => setTimeout(r, 200));
      const id = store.engine.log({ action: "AFTER" })!.id;
      const got = await messages;
      expect((got.find((m) => m.event === "events")!.data as { id: string }[]).map((e) => e.id)).toEqual([
        id,
      ]);
    }, 20_000);

    it("a tail's query is checked before the stream opens", async () => {
      const r = await call(viewer.url, `/api/tail?q=${encodeURIComponent("a AND")}`);
      expect(r.status).toBe(400);
      expect(r.json<{ error: { code: string; offset: number } }>().error).toMatchObject({
        code: "VIGIL_ERR_QUERY_SYNTAX",
        offset: 5,
      });
    });
  });
});
