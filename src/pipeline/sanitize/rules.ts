/**
 * The redaction rules that work inside strings (SPEC §7), compiled once into one function
 * `(s) => s'` that returns `s` itself when nothing matched.
 *
 * Speed: {@link compileTextRules} scans each string once for the few characters the rules
 * hinge on (digit runs, `=`/`:`, `@`, `-`, blanks) and runs only the rules that can match. The
 * frequent rules (credentials, cards, SSNs, emails) are hand-written scanners rather than
 * regular expressions: each visits every character a bounded number of times, so they are
 * linear by construction, and on short strings they cost a few tens of nanoseconds.
 *
 * The two rare shapes (`Bearer`/`Basic` credentials, URL userinfo) use regular expressions
 * that are linear too: no unbounded repetition of a group (V8 keeps one backtrack entry per
 * repetition and would overflow on a 10 MB string), no adjacent quantifiers that can match
 * the same characters, and a look-behind at the start of open-ended ones so that a match can
 * only begin where a run of candidate characters begins. Custom regexes are the user's: they
 * run as given.
 *
 * @module
 */

import { compileSecretRule } from "./secrets.js";
import { finish, forEachAssignment } from "./text-scan.js";

/** A string rule: returns its input unchanged (the same string) when nothing matched. */

// Per-character predicates stay local to each scanner's module: called through an import, they
// cost a getter call each time when modules are loaded one by one (tsx, vitest) rather than bundled.
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
export type StringRule = (s: string) => string;

/** Bits of {@link scanFacts}: what a string holds that some rule needs. */
const HAS_SEPARATOR = 1;
const HAS_AT = 2;
const HAS_DASH = 4;
const HAS_BLANK = 8;
/** A `B` or `b`: `Bearer`/`Basic` are possible. */
const HAS_B = 16;
/** A run of {@link LONG_TOKEN}+ token characters (letters, digits, `- _ . / +`): a prefixed secret is possible. */
const HAS_LONG_TOKEN = 32;
/** The shortest token the `secrets` rule's prefixed shapes match (`AKIA` + 16). */
const LONG_TOKEN = 20;
/** The longest run of digits (joined by single spaces or dashes) sits above the flag bits. */
const DIGIT_SHIFT = 6;

// ---------------------------------------------------------------------------------------------
// password: `password=...`, `"token": "..."`, `Bearer <token>`, `Basic <b64>`, URL userinfo

/**
 * Names whose value, after `=` or `:`, is a credential. A name matches when the word before the
 * separator **ends** with it (`db_password=`, `mytoken:`), so `author: x`, `tokens=5` and
 * `password is wrong` are left alone.
 */
export const CREDENTIAL_NAMES: readonly string[] = [
  "password",
  "passwd",
  "pwd",
  "passphrase",
  "secret",
  "token",
  "apikey",
  "api_key",
  "api-key",
  "privatekey",
  "private_key",
  "private-key",
  "authorization",
  "auth",
  "credential",
  "credentials",
  "cookie",
];
/** A node of the reversed-name trie: children by lower-case character code. */
interface TrieNode {
  readonly next: (TrieNode | undefined)[];
  name?: string;
}

/** {@link CREDENTIAL_NAMES} spelled backwards in a trie, so a name ending at an index is found in a few steps. */
const REVERSED_NAMES: TrieNode = { next: [] };
for (const name of CREDENTIAL_NAMES) {
  let node = REVERSED_NAMES;
  for (let i = name.length - 1; i >= 0; i--) {
    const c = name.charCodeAt(i);
    node = node.next[c] ??= { next: [] };
  }
  node.name = name;
}

/** The credential name ending at index `end` (inclusive), case-insensitively, or `undefined`. */
function credentialNameEndingAt(s: string, end: number): string | undefined {
  let node: TrieNode | undefined = REVERSED_NAMES;
  for (let i = end; i >= 0; i--) {
    let c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 0x20;
    node = node.next[c];
    if (node === undefined) return undefined;
    if (node.name !== undefined) return node.name;
  }
  return undefined;
}

/** An HTTP auth scheme at the start of a credential value (`authorization: Bearer x`). */
const SCHEME = /^(?:bearer|basic|digest|token)[ \t]{1,8}/i;

/** Characters that end an unquoted credential value: whitespace, quotes, `&`, `,`, `;`. */
function endsUnquoted(c: number): boolean {
  return (
    c === 32 || c === 9 || c === 10 || c === 13 || c === 34 || c === 39 || c === 38 || c === 44 || c === 59
  );
}

/**
 * Finds the credential value that starts at `from`: `[start, end)` of the part to replace,
 * or `undefined` when there is none. A leading auth scheme is kept. Quoted values run to the
 * matching unescaped quote (or the end of the string when it never comes); `\"...\"` (JSON
 * inside a JSON string) runs to the next `\"`; a cookie header runs to the end of the line.
 */
function scanValue(s: string, from: number, toEndOfLine: boolean): [number, number] | undefined {
  const n = s.length;
  let p = from;
  const scheme = SCHEME.exec(s.slice(p, p + 16));
  if (scheme) p += scheme[0].length;
  if (p >= n) return undefined;
  const c = s.charCodeAt(p);
  if (c === 34 || c === 39) {
    let j = p + 1;
    while (j < n) {
      const d = s.charCodeAt(j);
      if (d === 92) j += 2;
      else if (d === c) break;
      else j++;
    }
    return [p + 1, Math.min(j, n)];
  }
  const next = s.charCodeAt(p + 1);
  if (c === 92 && (next === 34 || next === 39)) {
    const close = s.indexOf(s.slice(p, p + 2), p + 2);
    return [p + 2, close < 0 ? n : close];
  }
  let j = p;
  if (toEndOfLine) {
    while (j < n && s.charCodeAt(j) !== 10 && s.charCodeAt(j) !== 13) j++;
  } else {
    while (j < n && !endsUnquoted(s.charCodeAt(j))) j++;
  }
  return j > p ? [p, j] : undefined;
}

/**
 * Replaces the value after every credential name followed by `=` or `:` (optionally quoted,
 * with up to 8 blanks around the separator): `password=hunter2` → `password=[REDACTED]`,
 * `"token": "x"` → `"token": "[REDACTED]"`, `Authorization: Bearer x` →
 * `Authorization: Bearer [REDACTED]`, a `Cookie:` header line → `Cookie: [REDACTED]`.
 */
export function redactCredentials(s: string, replacement: string): string {
  let parts: string[] | undefined;
  let copied = 0;
  forEachAssignment(s, (separator, nameLast, quoted, valueStart) => {
    const name = credentialNameEndingAt(s, nameLast);
    if (name === undefined) return undefined;
    const cookieHeader = name === "cookie" && !quoted && s.charCodeAt(separator) === 58;
    const span = scanValue(s, valueStart, cookieHeader);
    if (span === undefined) return undefined;
    parts ??= [];
    parts.push(s.slice(copied, span[0]), replacement);
    copied = span[1];
    return span[1];
  });
  return finish(s, parts, copied);
}

/** `Bearer <token>` / `Basic <base64>` anywhere in a string (the token is checked in code). */
const AUTH_SCHEME = /\b(bearer|basic)([ \t]{1,8})([A-Za-z0-9\-._~+/]+=*)/gi;

/** `scheme://user:secret@host`: the secret is everything up to the last `@` of the authority. */
const URL_USERINFO =
  /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s:/?#@"'<>]*:)([^\s/?#"'<>]+)@/g;

/** Whether a `Bearer` token looks like a token (8+ characters with a digit, a symbol or mixed case), not the next English word. */
function looksLikeBearerToken(token: string): boolean {
  if (token.length < 8) return false;
  if (/[0-9\-._~+/=]/.test(token)) return true;
  return /[a-z]/.test(token) && /[A-Z]/.test(token);
}

/** Whether a `Basic` token is well-formed base64 of `user:password`. */
function looksLikeBasicCredentials(token: string): boolean {
  if (token.length < 4 || token.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return false;
  return Buffer.from(token, "base64").includes(0x3a);
}

/** The three in-string parts of the `password` rule, given what a string contains. */
function compilePasswordParts(replacement: string): (s: string, facts: number) => string {
  const authScheme = (match: string, scheme: string, gap: string, token: string): string => {
    const ok = scheme.length === 6 ? looksLikeBearerToken(token) : looksLikeBasicCredentials(token);
    return ok ? scheme + gap + replacement : match;
  };
  const userinfo = (_m: string, head: string): string => `${head}${replacement}@`;
  return (s, facts) => {
    let out = s;
    if (facts & HAS_SEPARATOR) out = redactCredentials(out, replacement);
    if (
      (facts & (HAS_BLANK | HAS_B)) === (HAS_BLANK | HAS_B) &&
      (out.indexOf("earer") >= 0 ||
        out.indexOf("EARER") >= 0 ||
        out.indexOf("asic") >= 0 ||
        out.indexOf("ASIC") >= 0)
    ) {
      out = out.replace(AUTH_SCHEME, authScheme);
    }
    if (facts & HAS_AT && out.indexOf("://") >= 0) out = out.replace(URL_USERINFO, userinfo);
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// credit_card

/** The Luhn (mod 10) check over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Separated card numbers are printed in groups of four (`4-4-4-4`, `4-4-4-4-3`) or `4-6-5`/`4-6-4`. */
function plausibleGrouping(groups: readonly string[]): boolean {
  if (groups.length === 1) return true;
  const lengths = groups.map((g) => g.length).join(",");
  if (lengths === "4,6,5" || lengths === "4,6,4") return true;
  for (let i = 0; i < groups.length - 1; i++) if (groups[i]!.length !== 4) return false;
  return groups[groups.length - 1]!.length <= 4;
}

/**
 * Masks a card number, keeping its separators and its last four digits:
 * `4111 1111 1111 1111` → `**** **** **** 1111`, `4111111111111111` → `************1111`.
 * Returns `undefined` when the text is not a card number: anything but digits and single
 * spaces or dashes, fewer than 13 or more than 19 digits, a first digit outside 2–6 (the
 * ranges of Visa, Mastercard, Amex, Diners, Discover, JCB, UnionPay and Maestro; this keeps
 * epoch timestamps and snowflake ids, which start with 1, intact), separators not in the
 * printed groupings above, or a failed Luhn check.
 */
export function maskCardNumber(text: string): string | undefined {
  if (!/^[0-9]+(?:[ -][0-9]+){0,18}$/.test(text)) return undefined;
  const groups = text.split(/[ -]/);
  const digits = groups.join("");
  if (digits.length < 13 || digits.length > 19) return undefined;
  const first = digits.charCodeAt(0);
  if (first < 50 || first > 54) return undefined;
  if (!plausibleGrouping(groups) || !luhnValid(digits)) return undefined;
  let keep = 4;
  const out = text.split("");
  for (let i = out.length - 1; i >= 0; i--) {
    const c = out[i];
    if (c === " " || c === "-") continue;
    if (keep > 0) keep--;
    else out[i] = "*";
  }
  return out.join("");
}

/**
 * Masks every card number in `s` (see {@link maskCardNumber}). A candidate is a whole run of
 * digits joined by single spaces or dashes, never part of a longer run.
 */
export function maskCards(s: string): string {
  const n = s.length;
  let parts: string[] | undefined;
  let copied = 0;
  let i = 0;
  while (i < n) {
    if (!isDigit(s.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let digits = 0;
    let end = i;
    let j = i;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (isDigit(c)) {
        digits++;
        end = ++j;
      } else if ((c === 32 || c === 45) && isDigit(s.charCodeAt(j + 1))) j++;
      else break;
    }
    i = end;
    if (digits < 13 || digits > 19) continue;
    const masked = maskCardNumber(s.slice(start, end));
    if (masked === undefined) continue;
    parts ??= [];
    parts.push(s.slice(copied, start), masked);
    copied = end;
  }
  return finish(s, parts, copied);
}

// ---------------------------------------------------------------------------------------------
// ssn

/**
 * Masks US Social Security numbers in the dashed form: `123-45-6789` → `***-**-6789`. Not
 * inside a longer token (`x123-45-6789`, `123-45-6789-1`), and not numbers that cannot be an
 * SSN: area `000`, `666` or `9xx`, group `00`, serial `0000`. Dates (`2024-01-15`) and phone
 * numbers (`555-123-4567`) have other shapes and are left alone.
 */
export function maskSsns(s: string): string {
  const n = s.length;
  let parts: string[] | undefined;
  let copied = 0;
  const boundary = (i: number): boolean =>
    i < 0 || i >= n || !(isAlnum(s.charCodeAt(i)) || s.charCodeAt(i) === 45);
  const digitsAt = (from: number, count: number): boolean => {
    for (let i = from; i < from + count; i++) if (!isDigit(s.charCodeAt(i))) return false;
    return true;
  };
  for (let p = s.indexOf("-", 3); p >= 0; p = s.indexOf("-", p + 1)) {
    // p is the first dash of ddd-dd-dddd
    if (s.charCodeAt(p + 3) !== 45 || !digitsAt(p - 3, 3) || !digitsAt(p + 1, 2) || !digitsAt(p + 4, 4))
      continue;
    if (!boundary(p - 4) || !boundary(p + 8)) continue;
    const area = s.slice(p - 3, p);
    if (area === "000" || area === "666" || area[0] === "9" || s.slice(p + 1, p + 3) === "00") continue;
    const serial = s.slice(p + 4, p + 8);
    if (serial === "0000") continue;
    parts ??= [];
    parts.push(s.slice(copied, p - 3), `***-**-${serial}`);
    copied = p + 8;
    p += 7;
  }
  return finish(s, parts, copied);
}

// ---------------------------------------------------------------------------------------------
// email

/** `A-Z a-z 0-9 . _ % + -`: characters of an email's local part. */
const isLocal = (c: number): boolean =>
  isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
/** `A-Z a-z 0-9 -`: characters of a domain label. */
const isLabel = (c: number): boolean => isAlnum(c) || c === 45;

/**
 * Masks email addresses, keeping the first character of the local part and the domain:
 * `yannick.verrydt@example.com` → `y***@example.com`. An address is a run of local-part
 * characters, `@`, and a domain with at least one dot (`user@localhost` is left alone).
 */
export function maskEmails(s: string): string {
  let parts: string[] | undefined;
  let copied = 0;
  for (let at = s.indexOf("@"); at >= 0; at = s.indexOf("@", at + 1)) {
    let start = at;
    while (start > copied && isLocal(s.charCodeAt(start - 1))) start--;
    if (start === at) continue;
    let d = at + 1;
    while (d < s.length && isLabel(s.charCodeAt(d))) d++;
    if (d === at + 1 || s.charCodeAt(d) !== 46 || !isAlnum(s.charCodeAt(d + 1))) continue;
    parts ??= [];
    parts.push(s.slice(copied, start), `${s[start]}***@`);
    copied = at + 1;
  }
  return finish(s, parts, copied);
}

// ---------------------------------------------------------------------------------------------
// custom regexes

/**
 * Compiles a custom rule: every match of `regex` (made global) becomes `replacement`, taken
 * literally (`$&` and `$1` in it are not expanded).
 */
export function compileRegexRule(regex: RegExp, replacement: string): StringRule {
  const global = regex.global ? regex : new RegExp(regex.source, `${regex.flags}g`);
  const replace = (): string => replacement;
  return (s) => s.replace(global, replace);
}

// ---------------------------------------------------------------------------------------------
// composition

/**
 * One pass over `s`: which of `=`/`:`, `@`, `-`, blanks, `B`/`b` and a run of 20+ token
 * characters it holds, and (shifted above
 * the flags) the most digits in one run of digits joined by single spaces or dashes — the
 * shape card numbers (13+) and SSNs (9) need. `1970-01-01` is a run of 8; `10.0.0.7` runs of 2.
 */
function scanFacts(s: string): number {
  let flags = 0;
  let run = 0;
  let longest = 0;
  let afterSeparator = false;
  // Start of the current run of token characters (letters, digits, `- _ . / +`).
  let token = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      afterSeparator = false;
      if (++run > longest) longest = run;
      continue;
    }
    if (c === 32 || c === 45) {
      flags |= c === 32 ? HAS_BLANK : HAS_DASH;
      if (afterSeparator) run = 0;
      afterSeparator = true;
      if (c === 32) {
        if (i - token >= LONG_TOKEN) flags |= HAS_LONG_TOKEN;
        token = i + 1;
      }
      continue;
    }
    run = 0;
    afterSeparator = false;
    const lower = c | 0x20;
    if ((lower >= 97 && lower <= 122) || c === 95 || c === 46 || c === 47 || c === 43) {
      if (c === 66 || c === 98) flags |= HAS_B;
      continue;
    }
    if (i - token >= LONG_TOKEN) flags |= HAS_LONG_TOKEN;
    token = i + 1;
    if (c === 61 || c === 58) flags |= HAS_SEPARATOR;
    else if (c === 64) flags |= HAS_AT;
    else if (c === 9) flags |= HAS_BLANK;
  }
  if (s.length - token >= LONG_TOKEN) flags |= HAS_LONG_TOKEN;
  return flags | (Math.min(longest, 1 << 20) << DIGIT_SHIFT);
}

/** Which built-in string rules to run, plus the custom ones. */
export interface TextRulesOptions {
  readonly password: boolean;
  /** The `secrets` rule (see `secrets.ts`). */
  readonly secrets: boolean;
  readonly creditCard: boolean;
  readonly ssn: boolean;
  readonly email: boolean;
  /** Custom regexes, in configuration order. */
  readonly regexes: readonly RegExp[];
  readonly replacement: string;
}

/**
 * Compiles the string rules into one function, run in this order: `password`, `secrets`,
 * `credit_card`, `ssn`, `email`, then the custom regexes. Returns `undefined` when no rule is
 * on. `password` runs first, so a credential in its known places (`password=`, `Bearer`, a
 * URL's userinfo) reads `[REDACTED]` as before; `secrets` then finds the rest by shape.
 */
export function compileTextRules(options: TextRulesOptions): StringRule | undefined {
  const password = options.password ? compilePasswordParts(options.replacement) : undefined;
  const secrets = options.secrets ? compileSecretRule(options.replacement) : undefined;
  const custom = options.regexes.map((r) => compileRegexRule(r, options.replacement));
  const { creditCard, ssn, email } = options;
  if (!password && !secrets && !creditCard && !ssn && !email && custom.length === 0) return undefined;
  return (s) => {
    let out = s;
    const facts = scanFacts(s);
    const run = facts >>> DIGIT_SHIFT;
    if (password) out = password(out, facts);
    if (secrets) {
      out = secrets(
        out,
        (facts & HAS_SEPARATOR) !== 0,
        (facts & HAS_DASH) !== 0,
        (facts & HAS_LONG_TOKEN) !== 0,
      );
    }
    if (creditCard && run >= 13) out = maskCards(out);
    if (ssn && run >= 9 && facts & HAS_DASH) out = maskSsns(out);
    if (email && facts & HAS_AT) out = maskEmails(out);
    for (const rule of custom) out = rule(out);
    return out;
  };
}
