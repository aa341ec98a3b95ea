/**
 * `vigil-audit/koa` (SPEC §1): Koa middleware recording one audit event per request and
 * running the rest of the middleware chain in an ambient audit scope — the same options
 * and event as `expressAuditMiddleware`. Works with Koa 2 and 3; Koa itself is never
 * imported.
 *
 * @example
 * import Koa from "koa";
 * import { bodyParser } from "@koa/bodyparser";
 * import { koaAuditMiddleware } from "vigil-audit/koa";
 *
 * const app = new Koa();
 * app.use(bodyParser());
 * app.use(koaAuditMiddleware({ exclude: ["/health"], captureBody: true }));
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { withAuditScope } from "../../capture/scope.js";
import { createHttpAuditor, type HttpAuditOptions } from "../http-common.js";

export { defaultActor, type HttpAuditOptions, parseTraceparent } from "../http-common.js";

/** The slice of a Koa context the middleware reads (Koa's `Context` has it). */
export interface KoaLikeContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The URL before mounted apps and routers rewrote `url`. */
  readonly originalUrl?: string;
  /** The client address (honours `app.proxy`). */
  readonly ip?: string;
  /** Where authentication middleware (koa-passport, koa-jwt) puts the user: `state.user`. */
  readonly state?: { readonly user?: unknown } | undefined;
  /** `request.body`, set by a body parser (`@koa/bodyparser`, `koa-body`). */
  readonly request?: { readonly body?: unknown } | undefined;
  /** The route pattern `@koa/router` matched, prefix included, e.g. `/api/users/:id`. */
  readonly _matchedRoute?: unknown;
  /** Koa's error handler; wrapped per request so error replies keep the request id. */
  onerror(err: unknown): void;
}

/** The middleware's options: the shared HTTP audit options, `getActor` receiving the context. */
export type KoaAuditOptions<Ctx extends KoaLikeContext = KoaLikeContext> = HttpAuditOptions<Ctx>;

/** What `koaAuditMiddleware` returns: ordinary Koa middleware. */
export type KoaAuditMiddleware<Ctx extends KoaLikeContext = KoaLikeContext> = (
  ctx: Ctx,
  next: () => Promise<unknown>,
) => Promise<unknown>;

/**
 * Koa middleware recording one `API` / `HTTP_REQUEST` event per request when the response
 * finishes (or FAILURE with `result.error.type: "ABORTED"` when the client goes away
 * first): method, path without the query string, the `@koa/router` route pattern
 * (`ctx._matchedRoute`) as `action.resource.name`, HTTP status (FAILURE for 4xx and 5xx),
 * duration, actor and correlation. Everything downstream records with the request's
 * actor and request id. The default actor reads `ctx.state.user` (koa-passport,
 * koa-jwt), `ctx.ip` and the user agent; `getActor(ctx)` receives the context. With
 * `captureBody`, `ctx.request.body` is used when a body parser ran.
 *
 * Koa clears every header when it replies to a thrown error; the request id header is
 * kept on those replies. Mount it first (after the body parser when `captureBody` is on).
 * A bad option throws `VIGIL_ERR_INVALID_ARGUMENT`.
 *
 * @example app.use(koaAuditMiddleware());
 * @example app.use(koaAuditMiddleware({ getActor: (ctx) => ({ id: ctx.state.user?.sub, ip: ctx.ip }) }));
 */
export function koaAuditMiddleware<Ctx extends KoaLikeContext = KoaLikeContext>(
  options?: KoaAuditOptions<Ctx>,
): KoaAuditMiddleware<Ctx> {
  const auditor = createHttpAuditor<Ctx>("koaAuditMiddleware", options, {
    raw: (ctx) => ctx.req,
    url: (ctx) => ctx.originalUrl ?? ctx.req.url,
    route: (ctx) => (typeof ctx._matchedRoute === "string" ? ctx._matchedRoute : undefined),
    body: (ctx) => ctx.request?.body,
    actorSource: (ctx) => ({
      headers: ctx.req.headers,
      user: ctx.state?.user,
      ip: ctx.ip,
      socket: ctx.req.socket,
    }),
  });
  return function vigilAudit(ctx, next) {
    const audit = auditor.begin(ctx, ctx.res);
    if (audit === undefined) return next();
    if (audit.header !== undefined) keepHeaderOnError(ctx, audit.header);
    return withAuditScope(audit.scope, next);
  };
}

/** Koa's `ctx.onerror` removes every header before replying: let it spare `header`. */
function keepHeaderOnError(ctx: KoaLikeContext, header: string): void {
  const onerror = ctx.onerror;
  if (typeof onerror !== "function") return;
  ctx.onerror = function vigilOnerror(this: KoaLikeContext, err: unknown): void {
    const res = ctx.res;
    const own = Object.hasOwn(res, "removeHeader");
    const removeHeader = res.removeHeader;
    res.removeHeader = function spareRequestId(this: ServerResponse, name: string): void {
      if (name.toLowerCase() !== header) removeHeader.call(this, name);
    };
    try {
      onerror.call(this, err);
    } finally {
      if (own) res.removeHeader = removeHeader;
      else delete (res as { removeHeader?: unknown }).removeHeader;
    }
  };
}
