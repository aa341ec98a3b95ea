// Issue 11's live-tail benchmark: is the viewer page responsive while 100 events/s arrive?
// The real viewer handler over a SQLite store (BENCH_SEED events over the last hour, default
// 20,000), a writer in this process logging BENCH_RATE events/s (default 100), and the page in
// Debian's Chromium (playwright-core, /usr/bin/chromium; `npm run build` first for the page).
// Alternating phases of BENCH_SECONDS (default 30), BENCH_ROUNDS times (default 2): the same
// page with live tail off (the reference: what the loaded machine alone costs the page) and
// on. In each phase a user types into the query box (a character and its Backspace every
// second) and clicks the theme toggle (every 2 s). Measured in the page: long tasks
// (PerformanceObserver 'longtask', > 50 ms), input latency (from the input event's timestamp
// to the next animation frame), frame intervals (requestAnimationFrame), and the rows kept.
//
// Run: node --import tsx bench/viewer-tail.bench.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { AuditEngine } from "../src/engine.ts";
import { auditViewer } from "../src/viewer/handler.ts";
import { makeEvent } from "./event.mjs";

const SEED = Number(process.env.BENCH_SEED ?? 20_000);
const RATE = Number(process.env.BENCH_RATE ?? 100);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

const dir = mkdtempSync(join(tmpdir(), "vigil-viewer-tail-bench-"));
const config = {
  core: { application_name: "bench" },
  storage: {
    backends: [
      {
        type: "database",
        connection: { dialect: "sqlite", filename: join(dir, "bench.db") },
        table_name: "tail_bench",
      },
    ],
  },
  performance: { async: { enabled: true } },
};
const engine = new AuditEngine({ config, env: {} });
let logged = 0;
const logOne = (timestamp) => {
  const e = makeEvent(logged++);
  engine.log({
    action: e.action.type,
    category: e.action.category,
    actor: e.actor,
    resource: e.action.resource,
    status: e.result.status,
    result: { duration_ms: e.result.duration_ms, count: e.result.count },
    metadata: e.metadata,
    ...(timestamp ? { timestamp } : {}),
  });
};
const now = Date.now();
for (let i = 0; i < SEED; i++) {
  logOne(new Date(now - 3_600_000 + Math.floor((i * 3_600_000) / SEED)));
  if (i % 5_000 === 4_999) await engine.flush();
}
await engine.flush();

const handler = auditViewer({ engine, authorize: () => ({ actor: { username: "bench" } }) });
const server = createServer(handler);
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;

// the writer: RATE events a second, in tenths of a second
const writer = setInterval(() => {
  for (let i = 0; i < RATE / 10; i++) logOne();
}, 100);

const profile = mkdtempSync(join(tmpdir(), "vigil-tail-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  viewport: { width: 1400, height: 860 },
  timezoneId: "UTC",
});
const page = await context.newPage();
// installed before the page's own scripts: every measure starts from page load
await page.addInitScript(() => {
  const m = { longTasks: [], inputs: [], frames: [], last: 0 };
  window.__m = m;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) m.longTasks.push(e.duration);
  }).observe({ type: "longtask", buffered: true });
  const frame = (t) => {
    if (m.last) m.frames.push(t - m.last);
    m.last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  for (const type of ["keydown", "click"])
    addEventListener(
      type,
      (e) => {
        const at = e.timeStamp;
        requestAnimationFrame(() => m.inputs.push(performance.now() - at));
      },
      { capture: true },
    );
});
await page.goto(`${origin}/#range=last_1h`);
await page.locator("tr[data-id]").first().waitFor({ timeout: 60_000 });

const pct = (xs, p) => {
  if (xs.length === 0) return Number.NaN;
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (x) => (Number.isNaN(x) ? "–" : `${x.toFixed(1)} ms`);

async function phase(live) {
  const button = page.locator("button.live");
  if (((await button.getAttribute("aria-pressed")) === "true") !== live) await button.click();
  if (live) await page.locator(".tail-note.on", { hasText: "live: new events" }).waitFor({ timeout: 60_000 });
  await page.evaluate(() => {
    const m = window.__m;
    m.longTasks.length = 0;
    m.inputs.length = 0;
    m.frames.length = 0;
    m.last = 0;
  });
  const query = page.locator("input.query-input");
  const toggle = page.locator("button.theme-toggle");
  const started = performance.now();
  for (let s = 0; s < SECONDS; s++) {
    await query.click();
    await page.keyboard.press("End");
    await page.keyboard.type("x");
    await page.keyboard.press("Backspace");
    if (s % 2 === 1) await toggle.click();
    const wait = 1000 - ((performance.now() - started) % 1000);
    await new Promise((r) => setTimeout(r, wait));
  }
  const elapsed = (performance.now() - started) / 1000;
  const m = await page.evaluate(() => ({
    ...window.__m,
    rows: document.querySelectorAll("tr[data-id]").length,
    shown: Number(document.querySelector("table.events")?.getAttribute("aria-rowcount") ?? 0),
    heap: performance.memory?.usedJSHeapSize ?? 0,
  }));
  return {
    live,
    load: loadavg()[0],
    longTasks: m.longTasks.length,
    longTaskMax: m.longTasks.length ? Math.max(...m.longTasks) : 0,
    longTaskMs: m.longTasks.reduce((a, b) => a + b, 0),
    inputs: m.inputs.length,
    input50: pct(m.inputs, 50),
    input99: pct(m.inputs, 99),
    fps: m.frames.length / elapsed,
    frame50: pct(m.frames, 50),
    frame99: pct(m.frames, 99),
    kept: m.shown,
    rendered: m.rows,
    heapMiB: m.heap / 2 ** 20,
  };
}

const results = [];
for (let r = 0; r < ROUNDS; r++) for (const live of [false, true]) results.push(await phase(live));
clearInterval(writer);

console.log(
  `\nviewer live tail: ${SEED.toLocaleString("en")} events seeded, ${RATE} events/s logged, phases of ${SECONDS} s, ${ROUNDS} rounds; Chromium ${context.browser()?.version() ?? ""}`,
);
console.log(
  "phase       load  long tasks (n / max / total)   input→frame p50 / p99   fps    frame p50 / p99     rows kept / in DOM   JS heap",
);
for (const x of results)
  console.log(
    `${(x.live ? "live tail" : "reference").padEnd(10)} ${x.load.toFixed(1).padStart(5)}  ${String(x.longTasks).padStart(4)} / ${ms(x.longTaskMax).padStart(9)} / ${ms(x.longTaskMs).padStart(10)}   ${ms(x.input50).padStart(8)} / ${ms(x.input99).padStart(9)}   ${x.fps.toFixed(1).padStart(5)}  ${ms(x.frame50).padStart(8)} / ${ms(x.frame99).padStart(9)}   ${String(x.kept).padStart(7)} / ${String(x.rendered).padStart(4)}   ${x.heapMiB.toFixed(1)} MiB`,
  );

await context.close();
rmSync(profile, { recursive: true, force: true });
server.closeAllConnections();
await new Promise((r) => server.close(r));
await engine.close();
rmSync(dir, { recursive: true, force: true });
