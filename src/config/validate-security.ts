/**
 * `vigil.security`: encryption keys and signing keys. Key material is checked for shape
 * even when its section is disabled, and is never echoed in a message.
 *
 * @module
 */
import type { KeyObject } from "node:crypto";
import { describe, isMapping, Section } from "./checker.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import {
  decodeKey32,
  describeBadKey32,
  keyFileText,
  keysMatch,
  parseEd25519PrivateKey,
  parseEd25519PublicKey,
} from "./keys.js";
import type { ResolvedConfig } from "./types.js";

type Security = ResolvedConfig["security"];

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_ID_EXPECTED = "a key id of letters, digits, '.', '_' or '-' (1 to 64 characters)";
const KEY_EXPECTED = "a 32-byte key: 64 hex characters, or base64";
const KEY_HINT = "generate one with: openssl rand -hex 32";
const MIN_SECRET_LENGTH = 16;

/** Read `vigil.security`. */
export function readSecurity(section: Section): Security {
  return {
    encryption: readEncryption(section.child("encryption", "encryption")),
    signing: readSigning(section.child("signing", "signing")),
  };
}

function readEncryption(raw: Section): Security["encryption"] {
  const enabled = raw.bool("enabled", false);
  const section = raw.withLenient(raw.lenient || !enabled);
  const key = readKey32(section, "key");
  const key_id = section.string("key_id");
  if (key_id !== undefined && !KEY_ID.test(key_id))
    section.report("key_id", KEY_ID_EXPECTED, describe(key_id));
  if (!section.lenient) {
    if (key === undefined && !section.hasProblem("key")) {
      section.report("key", `${KEY_EXPECTED}, when encryption is enabled`, "missing", KEY_HINT);
    }
    if (key_id === undefined && !section.hasProblem("key_id")) {
      section.report("key_id", `${KEY_ID_EXPECTED}, when encryption is enabled`, "missing");
    }
  }
  const previous_keys = readPreviousKeys(section, key_id);
  const clear_fields: string[] = [];
  for (const item of section.stringItems("clear_fields") ?? []) {
    if (FIELD_PATH.test(item.value)) clear_fields.push(item.value);
    else
      section.checker.report(
        item.path,
        "a dotted event field path, e.g. action.category",
        JSON.stringify(item.value),
      );
  }
  return {
    enabled,
    ...(key !== undefined ? { key } : {}),
    ...(key_id !== undefined ? { key_id } : {}),
    ...(previous_keys !== undefined ? { previous_keys } : {}),
    clear_fields,
  };
}

/** A dotted path of event member names: `severity`, `action.category`, `metadata.tenant_id`. */
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/;

/** A 32-byte key at `key`, normalized to lower-case hex. */
/** A 32-byte key written as hex or base64, normalized to lower-case hex; reported when malformed. */
export function readKey32(section: Section, key: string): string | undefined {
  const text = section.string(key, undefined, { secret: true });
  if (text === undefined) return undefined;
  const bytes = decodeKey32(text);
  if (bytes === undefined) {
    section.report(key, KEY_EXPECTED, describeBadKey32(text), KEY_HINT);
    return undefined;
  }
  return bytes.toString("hex");
}

function readPreviousKeys(
  section: Section,
  currentId: string | undefined,
): Record<string, string> | undefined {
  const raw = section.raw("previous_keys");
  if (raw === undefined || raw === null) return undefined;
  if (!isMapping(raw)) {
    section.report("previous_keys", "a mapping of key id to key", describe(raw));
    return undefined;
  }
  const out: Record<string, string> = {};
  const keys = Section.unchecked(section.checker, raw, section.pathOf("previous_keys"), section.lenient);
  for (const id of Object.keys(raw)) {
    if (!KEY_ID.test(id)) keys.report(id, KEY_ID_EXPECTED, describe(id));
    else if (id === currentId) keys.report(id, "a key id other than the current key_id", describe(id));
    const key = readKey32(keys, id);
    if (key !== undefined) out[id] = key;
  }
  return out;
}

function readSigning(raw: Section): Security["signing"] {
  const d = DEFAULT_CONFIG.security.signing;
  const enabled = raw.bool("enabled", d.enabled);
  const section = raw.withLenient(raw.lenient || !enabled);
  const algorithm = section.choice("algorithm", ["hmac-sha256", "ed25519"], d.algorithm, {
    hmac: "hmac-sha256",
    hmac_sha256: "hmac-sha256",
    eddsa: "ed25519",
  });
  const rawSecret = section.string("secret_key", undefined, { secret: true });
  // a secret from a key file (`${VAR}` set from `vigil keygen`'s .key file) keeps its newline
  const secret_key = rawSecret === undefined ? undefined : keyFileText(rawSecret);
  const space = secret_key === undefined ? -1 : secret_key.search(/\s/);
  if (secret_key !== undefined && space >= 0) {
    section.report(
      "secret_key",
      "a secret without whitespace (one trailing newline, as a key file ends, is ignored)",
      `whitespace at character ${space + 1} of ${secret_key.length}`,
      KEY_HINT,
    );
  } else if (secret_key !== undefined && secret_key.length < MIN_SECRET_LENGTH) {
    section.report(
      "secret_key",
      `a secret of at least ${MIN_SECRET_LENGTH} characters`,
      describe(secret_key, { secret: true }),
      KEY_HINT,
    );
  }
  const privatePem = readPem(section, "private_key");
  const publicPem = readPem(section, "public_key");
  const privateKey = privatePem === undefined ? undefined : parseEd25519PrivateKey(privatePem);
  const publicKey = publicPem === undefined ? undefined : parseEd25519PublicKey(publicPem);
  if (privatePem !== undefined && privateKey === undefined) {
    section.report(
      "private_key",
      "a PEM Ed25519 private key (-----BEGIN PRIVATE KEY-----)",
      describe(privatePem, { secret: true }),
      "generate one with: openssl genpkey -algorithm ed25519",
    );
  }
  if (publicPem !== undefined && publicKey === undefined) {
    section.report(
      "public_key",
      "a PEM Ed25519 public key (-----BEGIN PUBLIC KEY-----)",
      describe(publicPem, { secret: true }),
      publicPem.includes("PRIVATE KEY") ? "this is a private key; never put it in public_key" : undefined,
    );
  }
  if (privateKey !== undefined && publicKey !== undefined) checkPair(section, privateKey, publicKey);

  if (!section.lenient && !section.hasProblem("algorithm")) {
    if (algorithm === "hmac-sha256" && secret_key === undefined && !section.hasProblem("secret_key")) {
      section.report(
        "secret_key",
        `a secret of at least ${MIN_SECRET_LENGTH} characters, when hmac-sha256 signing is enabled`,
        "missing",
        KEY_HINT,
      );
    }
    const noKey = privatePem === undefined && publicPem === undefined;
    if (
      algorithm === "ed25519" &&
      noKey &&
      !section.hasProblem("private_key") &&
      !section.hasProblem("public_key")
    ) {
      section.report(
        "private_key",
        "a PEM Ed25519 private key (or public_key alone, to verify only), when ed25519 signing is enabled",
        "missing",
        "generate one with: openssl genpkey -algorithm ed25519",
      );
    }
  }
  const witness = section.string("witness");
  return {
    enabled,
    algorithm,
    ...(witness !== undefined ? { witness } : {}),
    ...(secret_key !== undefined ? { secret_key } : {}),
    ...(privatePem !== undefined ? { private_key: privatePem } : {}),
    ...(publicPem !== undefined ? { public_key: publicPem } : {}),
    checkpoint_every: section.int("checkpoint_every", d.checkpoint_every, { min: 1 }),
    checkpoint_interval_seconds: section.numberAbove(
      "checkpoint_interval_seconds",
      d.checkpoint_interval_seconds,
      0,
    ),
  };
}

/**
 * A PEM text at `key`. Environment variables often carry PEM with literal `\n` for line
 * breaks; those are turned into real line breaks.
 */
function readPem(section: Section, key: string): string | undefined {
  const text = section.string(key, undefined, { secret: true });
  if (text === undefined) return undefined;
  return !text.includes("\n") && text.includes("\\n") ? text.replaceAll("\\n", "\n") : text;
}

function checkPair(section: Section, privateKey: KeyObject, publicKey: KeyObject): void {
  if (!keysMatch(privateKey, publicKey)) {
    section.report(
      "public_key",
      "the public half of private_key",
      "a different Ed25519 public key",
      "remove public_key (it is derived from private_key) or correct it",
    );
  }
}
