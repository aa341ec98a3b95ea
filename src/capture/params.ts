/**
 * Parameter names for `captureParams`, read from a function's source text where
 * that is possible (`function f(sql, params)`, methods, arrows); `arg0`, `arg1`, ...
 * otherwise (destructured parameters, native or minified functions).
 *
 * @module
 */

const SIMPLE_ARROW = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/;
const IDENT = /^[A-Za-z_$][\w$]*/;

/** Split the text between the parentheses at its top-level commas. */
function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  const last = list.slice(start);
  if (last.trim() !== "") parts.push(last);
  return parts;
}

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
}

/** The parameter names of `fn`, as written; `arg<i>` where a name cannot be read. */
export function parameterNames(fn: (...args: never[]) => unknown): string[] {
  let source: string;
  try {
    source = stripComments(Function.prototype.toString.call(fn)).trim();
  } catch {
    return [];
  }
  const arrow = SIMPLE_ARROW.exec(source);
  if (arrow) return [arrow[1]!];
  const open = source.indexOf("(");
  if (open < 0 || source.startsWith("class")) return [];
  let depth = 0;
  let close = -1;
  let quote: string | undefined;
  for (let i = open; i < source.length; i++) {
    const c = source[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) return [];
  return splitTopLevel(source.slice(open + 1, close)).map((part, i) => {
    const p = part.trim().replace(/^\.\.\./, "");
    const name = IDENT.exec(p)?.[0];
    return name ?? `arg${i}`;
  });
}

/**
 * The captured arguments as an object keyed by parameter name. `only` keeps just the
 * listed names. Arguments beyond the declared parameters are named `arg<i>`.
 */
export function captureArguments(
  names: readonly string[],
  args: readonly unknown[],
  only?: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const name = names[i] ?? `arg${i}`;
    if (only && !only.has(name)) continue;
    Object.defineProperty(out, name, {
      value: args[i],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
