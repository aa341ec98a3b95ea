// HTTP middleware overhead (issue 6): an Express 5 app with one JSON route, served by a
// child process on 127.0.0.1 and loaded with autocannon from this process, in three
// variants alternated run by run:
//
//   baseline  no logging middleware
//   vigil     expressAuditMiddleware (file backend, async batching, sanitization on)
//   pino-http pino-http writing to a file (pino.destination, asynchronous)
//
// Each server is warmed up before it is measured. The report gives requests/s and p99
// latency of every run, the median of each variant, vigil's throughput drop against the
// baseline (target: under 5%) and vigil against pino-http (target: no worse).
//
// Run: node --import tsx bench/http.bench.mjs
//   RUNS=3 DURATION=8 WARMUP=2 CONNECTIONS=50 by default.
import { fork } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { childMessage } from "./stats.mjs";

const VARIANTS = ["baseline", "vigil", "pino-http"];
const STOP_TIMEOUT_MS = 15_000;

if (process.argv[2] === "--server") await serve(process.argv[3], process.argv[4]);
else await main();

/** Child: start the Express app of one variant, report its port, stop on "stop". */
async function serve(variant, dir) {
  const { default: express } = await import("express");
  const app = express();
  let engine;
  let destination;
  if (variant === "vigil") {
    const { AuditEngine } = await import("../src/engine.ts");
    const { expressAuditMiddleware } = await import("../src/integrations/express/index.ts");
    engine = new AuditEngine({
      config: {
        core: { application_name: "bench" },
        storage: { backends: [{ type: "file", directory: dir }] },
        processing: { sanitization: { enabled: true } },
        performance: { async: { enabled: true }, batching: { enabled: true } },
      },
    });
    app.use(expressAuditMiddleware({ engine }));
  } else if (variant === "pino-http") {
    const { default: pino } = await import("pino");
    const { default: pinoHttp } = await import("pino-http");
    destination = pino.destination({ dest: join(dir, "pino.log"), sync: false, mkdir: true });
    app.use(pinoHttp({ logger: pino(destination) }));
  }
  app.get("/api/v1/health", (_req, res) => {
    res.json({ status: "ok", version: "2.0.0", uptime: 42 });
  });
  const server = app.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
  process.on("message", async (msg) => {
    if (msg !== "stop") return;
    server.close();
    let events = 0;
    if (engine) {
      await engine.close();
      events = engine.metrics().written;
    }
    if (destination) destination.flushSync();
    process.send({ stopped: true, events }, () => process.exit(0));
  });
}

/** Parent: alternate the variants, measure, report. */
async function main() {
  const { default: autocannon } = await import("autocannon");
  const runs = Number(process.env.RUNS ?? 3);
  const duration = Number(process.env.DURATION ?? 8);
  const warmup = Number(process.env.WARMUP ?? 2);
  const connections = Number(process.env.CONNECTIONS ?? 50);
  const results = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  const self = fileURLToPath(import.meta.url);

  console.log(
    `Express 5, GET /api/v1/health, ${connections} connections, ${duration}s per run after ${warmup}s warm-up, ${runs} runs per variant`,
  );
  for (let run = 1; run <= runs; run++) {
    // rotate the order so no variant always goes first
    const order = VARIANTS.map((_, i) => VARIANTS[(i + run - 1) % VARIANTS.length]);
    for (const variant of order) {
      const dir = mkdtempSync(join(tmpdir(), `vigil-bench-${variant}-`));
      const child = fork(self, ["--server", variant, dir], {
        execArgv: ["--import", "tsx"],
        stdio: "inherit",
      });
      const { port } = await childMessage(child, (m) => m.port !== undefined);
      const url = `http://127.0.0.1:${port}/api/v1/health`;
      await autocannon({ url, connections, duration: warmup });
      const r = await autocannon({ url, connections, duration });
      child.send("stop");
      // A server whose engine cannot flush must not hang the benchmark.
      const stopping = childMessage(child, (m) => m.stopped);
      stopping.catch(() => {}); // the kill below ends it when the timeout wins
      const stopped = await Promise.race([
        stopping,
        new Promise((resolve) => setTimeout(() => resolve(undefined), STOP_TIMEOUT_MS).unref()),
      ]);
      if (stopped === undefined) {
        child.kill("SIGKILL");
        console.log(
          `run ${run}  ${variant}: the server did not stop within ${STOP_TIMEOUT_MS / 1000}s (engine.close() never settled); killed`,
        );
      }
      const events = stopped?.events ?? "?";
      const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
      const lines = readdirSync(dir).reduce((n, f) => n + countLines(join(dir, f)), 0);
      rmSync(dir, { recursive: true, force: true });
      const row = {
        rps: r.requests.average,
        p99: r.latency.p99,
        errors: r.errors + r.non2xx,
        total: r.requests.total,
      };
      results[variant].push(row);
      console.log(
        `run ${run}  ${variant.padEnd(9)}  ${fmt(row.rps).padStart(9)} req/s  p99 ${String(row.p99).padStart(4)} ms` +
          `  errors ${row.errors}  log lines ${lines}${variant === "vigil" ? ` (engine wrote ${events})` : ""}  ${(bytes / 1e6).toFixed(1)} MB`,
      );
    }
  }

  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log("\nmedian of runs");
  const med = {};
  for (const v of VARIANTS) {
    med[v] = { rps: median(results[v].map((r) => r.rps)), p99: median(results[v].map((r) => r.p99)) };
    console.log(
      `  ${v.padEnd(9)}  ${fmt(med[v].rps).padStart(9)} req/s  p99 ${String(med[v].p99).padStart(4)} ms`,
    );
  }
  const drop = (1 - med.vigil.rps / med.baseline.rps) * 100;
  const vsPino = (med.vigil.rps / med["pino-http"].rps - 1) * 100;
  console.log(
    `\nvigil vs baseline: ${drop >= 0 ? "-" : "+"}${Math.abs(drop).toFixed(1)}% throughput (target: drop under 5%) ${drop < 5 ? "OK" : "MISSED"}`,
  );
  console.log(
    `vigil vs pino-http: ${vsPino >= 0 ? "+" : ""}${vsPino.toFixed(1)}% throughput (target: not worse) ${vsPino >= 0 ? "OK" : "MISSED"}`,
  );
}

function countLines(file) {
  const text = readFileSync(file, "utf8");
  let n = 0;
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

function fmt(n) {
  return Math.round(n).toLocaleString("en-US");
}
