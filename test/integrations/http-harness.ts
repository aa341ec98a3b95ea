/**
 * The same small application built on Express 5 and 4, Fastify 5, plain `node:http`, Koa 3
 * and Hono 4 (on `@hono/node-server`), so one suite checks that the HTTP integrations
 * behave the same (SPEC §1).
 *
 * Routes: `GET /users/:id` (logs an inner event), `GET /bad` (400), `GET /fail` (the
 * handler throws: 500), `POST /echo` (echoes the JSON body), `GET /hold` (sends headers and
 * part of the body, then waits for the client to go away), `GET /work/:n` (two inner events
 * around random delays), `GET /health`. An authentication step placed *after* the audit
 * middleware sets `req.user` from the `x-user` header.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createAdaptorServer, type HttpBindings } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { bodyParser } from "@koa/bodyparser";
import Router from "@koa/router";
import express from "express";
import express4 from "express4";
import Fastify from "fastify";
import { Hono } from "hono";
import Koa from "koa";
import type { AuditEngine } from "../../src/engine.js";
import { expressAuditMiddleware } from "../../src/integrations/express/index.js";
import { type FastifyAuditOptions, fastifyAuditPlugin } from "../../src/integrations/fastify/index.js";
import { honoAuditMiddleware } from "../../src/integrations/hono/index.js";
import { httpAuditHandler } from "../../src/integrations/http/index.js";
import type { HttpAuditOptions } from "../../src/integrations/http-common.js";
import { koaAuditMiddleware } from "../../src/integrations/koa/index.js";
import { closeServer, listen } from "./helpers.js";

export interface RunningApp {
  readonly url: string;
  /** Resolves when `/hold` saw its client go away. */
  readonly holdClosed: Promise<void>;
  close(): Promise<void>;
}

export interface Harness {
  readonly name: string;
  /** Whether the framework names the route pattern by itself. */
  readonly knowsRoutes: boolean;
  start(engine: AuditEngine, options?: HttpAuditOptions<never>): Promise<RunningApp>;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const jitter = () => delay(Math.floor(Math.random() * 8));

export function userFrom(
  header: string | string[] | undefined,
): { id: string; username: string } | undefined {
  return typeof header === "string" ? { id: `id-${header}`, username: header } : undefined;
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function work(engine: AuditEngine, n: string): Promise<void> {
  await jitter();
  engine.log({ action: "INNER_ONE", category: "TEST", metadata: { n } });
  await jitter();
  await new Promise<void>((r) => setImmediate(r));
  engine.log({ action: "INNER_TWO", category: "TEST", metadata: { n } });
}

/** The same app on Express 5 (`express`) and Express 4 (`express4`, an npm alias of express@4). */
function makeExpressHarness(name: string, lib: typeof express): Harness {
  return {
    name,
    knowsRoutes: true,
    async start(engine, options) {
      const held = deferred();
      const app = lib();
      app.use(lib.json());
      app.use(expressAuditMiddleware({ engine, ...(options as HttpAuditOptions) }));
      app.use((req, _res, next) => {
        (req as { user?: unknown }).user = userFrom(req.headers["x-user"]);
        next();
      });
      const api = lib.Router();
      api.get("/users/:id", (req, res) => {
        engine.log({ action: "INNER", category: "TEST" });
        res.json({ id: req.params.id });
      });
      app.use("/api", api);
      app.get("/users/:id", (req, res) => {
        engine.log({ action: "INNER", category: "TEST" });
        res.json({ id: req.params.id });
      });
      app.get("/bad", (_req, res) => {
        res.status(400).json({ error: "bad" });
      });
      app.get("/fail", () => {
        throw new Error("boom");
      });
      app.post("/echo", (req, res) => {
        engine.log({ action: "INNER", category: "TEST" });
        res.json(req.body);
      });
      app.get("/hold", (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial");
        res.on("close", held.resolve);
      });
      app.get("/work/:n", async (req, res) => {
        await work(engine, req.params.n);
        res.json({ n: req.params.n });
      });
      app.get("/health", (_req, res) => {
        res.json({ status: "ok" });
      });
      const server = createServer(app);
      const url = await listen(server);
      return { url, holdClosed: held.promise, close: () => closeServer(server) };
    },
  };
}

export const expressHarness = makeExpressHarness("express", express);
export const express4Harness = makeExpressHarness("express 4", express4);

export const fastifyHarness: Harness = {
  name: "fastify",
  knowsRoutes: true,
  async start(engine, options) {
    const held = deferred();
    const app = Fastify();
    await app.register(fastifyAuditPlugin, { engine, ...(options as FastifyAuditOptions) });
    app.addHook("onRequest", async (req) => {
      (req as unknown as { user?: unknown }).user = userFrom(req.headers["x-user"]);
    });
    await app.register(
      async (api) => {
        api.get<{ Params: { id: string } }>("/users/:id", async (req) => {
          engine.log({ action: "INNER", category: "TEST" });
          return { id: req.params.id };
        });
      },
      { prefix: "/api" },
    );
    app.get<{ Params: { id: string } }>("/users/:id", async (req) => {
      engine.log({ action: "INNER", category: "TEST" });
      return { id: req.params.id };
    });
    app.get("/bad", async (_req, reply) => reply.code(400).send({ error: "bad" }));
    app.get("/fail", async () => {
      throw new Error("boom");
    });
    app.post("/echo", async (req) => {
      engine.log({ action: "INNER", category: "TEST" });
      return req.body;
    });
    app.get("/hold", (_req, reply) => {
      reply.hijack();
      reply.raw.writeHead(200, { "content-type": "text/plain" });
      reply.raw.write("partial");
      reply.raw.on("close", held.resolve);
    });
    app.get<{ Params: { n: string } }>("/work/:n", async (req) => {
      await work(engine, req.params.n);
      return { n: req.params.n };
    });
    app.get("/health", async () => ({ status: "ok" }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const address = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${address.port}`, holdClosed: held.promise, close: () => app.close() };
  },
};

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export const nodeHttpHarness: Harness = {
  name: "node:http",
  knowsRoutes: true,
  async start(engine, options) {
    const held = deferred();
    const routeOf = (req: IncomingMessage): string | undefined => {
      const path = (req.url ?? "/").split("?")[0]!;
      if (/^\/users\/[^/]+$/.test(path)) return "/users/:id";
      if (/^\/api\/users\/[^/]+$/.test(path)) return "/api/users/:id";
      if (/^\/work\/[^/]+$/.test(path)) return "/work/:n";
      return ["/bad", "/fail", "/echo", "/hold", "/health"].includes(path) ? path : undefined;
    };
    const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      (req as { user?: unknown }).user = userFrom(req.headers["x-user"]);
      const path = (req.url ?? "/").split("?")[0]!;
      const route = routeOf(req);
      try {
        if (route === "/users/:id" || route === "/api/users/:id") {
          engine.log({ action: "INNER", category: "TEST" });
          return sendJson(res, 200, { id: path.split("/").pop() });
        }
        if (route === "/bad") return sendJson(res, 400, { error: "bad" });
        if (route === "/fail") throw new Error("boom");
        if (route === "/echo") {
          const body = JSON.parse(await readBody(req)) as unknown;
          engine.log({ action: "INNER", category: "TEST" });
          return sendJson(res, 200, body);
        }
        if (route === "/hold") {
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("partial");
          res.on("close", held.resolve);
          return;
        }
        if (route === "/work/:n") {
          await work(engine, path.split("/").pop()!);
          return sendJson(res, 200, { n: path.split("/").pop() });
        }
        if (route === "/health") return sendJson(res, 200, { status: "ok" });
        return sendJson(res, 404, { error: "not found" });
      } catch {
        return sendJson(res, 500, { error: "internal" });
      }
    };
    const server: Server = createServer(
      httpAuditHandler(handler, { engine, getRoute: routeOf, ...(options as HttpAuditOptions) }),
    );
    const url = await listen(server);
    return { url, holdClosed: held.promise, close: () => closeServer(server) };
  },
};

export const koaHarness: Harness = {
  name: "koa",
  knowsRoutes: true,
  async start(engine, options) {
    const held = deferred();
    const app = new Koa();
    app.silent = true; // the thrown error of /fail is expected
    app.use(bodyParser());
    app.use(koaAuditMiddleware({ engine, ...(options as object) }));
    app.use(async (ctx, next) => {
      ctx.state.user = userFrom(ctx.headers["x-user"]);
      await next();
    });
    const router = new Router();
    router.get("/users/:id", (ctx) => {
      engine.log({ action: "INNER", category: "TEST" });
      ctx.body = { id: ctx.params.id };
    });
    router.get("/bad", (ctx) => {
      ctx.status = 400;
      ctx.body = { error: "bad" };
    });
    router.get("/fail", () => {
      throw new Error("boom");
    });
    router.post("/echo", (ctx) => {
      engine.log({ action: "INNER", category: "TEST" });
      ctx.body = ctx.request.body;
    });
    router.get("/hold", (ctx) => {
      ctx.respond = false;
      ctx.res.writeHead(200, { "content-type": "text/plain" });
      ctx.res.write("partial");
      ctx.res.on("close", held.resolve);
    });
    router.get("/work/:n", async (ctx) => {
      await work(engine, ctx.params.n!);
      ctx.body = { n: ctx.params.n };
    });
    router.get("/health", (ctx) => {
      ctx.body = { status: "ok" };
    });
    const api = new Router({ prefix: "/api" });
    api.get("/users/:id", (ctx) => {
      engine.log({ action: "INNER", category: "TEST" });
      ctx.body = { id: ctx.params.id };
    });
    app.use(router.routes());
    app.use(api.routes());
    const server = createServer(app.callback());
    const url = await listen(server);
    return { url, holdClosed: held.promise, close: () => closeServer(server) };
  },
};

type HonoEnv = { Bindings: HttpBindings; Variables: { user: { id: string; username: string } } };

export const honoHarness: Harness = {
  name: "hono",
  knowsRoutes: true,
  async start(engine, options) {
    const held = deferred();
    const app = new Hono<HonoEnv>();
    app.use(honoAuditMiddleware({ engine, ...(options as object) }));
    app.use(async (c, next) => {
      const user = userFrom(c.req.header("x-user"));
      if (user) c.set("user", user);
      await next();
    });
    app.get("/users/:id", (c) => {
      engine.log({ action: "INNER", category: "TEST" });
      return c.json({ id: c.req.param("id") });
    });
    app.get("/bad", (c) => c.json({ error: "bad" }, 400));
    app.get("/fail", () => {
      throw new Error("boom");
    });
    app.post("/echo", async (c) => {
      const body = await c.req.json();
      engine.log({ action: "INNER", category: "TEST" });
      return c.json(body);
    });
    app.get("/hold", (c) => {
      const res = c.env.outgoing;
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial");
      res.on("close", held.resolve);
      return RESPONSE_ALREADY_SENT;
    });
    app.get("/work/:n", async (c) => {
      await work(engine, c.req.param("n"));
      return c.json({ n: c.req.param("n") });
    });
    app.get("/health", (c) => c.json({ status: "ok" }));
    const api = new Hono<HonoEnv>();
    api.get("/users/:id", (c) => {
      engine.log({ action: "INNER", category: "TEST" });
      return c.json({ id: c.req.param("id") });
    });
    app.route("/api", api);
    app.onError((_err, c) => c.json({ error: "internal" }, 500));
    const server = createAdaptorServer({ fetch: app.fetch }) as Server;
    const url = await listen(server);
    return { url, holdClosed: held.promise, close: () => closeServer(server) };
  },
};

export const harnesses: readonly Harness[] = [
  expressHarness,
  express4Harness,
  fastifyHarness,
  nodeHttpHarness,
  koaHarness,
  honoHarness,
];
