/**
 * Token mode in a real Chromium: the handler admits only viewer tokens, so the page is
 * refused its session, asks for a token, keeps it for the tab and sends it as a bearer
 * header; its downloads go through single-use export tickets (a link cannot carry the
 * header).
 */
import { readFileSync } from "node:fs";
import { parse as parseCsv } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createViewerToken } from "../../src/viewer/token.js";
import { startViewer } from "../viewer/harness.js";
import { cspViolations, launch, openPage, type Stack, shot, startStack } from "./harness.js";

const SECRET = "viewer-ui-token-secret-0123456789abcdef";
let stack: Stack;
let viewer: { url: string; close(): Promise<void> };
let browser: Awaited<ReturnType<typeof launch>>;

beforeAll(async () => {
  stack = await startStack();
  viewer = await startViewer({ engine: stack.engine, tokenSecret: SECRET });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await stack?.close();
});

describe("viewer page in token mode", () => {
  it("asks for a token, sends it as Authorization: Bearer, and exports through a ticket", async () => {
    const origin = new URL(viewer.url).origin;
    const { page: p, guards } = await openPage(browser.context, origin);
    const authHeaders: (string | undefined)[] = [];
    p.on("request", (req) => {
      if (new URL(req.url()).pathname.startsWith("/api/")) authHeaders.push(req.headers().authorization);
    });
    await p.goto(`${origin}/`);
    const prompt = p.getByRole("form", { name: "Access token" });
    await prompt.waitFor();
    // The refused session is the only 401, and the only error Chromium logs for it.
    guards.consoleErrors.splice(
      0,
      guards.consoleErrors.length,
      ...guards.consoleErrors.filter((e) => !/401/.test(e)),
    );
    await shot(p, "16-token-prompt");

    await p.getByLabel("Token", { exact: true }).fill("not-a-token");
    await p.getByRole("button", { name: "Open the audit log" }).click();
    await p.getByText(/^Token refused:/).waitFor();
    guards.consoleErrors.splice(
      0,
      guards.consoleErrors.length,
      ...guards.consoleErrors.filter((e) => !/401/.test(e)),
    );

    const token = createViewerToken({
      secret: SECRET,
      actor: { id: "9", username: "reviewer" },
      scopes: ["read", "export"],
      expiresIn: "10m",
    });
    await p.getByLabel("Token", { exact: true }).fill(token);
    await p.getByRole("button", { name: "Open the audit log" }).click();
    await p.locator("tr[data-id]").first().waitFor();
    expect(await p.locator(".who .actor").textContent()).toBe("reviewer");
    expect(await p.evaluate(() => sessionStorage.getItem("vigil-viewer-token"))).toBe(token);
    // Every API request after the prompt carried the token; never in a URL.
    const after = authHeaders.slice(authHeaders.indexOf(`Bearer ${token}`));
    expect(after.length).toBeGreaterThan(3);
    expect(after.every((h) => h === `Bearer ${token}`)).toBe(true);
    expect(guards.requests.some((u) => u.includes(token))).toBe(false);
    // No Integrity tab without the verify scope.
    expect(await p.getByRole("button", { name: "Integrity" }).count()).toBe(0);

    await p.locator("#query").fill("action.type:LOGIN");
    await p.locator("#query").press("Enter");
    await expect.poll(() => p.locator(".summary .count").textContent()).toBe("50 matches");
    await p.locator(".export-menu summary").click();
    const download = p.waitForEvent("download");
    await p.getByRole("menuitem", { name: "CSV" }).click();
    const file = await download;
    // The ticket flow: a POST for the ticket, then the download of the URL it gave.
    expect(guards.requests.some((u) => u.endsWith("/api/export-ticket"))).toBe(true);
    expect(new URL(file.url()).searchParams.get("ticket")).toBeTruthy();
    const text = readFileSync((await file.path())!, "utf8");
    const rows = parseCsv(text, { relax_column_count: true }) as string[][];
    expect(rows[0]![0]).toBe("timestamp (UTC)");
    expect(rows.length - 1).toBe(50);

    expect(await cspViolations(p)).toEqual([]);
    expect(guards.consoleErrors).toEqual([]);
    expect(guards.pageErrors).toEqual([]);
    expect(guards.dialogs).toEqual([]);
    expect(guards.foreignRequests).toEqual([]);
  });
});
