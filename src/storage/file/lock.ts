/**
 * A lock shared by the processes writing one file store: a lock file created with
 * O_EXCL, holding the owner's pid, host and a random token. Rotation holds it for the
 * few system calls of a rename; maintenance (gzip, `backup_count`) holds another one
 * while it works, so neither is ever done twice at once.
 *
 * A lock whose owner died (same host and pid namespace, pid gone) or that is older than `staleMs` is
 * taken over: moved aside under a unique name and checked to be the one judged stale,
 * so two processes recovering at once cannot both win. Locks on a directory shared by
 * several hosts work as far as O_EXCL does there (local filesystems, NFSv3+).
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  linkSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { hostname } from "node:os";

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** Block the thread for `ms` (the lock is taken on the synchronous write path). */
export function sleepSync(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Who "we" are for judging a pid: the host name and, on Linux, the pid namespace (two
 * containers may share a host name and a volume, never a pid namespace).
 */
function machineId(): string {
  let ns = "";
  try {
    ns = readlinkSync("/proc/self/ns/pid").replace(/\D/g, "");
  } catch {
    // not Linux: the host name alone
  }
  return `${hostname().replace(/\s/g, "_")}${ns ? `/${ns}` : ""}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return codeOf(err) === "EPERM"; // exists, owned by someone else
  }
}

export class StoreLock {
  readonly path: string;
  readonly #staleMs: number;
  readonly #host = machineId();
  /** Our lock file's content while held. */
  #content: string | undefined;
  /** Re-entrant: nested acquisitions by the same backend. */
  #depth = 0;

  /** @param staleMs a lock older than this is taken over even when its owner may be alive */
  constructor(path: string, staleMs: number) {
    this.path = path;
    this.#staleMs = staleMs;
  }

  get held(): boolean {
    return this.#depth > 0;
  }

  /** One attempt (taking over a stale lock); true when held. */
  tryAcquire(): boolean {
    if (this.#depth > 0) {
      this.#depth++;
      return true;
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      const content = `${process.pid} ${this.#host} ${randomBytes(8).toString("hex")} ${Date.now()}\n`;
      let fd: number;
      try {
        fd = openSync(this.path, "wx", 0o640);
      } catch (err) {
        if (codeOf(err) !== "EEXIST") throw err;
        if (!this.#takeOverIfStale()) return false;
        continue;
      }
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      this.#content = content;
      this.#depth = 1;
      return true;
    }
    return false;
  }

  /** Try for up to `waitMs`, sleeping briefly between attempts; true when held. */
  acquireSync(waitMs: number): boolean {
    const deadline = Date.now() + waitMs;
    for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
      if (this.tryAcquire()) return true;
      if (Date.now() >= deadline) return false;
      sleepSync(pause);
    }
  }

  /** Try for up to `waitMs` without blocking the thread (polling every 10–100 ms); true when held. */
  async acquire(waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    for (let pause = 10; ; pause = Math.min(pause * 2, 100)) {
      if (this.tryAcquire()) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** Tell others we are still working (maintenance holds its lock for a while). */
  touch(): void {
    if (this.#depth === 0) return;
    const now = new Date();
    try {
      utimesSync(this.path, now, now);
    } catch {
      // taken over or removed: release() will not remove someone else's lock
    }
  }

  release(): void {
    if (this.#depth === 0) return;
    if (--this.#depth > 0) return;
    const mine = this.#content;
    this.#content = undefined;
    try {
      if (readFileSync(this.path, "utf8") === mine) unlinkSync(this.path);
    } catch (err) {
      if (codeOf(err) !== "ENOENT") throw err;
    }
  }

  /** Remove the lock file when its owner is gone or it is older than staleMs; true when removed. */
  #takeOverIfStale(): boolean {
    let text: string;
    let age: number;
    try {
      age = Date.now() - statSync(this.path).mtimeMs;
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if (codeOf(err) === "ENOENT") return true; // released meanwhile
      throw err;
    }
    const [pid, host] = text.split(" ");
    const ownerGone = host === this.#host && Number(pid) > 0 && !alive(Number(pid));
    if (!ownerGone && age <= this.#staleMs) return false;
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      renameSync(this.path, aside);
    } catch (err) {
      if (codeOf(err) === "ENOENT") return true;
      throw err;
    }
    const moved = readFileSync(aside, "utf8");
    if (moved !== text) {
      // a fresh lock was taken between our read and the rename: give it back
      try {
        linkSync(aside, this.path);
      } catch {
        // someone holds the name again; the owner of the moved lock loses it (reported as stale)
      }
      unlinkSync(aside);
      return false;
    }
    unlinkSync(aside);
    return true;
  }
}
