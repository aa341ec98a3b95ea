/**
 * The file backend's background fdatasync against rotation and eviction (issue 12): a
 * file is never closed while a sync of it is pending, so each batch's durability is
 * obtained on the file that holds it — never EBADF, never a descriptor number that
 * meanwhile names another file.
 */
import * as fs from "node:fs";
import { readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../../../test/helpers.js";
import { DEFAULT_FILE_BACKEND, DEFAULT_ROTATION } from "../../config/defaults.js";
import type { FileBackendConfig } from "../../config/types.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import { FileBackend } from "./file-backend.js";
import { StoreLock } from "./lock.js";

/** The files (dev:ino) each background fdatasync really synced. */
const synced = new Set<string>();

// The background fdatasync starts a turn of the event loop later, as a busy thread pool
// makes it; it records which file the descriptor names when the sync runs.
vi.mock("node:fs", async (original) => {
  const real = await original<typeof import("node:fs")>();
  return {
    ...real,
    fdatasync: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) =>
      setImmediate(() => {
        let id: string | undefined;
        try {
          const st = real.fstatSync(fd);
          id = `${st.dev}:${st.ino}`;
        } catch {
          // EBADF: reported by the real call below
        }
        real.fdatasync(fd, (err) => {
          if (!err && id) synced.add(id);
          cb(err);
        });
      }),
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  synced.clear();
});
afterEach(() => cleanup());

function backend(
  rotation: Partial<FileBackendConfig["rotation"]>,
  pattern = "a_{category}_{date}.log",
): FileBackend {
  const config: FileBackendConfig = {
    ...DEFAULT_FILE_BACKEND,
    directory: dir,
    filename_pattern: pattern,
    rotation: { ...DEFAULT_ROTATION, ...rotation },
  };
  return new FileBackend({ config, application: "t" });
}

function record(i: number, category = "db"): StoredRecord {
  const event = {
    id: `e${String(i).padStart(6, "0")}`,
    timestamp: "2026-03-01T10:00:00.000Z",
    action: { type: "E", category },
  } as unknown as AuditEvent;
  return { event, line: JSON.stringify(event) };
}

const idOf = (path: string) => {
  const st = statSync(path);
  return `${st.dev}:${st.ino}`;
};

describe("file backend: background sync and rotation", () => {
  it("keeps a rotated file open until its pending fdatasync ends, and syncs every file that took a batch", async () => {
    const fb = backend({ when: "size", max_bytes: 150 });
    await fb.open();
    // every batch fills a file: each write rotates the file the previous one is syncing
    const writes = Array.from({ length: 40 }, (_, i) => fb.write([record(i)], { sync: true }));
    const results = await Promise.allSettled(writes);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const names = readdirSync(dir).filter((n) => n.startsWith("a_"));
    expect(names).toHaveLength(40);
    for (const n of names) expect(synced.has(idOf(join(dir, n))), n).toBe(true);
    const ids = names.flatMap((n) => readFileSync(join(dir, n), "utf8").trim().split("\n"));
    expect(ids.map((l) => JSON.parse(l).id).sort()).toEqual(
      Array.from({ length: 40 }, (_, i) => record(i).event.id),
    );
    await fb.close();
  });

  it("keeps a file evicted past 32 open files open until its pending fdatasync ends", async () => {
    const fb = backend({ when: "midnight" });
    await fb.open();
    // 40 categories in one batch: the first files are evicted before their sync runs
    const batch = Array.from({ length: 40 }, (_, i) => record(i, `c${i}`));
    await expect(fb.write(batch, { sync: true })).resolves.toBeUndefined();
    for (const n of readdirSync(dir).filter((x) => x.startsWith("a_"))) {
      expect(synced.has(idOf(join(dir, n))), n).toBe(true);
    }
    await fb.close();
    // nothing of the store is left open
    const open = readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false;
      }
    });
    expect(open).toEqual([]);
  });
});

const idsIn = (name: string) =>
  readFileSync(join(dir, name), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).id as string);

describe("file backend: a file rotated by another process", () => {
  const name = "a_db_2026-03-01.log";

  it("is noticed before the next batch: the batch goes to the new file, not on into the rotated one", async () => {
    const fb = backend({ when: "size", max_bytes: 10_000 });
    await fb.open();
    await fb.write([record(0)], { sync: false });
    renameSync(join(dir, name), join(dir, `${name}.1`)); // as another process's rotation does
    await fb.write([record(1)], { sync: false });
    expect(idsIn(`${name}.1`)).toEqual([record(0).event.id]);
    expect(idsIn(name)).toEqual([record(1).event.id]);
    await fb.close();
  });

  it("never loses the batch when the full file it meant to rotate is gone already", async () => {
    const fb = backend({ when: "size", max_bytes: 150 });
    await fb.open();
    await fb.write([record(0)], { sync: false }); // about 90 bytes: the next record does not fit
    renameSync(join(dir, name), join(dir, `${name}.1`)); // rotated by another process, no new file yet
    await expect(fb.write([record(1)], { sync: true })).resolves.toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual([name, `${name}.1`]);
    expect(idsIn(name)).toEqual([record(1).event.id]);
    await fb.close();
  });

  it("is not rotated again by a second backend on the same directory", async () => {
    const a = backend({ when: "size", max_bytes: 250 });
    const b = backend({ when: "size", max_bytes: 250 });
    await a.open();
    await b.open();
    await a.write([record(0), record(1)], { sync: false }); // ~180 bytes
    await b.write([record(2)], { sync: false }); // does not fit: b rotates to .1
    await a.write([record(3)], { sync: false }); // a follows b's rotation: fits in the new file
    expect(readdirSync(dir).sort()).toEqual([name, `${name}.1`]);
    expect(idsIn(`${name}.1`)).toEqual([record(0).event.id, record(1).event.id]);
    expect(idsIn(name)).toEqual([record(2).event.id, record(3).event.id]);
    await a.close();
    await b.close();
  });
});

describe("the store lock", () => {
  it("is held by one owner at a time, and release leaves another owner's lock alone", () => {
    const path = join(dir, ".lock");
    const one = new StoreLock(path, 10_000);
    const two = new StoreLock(path, 10_000);
    expect(one.tryAcquire()).toBe(true);
    expect(two.tryAcquire()).toBe(false);
    expect(two.acquireSync(30)).toBe(false);
    one.release();
    expect(two.tryAcquire()).toBe(true);
    one.release(); // not held: nothing happens
    expect(readFileSync(path, "utf8")).toMatch(new RegExp(`^${process.pid} `));
    two.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("takes over a lock whose owner is gone, or that is older than staleMs", () => {
    const path = join(dir, ".lock");
    const owner = new StoreLock(path, 10_000);
    expect(owner.tryAcquire()).toBe(true);
    const [, machine] = readFileSync(path, "utf8").split(" "); // host and pid namespace
    // pid 2^22 + 1 is above Linux's pid_max: never a live process
    writeFileSync(path, `4194305 ${machine} deadbeef ${Date.now()}\n`);
    const lock = new StoreLock(path, 10_000);
    expect(lock.tryAcquire()).toBe(true);
    lock.release();
    // a live owner (our parent), but silent for longer than staleMs
    writeFileSync(path, `${process.ppid} ${machine} cafe ${Date.now()}\n`);
    expect(lock.tryAcquire()).toBe(false);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    expect(lock.tryAcquire()).toBe(true);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
