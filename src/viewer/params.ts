/**
 * The viewer's common query parameters (`q`, `range`, `from`, `to`, `order`, `limit`,
 * `cursor`) checked and turned into the engine's search options, with the identity's
 * tenant bound in. Every problem is a {@link ViewerHttpError} naming the parameter.
 *
 * @module
 */
import { ErrorCodes, QuerySyntaxError, VigilError } from "../errors.js";
import type { QueryNode } from "../query/ast.js";
import { parse } from "../query/parse.js";
import type { SearchOptions } from "../query/search.js";
import { type ResolvedTimeRange, resolveTimeRange } from "../query/time-range.js";

/** An error answered as `{ error: { code, message, ...extra } }` with `status`. */
export class ViewerHttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly extra: Readonly<Record<string, unknown>>;

  constructor(status: number, code: string, message: string, extra: Readonly<Record<string, unknown>> = {}) {
    super(message);
    this.name = "ViewerHttpError";
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/** The viewer's limits, every default filled in. */
export interface ViewerLimits {
  /** Largest `limit` of a search page. Default 500. */
  readonly pageSize: number;
  /** Longest `q`, in characters. Default 4096. */
  readonly queryLength: number;
  /** Longest time range a request may cover, in days. Default 400. */
  readonly rangeDays: number;
  /** Live tails open at once (per handler). Default 16. */
  readonly tails: number;
  /** How long a request may work before it is cancelled (504), in ms. Default 30,000. */
  readonly timeoutMs: number;
  /** How often a live tail looks for new events, in ms (at most 1000). Default 1000. */
  readonly tailIntervalMs: number;
}

export const DEFAULT_LIMITS: ViewerLimits = Object.freeze({
  pageSize: 500,
  queryLength: 4096,
  rangeDays: 400,
  tails: 16,
  timeoutMs: 30_000,
  tailIntervalMs: 1000,
});

export const DEFAULT_PAGE = 50;
export const DEFAULT_RANGE = "last_24h";

export function badParam(message: string, extra: Readonly<Record<string, unknown>> = {}): ViewerHttpError {
  return new ViewerHttpError(400, ErrorCodes.QUERY_OPTIONS, message, extra);
}

/** The first line of an error message (a query syntax error carries an excerpt below it). */
export function firstLine(message: string): string {
  const nl = message.indexOf("\n");
  return nl === -1 ? message : message.slice(0, nl);
}

/** Parse `q`: 413 when too long, 400 with the offset when it does not parse. */
export function parseQueryParam(q: string, limits: ViewerLimits): QueryNode {
  if (q.length > limits.queryLength)
    throw new ViewerHttpError(
      413,
      ErrorCodes.VIEWER_LIMIT,
      `query too long: ${q.length} characters, at most ${limits.queryLength}`,
    );
  try {
    return parse(q);
  } catch (err) {
    if (err instanceof QuerySyntaxError)
      throw new ViewerHttpError(400, ErrorCodes.QUERY_SYNTAX, firstLine(err.message), {
        offset: err.offset,
        line: err.line,
        column: err.column,
      });
    throw err;
  }
}

/** One parameter's single value; a repeated parameter is refused. */
export function single(params: URLSearchParams, name: string): string | undefined {
  const all = params.getAll(name);
  if (all.length > 1) throw badParam(`${name}: given ${all.length} times, expected once`);
  return all[0];
}

/** What every read takes: the search, its resolved range, and what to record about it. */
export interface ReadRequest {
  readonly search: SearchOptions;
  readonly range: ResolvedTimeRange & { readonly from: Date; readonly to: Date };
  readonly query: string;
  readonly node: QueryNode;
  /** The range as asked (`last_24h`, or `from..to`), for the audit record. */
  readonly rangeText: string;
}

/**
 * The common parameters as search options bound to `tenant`. `range` (a named range) or
 * `from`/`to` (ISO 8601); default `last_24h`. The range is closed at now when open, and
 * refused when longer than `limits.rangeDays`.
 */
export function readRequest(
  params: URLSearchParams,
  tenant: string | undefined,
  limits: ViewerLimits,
  now: Date = new Date(),
): ReadRequest {
  const q = single(params, "q") ?? "";
  const node = parseQueryParam(q, limits);
  const rangeName = single(params, "range");
  const fromText = single(params, "from");
  const toText = single(params, "to");
  if (rangeName !== undefined && (fromText !== undefined || toText !== undefined))
    throw badParam("give either range or from/to, not both");
  const timeRange = rangeName ?? (fromText === undefined && toText === undefined ? DEFAULT_RANGE : undefined);
  let resolved: ResolvedTimeRange;
  try {
    resolved = resolveTimeRange(
      {
        ...(timeRange !== undefined ? { timeRange } : {}),
        ...(fromText !== undefined ? { from: fromText } : {}),
        ...(toText !== undefined ? { to: toText } : {}),
      },
      now,
    );
  } catch (err) {
    if (err instanceof VigilError) throw badParam(firstLine(err.message));
    throw err;
  }
  const to = resolved.to ?? now;
  const from = resolved.from ?? new Date(to.getTime() - limits.rangeDays * 86_400_000);
  if (from.getTime() > to.getTime())
    throw badParam(`invalid time range: 'from' ${from.toISOString()} is after 'to' ${to.toISOString()}`);
  const days = (to.getTime() - from.getTime()) / 86_400_000;
  if (days > limits.rangeDays)
    throw badParam(`time range too long: ${Math.ceil(days)} days, at most ${limits.rangeDays}`);
  const search: SearchOptions = {
    ...(q !== "" ? { query: q } : {}),
    from,
    to,
    ...(tenant !== undefined ? { tenant } : {}),
  };
  const rangeText = timeRange ?? `${fromText ?? ""}..${toText ?? ""}`;
  return { search, range: { from, to }, query: q, node, rangeText };
}

/** `order`: `desc` (default) or `asc`. */
export function orderParam(params: URLSearchParams): "asc" | "desc" {
  const order = single(params, "order") ?? "desc";
  if (order !== "asc" && order !== "desc")
    throw badParam(`order: expected asc or desc, found ${JSON.stringify(order)}`);
  return order;
}

/** A positive integer parameter up to `max`. */
export function intParam(params: URLSearchParams, name: string, fallback: number, max: number): number {
  const text = single(params, name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1)
    throw badParam(`${name}: expected a positive integer, found ${JSON.stringify(text.slice(0, 40))}`);
  const n = Number(text);
  if (n > max) throw badParam(`${name}: at most ${max}, found ${n}`);
  return n;
}

/** A comma-separated list of field names. */
export function listParam(params: URLSearchParams, name: string, fallback: readonly string[]): string[] {
  const text = single(params, name);
  if (text === undefined) return [...fallback];
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw badParam(`${name}: expected a comma-separated list of fields`);
  if (items.length > 50) throw badParam(`${name}: at most 50 fields, found ${items.length}`);
  return items;
}
