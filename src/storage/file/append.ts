/**
 * Appends that leave no partial line behind. `write(2)` on a full disk (`ENOSPC`, `EDQUOT`)
 * may write part of a buffer and then fail: a line cut short, which the next append would
 * glue onto. {@link takeBack} cuts the file back to where the append began, provided that
 * what is at its end is still exactly what this append wrote (another process appending to
 * the same `O_APPEND` file since is left alone).
 *
 * @module
 */
import { fstatSync, ftruncateSync, readSync, writeSync } from "node:fs";

/**
 * Cut off the first `written` bytes of `buf`, appended last to `fd`. Returns the file's new
 * size, or undefined when it was left as it is (nothing written, another writer appended
 * since, or the file went away).
 */
export function takeBack(fd: number, buf: Buffer, written: number): number | undefined {
  if (written <= 0) return undefined;
  try {
    const start = fstatSync(fd).size - written;
    if (start < 0) return undefined;
    const tail = Buffer.alloc(written);
    readSync(fd, tail, 0, written, start);
    if (!tail.equals(buf.subarray(0, written))) return undefined;
    ftruncateSync(fd, start);
    return start;
  } catch {
    return undefined;
  }
}

/** Append all of `buf` to `fd` (opened with `O_APPEND`), or nothing of it: a failure takes back what was written, then throws. */
export function appendWhole(fd: number, buf: Buffer): void {
  let off = 0;
  try {
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
  } catch (err) {
    takeBack(fd, buf, off);
    throw err;
  }
}
