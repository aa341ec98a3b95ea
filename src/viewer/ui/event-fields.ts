/**
 * Reading events on the page: every leaf as a dotted path (the names the query language
 * uses), and one path's value.
 *
 * @module
 */
export { getPath } from "../../query/fields.js";

/** Every leaf of an event as `[path, value]`, arrays by index, in the event's order. */
export function flatten(value: unknown, prefix = "", out: [string, unknown][] = []): [string, unknown][] {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) out.push([prefix, value]);
    for (const [key, child] of entries) flatten(child, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}
