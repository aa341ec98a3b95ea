// Issue 2's benchmark: vigil's engine.log() against pino 10 (asynchronous file
// destination) and against a raw JSON.stringify + fs.writeSync of 64 KiB chunks,
// on the same reference events (bench/event.mjs), in the same run.
//
//   (a) caller time per event: time spent inside log()/info() in bursts of 1,000
//       (below the queue size), the writer draining between bursts;
//   (b) sustained events/s to a file, sanitization on, everything flushed to the OS;
//   (c) the raw limit: stringify + writeSync in 64 KiB chunks;
//   (d) as (b) with the store signed (hash chain, HMAC checkpoints).
// Peak RSS is sampled during (b). Rounds alternate so machine noise hits all alike.
//
// Run: npm run bench:engine   (or: npm run build && node bench/engine.bench.mjs)
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import pino from "pino";
import { AuditEngine } from "../dist/index.js";
import { makeEvent, makeLogInput } from "./event.mjs";
import { median } from "./stats.mjs";

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BURST = 1000;

const inputs = Array.from({ length: N }, (_, i) => makeLogInput(i));
const events = Array.from({ length: N }, (_, i) => makeEvent(i));

function vigilEngine(dir, signed = false) {
  return new AuditEngine({
    env: {},
    config: {
      core: { application_name: "traffictracer", version: "2.0.0", environment: "production" },
      storage: { backends: [{ type: "file", directory: dir }] },
      processing: { sanitization: { enabled: true } },
      performance: { durability: "none" },
      security: signed
        ? { signing: { enabled: true, secret_key: "bench-secret-0123456789abcdef" } }
        : { signing: { enabled: false } },
    },
  });
}

function pinoLogger(dir) {
  const dest = pino.destination({ dest: join(dir, "pino.log"), sync: false });
  return { logger: pino({ base: null }, dest), dest };
}

function flushPino(dest) {
  return new Promise((resolve) => {
    dest.flush(() => resolve());
  });
}

/** Run `body` with peak-RSS sampling; returns [result, peakMiB]. */
async function withPeak(body) {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const r = await body();
  clearInterval(t);
  peak = Math.max(peak, process.memoryUsage().rss);
  return [r, peak / 1048576];
}

async function callerTime(logOne) {
  let inside = 0n;
  for (let i = 0; i < N; i += BURST) {
    const t0 = process.hrtime.bigint();
    for (let j = i; j < i + BURST && j < N; j++) logOne(j);
    inside += process.hrtime.bigint() - t0;
    await tick(); // let the writer work between bursts, outside the measurement
  }
  return Number(inside) / N; // ns per call
}

async function throughput(logOne, finish) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i += BURST) {
    for (let j = i; j < i + BURST && j < N; j++) logOne(j);
    await tick();
  }
  await finish();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return N / s;
}

function rawLimit(dir) {
  const fd = openSync(join(dir, "raw.log"), "a");
  const t0 = process.hrtime.bigint();
  let chunk = "";
  for (let i = 0; i < N; i++) {
    chunk += `${JSON.stringify(events[i])}\n`;
    if (chunk.length >= 64 * 1024) {
      writeSync(fd, chunk);
      chunk = "";
    }
  }
  if (chunk) writeSync(fd, chunk);
  closeSync(fd);
  return N / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const results = {
  vigilCall: [],
  pinoCall: [],
  vigilTput: [],
  signedTput: [],
  pinoTput: [],
  raw: [],
  vigilPeak: [],
  pinoPeak: [],
};
for (let round = 0; round < ROUNDS; round++) {
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const engine = vigilEngine(dir);
    results.vigilCall.push(await callerTime((i) => engine.log(inputs[i])));
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const { logger, dest } = pinoLogger(dir);
    results.pinoCall.push(await callerTime((i) => logger.info(events[i])));
    await flushPino(dest);
    dest.end();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const engine = vigilEngine(dir);
    const [tput, peak] = await withPeak(() =>
      throughput(
        (i) => engine.log(inputs[i]),
        () => engine.flush(),
      ),
    );
    results.vigilTput.push(tput);
    results.vigilPeak.push(peak);
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const { logger, dest } = pinoLogger(dir);
    const [tput, peak] = await withPeak(() =>
      throughput(
        (i) => logger.info(events[i]),
        () => flushPino(dest),
      ),
    );
    results.pinoTput.push(tput);
    results.pinoPeak.push(peak);
    dest.end();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const engine = vigilEngine(dir, true);
    results.signedTput.push(
      await throughput(
        (i) => engine.log(inputs[i]),
        () => engine.flush(),
      ),
    );
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    results.raw.push(rawLimit(dir));
    rmSync(dir, { recursive: true, force: true });
  }
}

const spread = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`;
const vc = median(results.vigilCall);
const pc = median(results.pinoCall);
const vt = median(results.vigilTput);
const st = median(results.signedTput);
const pt = median(results.pinoTput);
const raw = median(results.raw);
const fmt = (n) => Math.round(n).toLocaleString("en-US");
console.log(
  `engine benchmark: ${fmt(N)} reference events x ${ROUNDS} rounds (medians, range), node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
console.log(
  `(a) caller time per event   vigil ${vc.toFixed(0)} ns   pino ${pc.toFixed(0)} ns   ratio ${(vc / pc).toFixed(2)}x (target <= 0.25x)`,
);
console.log(
  `(b) sustained events/s      vigil ${fmt(vt)} (${spread(results.vigilTput)})   pino ${fmt(pt)} (${spread(results.pinoTput)})   ratio ${(vt / pt).toFixed(2)}x`,
);
console.log(
  `(c) raw stringify+writeSync ${fmt(raw)} events/s (${spread(results.raw)})   vigil/raw ${(vt / raw).toFixed(2)}x (target >= 0.7x)`,
);
console.log(
  `(d) signed, sustained       vigil ${fmt(st)} (${spread(results.signedTput)})   vs pino ${(st / pt).toFixed(2)}x (target >= 1.2x)   vs unsigned ${(st / vt).toFixed(2)}x`,
);
console.log(
  `    peak RSS during (b)     vigil ${median(results.vigilPeak).toFixed(0)} MiB   pino ${median(results.pinoPeak).toFixed(0)} MiB (includes the ${fmt(N)} prepared inputs)`,
);
