/**
 * What is particular to each HTTP integration: Express middleware shape and option
 * errors, the Fastify plugin's registration and `inject()`, `node:http` pass-through,
 * Koa's `ctx.throw` and error replies, Hono outside `@hono/node-server` and its JWT payload.
 */
import { createServer, type Server, ServerResponse } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import Router from "@koa/router";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import Koa from "koa";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VigilError } from "../../src/errors.js";
import { expressAuditMiddleware } from "../../src/integrations/express/index.js";
import { fastifyAuditPlugin } from "../../src/integrations/fastify/index.js";
import { honoAuditMiddleware } from "../../src/integrations/hono/index.js";
import { httpAuditHandler } from "../../src/integrations/http/index.js";
import { defaultActor, parseTraceparent } from "../../src/integrations/http-common.js";
import { koaAuditMiddleware } from "../../src/integrations/koa/index.js";
import { closeServer, eventually, listen, ofType, type TestEngine, testEngine } from "./helpers.js";

let t: TestEngine;
beforeEach(() => {
  t = testEngine();
});
afterEach(async () => {
  await t.dispose();
});
const requests = () => ofType(t.events(), "HTTP_REQUEST");

describe("expressAuditMiddleware", () => {
  it("returns a named middleware function", () => {
    const mw = expressAuditMiddleware({ engine: t.engine });
    expect(mw.name).toBe("vigilAudit");
    expect(mw.length).toBe(3);
  });

  it("rejects bad options with a precise error naming the option", () => {
    expect(() => expressAuditMiddleware({ exclude: ["health"] })).toThrow(
      /expressAuditMiddleware: options\.exclude\[0\] must be a path starting with "\/" or a RegExp, found "health"/,
    );
    expect(() => expressAuditMiddleware({ requestIdHeader: "bad header" })).toThrow(
      /options\.requestIdHeader/,
    );
    expect(() => expressAuditMiddleware({ maxBodyBytes: -1 })).toThrow(
      /options\.maxBodyBytes must be a non-negative integer/,
    );
    expect(() => expressAuditMiddleware({ getActor: "me" as never })).toThrow(
      /options\.getActor must be a function/,
    );
    try {
      expressAuditMiddleware({ exclude: "/x" as never });
    } catch (err) {
      expect(err).toBeInstanceOf(VigilError);
      expect((err as VigilError).code).toBe("VIGIL_ERR_INVALID_ARGUMENT");
    }
  });

  it("uses a custom getActor and category, and a throwing getActor records no actor", async () => {
    const app = express();
    let calls = 0;
    app.use(
      expressAuditMiddleware({
        engine: t.engine,
        category: "web",
        actionType: "page_view",
        getActor: (req) => {
          calls++;
          if (req.headers["x-explode"]) throw new Error("actor lookup failed");
          return { username: String(req.headers["x-name"]), roles: ["admin"] };
        },
      }),
    );
    app.get("/a", (_req, res) => {
      res.send("ok");
    });
    const server = createServer(app);
    const url = await listen(server);
    try {
      await fetch(`${url}/a`, { headers: { "x-name": "zoe" } });
      const res = await fetch(`${url}/a`, { headers: { "x-explode": "1" } });
      expect(res.status).toBe(200);
      const views = () => ofType(t.events(), "PAGE_VIEW");
      const [a, b] = await eventually(
        () => (views().length === 2 ? views() : undefined),
        "2 PAGE_VIEW events",
      );
      expect(a!.action.category).toBe("WEB");
      expect(a!.actor).toEqual({ username: "zoe", roles: ["admin"] });
      expect(b!.actor).toBeUndefined();
      expect(calls).toBeGreaterThanOrEqual(2);
    } finally {
      await closeServer(server);
    }
  });

  it("records req.ip as the client: the socket's address with trust proxy off, X-Forwarded-For's when trusted, also in a mounted app", async () => {
    const forwarded = { "x-forwarded-for": "203.0.113.7" };
    const ipOf = async (configure: (app: ReturnType<typeof express>) => ReturnType<typeof express>) => {
      const app = express();
      app.use(expressAuditMiddleware({ engine: t.engine }));
      const served = configure(app);
      served.get("/ip", (req, res) => {
        res.json({ ip: req.ip });
      });
      const server = createServer(app);
      const url = await listen(server);
      try {
        const seen = (await (await fetch(`${url}/ip`, { headers: forwarded })).json()) as { ip: string };
        const events = await eventually(
          () => (requests().length === 1 ? requests() : undefined),
          "1 request event",
        );
        return { seen: seen.ip, recorded: events[0]!.actor?.ip };
      } finally {
        await closeServer(server);
      }
    };
    const plain = await ipOf((app) => app);
    expect(plain.recorded).toBe("127.0.0.1");
    expect(plain.seen).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    await t.dispose();
    t = testEngine();
    const trusted = await ipOf((app) => app.set("trust proxy", true));
    expect(trusted).toEqual({ seen: "203.0.113.7", recorded: "203.0.113.7" });
    await t.dispose();
    t = testEngine();
    // a mounted app inherits its parent's setting, as req.ip does
    const mounted = await ipOf((app) => {
      app.set("trust proxy", "loopback");
      const sub = express();
      app.use("/", sub);
      return sub;
    });
    expect(mounted).toEqual({ seen: "203.0.113.7", recorded: "203.0.113.7" });
  });

  it("passes errors to Express's error handlers unchanged and records the status they send", async () => {
    const app = express();
    app.use(expressAuditMiddleware({ engine: t.engine }));
    app.get("/teapot", (_req, _res, next) => {
      next(Object.assign(new Error("short and stout"), { status: 418 }));
    });
    let seen: unknown;
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen = err;
      res.status(418).json({ message: err.message });
    });
    const server = createServer(app);
    const url = await listen(server);
    try {
      const res = await fetch(`${url}/teapot`);
      expect(res.status).toBe(418);
      expect(await res.json()).toEqual({ message: "short and stout" });
      expect((seen as Error).message).toBe("short and stout");
      const [e] = await eventually(() => (requests().length === 1 ? requests() : undefined), "event");
      expect(e!.result).toMatchObject({ status: "FAILURE", http_status: 418 });
      expect(e!.action.resource?.name).toBe("/teapot");
    } finally {
      await closeServer(server);
    }
  });
});

describe("fastifyAuditPlugin", () => {
  it("is a skip-override plugin with a name, so its hooks apply to the whole instance", () => {
    const plugin = fastifyAuditPlugin as unknown as Record<symbol, unknown>;
    expect(plugin[Symbol.for("skip-override")]).toBe(true);
    expect(plugin[Symbol.for("fastify.display-name")]).toBe("vigil-audit");
    expect(plugin[Symbol.for("plugin-meta")]).toMatchObject({ name: "vigil-audit" });
  });

  it("audits routes of plugins registered after it and works with inject()", async () => {
    const app = Fastify();
    await app.register(fastifyAuditPlugin, { engine: t.engine });
    await app.register(
      async (child) => {
        child.get("/orders/:orderId", async (req) => {
          t.engine.log({ action: "INNER", category: "TEST" });
          return { id: (req.params as { orderId: string }).orderId };
        });
      },
      { prefix: "/v2" },
    );
    const res = await app.inject({
      method: "GET",
      url: "/v2/orders/17?x=1",
      headers: { "x-request-id": "inj-1" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-request-id"]).toBe("inj-1");
    await app.close();
    const [e] = requests();
    expect(e!.action.resource).toEqual({ path: "/v2/orders/17", name: "/v2/orders/:orderId" });
    expect(e!.correlation?.request_id).toBe("inj-1");
    expect(ofType(t.events(), "INNER")[0]!.correlation?.request_id).toBe("inj-1");
  });

  it("fails the registration on bad options", async () => {
    const app = Fastify();
    await expect(app.register(fastifyAuditPlugin, { exclude: [42 as never] })).rejects.toThrow(
      /fastifyAuditPlugin: options\.exclude\[0\]/,
    );
  });

  it("records a Fastify validation failure as a 400", async () => {
    const app = Fastify();
    await app.register(fastifyAuditPlugin, { engine: t.engine });
    app.post(
      "/items",
      { schema: { body: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } },
      async () => ({ ok: true }),
    );
    const res = await app.inject({ method: "POST", url: "/items", payload: { nope: 1 } });
    expect(res.statusCode).toBe(400);
    await app.close();
    expect(requests()[0]!.result).toMatchObject({ status: "FAILURE", http_status: 400 });
    expect(requests()[0]!.action.resource?.name).toBe("/items");
  });
});

describe("httpAuditHandler", () => {
  it("returns the handler's value and lets a synchronous error through unchanged", () => {
    const boom = new Error("sync boom");
    const ok = httpAuditHandler(() => 7, { engine: t.engine });
    const bad = httpAuditHandler(
      () => {
        throw boom;
      },
      { engine: t.engine },
    );
    expect(ok.name).toBe("vigilAuditHandler");
    const fakeReq = Object.assign(Object.create(null), { url: "/x", method: "GET", headers: {}, socket: {} });
    const res = new ServerResponse(fakeReq);
    expect(ok(fakeReq, res)).toBe(7);
    expect(() => bad(fakeReq, new ServerResponse(fakeReq))).toThrow(boom);
  });

  it("captures a URL-encoded body the handler reads, without changing what it reads", async () => {
    let received = "";
    const server = createServer(
      httpAuditHandler(
        async (req, res) => {
          for await (const chunk of req) received += String(chunk);
          res.end("done");
        },
        { engine: t.engine, captureBody: true },
      ),
    );
    const url = await listen(server);
    try {
      const res = await fetch(`${url}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "username=alice&password=hunter2",
      });
      expect(await res.text()).toBe("done");
      expect(received).toBe("username=alice&password=hunter2");
      const [e] = await eventually(() => (requests().length === 1 ? requests() : undefined), "event");
      expect(e!.params).toEqual({ body: { username: "alice", password: "[REDACTED]" } });
    } finally {
      await closeServer(server);
    }
  });

  it("rejects a handler that is not a function", () => {
    expect(() => httpAuditHandler(42 as never)).toThrow(/httpAuditHandler: handler must be a function/);
  });
});

describe("koaAuditMiddleware", () => {
  it("returns a named middleware and rejects bad options naming the option", () => {
    expect(koaAuditMiddleware({ engine: t.engine }).name).toBe("vigilAudit");
    expect(() => koaAuditMiddleware({ exclude: ["health"] })).toThrow(
      /koaAuditMiddleware: options\.exclude\[0\] must be a path starting with "\/" or a RegExp/,
    );
    expect(() => koaAuditMiddleware({ category: "" })).toThrow(/koaAuditMiddleware: options\.category/);
  });

  it("records ctx.throw's status and the user koa-jwt style middleware puts in ctx.state, and getActor gets the context", async () => {
    const app = new Koa();
    app.silent = true;
    app.use(koaAuditMiddleware({ engine: t.engine }));
    app.use(async (ctx, next) => {
      ctx.state.user = { sub: "u-7", name: "Nia", roles: ["viewer"] };
      await next();
    });
    const router = new Router();
    router.get("/reports/:id", (ctx) => {
      t.engine.log({ action: "INNER", category: "TEST" });
      ctx.throw(403, "not yours");
    });
    app.use(router.routes());
    const server = createServer(app.callback());
    const url = await listen(server);
    try {
      const res = await fetch(`${url}/reports/9`, { headers: { "x-request-id": "rid-k" } });
      expect(res.status).toBe(403);
      expect(await res.text()).toBe("not yours");
      expect(res.headers.get("x-request-id")).toBe("rid-k");
      const [e] = await eventually(() => (requests().length === 1 ? requests() : undefined), "event");
      expect(e!.result).toMatchObject({ status: "FAILURE", http_status: 403 });
      expect(e!.severity).toBe("WARNING");
      expect(e!.action.resource).toEqual({ path: "/reports/9", name: "/reports/:id" });
      expect(e!.actor).toMatchObject({ id: "u-7", username: "Nia", roles: ["viewer"], ip: "127.0.0.1" });
      expect(ofType(t.events(), "INNER")[0]!.actor?.id).toBe("u-7");
    } finally {
      await closeServer(server);
    }

    const seen: unknown[] = [];
    const custom = new Koa();
    custom.use(
      koaAuditMiddleware<Koa.Context>({
        engine: t.engine,
        getActor: (ctx) => {
          seen.push(ctx);
          return { username: String(ctx.get("x-name")) };
        },
      }),
    );
    custom.use((ctx) => {
      ctx.body = "ok";
    });
    const server2 = createServer(custom.callback());
    const url2 = await listen(server2);
    try {
      await fetch(`${url2}/x`, { headers: { "x-name": "omar" } });
      await eventually(() => (requests().length === 2 ? requests() : undefined), "event");
      expect(requests()[1]!.actor).toEqual({ username: "omar" });
      expect(seen.every((c) => typeof (c as Koa.Context).state === "object")).toBe(true);
    } finally {
      await closeServer(server2);
    }
  });
});

describe("honoAuditMiddleware", () => {
  it("returns a named middleware and rejects bad options naming the option", () => {
    expect(honoAuditMiddleware({ engine: t.engine }).name).toBe("vigilAudit");
    expect(() => honoAuditMiddleware({ requestIdHeader: "a b" })).toThrow(
      /honoAuditMiddleware: options\.requestIdHeader must be a header name or false/,
    );
  });

  it("passes requests outside @hono/node-server through unaudited", async () => {
    const app = new Hono();
    app.use(honoAuditMiddleware({ engine: t.engine }));
    app.get("/x", (c) => c.text("ok"));
    const res = await app.request("/x");
    expect(await res.text()).toBe("ok");
    expect(t.events()).toEqual([]);
  });

  it("takes the actor from hono/jwt's jwtPayload and names no route when a middleware answers early", async () => {
    const app = new Hono();
    app.use(honoAuditMiddleware({ engine: t.engine }));
    app.use("/admin/*", async (c, next) => {
      if (c.req.header("authorization") !== "Bearer ok") return c.json({ error: "unauthorized" }, 401);
      c.set("jwtPayload" as never, { sub: "svc-1", roles: ["admin"] } as never);
      await next();
    });
    app.get("/admin/stats/:day", async (c) => {
      await new Promise((r) => setTimeout(r, 5));
      t.engine.log({ action: "INNER", category: "TEST" });
      return c.json({ day: c.req.param("day") });
    });
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    const url = await listen(server);
    try {
      expect((await fetch(`${url}/admin/stats/mon`)).status).toBe(401);
      const ok = await fetch(`${url}/admin/stats/tue`, { headers: { authorization: "Bearer ok" } });
      expect(await ok.json()).toEqual({ day: "tue" });
      const [denied, allowed] = await eventually(
        () => (requests().length === 2 ? requests() : undefined),
        "2 events",
      );
      expect(denied!.result).toMatchObject({ status: "FAILURE", http_status: 401 });
      expect(denied!.action.resource).toEqual({ path: "/admin/stats/mon" });
      expect(allowed!.action.resource).toEqual({ path: "/admin/stats/tue", name: "/admin/stats/:day" });
      expect(allowed!.actor).toMatchObject({ id: "svc-1", roles: ["admin"] });
      const inner = ofType(t.events(), "INNER")[0]!;
      expect(inner.actor?.id).toBe("svc-1");
      expect(inner.correlation?.request_id).toBe(allowed!.correlation?.request_id);
    } finally {
      await closeServer(server);
    }
  });
});

describe("shared helpers", () => {
  it("parseTraceparent accepts valid headers and rejects malformed ones", () => {
    const id = "4bf92f3577b34da6a3ce929d0e0e4736";
    const span = "00f067aa0ba902b7";
    expect(parseTraceparent(`00-${id}-${span}-01`)).toEqual({ trace_id: id, span_id: span });
    expect(parseTraceparent(`01-${id}-${span}-01-future`)).toEqual({ trace_id: id, span_id: span });
    for (const bad of [
      `00-${id}-${span}-01-extra`,
      `ff-${id}-${span}-01`,
      `00-${id.toUpperCase()}-${span}-01`,
      `00-${id}-0000000000000000-01`,
      `00-${id.slice(1)}-${span}-01`,
      "",
      undefined,
      42,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });

  it("defaultActor reads req.user, the client ip and the user agent, and nothing else", () => {
    expect(
      defaultActor({
        headers: { "user-agent": "ua/1", authorization: "Bearer x", cookie: "a=b" },
        user: { _id: 12, name: "Ann", email: "ann@example.com", roles: ["admin", 3] },
        ip: "::ffff:10.1.2.3",
      }),
    ).toEqual({ id: "12", username: "Ann", ip: "10.1.2.3", user_agent: "ua/1", roles: ["admin"] });
    expect(defaultActor({ headers: {}, user: "svc-batch", socket: { remoteAddress: "::1" } })).toEqual({
      username: "svc-batch",
      ip: "::1",
    });
    expect(defaultActor({ headers: {} })).toBeUndefined();
  });
});
