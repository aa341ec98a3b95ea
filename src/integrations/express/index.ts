/**
 * `vigil-audit/express` (SPEC §1): one audit event per request and an ambient audit
 * scope for everything the request does. Works with Express 4 and 5; Express itself is
 * never imported.
 *
 * @example
 * import express from "express";
 * import { expressAuditMiddleware } from "vigil-audit/express";
 *
 * const app = express();
 * app.use(express.json());
 * app.use(expressAuditMiddleware({ exclude: ["/api/v1/health"], captureBody: true }));
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { withAuditScope } from "../../capture/scope.js";
import { createHttpAuditor, type HttpAdapter, type HttpAuditOptions } from "../http-common.js";

export { defaultActor, type HttpAuditOptions, parseTraceparent } from "../http-common.js";

/** The slice of an Express request the middleware reads (Express's `Request` has it). */
export interface ExpressLikeRequest extends IncomingMessage {
  /** The URL before routers rewrote `url`. */
  readonly originalUrl?: string;
  /** The mount path of the router that matched, e.g. `/api/v1`. */
  readonly baseUrl?: string;
  /** The matched route; its `path` is the pattern, e.g. `/users/:id`. */
  readonly route?: { readonly path?: unknown } | undefined;
  /** The client address (honours `trust proxy`). */
  readonly ip?: string | undefined;
  /** Set by authentication middleware. */
  readonly user?: unknown;
  /** Set by body parsers. */
  readonly body?: unknown;
  /** The application handling the request (Express sets it); its `trust proxy` setting is read. */
  readonly app?: { readonly settings?: Readonly<Record<string, unknown>> } | undefined;
}

/** What `expressAuditMiddleware` returns: ordinary Express middleware. */
export type ExpressAuditMiddleware<Req extends ExpressLikeRequest = ExpressLikeRequest> = (
  req: Req,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

function routePattern(req: ExpressLikeRequest): string | undefined {
  const path = req.route?.path;
  if (path === undefined || path === null) return undefined;
  const pattern = Array.isArray(path) ? path.map(String).join("|") : String(path);
  const base = typeof req.baseUrl === "string" ? req.baseUrl : "";
  if (base === "") return pattern;
  return pattern === "/" ? base : `${base}${pattern}`;
}

/** Where an Express request keeps what the event needs (also used by the NestJS integration). */
export const expressAdapter: HttpAdapter<ExpressLikeRequest> = {
  raw: (req) => req,
  url: (req) => req.originalUrl ?? req.url,
  route: routePattern,
  body: (req) => req.body,
  clientIp,
};

/**
 * `req.ip`, without its cost in Express's default configuration: with `trust proxy` off
 * (`false`, the default) `req.ip` is the socket's address, which its getter finds only
 * after parsing `X-Forwarded-For` and checking every hop against the trust function.
 * Any other setting (inherited by a mounted app through its settings' prototype) asks `req.ip`.
 */
function clientIp(req: ExpressLikeRequest): string | undefined {
  if (req.app?.settings?.["trust proxy"] === false) return req.socket?.remoteAddress;
  return typeof req.ip === "string" ? req.ip : req.socket?.remoteAddress;
}

/**
 * Express middleware recording one `API` / `HTTP_REQUEST` event per request when the
 * response finishes (or FAILURE with `result.error.type: "ABORTED"` when the client
 * goes away first): method, path without the query string, route pattern
 * (`req.baseUrl` + `req.route.path`, e.g. `/api/v1/users/:id`) as `action.resource.name`,
 * HTTP status (FAILURE for 4xx and 5xx; severity WARNING and ERROR), duration, actor and
 * correlation. Everything the rest of the chain records carries the request's actor and
 * request id. Mount it early, after the body parser when `captureBody` is on.
 *
 * Options are validated here: a bad option throws `VIGIL_ERR_INVALID_ARGUMENT`.
 *
 * @example app.use(expressAuditMiddleware());
 * @example app.use(expressAuditMiddleware<Request>({ getActor: (req) => ({ id: req.user?.id, ip: req.ip }) }));
 */
export function expressAuditMiddleware<Req extends ExpressLikeRequest = ExpressLikeRequest>(
  options?: HttpAuditOptions<Req>,
): ExpressAuditMiddleware<Req> {
  const auditor = createHttpAuditor<Req>("expressAuditMiddleware", options, expressAdapter);
  return function vigilAudit(req, res, next) {
    const audit = auditor.begin(req, res);
    if (audit === undefined) next();
    else withAuditScope(audit.scope, next);
  };
}
