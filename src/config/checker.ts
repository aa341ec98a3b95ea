/**
 * The machinery the validator reads the configuration with: a {@link Checker} that collects
 * every {@link ConfigProblem}, and a {@link Section} per mapping that reads typed keys with
 * `${VAR}` interpolation, coercion, defaults and precise messages.
 *
 * "Lenient" sections are those under `enabled: false`: their values are still shape-checked,
 * but a `${VAR}` naming an unset variable there counts as "not written" instead of a problem.
 *
 * @module
 */
import type { ConfigProblem } from "../errors.js";
import { type Env, interpolate } from "./interpolate.js";
import { KEYS, type Place, placesOf } from "./schema.js";
import { closest } from "./suggest.js";

/** A value read from the input, after interpolation. */
export type Read =
  /** Not written, `null`, or (in a lenient section) a reference to an unset variable. */
  | { readonly state: "absent" }
  /** Unusable; a problem has been reported. */
  | { readonly state: "invalid" }
  /** A value; `from` is the original text when it held `${...}` references. */
  | { readonly state: "value"; readonly value: unknown; readonly from?: string };

const ABSENT: Read = { state: "absent" };
const INVALID: Read = { state: "invalid" };

/** Rendering options for a found value. */
export interface DescribeOptions {
  /** Never print the value itself (passwords, keys): print its length instead. */
  readonly secret?: boolean;
  /** The original text with `${...}` references, appended as `(from "...")`. */
  readonly from?: string | undefined;
}

/**
 * Render a found value for a message: strings quoted (long ones cut), numbers and booleans
 * as written, `missing` for `undefined`, `a list` / `a mapping` for containers.
 *
 * @example
 * describe("batch_sise");                   // "\"batch_sise\""
 * describe("hunter2", { secret: true });    // "a string of 7 characters"
 * describe(undefined);                      // "missing"
 */
export function describe(value: unknown, options: DescribeOptions = {}): string {
  let text: string;
  if (value === undefined) text = "missing";
  else if (value === null) text = "null";
  else if (typeof value === "string") {
    if (options.secret) text = `a string of ${value.length} character${value.length === 1 ? "" : "s"}`;
    else text = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  } else if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    text = String(value);
  } else if (Array.isArray(value)) text = value.length === 0 ? "an empty list" : "a list";
  else if (typeof value === "object") text = "a mapping";
  else text = typeof value;
  return options.from !== undefined ? `${text} (from ${JSON.stringify(options.from)})` : text;
}

/** True for a plain mapping (what a YAML mapping or a `{...}` literal becomes). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Collects problems while the configuration is read. */
export class Checker {
  readonly problems: ConfigProblem[] = [];
  readonly env: Env;

  constructor(env: Env) {
    this.env = env;
  }

  /** Record one problem. */
  report(path: string, expected: string, found: string, hint?: string): void {
    this.problems.push(hint === undefined ? { path, expected, found } : { path, expected, found, hint });
  }

  /**
   * Interpolate `raw` (when it is a string) at `path`. Unset variables are a problem, one per
   * variable, unless `lenient`, where they make the value absent. Malformed `${` is always a problem.
   */
  read(raw: unknown, path: string, lenient: boolean, secret = false): Read {
    if (raw === undefined || raw === null) return ABSENT;
    if (typeof raw !== "string") return { state: "value", value: raw };
    const result = interpolate(raw, this.env);
    switch (result.kind) {
      case "ok":
        return result.usedVariables
          ? { state: "value", value: result.value, from: raw }
          : { state: "value", value: result.value };
      case "unset":
        if (lenient) return ABSENT;
        for (const name of result.names) {
          this.report(
            path,
            `environment variable ${name} to be set`,
            // A secret's text may hold literal secret parts beside the reference: show the reference only.
            describe(secret ? `\${${name}}` : raw),
            `environment variable ${name} is not set; set it, or give a fallback: \${${name}:-value}`,
          );
        }
        return INVALID;
      case "syntax":
        this.report(
          path,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the syntax being described.
          "${NAME} or ${NAME:-fallback} (write $${ for a literal ${)",
          describe(result.reference),
          secret || result.reference === raw ? undefined : `in ${describe(raw)}`,
        );
        return INVALID;
    }
  }
}

/** Bounds of an integer key. */
export interface IntBounds {
  readonly min: number;
  readonly max?: number;
}

/** Options of a string key. */
export interface StringOptions {
  /** An empty string is a value (default: an empty string counts as not written). */
  readonly allowEmpty?: boolean;
  /** Never echo the value in a message. */
  readonly secret?: boolean;
}

/**
 * One mapping of the configuration at `path`, checked against the keys of its place.
 * Each reader returns the value, or the fallback when the key is absent or invalid
 * (a problem is then on record, so the fallback never reaches a caller).
 */
export class Section {
  readonly checker: Checker;
  readonly path: string;
  readonly lenient: boolean;
  readonly #record: Readonly<Record<string, unknown>>;

  private constructor(
    checker: Checker,
    path: string,
    record: Readonly<Record<string, unknown>>,
    lenient: boolean,
  ) {
    this.checker = checker;
    this.path = path;
    this.#record = record;
    this.lenient = lenient;
  }

  /**
   * Open the mapping `raw` at `path`. Absent (`undefined`/`null`) gives an empty section;
   * anything else that is not a mapping is a problem (`what` says what was expected).
   * Every key not among `keys` (the keys of `place`) is a problem with a suggestion.
   */
  static open(
    checker: Checker,
    raw: unknown,
    path: string,
    place: Place,
    lenient: boolean,
    what = "a mapping",
  ): Section {
    if (raw === undefined || raw === null) return new Section(checker, path, {}, lenient);
    if (!isMapping(raw)) {
      checker.report(path, what, describe(raw));
      return new Section(checker, path, {}, lenient);
    }
    const section = new Section(checker, path, raw, lenient);
    section.checkKeys(place);
    return section;
  }

  /** Wrap the mapping `record` at `path` without checking its keys (see {@link Section.checkKeys}). */
  static unchecked(
    checker: Checker,
    record: Readonly<Record<string, unknown>>,
    path: string,
    lenient: boolean,
  ): Section {
    return new Section(checker, path, record, lenient);
  }

  /** The same mapping, read leniently (under `enabled: false`) when `lenient` is true. */
  withLenient(lenient: boolean): Section {
    return lenient === this.lenient ? this : new Section(this.checker, this.path, this.#record, lenient);
  }

  /** The path of `key` in this section. */
  pathOf(key: string): string {
    return `${this.path}.${key}`;
  }

  /** Whether `key` is written (with a value other than `null`). */
  has(key: string): boolean {
    const value = this.#record[key];
    return value !== undefined && value !== null;
  }

  /** Whether a problem has been reported at this section itself (e.g. it is not a mapping). */
  isBroken(): boolean {
    return this.checker.problems.some((p) => p.path === this.path);
  }

  /** Whether a problem has been reported at `key` (or below it). */
  hasProblem(key: string): boolean {
    const path = this.pathOf(key);
    return this.checker.problems.some(
      (p) => p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`),
    );
  }

  /** How the value of `key` reads after interpolation, for a message; never reports. */
  shown(key: string, secret = false): string {
    const r = new Checker(this.checker.env).read(this.#record[key], this.pathOf(key), true, secret);
    return r.state === "value" ? describe(r.value, { secret, from: r.from }) : describe(this.#record[key]);
  }

  /** The value of `key` as written, before interpolation. */
  raw(key: string): unknown {
    return this.#record[key];
  }

  /** Report a problem at `key`. */
  report(key: string, expected: string, found: string, hint?: string): void {
    this.checker.report(this.pathOf(key), expected, found, hint);
  }

  /** Read `key` with interpolation. */
  read(key: string, secret = false): Read {
    return this.checker.read(this.#record[key], this.pathOf(key), this.lenient, secret);
  }

  /** A boolean; the strings `"true"`/`"false"` (any case) count. */
  bool(key: string, fallback: boolean): boolean {
    return this.boolRead(key) ?? fallback;
  }

  /** A boolean, or `undefined` when absent or invalid. */
  boolRead(key: string): boolean | undefined {
    const r = this.read(key);
    if (r.state !== "value") return undefined;
    const v = typeof r.value === "string" ? r.value.trim().toLowerCase() : r.value;
    if (v === true || v === "true") return true;
    if (v === false || v === "false") return false;
    const yamlish = typeof v === "string" && ["yes", "no", "on", "off", "y", "n"].includes(v);
    this.report(
      key,
      "true or false",
      describe(r.value, { from: r.from }),
      yamlish ? "YAML 1.2 reads yes/no/on/off as text; write true or false" : undefined,
    );
    return undefined;
  }

  /** An integer within `bounds`; numeric strings (`"5432"`) count. */
  int(key: string, fallback: number, bounds: IntBounds): number {
    return this.intRead(key, bounds) ?? fallback;
  }

  /** Like {@link Section.int}, `undefined` when absent or invalid. */
  intRead(key: string, bounds: IntBounds): number | undefined {
    const r = this.read(key);
    if (r.state !== "value") return undefined;
    const n = toNumber(r.value);
    const inRange =
      n !== undefined &&
      Number.isSafeInteger(n) &&
      n >= bounds.min &&
      (bounds.max === undefined || n <= bounds.max);
    if (inRange) return n;
    this.report(key, describeIntBounds(bounds), describe(r.value, { from: r.from }));
    return undefined;
  }

  /** A finite number greater than `above`; numeric strings count. */
  numberAbove(key: string, fallback: number, above: number): number {
    const r = this.read(key);
    if (r.state !== "value") return fallback;
    const n = toNumber(r.value);
    if (n !== undefined && Number.isFinite(n) && n > above) return n;
    this.report(key, `a number greater than ${above}`, describe(r.value, { from: r.from }));
    return fallback;
  }

  /**
   * A string, or `fallback` when absent. An empty string counts as absent unless
   * `allowEmpty`, so that `${VAR:-}` can leave an optional key unset.
   */
  string(key: string, fallback: string, options?: StringOptions): string;
  string(key: string, fallback?: undefined, options?: StringOptions): string | undefined;
  string(key: string, fallback?: string, options: StringOptions = {}): string | undefined {
    const r = this.read(key, options.secret);
    if (r.state !== "value") return fallback;
    if (typeof r.value !== "string") {
      const scalar = typeof r.value === "number" || typeof r.value === "boolean";
      this.report(
        key,
        "a string",
        describe(r.value, { secret: options.secret }),
        scalar ? "put it in quotes to keep it as text" : undefined,
      );
      return fallback;
    }
    if (r.value === "" && !options.allowEmpty) return fallback;
    return r.value;
  }

  /**
   * One of `choices` (compared case-insensitively), with `aliases` mapped to their choice.
   * An unknown value is a problem with a "did you mean" hint.
   */
  choice<T extends string>(
    key: string,
    choices: readonly T[],
    fallback: T,
    aliases?: Readonly<Record<string, T>>,
  ): T {
    return this.choiceRead(key, choices, aliases) ?? fallback;
  }

  /** Like {@link Section.choice}, `undefined` when absent or invalid. */
  choiceRead<T extends string>(
    key: string,
    choices: readonly T[],
    aliases?: Readonly<Record<string, T>>,
  ): T | undefined {
    const r = this.read(key);
    if (r.state !== "value") return undefined;
    return matchChoice(this.checker, this.pathOf(key), r, choices, aliases);
  }

  /** A list at `key`: its items with their paths, or `undefined` when absent or not a list. */
  list(key: string, what = "a list"): { readonly raw: unknown; readonly path: string }[] | undefined {
    const raw = this.#record[key];
    if (raw === undefined || raw === null) return undefined;
    if (!Array.isArray(raw)) {
      const hint = isMapping(raw) ? 'start each item with "- "' : undefined;
      this.report(key, what, describe(raw), hint);
      return undefined;
    }
    return raw.map((item: unknown, i) => ({ raw: item, path: `${this.pathOf(key)}[${i}]` }));
  }

  /** A list of strings at `key` (each interpolated); items that are absent in a lenient section are left out. */
  stringList(key: string, what = "a list of strings"): string[] | undefined {
    return this.stringItems(key, what)?.map((item) => item.value);
  }

  /** Like {@link Section.stringList}, with each item's path. */
  stringItems(
    key: string,
    what = "a list of strings",
  ): { readonly value: string; readonly path: string }[] | undefined {
    const items = this.list(key, what);
    if (items === undefined) return undefined;
    const out: { value: string; path: string }[] = [];
    for (const item of items) {
      const r = this.checker.read(item.raw, item.path, this.lenient);
      if (r.state === "absent") {
        if (item.raw === null) this.checker.report(item.path, "a non-empty string", "null");
        continue;
      }
      if (r.state === "invalid") continue;
      if (typeof r.value !== "string" || r.value === "") {
        this.checker.report(item.path, "a non-empty string", describe(r.value, { from: r.from }));
        continue;
      }
      out.push({ value: r.value, path: item.path });
    }
    return out;
  }

  /** The mapping at `key`, checked against the keys of `place`. */
  child(key: string, place: Place, lenient = this.lenient): Section {
    return Section.open(this.checker, this.#record[key], this.pathOf(key), place, lenient);
  }

  /** Report each key that is not one of `place`'s, with the best suggestion available. */
  checkKeys(place: Place): void {
    const keys: readonly string[] = KEYS[place];
    for (const key of Object.keys(this.#record)) {
      if (keys.includes(key)) continue;
      this.checker.report(this.pathOf(key), "a known key", describe(key), unknownKeyHint(key, place));
    }
  }
}

/** Check a read value against `choices` (case-insensitive, with aliases). */
export function matchChoice<T extends string>(
  checker: Checker,
  path: string,
  r: Read & { state: "value" },
  choices: readonly T[],
  aliases?: Readonly<Record<string, T>>,
): T | undefined {
  if (typeof r.value === "string") {
    const v = r.value.trim().toLowerCase();
    const exact = choices.find((c) => c.toLowerCase() === v);
    if (exact !== undefined) return exact;
    const alias = aliases ? Object.entries(aliases).find(([a]) => a.toLowerCase() === v) : undefined;
    if (alias !== undefined) return alias[1];
  }
  let hint: string | undefined;
  if (typeof r.value === "string") {
    const near = closest(r.value.trim(), choices);
    const nearAlias =
      near === undefined && aliases ? closest(r.value.trim(), Object.keys(aliases)) : undefined;
    if (near !== undefined) hint = `did you mean ${JSON.stringify(near)}?`;
    else if (nearAlias !== undefined) {
      hint = `did you mean ${JSON.stringify(nearAlias)} (the same as ${JSON.stringify(aliases?.[nearAlias])})?`;
    }
  }
  checker.report(path, `one of ${choices.join(", ")}`, describe(r.value, { from: r.from }), hint);
  return undefined;
}

/** The hint for an unknown key at `place`: a close spelling, the place it belongs, or the valid keys. */
export function unknownKeyHint(key: string, place: Place): string {
  const keys: readonly string[] = KEYS[place];
  const near = closest(key, keys);
  if (near !== undefined) return `did you mean ${JSON.stringify(near)}?`;
  // `vigil.enabled` and the like: core's keys are the likeliest meaning at the top.
  const coreKeys: readonly string[] = KEYS.core;
  if (place === "root" && coreKeys.includes(key)) return `${JSON.stringify(key)} is a key of vigil.core`;
  const elsewhere = placesOf(key);
  if (elsewhere.length > 0) return `${JSON.stringify(key)} is a key of ${elsewhere.join(", or of ")}`;
  return `known keys here: ${keys.join(", ")}`;
}

const NUMERIC = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A number, or a string holding one in decimal notation (surrounding spaces allowed). */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && NUMERIC.test(value.trim())) return Number(value.trim());
  return undefined;
}

function describeIntBounds(bounds: IntBounds): string {
  if (bounds.max !== undefined) return `an integer from ${bounds.min} to ${bounds.max}`;
  if (bounds.min === 1) return "a positive integer";
  if (bounds.min === 0) return "an integer of 0 or more";
  return `an integer of at least ${bounds.min}`;
}
