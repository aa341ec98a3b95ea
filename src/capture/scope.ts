/**
 * The ambient audit scope (SPEC §3), carried by `AsyncLocalStorage`: every event
 * recorded inside `withAuditScope` — however deep, across `await`, timers and
 * callbacks — carries the scope's actor, correlation and tenant unless it names its own.
 * The HTTP integrations open one per request.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Actor, Correlation } from "../event/types.js";

/** What a scope carries. Inner scopes merge over outer ones, field by field. */
export interface AuditScope {
  readonly actor?: Actor;
  readonly correlation?: Correlation;
  /** Merged under each event's own metadata. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** The tenant of every event inside (unless an event names its own); an inner scope's wins. */
  readonly tenant?: string;
}

const storage = new AsyncLocalStorage<AuditScope>();

/** The scope in force here, if any. */
export function currentScope(): AuditScope | undefined {
  return storage.getStore();
}

function merge(outer: AuditScope | undefined, inner: AuditScope): AuditScope {
  if (!outer) return inner;
  return {
    actor: outer.actor || inner.actor ? { ...outer.actor, ...inner.actor } : undefined,
    correlation:
      outer.correlation || inner.correlation ? { ...outer.correlation, ...inner.correlation } : undefined,
    metadata: outer.metadata || inner.metadata ? { ...outer.metadata, ...inner.metadata } : undefined,
    tenant: inner.tenant ?? outer.tenant,
  };
}

/**
 * Run `fn` inside a scope; returns what `fn` returns (a promise stays a promise).
 *
 * @example
 * await withAuditScope({ actor: { username: "alice", ip }, correlation: { request_id } }, async () => {
 *   await db.query("..."); // its events carry alice and the request id
 * });
 */
export function withAuditScope<T>(scope: AuditScope, fn: () => T): T {
  return storage.run(merge(storage.getStore(), scope), fn);
}

/**
 * Enter a scope for the rest of the current synchronous execution and the async work
 * it starts (used by middleware that cannot wrap the request in a callback).
 */
export function enterAuditScope(scope: AuditScope): void {
  storage.enterWith(merge(storage.getStore(), scope));
}
