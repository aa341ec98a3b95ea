/**
 * Field names for the viewer: the schema's fields, the dotted fields seen in recent events
 * (completion), and warnings for fields a query names that no event has (with the closest
 * known name as a suggestion).
 *
 * @module
 */
import { closest } from "../config/suggest.js";
import type { QueryNode } from "../query/ast.js";
import { FIELD_ALIASES, resolveField } from "../query/fields.js";

/** The fields of the event schema (SPEC §2). */
export const SCHEMA_FIELDS: readonly string[] = Object.freeze([
  "schema_version",
  "id",
  "timestamp",
  "severity",
  "security_event",
  "application.name",
  "application.version",
  "application.environment",
  "application.host",
  "application.pid",
  "actor.id",
  "actor.username",
  "actor.ip",
  "actor.user_agent",
  "actor.session_id",
  "actor.roles",
  "action.type",
  "action.category",
  "action.method",
  "action.resource.type",
  "action.resource.id",
  "action.resource.path",
  "action.resource.name",
  "result.status",
  "result.duration_ms",
  "result.count",
  "result.http_status",
  "result.error.type",
  "result.error.message",
  "result.error.code",
  "result.value",
  "correlation.request_id",
  "correlation.trace_id",
  "correlation.span_id",
  "correlation.parent_id",
  "params",
  "metadata",
  "tenant",
  "integrity.chain",
  "integrity.seq",
  "integrity.prev",
  "integrity.hash",
  "subject.ref",
  "truncated",
]);

/** Free-form sections: any field below them is plausible. */
const FREE_FORM = ["params.", "metadata.", "result.value."];

/** The dotted leaf paths of `value` (objects only; arrays end a path), at most `max` of them. */
export function collectPaths(value: unknown, into: Set<string>, prefix = "", depth = 0, max = 2000): void {
  if (value === null || typeof value !== "object" || Array.isArray(value) || depth > 6) {
    if (prefix !== "" && into.size < max) into.add(prefix);
    return;
  }
  for (const key of Object.keys(value)) {
    if (into.size >= max) return;
    if (!/^[A-Za-z0-9_@-]{1,64}$/.test(key)) continue;
    collectPaths(
      (value as Record<string, unknown>)[key],
      into,
      prefix === "" ? key : `${prefix}.${key}`,
      depth + 1,
      max,
    );
  }
}

/** One unknown field named by a query. */
export interface FieldWarning {
  readonly field: string;
  /** Where it is written in the query (0-based). */
  readonly offset: number;
  readonly suggestion?: string;
}

function fieldsOf(node: QueryNode, out: { field: string; offset: number }[]): void {
  switch (node.type) {
    case "term":
      if (node.field !== null) out.push({ field: node.field, offset: node.span.start });
      return;
    case "compare":
    case "range":
      out.push({ field: node.field, offset: node.span.start });
      return;
    case "exists":
      out.push({ field: node.field, offset: node.span.start });
      return;
    case "and":
    case "or":
      for (const o of node.operands) fieldsOf(o, out);
      return;
    case "not":
      fieldsOf(node.operand, out);
      return;
    case "group":
      fieldsOf(node.expression, out);
      return;
    case "all":
      return;
  }
}

/**
 * The fields `node` names that are neither in the schema, nor seen in events, nor under a
 * free-form section; each with the closest known name when one is near. The `exists`
 * node's offset points at `_exists_`; the others at the field.
 */
export function unknownFields(node: QueryNode, known: ReadonlySet<string>): FieldWarning[] {
  const named: { field: string; offset: number }[] = [];
  fieldsOf(node, named);
  const candidates = [...known, ...Object.keys(FIELD_ALIASES)];
  const warnings: FieldWarning[] = [];
  for (const { field, offset } of named) {
    const path = resolveField(field);
    if (known.has(path) || FREE_FORM.some((p) => path.startsWith(p))) continue;
    // a prefix of a known field (`actor`, `action.resource`) is a field too
    if ([...known].some((k) => k.startsWith(`${path}.`))) continue;
    const suggestion = closest(field, candidates);
    warnings.push({ field, offset, ...(suggestion !== undefined ? { suggestion } : {}) });
  }
  return warnings;
}

export { FIELD_ALIASES };
