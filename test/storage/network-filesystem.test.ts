/**
 * A store on a network filesystem (NFS, SMB, ...): SQLite there cannot be shared safely by
 * several processes (its WAL needs memory shared on one host), so the engine refuses it at
 * start with a coded error; a file store there is kept, with a warning that appends from
 * several hosts can interleave. No NFS server is at hand in the tests: `statfs(2)` answers
 * NFS's magic number for the directories under `nfsRoot`, the real answer elsewhere.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { AuditEngine } from "../../src/engine.js";
import { VigilError } from "../../src/errors.js";
import { networkFilesystem } from "../../src/storage/netfs.js";
import { tempDir } from "../helpers.js";

let nfsRoot = "/nonexistent-nfs-root";

vi.mock("node:fs", async (original) => {
  const real = await original<typeof import("node:fs")>();
  return {
    ...real,
    statfsSync: ((path: string, options?: never) => {
      const stats = real.statfsSync(path, options);
      return String(path).startsWith(nfsRoot) ? { ...stats, type: 0x6969 } : stats;
    }) as typeof real.statfsSync,
  };
});

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  nfsRoot = join(dir, "nfs");
  mkdirSync(nfsRoot);
});
afterEach(() => cleanup());

it("tells a network filesystem by statfs, from the nearest existing ancestor of a path not created yet", () => {
  expect(networkFilesystem(join(nfsRoot, "not", "yet", "audit.db"))).toBe("nfs");
  expect(networkFilesystem(join(dir, "local"))).toBeUndefined();
  expect(networkFilesystem(dir, () => ({ type: 0xff534d42 }))).toBe("cifs");
  expect(networkFilesystem(dir, () => ({ type: -0xacb2be }))).toBe("cifs"); // 0xff534d42 as a signed 32-bit value
  expect(networkFilesystem(dir, () => ({ type: 0xef53 }))).toBeUndefined(); // ext4
});

it("refuses SQLite on a network filesystem at start, with a coded error naming the file and what to do", () => {
  const filename = join(nfsRoot, "audit", "audit.db");
  let error: unknown;
  try {
    new AuditEngine({
      env: {},
      config: { storage: { backends: [{ type: "database", connection: { dialect: "sqlite", filename } }] } },
    });
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(VigilError);
  expect((error as VigilError).code).toBe("VIGIL_ERR_CONFIG");
  expect((error as Error).message).toContain(filename);
  expect((error as Error).message).toMatch(/network filesystem \(nfs\).*local disk.*PostgreSQL/);
});

it("opens SQLite on a local filesystem as before", async () => {
  const engine = new AuditEngine({
    env: {},
    config: {
      storage: {
        backends: [
          { type: "database", connection: { dialect: "sqlite", filename: join(dir, "local", "a.db") } },
        ],
      },
    },
  });
  engine.log({ action: "LOCAL" });
  expect(await engine.count()).toBe(1);
  await engine.close();
});

it("keeps a file store on a network filesystem, and warns once that several hosts must not share it", async () => {
  const warnings: string[] = [];
  const engine = new AuditEngine({
    env: {},
    config: { storage: { backends: [{ type: "file", directory: join(nfsRoot, "logs") }] } },
  });
  engine.on("warning", (w: string) => warnings.push(w));
  engine.log({ action: "ON_NFS" });
  await engine.flush();
  expect(await engine.count()).toBe(1);
  await engine.close();
  const nfs = warnings.filter((w) => w.includes("network filesystem"));
  expect(nfs).toHaveLength(1);
  expect(nfs[0]).toMatch(/nfs\).*different hosts can interleave.*directory of its own/);
});
