/**
 * The query language's syntax tree (SPEC §5). A discriminated union; every node
 * carries its source span so errors and tools can point into the query.
 * The parser (`parse.ts`) builds it, the printer (`serialize.ts`) prints it back,
 * the evaluator (`evaluate.ts`) runs it on events in memory, and the SQL compilers
 * (`storage/sql/`) translate it per dialect. All four agree on these meanings.
 *
 * @module
 */

/** Half-open span `[start, end)` of UTF-16 offsets into the query string. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * A value as written. `kind`:
 * - `literal`: a bare word (`alice`, `42`, `2026-11-26`), escapes resolved;
 * - `phrase`: a `"quoted phrase"`, escapes resolved, no wildcards;
 * - `wildcard`: a bare word containing unescaped `*` or `?`; `pattern` keeps them
 *   (escaped wildcard characters inside it are stored as `\*` and `\?`).
 */
export type QueryValue =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "phrase"; readonly text: string }
  | { readonly kind: "wildcard"; readonly pattern: string };

/** `field:value`, or a bare `value` (field `null`) that matches any text field. */
export interface TermNode {
  readonly type: "term";
  readonly field: string | null;
  readonly value: QueryValue;
  readonly span: Span;
}

/** `field:>10`, `field:<=2026-11-26`. Numbers compare as numbers, timestamps as instants. */
export interface CompareNode {
  readonly type: "compare";
  readonly field: string;
  readonly op: ">" | ">=" | "<" | "<=";
  readonly value: string;
  readonly span: Span;
}

/** `field:[a TO b]` (inclusive) or `field:{a TO b}` (exclusive); `*` leaves a side open. */
export interface RangeNode {
  readonly type: "range";
  readonly field: string;
  readonly min: string | null;
  readonly max: string | null;
  readonly minInclusive: boolean;
  readonly maxInclusive: boolean;
  readonly span: Span;
}

/** `_exists_:field` */
export interface ExistsNode {
  readonly type: "exists";
  readonly field: string;
  readonly span: Span;
}

/** `a AND b` (also `&&` and implicit juxtaposition). Flattened: two or more operands. */
export interface AndNode {
  readonly type: "and";
  readonly operands: readonly QueryNode[];
  readonly span: Span;
}

/** `a OR b` (also `||`). Flattened: two or more operands. */
export interface OrNode {
  readonly type: "or";
  readonly operands: readonly QueryNode[];
  readonly span: Span;
}

/** `NOT a` (also `-a` and `!a`). */
export interface NotNode {
  readonly type: "not";
  readonly operand: QueryNode;
  readonly span: Span;
}

/** `( a )`: kept so that printing round-trips. */
export interface GroupNode {
  readonly type: "group";
  readonly expression: QueryNode;
  readonly span: Span;
}

/** The empty query (or `*`): matches every event. */
export interface MatchAllNode {
  readonly type: "all";
  readonly span: Span;
}

export type QueryNode =
  | TermNode
  | CompareNode
  | RangeNode
  | ExistsNode
  | AndNode
  | OrNode
  | NotNode
  | GroupNode
  | MatchAllNode;
