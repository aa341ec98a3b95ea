/**
 * Where an export goes: a file path or a writable stream, written with backpressure.
 *
 * A file is written to a temporary name beside it (`<name>.<pid>.partial`) and renamed
 * into place only when the export is complete, so a failed or interrupted export never
 * leaves a half-written file under the requested name. A stream given by the caller is
 * written but never ended: the caller owns it (it may be `process.stdout`).
 *
 * @module
 */
import { createWriteStream, statSync, type WriteStream } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import type { Writable } from "node:stream";
import { ErrorCodes, VigilError } from "../errors.js";

/** A file path, or a stream to write into (not ended by the export). */
export type ExportDestination = string | Writable;

/** Text is collected up to this many UTF-16 units before one `write` call. */
const CHUNK = 64 * 1024;

/**
 * A sink with backpressure. `push` collects text and returns a promise only when the
 * caller must wait (the destination's buffer is full), so a loop pays for an `await`
 * only when there is something to wait for:
 *
 * @example
 * const out = await Output.open("events.ndjson");
 * for await (const e of events) {
 *   const wait = out.push(`${JSON.stringify(e)}\n`);
 *   if (wait) await wait;
 * }
 * await out.close();
 */
export class Output {
  readonly #stream: Writable;
  /** The final path (file destinations only). */
  readonly #path: string | undefined;
  /** The temporary path written, renamed to `#path` on close; undefined when writing in place. */
  readonly #temp: string | undefined;
  readonly #owned: boolean;
  #pending: string[] = [];
  #pendingLength = 0;
  #error: Error | undefined;
  #bytes = 0;

  private constructor(stream: Writable, owned: boolean, path?: string, temp?: string) {
    this.#stream = stream;
    this.#owned = owned;
    this.#path = path;
    this.#temp = temp;
    stream.on("error", (err: Error) => {
      this.#error ??= err;
    });
  }

  /**
   * Open a destination. A path is created with mode 0600 (exports hold audit data);
   * a path that names something other than a regular file (`/dev/stdout`, a FIFO) is
   * written in place.
   *
   * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` when the file cannot be created
   *   (missing directory, no permission), naming the path and the reason.
   */
  static async open(destination: ExportDestination): Promise<Output> {
    if (typeof destination !== "string") {
      if (destination === null || typeof destination !== "object" || typeof destination.write !== "function")
        throw new VigilError(
          ErrorCodes.INVALID_ARGUMENT,
          `export destination: expected a file path or a writable stream, found ${destination === null ? "null" : typeof destination}`,
        );
      return new Output(destination, false);
    }
    if (destination.trim() === "")
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        "export destination: expected a file path, found an empty string",
      );
    const special = isSpecialFile(destination);
    const target = special ? destination : `${destination}.${process.pid}.partial`;
    const stream = createWriteStream(target, { flags: special ? "a" : "w", mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          new VigilError(
            ErrorCodes.INVALID_ARGUMENT,
            `cannot write the export to ${destination}: ${describeFsError(err)}`,
            { cause: err },
          ),
        );
      });
    });
    return new Output(stream, true, destination, special ? undefined : target);
  }

  /** Bytes handed to the destination so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Collect `text`; resolves a returned promise when the destination can take more. */
  push(text: string): Promise<void> | undefined {
    this.#pending.push(text);
    this.#pendingLength += text.length;
    return this.#pendingLength >= CHUNK ? this.#flushPending() : undefined;
  }

  #flushPending(): Promise<void> | undefined {
    if (this.#pendingLength === 0) return undefined;
    const text = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join("");
    this.#pending = [];
    this.#pendingLength = 0;
    return this.write(Buffer.from(text, "utf8"));
  }

  /** Write bytes now (no collecting); resolves a returned promise once the buffer has drained. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.#error) throw this.#failure(this.#error);
    this.#bytes += chunk.length;
    if (this.#stream.write(chunk)) return undefined;
    return this.#drain();
  }

  #drain(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.#stream.off("drain", onDrain);
        this.#stream.off("error", onError);
        this.#stream.off("close", onClose);
        if (err) reject(this.#failure(err));
        else resolve();
      };
      const onDrain = () => done();
      const onError = (err: Error) => done(err);
      const onClose = () => done(this.#error ?? new Error("the destination was closed"));
      this.#stream.on("drain", onDrain);
      this.#stream.on("error", onError);
      this.#stream.on("close", onClose);
    });
  }

  #failure(err: Error): VigilError {
    if (err instanceof VigilError) return err;
    const where = this.#path ?? "the output stream";
    return new VigilError(ErrorCodes.STORAGE, `export to ${where} failed: ${describeFsError(err)}`, {
      cause: err,
    });
  }

  /**
   * Write what is collected and finish: a file is ended, and renamed into place; a
   * caller's stream is left open once everything written has been accepted.
   */
  async close(): Promise<void> {
    const wait = this.#flushPending();
    if (wait) await wait;
    if (this.#error) throw this.#failure(this.#error);
    if (!this.#owned) {
      if (this.#stream.writableNeedDrain) await this.#drain();
      return;
    }
    await new Promise<void>((resolve, reject) => {
      (this.#stream as WriteStream).end((err?: Error | null) =>
        err ? reject(this.#failure(err)) : resolve(),
      );
    });
    if (this.#temp !== undefined && this.#path !== undefined) await rename(this.#temp, this.#path);
  }

  /** Give up: discard a temporary file. Never throws. */
  async abort(): Promise<void> {
    this.#pending = [];
    this.#pendingLength = 0;
    if (!this.#owned) return;
    this.#stream.destroy();
    if (this.#temp !== undefined) await unlink(this.#temp).catch(() => {});
  }
}

function isSpecialFile(path: string): boolean {
  try {
    return !statSync(path).isFile();
  } catch {
    return false;
  }
}

function describeFsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return "the directory does not exist";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENOSPC":
      return "no space left on the device";
    default:
      return err.message;
  }
}
