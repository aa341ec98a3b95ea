/**
 * `vigil-audit/auth`: security events for authentication (SPEC §3, the seed's login
 * step) — `LOGIN`, `LOGOUT`, `TOKEN_REFRESH` and `PERMISSION_DENIED` — recorded the same
 * way everywhere, so `action.type:LOGIN AND result.status:FAILURE` finds every failed
 * login.
 *
 * Every event is a security event (`security_event: true`). The actor is the ambient
 * scope's (the HTTP integrations put the client ip and user agent there) with the
 * username and user id added — the username also when the login failed, so failed
 * attempts can be counted per account. No function here accepts a password, and
 * metadata goes through the pipeline's sanitization like any other.
 *
 * @example
 * import { auditLogin, auditedLogin } from "vigil-audit/auth";
 *
 * // explicitly, where the outcome is known
 * auditLogin({ username, success: false, reason: "invalid password" });
 *
 * // or by wrapping the login function: success when it returns a value, failure when it
 * // returns null/false or throws; only the username is taken from the arguments
 * const login = auditedLogin(authenticate, { username: (name) => name, userId: (user) => user?.id });
 *
 * @module
 */
import { currentScope } from "../../capture/scope.js";
import { getDefaultEngine } from "../../default-engine.js";
import type { AuditEngine } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { describeError } from "../../event/build.js";
import type { Actor, AuditEvent, LogInput, Resource, Severity } from "../../event/types.js";

/** What every authentication event may carry. */
export interface AuthEventInput {
  /** The account name, on success and on failure. */
  readonly username?: string;
  /** The account id, when known. */
  readonly userId?: string | number;
  /** More about the actor (roles, session id); merged over the ambient scope's actor. */
  readonly actor?: Actor;
  /** How the user authenticated: `password`, `oauth`, `api_key`, `sso`, ... (`metadata.method`). */
  readonly method?: string;
  /** Why it failed, in words (`result.error.message`). Never put the password here. */
  readonly reason?: string;
  /** The error that made it fail, if any (its type and message are recorded). */
  readonly error?: unknown;
  /** Extra metadata, sanitized by the pipeline. */
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Default `AUTHENTICATION` (`AUTHORIZATION` for permission denials). */
  readonly category?: string;
  /**
   * Default, the rule every capture path follows (SPEC §2): INFO on success, ERROR when an
   * exception (`error`) made it fail, WARNING for a failure reported as a value.
   */
  readonly severity?: Severity;
  /** The engine; default the default engine. */
  readonly engine?: AuditEngine;
}

/** A login attempt and its outcome. */
export interface LoginInput extends AuthEventInput {
  readonly success: boolean;
}

/** A token refresh; success unless said otherwise. */
export interface TokenRefreshInput extends AuthEventInput {
  /** Default true. */
  readonly success?: boolean;
}

/** A refused access. */
export interface PermissionDeniedInput extends AuthEventInput {
  /** What was refused: a path or a resource object (`{ type: "report", id: "17" }`). */
  readonly resource?: string | Resource;
  /** The permission that was missing, e.g. `reports:export` (`metadata.permission`). */
  readonly permission?: string;
}

function engineOf(input: { readonly engine?: AuditEngine }): AuditEngine | undefined {
  try {
    const engine = input.engine ?? getDefaultEngine();
    return engine.enabled ? engine : undefined;
  } catch {
    return undefined;
  }
}

function actorOf(input: AuthEventInput): Actor | undefined {
  const actor: { -readonly [K in keyof Actor]: Actor[K] } = { ...currentScope()?.actor, ...input.actor };
  if (input.username !== undefined && input.username !== "") actor.username = String(input.username);
  if (input.userId !== undefined && input.userId !== "") actor.id = String(input.userId);
  return Object.keys(actor).length > 0 ? actor : undefined;
}

function record(
  type: string,
  defaultCategory: string,
  input: AuthEventInput,
  success: boolean,
  failureType: string,
  extra: { resource?: string | Resource; metadata?: Record<string, unknown>; durationMs?: number } = {},
): AuditEvent | undefined {
  if (input === null || typeof input !== "object") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `audit${type}: input must be an object like { username: "alice" }, found ${input === null ? "null" : typeof input}`,
    );
  }
  const engine = engineOf(input);
  if (engine === undefined) return undefined;
  try {
    const actor = actorOf(input);
    const metadata = {
      ...input.metadata,
      ...(input.method !== undefined ? { method: input.method } : {}),
      ...extra.metadata,
    };
    let error: { type: string; message?: string; code?: string } | undefined;
    if (!success) {
      const described = input.error !== undefined ? describeError(input.error) : undefined;
      error = {
        type: described?.type ?? failureType,
        ...(input.reason !== undefined
          ? { message: input.reason }
          : described?.message !== undefined
            ? { message: described.message }
            : {}),
        ...(described?.code !== undefined ? { code: described.code } : {}),
      };
    }
    const log: LogInput = {
      action: type,
      category: input.category ?? defaultCategory,
      securityEvent: true,
      status: success ? "SUCCESS" : "FAILURE",
      severity: input.severity ?? (success ? "INFO" : input.error !== undefined ? "ERROR" : "WARNING"),
      ...(actor !== undefined ? { actor } : {}),
      ...(extra.resource !== undefined ? { resource: extra.resource } : {}),
      ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
      result: {
        ...(extra.durationMs !== undefined ? { duration_ms: extra.durationMs } : {}),
        ...(error !== undefined ? { error } : {}),
      },
    };
    return engine.log(log);
  } catch {
    return undefined; // recording never changes the application's behaviour
  }
}

/**
 * Record a `LOGIN` attempt: SUCCESS (INFO) or FAILURE (`result.error.type`
 * `AUTHENTICATION_FAILED` unless an `error` names another type; WARNING, or ERROR when an
 * `error` is passed — the same rule as `audited` and `auditLog`). Returns the event, or
 * undefined when the engine is disabled or a filter dropped it.
 *
 * @example auditLogin({ username: "alice", success: false, reason: "invalid password", method: "password" });
 */
export function auditLogin(input: LoginInput): AuditEvent | undefined {
  return record("LOGIN", "AUTHENTICATION", input, input?.success === true, "AUTHENTICATION_FAILED");
}

/**
 * Record a `LOGOUT` (SUCCESS).
 *
 * @example auditLogout({ username: req.user.name, userId: req.user.id });
 */
export function auditLogout(input: AuthEventInput = {}): AuditEvent | undefined {
  return record("LOGOUT", "AUTHENTICATION", input, true, "LOGOUT_FAILED");
}

/**
 * Record a `TOKEN_REFRESH`: SUCCESS by default, FAILURE (`TOKEN_REFRESH_FAILED`) with
 * `success: false`.
 *
 * @example auditTokenRefresh({ userId: claims.sub, method: "refresh_token" });
 */
export function auditTokenRefresh(input: TokenRefreshInput = {}): AuditEvent | undefined {
  return record("TOKEN_REFRESH", "AUTHENTICATION", input, input.success !== false, "TOKEN_REFRESH_FAILED");
}

/**
 * Record a `PERMISSION_DENIED` (FAILURE, WARNING, category `AUTHORIZATION`), with what was
 * refused as the resource and the missing permission in `metadata.permission`.
 *
 * @example auditPermissionDenied({ username, resource: { type: "report", id: "17" }, permission: "reports:export" });
 */
export function auditPermissionDenied(input: PermissionDeniedInput): AuditEvent | undefined {
  return record("PERMISSION_DENIED", "AUTHORIZATION", input, false, "PERMISSION_DENIED", {
    ...(input?.resource !== undefined ? { resource: input.resource } : {}),
    ...(input?.permission !== undefined ? { metadata: { permission: input.permission } } : {}),
  });
}

/** How {@link auditedLogin} reads a login function's arguments and result. */
export interface AuditedLoginOptions<Args extends readonly unknown[], R> {
  /** The username, from the arguments (the only argument ever recorded). */
  readonly username: (...args: Args) => string | undefined;
  /** The user id, from the (awaited) result. */
  readonly userId?: (result: Awaited<R>) => string | number | undefined;
  /** Whether the result means success; default: anything but `null`, `undefined` and `false`. */
  readonly succeeded?: (result: Awaited<R>) => boolean;
  /** How the user authenticated (`metadata.method`). */
  readonly method?: string;
  /** Default `AUTHENTICATION`. */
  readonly category?: string;
  /** The engine; default the default engine, looked up at each call. */
  readonly engine?: AuditEngine;
}

/**
 * Wrap a login function (sync or async) so each call records one `LOGIN` event: SUCCESS
 * when it returns a success value, FAILURE when it returns `null`/`undefined`/`false`
 * (reason `invalid credentials`) or throws (the error's type and message; the error is
 * re-thrown unchanged). The username comes from `options.username`; no other argument —
 * in particular no password — is recorded. The wrapper keeps `this`, the arguments and
 * the return value.
 *
 * @example
 * const login = auditedLogin(async (username: string, password: string) => users.verify(username, password), {
 *   username: (username) => username,
 *   userId: (user) => user?.id,
 * });
 */
export function auditedLogin<Args extends unknown[], R>(
  fn: (...args: Args) => R,
  options: AuditedLoginOptions<Args, R>,
): (...args: Args) => R {
  if (typeof fn !== "function") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `auditedLogin: fn must be a function, found ${fn === null ? "null" : typeof fn}`,
    );
  }
  if (options === null || typeof options !== "object" || typeof options.username !== "function") {
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      "auditedLogin: options.username must be a function returning the username from the arguments, e.g. { username: (name) => name }",
    );
  }
  const succeeded = options.succeeded ?? ((r: unknown) => r !== null && r !== undefined && r !== false);
  const common = {
    ...(options.method !== undefined ? { method: options.method } : {}),
    ...(options.category !== undefined ? { category: options.category } : {}),
    ...(options.engine !== undefined ? { engine: options.engine } : {}),
  };
  return function auditedLoginCall(this: unknown, ...args: Args): R {
    const started = performance.now();
    let username: string | undefined;
    try {
      username = options.username(...args);
    } catch {
      username = undefined;
    }
    const base = { ...common, ...(username !== undefined ? { username } : {}) };
    const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
    const onResult = (result: Awaited<R>): void => {
      let ok = false;
      let userId: string | number | undefined;
      try {
        ok = succeeded(result);
        if (ok) userId = options.userId?.(result);
      } catch {
        // a throwing reader leaves the defaults
      }
      record(
        "LOGIN",
        "AUTHENTICATION",
        {
          ...base,
          ...(userId !== undefined ? { userId } : {}),
          ...(ok ? {} : { reason: "invalid credentials" }),
        },
        ok,
        "AUTHENTICATION_FAILED",
        {
          durationMs: elapsed(),
        },
      );
    };
    const onError = (error: unknown): void => {
      record("LOGIN", "AUTHENTICATION", { ...base, error }, false, "AUTHENTICATION_FAILED", {
        durationMs: elapsed(),
      });
    };
    let result: R;
    try {
      result = fn.apply(this, args);
    } catch (error) {
      onError(error);
      throw error;
    }
    if (
      result !== null &&
      typeof result === "object" &&
      typeof (result as { then?: unknown }).then === "function"
    ) {
      (result as unknown as PromiseLike<Awaited<R>>).then(onResult, onError);
      return result;
    }
    onResult(result as Awaited<R>);
    return result;
  };
}
