/**
 * `vigil-audit/fastify` (SPEC §1): a Fastify 5 plugin recording one audit event per
 * request and running each request's hooks and handler in an ambient audit scope.
 * It is registered like `fastify-plugin` plugins (skip-override), so its hooks apply
 * to every route of the instance, including routes of plugins registered after it.
 * Fastify itself is never imported.
 *
 * @example
 * import Fastify from "fastify";
 * import { fastifyAuditPlugin } from "vigil-audit/fastify";
 *
 * const app = Fastify();
 * await app.register(fastifyAuditPlugin, { exclude: ["/health"] });
 * app.get("/users/:id", async (req) => ({ id: (req.params as { id: string }).id }));
 *
 * @module
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { withAuditScope } from "../../capture/scope.js";
import { createHttpAuditor, type HttpAdapter, type HttpAuditOptions } from "../http-common.js";

export { defaultActor, type HttpAuditOptions, parseTraceparent } from "../http-common.js";

/** The slice of a Fastify request the plugin reads (`FastifyRequest` has it). */
export interface FastifyLikeRequest {
  readonly raw: IncomingMessage;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly ip?: string | undefined;
  /** Set by authentication plugins such as `@fastify/jwt`. */
  readonly user?: unknown;
  readonly body?: unknown;
  /** `url` is the route pattern, e.g. `/users/:id`; absent for a 404. */
  readonly routeOptions?: { readonly url?: string | undefined } | undefined;
}

/** The slice of a Fastify reply the plugin uses. */
export interface FastifyLikeReply {
  readonly raw: ServerResponse;
  header(name: string, value: string): unknown;
}

type HookDone = (err?: Error) => void;
type Hook = (request: FastifyLikeRequest, reply: FastifyLikeReply, done: HookDone) => void;

/** The slice of a Fastify instance the plugin uses. */
export interface FastifyLikeInstance {
  addHook(name: "onRequest", hook: Hook): unknown;
}

/** The plugin's options: the shared HTTP audit options. */
export type FastifyAuditOptions = HttpAuditOptions<FastifyLikeRequest>;

/** The type of {@link fastifyAuditPlugin}: a Fastify callback plugin. */
export type FastifyAuditPlugin = ((
  instance: FastifyLikeInstance,
  options: FastifyAuditOptions,
  done: (err?: Error) => void,
) => void) & {
  readonly [key: symbol]: unknown;
};

/** Where a Fastify request keeps what the event needs (also used by the NestJS integration). */
export const fastifyAdapter: HttpAdapter<FastifyLikeRequest> = {
  raw: (req) => req.raw,
  url: (req) => req.url,
  route: (req) => req.routeOptions?.url,
  body: (req) => req.body,
};

/**
 * The Fastify plugin. Each request records one `API` / `HTTP_REQUEST` event when the
 * response finishes (or FAILURE with `result.error.type: "ABORTED"` when the client goes
 * away first), with `request.routeOptions.url` as `action.resource.name`; its hooks and
 * handler run in the request's audit scope. Options as for `expressAuditMiddleware`; a
 * bad option fails the registration (`app.register` rejects with
 * `VIGIL_ERR_INVALID_ARGUMENT`).
 *
 * Fastify's own `request.id` is left alone; the audit request id follows
 * `requestIdHeader` (default `x-request-id`) and is echoed on the reply.
 *
 * @example await app.register(fastifyAuditPlugin, { captureBody: true, getActor: (req) => ({ username: req.headers["x-user"] as string }) });
 */
export const fastifyAuditPlugin: FastifyAuditPlugin = Object.assign(
  function vigilAuditPlugin(
    instance: FastifyLikeInstance,
    options: FastifyAuditOptions,
    done: (err?: Error) => void,
  ): void {
    let auditor: ReturnType<typeof createHttpAuditor<FastifyLikeRequest>>;
    try {
      // Fastify passes `{}` when no options were given; strip what it adds for every plugin.
      const {
        prefix: _prefix,
        logLevel: _logLevel,
        ...rest
      } = (options ?? {}) as FastifyAuditOptions & {
        prefix?: unknown;
        logLevel?: unknown;
      };
      auditor = createHttpAuditor<FastifyLikeRequest>("fastifyAuditPlugin", rest, fastifyAdapter);
    } catch (err) {
      done(err as Error);
      return;
    }
    instance.addHook("onRequest", function vigilAuditOnRequest(request, reply, next) {
      const audit = auditor.begin(request, reply.raw, (name, value) => reply.header(name, value));
      if (audit === undefined) {
        next();
        return;
      }
      // Fastify 5 carries the async context across body parsing (its content-type parser
      // runs in an AsyncResource of the request), so hooks and handler stay in the scope.
      withAuditScope(audit.scope, next);
    });
    done();
  },
  {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "vigil-audit",
    [Symbol.for("plugin-meta")]: { name: "vigil-audit", fastify: "5.x" },
  },
);
