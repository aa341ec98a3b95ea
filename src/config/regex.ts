/**
 * Checks on the custom regular expressions of `processing.sanitization.redact_patterns`:
 * they must compile, and must not nest unbounded quantifiers (`(a+)+`, `(\w*)*`,
 * `(?:x+y?){2,}`), the common shape of a pattern that can backtrack for exponential time.
 *
 * The nesting check is a cheap scan, not a proof: it catches quantified groups that contain
 * an unbounded quantifier, and misses other slow shapes (such as overlapping alternatives
 * `(a|a)*`).
 *
 * @module
 */

/** Why a regular expression source was rejected, or `undefined` if it is accepted. */
export function checkRegexSource(source: string): string | undefined {
  try {
    new RegExp(source);
  } catch (error) {
    return `it does not compile: ${(error as Error).message}`;
  }
  const nested = findNestedQuantifier(source);
  if (nested !== undefined) {
    return (
      `the group ${JSON.stringify(nested)} repeats something that itself repeats without bound, ` +
      "which can take exponential time on some inputs; rewrite it without the nested repetition"
    );
  }
  return undefined;
}

/**
 * The first quantified group in `source` whose body holds an unbounded quantifier
 * (`*`, `+`, `{n,}`) and which is itself repeated without bound, e.g. `(a+)+`; else `undefined`.
 * `source` is assumed to compile.
 *
 * @example
 * findNestedQuantifier("^(\\w+\\s?)*$"); // "(\\w+\\s?)*"
 * findNestedQuantifier("\\d{3}-\\d{2}");  // undefined
 */
export function findNestedQuantifier(source: string): string | undefined {
  // One frame per open group: where it starts and whether its body repeats without bound.
  const stack: { start: number; unbounded: boolean }[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (ch === "\\") {
      i += 2;
      i = afterQuantifier(source, i, stack);
      continue;
    }
    if (ch === "[") {
      i = skipClass(source, i);
      i = afterQuantifier(source, i, stack);
      continue;
    }
    if (ch === "(") {
      stack.push({ start: i, unbounded: false });
      i++;
      continue;
    }
    if (ch === ")") {
      const frame = stack.pop();
      const end = i + 1;
      const q = readQuantifier(source, end);
      if (frame?.unbounded && q?.unbounded) {
        return source.slice(frame.start, q.end);
      }
      // A group repeated without bound, or holding such a repetition, makes its parent unbounded.
      const parent = stack[stack.length - 1];
      if (parent && frame && (frame.unbounded || q?.unbounded)) parent.unbounded = true;
      i = q ? q.end : end;
      continue;
    }
    i = afterQuantifier(source, i + 1, stack);
  }
  return undefined;
}

/** Skip a quantifier at `i` (if any), marking the innermost open group when it is unbounded. */
function afterQuantifier(source: string, i: number, stack: { unbounded: boolean }[]): number {
  const q = readQuantifier(source, i);
  if (!q) return i;
  const top = stack[stack.length - 1];
  if (top && q.unbounded) top.unbounded = true;
  return q.end;
}

function readQuantifier(source: string, i: number): { unbounded: boolean; end: number } | undefined {
  const ch = source[i];
  let unbounded: boolean;
  let end: number;
  if (ch === "*" || ch === "+") {
    unbounded = true;
    end = i + 1;
  } else if (ch === "?") {
    unbounded = false;
    end = i + 1;
  } else if (ch === "{") {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
    if (!m) return undefined;
    unbounded = m[2] !== undefined && m[3] === "";
    end = i + m[0].length;
  } else {
    return undefined;
  }
  if (source[end] === "?") end++; // lazy
  return { unbounded, end };
}

function skipClass(source: string, i: number): number {
  let j = i + 1;
  if (source[j] === "^") j++;
  while (j < source.length && source[j] !== "]") j += source[j] === "\\" ? 2 : 1;
  return j + 1;
}
