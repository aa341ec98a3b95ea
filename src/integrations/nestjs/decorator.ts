/**
 * `@Audit(options)`: marks a Nest controller method (or every method of a controller) for
 * an audit event per call. The decorator only records the options; the module's global
 * interceptor records the event, so the method itself is never replaced and Nest's own
 * route metadata stays where Nest put it.
 *
 * @module
 */
import type { AuditEngine } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import type { Actor, Resource, Severity } from "../../event/types.js";

/** The request as the handler's adapter gives it (Express `Request` or `FastifyRequest`). */
export type NestRequest = {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly params?: unknown;
  readonly query?: unknown;
  readonly body?: unknown;
  readonly user?: unknown;
  readonly method?: string;
  readonly url?: string;
};

/** What `@Audit` records, like `auditLog`'s options, with the request in place of the arguments. */
export interface AuditOptions<Req = NestRequest> {
  /** Default `API`. */
  readonly category?: string;
  /** Default: the method's name in UPPER_SNAKE_CASE (`deleteOrder` → `DELETE_ORDER`). */
  readonly actionType?: string;
  /**
   * A path, a resource object, or a function of the request returning either. Default:
   * `{ path, name }` — the request path and the route pattern.
   *
   * @example resource: (req) => ({ type: "order", id: req.params.id })
   */
  readonly resource?: string | Resource | ((req: Req) => string | Resource | undefined);
  /** Sets `action.resource.type`. */
  readonly resourceType?: string;
  /**
   * `true` records the route parameters, query and body as `params.params`, `params.query`
   * and `params.body` (sanitized by the pipeline); a list records only those names, looked
   * up in the route parameters, then the query, then the body. Default false.
   */
  readonly captureParams?: boolean | readonly string[];
  /** Record the handler's return value (sanitized) as `result.value`. Default false. */
  readonly captureResult?: boolean;
  /** Record `result.count` from the return value (array length, `count`, `affectedRows`, ...). Default false. */
  readonly captureResultCount?: boolean;
  /** Record the thrown error's type and message. Default true; false records the type only. */
  readonly captureExceptions?: boolean;
  /** Mark the events as security events. Default false; 401 and 403 answers always are. */
  readonly securityEvent?: boolean;
  /**
   * An explicit severity. Default INFO on success, WARNING for an `HttpException` below 500
   * (the client's failure), ERROR for any other exception.
   */
  readonly severity?: Severity;
  /** Extra metadata, or a function of the request returning it. */
  readonly metadata?:
    | Readonly<Record<string, unknown>>
    | ((req: Req) => Readonly<Record<string, unknown>> | undefined);
  /** Who acted, from the request; default the request scope's actor. */
  readonly actor?: (req: Req) => Actor | undefined;
  /** The engine; default the module's engine. */
  readonly engine?: AuditEngine;
}

const marks = new WeakMap<object, AuditOptions<never>>();

/** The `@Audit` options of a handler, else of its controller class. */
export function auditOptionsOf(handler: unknown, controller: unknown): AuditOptions<never> | undefined {
  return (
    (typeof handler === "function" ? marks.get(handler) : undefined) ??
    (typeof controller === "function" ? marks.get(controller) : undefined)
  );
}

function invalid(option: string, expected: string, found: unknown): VigilError {
  const shown = typeof found === "string" ? JSON.stringify(found) : found === null ? "null" : typeof found;
  return new VigilError(
    ErrorCodes.INVALID_ARGUMENT,
    `@Audit: options.${option} must be ${expected}, found ${shown}`,
  );
}

function validate(o: AuditOptions<never>): void {
  if (o === null || typeof o !== "object") throw invalid("", "an object", o);
  for (const key of ["category", "actionType", "resourceType"] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== "string" || v.trim() === ""))
      throw invalid(key, "a non-empty string", v);
  }
  if (
    o.captureParams !== undefined &&
    typeof o.captureParams !== "boolean" &&
    !(Array.isArray(o.captureParams) && o.captureParams.every((n) => typeof n === "string"))
  )
    throw invalid("captureParams", "a boolean or a list of names", o.captureParams);
  for (const key of ["resource", "metadata"] as const) {
    const v = o[key];
    if (
      v !== undefined &&
      typeof v !== "function" &&
      typeof v !== "object" &&
      !(key === "resource" && typeof v === "string")
    )
      throw invalid(
        key,
        key === "resource" ? "a string, an object or a function" : "an object or a function",
        v,
      );
  }
  if (o.actor !== undefined && typeof o.actor !== "function")
    throw invalid("actor", "a function (req) => Actor", o.actor);
  if (o.engine !== undefined && typeof (o.engine as { log?: unknown }).log !== "function")
    throw invalid("engine", "an AuditEngine", o.engine);
}

/** What `@Audit(...)` returns: a method or class decorator, legacy (Nest) or TC39. */
export interface AuditDecorator {
  /** Legacy (`experimentalDecorators`) method decorator. */
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void;
  /** Legacy class decorator. */
  (target: abstract new (...args: never) => unknown): void;
  /** TC39 method or class decorator. */
  (value: unknown, context: ClassMethodDecoratorContext | ClassDecoratorContext): void;
}

/**
 * Audit a Nest controller method — or, on the class, every handler of the controller —
 * with one event per call: outcome, duration, HTTP status, the exception (an
 * `HttpException` with its status), and what the options ask to capture. Needs
 * `AuditModule` imported (its interceptor records the events). Works with Nest's
 * `experimentalDecorators` and with TC39 decorators.
 *
 * @example
 * @Controller("orders")
 * class OrdersController {
 *   @Delete(":id")
 *   @Audit({ category: "ORDERS", actionType: "ORDER_DELETE", resource: (req) => ({ type: "order", id: req.params.id }) })
 *   remove(@Param("id") id: string) { ... }
 * }
 */
export function Audit<Req = NestRequest>(options: AuditOptions<Req> = {}): AuditDecorator {
  const o = options as AuditOptions<never>;
  validate(o);
  return function auditDecorator(target: unknown, ...rest: unknown[]): void {
    const [second, third] = rest;
    // legacy method decorator: (prototype, key, descriptor)
    if (
      third !== null &&
      typeof third === "object" &&
      typeof (third as PropertyDescriptor).value === "function"
    ) {
      marks.set((third as PropertyDescriptor).value as object, o);
      return;
    }
    // TC39 method or class decorator: (value, context); legacy class decorator: (constructor)
    if (typeof target === "function") {
      const kind = (second as { kind?: unknown } | undefined)?.kind;
      if (second === undefined || kind === "method" || kind === "class") {
        marks.set(target, o);
        return;
      }
    }
    throw new TypeError("@Audit decorates controller methods and controller classes");
  } as AuditDecorator;
}
