import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { CLOCK_SKEW_S, createViewerToken, verifyViewerToken } from "./token.js";

const SECRET = "k".repeat(32);
const NOW = Date.UTC(2026, 10, 26, 12, 0, 0);

function resign(header: object, claims: object, secret = SECRET): string {
  const body = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
}

describe("viewer tokens", () => {
  it("round-trips tenant, actor and scopes, as a standard HS256 JWT", () => {
    const token = createViewerToken({
      tenant: "acme",
      actor: { id: "42", username: "alice" },
      scopes: ["read", "export"],
      expiresIn: "1h",
      secret: SECRET,
      now: NOW,
    });
    const [header, payload] = token.split(".") as [string, string, string];
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT" });
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toEqual({
      sub: "42",
      name: "alice",
      tenant: "acme",
      scopes: ["read", "export"],
      iat: NOW / 1000,
      nbf: NOW / 1000,
      exp: NOW / 1000 + 3600,
    });
    expect(verifyViewerToken(token, SECRET, NOW + 1000)).toEqual({
      actor: { id: "42", username: "alice" },
      tenant: "acme",
      scopes: ["read", "export"],
    });
  });

  it("refuses expired tokens after the skew tolerance, and early ones before it", () => {
    const token = createViewerToken({ actor: { id: "1" }, expiresIn: 60, secret: SECRET, now: NOW });
    expect(verifyViewerToken(token, SECRET, NOW + (60 + CLOCK_SKEW_S - 1) * 1000).actor.id).toBe("1");
    expect(() => verifyViewerToken(token, SECRET, NOW + (60 + CLOCK_SKEW_S) * 1000)).toThrow(
      "viewer token expired",
    );
    expect(() => verifyViewerToken(token, SECRET, NOW - (CLOCK_SKEW_S + 1) * 1000)).toThrow(
      "viewer token is not valid yet",
    );
  });

  it("refuses a changed payload, another secret, alg none, another alg, and garbage", () => {
    const token = createViewerToken({
      tenant: "a",
      actor: { id: "1" },
      expiresIn: 60,
      secret: SECRET,
      now: NOW,
    });
    const [h, , s] = token.split(".") as [string, string, string];
    const claims = { sub: "1", tenant: "b", iat: NOW / 1000, exp: NOW / 1000 + 60 };
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    expect(() => verifyViewerToken(forged, SECRET, NOW)).toThrow("viewer token has a bad signature");
    expect(() => verifyViewerToken(token, "x".repeat(32), NOW)).toThrow("viewer token has a bad signature");
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;
    expect(() => verifyViewerToken(none, SECRET, NOW)).toThrow("viewer token is malformed");
    expect(() => verifyViewerToken(resign({ alg: "HS512", typ: "JWT" }, claims), SECRET, NOW)).toThrow(
      "unsupported header",
    );
    expect(() => verifyViewerToken(resign({ alg: "HS256", typ: "JWT" }, { sub: "1" }), SECRET, NOW)).toThrow(
      "viewer token has no expiry",
    );
    for (const garbage of ["", "a.b", "a.b.c.d", "é.é.é", "x".repeat(5000)])
      expect(() => verifyViewerToken(garbage, SECRET, NOW)).toThrow(
        /viewer token is malformed|unsupported header/,
      );
    try {
      verifyViewerToken(forged, SECRET, NOW);
    } catch (err) {
      expect((err as { code: string }).code).toBe("VIGIL_ERR_VIEWER_AUTH");
      expect(String(err)).not.toContain(forged);
    }
  });

  it("refuses bad minting options precisely", () => {
    const base = { actor: { id: "1" }, expiresIn: "1h", secret: SECRET };
    expect(() => createViewerToken({ ...base, secret: "short" })).toThrow("at least 32 bytes, found 5");
    expect(() => createViewerToken({ ...base, expiresIn: "forever" })).toThrow(
      'expiresIn must be a positive number of seconds or a duration like "15m"',
    );
    expect(() => createViewerToken({ ...base, expiresIn: "31d" })).toThrow("at most 30 days");
    expect(() => createViewerToken({ ...base, tenant: "a\nb" })).toThrow(
      "tenant must not contain control characters",
    );
    expect(() => createViewerToken({ ...base, scopes: ["admin" as "read"] })).toThrow(
      "scopes must be a list of read, export, verify",
    );
    expect(() => createViewerToken({ ...base, actor: {} })).toThrow("actor needs an id or a username");
  });
});
