/**
 * Field names in queries: the short aliases (`type` for `action.type` ...), the rule
 * for what a field name may contain, and {@link getPath}, the one way every part of
 * vigil reads a dotted path out of an event.
 *
 * The parser resolves aliases, so a parsed query only ever holds full paths; the
 * `filters` search option and the SQL compilers call {@link resolveField} for the
 * same mapping.
 *
 * @module
 */

/**
 * Short names accepted in queries and filters, and the event path each stands for.
 * Aliases only name top-level keys that an event never has, so they cannot hide a
 * real field.
 */
export const FIELD_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  category: "action.category",
  type: "action.type",
  user: "actor.username",
  username: "actor.username",
  status: "result.status",
});

/**
 * The event path a field name stands for: the alias target, or the name itself.
 *
 * @example
 * resolveField("user");          // "actor.username"
 * resolveField("result.status"); // "result.status"
 */
export function resolveField(name: string): string {
  return Object.hasOwn(FIELD_ALIASES, name) ? (FIELD_ALIASES[name] as string) : name;
}

/**
 * Whether `code` (a UTF-16 code unit) may appear in a field name: ASCII letters and
 * digits, `_`, `.`, `-` and `@`. (A name may not start with `-`; see {@link checkFieldName}.)
 */
export function isFieldChar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x5f || // _
    code === 0x2e || // .
    code === 0x2d || // -
    code === 0x40 // @
  );
}

/**
 * Why `name` is not a valid field name, or `undefined` when it is. A valid name is
 * one or more dot-separated segments of {@link isFieldChar} characters, not starting
 * with `-`, with no empty segment (`a..b`, `.a`, `a.` are rejected).
 *
 * @example
 * checkFieldName("actor.username"); // undefined
 * checkFieldName("a..b");           // "empty path segment"
 */
export function checkFieldName(name: string): string | undefined {
  if (name.length === 0) return "empty field name";
  if (name.charCodeAt(0) === 0x2d) return "a field name cannot start with '-'";
  for (let i = 0; i < name.length; i++) {
    if (!isFieldChar(name.charCodeAt(i))) return `'${name[i]}' is not allowed in a field name`;
  }
  if (name.startsWith(".") || name.endsWith(".") || name.includes("..")) return "empty path segment";
  return undefined;
}

/** Whether `segment` is a canonical array index: `0`, or digits without a leading zero. */
function isIndex(segment: string): boolean {
  const n = segment.length;
  if (n === 0 || n > 15) return false;
  const first = segment.charCodeAt(0);
  if (first === 0x30) return n === 1;
  for (let i = 0; i < n; i++) {
    const c = segment.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * One step of a path walk: the own property `segment` of an object, or element
 * `segment` of an array when `segment` is a canonical index. Anything else
 * (primitives, `null`, inherited properties, `length`) gives `undefined`.
 */
function step(value: unknown, segment: string): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) {
    return isIndex(segment) ? (value[Number(segment)] as unknown) : undefined;
  }
  return Object.hasOwn(value, segment) ? (value as Record<string, unknown>)[segment] : undefined;
}

/**
 * A reader for a path given as segments, built once and run per event. See
 * {@link getPath} for the rules.
 *
 * @example
 * const readStatus = compilePath(["result", "status"]);
 * readStatus(event); // "FAILURE"
 */
export function compilePath(segments: readonly string[]): (root: unknown) => unknown {
  const segs = segments.slice();
  if (segs.length === 1) {
    const [a] = segs as [string];
    return (root) => step(root, a);
  }
  if (segs.length === 2) {
    const [a, b] = segs as [string, string];
    return (root) => step(step(root, a), b);
  }
  return (root) => {
    let value = root;
    for (let i = 0; i < segs.length && value !== undefined; i++) value = step(value, segs[i] as string);
    return value;
  };
}

/**
 * The value at a dotted path, or `undefined` when any step is missing. Only own
 * properties are read (never the prototype chain: `a.constructor` is missing); array
 * elements are reached with canonical indexes (`actor.roles.0`); strings and other
 * primitives have no properties. Aliases are not applied here: call
 * {@link resolveField} first when the path comes from a user.
 *
 * @example
 * getPath({ actor: { username: "alice" } }, "actor.username"); // "alice"
 * getPath({ actor: {} }, "actor.username");                     // undefined
 * getPath({}, "toString");                                       // undefined
 */
export function getPath(event: unknown, dottedPath: string): unknown {
  let value = event;
  let start = 0;
  for (;;) {
    const dot = dottedPath.indexOf(".", start);
    const segment = dot === -1 ? dottedPath.slice(start) : dottedPath.slice(start, dot);
    value = step(value, segment);
    if (dot === -1 || value === undefined) return value;
    start = dot + 1;
  }
}
