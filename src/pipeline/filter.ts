/**
 * Event filters (SPEC §7): by severity and by category (include / exclude),
 * compiled once into one predicate. Dropping is never silent: the engine counts
 * each drop per category and warns once per category.
 *
 * @module
 */
import type { FilterConfig } from "../config/types.js";
import type { Severity } from "../event/types.js";

/** Why an event was filtered out, or undefined when it passes. */
export type FilterVerdict = string | undefined;

export type EventFilter = (severity: Severity, category: string) => FilterVerdict;

/** Compile the configured filters; with none, the result always passes. */
export function compileFilters(filters: readonly FilterConfig[]): EventFilter | undefined {
  if (filters.length === 0) return undefined;
  const checks: EventFilter[] = filters.map((f) => {
    if (f.type === "severity") {
      const levels = new Set<string>(f.levels);
      const list = f.levels.join(", ");
      return (severity) => (levels.has(severity) ? undefined : `severity ${severity} is not in [${list}]`);
    }
    const include =
      f.include && f.include.length > 0 ? new Set(f.include.map((c) => c.toUpperCase())) : undefined;
    const exclude = new Set((f.exclude ?? []).map((c) => c.toUpperCase()));
    const list = f.include?.join(", ") ?? "";
    return (_severity, category) => {
      if (exclude.has(category)) return `category ${category} is excluded`;
      if (include && !include.has(category))
        return `category ${category} is not in the include list [${list}]`;
      return undefined;
    };
  });
  if (checks.length === 1) return checks[0];
  return (severity, category) => {
    for (const check of checks) {
      const verdict = check(severity, category);
      if (verdict !== undefined) return verdict;
    }
    return undefined;
  };
}
