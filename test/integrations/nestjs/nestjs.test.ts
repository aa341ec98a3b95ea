/**
 * What is particular to the NestJS integration, on a real Nest application with the
 * Express and the Fastify adapter over loopback: `@Audit` events (outcome, duration,
 * `HttpException` statuses, captured parameters), guard denials as `PERMISSION_DENIED`
 * security events, the engine as a provider, `forRootAsync`, option errors.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Inject, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VigilError } from "../../../src/errors.js";
import type { AuditEvent } from "../../../src/event/types.js";
import { AUDIT_ENGINE, Audit, AuditEngine, AuditModule } from "../../../src/integrations/nestjs/index.js";
import { eventually, ofType, type TestEngine, testEngine } from "../helpers.js";
import { type AdapterName, LockedGuard, startNest } from "./app.js";

let t: TestEngine;
let close: (() => Promise<void>) | undefined;
beforeEach(() => {
  t = testEngine();
});
afterEach(async () => {
  await close?.();
  close = undefined;
  await t.dispose();
});

const settle = (type: string, n: number) =>
  eventually(
    () => (ofType(t.events(), type).length >= n ? ofType(t.events(), type) : undefined),
    `${n} ${type}`,
  );

for (const adapter of ["express", "fastify"] as AdapterName[]) {
  describe(`AuditModule on the ${adapter} adapter`, () => {
    const start = async (
      options: Parameters<typeof AuditModule.forRoot>[0] = {},
      setup?: Parameters<typeof startNest>[2],
    ) => {
      const running = await startNest(adapter, AuditModule.forRoot({ engine: t.engine, ...options }), setup);
      close = running.close;
      return running.url;
    };

    it("records an @Audit event per call with its options, status, duration, actor and request id", async () => {
      const url = await start();
      const res = await fetch(`${url}/orders/17?expand=lines`, {
        headers: { "x-user": "alice", "x-request-id": "rid-17" },
      });
      expect(await res.json()).toEqual([{ id: "17" }, { id: "17-line" }]);
      const [e] = await settle("ORDER_VIEW", 1);
      expect(e!.action).toEqual({
        type: "ORDER_VIEW",
        category: "ORDERS",
        method: "GET",
        resource: { type: "order", id: "17" },
      });
      expect(e!.result.status).toBe("SUCCESS");
      expect(e!.result.http_status).toBe(200);
      expect(e!.result.duration_ms).toBeGreaterThan(0);
      expect(e!.severity).toBe("INFO");
      expect(e!.security_event).toBe(false);
      expect(e!.params).toEqual({ params: { id: "17" }, query: { expand: "lines" } });
      expect(e!.actor).toMatchObject({ id: "id-alice", username: "alice", ip: "127.0.0.1" });
      expect(e!.correlation?.request_id).toBe("rid-17");
      const [request] = await settle("HTTP_REQUEST", 1);
      expect(request!.action.resource).toEqual({ path: "/orders/17", name: "/orders/:id" });
      expect(ofType(t.events(), "INNER")[0]!.correlation?.request_id).toBe("rid-17");
    });

    it("records HttpExceptions with their status (4xx WARNING, 5xx ERROR) and a handler's 403 as a security event, once", async () => {
      const url = await start();
      expect((await fetch(`${url}/orders/404`)).status).toBe(404);
      expect((await fetch(`${url}/orders/500`)).status).toBe(500);
      expect((await fetch(`${url}/orders/403`, { headers: { "x-user": "eve" } })).status).toBe(403);
      const [notFound, crashed, forbidden] = await settle("ORDER_VIEW", 3);
      expect(notFound!.result).toMatchObject({
        status: "FAILURE",
        http_status: 404,
        error: { type: "NotFoundException", message: "order 404 not found" },
      });
      expect(notFound!.severity).toBe("WARNING");
      expect(crashed!.result).toMatchObject({
        status: "FAILURE",
        http_status: 500,
        error: { type: "Error", message: "database unreachable" },
      });
      expect(crashed!.severity).toBe("ERROR");
      expect(forbidden!.result).toMatchObject({
        status: "FAILURE",
        http_status: 403,
        error: { type: "ForbiddenException" },
      });
      expect(forbidden!.security_event).toBe(true);
      expect(forbidden!.actor?.username).toBe("eve");
      await settle("HTTP_REQUEST", 3);
      expect(ofType(t.events(), "PERMISSION_DENIED")).toEqual([]);
    });

    it("captures only the named parameters and the result when asked, sanitized", async () => {
      const url = await start();
      const res = await fetch(`${url}/orders`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ item: "lamp", card: "4111 1111 1111 1111" }),
      });
      expect(res.status).toBe(201);
      const [e] = await settle("ORDER_CREATE", 1);
      expect(e!.action.category).toBe("API");
      expect(e!.params).toEqual({ item: "lamp" });
      expect(e!.result).toMatchObject({ status: "SUCCESS", http_status: 201, value: { created: "lamp" } });
      expect(JSON.stringify(t.events())).not.toContain("4111");
    });

    it("records a guard's denial as a PERMISSION_DENIED security event naming the handler, and no @Audit event", async () => {
      const url = await start();
      const denied = await fetch(`${url}/orders/7`, {
        method: "DELETE",
        headers: { "x-user": "bob", "x-request-id": "rid-bob" },
      });
      expect(denied.status).toBe(403);
      const allowed = await fetch(`${url}/orders/8`, {
        method: "DELETE",
        headers: { "x-user": "admin-ann" },
      });
      expect(await allowed.json()).toEqual({ deleted: "8" });
      const [e] = await settle("PERMISSION_DENIED", 1);
      expect(e!.security_event).toBe(true);
      expect(e!.severity).toBe("WARNING");
      expect(e!.action).toEqual({
        type: "PERMISSION_DENIED",
        category: "AUTHORIZATION",
        method: "DELETE",
        resource: { path: "orders" },
      });
      expect(e!.result).toMatchObject({
        status: "FAILURE",
        http_status: 403,
        error: { type: "PERMISSION_DENIED" },
      });
      expect(e!.metadata).toEqual({ controller: "OrdersController", handler: "remove", path: "/orders/7" });
      expect(e!.actor).toMatchObject({ username: "bob", id: "id-bob" });
      expect(e!.correlation?.request_id).toBe("rid-bob");
      const deletes = await settle("ORDER_DELETE", 1);
      expect(deletes).toHaveLength(1);
      expect(deletes[0]!.actor?.username).toBe("admin-ann");
      expect(deletes[0]!.result.status).toBe("SUCCESS");
      expect(ofType(t.events(), "PERMISSION_DENIED")).toHaveLength(1);
    });

    it("records a guard's UnauthorizedException as an AUTHENTICATION denial", async () => {
      const url = await start();
      expect((await fetch(`${url}/orders/3/history`)).status).toBe(401);
      expect((await fetch(`${url}/orders/3/history`, { headers: { "x-user": "cy" } })).status).toBe(200);
      const [e] = await settle("PERMISSION_DENIED", 1);
      expect(e!.action.category).toBe("AUTHENTICATION");
      expect(e!.action.resource).toEqual({ path: "/orders/3/history", name: "/orders/:id/history" });
      expect(e!.result).toMatchObject({ http_status: 401, error: { type: "UNAUTHENTICATED" } });
      expect(e!.metadata).toMatchObject({ controller: "OrdersController", handler: "history" });
      await settle("HTTP_REQUEST", 2);
      expect(ofType(t.events(), "PERMISSION_DENIED")).toHaveLength(1);
    });

    it("records denials by app.useGlobalGuards guards too, naming the handler (the module's guard is registered first)", async () => {
      const url = await start({}, (app) => app.useGlobalGuards(new LockedGuard()));
      expect((await fetch(`${url}/orders/locked`, { headers: { "x-user": "dan" } })).status).toBe(403);
      const [e] = await settle("PERMISSION_DENIED", 1);
      expect(e!.action.resource).toEqual({ path: "/orders/locked", name: "/orders/:id" });
      expect(e!.metadata).toEqual({
        controller: "OrdersController",
        handler: "find",
        path: "/orders/locked",
      });
    });

    it("keeps @Audit events of 100 concurrent users apart, also after awaits in the handler", async () => {
      const url = await start();
      const statuses = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          fetch(`${url}/orders/${i}`, {
            headers: { "x-user": `user-${i}`, "x-request-id": `rid-${i}` },
          }).then((r) => r.status),
        ),
      );
      expect(statuses.every((s) => s === 200)).toBe(true);
      const views = await settle("ORDER_VIEW", 100);
      for (const e of views) {
        const id = (e.action.resource as { id: string }).id;
        expect(e.actor?.username).toBe(`user-${id}`);
        expect(e.correlation?.request_id).toBe(`rid-${id}`);
      }
      const inner = await settle("INNER", 100);
      const requestIds = new Map(views.map((e) => [e.correlation!.request_id!, e.actor!.username]));
      for (const e of inner) expect(requestIds.get(e.correlation!.request_id!)).toBe(e.actor?.username);
    });

    it("applies a controller's @Audit to each of its handlers, the type named after the method", async () => {
      const url = await start();
      await fetch(`${url}/reports/daily`);
      await fetch(`${url}/reports/export`);
      const daily = await settle("DAILY", 1);
      const exported = await settle("EXPORT_ALL", 1);
      for (const e of [daily[0]!, exported[0]!]) {
        expect(e.action.category).toBe("REPORTS");
        expect(e.security_event).toBe(true);
        expect(e.result).toMatchObject({ status: "SUCCESS", http_status: 200 });
      }
      expect(daily[0]!.action.resource).toEqual({ path: "/reports/daily", name: "/reports/daily" });
    });

    it("records no denial and no request event with http: false, but still the @Audit events", async () => {
      const url = await start({ http: false });
      const res = await fetch(`${url}/orders/5`, { headers: { "x-request-id": "rid-5" } });
      expect(res.headers.get("x-request-id")).toBeNull();
      await fetch(`${url}/orders/5`, { method: "DELETE" });
      await settle("ORDER_VIEW", 1);
      expect(ofType(t.events(), "HTTP_REQUEST")).toEqual([]);
      expect(ofType(t.events(), "PERMISSION_DENIED")).toEqual([]);
    });
  });
}

describe("AuditModule providers and options", () => {
  it("forRootAsync: options from a factory with injected dependencies; the engine it creates is injectable and closed at shutdown", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-nest-"));
    try {
      @Module({ providers: [{ provide: "AUDIT_DIR", useValue: dir }], exports: ["AUDIT_DIR"] })
      class SettingsModule {}
      class Reporter {
        constructor(@Inject(AUDIT_ENGINE) readonly engine: AuditEngine) {}
      }
      @Module({
        imports: [
          AuditModule.forRootAsync({
            imports: [SettingsModule],
            inject: ["AUDIT_DIR"],
            useFactory: async (auditDir: string) => ({
              config: {
                core: { application_name: "nest-app" },
                storage: { backends: [{ type: "file", directory: auditDir }] },
              },
            }),
          }),
        ],
        providers: [
          { provide: Reporter, useFactory: (e: AuditEngine) => new Reporter(e), inject: [AuditEngine] },
        ],
      })
      class AppModule {}
      const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
      const engine = app.get<AuditEngine>(AUDIT_ENGINE);
      expect(engine).toBeInstanceOf(AuditEngine);
      expect(app.get(AuditEngine)).toBe(engine);
      expect(app.get(Reporter).engine).toBe(engine);
      engine.log({ action: "APPLICATION_STARTUP", category: "SYSTEM" });
      await app.close();
      const lines = readdirSync(dir)
        .filter((f) => f.endsWith(".jsonl") || f.endsWith(".log") || f.includes("audit"))
        .flatMap((f) => readFileSync(join(dir, f), "utf8").split("\n").filter(Boolean));
      const events = lines.map((l) => JSON.parse(l) as AuditEvent);
      expect(events.map((e) => e.action.type)).toContain("APPLICATION_STARTUP");
      expect(events[0]!.application.name).toBe("nest-app");
      expect(engine.enabled).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects bad options with precise errors, at forRoot or when the async factory resolves", async () => {
    expect(() => AuditModule.forRoot({ http: { exclude: ["health"] } })).toThrow(
      /AuditModule\.forRoot \(options\.http\): options\.exclude\[0\] must be a path starting with "\/"/,
    );
    expect(() => AuditModule.forRoot({ engine: t.engine, config: {} })).toThrow(/exclude each other/);
    expect(() => AuditModule.forRoot({ recordDenials: "yes" as never })).toThrow(
      /options\.recordDenials must be a boolean, found string/,
    );
    expect(() => AuditModule.forRootAsync({} as never)).toThrow(/options\.useFactory must be a function/);
    try {
      AuditModule.forRoot(42 as never);
    } catch (err) {
      expect(err).toBeInstanceOf(VigilError);
      expect((err as VigilError).code).toBe("VIGIL_ERR_INVALID_ARGUMENT");
    }
    @Module({ imports: [AuditModule.forRootAsync({ useFactory: () => ({ http: { maxBodyBytes: -1 } }) })] })
    class BadModule {}
    await expect(
      NestFactory.createApplicationContext(BadModule, { logger: false, abortOnError: false }),
    ).rejects.toThrow(
      /AuditModule\.forRootAsync \(options\.http\): options\.maxBodyBytes must be a non-negative integer/,
    );
    expect(() => Audit({ actionType: "" })).toThrow(/@Audit: options\.actionType must be a non-empty string/);
    expect(() => Audit({ captureParams: [1] as never })).toThrow(/@Audit: options\.captureParams/);
  });
});
