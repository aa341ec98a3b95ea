/**
 * `AuditContext.run(options, fn)` (SPEC §3): one event for a block of work — its
 * duration, SUCCESS or FAILURE (the error is re-thrown unchanged), and whatever
 * `ctx.set(...)` added while it ran. Contexts nest: an inner context's event names
 * the outer one in `correlation.parent_id`.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEngine } from "../engine.js";
import type { Actor, LogInput, Mutable, Resource, Result, ResultStatus, Severity } from "../event/types.js";
import { uuidv7 } from "../event/uuid.js";

export interface AuditContextOptions {
  /** The action type, e.g. `CONNECTION_CREATE`. */
  readonly action: string;
  /** Default `GENERAL`. */
  readonly category?: string;
  readonly resource?: string | Resource;
  readonly actor?: Actor;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly params?: unknown;
  readonly severity?: Severity;
  readonly securityEvent?: boolean;
  /** Default: the default engine, looked up when `run` is called. */
  readonly engine?: AuditEngine;
}

/** What `ctx.set()` may add or change while the context runs. Metadata merges; the rest replaces. */
export interface AuditContextPatch {
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly resource?: string | Resource;
  readonly actor?: Actor;
  readonly params?: unknown;
  readonly severity?: Severity;
  /** Force the outcome (e.g. FAILURE for a handled error). */
  readonly status?: ResultStatus;
  /** `result.count` */
  readonly count?: number;
}

const active = new AsyncLocalStorage<AuditContext>();

export class AuditContext {
  /** The id the context's event will carry. */
  readonly id: string;
  readonly #options: AuditContextOptions;
  #patch: { -readonly [K in keyof AuditContextPatch]: AuditContextPatch[K] } = {};

  private constructor(options: AuditContextOptions) {
    this.#options = options;
    this.id = uuidv7();
  }

  /** The innermost running context, if any. */
  static current(): AuditContext | undefined {
    return active.getStore();
  }

  /**
   * Run `fn` as one audited unit of work; returns what `fn` returns (a promise stays
   * a promise) and re-throws its error unchanged.
   *
   * @example
   * await AuditContext.run({ action: "CONNECTION_CREATE", category: "DATABASE", resource: info.database },
   *   async (ctx) => { ctx.set({ metadata: { pool: "main" } }); return establish(info); });
   */
  static run<T>(options: AuditContextOptions, fn: (ctx: AuditContext) => T): T {
    let engine: AuditEngine | undefined;
    try {
      engine = options.engine ?? getDefaultEngine();
    } catch {
      engine = undefined;
    }
    const ctx = new AuditContext(options);
    if (!engine?.enabled) return fn(ctx);
    const parent = active.getStore();
    const started = performance.now();
    const finish = (error: unknown, failed: boolean) => ctx.#record(engine!, parent, started, error, failed);
    let value: T;
    try {
      value = active.run(ctx, fn, ctx);
    } catch (error) {
      finish(error, true);
      throw error;
    }
    if (value instanceof Promise) {
      return value.then(
        (v: unknown) => {
          finish(undefined, false);
          return v;
        },
        (error: unknown) => {
          finish(error, true);
          throw error;
        },
      ) as T;
    }
    finish(undefined, false);
    return value;
  }

  /** Add to the event this context will record. */
  set(patch: AuditContextPatch): void {
    if (patch === null || typeof patch !== "object") return;
    const { metadata, ...rest } = patch;
    Object.assign(this.#patch, rest);
    if (metadata) this.#patch.metadata = { ...this.#patch.metadata, ...metadata };
  }

  #record(
    engine: AuditEngine,
    parent: AuditContext | undefined,
    started: number,
    error: unknown,
    failed: boolean,
  ): void {
    try {
      const o = this.#options;
      const p = this.#patch;
      const metadata = o.metadata || p.metadata ? { ...o.metadata, ...p.metadata } : undefined;
      const resource = p.resource ?? o.resource;
      const actor = p.actor ?? o.actor;
      const params = p.params ?? o.params;
      const severity = p.severity ?? o.severity;
      // field by field: conditional spreads cost about 1 µs per object on Node 20
      const result: { -readonly [K in keyof Result]?: Result[K] } = {
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      };
      if (p.count !== undefined) result.count = p.count;
      const input: Mutable<LogInput> & { _id?: string; _parentId?: string } = {
        action: o.action,
        category: o.category ?? "GENERAL",
      };
      if (resource !== undefined) input.resource = resource;
      if (actor !== undefined) input.actor = actor;
      if (metadata !== undefined) input.metadata = metadata;
      if (params !== undefined) input.params = params;
      if (severity !== undefined) input.severity = severity;
      if (o.securityEvent) input.securityEvent = true;
      input.status = p.status ?? (failed ? "FAILURE" : "SUCCESS");
      input.result = result;
      if (failed) input.error = error;
      input._id = this.id;
      if (parent) input._parentId = parent.id;
      engine._logCaptured(input, failed);
    } catch {
      // recording never changes the application's behaviour
    }
  }
}
