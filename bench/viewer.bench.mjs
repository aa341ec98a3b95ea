// Issue 11's viewer benchmark: server time of the viewer's API over a store of BENCH_EVENTS
// events (default 1,000,000) spread over the 24 hours before the store was filled, on SQLite, PostgreSQL and files,
// through the real handler on 127.0.0.1: the first page of a search, a count, the histogram
// (60 buckets) and the facets (5 fields) of `last_24h`, each the median of BENCH_ROUNDS
// (default 5) requests, and the CSV export rate of the whole range. The reference in the
// same run is the backend's own answer to the same first page (`engine.searchPage`),
// without HTTP. Targets (issue 11): first page and histogram under 500 ms on SQLite and
// PostgreSQL (under 2 s on files); export ≥ 50,000 events/s.
//
// Run: node --import tsx bench/viewer.bench.mjs
//      (BENCH_EVENTS, BENCH_ROUNDS, BENCH_STORES=sqlite,postgresql,files.)
// The SQLite and file stores are kept under the temporary directory and reused by later runs
// within 6 hours (filling 1,000,000 events takes minutes; BENCH_CACHE=0 fills fresh ones); the
// PostgreSQL table is filled every run under a unique name, vacuumed and analyzed, and dropped at the end.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { AuditEngine } from "../src/engine.ts";
import { auditViewer } from "../src/viewer/handler.ts";
import { makeEvent } from "./event.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const STORES = (process.env.BENCH_STORES ?? "sqlite,postgresql,files").split(",");
const CACHE = process.env.BENCH_CACHE !== "0";
const CACHE_MS = 6 * 3_600_000;
const dir = join(tmpdir(), `vigil-viewer-bench-${N}`);
mkdirSync(dir, { recursive: true });
// a store kept from an earlier run is used while it is recent; stale ones are removed
for (const name of readdirSync(dir)) {
  const m = /^(sqlite|files)-(\d+)$/.exec(name);
  if (m && (!CACHE || Date.now() - Number(m[2]) > CACHE_MS))
    rmSync(join(dir, name), { recursive: true, force: true });
}
const cached = (kind) =>
  CACHE
    ? readdirSync(dir).find((n) => n.startsWith(`${kind}-`) && existsSync(join(dir, n, "complete")))
    : undefined;
const table = `viewer_bench_reading_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;

function storage(kind, where) {
  if (kind === "sqlite")
    return {
      type: "database",
      connection: { dialect: "sqlite", filename: join(where, "bench.db") },
      table_name: "viewer_bench",
    };
  if (kind === "postgresql")
    return {
      type: "database",
      connection: {
        dialect: "postgresql",
        host: "127.0.0.1",
        port: 5432,
        database: "test",
        username: "postgres",
      },
      table_name: table,
    };
  mkdirSync(join(where, "files"), { recursive: true });
  return { type: "file", directory: join(where, "files") };
}

/** N events over the last 24 h, logged through an engine of the same configuration. */
async function fill(config, now) {
  const span = 24 * 3_600_000 - 60_000;
  const writer = new AuditEngine({ config, env: {} });
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    const e = makeEvent(i);
    writer.log({
      action: e.action.type,
      category: e.action.category,
      actor: e.actor,
      resource: e.action.resource,
      status: e.result.status,
      result: { duration_ms: e.result.duration_ms, count: e.result.count },
      metadata: e.metadata,
      timestamp: new Date(now - span + Math.floor((i * span) / N)),
    });
    if (i % 10_000 === 9_999) await writer.flush();
  }
  await writer.close();
  return (performance.now() - started) / 1000;
}

async function timed(url) {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${Buffer.from(body).toString()}`);
  return { ms: performance.now() - t, bytes: body.byteLength };
}

async function median(fn) {
  const times = [];
  for (let i = 0; i < ROUNDS; i++) times.push(await fn());
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

for (const kind of STORES) {
  const reuse = kind === "postgresql" ? undefined : cached(kind);
  const filledAt = reuse ? Number(reuse.split("-")[1]) : Date.now();
  const where = join(dir, reuse ?? `${kind}-${filledAt}`);
  mkdirSync(where, { recursive: true });
  const config = {
    core: { application_name: "bench" },
    storage: { backends: [storage(kind, where)] },
    performance: { async: { enabled: true } },
  };
  const seconds = reuse ? undefined : await fill(config, filledAt);
  if (!reuse && kind !== "postgresql") writeFileSync(join(where, "complete"), "");
  if (kind === "postgresql") {
    // as a production table is: autovacuum would have analyzed it, and (PostgreSQL 13 and
    // later) vacuumed it after so many inserts, which lets counts read the index alone
    const client = new pg.Client({ host: "127.0.0.1", port: 5432, database: "test", user: "postgres" });
    await client.connect();
    await client.query(`VACUUM (ANALYZE) "${table}"`);
    await client.end();
  }
  // the range the store was filled over (a kept store is a few hours old)
  const range = `from=${new Date(filledAt - 24 * 3_600_000).toISOString()}&to=${new Date(filledAt + 60_000).toISOString()}`;
  const engine = new AuditEngine({ config, env: {} });
  const handler = auditViewer({
    engine,
    authorize: () => ({ actor: { username: "bench" } }),
    limits: { timeoutMs: 600_000 },
  });
  const server = createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const q = encodeURIComponent("category:DATABASE AND status:SUCCESS");
  const rows = [];
  const direct = await median(async () => {
    const t = performance.now();
    await engine.searchPage({
      from: new Date(filledAt - 24 * 3_600_000),
      to: new Date(filledAt + 60_000),
      limit: 50,
    });
    return performance.now() - t;
  });
  rows.push(["engine.searchPage, first 50 (reference, no HTTP)", fmt(direct)]);
  for (const [what, path] of [
    ["first page, 50 newest", `/api/search?${range}&limit=50`],
    ["first page of a query", `/api/search?${range}&limit=50&q=${q}`],
    ["count, all", `/api/count?${range}`],
    ["count of a query", `/api/count?${range}&q=${q}`],
    ["histogram, 60 buckets", `/api/histogram?${range}&buckets=60`],
    ["histogram of a query, 60 buckets", `/api/histogram?${range}&buckets=60&q=${q}`],
    ["first page + histogram (the page's first screen, in parallel)", "FIRST_SCREEN"],
    ["facets, 5 fields", `/api/facets?${range}`],
  ])
    rows.push([
      what,
      fmt(
        await median(async () => {
          if (path !== "FIRST_SCREEN") return (await timed(base + path)).ms;
          const t = performance.now();
          await Promise.all([
            timed(`${base}/api/search?${range}&limit=50`),
            timed(`${base}/api/histogram?${range}&buckets=60`),
          ]);
          return performance.now() - t;
        }),
      ),
    ]);
  // the download is read by curl in another process, so the client's parsing does not share
  // this process's CPU (a fetch in this process costs about as much as the server's work)
  const curl = await new Promise((resolve) => {
    const child = spawn("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{time_total} %{size_download}",
      `${base}/api/export?format=csv&${range}`,
    ]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", () => resolve(undefined));
    child.on("close", (code) => resolve(code === 0 ? out : undefined));
  });
  if (curl !== undefined) {
    const [secs, size] = curl.trim().split(" ").map(Number);
    rows.push([
      "CSV export, whole range (curl)",
      `${Math.round(N / secs).toLocaleString("en")} events/s (${(size / 1e6).toFixed(0)} MB in ${secs.toFixed(1)} s)`,
    ]);
  } else {
    const t = performance.now();
    const exported = await timed(`${base}/api/export?format=csv&${range}`);
    const s = (performance.now() - t) / 1000;
    rows.push([
      "CSV export, whole range (fetch, same process)",
      `${Math.round(N / s).toLocaleString("en")} events/s (${(exported.bytes / 1e6).toFixed(0)} MB in ${s.toFixed(1)} s)`,
    ]);
  }
  console.log(
    `\n${kind}: ${N.toLocaleString("en")} events (${seconds === undefined ? `kept from ${new Date(filledAt).toISOString()}` : `filled in ${seconds.toFixed(1)} s`}), median of ${ROUNDS}, load average ${(await import("node:os")).loadavg()[0].toFixed(1)}`,
  );
  for (const [what, value] of rows) console.log(`  ${what.padEnd(50)} ${value}`);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await engine.close();
  if (kind === "postgresql") {
    const client = new pg.Client({ host: "127.0.0.1", port: 5432, database: "test", user: "postgres" });
    await client.connect();
    for (const t of [table, `${table}_checkpoints`, `${table}_migrations`])
      await client.query(`DROP TABLE IF EXISTS "${t}" CASCADE`);
    await client.end();
  }
}
if (!CACHE) rmSync(dir, { recursive: true, force: true });
