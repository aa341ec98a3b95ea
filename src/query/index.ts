/**
 * The query language (SPEC §5): parse a query string into a syntax tree, print it
 * back, evaluate it on events, resolve time ranges and paging cursors.
 *
 * @example
 * import { compileQuery, parse } from "./query/index.js";
 * const matches = compileQuery(parse("action.type:LOGIN AND result.status:FAILURE"));
 * const failed = events.filter(matches);
 *
 * @module
 */
export type {
  AndNode,
  CompareNode,
  ExistsNode,
  GroupNode,
  MatchAllNode,
  NotNode,
  OrNode,
  QueryNode,
  QueryValue,
  RangeNode,
  Span,
  TermNode,
} from "./ast.js";
export { type CursorPosition, decodeCursor, encodeCursor } from "./cursor.js";
export {
  compileQuery,
  type EventPredicate,
  evaluate,
  MAX_SEARCH_DEPTH,
  parseNumberText,
} from "./evaluate.js";
export { checkFieldName, compilePath, FIELD_ALIASES, getPath, isFieldChar, resolveField } from "./fields.js";
export { isQueryWhitespace, MAX_QUERY_DEPTH, parse } from "./parse.js";
export { quotePhrase, serialize } from "./serialize.js";
export {
  parseDateText,
  type ResolvedTimeRange,
  resolveTimeRange,
  type TimeRangeOptions,
  toInstant,
} from "./time-range.js";
export {
  asciiLower,
  compileContains,
  compileWildcard,
  equalsAsciiLowered,
  parseWildcard,
  type WildcardPart,
} from "./wildcard.js";
