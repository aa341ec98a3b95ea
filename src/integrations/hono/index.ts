/**
 * `vigil-audit/hono` (SPEC §1): Hono middleware recording one audit event per request and
 * running the downstream middleware and handler in an ambient audit scope — the same
 * options and event as `expressAuditMiddleware`. For Hono on Node.js through
 * `@hono/node-server`, whose `c.env.incoming` / `c.env.outgoing` are the `node:http`
 * request and response the event is read from (the status is the one written to the
 * socket, the body the bytes the application read).
 *
 * @example
 * import { serve } from "@hono/node-server";
 * import { Hono } from "hono";
 * import { honoAuditMiddleware } from "vigil-audit/hono";
 *
 * const app = new Hono();
 * app.use(honoAuditMiddleware({ exclude: ["/health"] }));
 * app.get("/users/:id", (c) => c.json({ id: c.req.param("id") }));
 * serve({ fetch: app.fetch, port: 8080, hostname: "127.0.0.1" });
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { matchedRoutes } from "hono/route";
import { withAuditScope } from "../../capture/scope.js";
import { createHttpAuditor, type HttpAuditOptions } from "../http-common.js";

export { defaultActor, type HttpAuditOptions, parseTraceparent } from "../http-common.js";

/** The slice of a Hono `Context` the middleware reads. */
export interface HonoLikeContext {
  /** `@hono/node-server`'s bindings; without them the request is not audited. */
  readonly env?: unknown;
  /** Hono's context variables: the default actor reads `user`, then `jwtPayload`. */
  get(key: string): unknown;
  readonly req: { readonly routeIndex: number };
}

/** The `node:http` objects `@hono/node-server` passes as `c.env`. */
interface NodeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
}

/** The middleware's options: the shared HTTP audit options, `getActor` receiving the context. */
export type HonoAuditOptions<C extends HonoLikeContext = HonoLikeContext> = HttpAuditOptions<C>;

/** What `honoAuditMiddleware` returns: an ordinary Hono middleware handler. */
export type HonoAuditMiddleware<C extends HonoLikeContext = HonoLikeContext> = (
  c: C,
  next: () => Promise<void>,
) => Promise<void>;

function bindings(c: HonoLikeContext): NodeBindings | undefined {
  const env = c.env as Partial<NodeBindings> | undefined;
  return env && typeof env === "object" && env.incoming && env.outgoing ? (env as NodeBindings) : undefined;
}

/**
 * The pattern of the route that answered: the route at `c.req.routeIndex` when it is an
 * endpoint (a method route, or a handler that takes no `next`), not a middleware that
 * answered early or the 404 fallback.
 */
function routeOf(c: HonoLikeContext): string | undefined {
  try {
    const route = matchedRoutes(c as never)[c.req.routeIndex];
    if (route === undefined) return undefined;
    return route.method !== "ALL" || route.handler.length < 2 ? route.path : undefined;
  } catch {
    return undefined;
  }
}

function userOf(c: HonoLikeContext): unknown {
  try {
    return c.get("user") ?? c.get("jwtPayload");
  } catch {
    return undefined;
  }
}

/**
 * Hono middleware recording one `API` / `HTTP_REQUEST` event per request when the response
 * has been written (or FAILURE with `result.error.type: "ABORTED"` when the client goes
 * away first): method, path without the query string, the matched route pattern (e.g.
 * `/users/:id`) as `action.resource.name`, HTTP status (FAILURE for 4xx and 5xx, also the
 * 500 of Hono's `onError`), duration, actor and correlation. `await next()` runs inside
 * the request's scope, so everything downstream records with its actor and request id.
 *
 * The default actor reads the context variable `user` (or `jwtPayload`, set by
 * `hono/jwt`: its `sub` becomes `actor.id`), the socket's address and the user agent;
 * `getActor(c)` receives the context. With `captureBody`, the bytes the application read
 * are parsed by content type. Requests not served by `@hono/node-server` (no
 * `c.env.incoming`) pass through unaudited. A bad option throws
 * `VIGIL_ERR_INVALID_ARGUMENT`.
 *
 * @example app.use(honoAuditMiddleware());
 * @example app.use(honoAuditMiddleware({ getActor: (c) => ({ username: c.get("user")?.name }) }));
 */
export function honoAuditMiddleware<C extends HonoLikeContext = HonoLikeContext>(
  options?: HonoAuditOptions<C>,
): HonoAuditMiddleware<C> {
  const auditor = createHttpAuditor<C>("honoAuditMiddleware", options, {
    raw: (c) => bindings(c)!.incoming,
    url: (c) => bindings(c)!.incoming.url,
    route: routeOf,
    // Hono caches parsed bodies as promises; the bytes read are parsed instead.
    body: () => undefined,
    actorSource: (c) => {
      const incoming = bindings(c)!.incoming;
      return { headers: incoming.headers, user: userOf(c), socket: incoming.socket };
    },
  });
  return function vigilAudit(c, next) {
    const node = bindings(c);
    const audit = node ? auditor.begin(c, node.outgoing) : undefined;
    if (audit === undefined) return next();
    return withAuditScope(audit.scope, next);
  };
}
