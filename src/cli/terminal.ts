/**
 * Terminal output helpers: neutralizing control characters in untrusted text, display
 * widths, tables, bars and number formatting.
 *
 * Event values are untrusted: an attacker who gets `\x1b]0;…\x07` or `\x1b[2J` into a
 * user name must not be able to retitle, clear or recolour the terminal of whoever
 * reads the audit log, nor hide text behind bidirectional overrides. Every value printed
 * as text goes through {@link neutralize}, which turns such characters into visible
 * escapes (`\x1b`, `\n`, `\u202e`).
 *
 * @module
 */

// C0 controls, DEL, C1 controls, and the invisible bidirectional / separator characters.
// One character class: linear, no backtracking.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this pattern finds.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this pattern finds.
const HAS_UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const HAS_LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const NAMED: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function escapeUnsafe(c: string): string {
  const named = NAMED[c];
  if (named) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` with every control character, DEL, C1 control, line/paragraph separator and
 * bidirectional control written as a visible escape, so it prints on one line and
 * cannot drive the terminal. Lone surrogates become U+FFFD.
 *
 * @example
 * neutralize("alice\x1b[31m");  // "alice\\x1b[31m"
 * neutralize("a\nb");           // "a\\nb"
 */
export function neutralize(text: string): string {
  const safe = HAS_UNSAFE.test(text) ? text.replace(UNSAFE, escapeUnsafe) : text;
  return HAS_LONE_SURROGATE.test(safe) ? safe.replace(LONE_SURROGATE, "\ufffd") : safe;
}

/** Whether code point `cp` takes two columns (East Asian wide and fullwidth, most emoji). */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Whether code point `cp` takes no column (combining marks, zero-width characters, variation selectors). */
function isZeroWidth(cp: number): boolean {
  return (
    (cp >= 0x0300 && cp <= 0x036f) ||
    (cp >= 0x200b && cp <= 0x200d) ||
    (cp >= 0xfe00 && cp <= 0xfe0f) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    cp === 0xfeff
  );
}

/** Columns `text` takes on a terminal (approximate for rare scripts; exact for ASCII). */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    width += isZeroWidth(cp) ? 0 : isWide(cp) ? 2 : 1;
  }
  return width;
}

/**
 * `text` cut to at most `width` columns, ending with `…` when cut.
 *
 * @example
 * truncate("abcdef", 4); // "abc…"
 */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (displayWidth(text) <= width) return text;
  let out = "";
  let used = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const w = isZeroWidth(cp) ? 0 : isWide(cp) ? 2 : 1;
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return `${out}…`;
}

/** `text` padded with spaces to `width` columns (left-aligned, or right-aligned). */
export function pad(text: string, width: number, align: "left" | "right" = "left"): string {
  const fill = " ".repeat(Math.max(0, width - displayWidth(text)));
  return align === "left" ? text + fill : fill + text;
}

/** One column of {@link renderTable}. */
export interface TableColumn {
  readonly header: string;
  readonly align?: "left" | "right";
  /** Never narrower than this (default: the header's width). */
  readonly min?: number;
  /** Never wider than this. */
  readonly max?: number;
}

/**
 * A table as lines: a header, then rows, columns separated by two spaces. Cells must
 * already be neutralized. When the table is wider than `maxWidth`, the widest columns
 * give up width first (down to their `min`), and cut cells end with `…`.
 */
export function renderTable(
  columns: readonly TableColumn[],
  rows: readonly (readonly string[])[],
  maxWidth: number,
): string[] {
  const widths = columns.map((c, i) => {
    let w = displayWidth(c.header);
    for (const row of rows) w = Math.max(w, displayWidth(row[i] ?? ""));
    return Math.min(w, c.max ?? Number.POSITIVE_INFINITY);
  });
  const gaps = 2 * (columns.length - 1);
  let total = widths.reduce((a, b) => a + b, 0) + gaps;
  while (total > maxWidth) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      const min = columns[i]!.min ?? Math.min(displayWidth(columns[i]!.header), 8);
      if (widths[i]! > min && (widest === -1 || widths[i]! > widths[widest]!)) widest = i;
    }
    if (widest === -1) break;
    widths[widest]!--;
    total--;
  }
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => pad(truncate(cell, widths[i]!), widths[i]!, columns[i]!.align))
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...rows.map(line)];
}

const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/**
 * A horizontal bar `fraction` (0..1) of `width` columns, in eighths of a column.
 * A non-zero fraction always shows at least a sliver.
 *
 * @example
 * bar(0.5, 10); // "█████"
 */
export function bar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  let eighths = Math.round(f * width * 8);
  if (f > 0 && eighths === 0) eighths = 1;
  return "█".repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]!;
}

/** An integer with thousands separators: `1234567` → `1,234,567`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** A byte size for people: `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = "B";
  for (const u of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = u;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

/** Terminal width for output to `stream`: `$COLUMNS`, else the TTY's width, else unlimited. */
export function terminalWidth(
  stream: { readonly isTTY?: boolean; readonly columns?: number },
  env: NodeJS.ProcessEnv,
): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  if (stream.isTTY && typeof stream.columns === "number" && stream.columns > 0) return stream.columns;
  return Number.POSITIVE_INFINITY;
}
