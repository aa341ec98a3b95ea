/**
 * The viewer page in a real Chromium against the real viewer server over a seeded store
 * (300 events over 20 hours, signed, plus a hostile corpus). Every test also checks the
 * page's guards: no console error, no page error, no CSP violation, no dialog, and no
 * request to any host but the server. Screenshots of each screen go to test-artifacts/.
 */
import { readFileSync } from "node:fs";
import { parse as parseCsv } from "csv-parse/sync";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  cspViolations,
  type Guards,
  HOSTILE,
  launch,
  openPage,
  type Stack,
  shot,
  startStack,
} from "./harness.js";

let stack: Stack;
let browser: { context: BrowserContext; close(): Promise<void> };
const open: { page: Page; guards: Guards }[] = [];

beforeAll(async () => {
  stack = await startStack();
  browser = await launch("Europe/Berlin");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

/** Every page a test opened must have stayed clean. */
afterEach(async () => {
  for (const { page, guards } of open.splice(0)) {
    const csp = page.isClosed() ? [] : await cspViolations(page);
    expect(csp, "CSP violations").toEqual([]);
    expect(guards.consoleErrors, "console errors").toEqual([]);
    expect(guards.pageErrors, "page errors").toEqual([]);
    expect(guards.dialogs, "dialogs").toEqual([]);
    expect(guards.foreignRequests, "requests to other hosts").toEqual([]);
    if (!page.isClosed()) await page.close();
  }
});

async function page(hash = "", waitForRows = true): Promise<{ page: Page; guards: Guards }> {
  const opened = await openPage(browser.context, stack.origin);
  open.push(opened);
  await opened.page.goto(`${stack.origin}/${hash}`);
  if (waitForRows) await opened.page.locator("tr[data-id]").first().waitFor();
  return opened;
}

async function api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${stack.origin}/api/${path}?${new URLSearchParams(params)}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

async function countOf(q: string, range: Record<string, string> = { range: "last_24h" }): Promise<number> {
  return (await api<{ count: number }>("count", { q, ...range })).count;
}

/** The shown match count ("123 matches") once it equals `n`. */
async function expectCount(p: Page, n: number): Promise<void> {
  await expect
    .poll(async () => (await p.locator(".summary .count").textContent())?.replace(/[^\d]/g, ""), {
      timeout: 10_000,
    })
    .toBe(String(n));
}

async function columnTexts(p: Page, column: string): Promise<string[]> {
  return p.locator(`tr[data-id] td[data-column="${column}"]`).allTextContents();
}

function hashParams(p: Page): URLSearchParams {
  return new URLSearchParams(new URL(p.url()).hash.slice(1));
}

describe("viewer page", () => {
  it("marks a syntax error under the text at the parser's column and searches nothing; the fix searches", async () => {
    const { page: p, guards } = await page();
    const broken = "action.type:LOGIN AND (actor.username: bob";
    const input = p.locator("#query");
    await input.fill(broken);
    const caret = p.locator(".marker-caret");
    await caret.waitFor();
    const answer = await fetch(`${stack.origin}/api/parse?q=${encodeURIComponent(broken)}`);
    expect(answer.status).toBe(400);
    const { error } = (await answer.json()) as { error: { offset: number; column: number; message: string } };
    expect(Number(await caret.getAttribute("data-offset"))).toBe(error.offset);
    await expect.poll(() => p.locator(".query-error").textContent()).toContain(error.message.split("\n")[0]);
    // The caret stands under the character at the offset: its left edge is where the
    // input draws that character (same font, same padding).
    const where = await p.evaluate((offset) => {
      const el = document.querySelector<HTMLInputElement>("#query")!;
      const style = getComputedStyle(el);
      const ctx = document.createElement("canvas").getContext("2d")!;
      ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const expected =
        el.getBoundingClientRect().left +
        Number.parseFloat(style.borderLeftWidth) +
        Number.parseFloat(style.paddingLeft) +
        ctx.measureText(el.value.slice(0, offset)).width -
        el.scrollLeft;
      const got = document.querySelector(".marker-caret")!.getBoundingClientRect().left;
      return { expected, got };
    }, error.offset);
    expect(Math.abs(where.got - where.expected)).toBeLessThan(2);
    await shot(p, "01-query-error");

    const searchesBefore = guards.requests.filter((u) => u.includes("/api/search?")).length;
    await input.press("Enter");
    // Fix it and search: the only search made after the error is the fixed query's.
    const fixed = "action.type:LOGIN AND actor.username:bob";
    await input.fill(fixed);
    await p.locator(".marker-caret").waitFor({ state: "detached" });
    const response = p.waitForResponse((r) => r.url().includes("/api/search?"));
    await input.press("Enter");
    await response;
    const searches = guards.requests.filter((u) => u.includes("/api/search?")).slice(searchesBefore);
    expect(searches.map((u) => new URL(u).searchParams.get("q"))).toEqual([fixed]);
    const n = await countOf(fixed);
    expect(n).toBeGreaterThan(0);
    await expectCount(p, n);
    await expect.poll(async () => new Set(await columnTexts(p, "action.type"))).toEqual(new Set(["LOGIN"]));
    await expect.poll(async () => new Set(await columnTexts(p, "actor.username"))).toEqual(new Set(["bob"]));
    expect(hashParams(p).get("q")).toBe(fixed);
    await shot(p, "02-query-fixed");
  });

  it("facets: a click adds field:value and narrows; ⊖ adds NOT field:value", async () => {
    const { page: p } = await page();
    const login = p.locator('.facet[data-field="action.type"] .facet-value', { hasText: "LOGIN" });
    await login.click();
    await expect.poll(() => p.locator("#query").inputValue()).toBe('action.type:"LOGIN"');
    await expectCount(p, await countOf('action.type:"LOGIN"'));
    await expect.poll(async () => new Set(await columnTexts(p, "action.type"))).toEqual(new Set(["LOGIN"]));

    await p.locator('.facet[data-field="actor.username"] .facet-row', { hasText: "bob" }).hover();
    await p.getByRole("button", { name: "Exclude actor.username:bob" }).click();
    const q = 'action.type:"LOGIN" AND NOT actor.username:"bob"';
    await expect.poll(() => p.locator("#query").inputValue()).toBe(q);
    await expectCount(p, await countOf(q));
    await expect.poll(() => columnTexts(p, "actor.username")).not.toContain("bob");
    // Shift-click excludes too.
    await p
      .locator('.facet[data-field="actor.username"] .facet-value', { hasText: "alice" })
      .click({ modifiers: ["Shift"] });
    await expect.poll(() => p.locator("#query").inputValue()).toBe(`${q} AND NOT actor.username:"alice"`);
    await shot(p, "03-facets");
  });

  it("dragging across the histogram narrows the range to the buckets covered", async () => {
    const { page: p } = await page();
    const svg = p.locator(".histogram svg");
    const box = (await svg.boundingBox())!;
    const total = await countOf("");
    await p.mouse.move(box.x + box.width * 0.55, box.y + 40);
    await p.mouse.down();
    await p.mouse.move(box.x + box.width * 0.7, box.y + 40, { steps: 5 });
    await shot(p, "04-histogram-drag");
    await p.mouse.up();
    await expect.poll(() => hashParams(p).get("from")).not.toBeNull();
    const from = hashParams(p).get("from")!;
    const to = hashParams(p).get("to")!;
    expect(Date.parse(from)).toBeLessThan(Date.parse(to));
    const narrowed = await countOf("", { from, to });
    expect(narrowed).toBeGreaterThan(0);
    expect(narrowed).toBeLessThan(total);
    await expectCount(p, narrowed);
    // Shown in the chosen zone (UTC by default) in the from/to inputs.
    expect(await p.getByLabel("From (UTC)").inputValue()).toBe(from.slice(0, 19).replace("T", " "));
    for (const ts of await columnTexts(p, "timestamp")) {
      const at = Date.parse(`${ts.replace(" ", "T")}Z`);
      expect(at).toBeGreaterThanOrEqual(Date.parse(from));
      expect(at).toBeLessThan(Date.parse(to));
    }
    await shot(p, "05-histogram-narrowed");
  });

  it("columns: any dotted field can be added and a column removed; the URL keeps them", async () => {
    const { page: p } = await page();
    const add = p.getByLabel("Add a column (any dotted field)");
    await add.fill("metadata.note");
    await add.press("Enter");
    await p.locator('th[data-column="metadata.note"]').waitFor();
    const notes = await columnTexts(p, "metadata.note");
    expect(notes.some((t) => /^event \d+$/.test(t))).toBe(true);
    await p.getByRole("button", { name: "Remove column severity" }).click();
    await p.locator('th[data-column="severity"]').waitFor({ state: "detached" });
    expect(hashParams(p).get("cols")?.split(",")).toEqual([
      "timestamp",
      "actor.username",
      "action.category",
      "action.type",
      "action.resource.path",
      "result.status",
      "metadata.note",
    ]);
    await shot(p, "06-columns");
  });

  it("detail: every field, the raw stored JSON and the event's integrity", async () => {
    const { page: p } = await page("#q=action.type%3ALOGIN");
    const row = p.locator("tr[data-id]").first();
    const id = (await row.getAttribute("data-id"))!;
    await row.click();
    const detail = p.locator(".detail");
    await detail.locator(".integrity").waitFor();
    expect(await detail.locator('tr[data-path="id"] .field-value').textContent()).toBe(id);
    expect(await detail.locator('tr[data-path="action.type"] .field-value').textContent()).toBe("LOGIN");
    expect(await detail.locator('tr[data-path="metadata.note"] .field-value').textContent()).toMatch(
      /^event \d+$/,
    );
    // The page asks the server to prove the chain (?verify=1) and shows its verdict.
    await expect.poll(() => detail.locator(".integrity-text").textContent()).not.toContain("Verifying");
    const served = await api<{ integrity?: { chain: string; seq: number; status: string } }>(
      `events/${encodeURIComponent(id)}`,
      { verify: "1" },
    );
    expect(served.integrity?.chain).toBeDefined();
    // A checkpoint after every event (the seed's setting): the chain is proven.
    expect(served.integrity?.status).toBe("verified");
    expect(await detail.locator(".integrity-status").textContent()).toBe(served.integrity!.status);
    expect(await detail.locator(".integrity-chain").textContent()).toBe(served.integrity!.chain);
    expect(await detail.locator(".integrity-seq").textContent()).toBe(String(served.integrity!.seq));
    expect(hashParams(p).get("event")).toBe(id);
    await shot(p, "07-detail");
    await detail.getByRole("tab", { name: "Raw JSON" }).click();
    const raw = JSON.parse((await detail.locator(".raw-json").textContent())!) as { id: string };
    expect(raw.id).toBe(id);
    await shot(p, "08-detail-raw");
    await p.keyboard.press("Escape");
    await detail.waitFor({ state: "detached" });
    expect(hashParams(p).get("event")).toBeNull();
  });

  it("a permalink restores query, range, columns, order, zone and the open event on reload and for a colleague", async () => {
    const { page: p } = await page();
    await p.locator("#query").fill("result.status:FAILURE");
    await p.locator("#query").press("Enter");
    await expect.poll(() => hashParams(p).get("q")).toBe("result.status:FAILURE");
    await p.getByLabel("Time range").selectOption("last_7d");
    await p.getByRole("button", { name: "Newest first ↓" }).click();
    await p.getByRole("button", { name: "Local" }).click();
    await p.getByRole("button", { name: "Remove column action.category" }).click();
    await expectCount(p, await countOf("result.status:FAILURE", { range: "last_7d" }));
    const row = p.locator("tr[data-id]").first();
    const id = (await row.getAttribute("data-id"))!;
    const shownTime = await row.locator('td[data-column="timestamp"]').textContent();
    await row.click();
    await p.locator(".detail .integrity").waitFor();
    const link = p.url();

    const check = async (q: Page): Promise<void> => {
      await q.locator(".detail .integrity").waitFor();
      expect(await q.locator("#query").inputValue()).toBe("result.status:FAILURE");
      expect(await q.getByLabel("Time range").inputValue()).toBe("last_7d");
      expect(await q.getByRole("button", { name: "Oldest first ↑" }).count()).toBe(1);
      expect(await q.getByRole("button", { name: "Local" }).getAttribute("aria-pressed")).toBe("true");
      expect(await q.locator('th[data-column="action.category"]').count()).toBe(0);
      expect(await q.locator('.detail tr[data-path="id"] .field-value').textContent()).toBe(id);
      // Oldest first, local time (Europe/Berlin in this browser): the same first row, same text.
      expect(await q.locator("tr[data-id]").first().getAttribute("data-id")).toBe(id);
      expect(await q.locator('tr[data-id] td[data-column="timestamp"]').first().textContent()).toBe(
        shownTime,
      );
    };
    await p.reload();
    await check(p);
    const colleague = await openPage(browser.context, stack.origin);
    open.push(colleague);
    await colleague.page.goto(link);
    await check(colleague.page);
    await shot(colleague.page, "09-permalink");
  });

  it("live tail: a newly logged matching event appears at the top", async () => {
    const { page: p } = await page("#q=action.type%3ATAIL_PROBE", false);
    // Nothing matches yet.
    await p.locator(".table-foot", { hasText: "No events match" }).waitFor();
    const started = p.waitForRequest((r) => r.url().includes("/api/tail?"));
    await p.getByRole("button", { name: "○ Live" }).click();
    await started;
    // From the moment the server answers, every new matching event is sent.
    await p.locator(".tail-note.on", { hasText: "live: new events" }).waitFor();
    const at = Date.now();
    await stack.engine.log({ action: "TAIL_PROBE", category: "TEST", actor: { username: "tailer" } });
    await stack.engine.flush();
    const row = p.locator("tr[data-id]", { hasText: "TAIL_PROBE" });
    await row.waitFor({ timeout: 15_000 });
    const latency = Date.now() - at;
    console.log(`live tail: the new event was on screen ${latency} ms after log()`);
    expect(await row.locator('td[data-column="actor.username"]').textContent()).toBe("tailer");
    await shot(p, "10-live-tail");
  });

  it("export: the CSV download is exactly the current query, range and columns, in the chosen zone", async () => {
    const q = "action.category:AUTH";
    const { page: p } = await page(`#q=${encodeURIComponent(q)}&range=last_24h&tz=local`);
    await p.getByRole("button", { name: "Remove column action.resource.path" }).click();
    await p.locator(".export-menu summary").click();
    await shot(p, "11-export-menu");
    const download = p.waitForEvent("download");
    await p.getByRole("menuitem", { name: "CSV" }).click();
    const file = await (await download).path();
    const text = readFileSync(file, "utf8");
    expect(text).toContain("Europe/Berlin");
    const rows = parseCsv(text, { comment: "#", relax_column_count: true }) as string[][];
    const header = rows[0]!;
    expect(header.slice(0, 6)).toEqual([
      "timestamp (Europe/Berlin)",
      "severity",
      "actor.username",
      "action.category",
      "action.type",
      "result.status",
    ]);
    const body = rows.slice(1);
    expect(body.length).toBe(await countOf(q));
    expect(new Set(body.map((r) => r[3]))).toEqual(new Set(["AUTH"]));
  });

  it("the hostile corpus is inert: shown as text, nothing injected, no dialog", async () => {
    const { page: p } = await page(
      "#q=action.type%3AHOSTILE&cols=timestamp,actor.username,metadata.kind,metadata.value",
    );
    await expectCount(p, HOSTILE.length);
    const users = await columnTexts(p, "actor.username");
    expect(users).toContain("<script>alert(1)</script>");
    expect(users).toContain('"><img src=x onerror=alert(1)>');
    expect(users).toContain("javascript:alert(1)");
    // Invisible and reordering characters are shown as visible escapes.
    expect(users).toContain("invoice\\u202Egpj.exe");
    expect(users).toContain("ad\\u200Bmin\\u200D\\uFEFF");
    expect(users).toContain("bell\\u0007nul\\0esc\\u001B[31mred");
    const injected = await p.evaluate(() => ({
      scripts: [...document.querySelectorAll("script")].map((s) => s.getAttribute("src")),
      images: document.querySelectorAll("img").length,
      handlers: [...document.querySelectorAll("*")].filter((el) =>
        [...el.attributes].some((a) => a.name.startsWith("on")),
      ).length,
      links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    }));
    expect(injected.scripts).toEqual(["./assets/app.js"]);
    expect(injected.images).toBe(0);
    expect(injected.handlers).toBe(0);
    expect(
      injected.links.filter((h) => !h?.startsWith("/api/") && !h?.startsWith(`${stack.origin}/`)),
    ).toEqual([]);
    // The 1 MiB value: clipped in the table, whole on request in the detail.
    const huge = p.locator("tr[data-id]", { hasText: "0123456789abcdef0123" }).first();
    expect(
      ((await huge.locator('td[data-column="metadata.value"]').textContent()) ?? "").length,
    ).toBeLessThan(400);
    await shot(p, "12-hostile");
    await p.locator("tr[data-id]", { hasText: '"><img' }).first().click();
    await p.locator('.detail tr[data-path="metadata.link"]').waitFor();
    expect(await p.locator('.detail tr[data-path="metadata.link"] .field-value').textContent()).toBe(
      '"><img src=x onerror=alert(1)>',
    );
    await shot(p, "13-hostile-detail");
    await huge.click();
    const value = p.locator('.detail tr[data-path="metadata.value"] .field-value');
    await value.waitFor();
    expect(await value.textContent()).toContain(`(+${(1_048_576 - 4096).toLocaleString("en")} chars)`);
    await value.getByRole("button", { name: "show all" }).click();
    await expect.poll(async () => (await value.textContent())?.length).toBe(1_048_576);
  });

  it("the integrity page runs verify with progress and its verdict", async () => {
    const { page: p } = await page();
    await p.getByRole("button", { name: "Integrity" }).click();
    await p.getByRole("button", { name: "Run verification" }).click();
    const verdict = p.locator(".verify-verdict");
    await verdict.waitFor({ timeout: 20_000 });
    await shot(p, "14-integrity");
    expect(await verdict.textContent()).toMatch(/events/);
    expect(hashParams(p).get("view")).toBe("verify");
  });

  it("keyboard: / focuses the query, field names complete, rows open with the keyboard", async () => {
    const { page: p } = await page();
    await p.locator("body").click({ position: { x: 5, y: 300 } });
    await p.keyboard.press("/");
    expect(await p.evaluate(() => document.activeElement?.id)).toBe("query");
    await p.keyboard.type("NOT actor.usern");
    const option = p.getByRole("option", { name: "actor.username" });
    await option.waitFor();
    await p.keyboard.press("Tab");
    await expect.poll(() => p.locator("#query").inputValue()).toBe("NOT actor.username:");
    await p.keyboard.type("bob");
    const searched = p.waitForResponse(
      (r) =>
        r.url().includes("/api/search?") &&
        new URL(r.url()).searchParams.get("q") === "NOT actor.username:bob",
    );
    await p.keyboard.press("Enter");
    const { events } = (await (await searched).json()) as { events: { id: string }[] };
    expect(hashParams(p).get("q")).toBe("NOT actor.username:bob");
    // Tab into the table, move down a row, open it.
    const second = events[1]!.id;
    await expect.poll(() => p.locator("tr[data-id]").nth(1).getAttribute("data-id")).toBe(second);
    await p.locator("button.row-open").first().focus();
    await p.keyboard.press("ArrowDown");
    await p.keyboard.press("Enter");
    await expect.poll(() => hashParams(p).get("event")).toBe(second);
    await p.locator(".detail .integrity").waitFor();
    await p.keyboard.press("Escape");
    await p.locator(".detail").waitFor({ state: "detached" });
  });

  it("results: the next page loads on scroll (cursor paging) and only the rows in view are rendered", async () => {
    const { page: p, guards } = await page("#q=NOT%20category%3AAUDIT&range=last_24h");
    const total = await countOf("NOT category:AUDIT");
    expect(total).toBeGreaterThan(200); // more than one page
    const scroller = p.locator(".table-scroll");
    await expect
      .poll(async () => {
        await scroller.evaluate((el) => {
          el.scrollTop = el.scrollHeight;
        });
        return p.locator(".table-foot").textContent();
      })
      .toBe(`End of results (${total.toLocaleString("en")} shown)`);
    const pages = guards.requests.filter(
      (u) => u.includes("/api/search?") && new URL(u).searchParams.has("cursor"),
    );
    expect(pages.length).toBeGreaterThanOrEqual(1);
    const rendered = await p.locator("tr[data-id]").count();
    expect(rendered).toBeLessThan(80);
    expect(rendered).toBeLessThan(total);
    // Scrolled to the end, the oldest event is the last row on screen.
    const oldest = await api<{ events: { id: string }[] }>("search", {
      q: "NOT category:AUDIT",
      range: "last_24h",
      order: "asc",
      limit: "1",
    });
    await expect
      .poll(async () => {
        await scroller.evaluate((el) => {
          el.scrollTop = el.scrollHeight;
        });
        return p.locator("tr[data-id]").last().getAttribute("data-id");
      })
      .toBe(oldest.events[0]!.id);
  });

  it("dark theme by preference and by toggle", async () => {
    const { page: p } = await page();
    await p.emulateMedia({ colorScheme: "dark" });
    const bg = () => p.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const dark = await bg();
    await shot(p, "15-dark");
    await p.getByRole("button", { name: /^Theme: auto/ }).click(); // auto → dark
    await p.getByRole("button", { name: /^Theme: dark/ }).click(); // dark → light
    // the page sets data-theme after it renders the new state: wait for it, then compare
    await p.waitForFunction(() => document.documentElement.dataset.theme === "light");
    expect(await bg()).not.toBe(dark);
    await p.getByRole("button", { name: /^Theme: light/ }).click(); // back to auto
  });
});
