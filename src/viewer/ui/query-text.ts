/**
 * Editing the query text from the page: adding `field:value` or `NOT field:value` terms
 * (facets, detail fields) and the word under the caret (field completion).
 *
 * @module
 */
import { quotePhrase } from "../../query/serialize.js";

/** `field:"value"` (a phrase: exact, no wildcards), negated when asked. */
export function term(field: string, value: string, negate: boolean): string {
  return `${negate ? "NOT " : ""}${field}:${quotePhrase(value)}`;
}

/** The query ANDed with a term; a query holding OR is parenthesised first. */
export function addTerm(query: string, field: string, value: string, negate = false): string {
  const q = query.trim();
  const t = term(field, value, negate);
  if (q === "" || q === "*") return t;
  return /\bOR\b|\|\|/.test(q) ? `(${q}) AND ${t}` : `${q} AND ${t}`;
}

/** The field-name prefix being typed at the caret, with where it starts. */
export function wordAt(text: string, caret: number): { start: number; word: string } | undefined {
  let start = caret;
  while (start > 0 && !/[\s()]/.test(text[start - 1] ?? "")) start--;
  let word = text.slice(start, caret);
  while (word.startsWith("-") || word.startsWith("!")) {
    word = word.slice(1);
    start++;
  }
  if (!/^[A-Za-z_@][A-Za-z0-9_@.-]*$/.test(word)) return undefined;
  return { start, word };
}

/** Fields matching a typed prefix: prefix matches first, then segment matches. */
export function completions(fields: readonly string[], word: string, max = 12): string[] {
  const lower = word.toLowerCase();
  const starts = fields.filter((f) => f.toLowerCase().startsWith(lower) && f.toLowerCase() !== lower);
  const inner = fields.filter((f) => !starts.includes(f) && f.toLowerCase().includes(`.${lower}`));
  return [...starts, ...inner].slice(0, max);
}
