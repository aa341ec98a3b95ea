/**
 * Is a store on a network filesystem? Several processes share a store safely through
 * guarantees a local filesystem gives and a network one does not: SQLite's WAL mode
 * needs shared memory on one host (SQLite's documentation: "WAL does not work over a
 * network filesystem"), and an `O_APPEND` write is atomic only on the host that makes it.
 * SQLite on such a filesystem is refused when the backend is built; a file store there
 * gets a warning (one writer per directory, or a directory per host, is safe).
 *
 * Linux only (`statfs(2)`'s filesystem type); elsewhere nothing is detected.
 *
 * @module
 */
import { type StatsFs, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** `statfs(2)` magic numbers of network filesystems (linux/magic.h and the filesystems' own headers). */
const NETWORK_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x6969, "nfs"],
  [0x517b, "smb"],
  [0xff534d42, "cifs"],
  [0xfe534d42, "smb2"],
  [0x73757245, "coda"],
  [0x5346414f, "afs"],
  [0x6b414653, "afs"],
  [0x00c36400, "ceph"],
  [0x01021997, "9p"],
  [0x0bd00bd0, "lustre"],
  [0x47504653, "gpfs"],
]);

/**
 * The network filesystem `path` is on (`"nfs"`, `"cifs"`, ...), judged on the nearest
 * existing ancestor when `path` does not exist yet; undefined for a local filesystem, or
 * when it cannot be told.
 *
 * @param statfs - `fs.statfsSync` (tests pass another)
 */
export function networkFilesystem(
  path: string,
  statfs: (path: string) => Pick<StatsFs, "type"> = statfsSync,
): string | undefined {
  if (process.platform !== "linux" && statfs === statfsSync) return undefined;
  let at = resolve(path);
  for (let depth = 0; depth < 256; depth++) {
    try {
      const type = Number(statfs(at).type);
      return NETWORK_FILESYSTEMS.get(type >>> 0);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") return undefined;
      const parent = dirname(at);
      if (parent === at) return undefined;
      at = parent;
    }
  }
  return undefined;
}
