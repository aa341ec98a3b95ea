/**
 * What the Express, Fastify and `node:http` integrations share (SPEC §1): their options,
 * the default actor, request ids, W3C `traceparent`, exclusions, query and body capture,
 * and the one event per request recorded when the response finishes or the client aborts.
 *
 * Each framework supplies a small {@link HttpAdapter} (where the URL, route pattern and
 * parsed body live); everything else happens here, compiled once when the middleware is
 * created.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import type { AuditScope } from "../capture/scope.js";
import { getDefaultEngine } from "../default-engine.js";
import type { AuditEngine } from "../engine.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { Actor, Correlation, LogInput, Mutable, Result, Severity } from "../event/types.js";

/** The part of a request the default actor reads; every framework's request has it. */
export interface ActorSource {
  readonly headers: IncomingHttpHeaders;
  /** Set by authentication middleware (passport, `@fastify/jwt`, ...). */
  readonly user?: unknown;
  /** The client address as the framework resolved it (Express and Fastify honour `trust proxy`). */
  readonly ip?: string | undefined;
  readonly socket?: { readonly remoteAddress?: string | undefined } | null;
}

/** Options shared by `expressAuditMiddleware`, `fastifyAuditPlugin` and `httpAuditHandler`. */
export interface HttpAuditOptions<Req = IncomingMessage> {
  /** The engine; default the default engine, looked up on each request. */
  readonly engine?: AuditEngine;
  /**
   * Who made the request; called when the request starts, for each event recorded inside
   * it, and when it ends, so a user set by later authentication middleware is seen.
   * Default {@link defaultActor}: `req.user`'s id / username / name / email and roles, the
   * client ip and the user agent. Returning `undefined` records no actor.
   *
   * @example getActor: (req) => ({ ...defaultActor(req), session_id: req.session?.id })
   */
  readonly getActor?: (req: Req) => Actor | undefined;
  /**
   * The tenant (customer, organization) the request acts for (SPEC §9): set on the request's
   * event and on every event recorded inside it, like the actor read again for each event
   * so a tenant set by later middleware is seen. A value that is not a valid tenant id
   * (1–128 characters, no control characters) is reported and the event recorded without
   * one; returning `undefined` or throwing records no tenant. Default: none.
   *
   * @example getTenant: (req) => req.user?.orgId
   */
  readonly getTenant?: (req: Req) => string | undefined;
  /**
   * Requests not to audit (no event, no scope). A string matches the path exactly or as a
   * prefix ending at a `/` (`"/health"` excludes `/health` and `/health/live`, not
   * `/healthz`); a RegExp is tested against the path (without the query string).
   * Default: none.
   */
  readonly exclude?: readonly (string | RegExp)[];
  /** Record the query string's parameters as `params.query` (sanitized). Default false. */
  readonly captureQuery?: boolean;
  /**
   * Record the request body as `params.body` (sanitized by the pipeline). Default false.
   * The framework's parsed body is used when there is one; otherwise the bytes the
   * application read are parsed as JSON, a URL-encoded form or text. Bodies larger than
   * {@link HttpAuditOptions.maxBodyBytes} are not stored, only their size.
   */
  readonly captureBody?: boolean;
  /** The largest body stored by `captureBody`, in bytes of JSON. Default 16384 (16 KiB). */
  readonly maxBodyBytes?: number;
  /**
   * The request id header: reused when the client sent a sane value (1–128 characters of
   * letters, digits and `._~:@+=/-`), a UUID otherwise, and echoed on the response.
   * `false` neither reads nor echoes a header (the id is still generated).
   * Default `"x-request-id"`.
   */
  readonly requestIdHeader?: string | false;
  /** Default `API`. */
  readonly category?: string;
  /** Default `HTTP_REQUEST`. */
  readonly actionType?: string;
}

/** Where a framework keeps what the audit event needs. */
export interface HttpAdapter<Req> {
  /** The `node:http` request underneath. */
  readonly raw: (req: Req) => IncomingMessage;
  /** The URL as received: path and query string. */
  readonly url: (req: Req) => string | undefined;
  /** The route pattern, e.g. `/users/:id`; read when the response ends. */
  readonly route: (req: Req) => string | undefined;
  /** The body the framework parsed, if any; read when the response ends. */
  readonly body: (req: Req) => unknown;
  /**
   * Where the default actor finds the headers, the user and the client ip, for frameworks
   * that keep them elsewhere than on the request (Koa's `ctx.state.user`, Hono's
   * `c.get("user")`). Default: the request itself.
   */
  readonly actorSource?: (req: Req) => ActorSource;
  /**
   * The client address for the default actor, where the framework can tell it more
   * cheaply than its `req.ip` (Express with `trust proxy` off: the socket's address).
   * Default: `req.ip`, else the socket's address.
   */
  readonly clientIp?: (req: Req) => string | undefined;
}

/** One request being audited. */
export interface RequestAudit {
  /** The scope to run the rest of the request in. */
  readonly scope: AuditScope;
  readonly requestId: string;
  /** The response header the request id is echoed on (lower case), if any. */
  readonly header?: string;
}

const MAX_USER_AGENT = 512;
/** What the actor cache holds before the first read (no `req.user` is ever this). */
const NOT_READ: unique symbol = Symbol("not read");
const DEFAULT_MAX_BODY_BYTES = 16 * 1024;
const SANE_REQUEST_ID = /^[A-Za-z0-9._~:@+=/-]{1,128}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

function invalid(owner: string, option: string, expected: string, found: unknown): VigilError {
  const shown =
    typeof found === "string"
      ? JSON.stringify(found)
      : found === null
        ? "null"
        : Array.isArray(found)
          ? "an array"
          : typeof found;
  return new VigilError(
    ErrorCodes.INVALID_ARGUMENT,
    `${owner}: options.${option} must be ${expected}, found ${shown}`,
  );
}

/**
 * The trace and parent span of a W3C `traceparent` header, or undefined when it is
 * missing or malformed (wrong lengths, upper-case hex, version `ff`, all-zero ids, extra
 * fields on version `00`).
 *
 * @example parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
 * // { trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", span_id: "00f067aa0ba902b7" }
 */
export function parseTraceparent(value: unknown): { trace_id: string; span_id: string } | undefined {
  if (typeof value !== "string" || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, , rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined;
  return { trace_id: traceId, span_id: spanId };
}

function idString(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "bigint") return value.toString();
  return undefined;
}

/** `::ffff:10.0.0.7` → `10.0.0.7`; anything else unchanged. */
function normalizeIp(ip: string | undefined): string | undefined {
  if (ip === undefined || ip === "") return undefined;
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/**
 * The actor the HTTP integrations record by default: from `req.user` (an object or a
 * string) its `id` (or `_id`, `sub`), the first of `username`, `name`, `email` that is a
 * string, and `roles` (or a single `role`); the client ip (`req.ip` where the framework
 * sets it, else the socket's address); the user agent. Headers are never copied
 * otherwise. Returns undefined when none of these is known.
 *
 * @example defaultActor(req) // { id: "42", username: "alice", ip: "10.0.0.7", user_agent: "curl/8.5.0" }
 */
export function defaultActor(req: ActorSource): Actor | undefined {
  return actorWithIp(req, typeof req.ip === "string" ? req.ip : req.socket?.remoteAddress);
}

/** {@link defaultActor} with the client address given. */
function actorWithIp(req: ActorSource, clientIp: string | undefined): Actor | undefined {
  const actor: { -readonly [K in keyof Actor]: Actor[K] } = {};
  const user = req.user;
  if (typeof user === "string" && user !== "") actor.username = user;
  else if (user !== null && typeof user === "object") {
    const u = user as Record<string, unknown>;
    const id = idString(u.id) ?? idString(u._id) ?? idString(u.sub);
    if (id !== undefined) actor.id = id;
    for (const key of ["username", "name", "email"]) {
      if (typeof u[key] === "string" && u[key] !== "") {
        actor.username = u[key] as string;
        break;
      }
    }
    if (Array.isArray(u.roles)) {
      const roles = u.roles.filter((r): r is string => typeof r === "string");
      if (roles.length > 0) actor.roles = roles;
    } else if (typeof u.role === "string" && u.role !== "") actor.roles = [u.role];
  }
  const ip = normalizeIp(clientIp);
  if (ip !== undefined) actor.ip = ip;
  const ua = req.headers["user-agent"];
  if (typeof ua === "string" && ua !== "")
    actor.user_agent = ua.length > MAX_USER_AGENT ? ua.slice(0, MAX_USER_AGENT) : ua;
  return Object.keys(actor).length > 0 ? actor : undefined;
}

/** `exclude` compiled into one predicate over the path. */
function compileExclude(owner: string, exclude: unknown): ((path: string) => boolean) | undefined {
  if (exclude === undefined) return undefined;
  if (!Array.isArray(exclude)) throw invalid(owner, "exclude", "an array of paths and RegExps", exclude);
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const patterns: RegExp[] = [];
  exclude.forEach((entry: unknown, i) => {
    if (typeof entry === "string" && entry.startsWith("/")) {
      const path = entry.length > 1 && entry.endsWith("/") ? entry.slice(0, -1) : entry;
      exact.add(path);
      prefixes.push(path === "/" ? "/" : `${path}/`);
    } else if (entry instanceof RegExp) {
      // a global or sticky RegExp keeps state between tests: use a stateless copy
      patterns.push(new RegExp(entry.source, entry.flags.replace(/[gy]/g, "")));
    } else throw invalid(owner, `exclude[${i}]`, 'a path starting with "/" or a RegExp', entry);
  });
  if (exclude.length === 0) return undefined;
  return (path) => {
    if (exact.has(path)) return true;
    for (const p of prefixes) if (path.startsWith(p)) return true;
    for (const re of patterns) if (re.test(path)) return true;
    return false;
  };
}

/** The query string's parameters; a repeated name gives an array. */
function parseQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return { ...out };
}

/** Collects, up to `limit + 1` bytes, what the application reads from the request. */
class BodyTap {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  #seen = 0;
  readonly #limit: number;

  constructor(raw: IncomingMessage, limit: number) {
    this.#limit = limit;
    const emit = raw.emit;
    const tap = this;
    // Observe 'data' as the application consumes it, without changing how it flows.
    raw.emit = function observed(this: IncomingMessage, event: string | symbol, ...args: unknown[]): boolean {
      if (event === "data") tap.#add(args[0]);
      return emit.call(this, event, ...args);
    } as typeof raw.emit;
  }

  #add(chunk: unknown): void {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : undefined;
    if (!buf) return;
    this.#seen += buf.length;
    if (this.#bytes > this.#limit) return;
    this.#chunks.push(buf);
    this.#bytes += buf.length;
  }

  /** Bytes seen in all (also past the limit). */
  get size(): number {
    return this.#seen;
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString("utf8");
  }
}

function omitted(bytes: number, limit: number): string {
  return `[omitted: ${bytes} bytes > ${limit}]`;
}

/** The parsed body, capped: the value itself when its JSON fits, else a note of its size. */
function cappedParsedBody(body: unknown, limit: number): unknown {
  let json: string | undefined;
  try {
    json = typeof body === "string" ? body : JSON.stringify(body);
  } catch {
    return "[omitted: not serializable]";
  }
  if (json === undefined) return undefined;
  const bytes = Buffer.byteLength(json);
  return bytes > limit ? omitted(bytes, limit) : body;
}

/** The bytes read from the request, interpreted by content type. */
function rawBody(tap: BodyTap, contentType: string | undefined, limit: number): unknown {
  if (tap.size === 0) return undefined;
  if (tap.size > limit) return omitted(tap.size, limit);
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const text = tap.text();
  if (type === "application/json" || type.endsWith("+json")) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  if (type === "application/x-www-form-urlencoded") return parseQuery(text);
  if (type.startsWith("text/") || type === "") return text;
  return `[${tap.size} bytes of ${type}]`;
}

function severityFor(httpStatus: number, aborted: boolean): Severity {
  if (aborted) return "WARNING";
  if (httpStatus >= 500) return "ERROR";
  if (httpStatus >= 400) return "WARNING";
  return "INFO";
}

/**
 * The scope of one request: its actor (and tenant) read again for each event recorded
 * inside it. Classes, not object literals with getters: on Node 20 such a literal took
 * microseconds to create, every request.
 */
class RequestScope implements AuditScope {
  readonly correlation: Correlation;
  readonly #actor: () => Actor | undefined;

  constructor(actor: () => Actor | undefined, correlation: Correlation) {
    this.#actor = actor;
    this.correlation = correlation;
  }

  get actor(): Actor | undefined {
    return this.#actor();
  }
}

class TenantRequestScope extends RequestScope {
  readonly #tenant: () => string | undefined;

  constructor(actor: () => Actor | undefined, correlation: Correlation, tenant: () => string | undefined) {
    super(actor, correlation);
    this.#tenant = tenant;
  }

  get tenant(): string | undefined {
    return this.#tenant();
  }
}

/** A compiled HTTP auditor: `begin` opens the audit of one request. */
export interface HttpAuditor<Req> {
  /**
   * Start auditing `req`: sets the request id header on `res` (through `setHeader` when
   * given), arranges the event for when the response ends, and returns the scope to run
   * the rest of the request in — or undefined when the engine is disabled or the path
   * is excluded.
   */
  begin(
    req: Req,
    res: ServerResponse,
    setHeader?: (name: string, value: string) => void,
  ): RequestAudit | undefined;
}

/**
 * Validate `options` (throws `VIGIL_ERR_INVALID_ARGUMENT` naming the option) and compile
 * them for one framework. `owner` names the public function in error messages.
 */
export function createHttpAuditor<Req>(
  owner: string,
  options: HttpAuditOptions<Req> | undefined,
  adapter: HttpAdapter<Req>,
): HttpAuditor<Req> {
  const o: HttpAuditOptions<Req> = options ?? {};
  if (typeof o !== "object" || o === null) throw invalid(owner, "", "an object", o);
  const fixedEngine = o.engine;
  if (fixedEngine !== undefined && typeof (fixedEngine as { log?: unknown }).log !== "function")
    throw invalid(owner, "engine", "an AuditEngine", fixedEngine);
  const sourceOf = adapter.actorSource ?? ((req: Req) => req as unknown as ActorSource);
  const clientIp = adapter.clientIp;
  const getActor =
    o.getActor ??
    (adapter.actorSource
      ? (req: Req) => defaultActor(sourceOf(req))
      : clientIp !== undefined
        ? (req: Req) => actorWithIp(req as unknown as ActorSource, clientIp(req))
        : (defaultActor as unknown as (req: Req) => Actor | undefined));
  if (typeof getActor !== "function") throw invalid(owner, "getActor", "a function (req) => Actor", getActor);
  const usesDefaultActor = o.getActor === undefined;
  const getTenant = o.getTenant;
  if (getTenant !== undefined && typeof getTenant !== "function")
    throw invalid(owner, "getTenant", "a function (req) => string | undefined", getTenant);
  const isExcluded = compileExclude(owner, o.exclude);
  const headerOption = o.requestIdHeader ?? "x-request-id";
  if (headerOption !== false && (typeof headerOption !== "string" || !HEADER_NAME.test(headerOption)))
    throw invalid(owner, "requestIdHeader", "a header name or false", headerOption);
  const header = headerOption === false ? undefined : headerOption.toLowerCase();
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBody) || maxBody < 0)
    throw invalid(owner, "maxBodyBytes", "a non-negative integer", maxBody);
  for (const key of ["category", "actionType"] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== "string" || v.trim() === ""))
      throw invalid(owner, key, "a non-empty string", v);
  }
  const category = o.category ?? "API";
  const actionType = o.actionType ?? "HTTP_REQUEST";
  const captureQuery = o.captureQuery === true;
  const captureBody = o.captureBody === true;

  /** getActor never throws into the request: a throwing getActor records no actor. */
  const actorOf = (req: Req): Actor | undefined => {
    try {
      return getActor(req) ?? undefined;
    } catch {
      return undefined;
    }
  };

  /** getTenant never throws into the request either. */
  const tenantOf = (req: Req): string | undefined => {
    if (getTenant === undefined) return undefined;
    try {
      return getTenant(req) ?? undefined;
    } catch {
      return undefined;
    }
  };

  return {
    begin(req, res, setHeader) {
      let engine: AuditEngine;
      try {
        engine = fixedEngine ?? getDefaultEngine();
      } catch {
        return undefined;
      }
      if (!engine.enabled) return undefined;
      const raw = adapter.raw(req);
      const url = adapter.url(req) ?? raw.url ?? "/";
      const q = url.indexOf("?");
      const path = q === -1 ? url : url.slice(0, q);
      if (isExcluded?.(path)) return undefined;
      const started = performance.now();

      let requestId: string | undefined;
      if (header !== undefined) {
        const sent = raw.headers[header];
        if (typeof sent === "string" && SANE_REQUEST_ID.test(sent)) requestId = sent;
      }
      requestId ??= randomUUID();
      if (header !== undefined && !res.headersSent) {
        try {
          if (setHeader) setHeader(header, requestId);
          else res.setHeader(header, requestId);
        } catch {
          // a response that refuses headers still gets audited
        }
      }
      const trace = parseTraceparent(raw.headers.traceparent);
      const correlation: Correlation = trace
        ? { request_id: requestId, ...trace }
        : { request_id: requestId };

      // The scope's actor is read when each inner event is recorded, so a user set by
      // authentication middleware after this one is seen. With the default actor it is
      // computed again only when `req.user` changes.
      let cachedFor: unknown = NOT_READ;
      let cached: Actor | undefined;
      const currentActor = (): Actor | undefined => {
        if (!usesDefaultActor) return actorOf(req);
        const user = sourceOf(req).user;
        if (user !== cachedFor) {
          cachedFor = user;
          cached = actorOf(req);
        }
        return cached;
      };
      const scope: AuditScope =
        getTenant === undefined
          ? new RequestScope(currentActor, correlation)
          : new TenantRequestScope(currentActor, correlation, () => tenantOf(req));

      const tap = captureBody ? new BodyTap(raw, maxBody) : undefined;
      let done = false;
      // One listener, attached with `on` (no `once` wrapper): a response emits 'close' once
      // it is done, after 'finish' when it was completed and alone when the connection went
      // away first, so `writableFinished` tells both apart. The event is built field by
      // field: no temporary objects on the response's path.
      const onClose = (): void => {
        if (done) return;
        done = true;
        try {
          const aborted = !res.writableFinished;
          const status = res.statusCode;
          const route = adapter.route(req);
          let params: Record<string, unknown> | undefined;
          if (captureQuery && q !== -1) params = { query: parseQuery(url.slice(q + 1)) };
          if (tap) {
            const parsed = adapter.body(req);
            const body =
              parsed !== undefined && parsed !== null
                ? cappedParsedBody(parsed, maxBody)
                : rawBody(tap, raw.headers["content-type"], maxBody);
            if (body !== undefined) params = params === undefined ? { body } : { ...params, body };
          }
          const result: { -readonly [K in keyof Result]?: Result[K] } = {
            duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          };
          if (!aborted || res.headersSent) result.http_status = status;
          if (aborted)
            result.error = {
              type: "ABORTED",
              message: "the client closed the connection before the response was complete",
            };
          const input: Mutable<LogInput> = {
            action: actionType,
            category,
            method: raw.method ?? "GET",
            resource: route !== undefined ? { path, name: route } : { path },
          };
          const actor = currentActor();
          if (actor !== undefined) input.actor = actor;
          input.correlation = correlation;
          input.status = aborted || status >= 400 ? "FAILURE" : "SUCCESS";
          input.severity = severityFor(status, aborted);
          input.result = result;
          if (params !== undefined) input.params = params;
          const tenant = tenantOf(req);
          if (tenant !== undefined) input.tenant = tenant;
          engine.log(input);
        } catch {
          // recording never changes the application's behaviour
        }
      };
      res.on("close", onClose);
      return header !== undefined ? { scope, requestId, header } : { scope, requestId };
    },
  };
}
