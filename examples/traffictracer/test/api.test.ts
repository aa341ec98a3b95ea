/**
 * The seed's Testing Plan, integration part: the API server with the audit middleware,
 * over real HTTP on 127.0.0.1, and the seed's failed-login query and metrics endpoint.
 */
import { join } from "node:path";
import { type AuditEvent, AuditQuery } from "vigil-audit";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { getAuditEngine, shutdownAudit } from "../src/audit_init.js";
import { createLogin, UserDirectory } from "../src/authentication.js";
import { ConnectionManager } from "../src/connection_manager.js";
import { createApp, type RunningServer, startServer } from "../src/server.js";
import { eventsOnDisk, initializeForTest, rawText, tempDir } from "./helpers.js";

/** How long to wait for a request's event, recorded when its response has finished. */
const WAIT = { timeout: 10_000, interval: 10 };
let tmp: ReturnType<typeof tempDir>;
let logDir: string;
let running: RunningServer;
const connections = new ConnectionManager();

beforeAll(async () => {
  tmp = tempDir();
  logDir = join(tmp.dir, "audit");
  initializeForTest(logDir);
  const connector = connections.createConnection({ database: "traffictracer" });
  connector.executeScript(`
    CREATE TABLE measurements (road TEXT, measured_at TEXT, speed_kmh REAL);
    INSERT INTO measurements VALUES
      ('A12', '2025-10-10T07:00Z', 54.5), ('A12', '2025-10-10T08:00Z', 38.0), ('E40', '2025-10-10T07:00Z', 92.0);
  `);
  const users = new UserDirectory();
  await users.addUser("yannick.verrydt", "Tr4fficTracer-2.0!");
  running = await startServer(createApp({ connector, login: createLogin(users) }));
});

afterAll(async () => {
  await running.close();
  connections.closeAll();
  await shutdownAudit();
  tmp.cleanup();
});

/** A request to the running server; resolves the status and the parsed JSON body. */
async function request(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${running.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text,
  };
}

/** The last event once the request's own event (recorded when the response finished) is in. */
async function lastEventFor(path: string): Promise<AuditEvent> {
  return vi.waitFor(() => {
    const last = getAuditEngine().getLastEvent();
    if (last?.action.resource?.path !== path) throw new Error(`last event is not yet the request to ${path}`);
    return last;
  }, WAIT);
}

describe("test_api_audit_middleware", () => {
  it("GET /api/v1/health is audited: category API, resource path /api/v1/health", async () => {
    const res = await request("GET", "/api/v1/health", undefined, { "user-agent": "traffictracer-test" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ok", version: "2.0.0" });

    const last = await lastEventFor("/api/v1/health");
    expect(last.action.category).toBe("API");
    expect(last.action.resource?.path).toBe("/api/v1/health");
    expect(last).toMatchObject({
      action: { type: "HTTP_REQUEST", method: "GET" },
      result: { status: "SUCCESS", http_status: 200 },
      actor: { ip: "127.0.0.1", user_agent: "traffictracer-test" },
    });
    expect(last.correlation?.request_id).toBe(res.headers.get("x-request-id"));
  });

  it("POST /api/v1/query/execute records the QUERY inside the request: same request id", async () => {
    const res = await request(
      "POST",
      "/api/v1/query/execute",
      { sql: "SELECT road, COUNT(*) AS n FROM measurements WHERE road = ? GROUP BY road", params: ["A12"] },
      { "x-request-id": "req-query-1" },
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ result: [{ road: "A12", n: 2 }] });
    await lastEventFor("/api/v1/query/execute");
    const events = await AuditQuery.search({
      filters: { "correlation.request_id": "req-query-1" },
      order: "asc",
    });
    expect(events.map((e) => [e.action.category, e.action.type, e.result.status])).toEqual([
      ["DATABASE", "QUERY", "SUCCESS"],
      ["API", "HTTP_REQUEST", "SUCCESS"],
    ]);
    expect(events[0]).toMatchObject({ params: { params: ["A12"] }, result: { count: 1 } });
  });

  it("GET /api/v1/roads/:road/measurements returns the newest rows; its QUERY shares the request id", async () => {
    const res = await request("GET", "/api/v1/roads/A12/measurements?limit=1", undefined, {
      "x-request-id": "req-roads-1",
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      road: "A12",
      measurements: [{ measured_at: "2025-10-10T08:00Z", speed_kmh: 38 }],
    });
    await lastEventFor("/api/v1/roads/A12/measurements");
    const events = await AuditQuery.search({
      filters: { "correlation.request_id": "req-roads-1" },
      order: "asc",
    });
    expect(events.map((e) => [e.action.type, e.result.status])).toEqual([
      ["QUERY", "SUCCESS"],
      ["HTTP_REQUEST", "SUCCESS"],
    ]);
    expect(events[0]).toMatchObject({ params: { params: ["A12", 1] }, result: { count: 1 } });
    expect(events[1]?.action.resource).toEqual({
      path: "/api/v1/roads/A12/measurements",
      name: "/api/v1/roads/:road/measurements",
    });

    expect((await request("GET", "/api/v1/roads/A12/measurements?limit=0")).status).toBe(400);
    expect((await request("GET", "/api/v1/roads/A12/measurements")).body.measurements).toHaveLength(2);
  });

  it("answers 400 for bad SQL and a malformed body, and records both as FAILURE", async () => {
    const bad = await request("POST", "/api/v1/query/execute", { sql: "SELEKT 1" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^SQLITE_ERROR: near "SELEKT"/);
    expect((await lastEventFor("/api/v1/query/execute")).result).toMatchObject({
      status: "FAILURE",
      http_status: 400,
    });

    const malformed = await request("POST", "/api/v1/query/execute", "{ not json");
    expect(malformed.status).toBe(400);
    const last = await vi.waitFor(() => {
      const e = getAuditEngine().getLastEvent()!;
      if (e.result.http_status !== 400 || e.action.type !== "HTTP_REQUEST") throw new Error("not yet");
      return e;
    }, WAIT);
    expect(last.result.status).toBe("FAILURE");
  });

  it("does not audit Prometheus scrapes of /metrics, and serves vigil's counters there", async () => {
    const before = getAuditEngine().metrics().logged;
    const res = await request("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    expect(res.body).toMatch(/^vigil_events_total\{category="API",status="SUCCESS"\} \d+$/m);
    expect(getAuditEngine().metrics().logged).toBe(before);
  });
});

describe("failed logins", () => {
  it("the seed's query finds exactly the failed logins, with the usernames tried and the client ip", async () => {
    expect(
      (
        await request("POST", "/api/v1/auth/login", {
          username: "yannick.verrydt",
          password: "Tr4fficTracer-2.0!",
        })
      ).status,
    ).toBe(200);
    expect(
      (await request("POST", "/api/v1/auth/login", { username: "admin", password: "admin123" })).status,
    ).toBe(401);
    const denied = await request("POST", "/api/v1/auth/login", {
      username: "mallory",
      password: "hunter2-guess",
    });
    expect(denied).toMatchObject({ status: 401, body: { error: "invalid username or password" } });
    await lastEventFor("/api/v1/auth/login");

    const events = await AuditQuery.search({
      query: "action.type:LOGIN AND result.status:FAILURE",
      timeRange: "last_24h",
    });
    expect(events.map((e) => e.actor?.username).sort()).toEqual(["admin", "mallory"]);
    for (const e of events) {
      expect(e).toMatchObject({
        security_event: true,
        actor: { ip: "127.0.0.1" },
        action: { category: "AUTHENTICATION" },
        result: { error: { type: "AuthenticationError" } },
      });
    }
    await getAuditEngine().flush();
    const text = rawText(logDir);
    for (const secret of ["Tr4fficTracer-2.0!", "admin123", "hunter2-guess"])
      expect(text).not.toContain(secret);
  });
});

describe("GET /api/v1/metrics/info", () => {
  it("returns the seed's info with the audit block", async () => {
    await getAuditEngine().flush();
    const storedToday = eventsOnDisk(logDir).length;
    const lastEventTime = getAuditEngine().getLastEventTime()?.toISOString();
    const res = await request("GET", "/api/v1/metrics/info");
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.timestamp)).not.toBeNaN();
    expect(res.body.monitoring_enabled).toBe(true);
    expect(res.body.audit).toEqual({
      enabled: true,
      events_logged_today: storedToday,
      storage_backends: [{ type: "file", name: "file", healthy: true }],
      last_event_time: lastEventTime,
    });
  });
});
