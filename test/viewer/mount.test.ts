/**
 * The viewer mounted in Express (5 and 4), Fastify (hijacked reply) and node:http
 * (`basePath`), its static files with their types, and every way of asking for a file
 * outside them (404).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import express from "express";
import express4 from "express4";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditViewer } from "../../src/viewer/handler.js";
import { closeServer, listen } from "../integrations/helpers.js";
import { call, testStore } from "./harness.js";

const store = testStore("files");
const assets = mkdtempSync(join(tmpdir(), "vigil-viewer-ui-"));
const ui = join(assets, "viewer-ui");
mkdirSync(join(ui, "assets"), { recursive: true });
writeFileSync(join(ui, "index.html"), '<!doctype html><script src="./assets/app.js"></script>');
writeFileSync(join(ui, "assets", "app.js"), "console.log('viewer')");
writeFileSync(join(ui, "assets", "app.css"), "body{}");
writeFileSync(join(ui, "assets", "notes.txt"), "not a known type");
writeFileSync(join(assets, "secret.txt"), "outside the assets");
const authorize = (req: IncomingMessage) =>
  req.headers["x-user"] ? { actor: { username: String(req.headers["x-user"]) } } : undefined;
const options = { engine: store.engine, authorize, assetsDir: ui };
const ME = { "x-user": "olga" };

afterAll(async () => {
  await store.cleanup();
  rmSync(assets, { recursive: true, force: true });
});

describe("mounting", () => {
  for (const [name, lib] of [
    ["express 5", express],
    ["express 4", express4 as unknown as typeof express],
  ] as const) {
    it(`${name}: app.use("/admin/audit", viewer) finds its mount path`, async () => {
      const app = lib();
      app.use("/admin/audit", auditViewer(options));
      app.get("/other", (_req, res) => {
        res.send("app");
      });
      const server = createServer(app);
      const url = await listen(server);
      try {
        const redirect = await call(url, "/admin/audit?range=last_1h");
        expect(redirect.status).toBe(308);
        expect(redirect.headers.location).toBe("/admin/audit/?range=last_1h");
        const page = await call(url, "/admin/audit/");
        expect(page.status).toBe(200);
        expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
        expect((await call(url, "/admin/audit/api/session", { headers: ME })).json()).toMatchObject({
          actor: { username: "olga" },
        });
        const ticket = await call(url, "/admin/audit/api/export-ticket", {
          method: "POST",
          headers: { ...ME, "content-type": "application/json" },
          body: "{}",
        });
        expect(ticket.json<{ url: string }>().url).toMatch(/^\/admin\/audit\/api\/export\?ticket=/);
        expect((await call(url, "/other")).text).toBe("app");
      } finally {
        await closeServer(server);
      }
    });
  }

  it("fastify: a hijacked reply hands the raw request over", async () => {
    const viewer = auditViewer({ ...options, basePath: "/admin/audit" });
    const app = Fastify();
    const mount = (req: { raw: IncomingMessage }, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack();
      viewer(req.raw, reply.raw);
    };
    app.all("/admin/audit", mount);
    app.all("/admin/audit/*", mount);
    app.get("/other", async () => "app");
    await app.listen({ port: 0, host: "127.0.0.1" });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    try {
      expect((await call(url, "/admin/audit")).status).toBe(308);
      expect((await call(url, "/admin/audit/assets/app.js")).text).toBe("console.log('viewer')");
      const search = await call(url, "/admin/audit/api/search?q=*", { headers: ME });
      expect(search.status).toBe(200);
      expect(search.headers["content-security-policy"]).toContain("default-src 'self'");
      expect((await call(url, "/admin/audit/api/search")).status).toBe(401);
      expect((await call(url, "/other")).text).toBe("app");
    } finally {
      await app.close();
    }
  });

  it("node:http: basePath, and next() for what lies outside it", async () => {
    const viewer = auditViewer({ ...options, basePath: "/audit/" });
    const server = createServer((req, res) =>
      viewer(req, res, () => {
        res.end("not the viewer");
      }),
    );
    const url = await listen(server);
    try {
      expect((await call(url, "/audit/api/session", { headers: ME })).status).toBe(200);
      expect((await call(url, "/auditing")).text).toBe("not the viewer");
      expect((await call(url, "/")).text).toBe("not the viewer");
    } finally {
      await closeServer(server);
    }
  });

  it("rejects bad options with a precise error", () => {
    expect(() => auditViewer({ engine: store.engine })).toThrow(
      "auditViewer: give options.authorize (req) => identity, options.tokenSecret, or both",
    );
    expect(() => auditViewer({ engine: store.engine, tokenSecret: "short" })).toThrow(
      "the secret must be at least 32 bytes, found 5",
    );
    expect(() => auditViewer({ ...options, basePath: "admin" })).toThrow(
      'options.basePath must be a path starting with "/"',
    );
    expect(() => auditViewer({ ...options, frameAncestors: ["'self'; script-src *"] })).toThrow(
      "options.frameAncestors must be a list of CSP sources",
    );
    expect(() => auditViewer({ ...options, limits: { tailIntervalMs: 5000 } })).toThrow(
      "options.limits.tailIntervalMs must be at most 1000, found 5000",
    );
  });
});

describe("static files", () => {
  let url: string;
  let server: ReturnType<typeof createServer>;
  beforeAll(async () => {
    const viewer = auditViewer({ ...options, frameAncestors: ["'self'"] });
    server = createServer((req, res) => viewer(req, res));
    url = await listen(server);
  });
  afterAll(() => closeServer(server));

  it("serves the page and its files with their types", async () => {
    const page = await call(url, "/");
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("frame-ancestors 'self';");
    expect(page.headers["x-frame-options"]).toBe("SAMEORIGIN");
    expect((await call(url, "/assets/app.js")).headers["content-type"]).toBe(
      "text/javascript; charset=utf-8",
    );
    expect((await call(url, "/assets/app.css")).headers["content-type"]).toBe("text/css; charset=utf-8");
    const head = await call(url, "/assets/app.js", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.text).toBe("");
  });

  it("answers 404 to every path outside the known files, encoded or not", async () => {
    for (const path of [
      "/assets/../../secret.txt",
      "/../secret.txt",
      "/assets/%2e%2e/%2e%2e/secret.txt",
      "/assets/..%2f..%2fsecret.txt",
      "/assets/%2E%2E%2F%2E%2E%2Fsecret.txt",
      "/%2e%2e/secret.txt",
      "/assets/..%5c..%5csecret.txt",
      "/assets/app.js/../../secret.txt",
      "//etc/passwd",
      "/assets/notes.txt",
      "/assets/",
      "/assets/app.js%00.html",
      "/assets/APP.JS",
      "/package.json",
    ]) {
      const r = await call(url, path);
      expect(r.status, path).toBe(404);
      expect(r.text).not.toContain("outside the assets");
    }
    expect((await call(url, "/assets/app.js", { method: "POST" })).status).toBe(405);
  });

  it("serves a flat build's files under /assets/ too", async () => {
    const flat = join(assets, "flat");
    mkdirSync(flat, { recursive: true });
    writeFileSync(join(flat, "index.html"), "<!doctype html>");
    writeFileSync(join(flat, "app.js"), "flat()");
    const viewer = auditViewer({ ...options, assetsDir: flat });
    const server2 = createServer((req, res) => viewer(req, res));
    const url2 = await listen(server2);
    try {
      expect((await call(url2, "/assets/app.js")).text).toBe("flat()");
      expect((await call(url2, "/assets/../app.js")).status).toBe(404);
    } finally {
      await closeServer(server2);
    }
  });

  it("answers 500 with one line when the page was not built", async () => {
    const viewer = auditViewer({ ...options, assetsDir: join(assets, "missing") });
    const bare = createServer((req, res) => viewer(req, res));
    const bareUrl = await listen(bare);
    try {
      const r = await call(bareUrl, "/");
      expect(r.status).toBe(500);
      expect(r.text).toBe("viewer assets not built: run npm run build\n");
    } finally {
      await closeServer(bare);
    }
  });
});
