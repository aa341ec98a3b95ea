/**
 * Reading a store file for verification: every line with its number, a last line
 * without newline reported (not dropped silently), and a read or decompression error
 * reported with how far the file could be read.
 *
 * @module
 */
import { isUtf8 } from "node:buffer";
import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import { createGunzip } from "node:zlib";

/** How reading one file ended. */
export interface ReadOutcome {
  /** Complete lines read (the last line number). */
  readonly lines: number;
  /**
   * A last line without its newline: its number and length in characters (and, read from a
   * plain file, the byte offset where it starts).
   */
  readonly torn?: {
    readonly line: number;
    readonly chars: number;
    readonly text: string;
    readonly offset?: number;
  };
  /** Why reading stopped early (unreadable gzip data, I/O error). */
  readonly error?: Error;
  /** The file read (its inode number), when it could be opened. */
  readonly ino?: number;
}

/**
 * Call `onLine(text, lineNo)` for each complete line of a plain or gzipped file, in order.
 * Empty lines are counted but not passed on.
 */
export async function readFileLines(
  path: string,
  gzip: boolean,
  onLine: (text: string, lineNo: number) => void,
): Promise<ReadOutcome> {
  const raw = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const stream = gzip ? raw.pipe(createGunzip({ chunkSize: 256 * 1024 })) : raw;
  raw.on("error", (err) => stream.destroy(err));
  stream.setEncoding("utf8");
  let rest = "";
  let lineNo = 0;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      const text = rest.length > 0 ? rest + chunk : chunk;
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        lineNo++;
        if (nl > start) onLine(text.slice(start, nl), lineNo);
        start = nl + 1;
      }
      rest = start < text.length ? text.slice(start) : "";
    }
  } catch (err) {
    return { lines: lineNo, error: err as Error };
  }
  if (rest.length > 0) return { lines: lineNo, torn: { line: lineNo + 1, chars: rest.length, text: rest } };
  return { lines: lineNo };
}

/**
 * The line of a plain file that starts at byte `offset`, when it now ends with a newline (a
 * running writer finished writing it since it was read torn); `undefined` when it still does
 * not, or the file cannot be read. Reads at most `limit` bytes.
 */
export function completedLine(path: string, offset: number, limit = 64 * 1024 * 1024): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const chunks: Buffer[] = [];
    let at = offset;
    for (let total = 0; total < limit; ) {
      const chunk = Buffer.alloc(Math.min(1024 * 1024, limit - total));
      const n = readSync(fd, chunk, 0, chunk.length, at);
      if (n === 0) return undefined;
      const nl = chunk.subarray(0, n).indexOf(0x0a);
      if (nl >= 0) {
        chunks.push(chunk.subarray(0, nl));
        return Buffer.concat(chunks);
      }
      chunks.push(chunk.subarray(0, n));
      at += n;
      total += n;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Like {@link readFileLines}, but hands each complete line over as a byte range of a buffer
 * (valid only during the call), so that the verifier's fast path never decodes it.
 * `utf8` says whether the buffer is valid UTF-8 (when not, decode and judge the text).
 */
export async function readFileLineBytes(
  path: string,
  gzip: boolean,
  onLine: (buf: Buffer, start: number, end: number, lineNo: number, utf8: boolean) => void,
): Promise<ReadOutcome> {
  const raw = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const stream = gzip ? raw.pipe(createGunzip({ chunkSize: 256 * 1024 })) : raw;
  raw.on("error", (err) => stream.destroy(err));
  // which file was read, when a writer renames files meanwhile (rotation)
  let ino: number | undefined;
  raw.on("open", (fd: number) => {
    try {
      ino = fstatSync(fd).ino;
    } catch {
      // not needed to read it
    }
  });
  let rest: Buffer | undefined;
  let lineNo = 0;
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
      const last = buf.lastIndexOf(0x0a);
      if (last < 0) {
        rest = buf;
        continue;
      }
      const utf8 = isUtf8(buf.subarray(0, last));
      let start = 0;
      while (start <= last) {
        const nl = buf.indexOf(0x0a, start);
        lineNo++;
        if (nl > start) onLine(buf, start, nl, lineNo, utf8);
        start = nl + 1;
      }
      rest = start < buf.length ? buf.subarray(start) : undefined;
    }
  } catch (err) {
    return { lines: lineNo, error: err as Error, ...(ino !== undefined ? { ino } : {}) };
  }
  const read = ino !== undefined ? { ino } : {};
  if (rest && rest.length > 0) {
    const text = rest.toString("utf8");
    const at = gzip ? {} : { offset: bytes - rest.length };
    return { lines: lineNo, torn: { line: lineNo + 1, chars: text.length, text, ...at }, ...read };
  }
  return { lines: lineNo, ...read };
}
