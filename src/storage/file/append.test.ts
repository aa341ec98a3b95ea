/**
 * On a full disk (a real tmpfs, mounted here: the test machine runs as root), `write(2)`
 * writes part of a buffer and then fails with ENOSPC. appendWhole takes that part back, so
 * no line is left cut short for the next append to glue onto.
 */
import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, test } from "vitest";
import { appendWhole, takeBack } from "./append.js";

let base: string;
let mnt: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "vigil-append-"));
  mnt = join(base, "mnt");
  mkdirSync(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]);
});
afterEach(() => {
  try {
    execFileSync("umount", ["-l", mnt]);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("an append the full disk cuts short leaves the file as it was, and the next one lands whole", () => {
  const path = join(mnt, "audit.log");
  const fd = openSync(path, "a+");
  try {
    appendWhole(fd, Buffer.from('{"i":0}\n'));
    // fill the disk, leaving the log's last page only partly free
    const filler = openSync(join(mnt, "filler"), "w");
    try {
      for (;;) writeSync(filler, Buffer.alloc(4096, 0x2e));
    } catch {
      // ENOSPC
    } finally {
      closeSync(filler);
    }
    const line = Buffer.from(`${JSON.stringify({ i: 1, pad: "x".repeat(20_000) })}\n`);
    expect(() => appendWhole(fd, line)).toThrow(/ENOSPC/);
    expect(readFileSync(path, "utf8")).toBe('{"i":0}\n');
    unlinkSync(join(mnt, "filler"));
    appendWhole(fd, line);
    const lines = readFileSync(path, "utf8").split("\n");
    expect(lines.slice(0, -1).map((l) => JSON.parse(l).i)).toEqual([0, 1]);
  } finally {
    closeSync(fd);
  }
});

test("takeBack leaves the file alone when someone else appended after us", () => {
  const path = join(base, "shared.log");
  const fd = openSync(path, "a+");
  try {
    const mine = Buffer.from("mine\n");
    writeSync(fd, mine);
    writeSync(fd, Buffer.from("theirs\n"));
    expect(takeBack(fd, mine, mine.length)).toBeUndefined();
    expect(readFileSync(path, "utf8")).toBe("mine\ntheirs\n");
  } finally {
    closeSync(fd);
  }
});
