/**
 * The web viewer's request handler (SPEC §1, issue 11): one function that Express,
 * Fastify and `node:http` can all call, serving the page's files and a small JSON API
 * over the engine's public API. Every `/api` request is admitted by `authorize(req)` or a
 * viewer token, and the identity's tenant is bound into every read. See docs/viewer.md.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { KeyError } from "../crypto/keyring.js";
import type { AuditEngine } from "../engine.js";
import { ErrorCodes, StorageError, VigilError } from "../errors.js";
import { tenantProblem } from "../event/tenant.js";
import type { AuditEvent, LogInput } from "../event/types.js";
import { type Asset, defaultAssetsDir, loadAssets } from "./assets.js";
import { type ExportTickets, exportRoute, exportTicketRoute } from "./export.js";
import { collectPaths, SCHEMA_FIELDS, unknownFields } from "./fields.js";
import {
  DEFAULT_LIMITS,
  DEFAULT_PAGE,
  firstLine,
  intParam,
  listParam,
  orderParam,
  parseQueryParam,
  readRequest,
  single,
  ViewerHttpError,
  type ViewerLimits,
} from "./params.js";
import { tailRoute, verifyRoute } from "./stream.js";
import { VIEWER_SCOPES, type ViewerIdentity, type ViewerScope, viewerTokenVerifier } from "./token.js";

/** Options of {@link auditViewer}. */
export interface AuditViewerOptions {
  /** The engine to read (and to record the viewer's own audit events through). */
  readonly engine: AuditEngine;
  /**
   * Admits a request: returns the identity it acts as (`{ actor, tenant?, scopes? }`), or
   * `undefined` to refuse it (401). A returned `tenant` binds every read of the request
   * to that tenant. May return a promise. Required unless `tokenSecret` is given.
   */
  readonly authorize?: (
    req: IncomingMessage,
  ) => ViewerIdentity | undefined | Promise<ViewerIdentity | undefined>;
  /**
   * The secret of `createViewerToken`: a viewer token sent as `Authorization: Bearer` is
   * then accepted too (before `authorize` is asked). At least 32 bytes.
   */
  readonly tokenSecret?: string | Uint8Array;
  /** Who may frame the page (CSP `frame-ancestors`): e.g. `["'self'"]`. Default `'none'`. */
  readonly frameAncestors?: readonly string[];
  /** Limits on page size, query length, range, live tails and time (see {@link ViewerLimits}). */
  readonly limits?: Partial<ViewerLimits>;
  /**
   * Where the viewer is mounted, for `node:http` and Fastify (e.g. `/admin/audit`). Express
   * tells the handler itself (`req.baseUrl`). Default `""` (the root).
   */
  readonly basePath?: string;
  /**
   * Accepted `Host` header names (without port): other hosts are answered 421 (protects a
   * loopback server from DNS rebinding). Default: any host. `vigil serve` sets it.
   */
  readonly allowedHosts?: readonly string[];
  /** The page's files. Default `dist/viewer-ui` of the package. */
  readonly assetsDir?: string;
}

/**
 * The viewer as a request handler: `(req, res)` for `node:http`, `(req, res, next)` as
 * Express middleware. It answers every request under its mount point itself.
 */
export type AuditViewerHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => void;

/** A request's identity, with the scopes filled in. */
interface Identity {
  readonly actor: ViewerIdentity["actor"];
  readonly tenant: string | undefined;
  readonly scopes: readonly ViewerScope[];
}

/** What each route gets. */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: URLSearchParams;
  readonly identity: Identity;
  readonly engine: AuditEngine;
  readonly limits: ViewerLimits;
  /** The mount path, without trailing slash (`""` at the root). */
  readonly base: string;
  /** Aborted when the time limit passes or the client goes away. */
  readonly signal: AbortSignal;
  /** Record one of the viewer's own audit events. */
  audit(type: string, metadata: Record<string, unknown>, failed?: boolean): void;
  readonly shared: Shared;
}

/** State shared by the requests of one handler. */
export interface Shared {
  tails: number;
  verifying: number;
  readonly tickets: ExportTickets;
  readonly seenFields: Map<string, { readonly at: number; readonly fields: Set<string> }>;
}

/** The reason given when a request's time limit passes. */
export class ViewerTimeout extends Error {
  constructor(ms: number) {
    super(
      `the request took longer than ${ms / 1000} s and was cancelled; narrow the time range or the query`,
    );
    this.name = "ViewerTimeout";
  }
}

function securityHeaders(frameAncestors: string): Record<string, string> {
  return {
    "content-security-policy": `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors ${frameAncestors}; base-uri 'none'; form-action 'self'`,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-frame-options": frameAncestors === "'none'" ? "DENY" : "SAMEORIGIN",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
  };
}

const UNSAFE_IN_JSON = /[<>&\u2028\u2029]/g;
function escapeJsonChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/** JSON text with `<`, `>`, `&`, U+2028 and U+2029 as \u escapes (the same value to any parser). */
export function safeJsonText(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, escapeJsonChar);
}

/** Send a JSON body (API responses are never cached). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  // `<`, `>` and `&` as \u escapes: the same JSON to any parser, and no markup even if a
  // client ignored the content type; U+2028/2029 escaped for old JavaScript parsers
  const text = safeJsonText(body);
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.setHeader("cache-control", "no-store");
  res.setHeader("content-length", Buffer.byteLength(text));
  res.end(text);
}

export function sendError(res: ServerResponse, err: ViewerHttpError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message, ...err.extra } });
}

function notFound(what = "not found"): ViewerHttpError {
  return new ViewerHttpError(404, ErrorCodes.VIEWER_NOT_FOUND, what);
}

/**
 * What a failure means for the client: bad input 400, the store unreachable 503 (naming
 * the backend), a key that does not open the records 500 (naming the key id), the time
 * limit 504. Anything else is 500 with its first line.
 */
export function httpErrorOf(err: unknown, signal?: AbortSignal): ViewerHttpError {
  if (err instanceof ViewerHttpError) return err;
  const reason = signal?.aborted ? signal.reason : undefined;
  if (err instanceof ViewerTimeout || reason instanceof ViewerTimeout)
    return new ViewerHttpError(504, ErrorCodes.VIEWER_TIMEOUT, (reason ?? err).message);
  if (err instanceof KeyError)
    return new ViewerHttpError(500, err.code, firstLine(err.message), { keyId: err.keyId });
  if (err instanceof StorageError)
    return new ViewerHttpError(503, err.code, `store unavailable: ${firstLine(err.message)}`, {
      backend: err.backend,
    });
  if (err instanceof VigilError) {
    if (
      err.code === ErrorCodes.QUERY_OPTIONS ||
      err.code === ErrorCodes.QUERY_SYNTAX ||
      err.code === ErrorCodes.INVALID_ARGUMENT
    )
      return new ViewerHttpError(400, err.code, firstLine(err.message));
    if (err.code === ErrorCodes.STORAGE)
      return new ViewerHttpError(503, err.code, `store unavailable: ${firstLine(err.message)}`);
    return new ViewerHttpError(500, err.code, firstLine(err.message));
  }
  return new ViewerHttpError(
    500,
    ErrorCodes.VIEWER_INTERNAL,
    `internal error: ${firstLine(String((err as Error)?.message ?? err))}`,
  );
}

function validIdentity(value: unknown, source: string): Identity {
  const fail = (m: string) => new ViewerHttpError(500, ErrorCodes.INVALID_ARGUMENT, `${source} ${m}`);
  if (value === null || typeof value !== "object") throw fail("must return { actor, tenant?, scopes? }");
  const v = value as ViewerIdentity;
  const actor = v.actor;
  if (actor === null || typeof actor !== "object") throw fail("returned no actor");
  // an identity with an invalid tenant must never fall back to seeing every tenant
  if (v.tenant !== undefined) {
    const bad = tenantProblem(v.tenant);
    if (bad !== undefined) throw fail(`returned an invalid tenant: it ${bad}`);
  }
  const scopes = v.scopes ?? VIEWER_SCOPES;
  if (!Array.isArray(scopes) || scopes.some((s) => !(VIEWER_SCOPES as readonly unknown[]).includes(s)))
    throw fail(`returned invalid scopes: expected a list of ${VIEWER_SCOPES.join(", ")}`);
  const cleanActor: { id?: string; username?: string } = {};
  if (typeof actor.id === "string" && actor.id !== "") cleanActor.id = actor.id;
  if (typeof actor.username === "string" && actor.username !== "") cleanActor.username = actor.username;
  return { actor: cleanActor, tenant: v.tenant, scopes };
}

function resolveLimits(given: Partial<ViewerLimits> | undefined): ViewerLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1)
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        `auditViewer: options.limits.${key} must be a positive integer, found ${JSON.stringify(value)}`,
      );
  }
  if (limits.tailIntervalMs > 1000)
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `auditViewer: options.limits.tailIntervalMs must be at most 1000, found ${limits.tailIntervalMs}`,
    );
  return limits;
}

function normalizeBase(path: string | undefined): string {
  if (path === undefined || path === "" || path === "/") return "";
  if (typeof path !== "string" || !path.startsWith("/") || /[?#\s]/.test(path))
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `auditViewer: options.basePath must be a path starting with "/", found ${JSON.stringify(path)}`,
    );
  return path.endsWith("/") ? path.slice(0, -1) : path;
}

/** The `Host` header's name without port (IPv6 brackets kept), lower case. */
function hostName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const h = header.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end === -1 ? undefined : h.slice(0, end + 1);
  }
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

const API_ROUTES: Readonly<
  Record<string, { readonly scope?: ViewerScope; readonly methods: readonly string[] }>
> = {
  "/api/session": { methods: ["GET"] },
  "/api/parse": { methods: ["GET"] },
  "/api/fields": { scope: "read", methods: ["GET"] },
  "/api/search": { scope: "read", methods: ["GET"] },
  "/api/count": { scope: "read", methods: ["GET"] },
  "/api/facets": { scope: "read", methods: ["GET"] },
  "/api/histogram": { scope: "read", methods: ["GET"] },
  "/api/tail": { scope: "read", methods: ["GET"] },
  "/api/export": { scope: "export", methods: ["GET"] },
  "/api/export-ticket": { scope: "export", methods: ["POST"] },
  "/api/verify": { scope: "verify", methods: ["GET"] },
};

const DEFAULT_FACETS = ["action.category", "action.type", "result.status", "severity", "actor.username"];
const INTERVALS: readonly [string, number][] = [
  ["1s", 1000],
  ["5s", 5000],
  ["15s", 15_000],
  ["30s", 30_000],
  ["1m", 60_000],
  ["5m", 300_000],
  ["15m", 900_000],
  ["30m", 1_800_000],
  ["1h", 3_600_000],
  ["3h", 10_800_000],
  ["6h", 21_600_000],
  ["12h", 43_200_000],
  ["1d", 86_400_000],
  ["1w", 604_800_000],
];
const SEEN_FIELDS_TTL_MS = 60_000;
/** Refused requests recorded per minute at most; the rest are counted (`suppressed`) into the next record. */
export const AUTH_FAILURES_PER_MINUTE = 100;

/**
 * The web viewer as a request handler (SPEC §1).
 *
 * @example
 * // Express: the mount path is found by itself
 * app.use("/admin/audit", auditViewer({ engine, authorize: (req) => req.user && { actor: { id: req.user.id }, tenant: req.user.orgId } }));
 * // node:http
 * const viewer = auditViewer({ engine, authorize, basePath: "/admin/audit" });
 * createServer((req, res) => (req.url?.startsWith("/admin/audit") ? viewer(req, res) : app(req, res)));
 * // Fastify
 * const viewer = auditViewer({ engine, authorize, basePath: "/admin/audit" });
 * fastify.all("/admin/audit", (req, reply) => { reply.hijack(); viewer(req.raw, reply.raw); });
 * fastify.all("/admin/audit/*", (req, reply) => { reply.hijack(); viewer(req.raw, reply.raw); });
 */
export function auditViewer(options: AuditViewerOptions): AuditViewerHandler {
  if (options === null || typeof options !== "object")
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, "auditViewer: options must be an object");
  const { engine, authorize } = options;
  if (
    engine === null ||
    typeof engine !== "object" ||
    typeof (engine as AuditEngine).searchPage !== "function"
  )
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, "auditViewer: options.engine must be an AuditEngine");
  if (authorize !== undefined && typeof authorize !== "function")
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      "auditViewer: options.authorize must be a function (req) => identity",
    );
  const verifyToken =
    options.tokenSecret !== undefined ? viewerTokenVerifier(options.tokenSecret) : undefined;
  if (authorize === undefined && verifyToken === undefined)
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      "auditViewer: give options.authorize (req) => identity, options.tokenSecret, or both",
    );
  const frame = options.frameAncestors ?? ["'none'"];
  if (!Array.isArray(frame) || frame.some((f) => typeof f !== "string" || /[;,\s]/.test(f) || f === ""))
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `auditViewer: options.frameAncestors must be a list of CSP sources like "'self'" or "https://app.example.com", found ${JSON.stringify(frame)}`,
    );
  const headers = securityHeaders(frame.join(" "));
  const limits = resolveLimits(options.limits);
  const basePath = normalizeBase(options.basePath);
  const allowedHosts = options.allowedHosts
    ? new Set(options.allowedHosts.map((h) => h.toLowerCase()))
    : undefined;
  const assets = loadAssets(options.assetsDir ?? defaultAssetsDir());
  const shared: Shared = { tails: 0, verifying: 0, tickets: new Map(), seenFields: new Map() };

  const audit = (
    identity: Identity | undefined,
    type: string,
    metadata: Record<string, unknown>,
    failed = false,
  ) => {
    try {
      const input: LogInput = {
        action: type,
        category: "AUDIT",
        ...(identity && Object.keys(identity.actor).length > 0 ? { actor: identity.actor } : {}),
        ...(identity?.tenant !== undefined ? { tenant: identity.tenant } : {}),
        metadata,
        ...(failed ? { status: "FAILURE" as const, securityEvent: true } : {}),
      };
      engine.log(input);
      // written now rather than at the next search, which would wait for it (a commit)
      engine.flush().catch(() => undefined);
    } catch {
      // recording never breaks the viewer
    }
  };

  // Refusals are recorded, but a flood of them must not flood the audit log: at most
  // AUTH_FAILURES_PER_MINUTE a minute, the rest counted into the next one recorded.
  let failureWindow = 0;
  let failuresInWindow = 0;
  let suppressed = 0;
  const authFailed = (metadata: Record<string, unknown>) => {
    const now = Date.now();
    if (now - failureWindow >= 60_000) {
      failureWindow = now;
      failuresInWindow = 0;
    }
    if (++failuresInWindow > AUTH_FAILURES_PER_MINUTE) {
      suppressed++;
      return;
    }
    audit(undefined, "VIEWER_AUTH_FAILED", suppressed > 0 ? { ...metadata, suppressed } : metadata, true);
    suppressed = 0;
  };

  /** The identity of an API request, or a 401 (recorded as VIEWER_AUTH_FAILED). */
  const identify = async (req: IncomingMessage, path: string): Promise<Identity> => {
    const header = req.headers.authorization;
    let refusal = "no credentials: sign in or send Authorization: Bearer <token>";
    if (verifyToken !== undefined && typeof header === "string" && /^Bearer\s+/i.test(header)) {
      try {
        return validIdentity(verifyToken(header.replace(/^Bearer\s+/i, "").trim()), "the viewer token");
      } catch (err) {
        if (!(err instanceof VigilError) || err.code !== ErrorCodes.VIEWER_AUTH) throw err;
        refusal = err.message;
      }
    }
    if (authorize !== undefined) {
      let identity: ViewerIdentity | undefined;
      try {
        identity = await authorize(req);
      } catch (err) {
        throw new ViewerHttpError(
          500,
          ErrorCodes.INVALID_ARGUMENT,
          `authorize(req) threw: ${firstLine(String((err as Error)?.message ?? err))}`,
        );
      }
      if (identity !== undefined && identity !== null) return validIdentity(identity, "authorize(req)");
      if (refusal.startsWith("no credentials")) refusal = "not authorized";
    }
    authFailed({ reason: refusal, path, ip: req.socket?.remoteAddress });
    throw new ViewerHttpError(401, ErrorCodes.VIEWER_AUTH, refusal);
  };

  const seenFields = async (ctx: RouteContext): Promise<Set<string>> => {
    const key = ctx.identity.tenant ?? "\u0000all";
    const cached = shared.seenFields.get(key);
    if (cached && Date.now() - cached.at < SEEN_FIELDS_TTL_MS) return cached.fields;
    const fields = new Set<string>(SCHEMA_FIELDS);
    const { events } = await engine.searchPage({
      timeRange: "last_7d",
      limit: 200,
      signal: ctx.signal,
      ...(ctx.identity.tenant !== undefined ? { tenant: ctx.identity.tenant } : {}),
    });
    for (const e of events) collectPaths(e, fields);
    if (shared.seenFields.size > 1000) shared.seenFields.clear();
    shared.seenFields.set(key, { at: Date.now(), fields });
    return fields;
  };

  const routes: Record<string, (ctx: RouteContext) => Promise<void>> = {
    async "/api/session"(ctx) {
      sendJson(ctx.res, 200, {
        actor: ctx.identity.actor,
        tenant: ctx.identity.tenant ?? null,
        scopes: ctx.identity.scopes,
        limits: { pageSize: limits.pageSize, queryLength: limits.queryLength, tails: limits.tails },
        backends: engine.getActiveBackends().map((b) => ({ type: b.type, name: b.name, healthy: b.healthy })),
      });
    },

    async "/api/parse"(ctx) {
      const q = single(ctx.params, "q") ?? "";
      const node = parseQueryParam(q, limits);
      const warnings = ctx.identity.scopes.includes("read") ? unknownFields(node, await seenFields(ctx)) : [];
      sendJson(ctx.res, 200, warnings.length > 0 ? { ok: true, warnings } : { ok: true });
    },

    async "/api/fields"(ctx) {
      sendJson(ctx.res, 200, { fields: [...(await seenFields(ctx))].sort() });
    },

    async "/api/search"(ctx) {
      const read = readRequest(ctx.params, ctx.identity.tenant, limits);
      const order = orderParam(ctx.params);
      const limit = intParam(ctx.params, "limit", DEFAULT_PAGE, limits.pageSize);
      const cursor = single(ctx.params, "cursor");
      const page = await engine.searchPage({
        ...read.search,
        order,
        limit,
        ...(cursor !== undefined ? { cursor } : {}),
        signal: ctx.signal,
      });
      ctx.audit("VIEWER_SEARCH", { query: read.query, range: read.rangeText, count: page.events.length });
      sendJson(
        ctx.res,
        200,
        page.cursor !== undefined ? { events: page.events, cursor: page.cursor } : { events: page.events },
      );
    },

    async "/api/count"(ctx) {
      const read = readRequest(ctx.params, ctx.identity.tenant, limits);
      sendJson(ctx.res, 200, { count: await engine.count({ ...read.search, signal: ctx.signal }) });
    },

    async "/api/facets"(ctx) {
      const read = readRequest(ctx.params, ctx.identity.tenant, limits);
      const fields = listParam(ctx.params, "fields", DEFAULT_FACETS);
      sendJson(ctx.res, 200, { facets: await engine.facets({ ...read.search, signal: ctx.signal }, fields) });
    },

    async "/api/histogram"(ctx) {
      const read = readRequest(ctx.params, ctx.identity.tenant, limits);
      const wanted = intParam(ctx.params, "buckets", 60, 1000);
      const { from, to } = read.range;
      const [name, size] = intervalFor(from.getTime(), to.getTime(), wanted);
      let buckets: { start: string; count: number }[];
      if (engine.getActiveBackends()[0]?.type === "database") {
        // a database counts each bucket through its indexes (exact queries never leave SQL);
        // a row the evaluator must judge is still read once in all
        const starts = bucketStarts(from.getTime(), to.getTime(), size);
        const counts = await mapLimit(starts, 4, (t) =>
          engine.count({
            ...read.search,
            from: new Date(Math.max(t, from.getTime())),
            to: new Date(Math.min(t + size, to.getTime())),
            signal: ctx.signal,
          }),
        );
        buckets = starts.map((t, i) => ({ start: new Date(t).toISOString(), count: counts[i]! }));
      } else {
        // files: one pass over the range's events
        const result = await engine.aggregate({
          ...read.search,
          interval: name,
          maxBuckets: 10_000,
          signal: ctx.signal,
        });
        buckets = result.buckets.map((b) => ({ start: b.key as string, count: b.count }));
      }
      sendJson(ctx.res, 200, { interval: name, intervalMs: size, buckets });
    },

    async "/api/events"(ctx) {
      const id = ctx.params.get("\u0000id") ?? "";
      const event = await engine.getEvent(id, {
        signal: ctx.signal,
        ...(ctx.identity.tenant !== undefined ? { tenant: ctx.identity.tenant } : {}),
      });
      // an event of another tenant is answered exactly like a missing one
      if (event === undefined) throw notFound(`no event ${JSON.stringify(id.slice(0, 64))}`);
      ctx.audit("VIEWER_EVENT", { id: event.id });
      sendJson(ctx.res, 200, {
        event,
        raw: JSON.stringify(event),
        integrity: await integrityOf(ctx, event),
      });
    },

    "/api/tail": (ctx) => tailRoute(ctx),
    "/api/export": (ctx) => exportRoute(ctx),
    "/api/export-ticket": (ctx) => exportTicketRoute(ctx),
    "/api/verify": (ctx) => verifyRoute(ctx),
  };

  const handleApi = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    params: URLSearchParams,
    base: string,
  ): Promise<void> => {
    let route = path;
    if (path.startsWith("/api/events/")) {
      route = "/api/events";
      const id = decodeURIComponentSafe(path.slice("/api/events/".length));
      params.set("\u0000id", id);
    }
    const spec = route === "/api/events" ? { scope: "read" as const, methods: ["GET"] } : API_ROUTES[route];
    const handler = routes[route];
    if (spec === undefined || handler === undefined) throw notFound(`no API route ${path}`);
    const method = req.method === "HEAD" ? "GET" : (req.method ?? "GET");
    if (!spec.methods.includes(method)) {
      res.setHeader("allow", spec.methods.join(", "));
      throw new ViewerHttpError(
        405,
        ErrorCodes.VIEWER_NOT_FOUND,
        `${req.method} is not allowed on ${path}; use ${spec.methods.join(" or ")}`,
      );
    }
    // a download link cannot carry a header: a single-use export ticket stands in for it
    const ticketId = route === "/api/export" ? params.get("ticket") : null;
    let identity: Identity;
    if (ticketId !== null) {
      const ticket = shared.tickets.get(ticketId);
      shared.tickets.delete(ticketId);
      if (ticket === undefined || ticket.expires < Date.now()) {
        authFailed({ reason: "unknown or expired export ticket", path, ip: req.socket?.remoteAddress });
        throw new ViewerHttpError(401, ErrorCodes.VIEWER_AUTH, "unknown, used or expired export ticket");
      }
      identity = ticket.identity as Identity;
      params = new URLSearchParams(ticket.params);
    } else identity = await identify(req, path);
    if (spec.scope !== undefined && !identity.scopes.includes(spec.scope))
      throw new ViewerHttpError(
        403,
        ErrorCodes.VIEWER_FORBIDDEN,
        `this identity lacks the "${spec.scope}" scope needed for ${route}`,
      );

    const controller = new AbortController();
    const streaming = route === "/api/tail" || route === "/api/verify" || route === "/api/export";
    const timer = streaming
      ? undefined
      : setTimeout(() => controller.abort(new ViewerTimeout(limits.timeoutMs)), limits.timeoutMs);
    const onClose = () => {
      if (!res.writableFinished) controller.abort(new Error("the client went away"));
    };
    res.once("close", onClose);
    const ctx: RouteContext = {
      req,
      res,
      params,
      identity,
      engine,
      limits,
      base,
      signal: controller.signal,
      audit: (type, metadata, failed) => audit(identity, type, metadata, failed),
      shared,
    };
    try {
      if (timer === undefined) await handler(ctx);
      else {
        // answer at the deadline even when the store does not (a connection that hangs):
        // the work itself stops at its next check of the signal
        let onAbort: (() => void) | undefined;
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(controller.signal.reason);
          controller.signal.addEventListener("abort", onAbort, { once: true });
        });
        const work = handler(ctx);
        work.catch(() => undefined);
        try {
          await Promise.race([work, aborted]);
        } finally {
          if (onAbort) controller.signal.removeEventListener("abort", onAbort);
        }
      }
    } catch (err) {
      throw httpErrorOf(err, controller.signal);
    } finally {
      if (timer) clearTimeout(timer);
      res.off("close", onClose);
    }
  };

  const serve = async (
    req: IncomingMessage,
    res: ServerResponse,
    next?: (err?: unknown) => void,
  ): Promise<void> => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    // Express strips its mount path into req.baseUrl; elsewhere basePath says where we are
    const express = req as IncomingMessage & { baseUrl?: string; originalUrl?: string };
    const url = req.url ?? "/";
    let base: string;
    let rest: string;
    if (typeof express.baseUrl === "string" && typeof express.originalUrl === "string") {
      base = express.baseUrl;
      const original = express.originalUrl;
      const q = original.indexOf("?");
      const originalPath = q === -1 ? original : original.slice(0, q);
      rest = originalPath === base ? original.slice(originalPath.length) : url;
    } else {
      base = basePath;
      if (url !== base && !url.startsWith(`${base}/`) && !url.startsWith(`${base}?`)) {
        if (next) return next();
        throw notFound();
      }
      rest = url.slice(base.length);
    }
    const q = rest.indexOf("?");
    const path = q === -1 ? rest : rest.slice(0, q);
    const params = new URLSearchParams(q === -1 ? "" : rest.slice(q + 1));

    if (allowedHosts !== undefined) {
      const host = hostName(req.headers.host);
      if (host === undefined || !allowedHosts.has(host))
        throw new ViewerHttpError(
          421,
          ErrorCodes.VIEWER_FORBIDDEN,
          `unexpected Host header ${JSON.stringify(String(req.headers.host ?? "").slice(0, 100))}: open the viewer by the address it printed`,
        );
    }
    if (path === "") {
      // relative asset URLs need the trailing slash
      res.statusCode = 308;
      res.setHeader("location", `${base}/${q === -1 ? "" : rest.slice(q)}`);
      res.end();
      return;
    }
    if (path.startsWith("/api/")) return handleApi(req, res, path, params, base);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      throw new ViewerHttpError(405, ErrorCodes.VIEWER_NOT_FOUND, `${req.method} is not allowed here`);
    }
    const asset: Asset | undefined = assets.get(path);
    if (asset === undefined) {
      if (path === "/" || path === "/index.html") {
        res.statusCode = 500;
        res.setHeader("content-type", "text/plain; charset=utf-8");
        res.setHeader("cache-control", "no-store");
        res.end("viewer assets not built: run npm run build\n");
        return;
      }
      throw notFound();
    }
    res.statusCode = 200;
    res.setHeader("content-type", asset.type);
    res.setHeader("content-length", asset.body.length);
    res.setHeader(
      "cache-control",
      path === "/" || path.endsWith(".html") ? "no-cache" : "public, max-age=300",
    );
    res.end(req.method === "HEAD" ? undefined : asset.body);
  };

  return function vigilAuditViewer(req, res, next) {
    serve(req, res, next).catch((err: unknown) => {
      try {
        sendError(res, httpErrorOf(err));
      } catch {
        res.destroy();
      }
    });
  };
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The smallest listed interval giving at most `wanted` buckets over `[from, to)` (aligned as aggregate aligns). */
export function intervalFor(from: number, to: number, wanted: number): [string, number] {
  for (const [name, size] of INTERVALS) {
    const start = Math.floor(from / size) * size;
    if (Math.ceil((Math.max(to, from + 1) - start) / size) <= wanted) return [name, size];
  }
  const day = 86_400_000;
  const days = Math.max(1, Math.ceil((to - from) / day / Math.max(1, wanted - 1)));
  return [`${days}d`, days * day];
}

const WEEK_MS = 604_800_000;
/** Monday 1970-01-05T00:00Z: week buckets start on Mondays, as `aggregate` aligns them. */
const MONDAY_ORIGIN = 4 * 86_400_000;

/** The starts of the `size` buckets covering `[from, to)`, aligned to UTC like `aggregate`'s; at least one. */
export function bucketStarts(from: number, to: number, size: number): number[] {
  const origin = size % WEEK_MS === 0 ? MONDAY_ORIGIN : 0;
  const first = Math.floor((from - origin) / size) * size + origin;
  const starts = [first];
  for (let t = first + size; t < to; t += size) starts.push(t);
  return starts;
}

/** `fn` over `items`, at most `limit` at once, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * The integrity status shown with an event: its chain and position, `unsigned` without
 * one. With `verify=1` (and the `verify` scope, for an identity not bound to a tenant:
 * verification reads every tenant's records) the store is verified and the event's chain
 * reported `verified` or `broken` with the first problem.
 */
async function integrityOf(ctx: RouteContext, event: AuditEvent): Promise<Record<string, unknown>> {
  const integrity = event.integrity;
  if (integrity === undefined) return { status: "unsigned" };
  const base = { chain: integrity.chain, seq: integrity.seq };
  if (
    ctx.params.get("verify") !== "1" ||
    !ctx.identity.scopes.includes("verify") ||
    ctx.identity.tenant !== undefined
  )
    return { ...base, status: "unverified" };
  const result = await ctx.engine.verify();
  const problem =
    result.problems.find((p) => p.chain === integrity.chain) ??
    (result.ok ? undefined : result.problems.find((p) => p.chain === undefined));
  if (problem === undefined) return { ...base, status: "verified" };
  // a chain whose writer has not signed a checkpoint yet is not broken, only not proven
  return {
    ...base,
    status: problem.kind === "unverifiable" ? "unverified" : "broken",
    detail: `${problem.kind}: ${problem.message}`,
  };
}
