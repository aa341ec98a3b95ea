/**
 * One behaviour suite for the HTTP integrations, over real loopback connections: every
 * harness (the same small application on each framework) runs it. `http.test.ts` runs it
 * on Express 5 and 4, Fastify 5, node:http, Koa and Hono; `nestjs/http.test.ts` on NestJS
 * with both adapters.
 *
 * @module
 */
import { Agent, request as httpRequest } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { eventually, ofType, type TestEngine, testEngine } from "./helpers.js";
import type { Harness, RunningApp } from "./http-harness.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The behaviour every HTTP integration shares, run against one harness. */
export function httpBehaviourSuite(harness: Harness): void {
  describe(`${harness.name} integration`, () => {
    let t: TestEngine;
    let app: RunningApp | undefined;

    beforeEach(() => {
      t = testEngine();
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await t.dispose();
    });

    const start = async (options?: Record<string, unknown>) => {
      app = await harness.start(t.engine, options as never);
      return app.url;
    };
    const requests = () => ofType(t.events(), "HTTP_REQUEST");
    const only = (): AuditEvent => {
      const all = requests();
      expect(all).toHaveLength(1);
      return all[0]!;
    };
    /** The request event is written when the response finishes, which can trail the client's read by a tick. */
    const settled = (n = 1) =>
      eventually(() => (requests().length >= n ? requests() : undefined), `${n} request events`);

    it("records one API HTTP_REQUEST event per request with path, route pattern, status and duration", async () => {
      const url = await start();
      const res = await fetch(`${url}/users/42?expand=1`, {
        headers: { "user-agent": "vitest-agent", "x-user": "alice" },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id: "42" });
      await settled();
      const e = only();
      expect(e.action).toMatchObject({ type: "HTTP_REQUEST", category: "API", method: "GET" });
      expect(e.action.resource?.path).toBe("/users/42");
      expect(e.action.resource?.name).toBe("/users/:id");
      expect(e.result.status).toBe("SUCCESS");
      expect(e.severity).toBe("INFO");
      expect(e.result.http_status).toBe(200);
      expect(typeof e.result.duration_ms).toBe("number");
      expect(e.result.duration_ms).toBeGreaterThanOrEqual(0);
      expect(e.actor).toMatchObject({
        id: "id-alice",
        username: "alice",
        ip: "127.0.0.1",
        user_agent: "vitest-agent",
      });
      expect(e.params).toBeUndefined();
    });

    it("sets the tenant from getTenant on the request's event and on every event inside it", async () => {
      // every framework hands getTenant its own request object; Hono's is the context
      type AnyRequest = {
        headers?: Record<string, string | undefined>;
        req?: { header?: (name: string) => string | undefined };
      };
      const url = await start({
        getTenant: (req: AnyRequest) =>
          req.req?.header ? req.req.header("x-tenant") : req.headers?.["x-tenant"],
      });
      await fetch(`${url}/users/1`, { headers: { "x-tenant": "acme" } });
      await fetch(`${url}/users/2`, { headers: { "x-tenant": "x".repeat(129) } });
      await fetch(`${url}/users/3`);
      await settled(3);
      const [a, b, c] = requests();
      expect(a!.tenant).toBe("acme");
      expect(b!.tenant).toBeUndefined(); // not a valid tenant id: reported, recorded without
      expect(c!.tenant).toBeUndefined();
      const inner = ofType(t.events(), "INNER");
      expect(inner.map((e) => e.tenant)).toEqual(["acme", undefined, undefined]);
    });

    it("names the route pattern under a mount prefix", async () => {
      const url = await start();
      await fetch(`${url}/api/users/7`);
      await settled();
      expect(only().action.resource).toEqual({ path: "/api/users/7", name: "/api/users/:id" });
    });

    it("generates a UUID request id and echoes it on the response", async () => {
      const url = await start();
      const res = await fetch(`${url}/users/1`);
      const echoed = res.headers.get("x-request-id");
      expect(echoed).toMatch(UUID);
      await settled();
      expect(only().correlation?.request_id).toBe(echoed);
    });

    it("reuses a sane incoming request id and replaces an unsafe one", async () => {
      const url = await start();
      const a = await fetch(`${url}/users/1`, { headers: { "x-request-id": "req-abc.123" } });
      expect(a.headers.get("x-request-id")).toBe("req-abc.123");
      const b = await fetch(`${url}/users/2`, { headers: { "x-request-id": "x".repeat(300) } });
      expect(b.headers.get("x-request-id")).toMatch(UUID);
      const c = await fetch(`${url}/users/3`, { headers: { "x-request-id": "<script>" } });
      expect(c.headers.get("x-request-id")).toMatch(UUID);
      await settled(3);
      const ids = requests().map((e) => e.correlation?.request_id);
      expect(ids[0]).toBe("req-abc.123");
      expect(ids[1]).toMatch(UUID);
      expect(ids[2]).toMatch(UUID);
    });

    it("honours a custom requestIdHeader", async () => {
      const url = await start({ requestIdHeader: "X-Correlation-Id" });
      const res = await fetch(`${url}/users/1`, { headers: { "x-correlation-id": "corr-9" } });
      expect(res.headers.get("x-correlation-id")).toBe("corr-9");
      expect(res.headers.get("x-request-id")).toBeNull();
      await settled();
      expect(only().correlation?.request_id).toBe("corr-9");
    });

    it("reads a valid W3C traceparent into trace_id and span_id and ignores a malformed one", async () => {
      const url = await start();
      await fetch(`${url}/users/1`, {
        headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
      });
      await fetch(`${url}/users/2`, {
        headers: { traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01" },
      });
      await settled(2);
      const [good, bad] = requests();
      expect(good!.correlation).toMatchObject({
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
      });
      expect(bad!.correlation?.trace_id).toBeUndefined();
      expect(bad!.correlation?.span_id).toBeUndefined();
    });

    it("echoes the request id also on the reply to a thrown error", async () => {
      const url = await start();
      const res = await fetch(`${url}/fail`, { headers: { "x-request-id": "rid-fail" } });
      expect(res.status).toBe(500);
      expect(res.headers.get("x-request-id")).toBe("rid-fail");
      await settled();
      expect(only().correlation?.request_id).toBe("rid-fail");
    });

    it("records 4xx as FAILURE/WARNING and a thrown handler error as FAILURE/ERROR with 500", async () => {
      const url = await start();
      expect((await fetch(`${url}/bad`)).status).toBe(400);
      expect((await fetch(`${url}/fail`)).status).toBe(500);
      await settled(2);
      const [bad, fail] = requests();
      expect(bad!.result).toMatchObject({ status: "FAILURE", http_status: 400 });
      expect(bad!.severity).toBe("WARNING");
      expect(fail!.result).toMatchObject({ status: "FAILURE", http_status: 500 });
      expect(fail!.severity).toBe("ERROR");
    });

    it("records an unknown route as a 404 without a route name", async () => {
      const url = await start();
      expect((await fetch(`${url}/nowhere/else`)).status).toBe(404);
      await settled();
      const e = only();
      expect(e.result).toMatchObject({ status: "FAILURE", http_status: 404 });
      expect(e.action.resource).toEqual({ path: "/nowhere/else" });
    });

    it("gives events recorded inside the request the request's actor and request id", async () => {
      const url = await start();
      await fetch(`${url}/users/5`, { headers: { "x-user": "bob", "x-request-id": "rid-bob" } });
      await settled();
      const inner = ofType(t.events(), "INNER");
      expect(inner).toHaveLength(1);
      expect(inner[0]!.actor).toMatchObject({ username: "bob", id: "id-bob" });
      expect(inner[0]!.correlation?.request_id).toBe("rid-bob");
    });

    it("keeps the scope after a request body that arrives in late chunks has been read", async () => {
      const url = await start();
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          `${url}/echo`,
          {
            method: "POST",
            headers: { "content-type": "application/json", "x-user": "dora", "x-request-id": "rid-dora" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.flushHeaders();
        setTimeout(() => {
          req.write('{"a":');
          setTimeout(() => req.end("1}"), 20);
        }, 20);
      });
      expect(status).toBe(200);
      await settled();
      const inner = ofType(t.events(), "INNER");
      expect(inner).toHaveLength(1);
      expect(inner[0]!.actor?.username).toBe("dora");
      expect(inner[0]!.correlation?.request_id).toBe("rid-dora");
    });

    it("skips excluded paths (exact, prefix at a slash, RegExp) entirely", async () => {
      const url = await start({ exclude: ["/health", /^\/users\/9\d*$/] });
      const res = await fetch(`${url}/health`);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toBeNull();
      await fetch(`${url}/health?probe=1`);
      await fetch(`${url}/users/99`);
      await fetch(`${url}/users/1`);
      await settled();
      expect(only().action.resource?.path).toBe("/users/1");
      // the inner event of /users/99 ran outside any request scope
      const inner = ofType(t.events(), "INNER");
      expect(inner).toHaveLength(2);
      expect(inner.filter((e) => e.correlation?.request_id !== undefined)).toHaveLength(1);
    });

    it("captures the query string only when asked, sanitized", async () => {
      const url = await start({ captureQuery: true });
      await fetch(`${url}/users/3?q=x&q=y&token=abc123&email=jane.doe@example.com`);
      await settled();
      expect(only().params).toEqual({
        query: { q: ["x", "y"], token: "[REDACTED]", email: "j***@example.com" },
      });
    });

    it("captures the body only when asked, sanitized and size-capped", async () => {
      const url = await start({ captureBody: true, maxBodyBytes: 1024 });
      const body = { user: "alice", password: "hunter2", card: "4111 1111 1111 1111" };
      const res = await fetch(`${url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      expect(await res.json()).toEqual(body);
      const big = { blob: "z".repeat(5000) };
      const res2 = await fetch(`${url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(big),
      });
      expect(await res2.json()).toEqual(big);
      await settled(2);
      const [small, large] = requests();
      expect(small!.params).toEqual({
        body: { user: "alice", password: "[REDACTED]", card: "**** **** **** 1111" },
      });
      expect(large!.params).toEqual({ body: `[omitted: ${JSON.stringify(big).length} bytes > 1024]` });
    });

    it("does not capture the body by default", async () => {
      const url = await start();
      await fetch(`${url}/echo`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ a: 1 }),
      });
      await settled();
      expect(only().params).toBeUndefined();
    });

    it("never stores authorization or cookie headers", async () => {
      const url = await start({ captureQuery: true, captureBody: true });
      await fetch(`${url}/users/1`, {
        headers: { authorization: "Bearer sekrit-token-value", cookie: "sid=cookie-secret-value" },
      });
      await settled();
      const text = JSON.stringify(t.events());
      expect(text).not.toContain("sekrit-token-value");
      expect(text).not.toContain("cookie-secret-value");
    });

    it("records FAILURE with error type ABORTED when the client goes away mid-response", async () => {
      const url = await start();
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${url}/hold`, { headers: { "x-user": "carol" } }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", (err) => {
          if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
        });
        req.end();
      });
      await app!.holdClosed;
      const [e] = await settled();
      expect(e!.result.status).toBe("FAILURE");
      expect(e!.result.error?.type).toBe("ABORTED");
      expect(e!.result.http_status).toBe(200);
      expect(e!.severity).toBe("WARNING");
      expect(e!.actor?.username).toBe("carol");
    });

    it("never mixes actors or request ids across 200 concurrent requests from different users", async () => {
      const url = await start();
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const get = (i: number) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            `${url}/work/${i}`,
            { agent, headers: { "x-user": `user-${i}`, "x-request-id": `rid-${i}` } },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          );
          req.on("error", reject);
          req.end();
        });
      const statuses = await Promise.all(Array.from({ length: 200 }, (_, i) => get(i)));
      agent.destroy();
      expect(statuses.every((s) => s === 200)).toBe(true);
      const all = await eventually(
        () => (ofType(t.events(), "HTTP_REQUEST").length === 200 ? t.events() : undefined),
        "200 request events",
      );
      const reqEvents = ofType(all, "HTTP_REQUEST");
      expect(new Set(reqEvents.map((e) => e.correlation?.request_id)).size).toBe(200);
      for (const e of reqEvents) {
        const n = e.action.resource!.path!.split("/").pop();
        expect(e.correlation?.request_id).toBe(`rid-${n}`);
        expect(e.actor?.username).toBe(`user-${n}`);
        expect(e.action.resource?.name).toBe("/work/:n");
      }
      const inner = all.filter((e) => e.action.type === "INNER_ONE" || e.action.type === "INNER_TWO");
      expect(inner).toHaveLength(400);
      for (const e of inner) {
        const n = (e.metadata as { n: string }).n;
        expect(e.actor?.username).toBe(`user-${n}`);
        expect(e.correlation?.request_id).toBe(`rid-${n}`);
      }
    });

    it("does nothing when the engine is disabled", async () => {
      await t.engine.close();
      const disabled = testEngine({ core: { application_name: "t", enabled: false } });
      const running = await harness.start(disabled.engine);
      try {
        const res = await fetch(`${running.url}/users/1`);
        expect(res.status).toBe(200);
        expect(res.headers.get("x-request-id")).toBeNull();
        expect(disabled.events()).toEqual([]);
      } finally {
        await running.close();
        await disabled.dispose();
      }
      t = testEngine();
    });
  });
}
