/**
 * Browser-test harness for the viewer page: a seeded store, the viewer server over it, and
 * Debian's Chromium driven by playwright-core (never a downloaded browser), with guards
 * that collect what must not happen: console errors, page errors, CSP violations, dialogs
 * and requests to any host but the server.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import { startViewer } from "../viewer/harness.js";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts/viewer-ui");

/** The hostile corpus: each value must show as inert text. */
export const HOSTILE: readonly { name: string; value: string }[] = [
  { name: "script", value: "<script>alert(1)</script>" },
  { name: "img", value: '"><img src=x onerror=alert(1)>' },
  { name: "javascript", value: "javascript:alert(1)" },
  { name: "bidi", value: "invoice\u202Egpj.exe" },
  { name: "zero-width", value: "ad\u200Bmin\u200D\uFEFF" },
  { name: "control", value: "bell\u0007nul\u0000esc\u001b[31mred" },
  { name: "huge", value: `${"0123456789abcdef".repeat(65_536)}` }, // 1 MiB
];

export function storeConfig(dir: string): VigilConfig {
  return {
    core: { application_name: "viewer-ui" },
    storage: { backends: [{ type: "file", directory: dir }] },
    performance: { async: { enabled: false } },
    processing: { limits: { max_string_length: 2_000_000 } },
    security: {
      signing: {
        enabled: true,
        algorithm: "hmac-sha256",
        secret_key: "viewer-ui-test-secret-0123456789",
        checkpoint_every: 1,
      },
    },
  } as VigilConfig;
}

export const USERS = ["alice", "bob", "carol", "dave", "erin"];
export const TYPES = ["LOGIN", "LOGOUT", "READ", "UPDATE", "DELETE", "EXPORT"];
export const CATEGORIES = ["AUTH", "DATA", "ADMIN"];

/** 300 ordinary events over the last 20 hours, then the hostile corpus in the last minutes. */
export async function seed(engine: AuditEngine, now = Date.now()): Promise<void> {
  for (let i = 0; i < 300; i++) {
    await engine.log({
      action: TYPES[i % TYPES.length]!,
      category: CATEGORIES[i % CATEGORIES.length],
      actor: { username: USERS[i % USERS.length]!, ip: `10.0.0.${i % 7}` },
      resource: `/api/items/${i}`,
      status: i % 4 === 0 ? "FAILURE" : "SUCCESS",
      severity: i % 10 === 0 ? "WARNING" : "INFO",
      timestamp: new Date(now - 5 * 60_000 - i * 4 * 60_000),
      metadata: { note: `event ${i}`, n: i },
    });
  }
  for (const [i, { name, value }] of HOSTILE.entries()) {
    await engine.log({
      action: "HOSTILE",
      category: "TEST",
      actor: { username: value.slice(0, 200) },
      resource: { type: name, path: value.slice(0, 300) },
      metadata: { kind: name, value, link: value },
      timestamp: new Date(now - 60_000 - i * 1000),
    });
  }
  await engine.flush();
}

export interface Stack {
  readonly origin: string;
  readonly engine: AuditEngine;
  readonly dir: string;
  close(): Promise<void>;
}

/** A seeded store and the viewer server over it, on a free loopback port. */
export async function startStack(): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-viewer-ui-"));
  const engine = new AuditEngine({ config: storeConfig(dir), env: {} });
  engine.on("error", () => undefined);
  await seed(engine);
  const server = await startServer(engine);
  return {
    origin: server.origin,
    engine,
    dir,
    async close() {
      await server.close();
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The real viewer handler (`auditViewer`) over the seeded engine on a loopback port, with
 * a host `authorize` that admits an auditor with every scope. Events the test logs through
 * the same engine reach the page's live tail.
 */
async function startServer(engine: AuditEngine): Promise<{ origin: string; close(): Promise<void> }> {
  const viewer = await startViewer({
    engine,
    authorize: () => ({ actor: { id: "7", username: "auditor" } }),
  });
  return { origin: new URL(viewer.url).origin, close: () => viewer.close() };
}

export interface Guards {
  readonly consoleErrors: string[];
  readonly pageErrors: string[];
  readonly dialogs: string[];
  readonly foreignRequests: string[];
  readonly requests: string[];
}

/** Chromium as the brief and CI have it: Debian's binary, headless, no network chatter. */
export async function launch(
  timezoneId = "UTC",
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
  mkdirSync(ARTIFACTS, { recursive: true });
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1400, height: 860 },
    timezoneId,
    locale: "en-GB",
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new page with the guards attached. A `securitypolicyviolation` listener is installed
 * before any page script runs; its findings are read by `cspViolations`.
 */
export async function openPage(
  context: BrowserContext,
  origin: string,
): Promise<{ page: Page; guards: Guards }> {
  const page = await context.newPage();
  const guards: Guards = {
    consoleErrors: [],
    pageErrors: [],
    dialogs: [],
    foreignRequests: [],
    requests: [],
  };
  await page.addInitScript(() => {
    const found: string[] = [];
    (window as unknown as { __csp: string[] }).__csp = found;
    document.addEventListener("securitypolicyviolation", (e) => {
      found.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    // A query that does not parse is answered 400 by /api/parse (the contract); Chromium
    // logs every 4xx fetch as "Failed to load resource". Only that one is expected.
    const at = msg.location().url;
    if (/Failed to load resource: .* 400/.test(msg.text()) && at.startsWith(`${origin}/api/parse?`)) return;
    guards.consoleErrors.push(`${msg.text()} @ ${at}`);
  });
  page.on("pageerror", (err) => guards.pageErrors.push(err.message));
  page.on("dialog", (dialog) => {
    guards.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on("request", (req) => {
    const url = req.url();
    guards.requests.push(url);
    if (!url.startsWith(`${origin}/`) && !url.startsWith("data:") && !url.startsWith("blob:")) {
      guards.foreignRequests.push(url);
    }
  });
  return { page, guards };
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}
