/**
 * Many processes, one store (issue 12, item 3): four writers share one file directory
 * (small size rotation, gzip) or one SQLite file — as the workers of one `node:cluster`
 * primary, or as four unrelated processes (the way PM2 runs an app) — all starting at the
 * same moment on a fresh store. Then four more processes apply retention to the same store
 * at once. What must hold:
 *
 * - no interleaved or torn line, no unreadable file (a `.gz` written twice at once);
 * - every event `log()` accepted is stored exactly once (counted by writer and number):
 *   nothing lost, no rotated content duplicated;
 * - retention deletes each old event once: the deletions the four processes report add
 *   up to exactly the old events, and none is left;
 * - no lock or temporary file is left behind; no writer reports an error;
 * - with signing on, every writer's chain verifies (`engine.verify()`), retention's gaps
 *   included.
 *
 * Run alone: `node --import tsx test/chaos/run.ts many` (after `npm run build`).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuditEngine } from "../../src/engine.js";
import { type ChaosStore, fileStore, sqlStore } from "./stores.js";

const CHILD = fileURLToPath(new URL("./many-child.mjs", import.meta.url));
const SECRET = "chaos-many-signing-secret-0123456789abcdef";
export const WRITERS = 4;

export type ManyLaunch = "cluster" | "processes";
export type ManyStore = "file" | "sqlite";
export const MANY_LAUNCHES: readonly ManyLaunch[] = ["cluster", "processes"];
export const MANY_STORES: readonly ManyStore[] = ["file", "sqlite"];

export interface ManyOptions {
  readonly launch: ManyLaunch;
  readonly store: ManyStore;
  readonly signed: boolean;
  /** Events per writer. */
  readonly events: number;
  /** Of those, the first ones stamped three days ago, which the retention phase deletes. Default a tenth. */
  readonly old?: number;
  /** The writers pause `pauseMs` every 100 events (so that rotated files settle and are gzipped meanwhile). */
  readonly pauseMs?: number;
  /** Size rotation threshold of the file store. Default 64 KiB. */
  readonly maxBytes?: number;
}

interface ChildResult {
  readonly who: number;
  readonly pid: number;
  readonly logged: number;
  readonly dropped: number;
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  readonly deleted?: number;
}

export interface ManyCell {
  readonly launch: ManyLaunch;
  readonly store: ManyStore;
  readonly signed: boolean;
  readonly writers: number;
  /** Distinct writer processes seen (pids). */
  readonly pids: number;
  /** Events log() accepted, and dropped for a full queue (counted). */
  readonly logged: number;
  readonly dropped: number;
  /** Accepted recent events not in the store / stored more than once. */
  readonly missing: number;
  readonly duplicates: number;
  /** Lines that do not parse (torn or interleaved), and files that cannot be read. */
  readonly torn: number;
  readonly unreadable: readonly string[];
  /** Rotated files, and how many of them are gzipped (file store). */
  readonly rotated: number;
  readonly gzipped: number;
  /** Lock files, temporaries and `.torn-*` files left in the directory. */
  readonly leftovers: readonly string[];
  /** Old events written, deleted as the retention processes report it, and left in the store. */
  readonly old: number;
  readonly retentionDeleted: number;
  readonly oldLeft: number;
  /** Errors the writers and retention processes reported (should be none), lock waits aside. */
  readonly errors: readonly string[];
  /**
   * SQLite: batches (and signed records) that waited longer than the busy timeout for the
   * write lock — on a loaded machine a commit's fsync can hold it that long — and were kept
   * and written later, as during an outage (reported as errors at the time).
   */
  readonly lockWaits: number;
  /** Warnings other than the expected ones (a rotation lock waited for is expected). */
  readonly warnings: readonly string[];
  readonly verify: string;
  readonly chains: number;
  readonly verifyProblems: readonly string[];
}

function configFor(store: ChaosStore, signed: boolean): Record<string, unknown> {
  return {
    core: { application_name: "many" },
    storage: { backends: [store.backend] },
    processing: { sanitization: { enabled: false } },
    performance: {
      async: { enabled: true, queue_size: 10_000, on_full: "block" },
      batching: { batch_size: 50, batch_timeout_seconds: 0.05 },
    },
    ...(signed
      ? {
          security: {
            signing: { enabled: true, algorithm: "hmac-sha256", secret_key: SECRET, checkpoint_every: 500 },
          },
        }
      : {}),
  };
}

/** Start a child with its job; resolves with its RESULT lines once it exits (rejects on a non-zero exit). */
function run(job: Record<string, unknown>): Promise<ChildResult[]> {
  const child = spawn(process.execPath, [CHILD], {
    env: { ...process.env, VIGIL_MANY: JSON.stringify(job) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => {
      if (code !== 0) {
        reject(
          new Error(
            `a ${String(job.role)} process exited with ${String(code)}: ${err.trim().slice(0, 2000)}`,
          ),
        );
        return;
      }
      resolve(
        out
          .split("\n")
          .filter((l) => l.startsWith("RESULT "))
          .map((l) => JSON.parse(l.slice(7)) as ChildResult),
      );
    }),
  );
}

/** Warnings that are part of sharing a store, not a problem. */
const EXPECTED_WARNING =
  /held by another process|deleted .* \(backup_count|database unreachable: database is locked|database reachable again/;
/** A SQLite batch that waited past the busy timeout, kept and retried (see {@link ManyCell.lockWaits}). */
const LOCK_WAIT =
  /database is locked|waiting to reconnect|signed records not written yet|not written to .* yet \(kept, retried/;

export async function manyCell(options: ManyOptions): Promise<ManyCell> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-many-"));
  const store =
    options.store === "file"
      ? fileStore(dir, {
          enabled: true,
          when: "size",
          max_bytes: options.maxBytes ?? 64 * 1024,
          compress: true,
          compress_after_days: 0,
        })
      : sqlStore("sqlite", dir);
  const config = configFor(store, options.signed);
  const old = options.old ?? Math.floor(options.events / 10);
  const job = { config, events: options.events, old, pauseEvery: 100, pauseMs: options.pauseMs ?? 20 };
  try {
    // the writers, all starting at once on a fresh store
    const writers =
      options.launch === "cluster"
        ? await run({ ...job, role: "cluster", workers: WRITERS })
        : (
            await Promise.all(
              Array.from({ length: WRITERS }, (_, who) => run({ ...job, role: "write", who })),
            )
          ).flat();
    if (writers.length !== WRITERS)
      throw new Error(`expected ${WRITERS} writer results, got ${writers.length}`);
    // retention by four processes at once
    const retainers = (
      await Promise.all(Array.from({ length: WRITERS }, (_, who) => run({ ...job, role: "retain", who })))
    ).flat();

    const counts = new Map<string, number>();
    let torn = 0;
    const unreadable: string[] = [];
    for (const line of await store.lines()) {
      if (line.unreadable !== undefined) {
        unreadable.push(`${line.where}: ${line.unreadable}`);
        continue;
      }
      const m = line.event?.metadata;
      if (line.event === undefined) {
        torn++;
        continue;
      }
      if (m === undefined || typeof m.w !== "number") continue; // RETENTION_APPLIED and the like
      const key = `${m.w}:${String(m.i)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    let missing = 0;
    let duplicates = 0;
    let oldLeft = 0;
    for (let w = 0; w < WRITERS; w++)
      for (let i = 0; i < options.events; i++) {
        const n = counts.get(`${w}:${i}`) ?? 0;
        if (i < old) oldLeft += n;
        else if (n === 0) missing++;
        else duplicates += n - 1;
      }

    let leftovers: string[] = [];
    let rotated = 0;
    let gzipped = 0;
    if (options.store === "file") {
      const names = readdirSync(join(dir, "logs"));
      leftovers = names.filter((n) => n.startsWith(".vigil-") || n.endsWith(".tmp") || n.includes(".torn-"));
      rotated = names.filter((n) => /\.log\.\d+(\.gz)?$/.test(n)).length;
      gzipped = names.filter((n) => n.endsWith(".gz")).length;
    }

    let verify = "unsigned";
    let chains = 0;
    let verifyProblems: string[] = [];
    if (options.signed) {
      const engine = new AuditEngine({ config: config as never, env: {} });
      try {
        const result = await engine.verify();
        verify = result.status;
        chains = result.chains;
        verifyProblems = result.problems.slice(0, 5).map((p) => p.message);
      } finally {
        await engine.close();
      }
    }
    const all = [...writers, ...retainers];
    return {
      launch: options.launch,
      store: options.store,
      signed: options.signed,
      writers: WRITERS,
      pids: new Set(writers.map((r) => r.pid)).size,
      logged: writers.reduce((n, r) => n + r.logged, 0),
      dropped: writers.reduce((n, r) => n + r.dropped, 0),
      missing,
      duplicates,
      torn,
      unreadable,
      rotated,
      gzipped,
      leftovers,
      old: WRITERS * old,
      retentionDeleted: retainers.reduce((n, r) => n + (r.deleted ?? 0), 0),
      oldLeft,
      errors: all.flatMap((r) => r.errors).filter((e) => !LOCK_WAIT.test(e)),
      lockWaits: all.flatMap((r) => r.errors).filter((e) => LOCK_WAIT.test(e)).length,
      warnings: all.flatMap((r) => r.warnings).filter((w) => !EXPECTED_WARNING.test(w)),
      verify,
      chains,
      verifyProblems,
    };
  } finally {
    await store.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
