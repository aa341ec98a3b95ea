/**
 * The file backend (SPEC §8): JSON Lines, one event per line, one file per
 * category and UTC day (from `filename_pattern`), rotation by time and size, gzip of
 * old files, retention, and repair of a line torn by a crash.
 *
 * Writes are synchronous `write(2)` calls of whole batches on files opened with
 * O_APPEND, so a batch is never interleaved with another writer's and the exit
 * flush can write without the event loop. Files are chosen by the event's own
 * timestamp: an event stamped 23:59:59.999 lands in that day's file even when it is
 * written after midnight.
 *
 * Several processes may share one directory. Size rotation takes a lock file
 * (`.vigil-rotate.lock`) and checks, holding it, that the path still names the file it
 * holds; before each batch a writer checks the same (one `stat`), so it follows a
 * rotation another process made (or erasure's, see `privacy/erase-files.ts`) instead of
 * appending to the rotated file. Gzip and
 * `backup_count` run under `.vigil-maintain.lock`, one process at a time, and never
 * touch a file still being written; retention takes the same lock ({@link FileBackend.exclusively}),
 * so two processes applying it at once delete each file once. A file is closed only when no fdatasync on it is
 * pending, so a batch's durability is obtained even when its file rotates meanwhile.
 *
 * @module
 */

import { randomBytes } from "node:crypto";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fdatasync,
  fdatasyncSync,
  constants as fsConstants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  type Stats,
  statSync,
  writeSync,
} from "node:fs";
import { readdir, rename, stat, unlink, utimes } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import type { FileBackendConfig } from "../../config/types.js";
import { ErrorCodes, StorageError, VigilError } from "../../errors.js";
import type { AuditEvent } from "../../event/types.js";
import {
  BaseBackend,
  type QuerySpec,
  type RetentionResult,
  type ScanSink,
  type StoredRecord,
  type StoreFollower,
} from "../backend.js";
import { makeDirectory, makeDirectorySync } from "../dirs.js";
import { networkFilesystem } from "../netfs.js";
import { takeBack } from "./append.js";
import { readLines } from "./lines.js";
import { StoreLock, sleepSync } from "./lock.js";
import { type CompiledPattern, compilePattern, type MatchedFile } from "./pattern.js";
import { type FileSource, followFiles, queryFiles, scanFiles } from "./query.js";

const DAY_MS = 86_400_000;
const fdatasyncAsync = promisify(fdatasync);
/** Open files kept at once; the least recently written is closed past this. */
const MAX_OPEN_FILES = 32;
/** The largest batch buffer a file backend keeps for the next batch (a bigger batch gets a buffer of its own). */
const KEPT_BATCH_BUFFER = 4 * 1024 * 1024;
const NO_BUFFER = Buffer.alloc(0);
/** How long a size rotation waits for another process's rotation before writing on. */
const ROTATE_WAIT_MS = 500;
/** After such a wait failed, how long size rotation is not tried (the file grows past max_bytes). */
const ROTATE_BACKOFF_MS = 1000;
/** A rotation lock older than this belongs to a stuck process and is taken over. */
const ROTATE_STALE_MS = 10_000;
/** A maintenance lock not touched for this long is taken over. */
const MAINTAIN_STALE_MS = 600_000;
/** How soon maintenance is tried again when another process holds its lock. */
const MAINTAIN_RETRY_MS = 1000;
/** How long retention waits for another process's maintenance or retention to end. */
const EXCLUSIVE_WAIT_MS = 120_000;
/** A file written to within this time is never gzipped, whatever compress_after_days says. */
const COMPRESS_SETTLE_MS = 2000;
/** Mode of the store directories vigil creates (before the umask): owner all, group read. */
const DIR_MODE = 0o750;
/** Mode of the log files vigil creates (before the umask): owner read-write, group read. */
const FILE_MODE = 0o640;

export interface FileBackendOptions {
  readonly config: FileBackendConfig;
  readonly application: string;
  /** Turns a stored line back into an event (decryption plugs in here). Default JSON.parse. */
  readonly decode?: (line: string) => AuditEvent;
  /**
   * Whether `decode` returns, for a line that is neither an encryption envelope nor holds a
   * sealed `subject` (see `sealedSubjects`), exactly the event the line's JSON holds — so
   * searches may skip lines by their bytes without decoding them. Default: true without
   * `decode`, else false.
   */
  readonly plainLines?: boolean;
  /**
   * Whether `decode` opens erasure's sealed `subject` members (personal fields restored on
   * reading): searches then decode every line with a `subject` member before judging it.
   * False when erasure is off: a sealed member is then returned as it is stored. Default: true.
   */
  readonly sealedSubjects?: boolean;
  /** Reports non-fatal findings (a repaired torn line, a deleted backup). */
  readonly onWarning?: (message: string) => void;
  /**
   * Called before `rotation.backup_count` deletes files, with all of them; they are deleted
   * only once it resolves, and kept (with a warning) when it rejects. The integrity layer
   * plugs in here to sign a retention record first, so the deletion stays verifiable.
   * Default: none.
   */
  readonly beforePrune?: PruneHook;
}

/** See {@link FileBackendOptions.beforePrune}. */
export type PruneHook = (prune: {
  /** The store directory. */
  readonly directory: string;
  /** The files about to be deleted. */
  readonly files: readonly StoreFile[];
  /** The `backup_count` in force. */
  readonly keep: number;
}) => Promise<void>;

interface OpenFile {
  readonly fd: number;
  /** The file's identity, to tell whether its path still names it (size rotation). */
  readonly dev: number;
  readonly ino: number;
  size: number;
  /** Background fdatasyncs running on `fd`: it is closed only when none are. */
  syncs: number;
  /** Taken out of use (rotated, evicted): closed when its last sync ends. */
  retired: boolean;
}

/** What one append of a batch wrote, to take it back when the batch fails. */
interface Appended {
  readonly file: OpenFile;
  readonly buf: Buffer;
  written: number;
}

/** One file of the store, as listed by {@link FileBackend.listFiles}. */
export interface StoreFile extends MatchedFile {
  readonly name: string;
  readonly path: string;
}

export class FileBackend extends BaseBackend {
  readonly type = "file";
  readonly directory: string;
  readonly #config: FileBackendConfig;
  readonly #pattern: CompiledPattern;
  readonly #decode: (line: string) => AuditEvent;
  readonly #source: FileSource;
  readonly #warn: (message: string) => void;
  readonly #beforePrune: PruneHook | undefined;
  readonly #open = new Map<string, OpenFile>();
  /** Retired files whose background fdatasync has not ended yet. */
  readonly #retiring = new Set<OpenFile>();
  /** The background fdatasyncs running, awaited by close(). */
  readonly #syncing = new Set<Promise<void>>();
  readonly #names = new Map<string, string>();
  #buffer: Buffer = NO_BUFFER;
  readonly #rotateLock: StoreLock;
  readonly #maintainLock: StoreLock;
  readonly #sizeRotation: boolean;
  #dirReady = false;
  /** The store directory is world-writable (sticky): files are checked to be ours. */
  #sharedDir = false;
  #maintenance: Promise<void> | undefined;
  /** Serializes maintenance runs and {@link exclusively} sections within this process. */
  #housekeeping: Promise<unknown> = Promise.resolve();
  #maintenanceAgain = false;
  #maintenanceRetry: NodeJS.Timeout | undefined;
  #lockWarned = false;
  /** No size rotation is tried before this time (the rotation lock was busy). */
  #rotateNotBefore = 0;
  #closed = false;

  constructor(options: FileBackendOptions) {
    super(options.config.name);
    const { config } = options;
    if (/[/\\]/.test(config.filename_pattern) || config.filename_pattern.includes("..")) {
      throw new VigilError(
        ErrorCodes.CONFIG,
        `${config.name}: filename_pattern must be a file name without directories, found "${config.filename_pattern}"`,
      );
    }
    this.#config = config;
    this.directory = resolve(config.directory);
    this.#pattern = compilePattern(config.filename_pattern, options.application);
    this.#decode = options.decode ?? ((line) => JSON.parse(line) as AuditEvent);
    this.#source = {
      listFiles: () => this.listFiles(),
      decode: this.#decode,
      plainLines: options.plainLines ?? options.decode === undefined,
      sealedSubjects: options.sealedSubjects ?? true,
    };
    this.#warn = options.onWarning ?? (() => {});
    this.#beforePrune = options.beforePrune;
    this.#rotateLock = new StoreLock(join(this.directory, ".vigil-rotate.lock"), ROTATE_STALE_MS);
    this.#maintainLock = new StoreLock(join(this.directory, ".vigil-maintain.lock"), MAINTAIN_STALE_MS);
    const { rotation } = config;
    this.#sizeRotation = rotation.enabled && rotation.max_bytes > 0;
  }

  override async open(): Promise<void> {
    if (!this.#dirReady) {
      try {
        await makeDirectory(this.directory, { mode: DIR_MODE });
        this.#checkDirectory();
      } catch (err) {
        this.markUnhealthy(err);
        if (err instanceof VigilError && err.code === ErrorCodes.UNSAFE_PATH) throw err;
        throw new StorageError(this.name, (err as Error).message, { cause: err });
      }
      this.#dirReady = true;
      const fs = networkFilesystem(this.directory);
      if (fs !== undefined)
        this.#warn(
          `${this.name}: ${this.directory} is on a network filesystem (${fs}): appends from processes on different hosts can interleave there; give each host a directory of its own`,
        );
    }
    this.#scheduleMaintenance();
    await this.#maintenance;
  }

  #ensureDir(): void {
    if (this.#dirReady) return;
    makeDirectorySync(this.directory, { mode: DIR_MODE });
    this.#checkDirectory();
    this.#dirReady = true;
  }

  /**
   * Refuse a store directory another user could redirect or fill with files of their own:
   * world-writable without the sticky bit, or reached through a symbolic link owned by
   * another user (neither root nor this process's user). A sticky world-writable directory
   * (`/tmp`) is accepted, but a log file in it must belong to this user ({@link #openLog}).
   */
  #checkDirectory(): void {
    const uid = process.geteuid?.() ?? -1;
    const link = lstatSync(this.directory);
    if (link.isSymbolicLink() && uid >= 0 && link.uid !== uid && link.uid !== 0)
      throw new VigilError(
        ErrorCodes.UNSAFE_PATH,
        `${this.name}: the store directory ${this.directory} is a symbolic link owned by uid ${link.uid}, not by this process's user (${uid}) or root: refused (it could point anywhere)`,
      );
    const st = statSync(this.directory);
    this.#sharedDir = (st.mode & 0o002) !== 0;
    if (this.#sharedDir && (st.mode & 0o1000) === 0)
      throw new VigilError(
        ErrorCodes.UNSAFE_PATH,
        `${this.name}: the store directory ${this.directory} is writable by every user (mode ${(st.mode & 0o7777).toString(8)}) without the sticky bit: anyone could replace or delete the audit files; use a directory of your own (chmod o-w)`,
      );
  }

  /** The file an event belongs in (before size rotation). Cached per category and period. */
  fileNameFor(event: AuditEvent): string {
    const key = `${event.action.category}\u0000${event.timestamp.slice(0, 13)}`;
    let name = this.#names.get(key);
    if (name === undefined) {
      if (this.#names.size > 4096) this.#names.clear();
      name = this.#computeFileName(event);
      this.#names.set(key, name);
    }
    return name;
  }

  #computeFileName(event: AuditEvent): string {
    let name = this.#pattern.name({
      category: event.action.category,
      timestamp: event.timestamp,
      application: "",
    });
    const { when } = this.#config.rotation;
    if (this.#config.rotation.enabled) {
      if (when === "midnight" && !this.#pattern.hasDate) name += `.${event.timestamp.slice(0, 10)}`;
      else if (when === "hourly" && !(this.#pattern.hasDate && this.#pattern.hasHour))
        name += `.${event.timestamp.slice(0, 13)}`;
    }
    return name;
  }

  /**
   * Append the batch now (synchronous `write(2)`, so batches stay in queue order), then,
   * when `sync` is asked, fdatasync the touched files on the thread pool: the event
   * loop is not blocked while the disk catches up. A file rotated or evicted meanwhile
   * stays open until its fdatasync ends.
   */
  override write(batch: readonly StoredRecord[], options: { readonly sync: boolean }): Promise<void> {
    // Appended now, on the caller's turn: a batch that cannot be written (a full disk) throws
    // here, synchronously, with nothing of it left on disk — the engine then holds it, in order.
    const touched = this.#appendBatch(batch, false, options.sync);
    if (!options.sync) return Promise.resolve();
    return Promise.all(touched.map((f) => this.#syncInBackground(f))).then(
      () => undefined,
      (err: unknown) => {
        this.markUnhealthy(err);
        throw new StorageError(this.name, `cannot sync ${this.directory}: ${(err as Error).message}`, {
          cause: err,
        });
      },
    );
  }

  override writeSync(batch: readonly StoredRecord[], options: { readonly sync: boolean }): boolean {
    this.#appendBatch(batch, options.sync, false);
    return true;
  }

  /**
   * Write the batch, one `write(2)` per file. With `pin`, each touched file is held open
   * (its `syncs` count) until the caller's fdatasync of it ends.
   */
  #appendBatch(batch: readonly StoredRecord[], syncNow: boolean, pin: boolean): OpenFile[] {
    if (batch.length === 0) return [];
    const touched: OpenFile[] = [];
    const appended: Appended[] = [];
    let buf: Buffer | undefined;
    try {
      this.#ensureDir();
      const byFile = new Map<string, string[]>();
      let units = 0;
      for (const record of batch) {
        const name = this.fileNameFor(record.event);
        let lines = byFile.get(name);
        if (!lines) {
          lines = [];
          byFile.set(name, lines);
        }
        lines.push(record.line);
        units += record.line.length + 1;
      }
      // every file's lines are encoded into one buffer, each file in its own region (a
      // failed batch compares them with the file's tail to take them back)
      // three bytes per UTF-16 unit at most; a batch too big for the kept buffer is measured
      // exactly instead, so its one-off buffer is no larger than the bytes
      let bytes = units * 3;
      if (bytes > KEPT_BATCH_BUFFER) {
        bytes = 0;
        for (const record of batch) bytes += Buffer.byteLength(record.line) + 1;
      }
      buf = this.#takeBuffer(bytes);
      let start = 0;
      for (const [name, lines] of byFile) {
        let end = start;
        for (const line of lines) {
          end += buf.write(line, end);
          buf[end++] = 0x0a;
        }
        const file = this.#append(name, buf.subarray(start, end), syncNow, appended);
        start = end;
        if (pin) file.syncs++;
        touched.push(file);
      }
      this.markHealthy();
      return touched;
    } catch (err) {
      if (pin) for (const f of touched) this.#unpin(f);
      // all or nothing: what this batch appended (a line cut by ENOSPC, other files' lines)
      // is taken back, so the batch can be written again whole, without duplicates
      for (const a of appended) this.#takeBack(a);
      this.markUnhealthy(err);
      if (err instanceof VigilError && err.code === ErrorCodes.UNSAFE_PATH) throw err;
      throw new StorageError(this.name, `cannot write to ${this.directory}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      if (buf !== undefined) this.#keepBuffer(buf);
    }
  }

  /** fdatasync a pinned file on the thread pool, then unpin it. */
  #syncInBackground(file: OpenFile): Promise<void> {
    const done = fdatasyncAsync(file.fd).finally(() => {
      this.#syncing.delete(done);
      this.#unpin(file);
    });
    this.#syncing.add(done);
    return done;
  }

  #unpin(file: OpenFile): void {
    file.syncs--;
    if (file.retired && file.syncs === 0) {
      this.#retiring.delete(file);
      closeQuietly(file.fd);
    }
  }

  /** Take a file out of use: closed now, or when its pending fdatasyncs end. */
  #retire(name: string, file: OpenFile): void {
    if (this.#open.get(name) === file) this.#open.delete(name);
    if (file.retired) return;
    file.retired = true;
    if (file.syncs > 0) this.#retiring.add(file);
    else closeQuietly(file.fd);
  }

  /**
   * A buffer of at least `bytes` for encoding a batch: the same one batch after batch (a
   * fresh ~50 KB buffer per batch costs more than writing it). The caller owns it until it
   * gives it back with {@link #keepBuffer}: a batch written meanwhile from inside this one (an
   * error handler that logs synchronously) gets a buffer of its own.
   */
  #takeBuffer(bytes: number): Buffer {
    const kept = this.#buffer;
    this.#buffer = NO_BUFFER;
    if (bytes <= kept.length) return kept;
    return Buffer.allocUnsafe(
      bytes > KEPT_BATCH_BUFFER ? bytes : Math.min(KEPT_BATCH_BUFFER, Math.max(bytes, kept.length * 2)),
    );
  }

  #keepBuffer(buf: Buffer): void {
    if (buf.length <= KEPT_BATCH_BUFFER && buf.length > this.#buffer.length) this.#buffer = buf;
  }

  #append(name: string, buf: Buffer, sync: boolean, appended: Appended[]): OpenFile {
    const bytes = buf.length;
    // Each batch checks that the path still names the open file: a file renamed or deleted
    // by someone else (logrotate, an operator, the directory removed) is followed instead
    // of written into unseen. One stat per file and batch.
    let file = this.#current(name, this.#fileFor(name));
    if (this.#sizeRotation) {
      if (file.size > 0 && file.size + bytes > this.#config.rotation.max_bytes) {
        try {
          file = this.#rotateBySize(name, file, bytes);
        } catch (err) {
          // the batch is never lost to a failed rotation: it goes to the file at hand
          this.#warn(
            `${this.name}: could not rotate ${name}, writing on past max_bytes: ${(err as Error).message}`,
          );
          file = this.#current(name, this.#fileFor(name));
        }
      }
    }
    const entry: Appended = { file, buf, written: 0 };
    appended.push(entry);
    while (entry.written < buf.length)
      entry.written += writeSync(file.fd, buf, entry.written, buf.length - entry.written);
    file.size += bytes;
    if (sync) fdatasyncSync(file.fd);
    return file;
  }

  /**
   * The open file for `name`, reopened when its path no longer names it (another process
   * rotated it), with its size as the filesystem sees it (other processes append too).
   */
  #current(name: string, file: OpenFile): OpenFile {
    const st = statIfExists(join(this.directory, name), true);
    if (st && st.ino === file.ino && st.dev === file.dev) {
      file.size = st.size;
      return file;
    }
    this.#retire(name, file);
    return this.#fileFor(name);
  }

  #fileFor(name: string): OpenFile {
    const existing = this.#open.get(name);
    if (existing) {
      // keep insertion order = recency order for eviction
      this.#open.delete(name);
      this.#open.set(name, existing);
      return existing;
    }
    if (this.#open.size >= MAX_OPEN_FILES) {
      const [oldest, f] = this.#open.entries().next().value as [string, OpenFile];
      this.#retire(oldest, f);
    }
    const path = join(this.directory, name);
    const fd = this.#openLog(path);
    let st: Stats;
    let size: number;
    try {
      st = fstatSync(fd);
      size = st.size;
      if (size > 0) size = this.#repairTornTail(fd, path, size);
    } catch (err) {
      closeQuietly(fd);
      throw err;
    }
    const file: OpenFile = { fd, dev: st.dev, ino: st.ino, size, syncs: 0, retired: false };
    this.#open.set(name, file);
    return file;
  }

  /**
   * Open a log file for appending, never through a symbolic link (`O_NOFOLLOW`: a link
   * planted where a log file belongs is refused, not followed elsewhere). A store directory
   * deleted meanwhile is created again, and said.
   */
  #openLog(path: string): number {
    const flags = fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_RDWR | fsConstants.O_NOFOLLOW;
    try {
      return this.#owned(openSync(path, flags, FILE_MODE), path);
    } catch (err) {
      if (err instanceof VigilError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP") throw unsafeLink(this.name, path, err);
      if (code !== "ENOENT" || statIfExists(this.directory)?.isDirectory()) throw err;
      makeDirectorySync(this.directory, { mode: DIR_MODE });
      this.#warn(`${this.name}: the store directory ${this.directory} was deleted; created it again`);
      this.#checkDirectory();
      return this.#owned(openSync(path, flags, FILE_MODE), path);
    }
  }

  /** In a shared (sticky, world-writable) directory, a log file must be this user's own. */
  #owned(fd: number, path: string): number {
    if (!this.#sharedDir) return fd;
    const uid = process.geteuid?.() ?? -1;
    const owner = fstatSync(fd).uid;
    if (uid < 0 || owner === uid) return fd;
    closeQuietly(fd);
    throw new VigilError(
      ErrorCodes.UNSAFE_PATH,
      `${this.name}: ${path} belongs to uid ${owner}, not to this process's user (${uid}), in the world-writable directory ${this.directory}: refused (another user could read or forge it)`,
    );
  }

  /** Undo an append of a batch that failed: cut the file back, if nobody wrote after it. */
  #takeBack(a: Appended): void {
    const size = takeBack(a.file.fd, a.buf, a.written);
    if (size !== undefined) a.file.size = size;
  }

  /**
   * A crash can leave a last line without its newline. Move that fragment to a
   * `.torn-<time>` file beside it (kept for forensics), cut it off, and report it.
   * Another process's write in progress can look the same for a moment (a reader may
   * see part of it), so the tail must stay torn for 100 ms, and the repair is done
   * holding the rotation lock, by one process.
   */
  #repairTornTail(fd: number, path: string, size: number): number {
    const last = Buffer.alloc(1);
    const complete = (n: number): boolean => {
      if (n === 0) return true;
      readSync(fd, last, 0, 1, n - 1);
      return last[0] === 0x0a;
    };
    if (complete(size)) return size;
    for (let i = 0; i < 10; i++) {
      sleepSync(10);
      size = fstatSync(fd).size;
      if (complete(size)) return size;
    }
    const locked = this.#rotateLock.acquireSync(ROTATE_WAIT_MS);
    try {
      size = fstatSync(fd).size;
      if (complete(size)) return size;
      return this.#cutTornTail(fd, path, size);
    } finally {
      if (locked) this.#rotateLock.release();
    }
  }

  #cutTornTail(fd: number, path: string, size: number): number {
    // find the last newline, reading backwards in chunks
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    let cut = 0;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        cut = start + nl + 1;
        break;
      }
      end = start;
    }
    const fragment = Buffer.alloc(size - cut);
    readSync(fd, fragment, 0, fragment.length, cut);
    const tornPath = `${path}.torn-${Date.now()}`;
    const tornFd = openSync(tornPath, "w", FILE_MODE);
    writeSync(tornFd, fragment);
    closeSync(tornFd);
    ftruncateSync(fd, cut);
    this.#warn(
      `${this.name}: repaired a torn last line in ${path}: ${fragment.length} bytes moved to ${tornPath}`,
    );
    return cut;
  }

  /**
   * Rename the full file to `name.N` and open a new one, holding the store's rotation
   * lock. Holding it, check first that the path still names our file: when another
   * process rotated it already, just move on to the new file.
   */
  #rotateBySize(name: string, held: OpenFile, bytes: number): OpenFile {
    const max = this.#config.rotation.max_bytes;
    if (Date.now() < this.#rotateNotBefore) return held;
    if (!this.#rotateLock.acquireSync(ROTATE_WAIT_MS)) {
      this.#rotateNotBefore = Date.now() + ROTATE_BACKOFF_MS;
      if (!this.#lockWarned) {
        this.#lockWarned = true;
        this.#warn(
          `${this.name}: ${this.#rotateLock.path} held by another process for ${ROTATE_WAIT_MS} ms; writing on past max_bytes`,
        );
      }
      return held;
    }
    try {
      const path = join(this.directory, name);
      let file = held;
      for (let round = 0; round < 3; round++) {
        file = this.#current(name, file);
        if (file.size === 0 || file.size + bytes <= max) return file; // rotated by another process
        const target = this.#nextRotatedName(name);
        try {
          renameSync(path, join(this.directory, target));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // moved meanwhile: look again
          throw err;
        }
        this.#retire(name, file);
        file = this.#fileFor(name);
        this.#scheduleMaintenance();
        return file;
      }
      return file;
    } finally {
      this.#rotateLock.release();
    }
  }

  /**
   * One past the highest index among name.N and name.N.gz: rotated files keep their names,
   * and an index freed by backup_count is never reused (higher is always newer).
   */
  #nextRotatedName(name: string): string {
    return nextRotatedName(this.directory, name);
  }

  #scheduleMaintenance(): void {
    if (this.#maintenance) {
      this.#maintenanceAgain = true; // a rotation during a run: its file is seen by the next run
      return;
    }
    this.#maintenance = this.maintain()
      .catch((err: unknown) => this.#warn(`${this.name}: maintenance failed: ${(err as Error).message}`))
      .finally(() => {
        this.#maintenance = undefined;
        if (this.#maintenanceAgain) {
          this.#maintenanceAgain = false;
          this.#scheduleMaintenance();
        }
      });
  }

  /** The files of this store, newest day first within each family; `.tmp` and `.torn-*` excluded. */
  async listFiles(): Promise<StoreFile[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const files: StoreFile[] = [];
    for (const name of names) {
      const m = this.#pattern.match(name);
      if (m) files.push({ ...m, name, path: join(this.directory, name) });
    }
    return files;
  }

  /**
   * Housekeeping, run at open and after rotations: gzip files untouched for
   * `compress_after_days`, and keep at most `backup_count` closed files per family.
   * One process at a time does it (`.vigil-maintain.lock`); when another is at it, this
   * one tries again a second later.
   */
  maintain(now: Date = new Date()): Promise<void> {
    const { rotation } = this.#config;
    if (!rotation.enabled || (!rotation.compress && rotation.backup_count === 0)) return Promise.resolve();
    return this.#serially(() => this.#maintainOnce(now));
  }

  /** Run `fn` after the housekeeping this process has under way, and before any it starts later. */
  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#housekeeping.then(fn, fn);
    this.#housekeeping = next.catch(() => undefined);
    return next;
  }

  /**
   * Run `fn` holding the store's maintenance lock (`.vigil-maintain.lock`): no other
   * process — and no other housekeeping of this one — gzips, prunes or applies retention
   * to the store meanwhile. Retention runs here, so a file is read, signed for and deleted
   * by one process only. Waits up to two minutes for another process's turn; rejects with
   * a `StorageError` when it does not end by then.
   */
  exclusively<T>(fn: () => Promise<T>): Promise<T> {
    return this.#serially(async () => {
      this.#ensureDir();
      if (!(await this.#maintainLock.acquire(EXCLUSIVE_WAIT_MS))) {
        throw new StorageError(
          this.name,
          `${this.#maintainLock.path} is held by another process (gzip, backup_count or retention) for over ${EXCLUSIVE_WAIT_MS / 1000} s; try again later`,
        );
      }
      const alive = setInterval(() => this.#maintainLock.touch(), 30_000);
      alive.unref();
      try {
        return await fn();
      } finally {
        clearInterval(alive);
        this.#maintainLock.release();
      }
    });
  }

  async #maintainOnce(now: Date): Promise<void> {
    const { rotation } = this.#config;
    if (!this.#maintainLock.tryAcquire()) {
      if (!this.#closed && !this.#maintenanceRetry) {
        this.#maintenanceRetry = setTimeout(() => {
          this.#maintenanceRetry = undefined;
          this.#scheduleMaintenance();
        }, MAINTAIN_RETRY_MS);
        this.#maintenanceRetry.unref();
      }
      return;
    }
    try {
      if (rotation.compress) {
        const cutoff = Math.min(
          now.getTime() - rotation.compress_after_days * DAY_MS,
          now.getTime() - COMPRESS_SETTLE_MS,
        );
        const today = now.getTime() - (now.getTime() % DAY_MS);
        for (const f of await this.listFiles()) {
          // never the file of the current period: another process may be writing it
          if (f.gzip || this.#open.has(f.name) || (f.index === 0 && (f.day === undefined || f.day >= today)))
            continue;
          const st = await stat(f.path).catch(() => undefined);
          if (st && st.mtimeMs < cutoff) {
            await this.#compress(f.path, st);
            this.#maintainLock.touch();
          }
        }
      }
      if (rotation.backup_count > 0) await this.#pruneBackups(rotation.backup_count);
    } finally {
      this.#maintainLock.release();
    }
  }

  /**
   * Gzip `path` to `path.gz` through a temporary file of our own. The source goes only once
   * the .gz is complete and synced, and only if nobody wrote to it meanwhile (else it is
   * left for the next run); a source another process removed meanwhile is no error.
   */
  async #compress(path: string, seen: Stats): Promise<void> {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    const tmp = `${path}.gz.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
    try {
      const before = fstatSync(fd);
      if (before.ino !== seen.ino) return;
      await pipeline(
        createReadStream(path, { fd, autoClose: false, start: 0 }),
        createGzip(),
        createWriteStream(tmp, { mode: FILE_MODE }),
      );
      const out = openSync(tmp, "r");
      try {
        fdatasyncSync(out);
      } finally {
        closeSync(out);
      }
      const after = fstatSync(fd);
      if (after.size !== before.size || after.mtimeMs !== before.mtimeMs) return; // written to: later
      if (statIfExists(path)?.ino !== before.ino) return; // removed or replaced meanwhile
      await utimes(tmp, before.mtime, before.mtime);
      await rename(tmp, `${path}.gz`);
      await unlinkIfExists(path);
    } finally {
      closeQuietly(fd);
      await unlinkIfExists(tmp);
    }
  }

  async #pruneBackups(keep: number): Promise<void> {
    // A family is the file name with its date and rotation parts removed.
    const files = await this.listFiles();
    const families = new Map<string, StoreFile[]>();
    for (const f of files) {
      const key = familyKey(f.name);
      let list = families.get(key);
      if (!list) {
        list = [];
        families.set(key, list);
      }
      list.push(f);
    }
    const doomed: StoreFile[] = [];
    for (const list of families.values()) {
      const closed = list.filter((f) => !this.#open.has(f.name));
      closed.sort(newestFirst);
      doomed.push(...closed.slice(keep));
    }
    if (doomed.length === 0) return;
    if (this.#beforePrune) {
      try {
        await this.#beforePrune({ directory: this.directory, files: doomed, keep });
      } catch (err) {
        this.#warn(
          `${this.name}: kept ${doomed.length} file${doomed.length === 1 ? "" : "s"} beyond backup_count ${keep}: ${(err as Error).message}`,
        );
        return;
      }
    }
    for (const f of doomed) {
      if (await unlinkIfExists(f.path)) this.#warn(`${this.name}: deleted ${f.path} (backup_count ${keep})`);
    }
  }

  override query(spec: QuerySpec): AsyncIterable<AuditEvent> {
    return queryFiles(this.#source, spec);
  }

  /** Every match, unordered, in batches (see `StorageBackend.scan`). */
  scan(spec: QuerySpec, sink: ScanSink): Promise<void> {
    return scanFiles(this.#source, spec, sink);
  }

  /** A follower for a live tail: reads only what was appended since its last poll. */
  follow(spec: QuerySpec): StoreFollower {
    return followFiles(this.#source, spec);
  }

  /** How many events match: a scan that decodes only the lines the query's evaluator must judge. */
  override async count(spec: QuerySpec): Promise<number> {
    let n = 0;
    await scanFiles(this.#source, spec, { times: (batch) => (n += batch.length) });
    return n;
  }

  /**
   * Delete the files whose events are all older than `cutoff` (never a file this backend
   * has open), holding the store's maintenance lock ({@link exclusively}) unless `dryRun`.
   */
  override applyRetention(cutoff: Date, options: { readonly dryRun: boolean }): Promise<RetentionResult> {
    if (options.dryRun) return this.#retain(cutoff, true);
    return this.exclusively(() => this.#retain(cutoff, false));
  }

  async #retain(cutoff: Date, dryRun: boolean): Promise<RetentionResult> {
    const deleted: string[] = [];
    let deletedEvents = 0;
    for (const f of await this.listFiles()) {
      if (this.#open.has(f.name)) continue;
      // A file may go only when everything in it is older than the cutoff. Another process
      // (its own retention, gzip) may remove a file meanwhile: that file is skipped.
      try {
        let newest: number;
        if (f.day !== undefined) newest = f.day + DAY_MS - 1;
        else newest = (await stat(f.path)).mtimeMs;
        if (newest >= cutoff.getTime()) continue;
        let n = 0;
        for await (const _ of readLines(f.path, f.gzip)) n++;
        if (!dryRun && !(await unlinkIfExists(f.path))) continue;
        deletedEvents += n;
        deleted.push(f.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return { deletedEvents, deletedFiles: deleted };
  }

  override async close(): Promise<void> {
    this.#closed = true;
    if (this.#maintenanceRetry) clearTimeout(this.#maintenanceRetry);
    this.#maintenanceRetry = undefined;
    while (this.#maintenance) await this.#maintenance;
    // the background fdatasyncs first: their files are closed when they end
    await Promise.allSettled([...this.#syncing]);
    let firstError: unknown;
    for (const f of this.#open.values()) {
      try {
        fdatasyncSync(f.fd);
      } catch (err) {
        firstError ??= err;
      }
      closeQuietly(f.fd);
    }
    this.#open.clear();
    if (firstError !== undefined) throw firstError;
  }

  /** Synchronously fdatasync every open file, and those rotated with a sync pending (exit path). */
  syncAll(): void {
    for (const f of this.#open.values()) fdatasyncSync(f.fd);
    for (const f of this.#retiring) fdatasyncSync(f.fd);
  }
}

/**
 * The name `name` takes when rotated in `directory`: one past the highest index among
 * name.N and name.N.gz (an index freed by backup_count is never reused). Call it holding the
 * rotation lock.
 */
export function nextRotatedName(directory: string, name: string): string {
  let next = 1;
  for (const entry of readdirSync(directory)) {
    if (!entry.startsWith(`${name}.`)) continue;
    const m = /^(\d{1,9})(\.gz)?$/.exec(entry.slice(name.length + 1));
    if (m) next = Math.max(next, Number(m[1]) + 1);
  }
  while (existsSync(join(directory, `${name}.${next}`))) next++;
  return `${name}.${next}`;
}

function unsafeLink(backend: string, path: string, cause: unknown): VigilError {
  return new VigilError(
    ErrorCodes.UNSAFE_PATH,
    `${backend}: ${path} is a symbolic link; a log file is never written through one (it could point anywhere)`,
    { cause },
  );
}

/** stat (or, `link`, lstat) `path`; undefined when it does not exist. */
function statIfExists(path: string, link = false): Stats | undefined {
  try {
    return link ? lstatSync(path) : statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Unlink; false when it was gone already (another process got there first). */
async function unlinkIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}

function familyKey(name: string): string {
  return name
    .replace(/\.gz$/, "")
    .replace(/\.\d{1,9}$/, "")
    .replace(/\d{4}-\d{2}-\d{2}(T\d{2})?/g, "*");
}

/** Newest first: by day, then the active file (index 0), then higher rotation indexes. */
function newestFirst(a: StoreFile, b: StoreFile): number {
  const rank = (f: StoreFile) => (f.index === 0 ? Number.MAX_SAFE_INTEGER : f.index);
  return (b.day ?? 0) - (a.day ?? 0) || rank(b) - rank(a) || b.name.localeCompare(a.name);
}
