/**
 * `vigil.processing`: sanitization rules (compiled here to catch bad regular expressions),
 * event filters, and the size limits applied to captured values.
 *
 * @module
 */
import { SEVERITIES, type Severity } from "../event/types.js";
import { type Checker, describe, isMapping, matchChoice, Section } from "./checker.js";
import { BUILTIN_REDACT_PATTERNS, DEFAULT_CONFIG } from "./defaults.js";
import { checkRegexSource } from "./regex.js";
import { closest } from "./suggest.js";
import type { FilterConfig, ResolvedConfig, SanitizationConfig } from "./types.js";

type Processing = ResolvedConfig["processing"];

const FILTER_TYPES = ["severity", "category"] as const;

/** Read `vigil.processing`. */
export function readProcessing(section: Section): Processing {
  const d = DEFAULT_CONFIG.processing;
  const limits = section.child("limits", "limits");
  return {
    sanitization: readSanitization(section.child("sanitization", "sanitization")),
    filters: readFilters(section),
    limits: {
      max_depth: limits.int("max_depth", d.limits.max_depth, { min: 1 }),
      max_string_length: limits.int("max_string_length", d.limits.max_string_length, { min: 1 }),
      max_entries: limits.int("max_entries", d.limits.max_entries, { min: 1 }),
    },
  };
}

function readSanitization(raw: Section): SanitizationConfig {
  const d = DEFAULT_CONFIG.processing.sanitization;
  const enabled = raw.bool("enabled", d.enabled);
  const section = raw.withLenient(raw.lenient || !enabled);
  const patterns = section.stringItems("redact_patterns", "a list of rule names or regular expressions");
  for (const pattern of patterns ?? []) checkPattern(section.checker, pattern.value, pattern.path);
  const detectSecrets = section.bool("detect_secrets", d.detect_secrets !== false);
  if (!detectSecrets && patterns?.some((p) => p.value === "secrets")) {
    section.report(
      "detect_secrets",
      "true when redact_patterns lists secrets",
      "false",
      "remove secrets from redact_patterns, or detect_secrets: false",
    );
  }
  return {
    enabled,
    redact_patterns: patterns?.map((p) => p.value) ?? d.redact_patterns,
    redact_keys: section.stringList("redact_keys", "a list of key names") ?? d.redact_keys,
    replacement: section.string("replacement", d.replacement, { allowEmpty: true }),
    detect_secrets: detectSecrets,
  };
}

/**
 * A pattern is a built-in rule name or a regular expression. A plain word one or two
 * letters away from a rule name (`emial`) is taken for a typo rather than a regular expression.
 */
function checkPattern(checker: Checker, pattern: string, path: string): void {
  const builtins: readonly string[] = BUILTIN_REDACT_PATTERNS;
  if (builtins.includes(pattern)) return;
  const near = /^[a-z_]+$/.test(pattern) ? closest(pattern, builtins) : undefined;
  if (near !== undefined) {
    checker.report(
      path,
      `one of ${builtins.join(", ")}, or a regular expression`,
      describe(pattern),
      `did you mean ${JSON.stringify(near)}? (to redact the text ${JSON.stringify(pattern)} itself, write (?:${pattern}))`,
    );
    return;
  }
  const why = checkRegexSource(pattern);
  if (why !== undefined) checker.report(path, "a safe regular expression", describe(pattern), why);
}

function readFilters(section: Section): FilterConfig[] {
  const items = section.list("filters", "a list of filters");
  if (items === undefined) return [];
  const filters: FilterConfig[] = [];
  for (const item of items) {
    const filter = readFilter(section.checker, item.raw, item.path, section.lenient);
    if (filter !== undefined) filters.push(filter);
  }
  return filters;
}

function readFilter(
  checker: Checker,
  raw: unknown,
  path: string,
  lenient: boolean,
): FilterConfig | undefined {
  if (!isMapping(raw)) {
    checker.report(path, "a filter (a mapping with a type: severity or category)", describe(raw));
    return undefined;
  }
  const section = Section.unchecked(checker, raw, path, lenient);
  const typeRead = section.read("type");
  if (typeRead.state === "absent") {
    section.report("type", `one of ${FILTER_TYPES.join(", ")}`, "missing");
    return undefined;
  }
  if (typeRead.state === "invalid") return undefined;
  const type = matchChoice(checker, section.pathOf("type"), typeRead, FILTER_TYPES);
  if (type === undefined) return undefined;
  if (type === "severity") {
    section.checkKeys("severityFilter");
    return readSeverityFilter(section);
  }
  section.checkKeys("categoryFilter");
  return readCategoryFilter(section);
}

function readSeverityFilter(section: Section): FilterConfig | undefined {
  const expected = `a list of severities (${SEVERITIES.join(", ")})`;
  const items = section.list("levels", expected);
  if (items === undefined) {
    if (!section.has("levels")) section.report("levels", expected, "missing");
    return undefined;
  }
  if (items.length === 0) {
    section.report("levels", `${expected}; an empty list would drop every event`, "an empty list");
    return undefined;
  }
  const levels: Severity[] = [];
  for (const item of items) {
    const r = section.checker.read(item.raw, item.path, section.lenient);
    if (r.state === "absent") {
      if (item.raw === null) section.checker.report(item.path, `one of ${SEVERITIES.join(", ")}`, "null");
      continue;
    }
    if (r.state === "invalid") continue;
    const level = matchChoice(section.checker, item.path, r, SEVERITIES, {
      WARN: "WARNING",
      FATAL: "CRITICAL",
    });
    if (level !== undefined && !levels.includes(level)) levels.push(level);
  }
  return { type: "severity", levels };
}

function readCategoryFilter(section: Section): FilterConfig | undefined {
  const include = section.stringItems("include", "a list of categories");
  const exclude = section.stringItems("exclude", "a list of categories");
  if (!section.has("include") && !section.has("exclude")) {
    section.checker.report(section.path, "include or exclude (or both)", "neither");
    return undefined;
  }
  const includeRaw = section.raw("include");
  if (Array.isArray(includeRaw) && includeRaw.length === 0) {
    section.report(
      "include",
      "a non-empty list of categories; an empty list would drop every event",
      "an empty list",
    );
  }
  const included = include?.map((c) => c.value.toUpperCase());
  for (const category of exclude ?? []) {
    if (included?.includes(category.value.toUpperCase())) {
      section.checker.report(
        category.path,
        "a category that is not also in include",
        describe(category.value),
      );
    }
  }
  return {
    type: "category",
    ...(included !== undefined ? { include: included } : {}),
    ...(exclude !== undefined ? { exclude: exclude.map((c) => c.value.toUpperCase()) } : {}),
  };
}
