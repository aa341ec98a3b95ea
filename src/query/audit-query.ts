/**
 * `AuditQuery`: the query API on the default engine (SPEC §5), as the seed uses it:
 * `AuditQuery.search({ query: "action.type:LOGIN AND result.status:FAILURE", timeRange: "last_24h" })`.
 *
 * @module
 */
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEvent } from "../event/types.js";
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
} as const;
