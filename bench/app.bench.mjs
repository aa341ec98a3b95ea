// The seed's criterion (performance impact < 5%) as a user meets it (issue 13, item 1): the
// TrafficTracer example's own API (examples/traffictracer/src/server.ts), served by a child
// process on 127.0.0.1 and loaded with autocannon from this process, in three configurations
// alternated run by run:
//
//   off        no request middleware, no driver wrapper, the engine disabled
//              (VIGIL_ENABLED=false: the connector's decorators only check a flag)
//   vigil      the full integration: expressAuditMiddleware, auditSqlite under the
//              connector, the @auditLog / audited decorators, the example's
//              config/audit.yaml (file backend, async batching, sanitization on) with
//              security.signing on (hmac-sha256)
//   pino-http  pino-http in the middleware's place, to a file (pino.destination, async)
//
// Routes, each measured in every run of every configuration:
//
//   health    GET  /api/v1/health (does nothing: the cost of the integration alone)
//   roads     GET  /api/v1/roads/N7/measurements?limit=50 (an indexed query of 50 rows
//                  out of 100,000, returned as JSON)
//   execute   POST /api/v1/query/execute, the same query as SQL with a bound parameter
//   login     POST /api/v1/auth/login, a good password (scrypt, N = 16384; 4 connections,
//                  as many as libuv has threads to hash with)
//
// Reported per route: the median of requests/s, p50 and p99 latency over the runs, their
// spread (min–max), the server's CPU time per request (all its threads: the figure the load
// of a shared machine moves least), and each configuration's ratio to `off`. Targets (issue 13): vigil's
// throughput drop ≤ 3% and p99 within +5% of `off` on every route, and vigil ahead of
// pino-http.
//
// Run: npm run bench -- app (builds first: the example imports vigil-audit from dist/)
//   BENCH_RUNS=5 BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_CONNECTIONS=50 by default;
//   BENCH_ROUTES=roads,health and BENCH_CONFIGS=off,vigil pick some;
//   BENCH_CPU_PROF=<dir> runs the servers under `node --cpu-prof`, into <dir>/<configuration>;
//   BENCH_BASELINE=<dir> adds a fourth configuration, `baseline`: the `vigil` server of another
//   checkout of this repository (built, with node_modules), alternated with the others in the
//   same run — before/after figures of a change on a shared machine.

import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { childMessage, median } from "./stats.mjs";

const CONFIGS = ["off", "vigil", "pino-http"];
const USER = "yannick.verrydt";
const PASSWORD = "Tr4fficTracer-2.0!";
const QUERY =
  "SELECT measured_at, speed_kmh FROM measurements WHERE road = ? ORDER BY measured_at DESC LIMIT 50";
const json = { "content-type": "application/json" };
const ROUTES = {
  health: { method: "GET", path: "/api/v1/health" },
  roads: { method: "GET", path: "/api/v1/roads/N7/measurements?limit=50" },
  execute: {
    method: "POST",
    path: "/api/v1/query/execute",
    headers: json,
    body: JSON.stringify({ sql: QUERY, params: ["N7"] }),
  },
  login: {
    method: "POST",
    path: "/api/v1/auth/login",
    headers: json,
    body: JSON.stringify({ username: USER, password: PASSWORD }),
    // scrypt runs on libuv's 4 threads: more connections only queue (and time out)
    connections: 4,
  },
};
/** 100,000 measurements on 20 roads (N1–N20), one every 5 minutes per road, indexed by road and time. */
const SCHEMA = `
  CREATE TABLE measurements (id INTEGER PRIMARY KEY, road TEXT NOT NULL, measured_at TEXT NOT NULL, speed_kmh REAL NOT NULL);
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
  INSERT INTO measurements (road, measured_at, speed_kmh)
    SELECT 'N' || (1 + i % 20), strftime('%Y-%m-%dT%H:%MZ', 1760072400 + (i / 20) * 300, 'unixepoch'),
           40 + (i * 7919 % 600) / 10.0
    FROM n;
  CREATE INDEX measurements_road_time ON measurements (road, measured_at);
`;
const STOP_TIMEOUT_MS = 30_000;
const here = fileURLToPath(new URL(".", import.meta.url));
const EXAMPLE = resolve(here, "../examples/traffictracer");

if (process.argv[2] === "--server") await serve(process.argv[3], process.argv[4]);
else await main();

/** Child: start the TrafficTracer API in one configuration, report its port, stop on "stop". */
async function serve(config, dir) {
  const { initializeAudit, shutdownAudit, DEFAULT_CONFIG_FILE } = await import(
    `${EXAMPLE}/src/audit_init.ts`
  );
  const { createLogin, UserDirectory } = await import(`${EXAMPLE}/src/authentication.ts`);
  const { ConnectionManager } = await import(`${EXAMPLE}/src/connection_manager.ts`);
  const { createApp, startServer } = await import(`${EXAMPLE}/src/server.ts`);
  const quiet = {
    info() {},
    warn: (m) => console.error(`[${config}] ${m}`),
    error: (m) => console.error(`[${config}] ${m}`),
  };
  const env = { ...process.env, AUDIT_LOG_DIR: join(dir, "audit") };
  let configFile = DEFAULT_CONFIG_FILE;
  if (config === "vigil") {
    // the example's config/audit.yaml as it is, with signing turned on
    const YAML = await import("yaml");
    const doc = YAML.parse(readFileSync(DEFAULT_CONFIG_FILE, "utf8"));
    doc.vigil.security.signing = { enabled: true, secret_key: randomBytes(32).toString("hex") };
    configFile = join(dir, "audit.yaml");
    writeFileSync(configFile, YAML.stringify(doc));
  } else env.VIGIL_ENABLED = "false";
  const engine = initializeAudit(configFile, { env, logger: quiet });

  let requestLogger;
  let destination;
  if (config === "off") requestLogger = null;
  else if (config === "pino-http") {
    const { default: pino } = await import("pino");
    const { default: pinoHttp } = await import("pino-http");
    destination = pino.destination({ dest: join(dir, "pino.log"), sync: false, mkdir: true });
    requestLogger = pinoHttp({ logger: pino(destination) });
  }
  const connections = new ConnectionManager({ auditStatements: config === "vigil" });
  const connector = connections.createConnection({
    database: "traffictracer",
    filename: join(dir, "traffictracer.db"),
  });
  connector.executeScript(SCHEMA);
  const users = new UserDirectory();
  await users.addUser(USER, PASSWORD, { roles: ["analyst"] });
  const running = await startServer(
    createApp({
      connector,
      login: createLogin(users),
      ...(requestLogger !== undefined ? { requestLogger } : {}),
    }),
  );
  process.send({ url: running.url });
  process.on("message", async (msg) => {
    if (msg === "cpu") {
      const { user, system } = process.cpuUsage();
      process.send({ cpu: user + system });
      return;
    }
    if (msg !== "stop") return;
    await running.close();
    connections.closeAll();
    const logged = engine.metrics().logged;
    await shutdownAudit();
    const written = engine.metrics().written;
    if (destination) destination.flushSync();
    process.send({ stopped: true, logged, written }, () => process.exit(0));
  });
}

/** Parent: alternate the configurations, measure every route, report. */
async function main() {
  const { default: autocannon } = await import("autocannon");
  const runs = Number(process.env.BENCH_RUNS ?? 5);
  const duration = Number(process.env.BENCH_DURATION ?? 10);
  const warmup = Number(process.env.BENCH_WARMUP ?? 3);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const routes = pick(process.env.BENCH_ROUTES, Object.keys(ROUTES), "route");
  const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
  const configs = pick(
    process.env.BENCH_CONFIGS,
    baseline ? [...CONFIGS, "baseline"] : CONFIGS,
    "configuration",
  );
  const profileDir = process.env.BENCH_CPU_PROF;
  const results = {};
  for (const c of configs) results[c] = Object.fromEntries(routes.map((r) => [r, []]));
  const self = fileURLToPath(import.meta.url);
  const loads = [loadavg()[0]];

  console.log(
    `TrafficTracer API (Express 5, better-sqlite3), ${connections} connections, ${duration}s per route after ${warmup}s warm-up, ` +
      `${runs} runs per configuration, load average ${loads[0].toFixed(1)}`,
  );
  for (let run = 1; run <= runs; run++) {
    // rotate the order so no configuration always goes first
    const order = configs.map((_, i) => configs[(i + run - 1) % configs.length]);
    for (const config of order) {
      const dir = mkdtempSync(join(tmpdir(), `vigil-bench-app-${config}-`));
      const execArgv = ["--import", "tsx"];
      if (profileDir) execArgv.push("--cpu-prof", `--cpu-prof-dir=${join(profileDir, config)}`);
      // the baseline checkout serves its own example and dist/ through its own copy of this file
      const child =
        config === "baseline"
          ? fork(join(baseline, "bench/app.bench.mjs"), ["--server", "vigil", dir], {
              execArgv,
              stdio: "inherit",
              cwd: baseline,
            })
          : fork(self, ["--server", config, dir], { execArgv, stdio: "inherit" });
      const { url } = await childMessage(child, (m) => m.url !== undefined);
      const line = [];
      for (const route of routes) {
        const spec = { connections, ...ROUTES[route], url: `${url}${ROUTES[route].path}` };
        delete spec.path;
        await autocannon({ ...spec, duration: warmup });
        const cpu = cpuTime(child);
        const r = await autocannon({ ...spec, duration });
        // the server's CPU time (all its threads) per request: what the load of the machine moves least
        const cpuUs = ((await cpuTime(child)) - (await cpu)) / Math.max(1, r.requests.total);
        const errors = r.errors + r.timeouts + r.non2xx;
        results[config][route].push({
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          cpuUs,
          errors,
        });
        line.push(
          `${route} ${fmt(r.requests.average)}/s p99 ${r.latency.p99} ${fmt(cpuUs)}µs${errors ? ` (${errors} errors)` : ""}`,
        );
      }
      child.send("stop");
      const stopping = childMessage(child, (m) => m.stopped);
      stopping.catch(() => {}); // the kill below ends it when the timeout wins
      const stopped = await Promise.race([
        stopping,
        new Promise((done) => setTimeout(() => done(undefined), STOP_TIMEOUT_MS).unref()),
      ]);
      if (stopped === undefined) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      loads.push(loadavg()[0]);
      const events =
        config === "vigil" || config === "baseline"
          ? stopped
            ? `  events ${stopped.written}/${stopped.logged} written`
            : "  (did not stop: killed)"
          : "";
      console.log(`run ${run}  ${config.padEnd(9)}  ${line.join("  ")}${events}`);
    }
  }

  console.log(
    `\nmedians over ${runs} runs (spread min–max); load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
  );
  console.log(
    `${"route".padEnd(8)} ${"config".padEnd(9)} ${"req/s".padStart(7)} ${"(spread)".padEnd(15)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"(spread)".padEnd(11)} ${"CPU/req".padStart(8)}  vs off: req/s   p99  CPU/req`,
  );
  const verdicts = [];
  for (const route of routes) {
    const off = configs.includes("off") ? summary(results.off[route]) : undefined;
    const med = {};
    for (const config of configs) {
      const s = summary(results[config][route]);
      med[config] = s;
      const vsOff =
        off && config !== "off"
          ? `${pct(s.rps / off.rps - 1).padStart(6)}  ${pct(s.p99 / off.p99 - 1).padStart(6)}  ${pct(s.cpuUs / off.cpuUs - 1).padStart(6)}`
          : "";
      console.log(
        `${route.padEnd(8)} ${config.padEnd(9)} ${fmt(s.rps).padStart(7)} ${`(${fmt(s.rpsMin)}–${fmt(s.rpsMax)})`.padEnd(15)} ` +
          `${s.p50.toFixed(1).padStart(7)} ${s.p99.toFixed(1).padStart(7)} ${`(${s.p99Min}–${s.p99Max})`.padEnd(11)} ` +
          `${`${fmt(s.cpuUs)} µs`.padStart(8)}  ${vsOff}` +
          `${s.errors ? `  ${s.errors} errors` : ""}`,
      );
    }
    if (off && med.vigil) {
      const drop = 1 - med.vigil.rps / off.rps;
      const p99 = med.vigil.p99 / off.p99 - 1;
      const vsPino = med["pino-http"] ? med.vigil.rps / med["pino-http"].rps - 1 : undefined;
      // the integration's own CPU per request (vigil − off), beside the baseline's
      const extra = med.vigil.cpuUs - off.cpuUs;
      const extraBase = med.baseline ? med.baseline.cpuUs - off.cpuUs : undefined;
      verdicts.push(
        `${route.padEnd(8)} throughput ${pct(-drop)} (≤ −3%: ${drop <= 0.03 ? "met" : "MISSED"}), ` +
          `p99 ${pct(p99)} (≤ +5%: ${p99 <= 0.05 ? "met" : "MISSED"})` +
          (vsPino !== undefined
            ? `, vs pino-http ${pct(vsPino)} (${vsPino >= 0 ? "ahead" : "BEHIND"})`
            : "") +
          `, CPU/req +${fmt(extra)} µs` +
          (extraBase !== undefined ? ` (baseline +${fmt(extraBase)} µs)` : ""),
      );
    }
  }
  if (verdicts.length > 0) console.log(`\nvigil vs off (issue 13 targets)\n${verdicts.join("\n")}`);
}

/** The child's CPU time so far, in µs. */
function cpuTime(child) {
  const reply = childMessage(child, (m) => m.cpu !== undefined);
  child.send("cpu");
  return reply.then((m) => m.cpu);
}

function pick(list, all, what) {
  if (!list) return all;
  const wanted = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const w of wanted) {
    if (!all.includes(w)) {
      console.error(`unknown ${what} "${w}": expected one of ${all.join(", ")}`);
      process.exit(2);
    }
  }
  return wanted;
}

function summary(rows) {
  const rps = rows.map((r) => r.rps);
  const p99 = rows.map((r) => r.p99);
  return {
    rps: median(rps),
    rpsMin: Math.min(...rps),
    rpsMax: Math.max(...rps),
    p50: median(rows.map((r) => r.p50)),
    p99: median(p99),
    p99Min: Math.min(...p99),
    p99Max: Math.max(...p99),
    cpuUs: median(rows.map((r) => r.cpuUs)),
    errors: rows.reduce((n, r) => n + r.errors, 0),
  };
}

function pct(x) {
  return `${x >= 0 ? "+" : "−"}${Math.abs(x * 100).toFixed(1)}%`;
}

function fmt(n) {
  return Math.round(n).toLocaleString("en-US");
}
