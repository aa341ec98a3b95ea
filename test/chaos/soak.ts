/**
 * The soak (issue 12, item 6): one writer at 2,000 events/s for minutes, into a signed
 * file store with small size rotation, gzip and `backup_count` (whose deletions are signed
 * retention records), while a reader searches the store every few seconds and
 * `applyRetention` runs every half minute — all in one child process
 * (`test/chaos/soak-child.mjs`, run with `--expose-gc`), which samples its RSS, its heap
 * used after a full GC, its open file descriptors, the queue depth and the caller's p99
 * cost of `log()`.
 *
 * Afterwards the store is read back (every logged event stored once, or deleted under a
 * signed retention record) and verified. The figures: the least-squares slope of RSS and
 * heap after warm-up (MB per minute), file descriptors min/max, queue depth max, and p99
 * per interval.
 *
 * Run alone: `node --import tsx test/chaos/run.ts soak [--minutes N]` (after `npm run build`).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { AuditEngine } from "../../src/engine.js";

const CHILD = fileURLToPath(new URL("./soak-child.mjs", import.meta.url));
const SECRET = "chaos-soak-signing-secret-0123456789abcdef";

export interface SoakOptions {
  readonly seconds: number;
  /** Events per second. Default 2000. */
  readonly rate?: number;
  /** Seconds between samples. Default 5. */
  readonly sampleSeconds?: number;
  /** Samples before this many seconds are warm-up, left out of the slopes. Default 60 (short runs: a fifth). */
  readonly warmupSeconds?: number;
  /** Size rotation threshold. Default 1 MB. */
  readonly maxBytes?: number;
  /** Closed files kept per family (older ones deleted under a signed retention record); 0 keeps all. Default 40. */
  readonly backupCount?: number;
  readonly queueSize?: number;
}

/** One sample of the writer. */
export interface SoakSample {
  /** Seconds since the writer started logging. */
  readonly t: number;
  readonly rss: number;
  /** Heap used after a full GC. */
  readonly heap: number;
  /** Memory of C++ objects bound to JavaScript ones (buffers, zlib streams), after the GC. */
  readonly external: number;
  readonly fds: number;
  /** The deepest the queue was in this interval. */
  readonly queueMax: number;
  /** The caller's cost of one `log()` in this interval, µs. */
  readonly p99: number;
  readonly p50: number;
  readonly logged: number;
  readonly written: number;
  readonly dropped: number;
  readonly errors: number;
}

export interface SoakFigures {
  readonly seconds: number;
  readonly rate: number;
  readonly samples: readonly SoakSample[];
  readonly warmupSeconds: number;
  /** Least squares over the samples after warm-up, MB per minute. */
  readonly rssSlope: number;
  readonly heapSlope: number;
  /** Heap after GC: first sample after warm-up, last sample, MB. */
  readonly heapAfterWarmup: number;
  readonly heapAtEnd: number;
  readonly rssAtEnd: number;
  /** Descriptors before the engine was created, and after it was closed. */
  readonly baselineFds: number;
  readonly fdsAfterClose: number;
  /** Descriptors open after close that were not before the engine (`fd -> target`). */
  readonly fdsLeft: readonly string[];
  readonly fdsMin: number;
  readonly fdsMax: number;
  readonly queueMax: number;
  readonly queueSize: number;
  readonly p99: { readonly min: number; readonly median: number; readonly max: number };
  readonly logged: number;
  readonly dropped: number;
  readonly errors: number;
  readonly errorSamples: readonly string[];
  readonly warnings: readonly string[];
  readonly searches: number;
  readonly retentions: number;
  readonly failures: readonly string[];
  /** Logged events found in the store, and found more than once. */
  readonly stored: number;
  readonly duplicates: number;
  /** Logged events neither stored nor covered by a signed retention record. */
  readonly missing: number;
  /** Events `verify` found deleted under signed retention records (backup_count). */
  readonly retained: number;
  readonly files: number;
  readonly gzipped: number;
  readonly unreadable: readonly string[];
  readonly torn: number;
  readonly verify: string;
}

/** Least-squares slope of `y` over `x`. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const MB = 1024 * 1024;

export async function soak(options: SoakOptions): Promise<SoakFigures> {
  const rate = options.rate ?? 2000;
  const queueSize = options.queueSize ?? 10_000;
  const sampleSeconds = options.sampleSeconds ?? 5;
  const warmupSeconds =
    options.warmupSeconds ?? (options.seconds >= 300 ? 60 : Math.round(options.seconds / 5));
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-soak-"));
  const directory = join(dir, "logs");
  const config = {
    core: { application_name: "soak" },
    storage: {
      backends: [
        {
          type: "file",
          directory,
          filename_pattern: "soak_{category}_{date}.log",
          rotation: {
            enabled: true,
            when: "size",
            max_bytes: options.maxBytes ?? MB,
            compress: true,
            compress_after_days: 0,
            backup_count: options.backupCount ?? 40,
          },
        },
      ],
    },
    processing: { sanitization: { enabled: true } },
    performance: {
      async: { enabled: true, queue_size: queueSize, on_full: "block" },
      batching: { batch_size: 100, batch_timeout_seconds: 0.05 },
    },
    security: {
      signing: { enabled: true, algorithm: "hmac-sha256", secret_key: SECRET, checkpoint_every: 1000 },
    },
  };
  try {
    const child = spawn(process.execPath, ["--expose-gc", CHILD], {
      env: {
        ...process.env,
        VIGIL_SOAK: JSON.stringify({
          config,
          seconds: options.seconds,
          rate,
          sampleMs: sampleSeconds * 1000,
          searchMs: 3000,
          retentionMs: Math.min(30, options.seconds / 3) * 1000,
        }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const samples: SoakSample[] = [];
    let end: Record<string, unknown> | undefined;
    let stderr = "";
    let buf = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("S ")) {
          const s = JSON.parse(line.slice(2)) as SoakSample;
          samples.push(s);
          if (process.env.VIGIL_SOAK_PROGRESS) process.stderr.write(`soak ${line}\n`);
        } else if (line.startsWith("END ")) end = JSON.parse(line.slice(4)) as Record<string, unknown>;
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    if (code !== 0 || end === undefined)
      throw new Error(`the soak writer exited with ${String(code)}: ${stderr.trim().slice(0, 2000)}`);

    // Read the store back: each logged event once, or deleted under a signed retention record.
    const names = readdirSync(directory).filter((n) => n.startsWith("soak_"));
    const seen = new Uint8Array(Number(end.logged));
    let duplicates = 0;
    let stored = 0;
    let torn = 0;
    const unreadable: string[] = [];
    for (const name of names) {
      let text: string;
      try {
        const raw = readFileSync(join(directory, name));
        text = (name.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
      } catch (err) {
        unreadable.push(`${name}: ${(err as Error).message}`);
        continue;
      }
      for (const line of text.split("\n")) {
        if (line === "") continue;
        let i: unknown;
        try {
          i = (JSON.parse(line) as { metadata?: { i?: unknown } }).metadata?.i;
        } catch {
          torn++;
          continue;
        }
        if (typeof i !== "number") continue; // RETENTION_APPLIED and the like
        if (seen[i]! > 0) duplicates++;
        else stored++;
        seen[i] = 1;
      }
    }
    const engine = new AuditEngine({ config: config as never, env: {} });
    let verify: string;
    let retained = 0;
    try {
      const result = await engine.verify();
      verify = result.status;
      retained = result.retained;
    } finally {
      await engine.close();
    }
    const after = samples.filter((s) => s.t >= warmupSeconds);
    // the last sample may cover a moment without a call (p99 0): not an interval of traffic
    const p99s = samples
      .filter((s) => s.p99 > 0)
      .map((s) => s.p99)
      .sort((a, b) => a - b);
    const logged = Number(end.logged);
    return {
      seconds: options.seconds,
      rate,
      samples,
      warmupSeconds,
      rssSlope: slope(after.map((s) => [s.t / 60, s.rss / MB])),
      heapSlope: slope(after.map((s) => [s.t / 60, s.heap / MB])),
      heapAfterWarmup: (after[0]?.heap ?? 0) / MB,
      heapAtEnd: (samples.at(-1)?.heap ?? 0) / MB,
      rssAtEnd: (samples.at(-1)?.rss ?? 0) / MB,
      baselineFds: Number(end.baselineFds),
      fdsAfterClose: Number(end.fdsAfterClose),
      fdsLeft: end.fdsLeft as string[],
      fdsMin: Math.min(...samples.map((s) => s.fds)),
      fdsMax: Math.max(...samples.map((s) => s.fds)),
      queueMax: Math.max(...samples.map((s) => s.queueMax)),
      queueSize,
      p99: {
        min: p99s[0] ?? 0,
        median: p99s[Math.floor(p99s.length / 2)] ?? 0,
        max: p99s.at(-1) ?? 0,
      },
      logged,
      dropped: Number(end.dropped),
      errors: Number(end.errors),
      errorSamples: end.errorSamples as string[],
      warnings: end.warnings as string[],
      searches: Number(end.searches),
      retentions: Number(end.retentions),
      failures: end.failures as string[],
      stored,
      duplicates,
      missing: Math.max(0, logged - stored - retained),
      retained,
      files: names.length,
      gzipped: names.filter((n) => n.endsWith(".gz")).length,
      unreadable,
      torn,
      verify,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
