// The writer of the soak (test/chaos/soak.ts): one engine logging at a steady rate for a
// while — with the rotation, gzip, signing and backup_count its configuration asks for —
// while a reader searches the store and retention runs, all in this process. Every
// `sampleMs` it prints one sample line on stdout:
//   S {"t","rss","heap","external","fds","queueMax","p99","p50","logged","written","dropped","errors"}
// where `heap` is the heap used after a full GC (run with --expose-gc), `fds` the open
// file descriptors (/proc/self/fd), `queueMax` the largest queue depth seen since the last
// sample (checked after every tick), and `p99`/`p50` the caller's cost of one `log()` in
// that interval, in microseconds. At the end:
//   END {"baselineFds","fdsAfterClose","logged","dropped","errors","searches","retentions",...}
// Imports the built package (dist/).
import { readdirSync, readlinkSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { AuditEngine } from "../../dist/index.js";

const { config, seconds, rate, sampleMs, searchMs, retentionMs } = JSON.parse(process.env.VIGIL_SOAK ?? "{}");
const out = (line) => process.stdout.write(`${line}\n`);
const gc = typeof globalThis.gc === "function" ? () => globalThis.gc() : () => {};
// readdir opens one descriptor of its own while it reads: the same offset every time
const fds = () => readdirSync("/proc/self/fd").length;
const fdTargets = () =>
  readdirSync("/proc/self/fd").map((fd) => {
    try {
      return `${fd} -> ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd; // the directory's own descriptor, closed by now
    }
  });

// Node opens a descriptor of its own the first time stdout/stderr (pipes) are used: before the baseline
out("start");
process.stderr.write("");
gc();
const baselineFds = fds();
const baselineTargets = new Set(fdTargets());
const engine = new AuditEngine({ config, env: {} });
let errors = 0;
const errorSamples = [];
engine.on("error", (err) => {
  errors++;
  if (errorSamples.length < 5) errorSamples.push(`${err?.code ?? ""} ${err?.message ?? err}`);
});
const warnings = [];
engine.on("warning", (w) => {
  if (!/deleted .*backup_count/.test(String(w)) && warnings.length < 20) warnings.push(String(w));
});

// a realistic event: a user, a resource, a few parameters (about 600 bytes on disk, signed)
const input = (i) => ({
  action: "ORDER_UPDATE",
  category: "SOAK",
  actor: { username: `user${i % 997}`, id: String(i % 997) },
  resource: { type: "order", path: `/api/orders/${i % 100_003}` },
  status: i % 50 === 0 ? "FAILURE" : "SUCCESS",
  metadata: { i, k: i % 1000, note: "steady traffic from the soak writer", items: [i % 7, i % 11, i % 13] },
});

const durations = new Float64Array(Math.ceil(rate * (sampleMs / 1000) * 3) + 1000);
let n = 0;
let logged = 0;
let dropped = 0;
let queueMax = 0;
let searches = 0;
let searchErrors = 0;
let retentions = 0;
let retentionErrors = 0;
const failures = [];
const start = performance.now();
const end = start + seconds * 1000;

function percentile(values, count, p) {
  if (count === 0) return 0;
  const sorted = values.subarray(0, count).sort();
  return sorted[Math.min(count - 1, Math.floor(p * count))];
}

function sample() {
  gc();
  const mem = process.memoryUsage();
  const m = engine.metrics();
  const s = {
    t: Math.round((performance.now() - start) / 1000),
    rss: mem.rss,
    heap: mem.heapUsed,
    external: mem.external,
    fds: fds(),
    queueMax,
    p99: Math.round(percentile(durations, Math.min(n, durations.length), 0.99) * 1000) / 1000,
    p50: Math.round(percentile(durations, Math.min(n, durations.length), 0.5) * 1000) / 1000,
    logged,
    written: m.written,
    dropped,
    errors,
  };
  n = 0;
  queueMax = 0;
  out(`S ${JSON.stringify(s)}`);
}

// the reader: one search, then `searchMs` of rest, then the next one
let reading = true;
const readerDone = (async () => {
  while (reading) {
    await new Promise((resolve) => setTimeout(resolve, searchMs));
    if (!reading) break;
    try {
      await engine.search({ query: `metadata.k:${searches % 1000} AND result.status:SUCCESS`, limit: 50 });
      searches++;
    } catch (err) {
      searchErrors++;
      if (failures.length < 5) failures.push(`search: ${err?.code ?? ""} ${err?.message ?? err}`);
    }
  }
})();
const retention = setInterval(() => {
  engine.applyRetention({ days: 1 }).then(
    () => retentions++,
    (err) => {
      retentionErrors++;
      if (failures.length < 5) failures.push(`retention: ${err?.code ?? ""} ${err?.message ?? err}`);
    },
  );
}, retentionMs);
const sampler = setInterval(sample, sampleMs);

// steady rate: every 10 ms, log what the clock says is due
await new Promise((resolve) => {
  const tick = () => {
    const now = performance.now();
    if (now >= end) return resolve();
    const due = Math.floor(((now - start) / 1000) * rate);
    for (; logged < due; logged++) {
      const t0 = performance.now();
      const event = engine.log(input(logged));
      const t1 = performance.now();
      if (n < durations.length) durations[n++] = (t1 - t0) * 1000;
      if (event === undefined) dropped++;
    }
    const depth = engine.metrics().queue_depth;
    if (depth > queueMax) queueMax = depth;
    setTimeout(tick, 10);
  };
  tick();
});
reading = false;
await readerDone;
clearInterval(retention);
clearInterval(sampler);
sample();
await engine.close();
gc();
// a background fsync of the final checkpoint may still hold its file for a moment
const fdsRightAfterClose = fds();
for (let i = 0; i < 40 && fds() > baselineFds; i++) await new Promise((resolve) => setTimeout(resolve, 50));
out(
  `END ${JSON.stringify({
    baselineFds,
    fdsRightAfterClose,
    fdsAfterClose: fds(),
    fdsLeft: fdTargets().filter((t) => !baselineTargets.has(t)),
    logged,
    dropped,
    errors,
    errorSamples,
    warnings,
    searches,
    searchErrors,
    retentions,
    retentionErrors,
    failures,
    metrics: engine.metrics(),
  })}`,
);
