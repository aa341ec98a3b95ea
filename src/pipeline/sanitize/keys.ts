/**
 * Which key names hold secrets, for the `password` rule of SPEC §7.
 *
 * A key name is cut into **segments**: runs of ASCII letters and digits, split at every
 * other character (`_`, `-`, `.`, space, ...) and at camelCase boundaries (`userPassword`
 * → `user`, `password`; `APIKey` → `api`, `key`; `oauth2Token` → `oauth2`, `token`).
 * Segments are compared in lower case. The key is sensitive when
 *
 * 1. one segment is a {@link SENSITIVE_WORDS sensitive word} (`db_password`, `X-Auth-Token`,
 *    `set-cookie`, `passwordHash`), or
 * 2. two adjacent segments joined are one (`api_key`, `X-Api-Key`, `privateKey`,
 *    `client-secret`), or
 * 3. the whole name, lower case with separators removed, ends with a
 *    {@link SENSITIVE_SUFFIXES sensitive suffix} (`userpassword`, `dbpasswd`, `xapikey`).
 *
 * Whole words only: `author`, `authority`, `authored_by`, `tokens`, `max_tokens`,
 * `tokenizer`, `secretary`, `keyboard`, `passwordless` do **not** match. The rule errs on the
 * side of privacy for compound names that merely mention a secret (`token_count`,
 * `auth_method`, `password_changed_at` are redacted).
 *
 * @module
 */

/**
 * Segments (or two adjacent segments joined) that make a key sensitive: the names listed
 * in SPEC §7 plus their usual spellings.
 */
export const SENSITIVE_WORDS: ReadonlySet<string> = new Set([
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "accesstoken",
  "refreshtoken",
  "accesskey",
  "authorization",
  "auth",
  "cookie",
  "cookies",
  "setcookie",
  "privatekey",
  "clientsecret",
  "credential",
  "credentials",
]);

/** Endings of a separator-less, lower-case key name that make it sensitive (`dbpassword`). */
export const SENSITIVE_SUFFIXES: readonly string[] = [
  "password",
  "passwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "privatekey",
  "credentials",
];

const isUpper = (c: number): boolean => c >= 65 && c <= 90;
const isLower = (c: number): boolean => c >= 97 && c <= 122;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;

/**
 * Cuts a key name into lower-case segments (see the module header).
 *
 * @example keySegments("X-Api-Key") // ["x", "api", "key"]
 * @example keySegments("userPassword") // ["user", "password"]
 */
export function keySegments(name: string): string[] {
  const segments: string[] = [];
  let start = -1;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const upper = isUpper(c);
    if (!upper && !isLower(c) && !isDigit(c)) {
      if (start >= 0) segments.push(name.slice(start, i).toLowerCase());
      start = -1;
      continue;
    }
    if (start < 0) {
      start = i;
      continue;
    }
    if (upper) {
      const prev = name.charCodeAt(i - 1);
      // `userPassword`, `oauth2Token`: a capital after a lower-case letter or digit starts a word;
      // `APIKey`: the last capital of a run starts a word when a lower-case letter follows.
      if (isLower(prev) || isDigit(prev) || (isUpper(prev) && isLower(name.charCodeAt(i + 1)))) {
        segments.push(name.slice(start, i).toLowerCase());
        start = i;
      }
    }
  }
  if (start >= 0) segments.push(name.slice(start).toLowerCase());
  return segments;
}

/**
 * Whether a key name holds a secret under the `password` rule (see the module header for
 * the exact matching).
 *
 * @example isSensitiveKeyName("db_password") // true
 * @example isSensitiveKeyName("X-Api-Key") // true
 * @example isSensitiveKeyName("author") // false
 */
export function isSensitiveKeyName(name: string): boolean {
  const segments = keySegments(name);
  let previous = "";
  for (const segment of segments) {
    if (SENSITIVE_WORDS.has(segment) || (previous !== "" && SENSITIVE_WORDS.has(previous + segment))) {
      return true;
    }
    previous = segment;
  }
  const squashed = segments.join("");
  for (const suffix of SENSITIVE_SUFFIXES) {
    if (squashed.endsWith(suffix)) return true;
  }
  return false;
}
