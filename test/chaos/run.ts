/**
 * `npm run chaos [scenario ...] [--short] [--no-write]`: runs the long form of each chaos
 * scenario (all of them when none is named), prints its table, and writes the figures
 * into docs/reliability.md between `<!-- chaos:<scenario> -->` markers. The short forms
 * run inside `npm test` (test/chaos/*.test.ts).
 *
 * Scenarios: crash (the SIGKILL matrix), clock (the wall clock stepped back and forward),
 * db (databases stopped, killed, slowed, the application's pool exhausted).
 * disk (a full disk, permissions, a deleted directory, EMFILE, logrotate).
 * many (four processes, as a cluster and as unrelated programs, on one file store and one
 * SQLite file), soak (`--minutes N`, default 15: memory, descriptors, queue and p99 over a long run).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { clockScenario } from "./clock.js";
import { CRASH_MODES, type CrashCell, crashCell } from "./crash.js";
import { DB_FAULTS, type DbCell, dbCell, destroyDbServers, startDbServers } from "./db.js";
import { DISK_SCENARIOS, diskScenario } from "./disk.js";
import { MANY_LAUNCHES, MANY_STORES, type ManyCell, manyCell } from "./many.js";
import { soak as soakRun } from "./soak.js";
import { STORE_KINDS } from "./stores.js";

type Scenario = (short: boolean) => Promise<string>;

function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const crash: Scenario = async (short) => {
  // 50 kills per store and mode, signing on in half of them
  const kills = short ? 2 : 25;
  const cells: CrashCell[] = [];
  for (const store of STORE_KINDS)
    for (const mode of CRASH_MODES)
      for (const signed of [true, false]) {
        const cell = await crashCell({ store, mode, signed, kills });
        cells.push(cell);
        process.stderr.write(
          `crash ${store} ${mode} ${signed ? "signed" : "unsigned"}: ${JSON.stringify(cell)}\n`,
        );
      }
  const rows = STORE_KINDS.flatMap((store) =>
    CRASH_MODES.map((mode) => {
      const both = cells.filter((c) => c.store === store && c.mode === mode);
      const sum = (f: (c: CrashCell) => number) => both.reduce((n, c) => n + f(c), 0);
      const signed = both.find((c) => c.signed)!;
      return [
        store,
        mode === "durable" ? "logDurable" : mode === "event" ? "durability: event" : "async (default)",
        sum((c) => c.kills),
        sum((c) => c.logged).toLocaleString("en"),
        sum((c) => c.acknowledged).toLocaleString("en"),
        sum((c) => c.lostAcknowledged),
        `${Math.max(...both.map((c) => c.worstLossPerKill)).toLocaleString("en")} (≤ ${signed.lossBound.toLocaleString("en")})`,
        sum((c) => c.dropped).toLocaleString("en"),
        sum((c) => c.holes),
        sum((c) => c.duplicates),
        `${sum((c) => c.tornUnreported)} / ${sum((c) => c.tornRepaired)}`,
        `${signed.verifyAfterCrashes} / ${signed.verifyAfterTamper}`,
      ];
    }),
  );
  return table(
    [
      "store",
      "mode",
      "kills",
      "logged",
      "acknowledged",
      "acknowledged lost",
      "worst loss per kill (bound)",
      "dropped (recorded)",
      "holes",
      "duplicates",
      "torn lines unreported / repaired",
      "verify after crashes / after an edit",
    ],
    rows,
  );
};

const clock: Scenario = async (short) => {
  const f = await clockScenario(short ? 300 : 5000);
  return table(
    ["events", "unique ids", "ids out of order", "in another day's file", "files", "range counts", "verify"],
    [
      [
        f.events,
        f.uniqueIds,
        f.idsOutOfOrder,
        f.wrongDayFile,
        f.files.length,
        f.rangeCounts.join(", "),
        f.verify,
      ],
    ],
  );
};

const FAULT_NAMES: Record<DbCell["fault"], string> = {
  "pg-restart": "PostgreSQL stopped (`pg_ctl stop -m fast`) and started",
  "mariadb-kill": "MariaDB killed (SIGKILL) and restarted",
  latency: "network path slowed (25 ms per chunk each way)",
  "pool-exhausted": "application's own `pg` pool exhausted",
};

const db: Scenario = async (short) => {
  const servers = await startDbServers();
  const cells: DbCell[] = [];
  const loads: number[] = [];
  try {
    for (const fault of DB_FAULTS) {
      const cell = await dbCell(
        servers,
        short
          ? { fault, rate: 1000, beforeMs: 500, faultMs: 1500, afterMs: 1000, queueSize: 2000 }
          : { fault, rate: 1000, beforeMs: 5000, faultMs: 8000, afterMs: 8000, queueSize: 5000 },
      );
      cells.push(cell);
      loads.push(loadavg()[0]!);
      process.stderr.write(`db ${fault}: ${JSON.stringify(cell)}\n`);
    }
  } finally {
    await destroyDbServers(servers);
  }
  const us = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
  const n = (x: number) => x.toLocaleString("en");
  const figures = table(
    [
      "fault",
      "log() p50 / p99 µs: before · during · after",
      "logged (rate)",
      "dropped: seen (after the fault) / counted / recorded",
      "lost",
      "doubled",
      "max backlog: engine / measured at restart (bound)",
      "heap growth",
      "after the fault: reconnected / backlog normal",
      "logDurable resolved / rejected / resolved but lost",
      "errors reported",
    ],
    cells.map((c) => [
      FAULT_NAMES[c.fault],
      c.phases.map((p) => `${us(p.p50Us)} / ${us(p.p99Us)}`).join(" · "),
      `${n(c.logged)} (${n(c.achievedRate)}/s)`,
      `${n(c.droppedSeen)} (${n(c.droppedAfter)}) / ${n(c.droppedMetric)} / ${n(c.droppedRecorded)}`,
      c.missing,
      c.duplicates,
      `${n(c.maxBacklog)} / ${c.fault === "pg-restart" || c.fault === "mariadb-kill" ? n(c.outageBacklog) : "–"} (≤ ${n(c.backlogBound)})`,
      `${c.heapGrowthMb.toFixed(1)} MB`,
      `${(c.reconnectedMs / 1000).toFixed(1)} s / ${(c.recoveredMs / 1000).toFixed(1)} s`,
      `${c.durableResolved} / ${c.durableRejected} / ${c.durableLost}`,
      n(c.errors),
    ]),
  );
  return `${figures}\n\nMachine: ${cpus().length} cores, load average ${Math.min(...loads).toFixed(0)}–${Math.max(...loads).toFixed(0)} during the run (shared with other work).`;
};

const disk: Scenario = async (short) => {
  const rows: (string | number)[][] = [];
  for (const scenario of DISK_SCENARIOS) {
    const f = await diskScenario(scenario, short ? 6000 : 60_000);
    process.stderr.write(`disk ${scenario}: ${JSON.stringify(f)}\n`);
    const n = (x: number) => x.toLocaleString("en");
    rows.push([
      f.scenario,
      n(f.offered),
      n(f.stored),
      `${n(f.dropped)} (${n(f.droppedRecorded)})`,
      n(f.failed),
      n(f.destroyed),
      n(f.unaccounted),
      f.duplicates,
      f.threw,
      f.answered,
      `${f.errorsReported} (${f.errorKinds.join(", ") || "none"})`,
      n(f.errorsSuppressed),
      f.resumeMs === undefined ? "—" : n(f.resumeMs),
      `${f.tornLines} / ${f.nulBytes}`,
      f.verify,
    ]);
  }
  return table(
    [
      "scenario",
      "offered",
      "stored",
      "dropped (recorded)",
      "failed",
      "destroyed by the fault",
      "unaccounted",
      "duplicates",
      "log() threw",
      "HTTP answered",
      "errors reported (kinds)",
      "repeats not reported",
      "resumed after fix (ms)",
      "torn lines / NUL bytes",
      "verify",
    ],
    rows,
  );
};

const soak: Scenario = async (short) => {
  const minutesArg = process.argv.indexOf("--minutes");
  const minutes = minutesArg > 0 ? Number(process.argv[minutesArg + 1]) : 15;
  if (!(minutes > 0))
    throw new Error(`--minutes expects a positive number, found ${process.argv[minutesArg + 1]}`);
  const f = await soakRun({ seconds: short ? 30 : Math.round(minutes * 60) });
  const mb = (n: number) => n.toFixed(1);
  const summary = table(
    [
      "duration",
      "events/s",
      "logged",
      "stored + deleted by retention (signed)",
      "missing / duplicates / torn",
      "RSS slope after warm-up",
      "heap slope after warm-up (after GC)",
      "heap after GC: warm / end",
      "RSS at end",
      "fds: before / min–max / after close",
      "queue max (queue_size)",
      "log() p99: best / median / worst interval",
      "searches / retention runs",
      "files (gzipped)",
      "verify",
    ],
    [
      [
        `${(f.seconds / 60).toFixed(f.seconds < 60 ? 1 : 0)} min`,
        f.rate.toLocaleString("en"),
        f.logged.toLocaleString("en"),
        `${f.stored.toLocaleString("en")} + ${f.retained.toLocaleString("en")}`,
        `${f.missing} / ${f.duplicates} / ${f.torn}`,
        `${f.rssSlope.toFixed(2)} MB/min`,
        `${f.heapSlope.toFixed(2)} MB/min`,
        `${mb(f.heapAfterWarmup)} / ${mb(f.heapAtEnd)} MB`,
        `${mb(f.rssAtEnd)} MB`,
        `${f.baselineFds} / ${f.fdsMin}–${f.fdsMax} / ${f.fdsAfterClose}`,
        `${f.queueMax.toLocaleString("en")} (${f.queueSize.toLocaleString("en")})`,
        `${f.p99.min.toFixed(0)} / ${f.p99.median.toFixed(0)} / ${f.p99.max.toFixed(0)} µs`,
        `${f.searches} / ${f.retentions}`,
        `${f.files} (${f.gzipped})`,
        f.verify,
      ],
    ],
  );
  // one row per minute (the samples nearest each whole minute), for the trend
  const perMinute = f.samples.filter(
    (s, i) =>
      i === f.samples.length - 1 || Math.floor(s.t / 60) !== Math.floor((f.samples[i + 1]?.t ?? 0) / 60),
  );
  const trend = table(
    ["t", "RSS", "heap after GC", "external", "fds", "queue max", "log() p99", "log() p50"],
    perMinute.map((s) => [
      `${s.t} s`,
      `${mb(s.rss / 1048576)} MB`,
      `${mb(s.heap / 1048576)} MB`,
      `${mb((s.external ?? 0) / 1048576)} MB`,
      s.fds,
      s.queueMax,
      `${s.p99.toFixed(0)} µs`,
      `${s.p50.toFixed(1)} µs`,
    ]),
  );
  for (const w of [...f.errorSamples, ...f.failures, ...f.warnings, ...f.unreadable])
    process.stderr.write(`soak: ${w}\n`);
  return `${summary}\n\n${trend}`;
};

const many: Scenario = async (short) => {
  const cells: ManyCell[] = [];
  for (const store of MANY_STORES)
    for (const launch of MANY_LAUNCHES)
      for (const signed of [true, false]) {
        const cell = await manyCell({
          launch,
          store,
          signed,
          events: short ? 3000 : 25_000,
          pauseMs: short ? 20 : 15,
        });
        cells.push(cell);
        process.stderr.write(
          `many ${store} ${launch} ${signed ? "signed" : "unsigned"}: ${JSON.stringify(cell)}\n`,
        );
      }
  return table(
    [
      "store",
      "processes",
      "signing",
      "accepted",
      "missing / duplicated",
      "torn or interleaved lines",
      "rotated (gzipped) / unreadable",
      "old events: deleted by 4 retentions at once / left",
      "locks or temporaries left",
      "errors",
      "batches retried after a 5 s lock wait",
      "verify (chains)",
    ],
    cells.map((c) => [
      c.store === "file" ? "file (64 KiB size rotation, gzip)" : "SQLite (one file, WAL)",
      c.launch === "cluster" ? `node:cluster, ${c.writers} workers` : `${c.writers} unrelated processes`,
      c.signed ? "on" : "off",
      c.logged.toLocaleString("en"),
      `${c.missing} / ${c.duplicates}`,
      c.torn,
      c.store === "file"
        ? `${c.rotated} (${c.gzipped}) / ${c.unreadable.length}`
        : `— / ${c.unreadable.length}`,
      `${c.retentionDeleted.toLocaleString("en")} of ${c.old.toLocaleString("en")} / ${c.oldLeft}`,
      c.leftovers.length,
      c.errors.length,
      c.store === "sqlite" ? c.lockWaits : "—",
      c.signed ? `${c.verify} (${c.chains})` : "unsigned",
    ]),
  );
};

const SCENARIOS: Record<string, Scenario> = { crash, clock, db, disk, many, soak };

const DOC = fileURLToPath(new URL("../../docs/reliability.md", import.meta.url));

/** Replace the figures between `<!-- chaos:name -->` and `<!-- /chaos:name -->`. */
function writeFigures(name: string, text: string): void {
  const doc = readFileSync(DOC, "utf8");
  const open = `<!-- chaos:${name} -->`;
  const close = `<!-- /chaos:${name} -->`;
  const a = doc.indexOf(open);
  const b = doc.indexOf(close);
  if (a < 0 || b < a) {
    process.stderr.write(`docs/reliability.md has no ${open} ... ${close} markers: figures not written\n`);
    return;
  }
  const stamp = `_Last run: ${new Date().toISOString().slice(0, 16)}Z, \`npm run chaos ${name}\`._`;
  writeFileSync(DOC, `${doc.slice(0, a + open.length)}\n${text}\n\n${stamp}\n${doc.slice(b)}`);
}

const args = process.argv.slice(2);
const short = args.includes("--short");
const write = !args.includes("--no-write") && !short;
const names = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--minutes");
for (const name of names) {
  if (!(name in SCENARIOS)) {
    process.stderr.write(
      `unknown scenario "${name}": expected one of ${Object.keys(SCENARIOS).join(", ")}\n`,
    );
    process.exit(2);
  }
}
for (const name of names.length > 0 ? names : Object.keys(SCENARIOS)) {
  const started = Date.now();
  const text = await SCENARIOS[name]!(short);
  process.stdout.write(`\n## ${name} (${((Date.now() - started) / 1000).toFixed(0)} s)\n\n${text}\n`);
  if (write) writeFigures(name, text);
}
