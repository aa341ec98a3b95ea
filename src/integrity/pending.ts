/**
 * Pending tails: telling the events a **running** writer has not sealed yet from the
 * unsealed tail of a writer that crashed (or whose checkpoints were lost).
 *
 * A writer signs a checkpoint at least every `checkpoint_interval_seconds` after it stored
 * events no checkpoint covers (`stage.ts`: the timer starts with the first such batch), and
 * a `final` one when it closes. So the events after a chain's last checkpoint are a
 * **pending tail** when
 *
 * - the chain has no final checkpoint (checked by the verifier: events after one are forged);
 * - its writer is still running: the chain id is `host:pid:startTimeMs:random`; on this host
 *   the process `pid` exists and started before the chain did (so the pid was not reused by
 *   another program) — or, for a chain of this very process, its integrity stage is still
 *   open; on another host this cannot be asked, and age alone decides;
 * - and the tail is young: every event of it was stored after the last checkpoint was signed
 *   (or after the chain started, when it has none) and after its own id's time (UUIDv7: when
 *   `log()` built it), so `now - max(last checkpoint, oldest pending event)` bounds how long
 *   it has waited; a live writer seals it within the interval, so beyond
 *   `interval + grace` the writer is not sealing and the tail is reported as before.
 *
 * Anything else stays `unverifiable`. A pending tail is not verified — nothing signed covers
 * it yet — it is only not alarming: a later verify either finds it sealed or reports it.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { uuidv7Time } from "../event/uuid.js";

/** The parts of a chain id `host:pid:startTimeMs:random`. */
export interface ChainWriter {
  readonly host: string;
  readonly pid: number;
  /** When the writer started the chain (its clock), epoch ms. */
  readonly startMs: number;
}

/** How verify judged the writer of a chain. */
export type WriterState =
  /** Running on this host (or an open chain of this process). */
  | "alive"
  /** On this host, and no longer running (or the pid now belongs to another program). */
  | "dead"
  /** On another host: not asked; the tail's age alone decides. */
  | "remote";

/** What the verifier needs to judge pending tails (see {@link pendingPolicy}). */
export interface PendingPolicy {
  /** The writers' checkpoint interval, ms. */
  readonly intervalMs: number;
  /** Slack for storage and checkpoint latency and clock differences, ms. */
  readonly graceMs: number;
  /** The current time, epoch ms. */
  now(): number;
  /** Whether the writer of a chain is still running. */
  writerState(chain: string, writer: ChainWriter): WriterState;
}

/** Options of {@link pendingPolicy}; all optional. */
export interface PendingOptions {
  /** The writers' `security.signing.checkpoint_interval_seconds`. Default 60. */
  readonly intervalSeconds?: number;
  /** Extra time a tail may wait before it is no longer pending. Default 15. */
  readonly graceSeconds?: number;
  /** The clock (tests). Default `Date.now`. */
  readonly now?: () => number;
  /** How a writer's state is found. Default {@link localWriterState} (process table of this host). */
  readonly writerState?: (chain: string, writer: ChainWriter) => WriterState;
}

/** Default grace beyond the checkpoint interval, seconds. */
export const DEFAULT_PENDING_GRACE_SECONDS = 15;

/**
 * The policy verify uses to tell pending tails from crashed ones.
 *
 * @example
 * const policy = pendingPolicy({ intervalSeconds: config.security.signing.checkpoint_interval_seconds });
 */
export function pendingPolicy(options: PendingOptions = {}): PendingPolicy {
  return {
    intervalMs: (options.intervalSeconds ?? 60) * 1000,
    graceMs: (options.graceSeconds ?? DEFAULT_PENDING_GRACE_SECONDS) * 1000,
    now: options.now ?? Date.now,
    writerState: options.writerState ?? localWriterState,
  };
}

/**
 * The writer named by a chain id `host:pid:startTimeMs:random`, or `undefined` when the id
 * has another form (a fixed id given by an embedder): such a chain is never pending.
 *
 * @example parseChainId("web-1:4711:1764158400123:9f3a01bc") // { host: "web-1", pid: 4711, startMs: 1764158400123 }
 */
export function parseChainId(chain: string): ChainWriter | undefined {
  const m = /^(.+):([1-9]\d{0,9}):(\d{1,15}):[0-9a-f]{8}$/.exec(chain);
  if (!m) return undefined;
  return { host: m[1]!, pid: Number(m[2]), startMs: Number(m[3]) };
}

/** Chains whose integrity stage is open in this process (registered by the stage). */
const openChains = new Set<string>();

/** The integrity stage of `chain` opened (`true`) or closed (`false`) in this process. */
export function markChainOpen(chain: string, open: boolean): void {
  if (open) openChains.add(chain);
  else openChains.delete(chain);
}

/** How much earlier than the chain's start the process may seem to start (clock steps, `btime` rounding). */
const START_SLACK_MS = 10_000;

/**
 * The state of a chain's writer as this host can see it: a chain of this process is alive
 * while its stage is open; another process of this host is alive when `pid` exists
 * (`process.kill(pid, 0)`: no error, or `EPERM`) and — where `/proc` tells — is not a
 * zombie (killed, not reaped yet) and started no later than the chain did (so a reused pid
 * is not taken for the writer); a chain of another host is `remote`.
 */
export function localWriterState(chain: string, writer: ChainWriter): WriterState {
  if (writer.host !== hostname()) return "remote";
  if (writer.pid === process.pid) return openChains.has(chain) ? "alive" : "dead";
  try {
    process.kill(writer.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return "dead";
  }
  const proc = procStat(writer.pid);
  if (proc?.zombie) return "dead"; // killed, not yet reaped by its parent
  if (proc?.startMs !== undefined && proc.startMs > writer.startMs + START_SLACK_MS) return "dead";
  return "alive";
}

/**
 * What `/proc/<pid>/stat` (Linux) says of a process: whether it has exited and waits to be
 * reaped (a zombie, which `kill(pid, 0)` still finds), and when it started; `undefined`
 * where it cannot be read.
 */
function procStat(pid: number): { zombie: boolean; startMs?: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // the command name (field 2) is in parentheses and may hold spaces: count after its end
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const zombie = fields[0] === "Z" || fields[0] === "X"; // field 3: state
    const ticks = Number(fields[19]); // field 22: start time, clock ticks after boot
    const btime = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "latin1"));
    if (!btime || !Number.isFinite(ticks)) return { zombie };
    return { zombie, startMs: Number(btime[1]) * 1000 + ticks * 10 }; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** The time a stored event was built: its UUIDv7 id's, else its `timestamp`; `undefined` when neither reads. */
export function eventTime(line: string): number | undefined {
  let event: { id?: unknown; timestamp?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    return undefined;
  }
  if (typeof event.id === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/.test(event.id))
    return uuidv7Time(event.id);
  if (typeof event.timestamp === "string") {
    const t = Date.parse(event.timestamp);
    return Number.isNaN(t) ? undefined : t;
  }
  return undefined;
}
