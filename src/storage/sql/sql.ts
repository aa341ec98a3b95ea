/**
 * A tiny SQL fragment builder: text and bound values kept apart until the last
 * moment, so no value is ever spliced into SQL text. Fragments nest; each dialect
 * renders the placeholders (`?` or `$1`) when the statement is complete.
 *
 * @example
 * const where = sql`category = ${"DATABASE"} AND ts >= ${from}`;
 * render(sql`SELECT id FROM t WHERE ${where}`, "dollar");
 * // { text: "SELECT id FROM t WHERE category = $1 AND ts >= $2", values: ["DATABASE", from] }
 *
 * @module
 */

/** PostgreSQL casts a typed parameter can carry, so that `$n` never has an unknown type. */
export type ParamType =
  | "text"
  | "text[]"
  | "jsonb"
  | "numeric"
  | "float8"
  | "bool"
  | "int8"
  | "timestamptz"
  | "uuid";

/** A value with a PostgreSQL type; other dialects bind the plain value. */
export interface TypedParam {
  readonly typed: ParamType;
  readonly value: string | number | boolean | null;
}

/** Anything that can be bound. */
export type Param = string | number | bigint | boolean | null | TypedParam;

/** An immutable SQL fragment: `strings.length === values.length + 1`. */
export class Sql {
  readonly strings: readonly string[];
  readonly values: readonly Param[];

  constructor(strings: readonly string[], values: readonly Param[]) {
    this.strings = strings;
    this.values = values;
  }

  /** Whether the fragment has no text at all. */
  get isEmpty(): boolean {
    return this.values.length === 0 && this.strings.every((s) => s === "");
  }
}

/** Wraps a value with a PostgreSQL type (see {@link TypedParam}). */
export function typed(type: ParamType, value: string | number | boolean | null): TypedParam {
  return { typed: type, value };
}

function isTyped(value: unknown): value is TypedParam {
  return typeof value === "object" && value !== null && "typed" in value;
}

/**
 * Builds a fragment from a template: `${value}` binds a value, `${fragment}` splices a
 * nested {@link Sql}.
 */
export function sql(
  strings: TemplateStringsArray | readonly string[],
  ...values: readonly (Param | Sql)[]
): Sql {
  const outStrings: string[] = [strings[0] ?? ""];
  const outValues: Param[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as Param | Sql;
    const next = strings[i + 1] ?? "";
    if (value instanceof Sql) {
      const last = outStrings.length - 1;
      outStrings[last] += value.strings[0] ?? "";
      for (let k = 0; k < value.values.length; k++) {
        outValues.push(value.values[k] as Param);
        outStrings.push(value.strings[k + 1] ?? "");
      }
      outStrings[outStrings.length - 1] += next;
    } else {
      outValues.push(value);
      outStrings.push(next);
    }
  }
  return new Sql(outStrings, outValues);
}

/**
 * Trusted SQL text with no values: keywords, quoted identifiers the caller validated,
 * integers the caller generated. Never pass user input here.
 */
export function raw(text: string): Sql {
  return new Sql([text], []);
}

/** Joins fragments with a separator (`", "`, `" AND "`). */
export function join(parts: readonly Sql[], separator: string): Sql {
  const strings: string[] = [""];
  const values: Param[] = [];
  parts.forEach((part, index) => {
    if (index > 0) strings[strings.length - 1] += separator;
    strings[strings.length - 1] += part.strings[0] ?? "";
    for (let k = 0; k < part.values.length; k++) {
      values.push(part.values[k] as Param);
      strings.push(part.strings[k + 1] ?? "");
    }
  });
  return new Sql(strings, values);
}

/** How a dialect writes placeholders: `?` (SQLite, MySQL) or `$1` with casts (PostgreSQL). */
export type PlaceholderStyle = "question" | "dollar";

/** A statement ready for a driver. */
export interface Rendered {
  readonly text: string;
  /** Bound values; an array binds as one PostgreSQL array parameter (`unnest`). */
  readonly values: readonly (
    | string
    | number
    | bigint
    | null
    | readonly (string | number | boolean | null)[]
  )[];
}

/**
 * Turns a fragment into statement text and its values. Booleans become 1/0 for the
 * `question` style (better-sqlite3 cannot bind booleans); typed parameters get a cast
 * with the `dollar` style.
 */
export function render(fragment: Sql, style: PlaceholderStyle): Rendered {
  let text = fragment.strings[0] ?? "";
  const values: (string | number | bigint | null)[] = [];
  for (let i = 0; i < fragment.values.length; i++) {
    const param = fragment.values[i] as Param;
    let value: string | number | bigint | boolean | null;
    let cast = "";
    if (isTyped(param)) {
      value = param.value;
      cast = `::${param.typed}`;
    } else {
      value = param;
    }
    if (style === "dollar") {
      values.push(typeof value === "boolean" ? (value ? "true" : "false") : value);
      text += `$${values.length}${cast}`;
    } else {
      values.push(typeof value === "boolean" ? (value ? 1 : 0) : value);
      text += "?";
    }
    text += fragment.strings[i + 1] ?? "";
  }
  return { text, values };
}
