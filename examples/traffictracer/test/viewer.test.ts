/**
 * The seed's viewer panel ("Option 3"): the audit log viewer mounted in TrafficTracer at
 * /admin/audit/, behind TrafficTracer's own login — a session of a user with the auditor
 * role, by cookie or bearer token — over real HTTP on 127.0.0.1.
 */
import { join } from "node:path";
import type { AuditEvent } from "vigil-audit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shutdownAudit } from "../src/audit_init.js";
import { createLogin, SessionStore, UserDirectory } from "../src/authentication.js";
import { ConnectionManager } from "../src/connection_manager.js";
import { createApp, type RunningServer, startServer } from "../src/server.js";
import { initializeForTest, tempDir } from "./helpers.js";

let tmp: ReturnType<typeof tempDir>;
let running: RunningServer;
const connections = new ConnectionManager();

beforeAll(async () => {
  tmp = tempDir();
  initializeForTest(join(tmp.dir, "audit"));
  const users = new UserDirectory();
  await users.addUser("auditor.anna", "Audit0r-Pass!", { roles: ["auditor"] });
  await users.addUser("driver.dirk", "Dr1ver-Pass!", { roles: ["viewer"] });
  const sessions = new SessionStore();
  const connector = connections.createConnection({ database: "traffictracer" });
  running = await startServer(createApp({ connector, login: createLogin(users, sessions), sessions }));
});

afterAll(async () => {
  await running.close();
  connections.closeAll();
  await shutdownAudit();
  tmp.cleanup();
});

async function login(username: string, password: string): Promise<{ cookie: string; token: string }> {
  const res = await fetch(`${running.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  expect(res.status).toBe(200);
  const cookie = res.headers.get("set-cookie")!;
  expect(cookie).toMatch(/^tt_session=[A-Za-z0-9_-]+; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/);
  return { cookie: cookie.split(";")[0]!, token: ((await res.json()) as { token: string }).token };
}

describe("the audit viewer inside TrafficTracer", () => {
  it("shows the audit log to a signed-in auditor, by session cookie or bearer token", async () => {
    const { cookie, token } = await login("auditor.anna", "Audit0r-Pass!");
    const ways: Record<string, string>[] = [{ cookie }, { authorization: `Bearer ${token}` }];
    for (const headers of ways) {
      const res = await fetch(`${running.url}/admin/audit/api/search?q=type:LOGIN`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      const { events } = (await res.json()) as { events: AuditEvent[] };
      expect(events.some((e) => e.actor?.username === "auditor.anna" && e.result.status === "SUCCESS")).toBe(
        true,
      );
    }
    const session = await (
      await fetch(`${running.url}/admin/audit/api/session`, { headers: { cookie } })
    ).json();
    expect(session).toMatchObject({ actor: { username: "auditor.anna" }, tenant: null });
    // the viewer's own reads are in the same audit log
    const res = await fetch(`${running.url}/admin/audit/api/search?q=type:VIEWER_SEARCH`, {
      headers: { cookie },
    });
    const { events } = (await res.json()) as { events: AuditEvent[] };
    expect(events[0]?.actor?.username).toBe("auditor.anna");
  });

  it("refuses anyone else: no session, a user without the auditor role, a made-up token", async () => {
    const { cookie } = await login("driver.dirk", "Dr1ver-Pass!");
    const refused: Record<string, string>[] = [
      {},
      { cookie },
      { authorization: "Bearer made-up" },
      { cookie: "tt_session=made-up" },
    ];
    for (const headers of refused) {
      const res = await fetch(`${running.url}/admin/audit/api/search`, { headers });
      expect(res.status).toBe(401);
    }
  });

  it("redirects /admin/audit to the page's folder and leaves the API's own routes alone", async () => {
    const res = await fetch(`${running.url}/admin/audit`, { redirect: "manual" });
    expect(res.status).toBe(308);
    expect(res.headers.get("location")).toBe("/admin/audit/");
    expect((await fetch(`${running.url}/api/v1/health`)).status).toBe(200);
  });

  it("gives an auditor a single-use export link, through the app's JSON body parser", async () => {
    const { cookie } = await login("auditor.anna", "Audit0r-Pass!");
    const res = await fetch(`${running.url}/admin/audit/api/export-ticket`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json" },
      body: JSON.stringify({ format: "csv", q: "category:AUTHENTICATION", tz: "Europe/Brussels" }),
    });
    expect(res.status).toBe(200);
    const { url } = (await res.json()) as { url: string };
    const csv = await (await fetch(`${running.url}${url}`)).text();
    expect(csv.split("\r\n")[0]).toMatch(/^timestamp \(Europe\/Brussels\),id,/);
    expect(csv).toContain("auditor.anna");
  });
});
