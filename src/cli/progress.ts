/**
 * Progress on stderr for long exports and scans: one line, redrawn in place, cleared
 * when the work ends. Shown only on a terminal (or when forced with `--progress`);
 * when stderr is piped nothing is written, so logs stay clean.
 *
 * @module
 */
import { bar, formatCount, formatDuration } from "./terminal.js";

/** What progress is written to. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Draw at all. Default: when the stream is a terminal. */
  readonly enabled?: boolean;
  /** The expected number of items; with it, a bar and a percentage are drawn. */
  readonly total?: number;
  /** Draw nothing before this many milliseconds have passed (short work shows no flicker). Default 300. */
  readonly delayMs?: number;
  /** What the items are called. Default `events`. */
  readonly unit?: string;
}

const REDRAW_MS = 100;

/**
 * A progress line: `exporting [██████▌   ] 65% 650,000/1,000,000 events · 41,000/s · 15.8 s`,
 * or without a known total `scanning 650,000 events · 41,000/s · 15.8 s`. A timer
 * redraws it while nothing is reported, so the elapsed time keeps moving.
 *
 * @example
 * const progress = new Progress(process.stderr, "exporting");
 * for (...) progress.update(count);
 * progress.done();
 */
export class Progress {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #enabled: boolean;
  readonly #total: number | undefined;
  readonly #delay: number;
  readonly #unit: string;
  readonly #started = performance.now();
  #count = 0;
  #lastDraw = 0;
  #drawn = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(stream: ProgressStream, label: string, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#label = label;
    this.#enabled = options.enabled ?? stream.isTTY === true;
    this.#total = options.total;
    this.#delay = options.delayMs ?? 300;
    this.#unit = options.unit ?? "events";
    if (this.#enabled) {
      this.#timer = setInterval(() => this.#draw(), REDRAW_MS);
      this.#timer.unref();
    }
  }

  /** Report that `count` items are done so far. */
  update(count: number): void {
    this.#count = count;
    if (!this.#enabled) return;
    if (!this.#drawn || performance.now() - this.#lastDraw >= REDRAW_MS) this.#draw();
  }

  #draw(): void {
    const elapsed = performance.now() - this.#started;
    if (elapsed < this.#delay) return;
    this.#lastDraw = performance.now();
    const rate = elapsed > 0 ? (this.#count * 1000) / elapsed : 0;
    const tail = `${formatCount(rate)}/s · ${formatDuration(elapsed)}`;
    let line: string;
    if (this.#total !== undefined && this.#total > 0) {
      const fraction = Math.min(1, this.#count / this.#total);
      const meter = bar(fraction, 20).padEnd(20, " ");
      line = `${this.#label} [${meter}] ${Math.floor(fraction * 100)}% ${formatCount(this.#count)}/${formatCount(this.#total)} ${this.#unit} · ${tail}`;
    } else line = `${this.#label} ${formatCount(this.#count)} ${this.#unit} · ${tail}`;
    const width = this.#stream.columns;
    if (width !== undefined && width > 1 && line.length >= width) line = line.slice(0, width - 1);
    this.#stream.write(`\r${line}\x1b[K`);
    this.#drawn = true;
  }

  /** Stop and clear the line. Idempotent. */
  done(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#stream.write("\r\x1b[K");
    this.#drawn = false;
  }
}
