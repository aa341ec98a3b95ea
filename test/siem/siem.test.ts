/**
 * OCSF and ECS: every event of a varied corpus, mapped, validates against the published
 * schema files vendored under `test/fixtures/`; the class and field choices are as
 * documented; `vigil export --format ocsf|ecs` and `engine.export` stream NDJSON.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import type { AuditEvent } from "../../src/event/types.js";
import { ECS_VERSION, toEcs } from "../../src/export/siem/ecs.js";
import { OCSF_VERSION, toOcsf } from "../../src/export/siem/ocsf.js";
import { generateCorpus } from "../conformance/corpus.js";
import { tempDir } from "../helpers.js";
import { ECS_SCHEMA_VERSION, OCSF_SCHEMA_VERSION, validateEcs, validateOcsf } from "./schemas.js";

const base = {
  schema_version: 1,
  id: "0192f0c4-1d2e-7abc-8def-0123456789ab",
  timestamp: "2026-11-26T12:00:00.123Z",
  severity: "INFO",
  security_event: false,
  application: {
    name: "traffictracer",
    version: "2.0.0",
    environment: "production",
    host: "web-1",
    pid: 4711,
  },
  result: { status: "SUCCESS" },
} as const;
const ev = (over: Record<string, unknown>): AuditEvent => ({ ...base, ...over }) as unknown as AuditEvent;

/** Hand-written events for every class and activity the mapping knows, and its fallbacks. */
const HANDWRITTEN: AuditEvent[] = [
  ev({
    severity: "ERROR",
    security_event: true,
    actor: {
      id: "42",
      username: "alice",
      ip: "10.0.0.7",
      user_agent: "curl/8",
      session_id: "s-1",
      roles: ["admin"],
    },
    action: { type: "LOGIN", category: "AUTHENTICATION" },
    result: {
      status: "FAILURE",
      duration_ms: 12.5,
      error: { type: "AuthError", message: "bad credentials" },
    },
  }),
  ev({ actor: { username: "alice" }, action: { type: "LOGOUT", category: "AUTH" } }),
  ev({ action: { type: "LOGIN", category: "AUTHENTICATION" }, result: { status: "FAILURE" } }), // nobody: Base Event
  ev({
    actor: { username: "admin", ip: "::1" },
    action: { type: "USER_CREATE", category: "ADMIN", resource: { type: "user", id: "77", name: "bob" } },
  }),
  ev({ actor: { username: "bob" }, action: { type: "PASSWORD_CHANGE", category: "ACCOUNT" } }),
  ev({ actor: { username: "bob" }, action: { type: "PASSWORD_RESET", category: "ACCOUNT" } }),
  ev({ actor: { id: "9" }, action: { type: "ACCOUNT_LOCK", category: "SECURITY", resource: { id: "9" } } }),
  ev({
    actor: { id: "9" },
    action: { type: "USER_DELETE", category: "ADMIN", resource: { name: "carol", type: "account" } },
  }),
  ...["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map((method) =>
    ev({
      actor: { username: "alice", ip: "192.168.1.4", user_agent: "Mozilla/5.0" },
      action: { type: "HTTP_REQUEST", category: "API", method, resource: { path: "/api/v1/orders/17" } },
      result: {
        status: method === "DELETE" ? "FAILURE" : "SUCCESS",
        http_status: method === "DELETE" ? 503 : 200,
        duration_ms: 3.2,
      },
      correlation: {
        request_id: "req-1",
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
      },
      tenant: "acme",
    }),
  ),
  ev({
    action: { type: "HTTP_REQUEST", category: "API", method: "GET", resource: { path: "/health" } },
    result: { status: "SUCCESS", http_status: 200 },
  }), // no actor: Base Event
  ev({
    severity: "CRITICAL",
    actor: { username: "svc" },
    action: { type: "QUERY", category: "DATABASE", resource: { type: "table", name: "orders" } },
    params: { sql: "SELECT 1", params: [1, "a", null] },
    metadata: { pool: "main", nested: { deep: [1, { x: true }] } },
    integrity: { chain: "web-1:4711:abc", seq: 7, prev: "aa".repeat(32), hash: "bb".repeat(32) },
    correlation: { trace_id: "not-hex", span_id: "xyz", parent_id: "p-1" },
  }),
  ev({ severity: "DEBUG", action: { type: "CONFIG_RELOAD", category: "SYSTEM" } }),
  ev({
    severity: "WARNING",
    action: { type: "EVENTS_DROPPED", category: "AUDIT" },
    result: { status: "FAILURE", count: 12 },
  }),
];

const CORPUS = [...HANDWRITTEN, ...generateCorpus(3000, 4242)];

describe("OCSF", () => {
  it("targets the vendored schema's version", () => {
    expect(OCSF_VERSION).toBe(OCSF_SCHEMA_VERSION);
  });

  it("maps every event of a varied corpus to a valid OCSF event", () => {
    const classes = new Map<number, number>();
    for (const event of CORPUS) {
      const mapped = toOcsf(event, "0.1.0");
      const problems = validateOcsf(mapped);
      expect(problems, `${event.id} ${event.action.category}/${event.action.type}`).toEqual([]);
      classes.set(mapped.class_uid as number, (classes.get(mapped.class_uid as number) ?? 0) + 1);
      expect((mapped.metadata as { uid: string }).uid).toBe(event.id);
      expect(mapped.time).toBe(Date.parse(event.timestamp));
    }
    // the corpus reaches every class
    expect([...classes.keys()].sort((a, b) => a - b)).toEqual([0, 3001, 3002, 6003]);
  });

  it("chooses the class and activity by what the event is", () => {
    const at = (i: number) => toOcsf(HANDWRITTEN[i] as AuditEvent);
    const pick = (o: Record<string, unknown>) => [
      o.class_uid,
      o.activity_id,
      o.type_uid,
      o.severity_id,
      o.status_id,
    ];
    expect(pick(at(0))).toEqual([3002, 1, 300201, 4, 2]); // failed login
    expect(at(0)).toMatchObject({
      user: { uid: "42", name: "alice", groups: [{ name: "admin" }] },
      actor: { user: { uid: "42", name: "alice" }, session: { uid: "s-1" } },
      src_endpoint: { ip: "10.0.0.7" },
      status_detail: "bad credentials",
      status_code: "AuthError",
      duration: 13,
      metadata: { version: "1.8.0", product: { name: "vigil", vendor_name: "vigil-audit" } },
    });
    expect(pick(at(1))).toEqual([3002, 2, 300202, 1, 1]); // logout
    expect(pick(at(2))).toEqual([0, 99, 99, 1, 2]); // a login without a user
    expect(pick(at(3)).slice(0, 3)).toEqual([3001, 1, 300101]);
    expect(at(3)).toMatchObject({ user: { uid: "77", name: "bob" }, actor: { user: { name: "admin" } } });
    expect(pick(at(4)).slice(0, 2)).toEqual([3001, 3]);
    expect(pick(at(5)).slice(0, 2)).toEqual([3001, 4]);
    expect(pick(at(6)).slice(0, 2)).toEqual([3001, 9]);
    expect(pick(at(7)).slice(0, 2)).toEqual([3001, 6]);
    expect([8, 9, 10, 11, 12, 13].map((i) => at(i).activity_id)).toEqual([2, 1, 3, 3, 4, 99]);
    expect(at(8)).toMatchObject({
      class_uid: 6003,
      api: { operation: "GET" },
      http_request: {
        http_method: "GET",
        url: { path: "/api/v1/orders/17" },
        user_agent: "Mozilla/5.0",
        uid: "req-1",
      },
      http_response: { code: 200 },
      metadata: { correlation_uid: "req-1", tenant_uid: "acme" },
    });
    expect(at(14).class_uid).toBe(0); // an HTTP request without an actor
    expect(at(14)).toMatchObject({
      unmapped: { action: { method: "GET", resource: { path: "/health" } }, result: { http_status: 200 } },
    });
    expect(at(15)).toMatchObject({
      class_uid: 0,
      severity_id: 5,
      unmapped: {
        params: { sql: "SELECT 1" },
        metadata: { pool: "main" },
        integrity: { seq: 7 },
        correlation: { trace_id: "not-hex", parent_id: "p-1" },
      },
      metadata: { sequence: 7 },
    });
  });

  it("the validator catches what the schema forbids", () => {
    const good = toOcsf(HANDWRITTEN[0] as AuditEvent);
    expect(validateOcsf({ ...good, activity_id: 42, type_uid: 300242 })).toContain(
      "activity_id: 42 is not among 0, 1, 2, 3, 4, 5, 6, 7, 99",
    );
    expect(validateOcsf({ ...good, user: undefined })).toContain("user: required");
    expect(validateOcsf({ ...good, time: "yesterday" })).toContain(
      'time: expected timestamp_t, found "yesterday"',
    );
    expect(validateOcsf({ ...good, src_endpoint: { ip: "10.0.0.999" } })).toContain(
      'src_endpoint.ip: expected ip_t, found "10.0.0.999"',
    );
    expect(validateOcsf({ ...good, actor: { user: { nickname: "al" } } })).toEqual(
      expect.arrayContaining([
        "actor.user.nickname: not an attribute here",
        "actor.user: needs at least one of account, name, uid",
      ]),
    );
    expect(validateOcsf({ ...good, type_uid: 300202 })).toContain(
      "type_uid: expected class_uid * 100 + activity_id = 300201",
    );
    expect(validateOcsf({ ...good, user: { name: "a", groups: { name: "x" } } })).toContain(
      "user.groups: expected an array",
    );
  });
});

describe("ECS", () => {
  it("targets the vendored schema's version", () => {
    expect(ECS_VERSION).toBe(ECS_SCHEMA_VERSION);
  });

  it("maps every event of a varied corpus to a valid ECS document", () => {
    const categories = new Set<string>();
    for (const event of CORPUS) {
      const doc = toEcs(event);
      expect(validateEcs(doc), `${event.id} ${event.action.category}/${event.action.type}`).toEqual([]);
      for (const c of (doc.event as { category?: string[] }).category ?? []) categories.add(c);
      expect((doc.event as { id: string }).id).toBe(event.id);
      expect(doc["@timestamp"]).toBe(event.timestamp);
    }
    expect([...categories].sort()).toEqual(["authentication", "configuration", "database", "iam", "web"]);
  });

  it("maps the fields users search on", () => {
    expect(toEcs(HANDWRITTEN[0] as AuditEvent)).toMatchObject({
      ecs: { version: "9.4.0" },
      event: {
        kind: "event",
        category: ["authentication"],
        type: ["start"],
        outcome: "failure",
        action: "LOGIN",
        duration: 12_500_000,
        severity: 17,
        reason: "bad credentials",
      },
      user: { id: "42", name: "alice", roles: ["admin"] },
      source: { ip: "10.0.0.7" },
      user_agent: { original: "curl/8" },
      error: { type: "AuthError", message: "bad credentials" },
      service: { name: "traffictracer", version: "2.0.0", environment: "production" },
      host: { hostname: "web-1" },
      process: { pid: 4711 },
      labels: { security_event: "true" },
      log: { level: "error" },
    });
    expect(toEcs(HANDWRITTEN[8] as AuditEvent)).toMatchObject({
      event: { category: ["web"], type: ["access"] },
      http: { request: { method: "GET", id: "req-1" }, response: { status_code: 200 } },
      url: { path: "/api/v1/orders/17" },
      trace: { id: "4bf92f3577b34da6a3ce929d0e0e4736" },
      span: { id: "00f067aa0ba902b7" },
      organization: { id: "acme" },
    });
    expect(toEcs(HANDWRITTEN[12] as AuditEvent)).toMatchObject({ event: { type: ["error"] } }); // 503
    expect(toEcs(HANDWRITTEN[15] as AuditEvent)).toMatchObject({
      vigil: {
        params: { sql: "SELECT 1" },
        integrity: { seq: 7 },
        correlation: { trace_id: "not-hex", span_id: "xyz" },
      },
    });
    expect(toEcs(HANDWRITTEN[15] as AuditEvent).trace).toBeUndefined();
  });

  it("the validator catches what the schema forbids", () => {
    const good = toEcs(HANDWRITTEN[0] as AuditEvent);
    const ev0 = good.event as Record<string, unknown>;
    expect(validateEcs({ ...good, event: { ...ev0, outcome: "partial" } })).toContain(
      'event.outcome: "partial" is not an allowed value',
    );
    expect(validateEcs({ ...good, event: { ...ev0, type: ["access"] } })).toContain(
      "event.type: access is not expected for event.category authentication",
    );
    expect(validateEcs({ ...good, event: { ...ev0, category: "authentication" } })).toContain(
      "event.category: expected an array",
    );
    expect(validateEcs({ ...good, source: { ip: "nope" } })).toContain(
      'source.ip: expected ip, found "nope"',
    );
    expect(validateEcs({ ...good, user: { nickname: "al" } })).toContain("user.nickname: not an ECS field");
    expect(validateEcs({ ...good, process: { pid: "4711" } })).toContain(
      'process.pid: expected long, found "4711"',
    );
  });
});

describe("export --format ocsf|ecs", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it("engine.export streams one mapped event per line", async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const engine = new AuditEngine({
      config: {
        core: { application_name: "shop" },
        storage: { backends: [{ type: "file", directory: join(dir, "store") }] },
        performance: { async: { enabled: false } },
      },
      env: {},
    });
    try {
      engine.log({
        action: "LOGIN",
        category: "AUTHENTICATION",
        actor: { username: "alice", ip: "10.1.1.1" },
      });
      engine.log({ action: "PASSWORD_CHANGE", category: "ACCOUNT", actor: { username: "alice" } });
      engine.log({ action: "QUERY", category: "DATABASE" });
      for (const format of ["ocsf", "ecs"] as const) {
        const file = join(dir, `out.${format}.ndjson`);
        const result = await engine.export({ format, filename: file, order: "asc" });
        expect(result).toMatchObject({ format, count: 3 });
        const lines = readFileSync(file, "utf8")
          .trimEnd()
          .split("\n")
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        expect(lines).toHaveLength(3);
        if (format === "ocsf") {
          expect(lines.map((l) => l.class_uid)).toEqual([3002, 3001, 0]);
          for (const l of lines) expect(validateOcsf(l)).toEqual([]);
        } else {
          expect(lines.map((l) => (l.event as { action: string }).action)).toEqual([
            "LOGIN",
            "PASSWORD_CHANGE",
            "QUERY",
          ]);
          for (const l of lines) expect(validateEcs(l)).toEqual([]);
        }
      }
    } finally {
      await engine.close();
    }
  });
});
