/**
 * Directory creation with a bounded walk, used by every place that creates the
 * directories of a store, a key or a configuration file.
 *
 * Node's `mkdir(path, { recursive: true })` loops forever, at 100% CPU, when a parent
 * exists but the kernel answers ENOENT for the child (procfs, sysfs, a stale mount such
 * as a cleaned-up private `/tmp`) — a known Node.js core bug. {@link makeDirectory} and
 * {@link makeDirectorySync} walk up to the first existing ancestor, create each missing
 * component once (a component another process creates at the same moment is accepted,
 * retried at most a few times), and fail with one {@link VigilError} naming the path,
 * the component and the errno.
 *
 * @module
 */
import { mkdirSync, statSync } from "node:fs";
import { mkdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";

/** How often one component is tried again when it vanishes between `mkdir` and `stat`. */
const RETRIES = 3;

export interface MakeDirectoryOptions {
  /** Mode of the directories created (before the umask). Default 0o777. */
  readonly mode?: number;
}

/** A directory that could not be created; `code` is `VIGIL_ERR_STORAGE`. */
export class DirectoryError extends VigilError {
  /** The directory asked for (absolute). */
  readonly path: string;
  /** The component that failed (the path itself or one of its ancestors). */
  readonly component: string;
  /** The errno code, e.g. `ENOENT`, `ENOTDIR`, `EACCES`. */
  readonly errno: string;

  constructor(path: string, component: string, errno: string, why: string, cause?: unknown) {
    super(ErrorCodes.STORAGE, `cannot create directory ${path}: ${why} (${errno})`, { cause });
    this.name = "DirectoryError";
    this.path = path;
    this.component = component;
    this.errno = errno;
  }
}

/** What one filesystem call answered: a directory, something else, or an errno. */
type Answer = { readonly ok: true; readonly dir: boolean } | { readonly ok: false; readonly code: string };
type Step = { readonly op: "stat" | "mkdir"; readonly path: string };

/**
 * The walk, written once for both drivers: it yields the calls to make and receives
 * their answers; it returns when the directory exists and throws a DirectoryError when
 * it cannot be created.
 */
function* walk(path: string): Generator<Step, void, Answer> {
  // Up to the first ancestor that exists (at most one step per component).
  const missing: string[] = [];
  let at = path;
  for (;;) {
    const st = yield { op: "stat", path: at };
    if (st.ok) {
      if (!st.dir) throw new DirectoryError(path, at, "ENOTDIR", `${at} exists and is not a directory`);
      break;
    }
    if (st.code !== "ENOENT" && st.code !== "ENOTDIR") throw failure(path, at, st.code);
    const parent = dirname(at);
    if (parent === at) throw failure(path, at, st.code); // the root itself is missing
    missing.push(at);
    at = parent;
  }
  // Down again, creating each missing component.
  for (let i = missing.length - 1; i >= 0; i--) {
    const component = missing[i]!;
    for (let attempt = 1; ; attempt++) {
      const made = yield { op: "mkdir", path: component };
      if (made.ok) break;
      if (made.code === "EEXIST") {
        // created by someone else meanwhile (fine), or something that is not a directory
        const st = yield { op: "stat", path: component };
        if (st.ok && st.dir) break;
        if (st.ok)
          throw new DirectoryError(path, component, "ENOTDIR", `${component} exists and is not a directory`);
        if (attempt < RETRIES) continue; // vanished again: a dangling symlink, or a race
        throw new DirectoryError(
          path,
          component,
          "EEXIST",
          `${component} exists but cannot be reached as a directory (a dangling symbolic link?)`,
        );
      }
      if (made.code === "ENOENT") {
        const parent = dirname(component);
        const up = yield { op: "stat", path: parent };
        if (up.ok && up.dir) {
          throw new DirectoryError(
            path,
            component,
            "ENOENT",
            `the filesystem of ${parent} refuses to create ${component} (procfs, sysfs or a stale mount?)`,
          );
        }
        if (attempt < RETRIES) continue; // the parent was removed meanwhile: try once more
      }
      throw failure(path, component, made.code);
    }
  }
}

function failure(path: string, component: string, code: string): DirectoryError {
  const why: Record<string, string> = {
    EACCES: `permission denied on ${component}`,
    EPERM: `operation not permitted on ${component}`,
    EROFS: `${component} is on a read-only filesystem`,
    ENOSPC: `no space left to create ${component}`,
    ENAMETOOLONG: `${component} is too long a name`,
    ELOOP: `too many symbolic links at ${component}`,
    ENOENT: `${component} does not exist and cannot be created`,
  };
  return new DirectoryError(path, component, code, why[code] ?? `cannot create ${component}`);
}

function answerOf(err: unknown): Answer {
  return { ok: false, code: (err as NodeJS.ErrnoException).code ?? "EIO" };
}

/**
 * Create `path` and its missing parents, synchronously. Returns at once when it is a
 * directory already.
 *
 * @throws {DirectoryError} naming the path, the failing component and the errno.
 * @example makeDirectorySync("./logs/audit", { mode: 0o750 })
 */
export function makeDirectorySync(path: string, options: MakeDirectoryOptions = {}): void {
  const target = resolve(path);
  const steps = walk(target);
  let answer: Answer | undefined;
  for (;;) {
    const next = answer === undefined ? steps.next() : steps.next(answer);
    if (next.done) return;
    const step = next.value;
    try {
      if (step.op === "stat") answer = { ok: true, dir: statSync(step.path).isDirectory() };
      else {
        mkdirSync(step.path, { mode: options.mode ?? 0o777 });
        answer = { ok: true, dir: true };
      }
    } catch (err) {
      answer = answerOf(err);
    }
  }
}

/**
 * Create `path` and its missing parents, on the thread pool. Same walk and errors as
 * {@link makeDirectorySync}.
 *
 * @throws {DirectoryError}
 */
export async function makeDirectory(path: string, options: MakeDirectoryOptions = {}): Promise<void> {
  const target = resolve(path);
  const steps = walk(target);
  let answer: Answer | undefined;
  for (;;) {
    const next = answer === undefined ? steps.next() : steps.next(answer);
    if (next.done) return;
    const step = next.value;
    try {
      if (step.op === "stat") answer = { ok: true, dir: (await stat(step.path)).isDirectory() };
      else {
        await mkdir(step.path, { mode: options.mode ?? 0o777 });
        answer = { ok: true, dir: true };
      }
    } catch (err) {
      answer = answerOf(err);
    }
  }
}
