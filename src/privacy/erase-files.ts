/**
 * Erasure by rewriting in a file store: every file holding the person's events (plain,
 * rotated, gzipped) is rewritten through a temporary file and renamed over the original,
 * holding the store's maintenance lock (`.vigil-maintain.lock`, so gzip and `backup_count`
 * never work on a file being rewritten), after the signed erasure record listing each
 * replacement has been fsync'd to `<directory>/checkpoints/erasure.jsonl`.
 *
 * **The live file.** A writer (this process or another) may be appending to a file of the
 * current period. Renaming a rewritten copy over it would strand those appends in the
 * replaced inode. So such a file is first rotated — renamed to `name.N` under the rotation
 * lock, exactly like size rotation — and writers, which check before each batch that the
 * path still names their file (one `stat`), follow to a fresh `name`. A writer that checked
 * just before the rename lands its batch in `name.N`: erasure waits `graceMs` before it reads
 * `name.N`, and after its own rename it looks once more at the replaced inode and carries any
 * line that still arrived over to the rewritten file (rewritten too). Nothing a writer
 * appended is lost; the order of lines in every file is kept.
 *
 * Crash safety: the record is written first; a crash before the rename leaves the original
 * file, which still verifies (a record whose replacement is not found changes nothing), and
 * erasing again completes the work.
 *
 * @module
 */
import { once } from "node:events";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { ErrorCodes, StorageError, VigilError } from "../errors.js";
import { FileCheckpointSink } from "../integrity/records.js";
import type { Signer } from "../integrity/signing.js";
import { type FileBackend, nextRotatedName } from "../storage/file/file-backend.js";
import { StoreLock } from "../storage/file/lock.js";
import { syncDirectory } from "./key-store.js";
import { type LineRewrite, type Replacement, signErasure } from "./rewrite.js";

/** What erasure did in one store. */
export interface StoreErasure {
  /** The backend's name. */
  readonly backend: string;
  readonly type: "file" | "database";
  /** Events rewritten. */
  readonly events: number;
  /** Files rewritten (file stores), as they are named now. */
  readonly files?: readonly string[];
  /** Signed erasure records written. */
  readonly records: number;
  /** Each replacement: where, the chain position and hashes (chained stores), the fields. */
  readonly replacements: readonly {
    readonly at: string;
    readonly chain?: string;
    readonly seq?: number;
    readonly old?: string;
    readonly new?: string;
    readonly fields: readonly string[];
  }[];
  /** Lines about the person that were not rewritten, and why (modified lines). */
  readonly refused: readonly { readonly at: string; readonly reason: string }[];
}

/** Options of {@link eraseInFiles}. */
export interface FileErasureOptions {
  /** Rewrites one stored line (see `createLineRewriter`). */
  readonly rewrite: (stored: string) => LineRewrite;
  /** Signs the erasure records; required when the store is chained. */
  readonly signer?: Signer;
  /** Directories that receive a copy of every record (`security.signing.witness`). */
  readonly witness?: readonly string[];
  /** How long to wait after rotating a live file before reading it. Default 300 ms. */
  readonly graceMs?: number;
  /** How long to wait for another process's maintenance lock. Default 30 s. */
  readonly lockWaitMs?: number;
  /** Called now and then with the number of stored lines read so far (both passes over a file count). */
  readonly onProgress?: (linesRead: number) => void;
}

const MAINTAIN_STALE_MS = 600_000;
const ROTATE_STALE_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Erase one person from a file store by rewriting (see the module comment).
 *
 * @throws {VigilError} `VIGIL_ERR_STORAGE` when the maintenance lock stays held, a file
 *   cannot be rewritten, or the store is chained and no signer is given.
 */
export async function eraseInFiles(backend: FileBackend, given: FileErasureOptions): Promise<StoreErasure> {
  const options = counted(given);
  const directory = backend.directory;
  const maintain = new StoreLock(join(directory, ".vigil-maintain.lock"), MAINTAIN_STALE_MS);
  const deadline = Date.now() + (options.lockWaitMs ?? 30_000);
  while (!maintain.tryAcquire()) {
    if (Date.now() >= deadline)
      throw new StorageError(
        backend.name,
        `${maintain.path} is held by another process (gzip or backup_count at work): erasure not started, try again`,
      );
    await sleep(50);
  }
  const replacements: Replacement[] = [];
  const unchained: { at: string; fields: readonly string[] }[] = [];
  const refused: { at: string; reason: string }[] = [];
  const files: string[] = [];
  let records = 0;
  const sink = new FileCheckpointSink(join(directory, "checkpoints"), options.witness ?? []);
  try {
    // A file rotated by a writer between listing and rotating it aside is found under its new
    // name by another pass (files already rewritten have nothing left to change).
    for (let pass = 0, again = true; again && pass < 3; pass++) {
      again = false;
      for (const f of await backend.listFiles()) {
        let probe: Awaited<ReturnType<typeof planFile>>;
        try {
          probe = await planFile(f.path, f.gzip, options.rewrite);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
          again = true; // rotated by a writer since the listing: look again
          continue;
        }
        maintain.touch();
        if (probe.changes === 0) {
          if (pass === 0)
            for (const r of probe.refused) refused.push({ at: `${f.path}:${r.line}`, reason: r.reason });
          continue;
        }
        let path = f.path;
        if (!f.gzip && f.index === 0) {
          const aside = rotateAside(directory, f.name);
          if (aside === undefined) {
            again = true;
            continue;
          }
          path = aside;
          await sleep(options.graceMs ?? 300);
        }
        const done = await rewriteFile(path, f.gzip, options, sink);
        maintain.touch();
        records += done.records;
        replacements.push(...done.replacements);
        unchained.push(...done.unchained);
        for (const r of done.refused) refused.push({ at: `${path}:${r.line}`, reason: r.reason });
        if (done.replacements.length + done.unchained.length > 0) files.push(path);
      }
    }
  } finally {
    try {
      sink.close();
    } finally {
      maintain.release();
    }
  }
  return {
    backend: backend.name,
    type: "file",
    events: replacements.length + unchained.length,
    files,
    records,
    replacements: [
      ...replacements.map((r) => ({
        at: r.at,
        chain: r.chain,
        seq: r.seq,
        old: r.old,
        new: r.new,
        fields: r.fields,
      })),
      ...unchained,
    ],
    refused,
  };
}

/** `options` with its `rewrite` counting the lines it sees for `onProgress` (every 1,000). */
function counted(options: FileErasureOptions): FileErasureOptions {
  const report = options.onProgress;
  if (!report) return options;
  let n = 0;
  const rewrite = options.rewrite;
  return {
    ...options,
    rewrite: (line) => {
      if (++n % 1000 === 0) report(n);
      return rewrite(line);
    },
  };
}

/**
 * Rename a file writers may append to out of their way, as size rotation does; returns its
 * new path, or undefined when it was moved meanwhile (rotated by a writer).
 */
function rotateAside(directory: string, name: string): string | undefined {
  const lock = new StoreLock(join(directory, ".vigil-rotate.lock"), ROTATE_STALE_MS);
  if (!lock.acquireSync(5000))
    throw new VigilError(
      ErrorCodes.STORAGE,
      `${lock.path} held by another process for 5 s: ${name} not rotated for erasure, try again`,
    );
  try {
    const target = join(directory, nextRotatedName(directory, name));
    try {
      renameSync(join(directory, name), target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    return target;
  } finally {
    lock.release();
  }
}

/** How many lines of a file erasure would change (a read-only pass). */
async function planFile(
  path: string,
  gzip: boolean,
  rewrite: (stored: string) => LineRewrite,
): Promise<{ changes: number; refused: { line: number; reason: string }[] }> {
  let changes = 0;
  const refused: { line: number; reason: string }[] = [];
  await eachLine(readSource(path, gzip), (text, lineNo) => {
    const r = rewrite(text);
    if (r.kind === "rewritten") changes++;
    else if (r.kind === "refused") refused.push({ line: lineNo, reason: r.reason });
    return undefined;
  });
  return { changes, refused };
}

function readSource(path: string, gzip: boolean, fd?: number, end?: number): NodeJS.ReadableStream {
  const raw = createReadStream(path, {
    highWaterMark: 1024 * 1024,
    ...(fd !== undefined ? { fd, autoClose: false, start: 0 } : {}),
    ...(end !== undefined ? { end: end - 1 } : {}),
  });
  if (!gzip) return raw;
  const gunzip = createGunzip();
  raw.on("error", (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/**
 * Call `onLine` for each line of `source`; its return value (or the line itself when it
 * returns undefined) is passed to `out` with its newline. A last line without newline is
 * passed on unchanged and not shown to `onLine`.
 */
async function eachLine(
  source: NodeJS.ReadableStream,
  onLine: (text: string, lineNo: number) => string | undefined,
  out?: Writable,
): Promise<void> {
  source.setEncoding("utf8");
  let rest = "";
  let lineNo = 0;
  for await (const chunk of source as AsyncIterable<string>) {
    const text = rest.length > 0 ? rest + chunk : chunk;
    let start = 0;
    let piece = "";
    for (;;) {
      const nl = text.indexOf("\n", start);
      if (nl < 0) break;
      lineNo++;
      const line = text.slice(start, nl);
      const replaced = line === "" ? undefined : onLine(line, lineNo);
      if (out) piece += `${replaced ?? line}\n`;
      start = nl + 1;
    }
    rest = text.slice(start);
    if (out && piece !== "" && !out.write(piece)) await once(out, "drain");
  }
  if (out && rest !== "") out.write(rest);
}

interface FileRewrite {
  records: number;
  replacements: Replacement[];
  unchained: { at: string; fields: readonly string[] }[];
  refused: { line: number; reason: string }[];
}

/**
 * Rewrite one file: the new content goes to a temporary file (gzipped again for `.gz`), the
 * erasure records are signed and fsync'd, then the temporary file is renamed over the
 * original and the directory fsync'd. Lines appended to the original meanwhile (a writer
 * that had not yet followed a rotation) are rewritten and appended to the new file.
 */
async function rewriteFile(
  path: string,
  gzip: boolean,
  options: FileErasureOptions,
  sink: FileCheckpointSink,
): Promise<FileRewrite> {
  const name = basename(path);
  const result: FileRewrite = { records: 0, replacements: [], unchained: [], refused: [] };
  const onLine = (text: string, lineNo: number): string | undefined => {
    const r = options.rewrite(text);
    if (r.kind === "refused") result.refused.push({ line: lineNo, reason: r.reason });
    if (r.kind !== "rewritten") return undefined;
    const at = `${name}:${lineNo}`;
    if (r.chain) result.replacements.push({ ...r.chain, at, fields: r.fields });
    else result.unchained.push({ at, fields: r.fields });
    return r.line;
  };
  const fd = openSync(path, "r");
  const tmp = `${path}.erase-${process.pid}-${Date.now()}.tmp`;
  try {
    const size = fstatSync(fd).size;
    const file = createWriteStream(tmp, { mode: 0o640 });
    const zip = gzip ? createGzip() : undefined;
    const out: Writable = zip ?? file;
    const done = zip ? pipeline(zip, file) : undefined;
    await eachLine(readSource(path, gzip, fd, gzip ? undefined : size), onLine, out);
    out.end();
    if (done) await done;
    else await once(file, "finish");
    if (result.replacements.length > 0) {
      if (!options.signer)
        throw new VigilError(
          ErrorCodes.CONFIG,
          `${path} holds signed (chained) events but security.signing is off: erasure cannot sign its record, nothing rewritten`,
        );
      const signed = signErasure(result.replacements, options.signer);
      sink.appendAll(signed);
      result.records += signed.length;
    }
    const tfd = openSync(tmp, "r");
    try {
      fsyncSync(tfd);
    } finally {
      closeSync(tfd);
    }
    renameSync(tmp, path);
    syncDirectory(dirname(path));
    if (!gzip) await carryOver(fd, size, path, result, options, sink, onLine);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // not created, or renamed already
    }
    if (err instanceof VigilError) throw err;
    throw new VigilError(ErrorCodes.STORAGE, `erasure could not rewrite ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    closeSync(fd);
  }
  return result;
}

/**
 * Lines a late writer appended to the replaced file after it was read (from byte `from`):
 * rewritten when they concern the person, signed, and appended to the new file.
 */
async function carryOver(
  fd: number,
  from: number,
  path: string,
  result: FileRewrite,
  options: FileErasureOptions,
  sink: FileCheckpointSink,
  onLine: (text: string, lineNo: number) => string | undefined,
): Promise<void> {
  const size = fstatSync(fd).size;
  if (size <= from) return;
  const late = Buffer.alloc(size - from);
  let off = 0;
  while (off < late.length) {
    const n = readSync(fd, late, off, late.length - off, from + off);
    if (n === 0) break;
    off += n;
  }
  const before = result.replacements.length;
  let lineNo = countLines(path);
  const text = late.toString("utf8", 0, off);
  const lines = text.split("\n");
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i === lines.length - 1) {
      out += line; // a torn tail stays torn
      break;
    }
    lineNo++;
    out += `${line === "" ? "" : (onLine(line, lineNo) ?? line)}\n`;
  }
  const added = result.replacements.slice(before);
  if (added.length > 0 && options.signer) {
    const signed = signErasure(added, options.signer);
    sink.appendAll(signed);
    result.records += signed.length;
  }
  const afd = openSync(path, "a");
  try {
    const buf = Buffer.from(out);
    let w = 0;
    while (w < buf.length) w += writeSync(afd, buf, w, buf.length - w);
    fsyncSync(afd);
  } finally {
    closeSync(afd);
  }
}

function countLines(path: string): number {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(1024 * 1024);
    let n = 0;
    let pos = 0;
    for (;;) {
      const r = readSync(fd, buf, 0, buf.length, pos);
      if (r === 0) return n;
      for (let i = 0; i < r; i++) if (buf[i] === 0x0a) n++;
      pos += r;
    }
  } finally {
    closeSync(fd);
  }
}
