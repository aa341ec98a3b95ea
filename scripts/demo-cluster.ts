/**
 * `npm run demo:cluster`: the scale-out scenario of docs/scale-out.md, run on this machine —
 * producer processes → a private NATS JetStream server → `vigil ingest` workers → PostgreSQL
 * (127.0.0.1:5432, database `test`, or $VIGIL_TEST_PG_*), with one worker killed (SIGKILL)
 * and NATS restarted mid-run. Prints what happens and the outcome: every event exactly once,
 * every chain verified. Options: `--producers N --workers N --events N --seconds S`.
 */
import { parseArgs } from "node:util";
import { runCluster } from "../test/scale/cluster.js";

const { values } = parseArgs({
  options: {
    producers: { type: "string", default: "4" },
    workers: { type: "string", default: "2" },
    events: { type: "string", default: "5000" },
    seconds: { type: "string", default: "10" },
  },
});
const producers = Number(values.producers);
const workers = Number(values.workers);
const events = Number(values.events);
const spreadMs = Number(values.seconds) * 1000;
const t0 = Date.now();
const r = await runCluster({
  producers,
  workers,
  events,
  spreadMs,
  log: (line) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`),
});
console.log(r.verifyOutput.trim());
const ok =
  r.rows === r.logged &&
  r.distinct === r.logged &&
  r.missing === 0 &&
  r.unexpected === 0 &&
  r.verifyCode === 0 &&
  r.producerExits.every((c) => c === 0) &&
  r.workerExits.every((c) => c === 0);
console.log(
  `${r.logged} events logged by ${producers} producers; ${r.rows} rows, ${r.distinct} distinct ids, ` +
    `${r.missing} lost, ${r.rows - r.distinct + r.unexpected} duplicated or unexpected; ` +
    `${(r.logged / (r.elapsedMs / 1000)).toFixed(0)} events/s end to end (${(r.elapsedMs / 1000).toFixed(1)} s, including the chaos), ` +
    `deepest lag ${r.maxLag}; verify exit ${r.verifyCode}`,
);
console.log(ok ? "OK: every event exactly once, every chain verified" : "FAILED");
process.exit(ok ? 0 : 1);
