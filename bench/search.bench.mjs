// Issue 3's benchmark: searching and exporting a file store of 1,000,000 events.
//
//   (a) `vigil search 'action.type:LOGIN AND result.status:FAILURE'` (every match, as NDJSON)
//       against `jq -c 'select(.action.type == "LOGIN" and .result.status == "FAILURE")'`
//       over the same 30 files, in the same run, rounds alternating; both outputs counted
//       so the selections are known to be the same. Target: vigil at least 3x faster.
//       The wall time of each process is measured, node's start-up included.
//   (b) a `today` search: which files it opens (it must open only today's) and its time,
//       in process, against the same search over every day.
//   (c) `vigil export` of all 1,000,000 events to xlsx (and to csv): time and the peak RSS
//       of the process. Target: under 300 MB.
//
// The store: BENCH_EVENTS events (default 1,000,000) spread over 30 UTC days ending now,
// one JSON Lines file per day (about 450 bytes per event), written once per run in a
// temporary directory. jq is installed from Debian packages if missing.
//
// Run: npm run build && node bench/search.bench.mjs
//      (VIGIL_BENCH_DIST=<dir> runs another build of dist/; BENCH_ROUNDS, BENCH_EVENTS tune it;
//      BENCH_KEEP=1 keeps the store for profiling.)
import { execFileSync, spawn } from "node:child_process";
import fs, {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median } from "./stats.mjs";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const DIST = resolve(process.env.VIGIL_BENCH_DIST ?? join(ROOT, "dist"));
const BIN = join(DIST, "cli", "bin.js");
const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const DAYS = 30;
const DAY_MS = 86_400_000;
const QUERY = "action.type:LOGIN AND result.status:FAILURE";
const JQ_FILTER = 'select(.action.type == "LOGIN" and .result.status == "FAILURE")';

if (!existsSync(BIN)) {
  console.error(`${BIN} is missing: run \`npm run build\` first (or set VIGIL_BENCH_DIST)`);
  process.exit(1);
}

function ensureJq() {
  try {
    return execFileSync("jq", ["--version"], { encoding: "utf8" }).trim();
  } catch {
    console.log("jq not found: installing it from Debian packages");
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "jq"], { stdio: "inherit" });
    return execFileSync("jq", ["--version"], { encoding: "utf8" }).trim();
  }
}

// ---------------------------------------------------------------- the store

const TYPES = ["QUERY", "QUERY", "QUERY", "HTTP_REQUEST", "HTTP_REQUEST", "LOGIN", "LOGOUT", "EXPORT"];
const CATEGORY = {
  QUERY: "DATABASE",
  HTTP_REQUEST: "API",
  LOGIN: "AUTHENTICATION",
  LOGOUT: "AUTHENTICATION",
  EXPORT: "DATA_ACCESS",
};
const USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];
const TABLES = ["orders", "customers", "invoices", "shipments"];

/** A UUIDv7-shaped id for time `ms` and sequence `i`. */
function uuid7(ms, i) {
  const hex = ms.toString(16).padStart(12, "0");
  const seq = (i & 0xfff).toString(16).padStart(3, "0");
  const tail =
    ((i * 2654435761) >>> 0).toString(16).padStart(8, "0") + (i & 0xffff).toString(16).padStart(4, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7${seq}-8${tail.slice(0, 3)}-${tail.slice(3, 15).padEnd(12, "0")}`;
}

function makeEvent(i, ms) {
  const type = TYPES[i % TYPES.length];
  const failed = i % 7 === 0;
  const table = TABLES[i & 3];
  return {
    schema_version: 1,
    id: uuid7(ms, i),
    timestamp: new Date(ms).toISOString(),
    severity: failed ? "WARNING" : "INFO",
    security_event: type === "LOGIN",
    application: {
      name: "traffictracer",
      version: "2.0.0",
      environment: "production",
      host: "web-1",
      pid: 4711,
    },
    actor: { id: String(i % 1000), username: USERS[i & 7], ip: `10.0.${(i >> 8) & 255}.${i & 255}` },
    action: {
      type,
      category: CATEGORY[type],
      resource: { type: "table", name: table, path: `/api/v1/${table}` },
    },
    result: { status: failed ? "FAILURE" : "SUCCESS", duration_ms: (i % 997) / 10, count: i % 500 },
    correlation: { request_id: `req-${i.toString(36)}` },
    metadata: { params: { sql: `SELECT * FROM ${table} WHERE id = $1`, values: [i % 100000] } },
  };
}

/**
 * Writes the store, or finds the one an earlier run wrote today (BENCH_CACHE=0 writes a
 * fresh one); returns { dir, config, paths, todayName, cached }.
 */
function writeStore() {
  const now = Date.now();
  const cacheDir = join(tmpdir(), `vigil-bench-search-${N}-${new Date(now).toISOString().slice(0, 10)}`);
  const useCache = process.env.BENCH_CACHE !== "0";
  if (useCache && existsSync(join(cacheDir, "complete"))) {
    const logs = join(cacheDir, "logs");
    const names = fs.readdirSync(logs).sort();
    const today = Math.floor(now / DAY_MS) * DAY_MS;
    return {
      dir: cacheDir,
      logs,
      config: join(cacheDir, "audit.yaml"),
      paths: names.map((n) => join(logs, n)),
      todayName: `traffictracer_audit_${new Date(today).toISOString().slice(0, 10)}.log`,
      cached: true,
    };
  }
  const dir = useCache ? cacheDir : mkdtempSync(join(tmpdir(), "vigil-bench-search-"));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const logs = join(dir, "logs");
  mkdirSync(logs);
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const first = today - (DAYS - 1) * DAY_MS;
  const span = now - 60_000 - first; // every event in the past
  const files = new Map();
  let fd;
  let day = -1;
  let buf = "";
  const flush = () => {
    if (buf) writeSync(fd, buf);
    buf = "";
  };
  for (let i = 0; i < N; i++) {
    const ms = first + Math.floor((i * span) / N);
    const d = Math.floor(ms / DAY_MS) * DAY_MS;
    if (d !== day) {
      if (fd !== undefined) {
        flush();
        closeSync(fd);
      }
      day = d;
      const name = `traffictracer_audit_${new Date(d).toISOString().slice(0, 10)}.log`;
      fd = openSync(join(logs, name), "w");
      files.set(name, 0);
    }
    buf += `${JSON.stringify(makeEvent(i, ms))}\n`;
    if (buf.length > 1 << 20) flush();
  }
  flush();
  closeSync(fd);
  const config = join(dir, "audit.yaml");
  writeFileSync(
    config,
    `vigil:
  core: { application_name: traffictracer }
  storage:
    backends:
      - type: file
        directory: ${JSON.stringify(logs)}
        filename_pattern: "{application}_audit_{date}.log"
  performance:
    async: { enabled: false }
`,
  );
  const names = [...files.keys()].sort();
  if (useCache) writeFileSync(join(dir, "complete"), "");
  return {
    cached: false,
    dir,
    logs,
    config,
    paths: names.map((n) => join(logs, n)),
    todayName: `traffictracer_audit_${new Date(today).toISOString().slice(0, 10)}.log`,
  };
}

// ---------------------------------------------------------------- measuring

/** Runs a command; resolves wall ms, stdout line count and (with the preload) peak RSS in MiB. */
function time(cmd, args, options = {}) {
  return new Promise((resolveRun, reject) => {
    const t0 = process.hrtime.bigint();
    // GNU time adds the CPU seconds (user + system, children included): on a shared, loaded
    // machine they compare better than wall time
    const child = existsSync("/usr/bin/time")
      ? spawn("/usr/bin/time", ["-f", "cpu_seconds=%U %S", cmd, ...args], {
          stdio: ["ignore", options.stdout ?? "pipe", "pipe"],
          cwd: options.cwd,
        })
      : spawn(cmd, args, { stdio: ["ignore", options.stdout ?? "pipe", "pipe"], cwd: options.cwd });
    let lines = 0;
    let stderr = "";
    child.stdout?.on("data", (chunk) => {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(" ")} exited ${code}\n${stderr}`));
      const peak = /peak_rss_kib=(\d+)/.exec(stderr);
      const cpu = /cpu_seconds=([\d.]+) ([\d.]+)/.exec(stderr);
      resolveRun({
        ms,
        lines,
        peakMiB: peak ? Number(peak[1]) / 1024 : undefined,
        cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : undefined,
        stderr,
      });
    });
  });
}

const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const PEAK_RSS = `data:text/javascript,process.on("exit",()=>process.stderr.write("peak_rss_kib="+process.resourceUsage().maxRSS+"\\n"))`;

// ---------------------------------------------------------------- run

const jqVersion = ensureJq();
console.log(
  `vigil search/export benchmark: ${N.toLocaleString("en-US")} events, ${DAYS} daily files, ${jqVersion}, node ${process.version}`,
);
const t0 = Date.now();
const store = writeStore();
const bytes = store.paths.reduce((n, p) => n + statSync(p).size, 0);
console.log(
  `store ${store.cached ? `reused from ${store.dir}` : `written in ${fmt(Date.now() - t0)}`}: ${store.paths.length} files, ${(bytes / 1048576).toFixed(0)} MiB`,
);

try {
  // (a) vigil search vs jq, alternating rounds
  const vigil = [];
  const jq = [];
  const vigilDefault = [];
  const vigilCpu = [];
  const jqCpu = [];
  let counts;
  for (let r = 0; r < ROUNDS; r++) {
    const a = await time(process.execPath, [
      BIN,
      "search",
      QUERY,
      "--limit",
      "100000000",
      "--format",
      "ndjson",
      "--config",
      store.config,
    ]);
    const b = await time("jq", ["-c", JQ_FILTER, ...store.paths]);
    const c = await time(process.execPath, [BIN, "search", QUERY, "--config", store.config]);
    vigil.push(a.ms);
    jq.push(b.ms);
    vigilCpu.push(a.cpuMs);
    jqCpu.push(b.cpuMs);
    vigilDefault.push(c.ms);
    counts = { vigil: a.lines, jq: b.lines };
  }
  if (counts.vigil !== counts.jq)
    throw new Error(`selections differ: vigil ${counts.vigil}, jq ${counts.jq}`);
  const speedup = median(jq) / median(vigil);
  console.log(`\n(a) ${QUERY}: ${counts.vigil.toLocaleString("en-US")} matches (same count from both)`);
  console.log(
    `    vigil search (every match, ndjson)  ${fmt(median(vigil))}   [${vigil.map(fmt).join(", ")}]`,
  );
  console.log(`    jq -c select(...)                   ${fmt(median(jq))}   [${jq.map(fmt).join(", ")}]`);
  console.log(
    `    => vigil is ${speedup.toFixed(1)}x faster than jq (target >= 10x): ${speedup >= 10 ? "PASS" : "FAIL"}`,
  );
  if (vigilCpu[0] !== undefined)
    console.log(
      `    CPU time: vigil ${fmt(median(vigilCpu))}, jq ${fmt(median(jqCpu))} => ${(median(jqCpu) / median(vigilCpu)).toFixed(1)}x less CPU`,
    );
  console.log(`    vigil search (default --limit 100, table) ${fmt(median(vigilDefault))}`);

  // the seed's other jq recipes: one user's events; counts by category
  for (const [title, vigilArgs, jqCmd] of [
    [
      "user:alice (every match, ndjson)",
      ["search", "user:alice", "--limit", "100000000", "--format", "ndjson"],
      `jq -c 'select(.actor.username == "alice")' ${store.paths.map((p) => JSON.stringify(p)).join(" ")}`,
    ],
    [
      "counts by category (vigil stats --by category)",
      ["stats", "--by", "category", "--format", "json"],
      `jq -r '.action.category' ${store.paths.map((p) => JSON.stringify(p)).join(" ")} | sort | uniq -c`,
    ],
  ]) {
    const v = [];
    const j = [];
    const vc = [];
    const jc = [];
    let vigilLines = 0;
    let jqLines = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const a = await time(process.execPath, [BIN, ...vigilArgs, "--config", store.config]);
      const b = await time("bash", ["-c", jqCmd]);
      v.push(a.ms);
      j.push(b.ms);
      vc.push(a.cpuMs);
      jc.push(b.cpuMs);
      vigilLines = a.lines;
      jqLines = b.lines;
    }
    const ratio = median(j) / median(v);
    console.log(`\n(a) ${title}: vigil ${fmt(median(v))} [${v.map(fmt).join(", ")}] (${vigilLines} lines)`);
    console.log(`    jq: ${fmt(median(j))} [${j.map(fmt).join(", ")}] (${jqLines} lines)`);
    console.log(
      `    => vigil is ${ratio.toFixed(1)}x faster than jq (target >= 10x): ${ratio >= 10 ? "PASS" : "FAIL"}`,
    );
    if (vc[0] !== undefined)
      console.log(
        `    CPU time: vigil ${fmt(median(vc))}, jq ${fmt(median(jc))} => ${(median(jc) / median(vc)).toFixed(1)}x less CPU`,
      );
  }

  // (b) today: which files are opened, in process
  const { AuditEngine } = await import(pathToFileURL(join(DIST, "index.js")).href);
  const opened = new Set();
  // the reader opens files through fs/promises (chunked reads)
  const original = fs.promises.open;
  fs.promises.open = (path, ...rest) => {
    opened.add(basename(String(path)));
    return original(path, ...rest);
  };
  syncBuiltinESMExports();
  const engine = new AuditEngine({ configFile: store.config, env: {} });
  const timed = async (options) => {
    opened.clear();
    const t = process.hrtime.bigint();
    const found = await engine.search({ ...options, limit: Number.POSITIVE_INFINITY });
    return { ms: Number(process.hrtime.bigint() - t) / 1e6, found: found.length, files: [...opened] };
  };
  const today = await timed({ query: QUERY, timeRange: "today" });
  const all = await timed({ query: QUERY });
  await engine.close();
  fs.promises.open = original;
  syncBuiltinESMExports();
  const onlyToday = today.files.length === 1 && today.files[0] === store.todayName;
  console.log(`\n(b) in process, engine.search({ query, timeRange: "today" }):`);
  console.log(
    `    ${today.found.toLocaleString("en-US")} matches in ${fmt(today.ms)}, files opened: ${today.files.join(", ")}`,
  );
  console.log(`    => only today's file: ${onlyToday ? "PASS" : "FAIL"}`);
  console.log(
    `    the same over all ${DAYS} days: ${all.found.toLocaleString("en-US")} matches in ${fmt(all.ms)}, ${all.files.length} files opened`,
  );

  // (c) export everything: time and peak RSS of the process
  console.log("\n(c) vigil export of every event:");
  for (const format of (process.env.BENCH_EXPORT_FORMATS ?? "xlsx,csv").split(",").filter(Boolean)) {
    const out = join(store.dir, `all.${format}`);
    const run = await time(process.execPath, [
      "--import",
      PEAK_RSS,
      BIN,
      "export",
      "--output",
      out,
      "--config",
      store.config,
    ]);
    const size = statSync(out).size;
    const line = /exported ([\d,]+) events/.exec(run.stderr)?.[1];
    const ok = format !== "xlsx" || run.peakMiB < 300;
    console.log(
      `    ${format.padEnd(5)} ${line} events in ${fmt(run.ms)} (${Math.round((N * 1000) / run.ms).toLocaleString("en-US")} events/s), ` +
        `${(size / 1048576).toFixed(0)} MiB, peak RSS ${run.peakMiB.toFixed(0)} MiB${format === "xlsx" ? ` (target < 300 MiB): ${ok ? "PASS" : "FAIL"}` : ""}`,
    );
    rmSync(out, { force: true });
  }
} finally {
  if (process.env.BENCH_KEEP || store.cached || process.env.BENCH_CACHE !== "0")
    console.log(`\nstore kept in ${store.dir} (BENCH_CACHE=0 writes a fresh one and removes it)`);
  else rmSync(store.dir, { recursive: true, force: true });
}
