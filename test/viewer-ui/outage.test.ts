/**
 * The store goes away under the page: PostgreSQL behind a loopback TCP relay that the test
 * cuts. The next search answers 503; the page shows a banner naming the problem and keeps
 * the rows it showed. When the store is back, Retry searches again and the banner goes.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { dropTable, POSTGRES, uniqueTable } from "../conformance/sql-servers.js";
import { startViewer } from "../viewer/harness.js";
import { cspViolations, launch, openPage, shot } from "./harness.js";

/** A relay 127.0.0.1:port → PostgreSQL that can be cut (connections dropped, port closed) and restored. */
async function relay(): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const open = async () => {
    server = createServer((client) => {
      const upstream = connect(POSTGRES.port ?? 5432, POSTGRES.host ?? "127.0.0.1");
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  };
  await open();
  return {
    port,
    cut: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    restore: open,
  };
}

const table = uniqueTable("viewer_ui_outage");
let link: Awaited<ReturnType<typeof relay>>;
let engine: AuditEngine;
let viewer: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launch>>;

beforeAll(async () => {
  link = await relay();
  engine = new AuditEngine({
    config: {
      core: { application_name: "viewer-ui-outage" },
      storage: {
        backends: [
          {
            type: "database",
            name: "audit-pg",
            connection: { ...POSTGRES, port: link.port },
            table_name: table,
          },
        ],
      },
      performance: { async: { enabled: false } },
    },
    env: {},
  });
  // The viewer's own audit events fail while the store is cut: reported, not thrown.
  engine.on("error", () => undefined);
  const now = Date.now();
  for (let i = 0; i < 30; i++) {
    await engine.log({
      action: i % 3 === 0 ? "LOGIN" : "READ",
      category: "AUTH",
      actor: { username: `user${i % 4}` },
      timestamp: new Date(now - 60_000 - i * 60_000),
    });
  }
  viewer = await startViewer({ engine, authorize: () => ({ actor: { username: "auditor" } }) });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await engine?.close();
  await dropTable("postgresql", table);
});

describe("viewer page when the store is unreachable", () => {
  it("shows a banner, keeps the rows it showed, and recovers on Retry", async () => {
    const origin = new URL(viewer.url).origin;
    const { page: p, guards } = await openPage(browser.context, origin);
    await p.goto(`${origin}/`);
    await p.locator("tr[data-id]").first().waitFor();
    const shown = await p
      .locator("tr[data-id]")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
    expect(shown.length).toBe(30);
    // 30, or 31 once the page's own VIEWER_SEARCH record is committed before the count runs
    const count = p.locator(".summary .count");
    await expect.poll(() => count.textContent()).toMatch(/^3[01] matches$/);
    const countShown = await count.textContent();

    await link.cut();
    await p.locator("#query").fill("action.type:LOGIN");
    await p.locator("#query").press("Enter");
    const banner = p.locator(".banner");
    await banner.waitFor();
    expect(await banner.textContent()).toMatch(/^Store unreachable: store unavailable: audit-pg/);
    // What was on screen stays (the banner takes some height, so the windowed table may
    // render a few rows fewer: the same rows, in the same order, from the top).
    const after = await p
      .locator("tr[data-id]")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-id")));
    expect(after.length).toBeGreaterThan(15);
    expect(after).toEqual(shown.slice(0, after.length));
    expect(await count.textContent()).toBe(countShown);
    await shot(p, "17-store-unreachable");

    await link.restore();
    await banner.getByRole("button", { name: "Retry" }).click();
    await banner.waitFor({ state: "detached" });
    await expect.poll(() => count.textContent()).toBe("10 matches");
    expect(new Set(await p.locator('tr[data-id] td[data-column="action.type"]').allTextContents())).toEqual(
      new Set(["LOGIN"]),
    );

    expect(await cspViolations(p)).toEqual([]);
    // Chromium logs each failed answer (503; count and histogram answer 500 on a refused
    // connection today); nothing else may be logged.
    expect(guards.consoleErrors.filter((e) => !/status of 50[03]/.test(e))).toEqual([]);
    expect(guards.consoleErrors.length).toBeGreaterThan(0);
    expect(guards.pageErrors).toEqual([]);
    expect(guards.foreignRequests).toEqual([]);
  });
});
