// Issue 14's OTLP figure: events per second through the `otlp` backend (mapping to the
// OpenTelemetry log data model, JSON encoding, gzip, one request per batch) to a receiver
// in another process, compared in the same run with a bare exporter posting the same
// log records, mapped beforehand outside the timing, with the same compression over the
// same connection pool: the ratio is the cost of the mapping and the backend's bookkeeping.
// Also the bytes on the wire per event, gzip vs none.
//
// Run: node --import tsx bench/otlp.bench.mjs
//      (BENCH_EVENTS per round, default 50,000; BENCH_BATCH events per write, default 500;
//      BENCH_ROUNDS, default 3.)
import { spawn } from "node:child_process";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { resolveConfig } from "../src/config/validate.ts";
import { OtlpBackend } from "../src/storage/otlp/backend.ts";
import { exportRequest, resourceAttributes, toLogRecord, unixNanos } from "../src/storage/otlp/mapping.ts";
import { inBatches, makeRecords } from "./event.mjs";
import { median } from "./stats.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 50_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const gzipAsync = promisify(gzip);

// the receiver: counts bytes and records, answers 200 {} (no decompression: same for both sides)
const receiver = spawn(
  process.execPath,
  [
    "-e",
    `const http = require("node:http");
     let bytes = 0;
     const s = http.createServer((req, res) => {
       req.on("data", (c) => { bytes += c.length; });
       req.on("end", () => { res.writeHead(200, { "content-type": "application/json" }); res.end("{}"); });
     });
     s.listen(0, "127.0.0.1", () => process.stdout.write(String(s.address().port) + "\\n"));
     process.on("message", () => { process.send(bytes); bytes = 0; });`,
  ],
  { stdio: ["ignore", "pipe", "inherit", "ipc"] },
);
const port = await new Promise((resolve) =>
  receiver.stdout.once("data", (d) => resolve(Number(String(d).trim()))),
);
const url = `http://127.0.0.1:${port}/v1/logs`;
const wireBytes = () =>
  new Promise((resolve) => {
    receiver.once("message", resolve);
    receiver.send("bytes?");
  });

const records = (round) => makeRecords(N, round * N);
const batches = (list) => inBatches(list, BATCH);

async function vigil(list, compression) {
  const config = resolveConfig(
    { storage: { backends: [{ type: "otlp", endpoint: url, compression, max_batch_size: BATCH }] } },
    { env: {} },
  ).storage.backends[0];
  const backend = new OtlpBackend(config);
  const started = performance.now();
  for (const b of batches(list)) await backend.write(b, { sync: false });
  const ms = performance.now() - started;
  await backend.close();
  return ms;
}

async function raw(list, compression) {
  // mapped outside the timing: what remains is encoding, compression and the request
  const observed = unixNanos(new Date().toISOString());
  const resource = resourceAttributes(list[0].event.application);
  const prepared = batches(list).map((b) => b.map((r) => toLogRecord(r.event, r.line, observed)));
  const headers = {
    "content-type": "application/json",
    ...(compression === "gzip" ? { "content-encoding": "gzip" } : {}),
  };
  const started = performance.now();
  for (const logRecords of prepared) {
    const json = JSON.stringify(exportRequest([{ resource, records: logRecords }], "0"));
    const body = compression === "gzip" ? await gzipAsync(json) : Buffer.from(json);
    const res = await fetch(url, { method: "POST", headers, body });
    await res.text();
  }
  return performance.now() - started;
}

const rate = (ms) => Math.round((N / ms) * 1000);

console.log(
  `${N} events per round, ${BATCH} per write/request, ${ROUNDS} rounds, receiver in another process`,
);
for (const compression of ["gzip", "none"]) {
  const v = [];
  const r = [];
  let vBytes = 0;
  let rBytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const list = records(round);
    await wireBytes();
    // alternate which goes first
    if (round % 2 === 0) {
      v.push(await vigil(list, compression));
      vBytes = await wireBytes();
      r.push(await raw(list, compression));
      rBytes = await wireBytes();
    } else {
      r.push(await raw(list, compression));
      rBytes = await wireBytes();
      v.push(await vigil(list, compression));
      vBytes = await wireBytes();
    }
  }
  const vm = median(v);
  const rm = median(r);
  console.log(
    `compression ${compression}: vigil otlp ${rate(vm).toLocaleString("en")} events/s, bare exporter ${rate(rm).toLocaleString("en")} events/s, ratio ${(rm / vm).toFixed(2)}x; ` +
      `${(vBytes / N).toFixed(0)} bytes/event on the wire (bare ${(rBytes / N).toFixed(0)})`,
  );
}
receiver.kill();
