/**
 * The request side of the NestJS integration: the one `HTTP_REQUEST` event per request and
 * the ambient scope, installed on the application's HTTP adapter (Express or Fastify)
 * with the same code as `expressAuditMiddleware` / `fastifyAuditPlugin`, and the
 * `PERMISSION_DENIED` security event for a 401 or 403 answer that no `@Audit` event
 * already recorded — the answer of a guard, which runs before any interceptor.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuditScope } from "../../capture/scope.js";
import { withAuditScope } from "../../capture/scope.js";
import type { AuditEngine } from "../../engine.js";
import type { LogInput, Resource } from "../../event/types.js";
import { type ExpressLikeRequest, expressAdapter } from "../express/index.js";
import { type FastifyLikeReply, type FastifyLikeRequest, fastifyAdapter } from "../fastify/index.js";
import { createHttpAuditor, type HttpAdapter, type HttpAuditOptions } from "../http-common.js";

/** The request of either adapter: Express's `Request` or Fastify's `FastifyRequest`. */
export type NestHttpRequest = ExpressLikeRequest | FastifyLikeRequest;

/** Options of the per-request event, as for `expressAuditMiddleware`; `getActor` receives the adapter's request. */
export type NestHttpAuditOptions = HttpAuditOptions<NestHttpRequest>;

/** What one request learned on its way through Nest. */
export interface RequestState {
  /** The adapter's request object (Express `Request`, `FastifyRequest`). */
  readonly request: NestHttpRequest;
  readonly adapter: HttpAdapter<NestHttpRequest>;
  /** The request's scope, when audited. */
  readonly scope: AuditScope | undefined;
  /** Set by the guard: the handler Nest routed the request to. */
  handler?: { readonly controller: string; readonly method: string; readonly resource?: Resource | string };
  /** Set by the interceptor: the handler's pipeline was reached (all guards passed). */
  reached: boolean;
  /** Set when an `@Audit` event already recorded the request's 401/403. */
  denialRecorded: boolean;
}

const states = new WeakMap<IncomingMessage, RequestState>();

/** The state of the request whose `node:http` request is `raw`. */
export function stateOf(raw: unknown): RequestState | undefined {
  return raw !== null && typeof raw === "object" ? states.get(raw as IncomingMessage) : undefined;
}

/** The `node:http` request under an adapter's request. */
export function rawRequest(request: unknown): IncomingMessage | undefined {
  if (request === null || typeof request !== "object") return undefined;
  const raw = (request as { raw?: unknown }).raw;
  return (raw !== null && typeof raw === "object" ? raw : request) as IncomingMessage;
}

/** The adapter of a request object: Fastify's carry their `node:http` request as `raw`. */
export function adapterFor(request: unknown): HttpAdapter<NestHttpRequest> {
  return (
    (request as { raw?: unknown }).raw !== undefined ? fastifyAdapter : expressAdapter
  ) as HttpAdapter<NestHttpRequest>;
}

/** The path (without the query string) and route pattern of a request. */
export function pathAndRoute(state: Pick<RequestState, "request" | "adapter">): {
  path: string;
  name?: string;
} {
  const { request, adapter } = state;
  const url = adapter.url(request) ?? "/";
  const q = url.indexOf("?");
  const path = q === -1 ? url : url.slice(0, q);
  let route: string | undefined;
  try {
    route = adapter.route(request);
  } catch {
    route = undefined;
  }
  return route !== undefined ? { path, name: route } : { path };
}

/** The slice of Nest's `AbstractHttpAdapter` used here. */
export interface HttpAdapterLike {
  getType(): string;
  getInstance(): unknown;
}

type ExpressApp = {
  use(fn: (req: ExpressLikeRequest, res: ServerResponse, next: () => void) => void): unknown;
};
type FastifyApp = {
  addHook(
    name: "onRequest",
    hook: (request: FastifyLikeRequest, reply: FastifyLikeReply, done: (err?: Error) => void) => void,
  ): unknown;
};

const installed = new WeakSet<object>();

/**
 * Install the per-request auditing on Nest's HTTP adapter, once per adapter. Called from
 * the module's `configure`, which Nest runs after its body parser and before it registers
 * the routes, on `NestFactory.create` and testing applications alike.
 */
export function installHttpAuditing(
  adapter: HttpAdapterLike,
  engine: AuditEngine,
  options: NestHttpAuditOptions,
  recordDenials: boolean,
): void {
  const instance = adapter.getInstance() as object | undefined;
  if (instance === undefined || installed.has(instance)) return;
  const type = adapter.getType();
  const withEngine = { engine, ...options } as NestHttpAuditOptions;
  const track = (request: NestHttpRequest, res: ServerResponse, scope: AuditScope): void => {
    const raw = rawRequest(request)!;
    const state: RequestState = {
      request,
      adapter: adapterFor(request),
      scope,
      reached: false,
      denialRecorded: false,
    };
    states.set(raw, state);
    if (recordDenials) res.once("close", () => recordDenial(state, res, withEngine.engine));
  };
  if (type === "express") {
    const auditor = createHttpAuditor<ExpressLikeRequest>("AuditModule (http)", withEngine, expressAdapter);
    (instance as ExpressApp).use(function vigilAudit(req, res, next) {
      const audit = auditor.begin(req, res);
      if (audit === undefined) return next();
      track(req, res, audit.scope);
      withAuditScope(audit.scope, next);
    });
  } else if (type === "fastify") {
    const auditor = createHttpAuditor<FastifyLikeRequest>("AuditModule (http)", withEngine, fastifyAdapter);
    (instance as FastifyApp).addHook("onRequest", function vigilAuditOnRequest(request, reply, done) {
      const audit = auditor.begin(request, reply.raw, (name, value) => reply.header(name, value));
      if (audit === undefined) return done();
      track(request, reply.raw, audit.scope);
      withAuditScope(audit.scope, done);
    });
  } else return;
  installed.add(instance);
}

/** A 401/403 answer nothing else recorded: one `PERMISSION_DENIED` security event. */
function recordDenial(state: RequestState, res: ServerResponse, engine: AuditEngine | undefined): void {
  const status = res.statusCode;
  if ((status !== 401 && status !== 403) || state.denialRecorded || engine === undefined || !engine.enabled)
    return;
  try {
    const scope = state.scope;
    const where = pathAndRoute(state);
    const handler = state.handler;
    const resource = handler?.resource ?? where;
    const input: LogInput = {
      action: "PERMISSION_DENIED",
      category: status === 401 ? "AUTHENTICATION" : "AUTHORIZATION",
      method: (state.request as { method?: string }).method ?? rawRequest(state.request)?.method ?? "GET",
      resource,
      securityEvent: true,
      status: "FAILURE",
      severity: "WARNING",
      ...(scope?.actor !== undefined ? { actor: scope.actor } : {}),
      ...(scope?.correlation !== undefined ? { correlation: scope.correlation } : {}),
      result: {
        http_status: status,
        error: {
          type: status === 401 ? "UNAUTHENTICATED" : "PERMISSION_DENIED",
          message: state.reached
            ? `the handler answered ${status}`
            : `refused with ${status} before the handler ran (a guard or middleware)`,
        },
      },
      ...(handler !== undefined
        ? { metadata: { controller: handler.controller, handler: handler.method, path: where.path } }
        : {}),
    };
    engine.log(input);
  } catch {
    // recording never changes the application's behaviour
  }
}
