/**
 * The authentication helpers: LOGIN / LOGOUT / TOKEN_REFRESH / PERMISSION_DENIED security
 * events, with the username on failure and never the password.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withAuditScope } from "../../src/capture/scope.js";
import {
  auditedLogin,
  auditLogin,
  auditLogout,
  auditPermissionDenied,
  auditTokenRefresh,
} from "../../src/integrations/auth/index.js";
import { type TestEngine, testEngine } from "./helpers.js";

let t: TestEngine;
beforeEach(() => {
  t = testEngine();
});
afterEach(async () => {
  await t.dispose();
});

describe("authentication events", () => {
  it("records a failed login with the username and the scope's ip, findable by the seed's query", async () => {
    withAuditScope({ actor: { ip: "10.0.0.7", user_agent: "ua" }, correlation: { request_id: "r1" } }, () => {
      auditLogin({
        engine: t.engine,
        username: "alice",
        success: false,
        reason: "invalid password",
        method: "password",
      });
    });
    auditLogin({ engine: t.engine, username: "alice", userId: 42, success: true });
    const failed = await t.engine.search({ query: "action.type:LOGIN AND result.status:FAILURE" });
    expect(failed).toHaveLength(1);
    const e = failed[0]!;
    expect(e.security_event).toBe(true);
    expect(e.action.category).toBe("AUTHENTICATION");
    expect(e.severity).toBe("WARNING");
    expect(e.actor).toEqual({ ip: "10.0.0.7", user_agent: "ua", username: "alice" });
    expect(e.correlation).toEqual({ request_id: "r1" });
    expect(e.result.error).toEqual({ type: "AUTHENTICATION_FAILED", message: "invalid password" });
    expect(e.metadata).toEqual({ method: "password" });
    const [ok] = await t.engine.search({ query: "action.type:LOGIN AND result.status:SUCCESS" });
    expect(ok!.actor).toEqual({ username: "alice", id: "42" });
    expect(ok!.severity).toBe("INFO");
  });

  it("records logout, token refresh and permission denied", () => {
    auditLogout({ engine: t.engine, username: "bob" });
    auditTokenRefresh({ engine: t.engine, userId: "7" });
    auditTokenRefresh({ engine: t.engine, userId: "7", success: false, reason: "refresh token expired" });
    auditPermissionDenied({
      engine: t.engine,
      username: "bob",
      resource: { type: "report", id: "17" },
      permission: "reports:export",
      reason: "role viewer",
    });
    const [logout, refresh, refreshFailed, denied] = t.events();
    expect(logout!.action).toMatchObject({ type: "LOGOUT", category: "AUTHENTICATION" });
    expect(logout!.result.status).toBe("SUCCESS");
    expect(refresh!.action.type).toBe("TOKEN_REFRESH");
    expect(refresh!.actor).toEqual({ id: "7" });
    expect(refreshFailed!.result).toMatchObject({
      status: "FAILURE",
      error: { type: "TOKEN_REFRESH_FAILED", message: "refresh token expired" },
    });
    expect(denied!.action).toMatchObject({
      type: "PERMISSION_DENIED",
      category: "AUTHORIZATION",
      resource: { type: "report", id: "17" },
    });
    expect(denied!.metadata).toEqual({ permission: "reports:export" });
    expect(denied!.result.status).toBe("FAILURE");
    expect(t.events().every((e) => e.security_event)).toBe(true);
  });

  it("auditedLogin records success, a null result and a thrown error, never the password", async () => {
    class BadCredentials extends Error {
      override name = "BadCredentials";
    }
    const users: Record<string, { id: number; password: string }> = {
      alice: { id: 1, password: "s3cret-pw" },
    };
    const login = auditedLogin(
      async (username: string, password: string) => {
        if (username === "mallory") throw new BadCredentials(`no such user ${username}`);
        const u = users[username];
        return u && u.password === password ? { id: u.id, name: username } : null;
      },
      { engine: t.engine, username: (username) => username, userId: (user) => user?.id, method: "password" },
    );
    expect(await login("alice", "s3cret-pw")).toEqual({ id: 1, name: "alice" });
    expect(await login("alice", "wrong-pw-value")).toBeNull();
    const err = await login("mallory", "x-pw-value").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadCredentials);
    const [ok, wrong, thrown] = t.events();
    expect(ok!.result.status).toBe("SUCCESS");
    expect(ok!.actor).toEqual({ username: "alice", id: "1" });
    expect(typeof ok!.result.duration_ms).toBe("number");
    expect(wrong!.result).toMatchObject({
      status: "FAILURE",
      error: { type: "AUTHENTICATION_FAILED", message: "invalid credentials" },
    });
    expect(wrong!.actor).toEqual({ username: "alice" });
    expect(thrown!.result.error).toMatchObject({ type: "BadCredentials", message: "no such user mallory" });
    // one severity rule on every capture path: a failure reported as a value is WARNING,
    // one an exception caused is ERROR (as `audited` records the same login)
    expect(wrong!.severity).toBe("WARNING");
    expect(thrown!.severity).toBe("ERROR");
    const text = JSON.stringify(t.events());
    for (const pw of ["s3cret-pw", "wrong-pw-value", "x-pw-value"]) expect(text).not.toContain(pw);
  });

  it("auditedLogin works on synchronous functions and keeps this", () => {
    const service = {
      prefix: "u-",
      login: auditedLogin(
        function (this: { prefix: string }, name: string) {
          return `${this.prefix}${name}`;
        },
        { engine: t.engine, username: (name) => name },
      ),
    };
    expect(service.login("zed")).toBe("u-zed");
    expect(t.events()[0]!.result.status).toBe("SUCCESS");
    expect(() => auditedLogin((() => 1) as () => number, {} as never)).toThrow(
      /auditedLogin: options\.username must be a function/,
    );
  });

  it("records nothing when the engine is disabled", () => {
    const off = testEngine({ core: { application_name: "t", enabled: false } });
    expect(auditLogin({ engine: off.engine, username: "a", success: true })).toBeUndefined();
    expect(off.events()).toEqual([]);
    return off.dispose();
  });
});
