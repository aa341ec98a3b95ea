/**
 * TrafficTracer's API server (`api/server_secure.py` in the seed: hook point 2, Step 6
 * and "Monitoring Integration"), on Express 5.
 *
 * `expressAuditMiddleware` records one `API` / `HTTP_REQUEST` event per request (method,
 * path, status, duration, client) and puts every event the request causes — the
 * `QUERY` of `/query/execute`, the `LOGIN` of `/auth/login` — in the request's scope, so
 * they share its `correlation.request_id`. Prometheus scrapes of `/metrics` are not
 * audited.
 *
 * | route | does |
 * |---|---|
 * | `GET /api/v1/health` | liveness |
 * | `GET /api/v1/roads/:road/measurements?limit=50` | the road's newest measurements (at most 500) through the audited {@link DatabaseConnector} |
 * | `POST /api/v1/query/execute` | `{ sql, params? }` → `{ result }` through the audited {@link DatabaseConnector} |
 * | `POST /api/v1/auth/login` | `{ username, password }` → a session, or 401 |
 * | `GET /api/v1/metrics/info` | the seed's info, with the `audit` block from `auditMetricsInfo()` |
 * | `GET /metrics` | vigil's counters in Prometheus text format |
 * | `/admin/audit/` | the audit log viewer (the seed's "Option 3" panel), for users with the `auditor` role |
 *
 * @example
 * const app = createApp({ connector, login: createLogin(users) });
 * const running = await startServer(app); // 127.0.0.1, a free port
 * await fetch(`${running.url}/api/v1/health`);
 * await running.close();
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express, {
  type Express,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from "express";
import { expressAuditMiddleware } from "vigil-audit/express";
import { auditMetricsInfo, prometheusHandler } from "vigil-audit/metrics";
import { auditViewer, type ViewerIdentity } from "vigil-audit/viewer";
import { getAuditEngine } from "./audit_init.js";
import { AuthenticationError, type LoginFunction, type SessionStore } from "./authentication.js";
import type { DatabaseConnector, QueryParams } from "./db_connector.js";

/** Options of {@link createApp}. */
export interface AppOptions {
  /** The database `/api/v1/query/execute` runs on. */
  readonly connector: DatabaseConnector;
  /** The (audited) login function `/api/v1/auth/login` calls. */
  readonly login: LoginFunction;
  /** `monitoring_enabled` in `/api/v1/metrics/info`. Default true. */
  readonly monitoringEnabled?: boolean;
  /** The application version reported by `/api/v1/health`. Default `2.0.0`. */
  readonly version?: string;
  /**
   * The sessions login hands out. When given, login also sets the `tt_session` cookie and
   * the audit viewer is mounted at `/admin/audit/` for signed-in users with the `auditor`
   * role (the seed's viewer panel).
   */
  readonly sessions?: SessionStore;
  /**
   * The request middleware mounted first. Default `expressAuditMiddleware({ exclude: ["/metrics"] })`
   * (one `API` / `HTTP_REQUEST` event per request, and the request's scope); `null` mounts
   * none. `bench/app.bench.mjs` measures the app without it and with `pino-http` in its place.
   */
  readonly requestLogger?: RequestHandler | null;
}

/** The most measurements `/api/v1/roads/:road/measurements` returns at once. */
export const MAX_MEASUREMENTS = 500;

/** The cookie login sets: HttpOnly, SameSite=Strict, so another site can neither read nor send it. */
export const SESSION_COOKIE = "tt_session";

/** The session token of a request: `Authorization: Bearer`, else the session cookie. */
function sessionToken(headers: { authorization?: string; cookie?: string }): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "");
  if (bearer) return bearer[1];
  for (const part of (headers.cookie ?? "").split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === SESSION_COOKIE) return value.join("=");
  }
  return undefined;
}

/** A client error: answered with its status and message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** `{ sql, params? }` from a request body, or a 400. */
function queryRequest(body: unknown): { sql: string; params: QueryParams } {
  if (!isRecord(body) || typeof body.sql !== "string" || body.sql.trim() === "")
    throw new HttpError(400, "expected a JSON body { sql: string, params?: array | object }");
  const params = body.params ?? [];
  if (params === null || typeof params !== "object")
    throw new HttpError(400, `params: expected an array or an object, found ${typeof params}`);
  return { sql: body.sql, params: params as QueryParams };
}

/** `{ username, password }` from a request body, or a 400. */
function credentials(body: unknown): { username: string; password: string } {
  if (!isRecord(body) || typeof body.username !== "string" || typeof body.password !== "string")
    throw new HttpError(400, "expected a JSON body { username: string, password: string }");
  return { username: body.username, password: body.password };
}

/** Whether `err` is an error better-sqlite3 raised for a statement (syntax, constraint, missing table). */
function isSqliteError(err: unknown): err is Error & { code: string } {
  return err instanceof Error && err.name === "SqliteError";
}

/** The TrafficTracer API as an Express application (not listening yet). */
export function createApp(options: AppOptions): Express {
  const { connector, login } = options;
  const app = express();
  app.disable("x-powered-by");
  // First, so that every request is audited — including bodies the JSON parser rejects.
  const requestLogger =
    options.requestLogger === undefined
      ? expressAuditMiddleware({ exclude: ["/metrics"] })
      : options.requestLogger;
  if (requestLogger !== null) app.use(requestLogger);
  app.use(express.json({ limit: "64kb" }));

  const sessions = options.sessions;
  if (sessions !== undefined) {
    // Behind TrafficTracer's own login: a live session of a user with the auditor role.
    app.use(
      "/admin/audit",
      auditViewer({
        engine: getAuditEngine(),
        authorize: (req): ViewerIdentity | undefined => {
          const user = sessions.lookup(sessionToken(req.headers))?.user;
          return user?.roles.includes("auditor")
            ? { actor: { id: user.id, username: user.username } }
            : undefined;
        },
      }),
    );
  }

  app.get("/api/v1/health", (_req, res) => {
    res.json({ status: "ok", version: options.version ?? "2.0.0", uptime_s: Math.round(process.uptime()) });
  });

  app.get("/api/v1/roads/:road/measurements", (req, res) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_MEASUREMENTS)
      throw new HttpError(400, `limit: expected an integer from 1 to ${MAX_MEASUREMENTS}`);
    const road = req.params.road;
    const measurements = connector.executeQuery(
      "SELECT measured_at, speed_kmh FROM measurements WHERE road = ? ORDER BY measured_at DESC LIMIT ?",
      [road, limit],
    );
    res.json({ road, measurements });
  });

  app.post("/api/v1/query/execute", (req, res) => {
    const { sql, params } = queryRequest(req.body);
    try {
      res.json({ result: connector.executeQuery(sql, params) });
    } catch (err) {
      if (isSqliteError(err)) throw new HttpError(400, `${err.code}: ${err.message}`);
      throw err;
    }
  });

  app.post("/api/v1/auth/login", async (req, res) => {
    const { username, password } = credentials(req.body);
    try {
      const session = await login(username, password);
      if (sessions !== undefined)
        res.cookie(SESSION_COOKIE, session.token, {
          httpOnly: true,
          sameSite: "strict",
          path: "/",
          expires: new Date(session.expires_at),
        });
      res.json({ token: session.token, username: session.user.username, expires_at: session.expires_at });
    } catch (err) {
      if (err instanceof AuthenticationError) throw new HttpError(401, err.message);
      throw err;
    }
  });

  app.get("/api/v1/metrics/info", async (_req, res) => {
    const info: Record<string, unknown> = {
      timestamp: new Date().toISOString(),
      monitoring_enabled: options.monitoringEnabled ?? true,
    };
    // Resolves { enabled: false, error } instead of rejecting, as the seed's except branch.
    info.audit = await auditMetricsInfo();
    res.json(info);
  });

  app.get("/metrics", prometheusHandler());

  app.use((_req, _res, next) => next(new HttpError(404, "not found")));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status =
      err instanceof HttpError
        ? err.status
        : isRecord(err) && typeof err.status === "number" && err.status >= 400 && err.status < 500
          ? err.status // body-parser: malformed JSON, body too large
          : 500;
    const message = status < 500 && err instanceof Error ? err.message : "internal server error";
    res.status(status).json({ error: message });
  });
  return app;
}

/** A listening server. */
export interface RunningServer {
  /** The underlying `node:http` server. */
  readonly server: Server;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Stop accepting connections and wait for open ones to finish. */
  close(): Promise<void>;
}

/**
 * Listen on `host:port` (default `127.0.0.1`, a free port chosen by the system).
 *
 * @example const { url, close } = await startServer(createApp(options));
 */
export function startServer(
  app: Express,
  options: { readonly host?: string; readonly port?: number } = {},
): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer(app);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      const { port } = server.address() as AddressInfo;
      resolve({
        server,
        url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => (err ? fail(err) : done()));
            server.closeIdleConnections();
          }),
      });
    });
  });
}
