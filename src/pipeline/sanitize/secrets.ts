/**
 * The `secrets` rule: well-known secret shapes inside any string, and random-looking values
 * under secret-like names. Anchored on the published rule sets of secret scanners (gitleaks,
 * trufflehog); the patterns here are written for this scanner, not copied.
 *
 * Three passes, each skipped when a string cannot hold what it looks for:
 *
 * 1. **Private key blocks** (`-----BEGIN … PRIVATE KEY-----` through the matching `-----END …`),
 *    only when the string holds a dash and `-----BEGIN`.
 * 2. **Assignments** (`NAME=value`, `"name": "value"`), only when the string holds `=` or `:`:
 *    the value after a name ending in `key`, `secret`, `token`, `password`, ..., `sig` is
 *    replaced when it has the shape of that secret (an AWS secret access key, an Azure
 *    account key, a SAS signature) or {@link looksRandom looks random}.
 * 3. **Tokens with a known prefix** (`eyJ…` JWTs, `AKIA…`, `ghp_…`, `xoxb-…`, `sk_live_…`, ...):
 *    one loop over the string visits each word start (a letter or digit after anything else)
 *    and, for the few first letters a prefix can begin with, compares the next characters
 *    before trying that prefix's sticky regular expression at that one position.
 *
 * Linear time: every loop advances; each regular expression is sticky (tried at one
 * position), made of character classes that cannot overlap their neighbours, and bounded.
 * A value or token is read at most a fixed number of times.
 *
 * @module
 */
import { keySegments } from "./keys.js";
import { finish, forEachAssignment } from "./text-scan.js";

/** Local, not imported: see the note beside `rules.ts`'s predicates. */
const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** What a redaction says it removed: `[REDACTED:<kind>]`. */
export type SecretKind =
  | "private_key"
  | "jwt"
  | "aws_access_key"
  | "aws_secret_key"
  | "gcp_api_key"
  | "google_oauth"
  | "azure_key"
  | "azure_sas"
  | "github_token"
  | "gitlab_token"
  | "slack_token"
  | "slack_webhook"
  | "discord_webhook"
  | "stripe_key"
  | "npm_token"
  | "pypi_token"
  | "openai_key"
  | "anthropic_key"
  | "sendgrid_key"
  | "twilio_key"
  | "digitalocean_token"
  | "huggingface_token"
  | "shopify_token"
  | "newrelic_key"
  | "age_key"
  | "high_entropy";

/** The text that replaces a secret of each kind. */
export type SecretReplacement = (kind: SecretKind) => string;

/**
 * The replacement for each kind: a bracketed `replacement` gets the kind inside
 * (`[REDACTED]` → `[REDACTED:jwt]`); any other (`***`, empty) is used as written.
 *
 * @example secretReplacement("[REDACTED]")("jwt") // "[REDACTED:jwt]"
 * @example secretReplacement("***")("jwt") // "***"
 */
export function secretReplacement(replacement: string): SecretReplacement {
  const bracketed = /^\[[^\]]*\]$/.test(replacement);
  const cache = new Map<SecretKind, string>();
  return (kind) => {
    let text = cache.get(kind);
    if (text === undefined) {
      text = bracketed ? `${replacement.slice(0, -1)}:${kind}]` : replacement;
      cache.set(kind, text);
    }
    return text;
  };
}

// ---------------------------------------------------------------------------------------------
// random-looking values

/** Characters a token value is made of: base64 (std and url), hex, `.`, `~`, `%` (url-encoded). */
function isTokenChar(c: number): boolean {
  return (
    isAlnum(c) ||
    c === 43 ||
    c === 47 ||
    c === 61 ||
    c === 95 ||
    c === 45 ||
    c === 46 ||
    c === 126 ||
    c === 37
  );
}

/** Shannon entropy of `s` in bits per character (ASCII only; callers check the charset). */
export function shannonEntropy(s: string): number {
  const counts = new Uint16Array(128);
  for (let i = 0; i < s.length; i++) counts[s.charCodeAt(i) & 127]!++;
  let h = 0;
  const n = s.length;
  for (let c = 0; c < 128; c++) {
    const k = counts[c]!;
    if (k === 0) continue;
    const p = k / n;
    h -= p * Math.log2(p);
  }
  return h;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A path: starts with a lower-case directory (`/srv/…`, `./src/…`), or ends with `/name.ext`. */
const PATH_LIKE = /^\.{0,2}\/[a-z][a-z0-9_-]*\/|\/[^/]*\.[A-Za-z][A-Za-z0-9]{0,4}$/;

/** Shortest value {@link looksRandom} considers. */
export const MIN_RANDOM_LENGTH = 20;
/** Longest value {@link looksRandom} considers (longer keys are PEM blocks or binary blobs). */
const MAX_RANDOM_LENGTH = 1024;

/**
 * Whether `v` looks like a randomly generated secret rather than an identifier, word, path or
 * date. All of:
 *
 * - 20 to 1024 characters, only base64/hex/url-safe characters (no blanks, `:`, `@`, quotes);
 * - not a UUID, not a path (`/…`, `./…`, `…/name.ext`);
 * - at least two of upper case, lower case and digits;
 * - hex in one case (hashes, hex keys): Shannon entropy of at least 2.8 bits per character
 *   (random 20-digit hex scores 2.91 at its 1st percentile);
 * - otherwise: not a UUID or a path (`/…`, `./…`, `…/name.ext`); a run of at least 16
 *   characters without `_ - . ~ %` (identifiers such as `user_profile_settings_v2` are words
 *   joined by separators); not word-like (over a third of the letters vowels and the character
 *   class changing at fewer than 45% of neighbours, as in `CustomerOrdersByRegion2024`; random
 *   base62 has a fifth vowels and changes class at about 60%); and an entropy of at least 3.5
 *   bits per character (gitleaks' generic rule uses 3.5; random 20-character base62 scores
 *   3.65 at its 1st percentile).
 *
 * @example looksRandom("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") // true
 * @example looksRandom("user_profile_settings_v2") // false
 */
export function looksRandom(v: string): boolean {
  const n = v.length;
  if (n < MIN_RANDOM_LENGTH || n > MAX_RANDOM_LENGTH) return false;
  let upper = 0;
  let lower = 0;
  let digits = 0;
  let hexLetters = 0;
  let changes = 0;
  let vowels = 0;
  let previous = -1;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (!isTokenChar(c)) return false;
    let cls: number;
    if (c >= 48 && c <= 57) {
      digits++;
      cls = 0;
    } else if (c >= 65 && c <= 90) {
      upper++;
      if (c <= 70) hexLetters++;
      if (c === 65 || c === 69 || c === 73 || c === 79 || c === 85) vowels++;
      cls = 1;
    } else if (c >= 97 && c <= 122) {
      lower++;
      if (c <= 102) hexLetters++;
      if (c === 97 || c === 101 || c === 105 || c === 111 || c === 117) vowels++;
      cls = 2;
    } else cls = 3;
    if (previous >= 0 && cls !== previous) changes++;
    previous = cls;
  }
  if ((upper > 0 ? 1 : 0) + (lower > 0 ? 1 : 0) + (digits > 0 ? 1 : 0) < 2) return false;
  if (digits + hexLetters === n && (upper === 0 || lower === 0)) return shannonEntropy(v) >= 2.8;
  if (UUID.test(v) || PATH_LIKE.test(v)) return false;
  // Words: over a third of the letters vowels, and few changes of class (once or twice per word).
  if (vowels >= 0.35 * (upper + lower) && changes < 0.45 * (n - 1)) return false;
  return shannonEntropy(v) >= 3.5;
}

/**
 * Key-name segments that make a value worth the {@link looksRandom} check when the key is
 * not already redacted whole: `signing_key`, `AccountKey`, `sig`, `client_secret`, ...
 */
const SECRET_LIKE_SEGMENTS: ReadonlySet<string> = new Set([
  "key",
  "keys",
  "secret",
  "secrets",
  "token",
  "tokens",
  "credential",
  "credentials",
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "pass",
  "apikey",
  "privkey",
  "private",
  "auth",
  "sig",
  "dsn",
]);

/**
 * Whether values under this key name get the {@link looksRandom} check (`signing_key`,
 * `AccountKey`, `webhook_secret`, `sig`). Whole segments only (see `keySegments`):
 * `keyboard`, `monkey`, `signal` do not match.
 *
 * @example isSecretLikeKeyName("encryption_key") // true
 * @example isSecretLikeKeyName("keyboard_layout") // false
 */
export function isSecretLikeKeyName(name: string): boolean {
  for (const segment of keySegments(name)) if (SECRET_LIKE_SEGMENTS.has(segment)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// 1. private key blocks

const BEGIN = "-----BEGIN ";
/** The rest of a private key header after `-----BEGIN `: the key's type and the closing dashes. */
const PRIVATE_HEADER =
  /(?:(?:RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED|SSH2 ENCRYPTED) )?PRIVATE KEY(?: BLOCK)?-----/y;
/** Characters of a key body: base64, blanks, line breaks, `\n` escapes, and `Proc-Type: 4,ENCRYPTED`-style headers. */
function isBodyChar(c: number): boolean {
  return (
    isAlnum(c) ||
    c === 43 ||
    c === 47 ||
    c === 61 ||
    c === 32 ||
    c === 9 ||
    c === 10 ||
    c === 13 ||
    c === 92 ||
    c === 58 ||
    c === 44 ||
    c === 45
  );
}

/** After a header: line breaks (or `\n` escapes), then 16+ base64 characters or a `Name: value` header line. */
const BODY_START = /(?:[ \t\r\n]|\\[rn])*(?:[A-Za-z0-9+/=]{16}|[A-Za-z-]{1,30}: )/y;

/**
 * Replaces private key blocks whole, header to footer: `-----BEGIN RSA PRIVATE KEY-----` …
 * `-----END RSA PRIVATE KEY-----`, also with `\n` escapes (a key inside JSON or an env
 * variable). A block cut before its footer is replaced through the end of its body; a header
 * with no body (`expected -----BEGIN PRIVATE KEY-----)`) is left alone.
 */
function redactPrivateKeys(s: string, replace: SecretReplacement): string {
  let parts: string[] | undefined;
  let copied = 0;
  let nextEnd = -2; // -2: not looked yet; -1: none left
  for (let b = s.indexOf(BEGIN); b >= 0; b = s.indexOf(BEGIN, b + 1)) {
    if (b < copied) continue;
    PRIVATE_HEADER.lastIndex = b + BEGIN.length;
    if (!PRIVATE_HEADER.test(s)) continue;
    const bodyStart = PRIVATE_HEADER.lastIndex;
    let end: number;
    if (nextEnd !== -1 && nextEnd < bodyStart) nextEnd = s.indexOf("-----END ", bodyStart);
    if (nextEnd >= 0) {
      const close = s.indexOf("-----", nextEnd + 9);
      end = close < 0 ? s.length : close + 5;
    } else {
      BODY_START.lastIndex = bodyStart;
      if (!BODY_START.test(s)) continue;
      let j = BODY_START.lastIndex;
      while (j < s.length && isBodyChar(s.charCodeAt(j))) j++;
      end = j;
    }
    parts ??= [];
    parts.push(s.slice(copied, b), replace("private_key"));
    copied = end;
  }
  return finish(s, parts, copied);
}

// ---------------------------------------------------------------------------------------------
// 2. assignments: NAME=value, "name": "value"

/** Name endings (lower case, separators removed) after which a value is checked. */
const ASSIGNED_SUFFIXES: readonly string[] = [
  "key",
  "keys",
  "secret",
  "token",
  "credential",
  "credentials",
  "password",
  "passwd",
  "pwd",
  "passphrase",
];
const isNameChar = (c: number): boolean => isAlnum(c) || c === 95 || c === 45 || c === 46;
/** At most this many characters of a name are read back from its separator. */
const MAX_NAME = 64;

/** What a value assigned to `name` (lower case, separators removed) is, or `undefined`. */
function assignedSecret(name: string, value: string): SecretKind | undefined {
  if (name === "sig") return value.length >= 20 ? "azure_sas" : undefined;
  if (name.endsWith("accountkey") || name.endsWith("sharedaccesskey")) {
    return value.length >= 20 && /^[A-Za-z0-9+/]+={0,2}$/.test(value) ? "azure_key" : undefined;
  }
  let suffix = false;
  for (const s of ASSIGNED_SUFFIXES) {
    if (name.endsWith(s)) {
      suffix = true;
      break;
    }
  }
  if (!suffix) return undefined;
  if (name.includes("secret") && value.length === 40 && /^[A-Za-z0-9/+]{40}$/.test(value)) {
    return "aws_secret_key";
  }
  return looksRandom(value) ? "high_entropy" : undefined;
}

/**
 * Replaces values assigned to secret-like names (see {@link ASSIGNED_SUFFIXES}) when they
 * have a secret's shape: `AWS_SECRET_ACCESS_KEY=wJalr…`, `AccountKey=…;`, `&sig=…`,
 * `"signing_key": "9f8c…"`. The name is read back from the `=` or `:` (up to 8 blanks and a
 * quote, optionally escaped, in between); the value is a run of token characters after an
 * optional quote.
 */
function redactAssignments(s: string, replace: SecretReplacement): string {
  const n = s.length;
  let parts: string[] | undefined;
  let copied = 0;
  forEachAssignment(s, (_separator, nameLast, _quoted, valueStart) => {
    const nameEnd = nameLast + 1;
    if (nameEnd === 0) return undefined;
    const last = s.charCodeAt(nameLast) | 0x20;
    // Names end in y (key), s (keys, credentials), t (secret), n (token), l (credential),
    // d (password, passwd, pwd), e (passphrase) or g (sig).
    if (
      last !== 121 &&
      last !== 115 &&
      last !== 116 &&
      last !== 110 &&
      last !== 108 &&
      last !== 100 &&
      last !== 101 &&
      last !== 103
    )
      return undefined;
    // The value: an optional quote (optionally escaped), then token characters.
    let p = valueStart;
    if (s.charCodeAt(p) === 92) p++;
    const open = s.charCodeAt(p);
    if (open === 34 || open === 39) p++;
    let j = p;
    while (j < n && j - p <= MAX_RANDOM_LENGTH && isTokenChar(s.charCodeAt(j))) j++;
    // A trailing `.` ends the sentence, not the value.
    while (j > p && s.charCodeAt(j - 1) === 46) j--;
    if (j - p < MIN_RANDOM_LENGTH) return undefined;
    let b = nameLast;
    while (b >= 0 && nameEnd - b <= MAX_NAME && isNameChar(s.charCodeAt(b))) b--;
    // a value is judged once, as a whole: scanning resumes after it
    if (b + 1 === nameEnd || nameEnd - b > MAX_NAME) return j;
    const name = s
      .slice(b + 1, nameEnd)
      .toLowerCase()
      .replace(/[_.-]/g, "");
    const kind = assignedSecret(name, s.slice(p, j));
    if (kind === undefined) return j;
    parts ??= [];
    parts.push(s.slice(copied, p), replace(kind));
    copied = j;
    return j;
  });
  return finish(s, parts, copied);
}

// ---------------------------------------------------------------------------------------------
// 3. tokens with a known prefix

/** One token shape: tried at a word start whose first two characters are `prefix`'s. */
interface Prefixed {
  readonly kind: SecretKind;
  /** The literal the token starts with. */
  readonly prefix: string;
  /** `prefix.charCodeAt(1)`, set below. */
  second?: number;
  /** Sticky; tried at the word start. Group 1, when present, is the part replaced (the rest is kept). */
  readonly re: RegExp;
  /** Extra check on the whole match. */
  readonly check?: (match: string) => boolean;
}

/** Not followed by another letter or digit. */
const END = "(?![A-Za-z0-9])";
const B64URL = "[A-Za-z0-9_-]";

/**
 * The prefixed shapes (gitleaks rule ids in brackets where one exists). Synthetic samples of
 * each are in `test/fixtures/secrets/positives.txt`.
 */
const PREFIXED: readonly Prefixed[] = [
  // JWT / JWS / JWE: a base64url JSON header `{"…` is `eyJ…`, then 2 to 4 more segments. [jwt]
  {
    kind: "jwt",
    prefix: "eyJ",
    re: new RegExp(`eyJ${B64URL}{10,}(?:\\.${B64URL}*){2,4}`, "y"),
    check: jwtSegments,
  },
  // AWS access key ids: AKIA (long-term), ASIA (STS), ABIA, ACCA + 16 base32. [aws-access-token]
  { kind: "aws_access_key", prefix: "AKIA", re: new RegExp(`AKIA[A-Z2-7]{16}${END}`, "y") },
  { kind: "aws_access_key", prefix: "ASIA", re: new RegExp(`ASIA[A-Z2-7]{16}${END}`, "y") },
  { kind: "aws_access_key", prefix: "ABIA", re: new RegExp(`ABIA[A-Z2-7]{16}${END}`, "y") },
  { kind: "aws_access_key", prefix: "ACCA", re: new RegExp(`ACCA[A-Z2-7]{16}${END}`, "y") },
  // Google API key. [gcp-api-key]
  { kind: "gcp_api_key", prefix: "AIza", re: new RegExp(`AIza[A-Za-z0-9_-]{35}${END}`, "y") },
  // age secret key (bech32).
  {
    kind: "age_key",
    prefix: "AGE-SECRET-KEY-1",
    re: /AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/y,
  },
  // GitHub: personal, OAuth, user-to-server, server-to-server, refresh; fine-grained PAT. [github-*]
  { kind: "github_token", prefix: "ghp_", re: new RegExp(`ghp_[A-Za-z0-9]{36,251}${END}`, "y") },
  { kind: "github_token", prefix: "gho_", re: new RegExp(`gho_[A-Za-z0-9]{36,251}${END}`, "y") },
  { kind: "github_token", prefix: "ghu_", re: new RegExp(`ghu_[A-Za-z0-9]{36,251}${END}`, "y") },
  { kind: "github_token", prefix: "ghs_", re: new RegExp(`ghs_[A-Za-z0-9]{36,251}${END}`, "y") },
  { kind: "github_token", prefix: "ghr_", re: new RegExp(`ghr_[A-Za-z0-9]{36,251}${END}`, "y") },
  {
    kind: "github_token",
    prefix: "github_pat_",
    re: new RegExp(`github_pat_[A-Za-z0-9_]{22,244}${END}`, "y"),
  },
  // GitLab personal, runner and deploy tokens. [gitlab-pat, gitlab-rrt, gitlab-deploy-token]
  { kind: "gitlab_token", prefix: "glpat-", re: new RegExp(`glpat-${B64URL}{20,}`, "y") },
  { kind: "gitlab_token", prefix: "glrt-", re: new RegExp(`glrt-${B64URL}{20,}`, "y") },
  { kind: "gitlab_token", prefix: "gldt-", re: new RegExp(`gldt-${B64URL}{20,}`, "y") },
  // Slack bot, user, app-level, refresh and configuration tokens. [slack-*-token]
  { kind: "slack_token", prefix: "xox", re: /xox[abeoprs](?:\.xox[abeoprs])?-[A-Za-z0-9-]{10,}/y },
  { kind: "slack_token", prefix: "xapp-", re: /xapp-[0-9]-[A-Za-z0-9-]{20,}/y },
  // Slack and Discord webhooks: the host and path are kept, the secret path is replaced. [slack-webhook-url]
  {
    kind: "slack_webhook",
    prefix: "hooks.slack.com/",
    re: /hooks\.slack\.com\/(?:services|workflows|triggers)\/([A-Za-z0-9_/+-]{20,})/y,
  },
  {
    kind: "discord_webhook",
    prefix: "discord",
    re: /discord(?:app)?\.com\/api\/webhooks\/([0-9]{5,30}\/[A-Za-z0-9_-]{30,})/y,
  },
  // Stripe secret and restricted keys, webhook signing secrets. [stripe-access-token]
  { kind: "stripe_key", prefix: "sk_", re: /sk_(?:live|test|prod)_[A-Za-z0-9]{10,247}/y },
  { kind: "stripe_key", prefix: "rk_", re: /rk_(?:live|test|prod)_[A-Za-z0-9]{10,247}/y },
  { kind: "stripe_key", prefix: "whsec_", re: /whsec_[A-Za-z0-9+/]{24,}/y },
  // npm and PyPI upload tokens. [npm-access-token, pypi-upload-token]
  { kind: "npm_token", prefix: "npm_", re: new RegExp(`npm_[A-Za-z0-9]{36}${END}`, "y") },
  { kind: "pypi_token", prefix: "pypi-", re: new RegExp(`pypi-AgEIcHlwaS5vcmc${B64URL}{50,}`, "y") },
  // Anthropic before OpenAI: both start `sk-`. [anthropic-api-key, openai-api-key]
  {
    kind: "anthropic_key",
    prefix: "sk-ant-",
    re: new RegExp(`sk-ant-(?:api|admin)[0-9]{2}-${B64URL}{32,}`, "y"),
  },
  {
    kind: "openai_key",
    prefix: "sk-",
    re: new RegExp(`sk-(?:proj-|svcacct-|admin-)?${B64URL}{20,}`, "y"),
    check: openAiShape,
  },
  // SendGrid. [sendgrid-api-token]
  { kind: "sendgrid_key", prefix: "SG.", re: new RegExp(`SG\\.${B64URL}{16,32}\\.${B64URL}{40,50}`, "y") },
  // Twilio API key SID (`SK` + 32 hex). [twilio-api-key]
  { kind: "twilio_key", prefix: "SK", re: new RegExp(`SK[0-9a-fA-F]{32}${END}`, "y") },
  // Google OAuth access tokens, client secrets, refresh tokens. [gcp-*]
  { kind: "google_oauth", prefix: "ya29.", re: new RegExp(`ya29\\.${B64URL}{20,}`, "y") },
  { kind: "google_oauth", prefix: "GOCSPX-", re: new RegExp(`GOCSPX-${B64URL}{24,}`, "y") },
  { kind: "google_oauth", prefix: "1//0", re: new RegExp(`1//0${B64URL}{30,}`, "y") },
  // DigitalOcean personal, OAuth and refresh tokens. [digitalocean-*]
  { kind: "digitalocean_token", prefix: "do", re: new RegExp(`do[opr]_v1_[a-f0-9]{64}${END}`, "y") },
  // Hugging Face. [huggingface-access-token]
  { kind: "huggingface_token", prefix: "hf_", re: new RegExp(`hf_[A-Za-z0-9]{34,40}${END}`, "y") },
  // Shopify access tokens and shared secrets. [shopify-*]
  { kind: "shopify_token", prefix: "shp", re: new RegExp(`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}${END}`, "y") },
  // New Relic user API key. [new-relic-user-api-key]
  { kind: "newrelic_key", prefix: "NRAK-", re: new RegExp(`NRAK-[A-Z0-9]{27}${END}`, "y") },
];

/**
 * A JWS has a payload (`eyJ….e30.` is unsigned but still a token; `eyJ…..` is not); a JWE has
 * five segments, its second (the encrypted key) empty with direct encryption.
 */
function jwtSegments(match: string): boolean {
  const dot = match.indexOf(".");
  const second = match.indexOf(".", dot + 1);
  if (second - dot > 2) return true;
  const third = match.indexOf(".", second + 1);
  return third > 0 && match.indexOf(".", third + 1) > 0;
}

/** `sk-` keys: the legacy marker `T3BlbkFJ`, or a long body mixing letters and digits. */
function openAiShape(match: string): boolean {
  if (match.includes("T3BlbkFJ")) return true;
  const body = match.replace(/^sk-(?:proj-|svcacct-|admin-)?/, "");
  return body.length >= 32 && /[0-9]/.test(body) && /[A-Za-z]/.test(body);
}

/** The prefixed shapes by their first character code (all ASCII): a dense array, so a lookup is an index. */
const BY_FIRST: (readonly Prefixed[] | null)[] = new Array<readonly Prefixed[] | null>(128).fill(null);
for (const p of PREFIXED) {
  p.second = p.prefix.charCodeAt(1);
  const c = p.prefix.charCodeAt(0);
  BY_FIRST[c] = [...(BY_FIRST[c] ?? []), p];
}

/**
 * Replaces tokens with a known prefix (see {@link PREFIXED}). A token starts a word: its
 * first character follows anything but a letter or a digit.
 */
function redactPrefixed(s: string, replace: SecretReplacement): string {
  const n = s.length;
  let parts: string[] | undefined;
  let copied = 0;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c)) {
      i++;
      continue;
    }
    const end = c < 128 ? prefixedAt(s, i, BY_FIRST[c]!) : -1;
    if (end >= 0) {
      parts ??= [];
      parts.push(s.slice(copied, matchStart), replace(matchKind));
      copied = end;
      i = end;
    } else i++;
    // The rest of the word cannot start a token.
    while (i < n && isAlnum(s.charCodeAt(i))) i++;
  }
  return finish(s, parts, copied);
}

/** Where the last {@link prefixedAt} match's replaced part starts, and its kind. */
let matchStart = 0;
let matchKind: SecretKind = "jwt";

/** The end of the prefixed token starting at `i` (setting {@link matchStart}, {@link matchKind}), or -1. */
function prefixedAt(s: string, i: number, candidates: readonly Prefixed[] | null): number {
  if (candidates === null) return -1;
  const second = s.charCodeAt(i + 1);
  for (const p of candidates) {
    if (p.second !== second || !s.startsWith(p.prefix, i)) continue;
    p.re.lastIndex = i;
    const m = p.re.exec(s);
    if (m === null || (p.check !== undefined && !p.check(m[0]))) continue;
    const end = i + m[0].length;
    matchStart = m[1] === undefined ? i : end - m[1].length;
    matchKind = p.kind;
    return end;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// the rule

/**
 * Compiles the `secrets` rule: `(s, hasSeparator, hasDash, hasLongToken) => s'`, `s` itself
 * when nothing matched. The flags come from the caller's one scan of `s`: `=`/`:` present, `-`
 * present, a run of 20+ letters, digits and `- _ . / +` present (no prefixed token without one).
 *
 * @example compileSecretRule("[REDACTED]")("note: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLWhlcmU", true, false, true)
 * // "note: [REDACTED:jwt]"
 */
export function compileSecretRule(
  replacement: string,
): (s: string, hasSeparator: boolean, hasDash: boolean, hasLongToken: boolean) => string {
  const replace = secretReplacement(replacement);
  return (s, hasSeparator, hasDash, hasLongToken) => {
    if (s.length < MIN_RANDOM_LENGTH) return s;
    let out = s;
    if (hasDash && out.indexOf(BEGIN) >= 0) out = redactPrivateKeys(out, replace);
    if (hasSeparator) out = redactAssignments(out, replace);
    return hasLongToken ? redactPrefixed(out, replace) : out;
  };
}

/**
 * The check for a string value under a {@link isSecretLikeKeyName secret-like key}: the
 * replacement when it {@link looksRandom looks random}, else `undefined`.
 */
export function compileSecretValueCheck(replacement: string): (value: string) => string | undefined {
  const text = secretReplacement(replacement)("high_entropy");
  return (value) => (looksRandom(value) ? text : undefined);
}
