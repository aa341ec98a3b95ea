// biome-ignore-all lint/suspicious/noTemplateCurlyInString: "${VAR}" is the configuration's own syntax under test.
/**
 * Keys read from key files: `vigil keygen` (like `echo` and editors) ends a key file with a
 * newline, and a `${VAR}` set from the file's content keeps it. One trailing newline is not
 * part of the key; whitespace inside a key stays an error.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { keygen } from "../../src/crypto/keygen.js";
import { AuditEngine } from "../../src/engine.js";
import { ConfigError } from "../../src/errors.js";
import { createSigner, createVerifier } from "../../src/integrity/signing.js";
import { verifyStore } from "../../src/integrity/verify.js";
import { FileBackend } from "../../src/storage/file/file-backend.js";
import { tempDir } from "../helpers.js";

const dirs: Array<() => void> = [];
afterAll(() => {
  for (const c of dirs) c();
});
function temp(): string {
  const t = tempDir("vigil-keyfile-");
  dirs.push(t.cleanup);
  return t.dir;
}

function config(dir: string) {
  return {
    core: { application_name: "keys" },
    storage: { backends: [{ type: "file", directory: dir, filename_pattern: "audit_{date}.log" }] },
    security: {
      signing: { enabled: true, algorithm: "hmac-sha256", secret_key: "${SIGNING_KEY}" },
      encryption: { enabled: true, key: "${ENCRYPTION_KEY}", key_id: "k1" },
    },
  };
}

/** What a configuration error says about `path`, or undefined when it has no problem there. */
function problemAt(input: unknown, env: Record<string, string>, path: string) {
  try {
    loadConfig(input as never, { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.find((p) => p.path === path);
    throw err;
  }
  return undefined;
}

describe("key files", () => {
  test("keys from vigil keygen's files, newline included, sign, encrypt and verify", async () => {
    const keys = temp();
    const hmac = keygen({ algorithm: "hmac-sha256", outDir: keys });
    const aes = keygen({ algorithm: "aes-256-gcm", outDir: keys });
    const secretFile = readFileSync(hmac.files[0]!, "utf8");
    const aesFile = readFileSync(aes.files[0]!, "utf8");
    expect(secretFile.endsWith("\n")).toBe(true);
    expect(aesFile.endsWith("\n")).toBe(true);

    const dir = temp();
    // the variables hold the files' content verbatim, as `VAR=$(<file)` does not guarantee
    const env = { SIGNING_KEY: secretFile, ENCRYPTION_KEY: aesFile.replace(/\n$/, "\r\n") };
    const resolved = loadConfig(config(dir) as never, { env });
    expect(resolved.security.signing.secret_key).toBe(secretFile.slice(0, -1));
    const engine = new AuditEngine({ config: config(dir) as never, env });
    for (let i = 0; i < 20; i++)
      engine.log({ action: "LOGIN", timestamp: "2026-03-01T10:00:00Z", metadata: { i } });
    await engine.close();

    // the key id the writer signed with is the key file's key id (keygen printed it)
    const checkpoints = readFileSync(join(dir, "checkpoints", readdirOne(join(dir, "checkpoints"))), "utf8");
    expect(JSON.parse(checkpoints.split("\n")[0]!).key_id).toBe(hmac.keyId);

    // an auditor with the key without its newline verifies the same store
    const trimmed = loadConfig(config(dir) as never, {
      env: { SIGNING_KEY: secretFile.trim(), ENCRYPTION_KEY: aesFile.trim() },
    });
    const backend = new FileBackend({ config: trimmed.storage.backends[0] as never, application: "keys" });
    const r = await verifyStore({
      backend,
      signing: trimmed.security.signing,
      encryption: trimmed.security.encryption,
    });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, events: 20 });
  });

  test("a signer given the secret with its newline is the same key", () => {
    const secret = "0123456789abcdef0123456789abcdef";
    const plain = createSigner({ algorithm: "hmac-sha256", secret_key: secret });
    for (const fromFile of [`${secret}\n`, `${secret}\r\n`]) {
      expect(createSigner({ algorithm: "hmac-sha256", secret_key: fromFile }).keyId).toBe(plain.keyId);
      expect(
        createVerifier({ algorithm: "hmac-sha256", secret_key: fromFile }).verify("x", plain.sign("x")),
      ).toBe(true);
    }
  });

  test("whitespace inside a key, or more than one trailing newline, is an error naming where", () => {
    const input = config(temp());
    const aes = "ab".repeat(32);
    expect(
      problemAt(
        input,
        { SIGNING_KEY: "0123456789abcdef 0123456789abcdef", ENCRYPTION_KEY: aes },
        "vigil.security.signing.secret_key",
      ),
    ).toMatchObject({
      expected: "a secret without whitespace (one trailing newline, as a key file ends, is ignored)",
      found: "whitespace at character 17 of 33",
    });
    expect(
      problemAt(
        input,
        { SIGNING_KEY: "0123456789abcdef0123456789abcdef\n\n", ENCRYPTION_KEY: aes },
        "vigil.security.signing.secret_key",
      ),
    ).toMatchObject({ found: "whitespace at character 33 of 33" });
    expect(
      problemAt(
        input,
        {
          SIGNING_KEY: "0123456789abcdef0123456789abcdef",
          ENCRYPTION_KEY: `${aes.slice(0, 32)} ${aes.slice(32)}`,
        },
        "vigil.security.encryption.key",
      ),
    ).toMatchObject({ expected: "a 32-byte key: 64 hex characters, or base64" });
    expect(
      problemAt(
        input,
        { SIGNING_KEY: "0123456789abcdef0123456789abcdef\n", ENCRYPTION_KEY: `${aes}\n` },
        "vigil.security.signing.secret_key",
      ),
    ).toBeUndefined();
  });
});

function readdirOne(dir: string): string {
  return readdirSync(dir).find((n) => n.endsWith(".jsonl") && n !== "retention.jsonl")!;
}
