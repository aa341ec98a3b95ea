/**
 * TrafficTracer's authentication (`api/authentication_secure.py` in the seed, hook
 * point 3). `login` is wrapped with vigil's `audited`: every attempt records one
 * `AUTHENTICATION` / `LOGIN` security event — SUCCESS, or FAILURE with the error's type
 * and message when the credentials are wrong. The password is never recorded: the
 * wrapper captures no arguments, the actor is built from the username only, and the
 * error message does not contain it.
 *
 * Passwords are stored as salted scrypt hashes and compared in constant time; an
 * unknown user costs the same hashing work as a wrong password.
 *
 * @example
 * const users = new UserDirectory();
 * await users.addUser("yannick.verrydt", "correct horse battery staple", { roles: ["analyst"] });
 * const login = createLogin(users);
 * const session = await login("yannick.verrydt", "correct horse battery staple");
 * await login("yannick.verrydt", "guess").catch((e) => e.name); // "AuthenticationError"
 *
 * @module
 */
import { randomBytes, randomUUID, type ScryptOptions, scrypt, timingSafeEqual } from "node:crypto";
import { audited, currentScope } from "vigil-audit";

/** Thrown by a failed login. Its message never names the password. */
export class AuthenticationError extends Error {
  override readonly name = "AuthenticationError";
}

/** An authenticated TrafficTracer user. */
export interface User {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly string[];
}

/** What a successful login returns (the seed's `create_session(user)`). */
export interface Session {
  /** An opaque bearer token. */
  readonly token: string;
  readonly user: User;
  /** ISO 8601 expiry time. */
  readonly expires_at: string;
}

/** A login function: resolves a session, rejects with {@link AuthenticationError}. */
export type LoginFunction = (username: string, password: string) => Promise<Session>;

const KEY_LENGTH = 32;
const SCRYPT: ScryptOptions = { N: 16_384, r: 8, p: 1 };
/** Default session lifetime: 8 hours. */
export const SESSION_TTL_MS = 8 * 3_600_000;

function hash(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, KEY_LENGTH, SCRYPT, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

interface Credentials {
  readonly user: User;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** TrafficTracer's users and their password hashes, in memory. */
export class UserDirectory {
  readonly #users = new Map<string, Credentials>();
  /** Hashed against when the user is unknown, so that both failures take as long. */
  readonly #decoy = { salt: randomBytes(16), hash: Buffer.alloc(KEY_LENGTH) };

  /**
   * Add (or replace) a user.
   *
   * @param options.roles - default none; options.id - default a random UUID.
   */
  async addUser(
    username: string,
    password: string,
    options: { readonly roles?: readonly string[]; readonly id?: string } = {},
  ): Promise<User> {
    if (username.trim() === "") throw new TypeError("addUser: username must not be empty");
    if (password.length < 8)
      throw new TypeError(`addUser: the password of ${username} must have at least 8 characters`);
    const salt = randomBytes(16);
    const user: User = { id: options.id ?? randomUUID(), username, roles: [...(options.roles ?? [])] };
    this.#users.set(username, { user, salt, hash: await hash(password, salt) });
    return user;
  }

  /**
   * The user whose password this is (the seed's `authenticate(username, password)`).
   *
   * @throws AuthenticationError `invalid username or password` — the same for an unknown
   *   user and a wrong password, so the answer reveals neither.
   */
  async authenticate(username: string, password: string): Promise<User> {
    const entry = this.#users.get(username);
    const expected = entry ?? this.#decoy;
    const actual = await hash(typeof password === "string" ? password : "", expected.salt);
    if (entry === undefined || !timingSafeEqual(actual, expected.hash)) {
      throw new AuthenticationError("invalid username or password");
    }
    return entry.user;
  }
}

/** A new session for `user`, valid for `ttlMs` (default {@link SESSION_TTL_MS}). */
export function createSession(user: User, ttlMs: number = SESSION_TTL_MS): Session {
  return {
    token: randomBytes(32).toString("base64url"),
    user,
    expires_at: new Date(Date.now() + ttlMs).toISOString(),
  };
}

/**
 * The sessions handed out by login, by token, until they expire: what the API looks a
 * bearer token or the session cookie up in (the audit viewer's `authorize` does).
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();

  remember(session: Session): void {
    this.#sessions.set(session.token, session);
  }

  /** The live session of `token`, or undefined (unknown or expired; an expired one is forgotten). */
  lookup(token: string | undefined): Session | undefined {
    if (token === undefined) return undefined;
    const session = this.#sessions.get(token);
    if (session === undefined) return undefined;
    if (Date.parse(session.expires_at) <= Date.now()) {
      this.#sessions.delete(token);
      return undefined;
    }
    return session;
  }
}

/**
 * TrafficTracer's `login(username, password)` over `users`, audited as the seed's hook
 * point 3 asks: `LOGIN` / `AUTHENTICATION`, a security event, exceptions captured. The
 * event's actor is the request's (client ip, user agent, from the HTTP middleware's
 * scope) with the username attempted — also on failure, so failed attempts can be
 * counted per account.
 *
 * @example
 * const login = createLogin(users);
 * app.post("/api/v1/auth/login", async (req, res) => res.json(await login(req.body.username, req.body.password)));
 */
export function createLogin(users: UserDirectory, sessions?: SessionStore): LoginFunction {
  return audited(
    {
      actionType: "LOGIN",
      category: "AUTHENTICATION",
      captureExceptions: true,
      securityEvent: true,
      actor: (username) => ({ ...currentScope()?.actor, username: String(username) }),
    },
    async function login(username: string, password: string): Promise<Session> {
      const user = await users.authenticate(username, password);
      const session = createSession(user);
      sessions?.remember(session);
      return session;
    },
  );
}
