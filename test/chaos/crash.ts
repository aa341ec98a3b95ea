/**
 * The crash matrix (issue 12, item 1): a writer killed with SIGKILL at random moments,
 * again and again, on one store; then the store is read back and verified.
 *
 * For each store × mode (× signing): what was acknowledged and lost (must be 0 for
 * `durability: event` on stores that write synchronously, and for `logDurable`), how
 * many events an async writer lost per kill against its bound (the queue plus one batch
 * in flight), duplicates, torn lines left unreported, and what `verify` makes of the
 * crashes (never "tampered") and of a real edit afterwards (always "tampered").
 *
 * Run alone: `node --import tsx test/chaos/run.ts crash` (after `npm run build`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuditEngine } from "../../src/engine.js";
import { type ChaosStore, makeStore, type StoreKind } from "./stores.js";

export type CrashMode = "async" | "event" | "durable";
export const CRASH_MODES: readonly CrashMode[] = ["async", "event", "durable"];

const CHILD = fileURLToPath(new URL("./crash-child.mjs", import.meta.url));
const SECRET = "chaos-signing-secret-0123456789abcdef";
const QUEUE_SIZE = 10_000;
const BATCH_SIZE = 100;
/** Batches the engine lets await their fsync or commit at once (engine.ts). */
const BATCHES_IN_FLIGHT = 4;
/**
 * Stores whose writes are done when `log()` returns under `durability: event` (a file
 * append, a SQLite transaction). A database over the network cannot be written from a
 * blocked event loop: there `durability: event` commits each event on its own, and only
 * `logDurable()` tells the caller when.
 */
const SYNCHRONOUS_STORES: ReadonlySet<StoreKind> = new Set(["file", "sqlite"]);

export interface CrashCell {
  readonly store: StoreKind;
  readonly mode: CrashMode;
  readonly signed: boolean;
  readonly kills: number;
  /** Events log() had returned, those acknowledged as durable, and those dropped (counted) for a full queue. */
  readonly logged: number;
  readonly acknowledged: number;
  readonly dropped: number;
  /** Acknowledged events missing from the store: must be 0. */
  readonly lostAcknowledged: number;
  /** The most accepted events one kill lost, and the bound: the queue plus the batches in flight. */
  readonly worstLossPerKill: number;
  readonly lossBound: number;
  /** Events missing before the last stored event of their run: a crash may lose a tail, never a hole. */
  readonly holes: number;
  readonly duplicates: number;
  /** Lines in the store that do not parse (a torn line nobody repaired or reported). */
  readonly tornUnreported: number;
  /** Torn last lines the file backend repaired and reported (moved to `.torn-*`). */
  readonly tornRepaired: number;
  /** verify's verdict after the crashes, and after one stored event was edited. */
  readonly verifyAfterCrashes: string;
  readonly verifyAfterTamper: string;
}

export interface CrashOptions {
  readonly store: StoreKind;
  readonly mode: CrashMode;
  readonly signed: boolean;
  readonly kills: number;
  /** How long a writer runs before it is killed: 200 ms plus a random moment up to this, in ms. Default 1500. */
  readonly maxRunMs?: number;
}

function configFor(store: ChaosStore, mode: CrashMode, signed: boolean): Record<string, unknown> {
  return {
    core: { application_name: "chaos" },
    storage: { backends: [store.backend] },
    processing: { sanitization: { enabled: false } },
    performance: {
      async: { enabled: true, queue_size: QUEUE_SIZE, on_full: "block" },
      batching: { batch_size: BATCH_SIZE, batch_timeout_seconds: 0.05 },
      durability: mode === "event" ? "event" : "batch",
    },
    ...(signed
      ? {
          security: {
            signing: { enabled: true, algorithm: "hmac-sha256", secret_key: SECRET, checkpoint_every: 200 },
          },
        }
      : {}),
  };
}

interface RunLog {
  logged: number; // highest i known to have returned from log(), -1 for none
  readonly acked: Set<number>;
  /** Refused by log() (a full queue): counted and recorded as EVENTS_DROPPED, not lost. */
  readonly dropped: Set<number>;
}

/** Start a writer, let it run for a random moment, SIGKILL it. */
async function killOnce(
  config: Record<string, unknown>,
  mode: CrashMode,
  run: number,
  maxRunMs: number,
): Promise<RunLog> {
  const log: RunLog = { logged: -1, acked: new Set(), dropped: new Set() };
  const child: ChildProcess = spawn(process.execPath, [CHILD], {
    env: { ...process.env, VIGIL_CHAOS: JSON.stringify({ config, mode, run }) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let buf = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === "ready") resolve();
        else if (line.startsWith("L ")) log.logged = Number(line.slice(2));
        else if (line.startsWith("D ")) log.dropped.add(Number(line.slice(2)));
        else if (line.startsWith("A ")) {
          const i = Number(line.slice(2));
          log.acked.add(i);
          if (i > log.logged) log.logged = i;
        }
        nl = buf.indexOf("\n");
      }
    });
    void exited.then(() => reject(new Error(`the writer exited before it was ready: ${stderr.trim()}`)));
  });
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * maxRunMs));
  child.kill("SIGKILL");
  await exited;
  return log;
}

/** Run one cell of the matrix on a fresh store. */
export async function crashCell(options: CrashOptions): Promise<CrashCell> {
  const dir = mkdtempSync(join(tmpdir(), "vigil-chaos-crash-"));
  const store = makeStore(options.store, dir);
  const config = configFor(store, options.mode, options.signed);
  try {
    const runs: RunLog[] = [];
    for (let run = 0; run < options.kills; run++)
      runs.push(await killOnce(config, options.mode, run, options.maxRunMs ?? 1500));

    // A restart after the last crash: opening the store repairs a torn tail, and closing seals
    // the restart's own chain. What was lost is lost by now; what remains is read back.
    let tornRepaired = 0;
    const reopened = new AuditEngine({ config: config as never, env: {} });
    reopened.on("warning", (message: string) => {
      if (/torn/.test(message)) tornRepaired++;
    });
    await reopened.flush();
    await reopened.close();
    if (options.store === "file") {
      const logs = join(dir, "logs");
      tornRepaired = Math.max(tornRepaired, readdirSync(logs).filter((n) => n.includes(".torn-")).length);
    }

    const lines = await store.lines();
    const seen = new Map<string, number>();
    let tornUnreported = 0;
    for (const l of lines) {
      if (l.event === undefined) {
        tornUnreported++;
        continue;
      }
      const m = l.event.metadata;
      if (m === undefined || typeof m.run !== "number") continue; // EVENTS_DROPPED and the like
      const key = `${m.run}:${String(m.i)}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    let duplicates = 0;
    for (const n of seen.values()) if (n > 1) duplicates += n - 1;

    let lostAcknowledged = 0;
    let worstLossPerKill = 0;
    let holes = 0;
    let logged = 0;
    let acknowledged = 0;
    let dropped = 0;
    const guaranteed =
      options.mode === "durable" || (options.mode === "event" && SYNCHRONOUS_STORES.has(options.store));
    runs.forEach((r, run) => {
      logged += r.logged + 1;
      dropped += r.dropped.size;
      if (guaranteed) {
        acknowledged += r.acked.size;
        for (const i of r.acked) if (!seen.has(`${run}:${i}`)) lostAcknowledged++;
      }
      let lastStored = -1;
      for (let i = 0; i <= Math.max(r.logged, 0) + QUEUE_SIZE; i++)
        if (seen.has(`${run}:${i}`)) lastStored = i;
      for (let i = 0; i < lastStored; i++) if (!seen.has(`${run}:${i}`) && !r.dropped.has(i)) holes++;
      let lost = 0;
      for (let i = 0; i <= r.logged; i++) if (!seen.has(`${run}:${i}`) && !r.dropped.has(i)) lost++;
      worstLossPerKill = Math.max(worstLossPerKill, lost);
    });

    const verdict = async (): Promise<string> => {
      const engine = new AuditEngine({ config: config as never, env: {} });
      try {
        const result = await engine.verify();
        return result.status;
      } finally {
        await engine.close();
      }
    };
    const verifyAfterCrashes = options.signed ? await verdict() : "unsigned";
    let verifyAfterTamper = "unsigned";
    if (options.signed) {
      await store.tamper();
      verifyAfterTamper = await verdict();
    }
    return {
      store: options.store,
      mode: options.mode,
      signed: options.signed,
      kills: options.kills,
      logged,
      acknowledged,
      dropped,
      lostAcknowledged,
      worstLossPerKill,
      lossBound: QUEUE_SIZE + BATCHES_IN_FLIGHT * BATCH_SIZE,
      holes,
      duplicates,
      tornUnreported,
      tornRepaired,
      verifyAfterCrashes,
      verifyAfterTamper,
    };
  } finally {
    await store.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}
