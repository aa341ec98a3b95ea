/**
 * The viewer's JSON API over real HTTP on 127.0.0.1, on a file store and on SQLite: every
 * endpoint, and every bad input (docs/viewer.md).
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import type { ViewerIdentity } from "../../src/viewer/token.js";
import { createViewerToken } from "../../src/viewer/token.js";
import {
  call,
  type RunningViewer,
  readEvents,
  type StoreKind,
  startViewer,
  type TestStore,
  testStore,
  viewerEvents,
} from "./harness.js";

const SECRET = "s3cret-for-viewer-tests-0123456789abcdef";

/** Test identities come from headers: x-user, x-tenant, x-scopes. */
function authorize(req: IncomingMessage): ViewerIdentity | undefined {
  const user = req.headers["x-user"];
  if (typeof user !== "string") return undefined;
  const tenant = req.headers["x-tenant"];
  const scopes = req.headers["x-scopes"];
  return {
    actor: { username: user },
    ...(typeof tenant === "string" ? { tenant } : {}),
    ...(typeof scopes === "string" ? { scopes: scopes.split(",") as ViewerIdentity["scopes"] } : {}),
  };
}

const OPERATOR = { "x-user": "olga" };

function seed(store: TestStore): AuditEvent[] {
  const out: AuditEvent[] = [];
  const log = (input: Parameters<TestStore["engine"]["log"]>[0]) => {
    const e = store.engine.log(input);
    if (!e) throw new Error("not logged");
    out.push(e);
  };
  for (let i = 0; i < 6; i++)
    log({
      action: "LOGIN",
      category: "AUTHENTICATION",
      actor: { username: i % 2 ? "alice" : "bob" },
      status: i === 5 ? "FAILURE" : "SUCCESS",
      tenant: "acme",
      metadata: { order_id: i },
    });
  for (let i = 0; i < 4; i++)
    log({ action: "QUERY", category: "DATABASE", actor: { username: "carol" }, tenant: "globex" });
  for (let i = 0; i < 3; i++) log({ action: "STARTUP", category: "SYSTEM" });
  return out;
}

for (const kind of ["files", "sqlite"] as StoreKind[]) {
  describe(`viewer API on ${kind}`, () => {
    let store: TestStore;
    let viewer: RunningViewer;
    let seeded: AuditEvent[];
    const get = (path: string, headers: Record<string, string> = OPERATOR) =>
      call(viewer.url, path, { headers });

    beforeAll(async () => {
      store = testStore(kind, {
        security: {
          signing: {
            enabled: true,
            algorithm: "hmac-sha256",
            secret_key: "viewer-test-signing-secret-0123456789",
            checkpoint_every: 1,
          },
        },
      });
      seeded = seed(store);
      viewer = await startViewer({ engine: store.engine, authorize, tokenSecret: SECRET });
    });
    afterAll(async () => {
      await viewer?.close();
      await store?.cleanup();
    });

    it("every response carries the security headers; API responses are not cached", async () => {
      for (const path of ["/api/session", "/api/nope", "/", "/assets/missing.js"]) {
        const r = await get(path);
        expect(r.headers["content-security-policy"]).toBe(
          "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        );
        expect(r.headers["x-content-type-options"]).toBe("nosniff");
        expect(r.headers["referrer-policy"]).toBe("no-referrer");
        expect(r.headers["x-frame-options"]).toBe("DENY");
      }
      expect((await get("/api/session")).headers["cache-control"]).toBe("no-store");
    });

    it("GET /api/session names the identity, the limits and the backends", async () => {
      const r = await get("/api/session");
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({
        actor: { username: "olga" },
        tenant: null,
        scopes: ["read", "export", "verify"],
        limits: { pageSize: 500, queryLength: 4096, tails: 16 },
        backends: [{ type: kind === "files" ? "file" : "database", name: expect.any(String), healthy: true }],
      });
    });

    it("GET /api/search finds the matches newest first, pages with the cursor, and records VIEWER_SEARCH", async () => {
      const r = await get("/api/search?q=type:LOGIN&limit=4");
      expect(r.status).toBe(200);
      const page1 = r.json<{ events: AuditEvent[]; cursor?: string }>();
      const logins = seeded.filter((e) => e.action.type === "LOGIN").reverse();
      expect(page1.events.map((e) => e.id)).toEqual(logins.slice(0, 4).map((e) => e.id));
      expect(page1.cursor).toEqual(expect.any(String));
      const page2 = (
        await get(`/api/search?q=type:LOGIN&limit=4&cursor=${encodeURIComponent(page1.cursor!)}`)
      ).json<{ events: AuditEvent[]; cursor?: string }>();
      expect(page2.events.map((e) => e.id)).toEqual(logins.slice(4).map((e) => e.id));
      expect(page2.cursor).toBeUndefined();
      const asc = (await get("/api/search?q=type:LOGIN&order=asc&limit=2")).json<{ events: AuditEvent[] }>();
      expect(asc.events.map((e) => e.id)).toEqual(
        logins
          .slice(-2)
          .reverse()
          .map((e) => e.id),
      );
      const audits = await viewerEvents(store.engine, "VIEWER_SEARCH");
      const mine = audits.find((e) => e.metadata?.query === "type:LOGIN" && e.metadata?.count === 4)!;
      expect(mine.action.category).toBe("AUDIT");
      expect(mine.actor?.username).toBe("olga");
      expect(mine.metadata).toEqual({ query: "type:LOGIN", range: "last_24h", count: 4 });
    });

    it("a malformed query is 400 with its offset, and nothing is searched", async () => {
      const before = (await viewerEvents(store.engine, "VIEWER_SEARCH")).length;
      const r = await get(`/api/search?q=${encodeURIComponent("type:LOGIN AND (user:alice")}`);
      expect(r.status).toBe(400);
      expect(r.json()).toEqual({
        error: {
          code: "VIGIL_ERR_QUERY_SYNTAX",
          message: expect.stringContaining("line 1, column 16"),
          offset: 15,
          line: 1,
          column: 16,
        },
      });
      expect((await viewerEvents(store.engine, "VIEWER_SEARCH")).length).toBe(before);
      const parsed = await get(`/api/parse?q=${encodeURIComponent("a:")}`);
      expect(parsed.status).toBe(400);
      expect(parsed.json<{ error: { offset: number } }>().error.offset).toBe(2);
    });

    it("GET /api/parse accepts a good query and warns of an unknown field with a suggestion", async () => {
      expect(
        (await get(`/api/parse?q=${encodeURIComponent("user:alice AND metadata.order_id:3")}`)).json(),
      ).toEqual({
        ok: true,
      });
      const r = await get(`/api/parse?q=${encodeURIComponent("status:SUCCESS AND actr.username:alice")}`);
      expect(r.json()).toEqual({
        ok: true,
        warnings: [{ field: "actr.username", offset: 19, suggestion: "actor.username" }],
      });
    });

    it("GET /api/fields lists the schema's fields and those seen in events", async () => {
      const { fields } = (await get("/api/fields")).json<{ fields: string[] }>();
      expect(fields).toContain("action.category");
      expect(fields).toContain("tenant");
      expect(fields).toContain("metadata.order_id");
      expect([...fields].sort()).toEqual(fields);
    });

    it("bad parameters are 400 naming the parameter; an oversized query is 413", async () => {
      const cases: [string, number, string][] = [
        [
          "/api/search?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
          400,
          "'from' 2026-02-01T00:00:00.000Z is after 'to'",
        ],
        ["/api/search?range=last_fortnight", 400, "unknown time range 'last_fortnight'"],
        ["/api/search?range=last_1h&from=2026-01-01", 400, "give either range or from/to"],
        ["/api/search?from=yesterday-ish", 400, "from"],
        ["/api/search?limit=501", 400, "limit: at most 500"],
        ["/api/search?limit=0", 400, "limit: expected a positive integer"],
        ["/api/search?order=sideways", 400, "order: expected asc or desc"],
        ["/api/search?cursor=garbage", 400, "cursor"],
        ["/api/search?from=2020-01-01T00:00:00Z", 400, "time range too long"],
        ["/api/search?q=a&q=b", 400, "q: given 2 times"],
        ["/api/histogram?buckets=100000", 400, "buckets: at most 1000"],
        ["/api/facets?fields=a..b", 400, 'facets: invalid field name "a..b"'],
        ["/api/export?format=pdf", 400, "format: expected csv, xlsx, json or ndjson"],
        ["/api/export?tz=Mars/Olympus", 400, "tz: expected UTC or an IANA time zone"],
        [`/api/search?q=${"x".repeat(4097)}`, 413, "query too long: 4097 characters, at most 4096"],
      ];
      for (const [path, status, message] of cases) {
        const r = await get(path);
        expect(r.status, path).toBe(status);
        expect(r.json<{ error: { message: string } }>().error.message, path).toContain(message);
      }
    });

    it("GET /api/count, /api/facets and /api/histogram agree with the search", async () => {
      expect((await get("/api/count?q=category:AUTHENTICATION")).json()).toEqual({ count: 6 });
      const facets = (
        await get(`/api/facets?q=${encodeURIComponent("category:AUTHENTICATION OR category:DATABASE")}`)
      ).json<{
        facets: Record<string, { value: string; count: number }[]>;
      }>().facets;
      expect(facets["action.category"]).toEqual([
        { value: "AUTHENTICATION", count: 6 },
        { value: "DATABASE", count: 4 },
      ]);
      expect(facets["result.status"]).toEqual([
        { value: "SUCCESS", count: 9 },
        { value: "FAILURE", count: 1 },
      ]);
      expect(facets["actor.username"]).toEqual([
        { value: "carol", count: 4 },
        { value: "alice", count: 3 },
        { value: "bob", count: 3 },
      ]);
      const h = (await get("/api/histogram?q=category:AUTHENTICATION&range=last_1h&buckets=13")).json<{
        interval: string;
        buckets: { start: string; count: number }[];
      }>();
      expect(h.interval).toBe("5m");
      expect(h.buckets.length).toBeLessThanOrEqual(13);
      expect(h.buckets.reduce((n, b) => n + b.count, 0)).toBe(6);
      for (let i = 1; i < h.buckets.length; i++)
        expect(Date.parse(h.buckets[i]!.start) - Date.parse(h.buckets[i - 1]!.start)).toBe(300_000);
    });

    it("GET /api/events/:id gives the event, its raw line and integrity; 404 otherwise", async () => {
      const e = seeded[2]!;
      const r = await get(`/api/events/${e.id}`);
      expect(r.status).toBe(200);
      const body = r.json<{ event: AuditEvent; raw: string; integrity: unknown }>();
      expect(body.event.id).toBe(e.id);
      expect(JSON.parse(body.raw)).toEqual(body.event);
      expect(body.integrity).toEqual({
        chain: e.integrity!.chain,
        seq: e.integrity!.seq,
        status: "unverified",
      });
      const verified = (await get(`/api/events/${e.id}?verify=1`)).json<{ integrity: unknown }>();
      expect(verified.integrity).toEqual({
        chain: e.integrity!.chain,
        seq: e.integrity!.seq,
        status: "verified",
      });
      expect((await viewerEvents(store.engine, "VIEWER_EVENT")).some((a) => a.metadata?.id === e.id)).toBe(
        true,
      );
      const missing = await get("/api/events/0192f0c4-0000-7000-8000-000000000000");
      expect(missing.status).toBe(404);
      expect(missing.json<{ error: { code: string } }>().error.code).toBe("VIGIL_ERR_VIEWER_NOT_FOUND");
      expect((await get("/api/events/not-an-id")).status).toBe(404);
    });

    it("GET /api/export streams CSV in the asked zone and columns, names the file, and records VIEWER_EXPORT", async () => {
      const r = await get(
        `/api/export?format=csv&q=category:AUTHENTICATION&tz=Asia/Kolkata&columns=timestamp,actor.username,tenant&order=asc`,
      );
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toBe("text/csv; charset=utf-8");
      expect(r.headers["content-disposition"]).toMatch(
        /^attachment; filename="vigil-export-\d{8}T\d{6}Z\.csv"$/,
      );
      const lines = r.text.trimEnd().split("\r\n");
      expect(lines[0]).toBe("timestamp (Asia/Kolkata),actor.username,tenant");
      expect(lines).toHaveLength(7);
      const logins = seeded.filter((e) => e.action.type === "LOGIN");
      const [ts, user, tenant] = lines[1]!.split(",");
      expect(ts).toMatch(/\+05:30$/);
      expect(Date.parse(ts!)).toBe(Date.parse(logins[0]!.timestamp));
      expect([user, tenant]).toEqual(["bob", "acme"]);
      const ndjson = await get("/api/export?format=ndjson&q=category:SYSTEM");
      expect(ndjson.headers["content-type"]).toBe("application/x-ndjson; charset=utf-8");
      expect(
        ndjson.text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).action.type),
      ).toEqual(["STARTUP", "STARTUP", "STARTUP"]);
      const xlsx = await get("/api/export?format=xlsx&q=category:SYSTEM");
      expect(xlsx.headers["content-type"]).toBe(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      );
      expect(xlsx.body.subarray(0, 2).toString()).toBe("PK");
      const recorded = await viewerEvents(store.engine, "VIEWER_EXPORT");
      expect(recorded.find((e) => e.metadata?.format === "csv")?.metadata).toEqual({
        query: "category:AUTHENTICATION",
        range: "last_24h",
        format: "csv",
        tz: "Asia/Kolkata",
        count: 6,
      });
    });

    it("POST /api/export-ticket gives a single-use download link for bearer clients", async () => {
      const token = createViewerToken({
        tenant: "globex",
        actor: { id: "7" },
        expiresIn: "5m",
        secret: SECRET,
      });
      const r = await call(viewer.url, "/api/export-ticket", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ format: "csv", q: "*", columns: ["actor.username", "tenant"] }),
      });
      expect(r.status).toBe(200);
      const { url } = r.json<{ url: string }>();
      expect(url).toMatch(/^\/api\/export\?ticket=[A-Za-z0-9_-]{32}$/);
      const download = await call(viewer.url, url);
      expect(download.status).toBe(200);
      // the ticket carries the token's tenant: only globex's rows (and its own audit events)
      const rows = download.text.trimEnd().split("\r\n").slice(1);
      expect(rows.length).toBeGreaterThanOrEqual(4);
      for (const row of rows) expect(row.endsWith(",globex")).toBe(true);
      const again = await call(viewer.url, url);
      expect(again.status).toBe(401);
      const bad = await call(viewer.url, "/api/export-ticket", {
        method: "POST",
        headers: { ...OPERATOR, "content-type": "application/json" },
        body: JSON.stringify({ format: "csv", evil: "1" }),
      });
      expect(bad.status).toBe(400);
      expect(bad.json<{ error: { message: string } }>().error.message).toContain(
        "body.evil: unknown export parameter",
      );
      // what a form on another site could send
      const form = await call(viewer.url, "/api/export-ticket", {
        method: "POST",
        headers: { ...OPERATOR, "content-type": "text/plain" },
        body: '{"format":"csv","x":"=1"}',
      });
      expect(form.status).toBe(400);
      expect(form.json<{ error: { message: string } }>().error.message).toBe(
        "body: send the export parameters as Content-Type: application/json",
      );
    });

    it("refuses without credentials and with an expired or tampered token: 401, one line, audited", async () => {
      const none = await get("/api/search", {});
      expect(none.status).toBe(401);
      expect(none.json()).toEqual({ error: { code: "VIGIL_ERR_VIEWER_AUTH", message: "not authorized" } });
      const expired = createViewerToken({
        actor: { id: "1" },
        expiresIn: 60,
        secret: SECRET,
        now: Date.now() - 3_600_000,
      });
      const r1 = await get("/api/search", { authorization: `Bearer ${expired}` });
      expect(r1.status).toBe(401);
      expect(r1.json()).toEqual({
        error: { code: "VIGIL_ERR_VIEWER_AUTH", message: "viewer token expired" },
      });
      const good = createViewerToken({ tenant: "acme", actor: { id: "1" }, expiresIn: 60, secret: SECRET });
      const [h, p, s] = good.split(".") as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, "base64url").toString());
      const widened = Buffer.from(JSON.stringify({ ...claims, tenant: "globex" })).toString("base64url");
      const r2 = await get("/api/search", { authorization: `Bearer ${h}.${widened}.${s}` });
      expect(r2.status).toBe(401);
      expect(r2.json()).toEqual({
        error: { code: "VIGIL_ERR_VIEWER_AUTH", message: "viewer token has a bad signature" },
      });
      const failures = await viewerEvents(store.engine, "VIEWER_AUTH_FAILED");
      const reasons = failures.map((e) => e.metadata?.reason);
      expect(reasons).toEqual(
        expect.arrayContaining([
          "not authorized",
          "viewer token expired",
          "viewer token has a bad signature",
        ]),
      );
      for (const f of failures) {
        expect(f.security_event).toBe(true);
        expect(f.result.status).toBe("FAILURE");
      }
    });

    it("a missing scope is 403; a wrong method 405; an unknown route 404", async () => {
      const r = await get("/api/export?format=csv", { ...OPERATOR, "x-scopes": "read" });
      expect(r.status).toBe(403);
      expect(r.json<{ error: { code: string; message: string } }>().error).toEqual({
        code: "VIGIL_ERR_VIEWER_FORBIDDEN",
        message: 'this identity lacks the "export" scope needed for /api/export',
      });
      expect((await get("/api/search", { ...OPERATOR, "x-scopes": "export" })).status).toBe(403);
      const post = await call(viewer.url, "/api/search", { method: "POST", headers: OPERATOR });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe("GET");
      expect((await get("/api/searches")).status).toBe(404);
    });

    it("returns hostile values as JSON text, byte for byte, never as markup", async () => {
      const hostile = {
        script: "</script><script>alert(1)</script>",
        img: '"><img src=x onerror=alert(1)>',
        link: "javascript:alert(document.cookie)",
        bidi: "\u202eevil\u202c \u2066x\u2069",
        zero: "a\u200bb\ufeffc",
        control: "bell\u0007esc\u001b[31m",
        big: "x".repeat(1024 * 1024),
      };
      const e = store.engine.log({ action: "HOSTILE", category: "TEST", metadata: hostile })!;
      const r = await get(`/api/events/${e.id}`);
      expect(r.status).toBe(200);
      expect(r.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(r.headers["x-content-type-options"]).toBe("nosniff");
      expect(r.text).not.toContain("<script>");
      expect(r.text).toContain("\\u003c/script\\u003e\\u003cscript\\u003e");
      const body = r.json<{ event: AuditEvent; raw: string }>();
      // exactly what the store holds (the pipeline's own limits apply to the 1 MB value)
      expect(body.event).toEqual(await store.engine.getEvent(e.id));
      const metadata = body.event.metadata as Record<string, string>;
      for (const key of ["script", "img", "link", "bidi", "zero"] as const)
        expect(metadata[key]).toBe(hostile[key]);
      const search = await get("/api/search?q=type:HOSTILE");
      expect(search.json<{ events: AuditEvent[] }>().events[0]).toEqual(body.event);
    });

    it("GET /api/verify streams progress and the result; refused to a tenant-bound identity", async () => {
      const messages = await readEvents(
        `${viewer.url}/api/verify`,
        OPERATOR,
        (m) => m.some((x) => x.event === "done"),
        AbortSignal.timeout(20_000),
      );
      const done = messages.find((m) => m.event === "done")?.data as Record<string, unknown>;
      expect(done, JSON.stringify(messages)).toBeDefined();
      expect(done).toMatchObject({ ok: true, status: "intact", problems: 0 });
      expect(done.checked).toBeGreaterThanOrEqual(13);
      expect((await viewerEvents(store.engine, "VIEWER_VERIFY")).at(-1)?.metadata).toMatchObject({
        ok: true,
      });
      expect(messages.some((m) => m.event === "progress")).toBe(true);
      expect((await get("/api/verify", { ...OPERATOR, "x-tenant": "acme" })).status).toBe(403);
    });
  });
}
