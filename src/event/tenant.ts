/**
 * The tenant id (SPEC §2, §9): the customer or organization an event belongs to. One rule
 * for every place a tenant comes from — `log()` input, the ambient scope, the HTTP
 * integrations' `getTenant(req)`, a viewer identity or token — so what is stored is what a
 * viewer can be bound to.
 *
 * @module
 */

/** The longest tenant id, in UTF-16 code units. */
export const MAX_TENANT_LENGTH = 128;

/** C0 controls, DEL, C1 controls, and the line/paragraph separators. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this pattern finds.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/** An unpaired surrogate (which no database stores as written). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Valid tenant strings seen so far: tenants repeat, so most checks are one lookup. */
const seen = new Set<string>();

/**
 * Why `value` is not a valid tenant id, or `undefined` when it is: a string of 1 to
 * {@link MAX_TENANT_LENGTH} characters without control characters or unpaired surrogates.
 * Tenant ids are compared exactly (case-sensitive) when a viewer is bound to one.
 *
 * @example
 * tenantProblem("acme");     // undefined
 * tenantProblem("a\nb");     // "must not contain control characters"
 */
export function tenantProblem(value: unknown): string | undefined {
  if (typeof value === "string" && seen.has(value)) return undefined;
  if (typeof value !== "string") return `must be a string, found ${value === null ? "null" : typeof value}`;
  if (value.length === 0) return "must not be empty";
  if (value.length > MAX_TENANT_LENGTH)
    return `must be at most ${MAX_TENANT_LENGTH} characters, found ${value.length}`;
  if (CONTROL.test(value)) return "must not contain control characters";
  if (LONE_SURROGATE.test(value)) return "must not contain unpaired surrogates";
  if (seen.size < 10_000) seen.add(value);
  return undefined;
}
