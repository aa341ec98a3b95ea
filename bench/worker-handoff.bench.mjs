// Why vigil processes batches on the main thread (performance.async.worker_threads):
// what handing an event to a worker thread costs the sending thread, compared with
// JSON.stringify — the work a worker would be meant to take off it.
//
// Run: npm run bench -- worker
import { MessageChannel } from "node:worker_threads";
import { makeLogInput } from "./event.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const inputs = Array.from({ length: N }, (_, i) => makeLogInput(i));
const { port1, port2 } = new MessageChannel();
port2.on("message", () => {});
port1.unref();
port2.unref();

const perEvent = (ms) => ((ms * 1e3) / N).toFixed(2);
for (let round = 1; round <= 3; round++) {
  let t = performance.now();
  for (let i = 0; i < N; i += 100) port1.postMessage(inputs.slice(i, i + 100));
  const post = performance.now() - t;
  t = performance.now();
  for (const x of inputs) JSON.stringify(x);
  const stringify = performance.now() - t;
  console.log(
    `round ${round}: postMessage in batches of 100 ${perEvent(post)} µs/event, JSON.stringify ${perEvent(stringify)} µs/event, ratio ${(post / stringify).toFixed(2)}x`,
  );
}
