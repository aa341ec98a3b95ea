/**
 * Viewer tokens: a compact, signed, expiring token bound to one tenant, minted by a host
 * application for a customer's viewer (SPEC §1). The format is a JWT (RFC 7519) with one
 * fixed algorithm, HS256 — three base64url parts, `header.payload.signature` — so standard
 * tools can read it, but verification accepts nothing else: the header must be exactly
 * `{"alg":"HS256","typ":"JWT"}` (no `alg: none`, no key confusion), the signature is
 * compared in constant time, and `exp` is required. Only `node:crypto` is used.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { ErrorCodes, VigilError } from "../errors.js";
import { tenantProblem } from "../event/tenant.js";
import type { Actor } from "../event/types.js";

/** What an admitted viewer request acts as. */
export interface ViewerIdentity {
  /** Who is looking; recorded on the viewer's own audit events. */
  readonly actor: Pick<Actor, "id" | "username"> & Partial<Actor>;
  /** When set, every read is confined to this tenant's events. */
  readonly tenant?: string;
  /** `read` (search, event, facets, histogram, tail), `export`, `verify`; absent = all three. */
  readonly scopes?: readonly ViewerScope[];
}

export const VIEWER_SCOPES = ["read", "export", "verify"] as const;
export type ViewerScope = (typeof VIEWER_SCOPES)[number];

/** Options of {@link createViewerToken}. */
export interface ViewerTokenOptions {
  /** The tenant the token is bound to; omit only for an operator's token that sees every tenant. */
  readonly tenant?: string;
  readonly actor: ViewerIdentity["actor"];
  /** Default: all scopes. */
  readonly scopes?: readonly ViewerScope[];
  /** Lifetime: seconds, or `"15m"`, `"2h"`, `"1d"` (`s`, `m`, `h`, `d`). Required; at most 30 days. */
  readonly expiresIn: number | string;
  /** The HMAC key, at least 32 bytes (a string's UTF-8 bytes or a Buffer). The same one goes to `auditViewer({ tokenSecret })`. */
  readonly secret: string | Uint8Array;
  /** @internal The current time in ms (tests). */
  readonly now?: number;
}

/** The shortest secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 32;
/** The longest lifetime a token may have. */
const MAX_LIFETIME_S = 30 * 86_400;
/** Clock difference tolerated between the minting and the verifying host. */
export const CLOCK_SKEW_S = 30;
/** Tokens longer than this are refused unread. */
const MAX_TOKEN_LENGTH = 4096;

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };
const BASE64URL = /^[A-Za-z0-9_-]+$/;

function invalid(message: string): VigilError {
  return new VigilError(ErrorCodes.INVALID_ARGUMENT, `createViewerToken: ${message}`);
}

function keyOf(secret: string | Uint8Array, where: string): Buffer {
  const key =
    typeof secret === "string"
      ? Buffer.from(secret, "utf8")
      : secret instanceof Uint8Array
        ? Buffer.from(secret)
        : undefined;
  if (key === undefined)
    throw new VigilError(ErrorCodes.INVALID_ARGUMENT, `${where}: the secret must be a string or bytes`);
  if (key.length < MIN_SECRET_BYTES)
    throw new VigilError(
      ErrorCodes.INVALID_ARGUMENT,
      `${where}: the secret must be at least ${MIN_SECRET_BYTES} bytes, found ${key.length} (generate one with: openssl rand -hex 32)`,
    );
  return key;
}

function lifetimeOf(expiresIn: unknown): number {
  let seconds: number | undefined;
  if (typeof expiresIn === "number" && Number.isFinite(expiresIn)) seconds = Math.floor(expiresIn);
  else if (typeof expiresIn === "string") {
    const m = /^(\d{1,7})([smhd])$/.exec(expiresIn.trim());
    if (m) seconds = Number(m[1]) * UNITS[m[2]!]!;
  }
  if (seconds === undefined || seconds <= 0 || seconds > MAX_LIFETIME_S)
    throw invalid(
      `expiresIn must be a positive number of seconds or a duration like "15m", "2h", "1d", at most 30 days; found ${JSON.stringify(expiresIn)}`,
    );
  return seconds;
}

function checkScopes(scopes: unknown, fail: (m: string) => VigilError): readonly ViewerScope[] | undefined {
  if (scopes === undefined) return undefined;
  if (!Array.isArray(scopes) || scopes.some((s) => !(VIEWER_SCOPES as readonly unknown[]).includes(s)))
    throw fail(`scopes must be a list of ${VIEWER_SCOPES.join(", ")}; found ${JSON.stringify(scopes)}`);
  return scopes as ViewerScope[];
}

function checkActor(actor: unknown, fail: (m: string) => VigilError): ViewerIdentity["actor"] {
  if (actor === null || typeof actor !== "object" || Array.isArray(actor))
    throw fail("actor must be an object like { id, username }");
  const a = actor as Record<string, unknown>;
  const out: { id?: string; username?: string } = {};
  for (const key of ["id", "username"] as const) {
    const v = a[key];
    if (v === undefined) continue;
    if (typeof v !== "string" || v.length === 0 || v.length > 256)
      throw fail(`actor.${key} must be a string of 1 to 256 characters`);
    out[key] = v;
  }
  if (out.id === undefined && out.username === undefined) throw fail("actor needs an id or a username");
  return out;
}

function sign(key: Buffer, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/**
 * Mint a viewer token: HS256 over `{ sub, name, tenant, scopes, iat, nbf, exp }`.
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for a short secret, a bad tenant,
 *   scopes or actor, or a missing or too long lifetime.
 * @example
 * const token = createViewerToken({ tenant: "acme", actor: { id: "42", username: "alice" },
 *   scopes: ["read", "export"], expiresIn: "1h", secret: process.env.VIEWER_SECRET! });
 */
export function createViewerToken(options: ViewerTokenOptions): string {
  if (options === null || typeof options !== "object") throw invalid("options must be an object");
  const key = keyOf(options.secret, "createViewerToken");
  const lifetime = lifetimeOf(options.expiresIn);
  if (options.tenant !== undefined) {
    const bad = tenantProblem(options.tenant);
    if (bad !== undefined) throw invalid(`tenant ${bad}`);
  }
  const scopes = checkScopes(options.scopes, invalid);
  const actor = checkActor(options.actor, invalid);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims = {
    ...(actor.id !== undefined ? { sub: actor.id } : {}),
    ...(actor.username !== undefined ? { name: actor.username } : {}),
    ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
    ...(scopes !== undefined ? { scopes } : {}),
    iat,
    nbf: iat,
    exp: iat + lifetime,
  };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${sign(key, body).toString("base64url")}`;
}

/** Why a token was refused: one line, safe to show (never the token itself). */
export class ViewerTokenError extends VigilError {
  constructor(message: string) {
    super(ErrorCodes.VIEWER_AUTH, message);
    this.name = "ViewerTokenError";
  }
}

/** A verifier for tokens signed with `secret`, compiled once. */
export function viewerTokenVerifier(
  secret: string | Uint8Array,
): (token: string, now?: number) => ViewerIdentity {
  const key = keyOf(secret, "auditViewer: tokenSecret");
  return (token, now = Date.now()) => {
    if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH)
      throw new ViewerTokenError("viewer token is malformed");
    const parts = token.split(".");
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)))
      throw new ViewerTokenError("viewer token is malformed");
    const [header, payload, signature] = parts as [string, string, string];
    if (header !== HEADER)
      throw new ViewerTokenError("viewer token has an unsupported header (only HS256 JWTs are accepted)");
    const expected = sign(key, `${header}.${payload}`);
    const given = Buffer.from(signature, "base64url");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new ViewerTokenError("viewer token has a bad signature");
    let claims: Record<string, unknown>;
    try {
      claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new ViewerTokenError("viewer token is malformed");
    }
    if (claims === null || typeof claims !== "object")
      throw new ViewerTokenError("viewer token is malformed");
    const nowS = now / 1000;
    const { exp, nbf, iat } = claims;
    if (typeof exp !== "number") throw new ViewerTokenError("viewer token has no expiry");
    if (nowS >= exp + CLOCK_SKEW_S) throw new ViewerTokenError("viewer token expired");
    if (typeof nbf === "number" && nowS < nbf - CLOCK_SKEW_S)
      throw new ViewerTokenError("viewer token is not valid yet");
    if (typeof iat === "number" && iat - CLOCK_SKEW_S > nowS)
      throw new ViewerTokenError("viewer token was issued in the future");
    const fail = (m: string) => new ViewerTokenError(`viewer token is invalid (${m})`);
    const tenant = claims.tenant;
    if (tenant !== undefined && tenantProblem(tenant) !== undefined) throw fail("bad tenant");
    const scopes = checkScopes(claims.scopes, fail);
    const actor = checkActor(
      {
        ...(claims.sub !== undefined ? { id: claims.sub } : {}),
        ...(claims.name !== undefined ? { username: claims.name } : {}),
      },
      fail,
    );
    return {
      actor,
      ...(typeof tenant === "string" ? { tenant } : {}),
      ...(scopes !== undefined ? { scopes } : {}),
    };
  };
}

/**
 * Verify a viewer token: its fixed header, its signature (constant-time), `exp` (required),
 * `nbf` and `iat`, each with {@link CLOCK_SKEW_S} seconds of tolerance. Returns the identity.
 *
 * @throws {ViewerTokenError} `VIGIL_ERR_VIEWER_AUTH` naming what is wrong (never echoing the token).
 */
export function verifyViewerToken(token: string, secret: string | Uint8Array, now?: number): ViewerIdentity {
  return viewerTokenVerifier(secret)(token, now);
}
