/**
 * `auditLog` and `audited` (SPEC §3): one event per call of the wrapped function —
 * its duration, SUCCESS or FAILURE, and what the options ask to capture. The
 * wrapped function keeps its `this`, arguments, return value, sync-ness, thrown
 * error (the same object) and TypeScript type. `auditLog` works as a TC39 decorator,
 * as a legacy `experimentalDecorators` decorator, bare or with options, and as a
 * plain-function wrapper.
 *
 * @module
 */
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEngine } from "../engine.js";
import { describeError } from "../event/build.js";
import type { Actor, LogInput, Mutable, Resource, Severity } from "../event/types.js";
import { captureArguments, parameterNames } from "./params.js";

// biome-ignore lint/suspicious/noExplicitAny: the standard constraint for "any function" keeps parameter types exact
type AnyFunction = (...args: any[]) => any;

/** What to capture for each call. Every option is optional. */
export interface AuditLogOptions<Args extends readonly unknown[] = readonly unknown[]> {
  /** Default `GENERAL`. */
  readonly category?: string;
  /** Default: the function's name in UPPER_SNAKE_CASE (`executeQuery` → `EXECUTE_QUERY`). */
  readonly actionType?: string;
  /** A path, a resource object, or a function of the arguments returning either. */
  readonly resource?: string | Resource | ((...args: Args) => string | Resource | undefined);
  /** Sets `action.resource.type`. */
  readonly resourceType?: string;
  /** `true` captures every argument by parameter name; a list captures only those names. Default false. */
  readonly captureParams?: boolean | readonly string[];
  /** Record the return value (sanitized) as `result.value`. Default false. */
  readonly captureResult?: boolean;
  /** Record `result.count`: an array's length, or `rowCount`, `affectedRows`, `changes`, `count`. Default false. */
  readonly captureResultCount?: boolean;
  /** Record the thrown error's type and message. Default true; false records the type only. */
  readonly captureExceptions?: boolean;
  /** Mark events as security events. Default false. */
  readonly securityEvent?: boolean;
  /** An explicit severity; default INFO, ERROR when an exception made the call fail. */
  readonly severity?: Severity;
  /** Extra metadata, or a function of the arguments returning it. */
  readonly metadata?:
    | Readonly<Record<string, unknown>>
    | ((...args: Args) => Readonly<Record<string, unknown>> | undefined);
  /** Who acted, from the arguments; default the ambient scope's actor. */
  readonly actor?: (...args: Args) => Actor | undefined;
  /** The engine; default the default engine, looked up at call time. */
  readonly engine?: AuditEngine;
}

/** What `auditLog(options)` returns: a decorator (TC39 or legacy) and a function wrapper in one. */
export interface AuditDecorator {
  <T extends AnyFunction>(fn: T): T;
  <T extends AnyFunction>(value: T, context: ClassMethodDecoratorContext): T;
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor;
}

const COUNT_KEYS = ["rowCount", "affectedRows", "changes", "count"] as const;

/** `result.count` for a return value, if it has one. */
export function resultCount(value: unknown): number | undefined {
  if (Array.isArray(value)) return value.length;
  if (value !== null && typeof value === "object") {
    for (const key of COUNT_KEYS) {
      const n = (value as Record<string, unknown>)[key];
      if (typeof n === "number" && Number.isFinite(n)) return n;
    }
    const rows = (value as { rows?: unknown }).rows;
    if (Array.isArray(rows)) return rows.length;
  }
  return undefined;
}

/** `executeQuery` → `EXECUTE_QUERY`. */
export function toActionType(name: string): string {
  const cleaned = name
    .replace(/^bound /, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return cleaned === "" ? "CALL" : cleaned.toUpperCase();
}

function safeCall<T>(fn: () => T, engine: AuditEngine, what: string): T | undefined {
  try {
    return fn();
  } catch (err) {
    engine._warn(`auditLog: the ${what} option threw: ${(err as Error)?.message ?? String(err)}`);
    return undefined;
  }
}

/** Wrap `fn` so every call records one event. */
function wrap<T extends AnyFunction>(fn: T, options: AuditLogOptions, name: string): T {
  const actionType = options.actionType ?? toActionType(name);
  const category = options.category ?? "GENERAL";
  const only = Array.isArray(options.captureParams) ? new Set<string>(options.captureParams) : undefined;
  let names: string[] | undefined;

  function record(
    engine: AuditEngine,
    args: unknown[],
    started: number,
    outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
  ): void {
    try {
      let resource: string | Resource | undefined;
      const r = options.resource;
      resource = typeof r === "function" ? safeCall(() => r(...args), engine, "resource") : r;
      if (options.resourceType !== undefined) {
        resource = typeof resource === "string" ? { path: resource } : { ...resource };
        resource = { ...resource, type: options.resourceType };
      }
      const m = options.metadata;
      const metadata = typeof m === "function" ? safeCall(() => m(...args), engine, "metadata") : m;
      const actor = options.actor ? safeCall(() => options.actor!(...args), engine, "actor") : undefined;
      let params: Record<string, unknown> | undefined;
      if (options.captureParams) {
        names ??= parameterNames(fn);
        params = captureArguments(names, args, only);
      }
      const result: Record<string, unknown> = {
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      };
      let error: LogInput["error"];
      if (outcome.ok) {
        if (options.captureResultCount) {
          const count = resultCount(outcome.value);
          if (count !== undefined) result.count = count;
        }
        if (options.captureResult && outcome.value !== undefined) result.value = outcome.value;
      } else if (options.captureExceptions === false) {
        result.error = { type: describeError(outcome.error).type };
      } else {
        error = outcome.error;
      }
      // assigned one by one: no temporary objects on the caller's path
      const input: Mutable<LogInput> = { action: actionType, category };
      if (resource !== undefined) input.resource = resource;
      if (actor !== undefined) input.actor = actor;
      if (metadata !== undefined) input.metadata = metadata;
      if (params !== undefined) input.params = params;
      if (options.severity !== undefined) input.severity = options.severity;
      if (options.securityEvent) input.securityEvent = true;
      input.status = outcome.ok ? "SUCCESS" : "FAILURE";
      input.result = result;
      if (error !== undefined) input.error = error;
      engine._logCaptured(input, !outcome.ok);
    } catch {
      // recording never changes the application's behaviour
    }
  }

  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    let engine: AuditEngine;
    try {
      engine = options.engine ?? getDefaultEngine();
    } catch {
      return fn.apply(this, args);
    }
    if (!engine.enabled) return fn.apply(this, args);
    const started = performance.now();
    let value: unknown;
    try {
      value = fn.apply(this, args);
    } catch (error) {
      record(engine, args, started, { ok: false, error });
      throw error;
    }
    if (value instanceof Promise) {
      return value.then(
        (v: unknown) => {
          record(engine, args, started, { ok: true, value: v });
          return v;
        },
        (error: unknown) => {
          record(engine, args, started, { ok: false, error });
          throw error;
        },
      );
    }
    record(engine, args, started, { ok: true, value });
    return value;
  };
  Object.defineProperty(wrapped, "name", { value: fn.name, configurable: true });
  Object.defineProperty(wrapped, "length", { value: fn.length, configurable: true });
  return wrapped as unknown as T;
}

function isTc39Context(value: unknown): value is ClassMethodDecoratorContext {
  return value !== null && typeof value === "object" && "kind" in value && "name" in value;
}

function makeDecorator(options: AuditLogOptions): AuditDecorator {
  function decorator(...args: unknown[]): unknown {
    const [first, second, third] = args;
    if (typeof first === "function" && args.length === 1) {
      return wrap(first as AnyFunction, options, (first as AnyFunction).name);
    }
    if (typeof first === "function" && isTc39Context(second)) {
      if (second.kind !== "method" && second.kind !== "getter" && second.kind !== "setter")
        throw new TypeError(`@auditLog decorates methods, not a ${second.kind}`);
      return wrap(first as AnyFunction, options, String(second.name));
    }
    if (args.length === 3 && third !== null && typeof third === "object") {
      const descriptor = third as PropertyDescriptor;
      if (typeof descriptor.value !== "function") throw new TypeError("@auditLog decorates methods");
      descriptor.value = wrap(descriptor.value as AnyFunction, options, String(second));
      return descriptor;
    }
    throw new TypeError("auditLog: expected to decorate a method or wrap a function");
  }
  return decorator as AuditDecorator;
}

/**
 * Audit a method or function: one event per call.
 *
 * @example
 * class DatabaseConnector {
 *   @auditLog({ category: "DATABASE", actionType: "QUERY", captureParams: true, captureResultCount: true })
 *   async executeQuery(sql: string, params?: unknown[]) { ... }
 *
 *   @auditLog // category GENERAL, type CLOSE
 *   close() { ... }
 * }
 * const handler = auditLog({ category: "API" })(async (req) => { ... });
 */
export function auditLog<T extends AnyFunction>(value: T, context: ClassMethodDecoratorContext): T;
export function auditLog(
  target: object,
  propertyKey: string | symbol,
  descriptor: PropertyDescriptor,
): PropertyDescriptor;
export function auditLog<T extends AnyFunction>(fn: T): T;
export function auditLog(options?: AuditLogOptions): AuditDecorator;
export function auditLog(...args: unknown[]): unknown {
  if (args.length === 0 || args[0] === undefined || (args.length === 1 && typeof args[0] === "object"))
    return makeDecorator((args[0] as AuditLogOptions | undefined) ?? {});
  return (makeDecorator({}) as (...a: unknown[]) => unknown)(...args);
}

/**
 * Audit a plain function: `audited(options, fn)` is `auditLog(options)(fn)`.
 *
 * @example
 * const login = audited({ actionType: "LOGIN", category: "AUTHENTICATION", securityEvent: true },
 *   async (username: string, password: string) => { ... });
 */
export function audited<T extends AnyFunction>(options: AuditLogOptions<Parameters<T>>, fn: T): T {
  return wrap(fn, options as AuditLogOptions, fn.name);
}
