/**
 * Shared fixtures for the sanitizer's tests.
 *
 * @module
 */
import type { LimitsConfig, SanitizationConfig } from "../../config/types.js";
import { compileSanitizer, type Sanitizer } from "./index.js";

/** The defaults of `processing.sanitization` with every built-in rule on. */
export const ALL_RULES: SanitizationConfig = {
  enabled: true,
  redact_patterns: ["password", "credit_card", "ssn", "email"],
  redact_keys: [],
  replacement: "[REDACTED]",
};

/** The defaults of `processing.limits`. */
export const LIMITS: LimitsConfig = { max_depth: 32, max_string_length: 65536, max_entries: 1000 };

/** A sanitizer with every built-in rule, overridable. */
export function sanitizer(
  over: Partial<SanitizationConfig> = {},
  limits: Partial<LimitsConfig> = {},
): Sanitizer {
  return compileSanitizer({ ...ALL_RULES, ...over }, { ...LIMITS, ...limits });
}

/** JSON.stringify succeeds, and what it wrote parses back. */
export function jsonRoundTrip(v: unknown): unknown {
  const text = JSON.stringify(v);
  if (typeof text !== "string") throw new Error("JSON.stringify returned undefined");
  return JSON.parse(text);
}
