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
// CPU time (user + system of the process, per event) is printed beside each rate: on a
// loaded machine wall time lies more than CPU time does.
//
// Run: npm run bench:engine   (or: npm run build && node bench/engine.bench.mjs)
//      BENCH_LIB=<path of another build's index.js> measures that build instead (old and
//      new builds alternated in separate runs); BENCH_EVENTS, BENCH_ROUNDS.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setImmediate as tick } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { makeEvent, makeLogInput } from "./event.mjs";
import { median } from "./stats.mjs";

const { AuditEngine } = await import(
  process.env.BENCH_LIB ? pathToFileURL(resolve(process.env.BENCH_LIB)).href : "../dist/index.js"
);

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

/** Events per second, and CPU time per event in ns (the whole process: both threads' share). */
async function throughput(logOne, finish) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i += BURST) {
    for (let j = i; j < i + BURST && j < N; j++) logOne(j);
    await tick();
  }
  await finish();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  return { rate: N / s, cpu: ((cpu.user + cpu.system) * 1000) / N };
}

function rawLimit(dir) {
  const fd = openSync(join(dir, "raw.log"), "a");
  const c0 = process.cpuUsage();
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
  const cpu = process.cpuUsage(c0);
  return {
    rate: N / (Number(process.hrtime.bigint() - t0) / 1e9),
    cpu: ((cpu.user + cpu.system) * 1000) / N,
  };
}

const results = {
  vigilCall: [],
  pinoCall: [],
  vigilTput: [],
  signedTput: [],
  pinoTput: [],
  raw: [],
  vigilCpu: [],
  signedCpu: [],
  pinoCpu: [],
  rawCpu: [],
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
    results.vigilTput.push(tput.rate);
    results.vigilCpu.push(tput.cpu);
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
    results.pinoTput.push(tput.rate);
    results.pinoCpu.push(tput.cpu);
    results.pinoPeak.push(peak);
    dest.end();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const engine = vigilEngine(dir, true);
    const signed = await throughput(
      (i) => engine.log(inputs[i]),
      () => engine.flush(),
    );
    results.signedTput.push(signed.rate);
    results.signedCpu.push(signed.cpu);
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  {
    const dir = mkdtempSync(join(tmpdir(), "vigil-bench-"));
    const raw = rawLimit(dir);
    results.raw.push(raw.rate);
    results.rawCpu.push(raw.cpu);
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
const us = (xs) => `${(median(xs) / 1000).toFixed(2)} µs`;
console.log(
  `engine benchmark: ${fmt(N)} reference events x ${ROUNDS} rounds (medians, range), node ${process.version}, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(" ")}`,
);
console.log(`    build ${process.env.BENCH_LIB ?? "dist/index.js"}`);
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
  `    CPU per event           vigil ${us(results.vigilCpu)}   signed ${us(results.signedCpu)}   pino ${us(results.pinoCpu)}   raw ${us(results.rawCpu)}   vigil/raw ${(median(results.rawCpu) / median(results.vigilCpu)).toFixed(2)}x   signed vs pino ${(median(results.pinoCpu) / median(results.signedCpu)).toFixed(2)}x (as throughput)`,
);
console.log(
  `    peak RSS during (b)     vigil ${median(results.vigilPeak).toFixed(0)} MiB   pino ${median(results.pinoPeak).toFixed(0)} MiB (includes the ${fmt(N)} prepared inputs)`,
);
