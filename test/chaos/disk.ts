/**
 * The disk misbehaving (issue 12, item 2) under a signed file store: the disk filling up and
 * freed again, write permission removed and restored, the log directory deleted, too many
 * open files, and an external logrotate in its `create` and `copytruncate` modes.
 *
 * Each scenario offers numbered events and accounts for every one: stored (read back from
 * the files, each line parsed), dropped (log() returned undefined, counted and recorded as
 * EVENTS_DROPPED) or failed (counted by the engine). It also counts the errors reported
 * through `on("error")` (once per kind is the rule), lines that do not parse, NUL bytes,
 * the time from the fault's fix to the first batch written again, and what `verify` says.
 *
 * The full disk is a real one: a tmpfs of a few MB mounted by the scenario (the machine runs
 * as root) and filled by a filler file. Root ignores file modes, so the permission scenario
 * runs its writer (test/chaos/disk-child.ts) as root without `CAP_DAC_OVERRIDE` through `setpriv`; too many open
 * files runs it under `prlimit --nofile`. logrotate is the real one (`/usr/sbin/logrotate`).
 *
 * Run alone: `node --import tsx test/chaos/run.ts disk`.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { VigilConfig } from "../../src/config/types.js";
import { AuditEngine } from "../../src/engine.js";
import type { VigilError } from "../../src/errors.js";
import { fileStore } from "./stores.js";

export type DiskScenario =
  | "full-drop"
  | "full-block"
  | "permission"
  | "dir-deleted"
  | "emfile"
  | "logrotate-create"
  | "logrotate-copytruncate";
export const DISK_SCENARIOS: readonly DiskScenario[] = [
  "full-drop",
  "full-block",
  "permission",
  "dir-deleted",
  "emfile",
  "logrotate-create",
  "logrotate-copytruncate",
];

export interface DiskFigures {
  readonly scenario: DiskScenario;
  /** Events offered to log(), and what became of each. */
  readonly offered: number;
  readonly stored: number;
  /** log() returned undefined: dropped for a full queue, counted. */
  readonly dropped: number;
  /** The drops EVENTS_DROPPED records in the store account for. */
  readonly droppedRecorded: number;
  /** Counted by the engine as not written (metrics().failed). */
  readonly failed: number;
  /** Events the fault itself destroyed: those stored in the files deleted with the directory. */
  readonly destroyed: number;
  /**
   * offered − stored − dropped − failed − destroyed: events nobody accounted for. Must be 0;
   * copytruncate's own window (lines written between its copy and its truncate) aside.
   */
  readonly unaccounted: number;
  readonly duplicates: number;
  /** log() calls that threw into the application (must be 0). */
  readonly threw: number;
  /** HTTP requests the audited server answered, of those sent (full disk only). */
  readonly answered: string;
  /** Errors reported through on("error"), by kind (backend/errno), and repeats only counted. */
  readonly errorsReported: number;
  readonly errorKinds: readonly string[];
  readonly errorsSuppressed: number;
  /** "writing again" said through on("warning") after the outage. */
  readonly recoveryReported: boolean;
  /** From the fault's fix to the store writing again, in ms (undefined: never stopped writing). */
  readonly resumeMs: number | undefined;
  /** Stored lines that do not parse, and NUL bytes in the files. */
  readonly tornLines: number;
  readonly nulBytes: number;
  /** verify's status on the store afterwards, and its problems' kinds. */
  readonly verify: string;
  /** What on("warning") said (the directory created again, recovery). */
  readonly warnings: readonly string[];
}

const CHILD = fileURLToPath(new URL("./disk-child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECRET = "chaos-disk-secret-0123456789abcdef";
/**
 * Root without the capabilities that override file modes: the writer meets `EACCES` like any
 * user, while it still reads the repository wherever it was cloned (root owns it).
 */
const NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"];

function config(directory: string, onFull: "drop" | "block", queueSize: number): VigilConfig {
  return {
    core: { application_name: "disk" },
    storage: { backends: [{ ...fileStore("/").backend, directory } as never] },
    performance: {
      async: { enabled: true, queue_size: queueSize, on_full: onFull },
      batching: { batch_size: 100, batch_timeout_seconds: 0.05 },
    },
    security: {
      signing: {
        enabled: true,
        algorithm: "hmac-sha256",
        secret_key: SECRET,
        checkpoint_every: 500,
        checkpoint_interval_seconds: 1,
      },
    },
  } as VigilConfig;
}

/** What the scenario saw happen in the engine. */
interface Seen {
  offered: number;
  dropped: number;
  threw: number;
  failed: number;
  errors: { kind: string }[];
  suppressed: number;
  recoveredAt: number | undefined;
  fixedAt: number | undefined;
  answered: string;
  destroyed: number;
  warnings: string[];
}

/** Read the store back and account for every event. */
async function account(scenario: DiskScenario, directory: string, seen: Seen): Promise<DiskFigures> {
  const exists = existsSync(directory); // the old code never created a deleted directory again
  const files = exists ? readdirSync(directory).filter((n) => /\.log(\.\d+)?$/.test(n)) : [];
  let nulBytes = 0;
  for (const f of files) for (const byte of readFileSync(join(directory, f))) if (byte === 0) nulBytes++;
  const lines = exists ? await fileStore(join(directory, "..")).lines() : [];
  let tornLines = 0;
  let droppedRecorded = 0;
  const ids = new Map<number, number>();
  for (const line of lines) {
    const e = line.event as
      | { action?: { type?: string }; metadata?: { i?: number }; result?: { count?: number } }
      | undefined;
    if (e === undefined) {
      tornLines++;
      continue;
    }
    if (e.action?.type === "EVENTS_DROPPED") droppedRecorded += e.result?.count ?? 0;
    const i = e.metadata?.i;
    if (typeof i === "number") ids.set(i, (ids.get(i) ?? 0) + 1);
  }
  let duplicates = 0;
  for (const n of ids.values()) duplicates += n - 1;
  const reader = new AuditEngine({ config: config(directory, "drop", 1000), env: {}, readOnly: true });
  let verify: string;
  try {
    const r = await reader.verify();
    const kinds = [...new Set(r.problems.map((p) => p.kind))];
    verify = kinds.length > 0 ? `${r.status} (${kinds.join(", ")})` : r.status;
  } catch (err) {
    verify = `failed: ${(err as Error).message.slice(0, 80)}`;
  } finally {
    await reader.close();
  }
  const kinds = [...new Set(seen.errors.map((e) => e.kind))];
  return {
    scenario,
    offered: seen.offered,
    stored: ids.size,
    dropped: seen.dropped,
    droppedRecorded,
    failed: seen.failed,
    destroyed: seen.destroyed,
    unaccounted: seen.offered - ids.size - seen.dropped - seen.failed - seen.destroyed,
    duplicates,
    threw: seen.threw,
    answered: seen.answered,
    errorsReported: seen.errors.length,
    errorKinds: kinds,
    errorsSuppressed: seen.suppressed,
    recoveryReported: seen.recoveredAt !== undefined,
    resumeMs:
      seen.recoveredAt !== undefined && seen.fixedAt !== undefined
        ? Math.max(0, seen.recoveredAt - seen.fixedAt)
        : undefined,
    tornLines,
    nulBytes,
    verify,
    warnings: seen.warnings,
  };
}

/** `source/errno` of a reported error: `file/ENOSPC`, `checkpoint/ENOSPC`. */
export function kindOf(err: VigilError): string {
  const source =
    (err as { backend?: string }).backend ?? (err.code === "VIGIL_ERR_INTEGRITY" ? "checkpoint" : "engine");
  for (let e: unknown = err, d = 0; e && typeof e === "object" && d < 5; d++) {
    const n = (e as { errno?: unknown }).errno;
    const c = (e as { code?: unknown }).code;
    if (typeof n === "string") return `${source}/${n}`;
    if (typeof c === "string" && /^E[A-Z]+$/.test(c)) return `${source}/${c}`;
    e = (e as { cause?: unknown }).cause;
  }
  return `${source}/${err.code}`;
}

/**
 * An in-process application: an HTTP server whose handler logs, and a producer logging
 * numbered events, 50 every 2 ms, with one request to the server per round.
 */
async function application(directory: string, onFull: "drop" | "block", queueSize: number) {
  const engine = new AuditEngine({ config: config(directory, onFull, queueSize), env: {} });
  const seen: Seen = {
    offered: 0,
    dropped: 0,
    threw: 0,
    failed: 0,
    errors: [],
    suppressed: 0,
    recoveredAt: undefined,
    fixedAt: undefined,
    answered: "",
    destroyed: 0,
    warnings: [],
  };
  engine.on("error", (err) => seen.errors.push({ kind: kindOf(err) }));
  engine.on("warning", (m) => {
    seen.warnings.push(m);
    if (/writing again/.test(m)) seen.recoveredAt ??= Date.now();
  });
  let next = 0;
  const offer = (): void => {
    const i = next++;
    seen.offered++;
    try {
      if (
        engine.log({ action: "CHAOS_WRITE", category: "CHAOS", metadata: { i, pad: "x".repeat(160) } }) ===
        undefined
      )
        seen.dropped++;
    } catch {
      seen.threw++;
    }
  };
  const server = createServer((_req, res) => {
    offer();
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let sent = 0;
  let answered = 0;
  return {
    engine,
    seen,
    /** Offer `n` events (one in 50 through an HTTP request). */
    async produce(n: number): Promise<void> {
      for (let k = 0; k < n; k++) {
        if (k % 50 === 49) {
          sent++;
          const res = await fetch(url).catch(() => undefined);
          if (res?.ok && (await res.text()) === "ok") answered++;
        } else offer();
        if (k % 50 === 0) await sleep(2);
      }
    },
    async close(): Promise<void> {
      for (let t = 0; t < 100 && engine.metrics().queue_depth > 0; t++) await sleep(50);
      await engine.flush();
      seen.failed = engine.metrics().failed;
      seen.suppressed = engine.metrics().errors_suppressed ?? 0;
      await engine.close();
      seen.failed = engine.metrics().failed;
      seen.answered = `${answered} / ${sent}`;
      await new Promise((r) => server.close(r));
    },
  };
}

/** A tmpfs of `size` mounted under a fresh temporary directory; `umount` always. */
function tmpfs(size: string): { dir: string; umount(): void } {
  const base = mkdtempSync(join(tmpdir(), "vigil-chaos-disk-"));
  const dir = join(base, "mnt");
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", dir]);
  return {
    dir,
    umount() {
      try {
        execFileSync("umount", ["-l", dir]);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

/** Fill the filesystem of `dir` with one file until ENOSPC; returns its path. */
function fill(dir: string): string {
  const path = join(dir, "filler");
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(64 * 1024, 0x2e);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    // and the last pages, a byte at a time
    try {
      for (;;) writeSync(fd, chunk, 0, 1);
    } catch {
      // full
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

async function fullDisk(onFull: "drop" | "block", events: number): Promise<DiskFigures> {
  const fs = tmpfs(events > 10_000 ? "64m" : "4m");
  try {
    const directory = join(fs.dir, "logs");
    const queue = Math.round(events / 5);
    const app = await application(directory, onFull, queue);
    await app.produce(Math.round(events * 0.2));
    await app.engine.flush();
    const filler = fill(fs.dir);
    await app.produce(Math.round(events * 0.5)); // the disk is full
    unlinkSync(filler);
    app.seen.fixedAt = Date.now();
    await app.produce(events - Math.round(events * 0.2) - Math.round(events * 0.5));
    await app.close();
    return await account(onFull === "drop" ? "full-drop" : "full-block", directory, app.seen);
  } finally {
    fs.umount();
  }
}

async function dirDeleted(events: number): Promise<DiskFigures> {
  const base = mkdtempSync(join(tmpdir(), "vigil-chaos-disk-"));
  try {
    const directory = join(base, "logs");
    const app = await application(directory, "drop", events);
    await app.produce(Math.round(events / 2));
    await app.engine.flush();
    app.seen.destroyed = (await fileStore(base).lines()).filter(
      (l) => typeof l.event?.metadata?.i === "number",
    ).length;
    rmSync(directory, { recursive: true, force: true });
    await app.produce(events - Math.round(events / 2));
    await app.close();
    return await account("dir-deleted", directory, app.seen);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

async function logrotate(mode: "create" | "copytruncate", events: number): Promise<DiskFigures> {
  const base = mkdtempSync(join(tmpdir(), "vigil-chaos-disk-"));
  try {
    const directory = join(base, "logs");
    const conf = join(base, "logrotate.conf");
    writeFileSync(
      conf,
      `${directory}/*.log {\n  rotate 5\n  missingok\n  nocompress\n  ${mode === "create" ? "create 0640 root root" : "copytruncate"}\n}\n`,
    );
    const app = await application(directory, "drop", events);
    await app.produce(Math.round(events / 2));
    // logrotate runs while the application goes on logging
    const rotating = spawn("logrotate", ["-f", "-s", join(base, "state"), conf], { stdio: "ignore" });
    const exited = new Promise<number | null>((r) => rotating.on("exit", r));
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done) await app.produce(50);
    if ((await exited) !== 0) throw new Error(`logrotate ${mode} failed`);
    await app.produce(Math.round(events / 2));
    await app.close();
    return await account(
      mode === "create" ? "logrotate-create" : "logrotate-copytruncate",
      directory,
      app.seen,
    );
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

interface ChildResult {
  offered: number;
  dropped: number;
  threw: number;
  errors: { kind: string }[];
  warnings: { at: number; message: string }[];
  marked: Record<string, number>;
  metrics: { failed: number; errors_suppressed: number };
}

/** Run the writer child under `wrap` (setpriv, prlimit), acting on its marks. */
async function child(
  wrap: readonly string[],
  directory: string,
  events: number,
  marks: Record<number, string>,
  onMark: (name: string) => void,
): Promise<ChildResult> {
  const env = {
    ...process.env,
    VIGIL_DISK_CHILD: JSON.stringify({ config: config(directory, "drop", events), events, marks }),
  };
  const proc: ChildProcess = spawn(wrap[0]!, [...wrap.slice(1), process.execPath, "--import", "tsx", CHILD], {
    cwd: ROOT,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let result: ChildResult | undefined;
  proc.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    let nl = out.indexOf("\n");
    while (nl >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith("mark ")) {
        onMark(line.split(" ")[1]!);
        proc.stdin!.write("ok\n");
      } else if (line.startsWith("result ")) result = JSON.parse(line.slice(7)) as ChildResult;
      nl = out.indexOf("\n");
    }
  });
  proc.stderr!.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => proc.on("exit", r));
  if (code !== 0 || result === undefined) throw new Error(`disk writer exited ${code}: ${err.slice(-2000)}`);
  return result;
}

function seenOf(r: ChildResult, fixedAt: number | undefined): Seen {
  const recovered = r.warnings.find((w) => /writing again/.test(w.message));
  return {
    offered: r.offered,
    dropped: r.dropped,
    threw: r.threw,
    failed: r.metrics.failed,
    errors: r.errors,
    suppressed: r.metrics.errors_suppressed ?? 0,
    recoveredAt: recovered?.at,
    fixedAt,
    answered: "—",
    destroyed: 0,
    warnings: r.warnings.map((w) => w.message),
  };
}

/** The current log file of the store (one category, one day). */
function currentLog(directory: string): string {
  const name = readdirSync(directory).find((n) => n.endsWith(".log"));
  if (name === undefined) throw new Error(`no log file in ${directory}`);
  return join(directory, name);
}

/** The writer obeys file modes; its directory loses write permission (and its file goes), then gets it back. */
async function permission(events: number): Promise<DiskFigures> {
  const base = mkdtempSync(join(tmpdir(), "vigil-chaos-disk-"));
  try {
    chmodSync(base, 0o755);
    const directory = join(base, "logs");
    mkdirSync(directory, { mode: 0o750 });
    let fixedAt: number | undefined;
    const outageMarks = { [Math.round(events * 0.3)]: "revoke" };
    const r = await child(NO_OVERRIDE, directory, events, outageMarks, (name) => {
      if (name !== "revoke") return;
      // an operator's mistake: the directory made read-only, the current file moved away
      chmodSync(directory, 0o550);
      renameSync(currentLog(directory), `${currentLog(directory)}.1`);
      setTimeout(() => {
        chmodSync(directory, 0o750);
        fixedAt = Date.now();
      }, 300);
    });
    return await account("permission", directory, seenOf(r, fixedAt));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

/**
 * The writer under `ulimit -n 256` takes every descriptor (a leak elsewhere in the app) and
 * then logs into a new category, whose file cannot be opened until the descriptors are freed.
 */
async function emfile(events: number): Promise<DiskFigures> {
  const base = mkdtempSync(join(tmpdir(), "vigil-chaos-disk-"));
  try {
    const directory = join(base, "logs");
    let fixedAt: number | undefined;
    const r = await child(
      ["prlimit", "--nofile=256:256", "--"],
      directory,
      events,
      { [Math.round(events * 0.3)]: "hog", [Math.round(events * 0.6)]: "release" },
      (name) => {
        if (name === "release") fixedAt = Date.now();
      },
    );
    return await account("emfile", directory, seenOf(r, fixedAt));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

/** One scenario with `events` events offered. */
export function diskScenario(scenario: DiskScenario, events: number): Promise<DiskFigures> {
  switch (scenario) {
    case "full-drop":
      return fullDisk("drop", events);
    case "full-block":
      return fullDisk("block", events);
    case "permission":
      return permission(events);
    case "dir-deleted":
      return dirDeleted(events);
    case "emfile":
      return emfile(events);
    case "logrotate-create":
      return logrotate("create", events);
    case "logrotate-copytruncate":
      return logrotate("copytruncate", events);
  }
}
