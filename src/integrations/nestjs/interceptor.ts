/**
 * The NestJS integration's global guard and interceptor.
 *
 * - `AuditGuard` (registered first among the module's providers) only notes which handler
 *   the request was routed to, so a later guard's denial can name it; it always allows.
 * - `AuditInterceptor` runs around every handler: it notes that the guards let the request
 *   through, and for handlers marked `@Audit` records one event per call — outcome,
 *   duration, HTTP status (the response's, or an `HttpException`'s), the exception.
 *
 * Neither is decorated: the module creates them with factories, so vigil's build needs
 * no decorator metadata.
 *
 * @module
 */
import { Observable } from "rxjs";
import { resultCount, toActionType } from "../../capture/audit-log.js";
import type { AuditEngine } from "../../engine.js";
import { describeError } from "../../event/build.js";
import type { LogInput, Resource } from "../../event/types.js";
import { type AuditOptions, auditOptionsOf } from "./decorator.js";
import { adapterFor, type NestHttpRequest, pathAndRoute, rawRequest, stateOf } from "./http.js";

/** The slice of Nest's `ExecutionContext` used here. */
export interface ExecutionContextLike {
  getType(): string;
  getHandler(): unknown;
  getClass(): unknown;
  switchToHttp(): { getRequest(): unknown; getResponse(): unknown };
}

/** The slice of Nest's `CallHandler`. */
export interface CallHandlerLike {
  handle(): Observable<unknown>;
}

function nameOf(fn: unknown): string {
  return typeof fn === "function" && typeof fn.name === "string" && fn.name !== "" ? fn.name : "anonymous";
}

/** Resource from `@Audit`'s `resource` / `resourceType`, with the request's path and route as default. */
function resourceOf(
  options: AuditOptions<never>,
  req: unknown,
  fallback: Resource,
  engine: AuditEngine,
): Resource | string {
  let resource: string | Resource | undefined;
  const r = options.resource as AuditOptions<unknown>["resource"];
  if (typeof r === "function") {
    try {
      resource = r(req);
    } catch (err) {
      engine._warn(`@Audit: the resource option threw: ${(err as Error)?.message ?? String(err)}`);
    }
  } else resource = r;
  resource ??= fallback;
  if (options.resourceType !== undefined)
    resource = {
      ...(typeof resource === "string" ? { path: resource } : resource),
      type: options.resourceType,
    };
  return resource;
}

/** `captureParams`: route parameters, query and body, or the named values among them. */
function paramsOf(options: AuditOptions<never>, req: unknown): Record<string, unknown> | undefined {
  const c = options.captureParams;
  if (!c) return undefined;
  const r = req as { params?: unknown; query?: unknown; body?: unknown };
  const sources = [r.params, r.query, r.body].map((v) =>
    v !== null && typeof v === "object" ? (v as Record<string, unknown>) : undefined,
  );
  if (c === true) {
    const out: Record<string, unknown> = {};
    const [params, query] = sources;
    if (params && Object.keys(params).length > 0) out.params = { ...params };
    if (query && Object.keys(query).length > 0) out.query = { ...query };
    const body = r.body;
    const emptyObject =
      sources[2] !== undefined && !Array.isArray(body) && Object.keys(sources[2]).length === 0;
    if (body !== undefined && body !== null && body !== "" && !emptyObject) out.body = body;
    return Object.keys(out).length > 0 ? out : undefined;
  }
  const out: Record<string, unknown> = {};
  for (const name of c) {
    for (const source of sources) {
      if (source && Object.hasOwn(source, name)) {
        out[name] = source[name];
        break;
      }
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** An `HttpException`'s status (duck-typed, so any copy of `@nestjs/common` is recognized). */
function httpStatusOf(error: unknown): number | undefined {
  const getStatus = (error as { getStatus?: unknown } | null)?.getStatus;
  if (typeof getStatus !== "function") return undefined;
  try {
    const status = getStatus.call(error);
    return typeof status === "number" ? status : undefined;
  } catch {
    return undefined;
  }
}

/** Notes the handler a request was routed to; always allows. */
export class AuditGuard {
  canActivate(context: ExecutionContextLike): boolean {
    try {
      if (context.getType() !== "http") return true;
      const state = stateOf(rawRequest(context.switchToHttp().getRequest()));
      if (state !== undefined) {
        const options = auditOptionsOf(context.getHandler(), context.getClass());
        const resource =
          options?.resource !== undefined && typeof options.resource !== "function"
            ? (options.resource as Resource | string)
            : undefined;
        state.handler = {
          controller: nameOf(context.getClass()),
          method: nameOf(context.getHandler()),
          ...(resource !== undefined ? { resource } : {}),
        };
      }
    } catch {
      // recording never changes the application's behaviour
    }
    return true;
  }
}

/** Records the `@Audit` events and notes that a request reached its handler. */
export class AuditInterceptor {
  readonly #engine: AuditEngine;

  constructor(engine: AuditEngine) {
    this.#engine = engine;
  }

  intercept(context: ExecutionContextLike, next: CallHandlerLike): Observable<unknown> {
    if (context.getType() !== "http") return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest();
    const state = stateOf(rawRequest(req));
    if (state !== undefined) state.reached = true;
    const handler = context.getHandler();
    const options = auditOptionsOf(handler, context.getClass());
    if (options === undefined) return next.handle();
    const engine = options.engine ?? this.#engine;
    if (!engine.enabled) return next.handle();
    const started = performance.now();
    const record = (outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void => {
      try {
        const where = pathAndRoute(state ?? { request: req as NestHttpRequest, adapter: adapterFor(req) });
        const status = outcome.ok
          ? (http.getResponse() as { statusCode?: unknown }).statusCode
          : (httpStatusOf(outcome.error) ?? 500);
        const httpStatus = typeof status === "number" ? status : undefined;
        const denied = httpStatus === 401 || httpStatus === 403;
        if (denied && state !== undefined) state.denialRecorded = true;
        const m = options.metadata as AuditOptions<unknown>["metadata"];
        let metadata: Readonly<Record<string, unknown>> | undefined;
        try {
          metadata = typeof m === "function" ? m(req) : m;
        } catch (err) {
          engine._warn(`@Audit: the metadata option threw: ${(err as Error)?.message ?? String(err)}`);
        }
        let actor: LogInput["actor"];
        if (options.actor) {
          try {
            actor = (options.actor as (r: unknown) => LogInput["actor"])(req);
          } catch (err) {
            engine._warn(`@Audit: the actor option threw: ${(err as Error)?.message ?? String(err)}`);
          }
        }
        const params = paramsOf(options, req);
        const result: Record<string, unknown> = {
          duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          ...(httpStatus !== undefined ? { http_status: httpStatus } : {}),
        };
        let error: unknown;
        if (outcome.ok) {
          if (options.captureResultCount) {
            const count = resultCount(outcome.value);
            if (count !== undefined) result.count = count;
          }
          if (options.captureResult && outcome.value !== undefined) result.value = outcome.value;
        } else if (options.captureExceptions === false)
          result.error = { type: describeError(outcome.error).type };
        else error = outcome.error;
        const clientError =
          !outcome.ok &&
          httpStatus !== undefined &&
          httpStatus < 500 &&
          httpStatusOf(outcome.error) !== undefined;
        engine._logCaptured(
          {
            action: options.actionType ?? toActionType(nameOf(handler)),
            category: options.category ?? "API",
            method: (req as { method?: string }).method ?? "GET",
            resource: resourceOf(options, req, where, engine),
            ...(actor !== undefined ? { actor } : {}),
            ...(metadata !== undefined ? { metadata } : {}),
            ...(params !== undefined ? { params } : {}),
            ...(options.severity !== undefined
              ? { severity: options.severity }
              : clientError
                ? { severity: "WARNING" as const }
                : {}),
            ...(options.securityEvent || denied ? { securityEvent: true } : {}),
            status: outcome.ok ? "SUCCESS" : "FAILURE",
            result,
            ...(error !== undefined ? { error } : {}),
          },
          !outcome.ok,
        );
      } catch {
        // recording never changes the application's behaviour
      }
    };
    const source = next.handle();
    return new Observable<unknown>((subscriber) => {
      let last: unknown;
      let done = false;
      const subscription = source.subscribe({
        next(value) {
          last = value;
          subscriber.next(value);
        },
        error(error: unknown) {
          if (!done) {
            done = true;
            record({ ok: false, error });
          }
          subscriber.error(error);
        },
        complete() {
          if (!done) {
            done = true;
            record({ ok: true, value: last });
          }
          subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
  }
}
