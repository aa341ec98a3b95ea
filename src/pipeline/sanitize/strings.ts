/**
 * String helpers shared by the sanitizer: well-formed UTF-16 and cutting with a marker.
 *
 * @module
 */

/** `String.prototype.isWellFormed`/`toWellFormed` (ES2024, present on Node 20; not in our `lib`). */
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * Replaces lone surrogates by U+FFFD, returning `s` itself when it is already well-formed.
 *
 * @example wellFormed("a\uD800b") // "a\uFFFDb"
 */
export function wellFormed(s: string): string {
  const w = s as unknown as WellFormedString;
  return w.isWellFormed() ? s : w.toWellFormed();
}

/**
 * Cuts `s` to at most `max` UTF-16 units (one fewer rather than split a surrogate pair) and
 * appends `…[truncated N chars]`, N being the number of units removed.
 *
 * @example cutString("abcdef", 2) // "ab…[truncated 4 chars]"
 */
export function cutString(s: string, max: number): string {
  let end = max;
  if (end > 0) {
    const c = s.charCodeAt(end - 1);
    if (c >= 0xd800 && c <= 0xdbff) end--;
  }
  return `${s.slice(0, end)}…[truncated ${s.length - end} chars]`;
}

/**
 * A short, sanitizable description of a thrown value, without ever throwing itself:
 * an error's `message`, else `String(value)`, else `unknown error`.
 */
export function describeThrown(thrown: unknown): string {
  if (thrown !== null && typeof thrown === "object") {
    try {
      const message = (thrown as { message?: unknown }).message;
      if (typeof message === "string") return message;
    } catch {
      // fall through to String(thrown)
    }
  }
  try {
    return String(thrown);
  } catch {
    return "unknown error";
  }
}
