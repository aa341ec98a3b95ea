/**
 * Search options (SPEC §5) and their translation into the {@link QuerySpec} every
 * backend answers: the query string parsed once, `category` and `filters` folded
 * in as terms, the time range resolved, the cursor decoded.
 *
 * @module
 */
import { ErrorCodes, VigilError } from "../errors.js";
import { tenantProblem } from "../event/tenant.js";
import type { QuerySpec } from "../storage/backend.js";
import type { QueryNode, Span, TermNode } from "./ast.js";
import { decodeCursor } from "./cursor.js";
import { checkFieldName, resolveField } from "./fields.js";
import { parse } from "./parse.js";
import { resolveTimeRange } from "./time-range.js";

/** A filter value: equal to this (ASCII case-insensitive), or to any of these. */
export type FilterValue = string | number | boolean | readonly (string | number | boolean)[];

export interface SearchOptions {
  /** A query in the query language, e.g. `action.type:LOGIN AND result.status:FAILURE`. */
  readonly query?: string;
  /** `last_24h`, `today`, ... (see docs/query-language.md). */
  readonly timeRange?: string;
  /** Inclusive lower bound on `timestamp`. */
  readonly from?: Date | string | number;
  /** Exclusive upper bound on `timestamp`. */
  readonly to?: Date | string | number;
  /** Shorthand for `filters: { "action.category": ... }`. */
  readonly category?: string | readonly string[];
  /** Field → value(s), e.g. `{ "actor.username": "alice" }`; aliases like `category` work. */
  readonly filters?: Readonly<Record<string, FilterValue>>;
  /** At most this many events. Default 1000. */
  readonly limit?: number;
  /** `desc` (newest first, the default) or `asc`. */
  readonly order?: "asc" | "desc";
  /** From a previous page's `cursor`. */
  readonly cursor?: string;
  /**
   * Only events of this tenant, compared exactly (case-sensitive), whatever the query says:
   * `query: "tenant:b OR *"` with `tenant: "a"` still finds only tenant `a`'s events.
   */
  readonly tenant?: string;
  /** Stops the search: the promise rejects (or the stream throws) with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** One page of results and the cursor for the next (absent on the last page). */
export interface SearchPage {
  readonly events: import("../event/types.js").AuditEvent[];
  readonly cursor?: string | undefined;
}

export const DEFAULT_LIMIT = 1000;
const NO_SPAN: Span = { start: 0, end: 0 };

function optionError(message: string): VigilError {
  return new VigilError(ErrorCodes.QUERY_OPTIONS, message);
}

function termsFor(field: string, value: FilterValue, where: string): QueryNode {
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) throw optionError(`${where}: expected a value or a non-empty list, found []`);
  const terms = values.map((v): TermNode => {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")
      throw optionError(
        `${where}: expected a string, number or boolean, found ${v === null ? "null" : typeof v}`,
      );
    return { type: "term", field, value: { kind: "phrase", text: String(v) }, span: NO_SPAN };
  });
  return terms.length === 1 ? terms[0]! : { type: "or", operands: terms, span: NO_SPAN };
}

/** Validate search options and build the spec. Throws `VIGIL_ERR_QUERY_*` errors with precise messages. */
export function toQuerySpec(options: SearchOptions): QuerySpec {
  if (options === null || typeof options !== "object") throw optionError("search options must be an object");
  const parts: QueryNode[] = [];
  if (options.query !== undefined) {
    if (typeof options.query !== "string")
      throw optionError(`query: expected a string, found ${typeof options.query}`);
    const node = parse(options.query);
    if (node.type !== "all") parts.push(node);
  }
  if (options.category !== undefined) parts.push(termsFor("action.category", options.category, "category"));
  if (options.filters !== undefined) {
    if (options.filters === null || typeof options.filters !== "object" || Array.isArray(options.filters))
      throw optionError('filters: expected an object like { "actor.username": "alice" }');
    for (const [name, value] of Object.entries(options.filters)) {
      const problem = checkFieldName(name);
      if (problem) throw optionError(`filters: invalid field name ${JSON.stringify(name)}: ${problem}`);
      parts.push(termsFor(resolveField(name), value, `filters[${JSON.stringify(name)}]`));
    }
  }
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!(limit === Number.POSITIVE_INFINITY || (Number.isInteger(limit) && limit > 0)))
    throw optionError(`limit: expected a positive integer, found ${String(limit)}`);
  const order = options.order ?? "desc";
  if (order !== "asc" && order !== "desc")
    throw optionError(`order: expected "asc" or "desc", found ${JSON.stringify(order)}`);
  if (options.tenant !== undefined) {
    const bad = tenantProblem(options.tenant);
    if (bad !== undefined) throw optionError(`tenant: ${bad}`);
  }
  const range = resolveTimeRange(options);
  const after = options.cursor !== undefined ? decodeCursor(options.cursor, order) : undefined;
  const where: QueryNode | undefined =
    parts.length === 0
      ? undefined
      : parts.length === 1
        ? parts[0]
        : { type: "and", operands: parts, span: NO_SPAN };
  return {
    ...(range.from ? { from: range.from } : {}),
    ...(range.to ? { to: range.to } : {}),
    ...(where ? { where } : {}),
    order,
    ...(after ? { after: { timestamp: after.timestamp, id: after.id } } : {}),
    ...(limit === Number.POSITIVE_INFINITY ? {} : { limit }),
    ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
  };
}
