/**
 * One producer process of the cluster scenario: `node --import tsx producer.ts CONFIG IDS N MS`
 * logs N events spread over about MS milliseconds through an engine whose backend is
 * `type: nats`, closes it (buffered events are published, the final checkpoint signed), and
 * writes the ids it logged to IDS, one a line. Exit status 0 only when every event reached
 * the stream.
 */
import { writeFileSync } from "node:fs";
import { AuditEngine } from "../../src/engine.js";

const [configFile, idsFile, n, ms] = process.argv.slice(2);
const total = Number(n);
const spread = Number(ms);
const engine = new AuditEngine({ configFile });
/** Events the nats backend could not keep (a full buffer, or close with events it could not publish). */
let lost = 0;
engine.on("error", (err) => {
  const e = err as { buffered?: boolean; events?: number };
  if (e.buffered === false) lost += e.events ?? 0;
  process.stderr.write(`producer ${process.pid}: ${err.message}\n`);
});
const ids: string[] = [];
const chunk = 25;
const start = Date.now();
for (let i = 0; i < total; i += chunk) {
  for (let k = i; k < Math.min(total, i + chunk); k++) {
    ids.push(
      engine.log({ action: "ORDER_PLACED", category: "SHOP", params: { producer: process.pid, k } })!.id,
    );
  }
  const due = start + (spread * Math.min(total, i + chunk)) / total;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
await engine.close();
writeFileSync(idsFile!, `${ids.join("\n")}\n`);
const m = engine.metrics();
process.stderr.write(`producer ${process.pid}: ${ids.length} logged, ${lost} lost\n`);
process.exit(lost === 0 && m.dropped === 0 ? 0 : 1);
