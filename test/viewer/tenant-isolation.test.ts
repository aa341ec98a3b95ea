/**
 * Tenant isolation (SPEC §9): an identity bound to tenant A never sees an event of tenant
 * B through any endpoint — search, count, facets, histogram, fields, event detail, tail,
 * export — whatever the request asks, on files, SQLite and PostgreSQL; with `authorize`
 * and with a viewer token.
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent } from "../../src/event/types.js";
import { createViewerToken } from "../../src/viewer/token.js";
import {
  call,
  type RunningViewer,
  readEvents,
  type StoreKind,
  startViewer,
  type TestStore,
  testStore,
} from "./harness.js";

const SECRET = "tenant-isolation-secret-0123456789abcdef";
const A = "acme";
const B = "Acme"; // differs only in case: the binding is exact

function authorize(req: IncomingMessage) {
  const tenant = req.headers["x-tenant"];
  return typeof tenant === "string" ? { actor: { username: `user-of-${tenant}` }, tenant } : undefined;
}

for (const kind of ["files", "sqlite", "postgresql"] as StoreKind[]) {
  describe(`tenant isolation on ${kind}`, () => {
    let store: TestStore;
    let viewer: RunningViewer;
    const aIds = new Set<string>();
    const bEvents: AuditEvent[] = [];
    const asA = { "x-tenant": A };
    const asB = { "x-tenant": B };
    const tokenA = () =>
      createViewerToken({ tenant: A, actor: { id: "a1" }, expiresIn: "10m", secret: SECRET });

    beforeAll(async () => {
      store = testStore(kind);
      for (let i = 0; i < 5; i++) {
        aIds.add(
          store.engine.log({ action: "LOGIN", category: "AUTH", tenant: A, actor: { username: "alice" } })!
            .id,
        );
        bEvents.push(
          store.engine.log({
            action: "LOGIN",
            category: "AUTH",
            tenant: B,
            actor: { username: "bob-of-b" },
            metadata: { b_only_field: "secret" },
          })!,
        );
      }
      store.engine.log({ action: "UNTENANTED", category: "SYSTEM" });
      viewer = await startViewer({ engine: store.engine, authorize, tokenSecret: SECRET });
    }, 30_000);
    afterAll(async () => {
      await viewer?.close();
      await store?.cleanup();
    }, 30_000);

    const get = (path: string, headers: Record<string, string> = asA) => call(viewer.url, path, { headers });
    const q = (query: string) => encodeURIComponent(query);

    /** Every event of a search answer belongs to A. */
    function onlyA(events: AuditEvent[]): void {
      for (const e of events) expect(e.tenant).toBe(A);
    }

    it("search never returns B's events, whatever the query says", async () => {
      for (const query of [
        "",
        `tenant:${B}`,
        `tenant:"${B}"`,
        `* OR tenant:${B}`,
        `NOT tenant:${A}`,
        "user:bob-of-b",
        "secret",
        "_exists_:metadata.b_only_field",
        `(tenant:${A} OR tenant:${B}) AND type:LOGIN`,
      ]) {
        const r = await get(`/api/search?q=${q(query)}&limit=500`);
        expect(r.status, query).toBe(200);
        const { events } = r.json<{ events: AuditEvent[] }>();
        onlyA(events);
        for (const e of events) expect(bEvents.some((b) => b.id === e.id)).toBe(false);
      }
      const all = (await get("/api/search?limit=500&q=type:LOGIN")).json<{ events: AuditEvent[] }>().events;
      expect(new Set(all.map((e) => e.id))).toEqual(aIds);
      // parameters that are not in the contract do not widen anything either
      const extra = (await get(`/api/search?tenant=${B}&filters=tenant:${B}&q=type:LOGIN`)).json<{
        events: AuditEvent[];
      }>();
      expect(new Set(extra.events.map((e) => e.id))).toEqual(aIds);
    });

    it("counts, facets, histogram and fields see only A", async () => {
      expect((await get(`/api/count?q=${q(`* OR tenant:${B}`)}`)).json()).toEqual({
        count: expect.any(Number),
      });
      expect((await get(`/api/count?q=${q("type:LOGIN")}`)).json()).toEqual({ count: 5 });
      expect((await get(`/api/count?q=${q(`NOT tenant:${A}`)}`)).json()).toEqual({ count: 0 });
      expect((await get(`/api/count?q=${q("user:bob-of-b")}`)).json()).toEqual({ count: 0 });
      const facets = (await get("/api/facets?fields=tenant,actor.username")).json<{
        facets: Record<string, { value: string; count: number }[]>;
      }>().facets;
      expect(facets.tenant!.map((f) => f.value)).toEqual([A]);
      expect(facets["actor.username"]!.some((f) => f.value === "bob-of-b")).toBe(false);
      const h = (await get(`/api/histogram?q=${q("type:LOGIN")}&range=last_1h`)).json<{
        buckets: { count: number }[];
      }>();
      expect(h.buckets.reduce((n, b) => n + b.count, 0)).toBe(5);
      const { fields } = (await get("/api/fields")).json<{ fields: string[] }>();
      expect(fields).not.toContain("metadata.b_only_field");
    });

    it("an event of B is 404 by id, exactly like a missing one", async () => {
      const r = await get(`/api/events/${bEvents[0]!.id}`);
      expect(r.status).toBe(404);
      const missing = await get("/api/events/0192f0c4-0000-7000-8000-00000000dead");
      expect(r.json<{ error: { code: string } }>().error.code).toBe(
        missing.json<{ error: { code: string } }>().error.code,
      );
      expect((await get(`/api/events/${bEvents[0]!.id}`, asB)).status).toBe(200);
    });

    it("a cursor made for B, reused by A, pages A's events only", async () => {
      const first = (await get("/api/search?limit=2&q=type:LOGIN", asB)).json<{ cursor: string }>();
      const r = await get(`/api/search?limit=500&q=type:LOGIN&cursor=${encodeURIComponent(first.cursor)}`);
      expect(r.status).toBe(200);
      onlyA(r.json<{ events: AuditEvent[] }>().events);
    });

    it("export writes only A's rows, with authorize and with a token", async () => {
      for (const headers of [asA, { authorization: `Bearer ${tokenA()}` }]) {
        const r = await get(`/api/export?format=ndjson&q=${q(`* OR tenant:${B}`)}`, headers);
        expect(r.status).toBe(200);
        const rows = r.text
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l) as AuditEvent);
        expect(rows.length).toBeGreaterThanOrEqual(5);
        onlyA(rows);
      }
    });

    it("a viewer token bound to A searches A only, whatever the query", async () => {
      const r = await get(`/api/search?limit=500&q=${q(`NOT tenant:${A}`)}`, {
        authorization: `Bearer ${tokenA()}`,
      });
      expect(r.json<{ events: AuditEvent[] }>().events).toEqual([]);
    });

    it("a live tail of A delivers A's new events and never B's", async () => {
      const controller = new AbortController();
      const seen: AuditEvent[] = [];
      let aNew: string | undefined;
      const reading = readEvents(
        `${viewer.url}/api/tail?q=${q(`* OR tenant:${B}`)}`,
        asA,
        (messages) => {
          seen.length = 0;
          for (const m of messages) if (m.event === "events") seen.push(...(m.data as AuditEvent[]));
          return aNew !== undefined && seen.some((e) => e.id === aNew);
        },
        controller.signal,
      );
      // log B first, then A: once A's is delivered, B's (older) had its chance too
      await new Promise((r) => setTimeout(r, 300));
      store.engine.log({ action: "LATE", category: "AUTH", tenant: B });
      aNew = store.engine.log({ action: "LATE", category: "AUTH", tenant: A })!.id;
      const timer = setTimeout(() => controller.abort(), 15_000);
      await reading;
      clearTimeout(timer);
      onlyA(seen);
      expect(seen.some((e) => e.id === aNew)).toBe(true);
    });
  });
}
