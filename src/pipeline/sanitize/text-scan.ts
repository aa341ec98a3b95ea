/**
 * Small helpers shared by the hand-written string scanners (`rules.ts`, `secrets.ts`).
 *
 * @module
 */

/** Joins the pieces a scanner produced and the rest of `s`; `s` itself when nothing was replaced. */
export function finish(s: string, parts: string[] | undefined, copied: number): string {
  if (parts === undefined) return s;
  parts.push(s.slice(copied));
  return parts.join("");
}

export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isAlnum = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
export const isBlank = (c: number): boolean => c === 32 || c === 9;
