/** Signing keys, records and key generation. */
import * as crypto from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { afterAll, describe, expect, test, vi } from "vitest";
import { keygen } from "../../src/crypto/keygen.js";
import { checkRecordSignature, signRecord } from "../../src/integrity/records.js";
import { createSigner, createVerifier } from "../../src/integrity/signing.js";
import { tempDir } from "../helpers.js";

vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const SECRET = "0123456789abcdef0123456789abcdef";
const record = {
  v: 1 as const,
  type: "checkpoint" as const,
  chain: "c",
  seq: 10,
  hash: "a".repeat(64),
  time: "2026-01-01T00:00:00.000Z",
};

describe("signing", () => {
  test("HMAC-SHA256: signs, verifies, compares in constant time", () => {
    const signed = signRecord(record, createSigner({ algorithm: "hmac-sha256", secret_key: SECRET }));
    const verifier = createVerifier({ algorithm: "hmac-sha256", secret_key: SECRET });
    vi.mocked(crypto.timingSafeEqual).mockClear();
    expect(checkRecordSignature(signed, verifier)).toBe(true);
    expect(crypto.timingSafeEqual).toHaveBeenCalledTimes(1);
    expect(checkRecordSignature({ ...signed, seq: 11 }, verifier)).toBe(false);
    expect(
      checkRecordSignature(signed, createVerifier({ algorithm: "hmac-sha256", secret_key: `${SECRET}x` })),
    ).toBe(false);
  });

  test("Ed25519: the public key alone verifies; key ids match between the halves", () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
    const private_key = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
    const public_key = publicKey.export({ format: "pem", type: "spki" }).toString();
    const signer = createSigner({ algorithm: "ed25519", private_key });
    const verifier = createVerifier({ algorithm: "ed25519", public_key });
    expect(signer.keyId).toBe(verifier.keyId);
    const signed = signRecord(record, signer);
    expect(signed).toMatchObject({ alg: "ed25519", key_id: signer.keyId });
    expect(checkRecordSignature(signed, verifier)).toBe(true);
    expect(checkRecordSignature({ ...signed, hash: "b".repeat(64) }, verifier)).toBe(false);
    expect(checkRecordSignature({ ...signed, sig: "AAAA" }, verifier)).toBe(false);
  });

  test("missing or unusable keys are clear configuration errors", () => {
    expect(() => createSigner({ algorithm: "hmac-sha256" })).toThrow(/secret_key is required/);
    expect(() => createSigner({ algorithm: "ed25519" })).toThrow(/private_key is required/);
    expect(() => createVerifier({ algorithm: "ed25519" })).toThrow(/public_key is required/);
    expect(() => createVerifier({ algorithm: "ed25519", public_key: "-----BEGIN PRIVATE KEY-----" })).toThrow(
      /private key/,
    );
  });
});

describe("keygen", () => {
  const tmp = tempDir("vigil-keygen-");
  afterAll(() => tmp.cleanup());

  test("writes an HMAC secret, an Ed25519 pair and an AES key, mode 0600, that work", () => {
    const hmac = keygen({ algorithm: "hmac-sha256", outDir: tmp.dir });
    const ed = keygen({ algorithm: "ed25519", outDir: tmp.dir });
    const aes = keygen({ algorithm: "aes-256-gcm", outDir: tmp.dir });
    for (const f of [...hmac.files, ...ed.files, ...aes.files]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const secret = readFileSync(hmac.files[0]!, "utf8").trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(createVerifier({ algorithm: "hmac-sha256", secret_key: secret }).keyId).toBe(hmac.keyId);
    const signer = createSigner({ algorithm: "ed25519", private_key: readFileSync(ed.files[0]!, "utf8") });
    const verifier = createVerifier({ algorithm: "ed25519", public_key: readFileSync(ed.files[1]!, "utf8") });
    expect(checkRecordSignature(signRecord(record, signer), verifier)).toBe(true);
    expect(ed.keyId).toBe(verifier.keyId);
    expect(readFileSync(aes.files[0]!, "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(aes.configHint).toContain(aes.keyId);
    expect(hmac.configHint).not.toContain(secret);
  });

  test("never overwrites a key unless asked", () => {
    keygen({ algorithm: "hmac-sha256", outDir: tmp.dir, name: "once" });
    expect(() => keygen({ algorithm: "hmac-sha256", outDir: tmp.dir, name: "once" })).toThrow(/exists/);
    expect(
      keygen({ algorithm: "hmac-sha256", outDir: tmp.dir, name: "once", overwrite: true }).files,
    ).toHaveLength(1);
    expect(() => keygen({ algorithm: "rsa" as never, outDir: tmp.dir })).toThrow(
      /hmac-sha256, ed25519 or aes-256-gcm/,
    );
  });
});
