/**
 * PostgreSQL partitioning (issue 14, item 4): searches over N rows (default 5,000,000)
 * spread over 60 days in a table partitioned by day, compared in the same run with the same
 * rows in an unpartitioned table (the reference). Rows are generated inside PostgreSQL
 * (`INSERT … SELECT generate_series`, events of the seed's shape) so the bench measures
 * reading, not vigil's insert rate. For each query: the median (and range) of vigil's first
 * page (`engine.searchPage`, 100 events, 7 runs) on both tables, the process's CPU time per
 * page beside it, and the plan of the very statement vigil sent (`EXPLAIN ANALYZE`: which
 * index, how many rows read, how many partitions touched).
 *
 *   node --import tsx bench/partitions.bench.mjs [rows]
 *
 * Tables are those of test/conformance/sql-servers.ts's PostgreSQL and are dropped at the end.
 */

import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { AuditEngine } from "../src/engine.ts";
import { dropTable, POSTGRES, pgQuery } from "../test/conformance/sql-servers.ts";
import { median } from "./stats.mjs";

/** The last page statement vigil sent (text and values), to explain it as it was. */
let lastPage;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (text, values, ...rest) {
  if (typeof text === "string" && text.startsWith("SELECT") && / ORDER BY ts (DESC|ASC), id /.test(text)) {
    lastPage = { text, values };
  }
  return query.call(this, text, values, ...rest);
};

const ROWS = Number(process.argv[2] ?? 5_000_000);
const DAYS = 60;
const END = Date.UTC(2026, 10, 30); // the data ends on November 30th, 2026
const START = END - DAYS * 86_400_000;
const step = (DAYS * 86_400_000) / ROWS;
const partitioned = `bench_part_${process.pid}`;
const plain = `bench_plain_${process.pid}`;

function engineOn(table, partitioning) {
  return new AuditEngine({
    config: {
      core: { application_name: "bench" },
      storage: { backends: [{ type: "database", connection: POSTGRES, table_name: table, partitioning }] },
    },
    env: {},
  });
}

/** Fills `table` with rows `from` ≤ g < `to` of the series, all made inside the server. */
async function fill(table, from, to) {
  await pgQuery(`
    INSERT INTO "${table}" (id, ts, severity, category, type, actor_username, actor_id, status,
      resource_path, security_event, tenant, line, event)
    SELECT id, ts, sev, cat, typ, usr, NULL, st, NULL, sec, NULL, line, line::jsonb FROM (
      SELECT s.*, json_build_object(
          'schema_version', 1, 'id', s.id,
          'timestamp', to_char(s.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'severity', s.sev, 'security_event', s.sec,
          'application', json_build_object('name', 'traffictracer', 'version', '2.0.0'),
          'actor', json_build_object('username', s.usr, 'ip', '10.0.0.' || (s.g % 250)),
          'action', json_build_object('type', s.typ, 'category', s.cat),
          'result', json_build_object('status', s.st, 'duration_ms', (s.g % 900) / 10.0)
        )::text AS line
      FROM (
        SELECT g, gen_random_uuid() AS id,
          to_timestamp((${START}::float8 + g::float8 * ${step}::float8) / 1000.0) AS ts,
          (ARRAY['DATABASE','API','AUTHENTICATION','SYSTEM'])[1 + g % 4] AS cat,
          (ARRAY['QUERY','HTTP_REQUEST','LOGIN','CONNECTION_CREATE'])[1 + g % 4] AS typ,
          'user' || (g % 5000) AS usr,
          CASE WHEN g % 50 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END AS st,
          CASE WHEN g % 50 = 0 THEN 'WARNING' ELSE 'INFO' END AS sev,
          g % 4 = 2 AS sec
        FROM generate_series(${from}, ${to - 1}) AS g
      ) s
    ) x`);
}

const QUERIES = [
  { name: "failed logins, last 7 days", query: "action.type:LOGIN AND result.status:FAILURE", days: 7 },
  { name: "one actor, last 30 days", query: "actor.username:user4242", days: 30 },
  { name: "category, one day", query: "action.category:DATABASE", days: 1 },
  { name: "everything, last 24 hours", query: undefined, days: 1 },
];

/** vigil's first page of `q`: median, fastest and slowest of 7 runs, CPU ms per page, and its plan. */
async function firstPage(engine, q) {
  const to = new Date(END);
  const from = new Date(END - q.days * 86_400_000);
  const times = [];
  let n = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const page = await engine.searchPage({ query: q.query, from, to, limit: 100 });
    times.push(performance.now() - t0);
    n = page.events.length;
  }
  const cpu = process.cpuUsage(cpu0);
  const rows = await pgQuery(`EXPLAIN (ANALYZE, COSTS OFF) ${lastPage.text}`, lastPage.values);
  return {
    ms: median(times),
    min: Math.min(...times),
    max: Math.max(...times),
    cpu: (cpu.user + cpu.system) / 1000 / 7,
    n,
    plan: rows.map((r) => r["QUERY PLAN"]).join("\n"),
  };
}

const range = (r) =>
  `${r.ms.toFixed(1)} ms (${r.min.toFixed(1)}–${r.max.toFixed(1)}; CPU ${r.cpu.toFixed(1)})`;

const partitionsTouched = async (days) => {
  const rows = await pgQuery(
    `EXPLAIN (COSTS OFF) SELECT line FROM "${partitioned}" WHERE ts >= $1::timestamptz AND ts < $2::timestamptz ORDER BY ts DESC, id DESC LIMIT 100`,
    [new Date(END - days * 86_400_000).toISOString(), new Date(END).toISOString()],
  );
  const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
  return { plan, touched: new Set(plan.match(new RegExp(`${partitioned}_p\\d{8}`, "g"))).size };
};

console.log(`${ROWS.toLocaleString("en")} rows over ${DAYS} days; load average ${loadavg()[0].toFixed(1)}`);
const a = engineOn(partitioned, "daily");
const b = engineOn(plain, "none");
try {
  await a.count({}); // creates the tables (and the partitions of today and ahead)
  await b.count({});
  // the partitions of the data's 60 days
  for (let d = 0; d <= DAYS; d++) {
    const day = new Date(START + d * 86_400_000).toISOString().slice(0, 10);
    const next = new Date(START + (d + 1) * 86_400_000).toISOString().slice(0, 10);
    await pgQuery(
      `CREATE TABLE IF NOT EXISTS "${partitioned}_p${day.replaceAll("-", "")}" PARTITION OF "${partitioned}" FOR VALUES FROM ('${day}T00:00:00Z') TO ('${next}T00:00:00Z')`,
    );
  }
  const t0 = performance.now();
  const CHUNK = 500_000;
  for (let g = 0; g < ROWS; g += CHUNK) {
    await fill(partitioned, g, Math.min(ROWS, g + CHUNK));
    process.stdout.write(`  filled ${Math.min(ROWS, g + CHUNK).toLocaleString("en")}\r`);
  }
  await pgQuery(
    `INSERT INTO "${plain}" (id, ts, severity, category, type, actor_username, actor_id, status, resource_path, security_event, tenant, line, event)
     SELECT id, ts, severity, category, type, actor_username, actor_id, status, resource_path, security_event, tenant, line, event FROM "${partitioned}"`,
  );
  await pgQuery(`ANALYZE "${partitioned}"`);
  await pgQuery(`ANALYZE "${plain}"`);
  console.log(`generated both tables in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const plans = [];
  console.log(
    "\n| query | partitioned: first page, median (range; client CPU) | unpartitioned (reference) | ratio | events |",
  );
  console.log("|---|---|---|---|---|");
  for (const q of QUERIES) {
    const p = await firstPage(a, q);
    const r = await firstPage(b, q);
    console.log(`| ${q.name} | ${range(p)} | ${range(r)} | ${(r.ms / p.ms).toFixed(2)}x | ${p.n} |`);
    plans.push(`-- ${q.name}, partitioned:\n${p.plan}\n-- ${q.name}, unpartitioned:\n${r.plan}`);
  }
  console.log(`\nPlans of the statements vigil sent (EXPLAIN ANALYZE, last run):\n\n${plans.join("\n\n")}`);
  const { plan, touched } = await partitionsTouched(1);
  console.log(`\nA one-day range touches ${touched} of ${DAYS + 1}+ partitions:\n${plan}`);
} finally {
  await a.close();
  await b.close();
  await dropTable("postgresql", partitioned);
  await dropTable("postgresql", plain);
}
