/**
 * The file backend's background fdatasync against rotation and eviction (issue 12): a
 * file is never closed while a sync of it is pending, so each batch's durability is
 * obtained on the file that holds it — never EBADF, never a descriptor number that
 * meanwhile names another file.
 */
import * as fs from "node:fs";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { tempDir } from "../../../test/helpers.js";
import { DEFAULT_FILE_BACKEND, DEFAULT_ROTATION } from "../../config/defaults.js";
import type { FileBackendConfig } from "../../config/types.js";
import type { AuditEvent } from "../../event/types.js";
import type { StoredRecord } from "../backend.js";
import { FileBackend } from "./file-backend.js";

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
