/**
 * Helpers shared by the hand-written string scanners (`rules.ts`, `secrets.ts`). The
 * per-character predicates are not here: each scanner keeps its own, so a hot loop never calls
 * through a module binding.
 *
 * @module
 */

/** Joins the pieces a scanner produced and the rest of `s`; `s` itself when nothing was replaced. */
export function finish(s: string, parts: string[] | undefined, copied: number): string {
  if (parts === undefined) return s;
  parts.push(s.slice(copied));
  return parts.join("");
}

const isBlank = (c: number): boolean => c === 32 || c === 9;

/**
 * What a scanner is told of one `name=value` or `name: value` in a string: the index of the
 * `=` or `:`, the index of the name's last character (before up to 8 blanks and a closing
 * quote, optionally escaped; -1 when the string starts there), whether the name was quoted,
 * and where the value starts (after up to 8 blanks). It returns where scanning resumes — past
 * a value it consumed — or undefined to go on after the separator.
 */
export type AssignmentVisitor = (
  separator: number,
  nameLast: number,
  quoted: boolean,
  valueStart: number,
) => number | undefined;

/**
 * Calls `visit` for every `=` and `:` of `s`, left to right, as a possible assignment. The
 * separators are found natively (`indexOf`); the credential rule and the secret rule judge
 * the names and values they care about.
 */
export function forEachAssignment(s: string, visit: AssignmentVisitor): void {
  const n = s.length;
  // The next `=` and the next `:` at or after k (-1: none left).
  let nextEq = s.indexOf("=");
  let nextColon = s.indexOf(":");
  let k = 0;
  for (;;) {
    if (nextEq >= 0 && nextEq < k) nextEq = s.indexOf("=", k);
    if (nextColon >= 0 && nextColon < k) nextColon = s.indexOf(":", k);
    const separator = nextEq < 0 ? nextColon : nextColon < 0 ? nextEq : Math.min(nextEq, nextColon);
    if (separator < 0) return;
    let b = separator - 1;
    for (let blanks = 0; b >= 0 && blanks < 8 && isBlank(s.charCodeAt(b)); blanks++) b--;
    const q = s.charCodeAt(b);
    const quoted = q === 34 || q === 39;
    if (quoted) {
      b--;
      if (s.charCodeAt(b) === 92) b--;
    }
    let p = separator + 1;
    for (let blanks = 0; p < n && blanks < 8 && isBlank(s.charCodeAt(p)); blanks++) p++;
    const resume = visit(separator, b, quoted, p);
    k = resume !== undefined && resume > separator + 1 ? resume : separator + 1;
  }
}
