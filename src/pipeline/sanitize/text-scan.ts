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
