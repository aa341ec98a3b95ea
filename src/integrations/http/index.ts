/**
 * `vigil-audit/http` (SPEC §1): audit a plain `node:http` (or `node:https`) request
 * listener — one event per request and an ambient audit scope around the handler —
 * with the same options and event as the Express and Fastify integrations.
 *
 * @example
 * import { createServer } from "node:http";
 * import { httpAuditHandler } from "vigil-audit/http";
 *
 * createServer(httpAuditHandler((req, res) => {
 *   res.setHeader("content-type", "application/json");
 *   res.end(JSON.stringify({ status: "ok" }));
 * })).listen(8080, "127.0.0.1");
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { withAuditScope } from "../../capture/scope.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { createHttpAuditor, type HttpAuditOptions } from "../http-common.js";

export { defaultActor, type HttpAuditOptions, parseTraceparent } from "../http-common.js";

/** Options of {@link httpAuditHandler}: the shared HTTP options plus a route namer. */
export interface HttpHandlerAuditOptions<Req extends IncomingMessage = IncomingMessage>
  extends HttpAuditOptions<Req> {
  /**
   * The route pattern of a request, recorded as `action.resource.name` (plain `node:http`
   * has no router, so there is none by default). Called when the response ends.
   *
   * @example getRoute: (req) => (req.url?.startsWith("/users/") ? "/users/:id" : undefined)
   */
  readonly getRoute?: (req: Req) => string | undefined;
}

/**
 * Wrap a request listener: the returned listener records one `API` / `HTTP_REQUEST`
 * event per request when the response finishes or the client aborts, and runs
 * `handler` inside the request's audit scope. It returns what `handler` returns and
 * lets its errors through unchanged.
 *
 * Without a framework there is no parsed body: with `captureBody` the bytes the handler
 * reads are observed (without changing how they flow) and parsed by content type.
 *
 * @example createServer(httpAuditHandler(app, { exclude: ["/health"] }))
 */
export function httpAuditHandler<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
  R = void,
>(handler: (req: Req, res: Res) => R, options?: HttpHandlerAuditOptions<Req>): (req: Req, res: Res) => R {
  if (typeof handler !== "function") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `httpAuditHandler: handler must be a function (req, res) => void, found ${handler === null ? "null" : typeof handler}`,
    );
  }
  const getRoute = options?.getRoute;
  if (getRoute !== undefined && typeof getRoute !== "function") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `httpAuditHandler: options.getRoute must be a function (req) => string, found ${typeof getRoute}`,
    );
  }
  const auditor = createHttpAuditor<Req>("httpAuditHandler", options, {
    raw: (req) => req,
    url: (req) => req.url,
    route: (req) => {
      if (!getRoute) return undefined;
      try {
        return getRoute(req) ?? undefined;
      } catch {
        return undefined;
      }
    },
    body: (req) => (req as { body?: unknown }).body,
  });
  return function vigilAuditHandler(this: unknown, req: Req, res: Res): R {
    const audit = auditor.begin(req, res);
    if (audit === undefined) return handler.call(this, req, res);
    return withAuditScope(audit.scope, () => handler.call(this, req, res));
  };
}
