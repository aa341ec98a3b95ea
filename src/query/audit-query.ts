/**
 * `AuditQuery`: the query API on the default engine (SPEC §5), as the seed uses it:
 * `AuditQuery.search({ query: "action.type:LOGIN AND result.status:FAILURE", timeRange: "last_24h" })`.
 *
 * @module
 */
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEvent } from "../event/types.js";
import type { ExportOptions, ExportResult } from "../export/index.js";
import type { AggregateResult, AggregateSearchOptions } from "./aggregate.js";
import type { SearchOptions } from "./search.js";

export const AuditQuery = {
  /** Matching events on the default engine; see `AuditEngine.search`. */
  search(options: SearchOptions = {}): Promise<AuditEvent[]> {
    return getDefaultEngine().search(options);
  },
  /** How many events match on the default engine. */
  count(options: SearchOptions = {}): Promise<number> {
    return getDefaultEngine().count(options);
  },
  /** Every matching event on the default engine, streamed. */
  stream(options: SearchOptions = {}): AsyncGenerator<AuditEvent> {
    return getDefaultEngine().stream(options);
  },
  /**
   * Export matches from the default engine.
   * @example
   * await AuditQuery.export({ format: "excel", filename: "security_audit.xlsx", filters: { category: "SECURITY" } });
   */
  export(options: ExportOptions): Promise<ExportResult> {
    return getDefaultEngine().export(options);
  },
  /** Counts per value or time bucket on the default engine. */
  aggregate(options: AggregateSearchOptions): Promise<AggregateResult> {
    return getDefaultEngine().aggregate(options);
  },
} as const;
