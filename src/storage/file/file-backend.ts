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
 * @module
 */
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
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
import { BaseBackend, type QuerySpec, type RetentionResult, type StoredRecord } from "../backend.js";
import { makeDirectory, makeDirectorySync } from "../dirs.js";
import { readLines } from "./lines.js";
import { type CompiledPattern, compilePattern, type MatchedFile } from "./pattern.js";
import { queryFiles } from "./query.js";

const DAY_MS = 86_400_000;
const fdatasyncAsync = promisify(fdatasync);
/** Open files kept at once; the least recently written is closed past this. */
const MAX_OPEN_FILES = 32;

export interface FileBackendOptions {
  readonly config: FileBackendConfig;
  readonly application: string;
  /** Turns a stored line back into an event (decryption plugs in here). Default JSON.parse. */
  readonly decode?: (line: string) => AuditEvent;
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
  size: number;
  lastUsed: number;
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
  readonly #warn: (message: string) => void;
  readonly #beforePrune: PruneHook | undefined;
  readonly #open = new Map<string, OpenFile>();
  readonly #names = new Map<string, string>();
  #dirReady = false;
  #maintenance: Promise<void> | undefined;
  #maintenanceAgain = false;

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
    this.#warn = options.onWarning ?? (() => {});
    this.#beforePrune = options.beforePrune;
  }

  override async open(): Promise<void> {
    if (!this.#dirReady) {
      try {
        await makeDirectory(this.directory);
      } catch (err) {
        this.markUnhealthy(err);
        throw new StorageError(this.name, (err as Error).message, { cause: err });
      }
      this.#dirReady = true;
    }
    this.#scheduleMaintenance();
    await this.#maintenance;
  }

  #ensureDir(): void {
    if (this.#dirReady) return;
    makeDirectorySync(this.directory);
    this.#dirReady = true;
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
   * loop is not blocked while the disk catches up.
   */
  override async write(batch: readonly StoredRecord[], options: { readonly sync: boolean }): Promise<void> {
    const touched = this.#appendBatch(batch, false);
    if (!options.sync) return;
    try {
      await Promise.all(touched.map((f) => fdatasyncAsync(f.fd)));
    } catch (err) {
      this.markUnhealthy(err);
      throw new StorageError(this.name, `cannot sync ${this.directory}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  override writeSync(batch: readonly StoredRecord[], options: { readonly sync: boolean }): boolean {
    this.#appendBatch(batch, options.sync);
    return true;
  }

  #appendBatch(batch: readonly StoredRecord[], syncNow: boolean): OpenFile[] {
    if (batch.length === 0) return [];
    try {
      this.#ensureDir();
      const byFile = new Map<string, string[]>();
      for (const record of batch) {
        const name = this.fileNameFor(record.event);
        let lines = byFile.get(name);
        if (!lines) {
          lines = [];
          byFile.set(name, lines);
        }
        lines.push(record.line);
      }
      const touched: OpenFile[] = [];
      for (const [name, lines] of byFile) touched.push(this.#append(name, `${lines.join("\n")}\n`, syncNow));
      this.markHealthy();
      return touched;
    } catch (err) {
      this.markUnhealthy(err);
      throw new StorageError(this.name, `cannot write to ${this.directory}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  #append(name: string, text: string, sync: boolean): OpenFile {
    const buf = Buffer.from(text);
    const bytes = buf.length;
    let file = this.#fileFor(name);
    const { rotation } = this.#config;
    if (
      rotation.enabled &&
      rotation.max_bytes > 0 &&
      file.size > 0 &&
      file.size + bytes > rotation.max_bytes
    ) {
      this.#rotateBySize(name);
      file = this.#fileFor(name);
    }
    let off = 0;
    while (off < buf.length) off += writeSync(file.fd, buf, off, buf.length - off);
    file.size += bytes;
    file.lastUsed = Date.now();
    if (sync) fdatasyncSync(file.fd);
    return file;
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
      closeSync(f.fd);
      this.#open.delete(oldest);
    }
    const path = join(this.directory, name);
    const fd = openSync(path, "a+", 0o640);
    let size = fstatSync(fd).size;
    if (size > 0) size = this.#repairTornTail(fd, path, size);
    const file: OpenFile = { fd, size, lastUsed: Date.now() };
    this.#open.set(name, file);
    return file;
  }

  /**
   * A crash can leave a last line without its newline. Move that fragment to a
   * `.torn-<time>` file beside it (kept for forensics), cut it off, and report it.
   */
  #repairTornTail(fd: number, path: string, size: number): number {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return size;
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
    const tornFd = openSync(tornPath, "w", 0o640);
    writeSync(tornFd, fragment);
    closeSync(tornFd);
    ftruncateSync(fd, cut);
    this.#warn(
      `${this.name}: repaired a torn last line in ${path}: ${fragment.length} bytes moved to ${tornPath}`,
    );
    return cut;
  }

  #rotateBySize(name: string): void {
    const file = this.#open.get(name);
    if (file) {
      closeSync(file.fd);
      this.#open.delete(name);
    }
    // one past the highest index among name.N and name.N.gz: rotated files keep their names,
    // and an index freed by backup_count is never reused (higher is always newer)
    let next = 1;
    for (const entry of readdirSync(this.directory)) {
      if (!entry.startsWith(`${name}.`)) continue;
      const m = /^(\d{1,9})(\.gz)?$/.exec(entry.slice(name.length + 1));
      if (m) next = Math.max(next, Number(m[1]) + 1);
    }
    renameSync(join(this.directory, name), join(this.directory, `${name}.${next}`));
    this.#scheduleMaintenance();
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
   */
  async maintain(now: Date = new Date()): Promise<void> {
    const { rotation } = this.#config;
    if (!rotation.enabled) return;
    const files = await this.listFiles();
    if (rotation.compress) {
      const cutoff = now.getTime() - rotation.compress_after_days * DAY_MS;
      for (const f of files) {
        if (f.gzip || this.#open.has(f.name)) continue;
        const st = await stat(f.path).catch(() => undefined);
        if (st && st.mtimeMs < cutoff) await this.#compress(f.path, st.mtime);
      }
    }
    if (rotation.backup_count > 0) await this.#pruneBackups(rotation.backup_count);
  }

  async #compress(path: string, mtime: Date): Promise<void> {
    const tmp = `${path}.gz.tmp`;
    await pipeline(createReadStream(path), createGzip(), createWriteStream(tmp, { mode: 0o640 }));
    const fd = openSync(tmp, "r");
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    await utimes(tmp, mtime, mtime);
    await rename(tmp, `${path}.gz`);
    await unlink(path);
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
      await unlink(f.path);
      this.#warn(`${this.name}: deleted ${f.path} (backup_count ${keep})`);
    }
  }

  override query(spec: QuerySpec): AsyncIterable<AuditEvent> {
    return queryFiles(() => this.listFiles(), spec, this.#decode);
  }

  override async applyRetention(
    cutoff: Date,
    options: { readonly dryRun: boolean },
  ): Promise<RetentionResult> {
    const deleted: string[] = [];
    let deletedEvents = 0;
    for (const f of await this.listFiles()) {
      if (this.#open.has(f.name)) continue;
      // A file may go only when everything in it is older than the cutoff.
      let newest: number;
      if (f.day !== undefined) newest = f.day + DAY_MS - 1;
      else newest = (await stat(f.path)).mtimeMs;
      if (newest >= cutoff.getTime()) continue;
      let n = 0;
      for await (const _ of readLines(f.path, f.gzip)) n++;
      deletedEvents += n;
      deleted.push(f.path);
      if (!options.dryRun) await unlink(f.path);
    }
    return { deletedEvents, deletedFiles: deleted };
  }

  override async close(): Promise<void> {
    while (this.#maintenance) await this.#maintenance;
    for (const f of this.#open.values()) {
      try {
        fdatasyncSync(f.fd);
      } finally {
        closeSync(f.fd);
      }
    }
    this.#open.clear();
  }

  /** Synchronously fdatasync every open file (exit path). */
  syncAll(): void {
    for (const f of this.#open.values()) fdatasyncSync(f.fd);
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
