/**
 * Event values on screen: always text nodes, never markup. Characters that would change
 * how the text around them reads or that cannot be seen — C0/C1 controls, bidi embeddings,
 * overrides and isolates, zero-width characters, line and paragraph separators — are shown
 * as visible escapes (`\u202E`) in their own marked span, so a value cannot reorder,
 * hide or spoof its neighbours. Long values are clipped where asked.
 *
 * @module
 */
import type { JSX } from "preact";

/**
 * Whether a UTF-16 code unit is shown escaped: C0 and C1 controls (`\n` and `\t` only
 * in single-line views), the soft hyphen, bidi marks, embeddings, overrides and
 * isolates, zero-width and invisible formatting characters, line and paragraph
 * separators, variation selectors, fillers, the BOM and interlinear annotation marks.
 */
export function isSpecial(code: number, multiline = false): boolean {
  if (code < 0x20) return !(multiline && (code === 0x0a || code === 0x09));
  if (code < 0x7f) return false;
  if (code <= 0x9f || code === 0xad || code === 0x34f || code === 0x61c) return true;
  if (code < 0x115f) return false;
  return (
    code === 0x115f ||
    code === 0x1160 ||
    code === 0x17b4 ||
    code === 0x17b5 ||
    (code >= 0x180b && code <= 0x180f) ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x206f) ||
    code === 0x3164 ||
    (code >= 0xfe00 && code <= 0xfe0f) ||
    code === 0xfeff ||
    code === 0xffa0 ||
    (code >= 0xfff9 && code <= 0xfffb)
  );
}

const NAMED: Readonly<Record<number, string>> = { 10: "\\n", 9: "\\t", 13: "\\r", 0: "\\0" };

/** The visible escape of a special character: `\n`, `\t`, `\r`, `\0` or `\uXXXX`. */
export function escapeOf(code: number): string {
  return NAMED[code] ?? `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** The text with every special character replaced by its escape. */
export function plainInert(text: string, multiline = false): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isSpecial(code, multiline)) {
      out += text.slice(last, i) + escapeOf(code);
      last = i + 1;
    }
  }
  return out + text.slice(last);
}

/** A value as display text: strings as they are, everything else as JSON. */
export function valueText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export interface InertProps {
  readonly text: string;
  /** Keep `\n` and `\t` as line breaks and tabs (detail views); default: escape them. */
  readonly multiline?: boolean;
  /** Show at most this many characters, then `…` and how much was left out. */
  readonly clip?: number;
}

/** A value as inert text (see the module comment). */
export function Inert({ text, multiline = false, clip }: InertProps): JSX.Element {
  const clipped = clip !== undefined && text.length > clip;
  const shown = clipped ? text.slice(0, clip) : text;
  const parts: (string | JSX.Element)[] = [];
  let last = 0;
  for (let i = 0; i < shown.length; i++) {
    const code = shown.charCodeAt(i);
    if (!isSpecial(code, multiline)) continue;
    if (i > last) parts.push(shown.slice(last, i));
    parts.push(
      <span class="esc" key={i} title={`U+${code.toString(16).toUpperCase().padStart(4, "0")}`}>
        {escapeOf(code)}
      </span>,
    );
    last = i + 1;
  }
  if (last < shown.length) parts.push(shown.slice(last));
  return (
    <bdi class={multiline ? "inert ml" : "inert"}>
      {parts}
      {clipped ? (
        <span class="clipped">… (+{(text.length - shown.length).toLocaleString("en")} chars)</span>
      ) : null}
    </bdi>
  );
}
