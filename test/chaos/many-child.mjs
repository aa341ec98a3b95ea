// A process of "many processes, one store" (test/chaos/many.ts). Its job comes in
// VIGIL_MANY (JSON): { config, role, who, events, old, pauseEvery, pauseMs, workers }.
//   role "write":   log `events` numbered events ({ w: who, i }), the first `old` of them
//                   stamped three days ago (for the retention phase), pausing `pauseMs`
//                   every `pauseEvery` events; close; print RESULT.
//   role "retain":  apply retention (`days: 2`) once, at the same moment as the others; print RESULT.
//   role "cluster": as a `node:cluster` primary, fork `workers` workers that each do
//                   `write` (who = 0..workers-1) and print every worker's RESULT.
// RESULT {"who","pid","logged","dropped","errors":[...],"warnings":[...],"deleted"}
// Imports the built package (dist/).
import cluster from "node:cluster";
import { AuditEngine } from "../../dist/index.js";

const job = JSON.parse(process.env.VIGIL_MANY ?? "{}");
const DAY = 86_400_000;

/** An engine on the store, with what it reports collected. */
function start() {
  const engine = new AuditEngine({ config: job.config, env: {} });
  const errors = [];
  const warnings = [];
  engine.on("error", (err) => errors.push(`${err?.code ?? ""} ${err?.message ?? err}`));
  engine.on("warning", (w) => warnings.push(String(w)));
  return { engine, errors, warnings };
}

async function write(who) {
  const { engine, errors, warnings } = start();
  let logged = 0;
  let dropped = 0;
  const old = new Date(Date.now() - 3 * DAY).toISOString();
  for (let i = 0; i < job.events; i++) {
    const event = engine.log({
      action: "MANY_WRITE",
      category: "MANY",
      actor: { username: `user${i % 97}` },
      metadata: { w: who, i, pid: process.pid, note: "one of many processes writing one store" },
      ...(i < job.old ? { timestamp: old } : {}),
    });
    if (event === undefined) dropped++;
    else logged++;
    if (job.pauseEvery > 0 && i % job.pauseEvery === job.pauseEvery - 1)
      await new Promise((resolve) => setTimeout(resolve, job.pauseMs));
  }
  await engine.close();
  return { who, pid: process.pid, logged, dropped, errors, warnings };
}

async function retain(who) {
  const { engine, errors, warnings } = start();
  let deleted = 0;
  try {
    for (const r of await engine.applyRetention({ days: 2 })) deleted += r.deletedEvents;
  } catch (err) {
    errors.push(`applyRetention: ${err?.code ?? ""} ${err?.message ?? err}`);
  }
  await engine.close();
  return { who, pid: process.pid, logged: 0, dropped: 0, errors, warnings, deleted };
}

const print = (result) => process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);

if (job.role === "cluster" && cluster.isPrimary) {
  const results = [];
  await new Promise((resolve, reject) => {
    let left = job.workers;
    for (let w = 0; w < job.workers; w++) {
      const worker = cluster.fork({ VIGIL_MANY_WHO: String(w) });
      worker.on("message", (m) => results.push(m));
      worker.on("exit", (code) => {
        if (code !== 0) reject(new Error(`worker ${w} exited with ${code}`));
        else if (--left === 0) resolve();
      });
    }
  });
  for (const r of results) print(r);
} else if (job.role === "cluster") {
  const result = await write(Number(process.env.VIGIL_MANY_WHO));
  process.send(result);
  process.disconnect();
} else if (job.role === "retain") {
  print(await retain(job.who));
} else {
  print(await write(job.who));
}
