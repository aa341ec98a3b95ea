// Runs vigil's benchmarks, each in its own process so none disturbs another's memory
// or JIT state. `npm run bench` runs all; `npm run bench -- engine search` runs some.
// Each benchmark compares vigil with its reference in the same run (see bench/README.md).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const BENCHES = {
  engine: { file: "engine.bench.mjs", what: "engine.log() vs pino 10 vs raw writeSync (issue 2)" },
  sanitize: { file: "sanitize.bench.mjs", what: "sanitizer vs a JSON copy", tsx: true },
  search: {
    file: "search.bench.mjs",
    what: "file search vs jq over 1M events; xlsx export memory (issue 3)",
  },
  sql: { file: "sql-insert.bench.mjs", what: "SQL inserts vs the raw drivers (issue 4)", tsx: true },
  integrity: { file: "integrity.bench.mjs", what: "hash chain cost and verify speed (issue 5)", tsx: true },
  "sql-verify": {
    file: "sql-verify.bench.mjs",
    what: "verify of SQLite, PostgreSQL and MariaDB rows vs the same events in files (issue 5)",
    tsx: true,
  },
  http: { file: "http.bench.mjs", what: "Express with/without vigil vs pino-http (issue 6)", tsx: true },
  app: {
    file: "app.bench.mjs",
    what: "the TrafficTracer example's API with auditing off, with the full integration, with pino-http (issue 13)",
    tsx: true,
  },
  viewer: {
    file: "viewer.bench.mjs",
    what: "the viewer's API server time over 1,000,000 events on SQLite, PostgreSQL and files (issue 11)",
    tsx: true,
  },
  "viewer-tail": {
    file: "viewer-tail.bench.mjs",
    what: "the viewer page in Chromium while live tail receives 100 events/s, vs the page without tail (issue 11)",
    tsx: true,
  },
  otlp: {
    file: "otlp.bench.mjs",
    what: "the otlp backend vs a bare OTLP/HTTP exporter posting pre-mapped records (issue 14)",
    tsx: true,
  },
  partitions: {
    file: "partitions.bench.mjs",
    what: "searches over 5M rows in a PostgreSQL table partitioned by day vs unpartitioned (issue 14)",
    tsx: true,
  },
  outbox: {
    file: "outbox.bench.mjs",
    what: "a transaction with and without its audit event in the outbox; relay rate (issue 15)",
    tsx: true,
  },
  nats: {
    file: "nats-ingest.bench.mjs",
    what: "4 producers → NATS → 2 vigil ingest → PostgreSQL vs raw COPY of the same rows (issue 14)",
    tsx: true,
  },
  worker: {
    file: "worker-handoff.bench.mjs",
    what: "cost of handing events to a worker vs serializing them",
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!(name in BENCHES)) {
    console.error(`unknown benchmark "${name}": expected one of ${Object.keys(BENCHES).join(", ")}`);
    process.exit(2);
  }
}
let failed = 0;
for (const [name, b] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const path = `${here}${b.file}`;
  if (!existsSync(path)) continue;
  console.log(`\n### ${name}: ${b.what}`);
  const args = b.tsx ? ["--import", "tsx", path] : [path];
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.error(`${name} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
