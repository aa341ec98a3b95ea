/**
 * `${VAR}` references in configuration strings (SPEC §6).
 *
 * - `${NAME}` is replaced by the environment variable `NAME`.
 * - `${NAME:-fallback}` is replaced by `NAME` when it is set and not empty, else by
 *   `fallback` (which may be empty, and may not contain `}` or another reference).
 * - `$${` writes a literal `${`: `"$${HOME}"` is the text `${HOME}`.
 * - A `$` anywhere else is an ordinary character (`^a$`, `$HOME` and `cost: $5` stay as written).
 *
 * `NAME` is a letter or `_` followed by letters, digits and `_`.
 *
 * @module
 */

/** What an environment looks like to the configuration: `process.env` or any plain record. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The outcome of {@link interpolate}. */
export type Interpolated =
  /** Every reference resolved (or there were none). `usedVariables` is true if there was at least one. */
  | { readonly kind: "ok"; readonly value: string; readonly usedVariables: boolean }
  /** These variables are referenced without a fallback and are not set. */
  | { readonly kind: "unset"; readonly names: readonly string[] }
  /** A `${` that does not start a valid reference; `index` is its offset in the text. */
  | { readonly kind: "syntax"; readonly index: number; readonly reference: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replace every `${NAME}` and `${NAME:-fallback}` in `text` with values from `env`.
 *
 * @example
 * interpolate("${DB_HOST:-localhost}:${DB_PORT}", { DB_PORT: "5432" });
 * // { kind: "ok", value: "localhost:5432", usedVariables: true }
 * interpolate("${DB_HOST}", {});            // { kind: "unset", names: ["DB_HOST"] }
 * interpolate("$${NOT_A_VAR}", {});         // { kind: "ok", value: "${NOT_A_VAR}", usedVariables: false }
 */
export function interpolate(text: string, env: Env): Interpolated {
  let out = "";
  let used = false;
  const unset: string[] = [];
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith("$${", dollar)) {
      out += "${";
      i = dollar + 3;
      continue;
    }
    if (text[dollar + 1] !== "{") {
      out += "$";
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf("}", dollar + 2);
    if (close === -1) {
      return { kind: "syntax", index: dollar, reference: text.slice(dollar) };
    }
    const body = text.slice(dollar + 2, close);
    const sep = body.indexOf(":-");
    const name = sep === -1 ? body : body.slice(0, sep);
    const fallback = sep === -1 ? undefined : body.slice(sep + 2);
    if (!NAME.test(name) || fallback?.includes("${")) {
      return { kind: "syntax", index: dollar, reference: text.slice(dollar, close + 1) };
    }
    used = true;
    const value = env[name];
    if (fallback !== undefined) {
      out += value === undefined || value === "" ? fallback : value;
    } else if (value === undefined) {
      if (!unset.includes(name)) unset.push(name);
    } else {
      out += value;
    }
    i = close + 1;
  }
  if (unset.length > 0) return { kind: "unset", names: unset };
  return { kind: "ok", value: out, usedVariables: used };
}
