/** AES-256-GCM envelopes: binding, rotation, errors naming key ids, nonces. */
import { describe, expect, test } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { decryptEnvelope, encryptLine, NonceSource, parseEnvelope } from "../../src/crypto/aead.js";
import { createLineDecoder, createLineOpener } from "../../src/crypto/decode.js";
import { KeyError, KeyRing } from "../../src/crypto/keyring.js";
import { createEncryptionStage } from "../../src/crypto/stage.js";
import type { AuditEvent } from "../../src/event/types.js";

const K1 = "11".repeat(32);
const K2 = Buffer.alloc(32, 2).toString("base64");
const ring = new KeyRing({ key: K2, key_id: "k2", previous_keys: { k1: K1 } });
const header = { v: 1 as const, kid: "k2", id: "e1", chain: "c", seq: 5 };

describe("envelopes", () => {
  test("round-trip, keeping only the key id, event id and chain position in clear", () => {
    const line = encryptLine('{"secret":"alice"}', header, ring.current().key, new NonceSource());
    expect(line).not.toContain("alice");
    const e = parseEnvelope(line)!;
    expect(Object.keys(e)).toEqual(["v", "kid", "id", "chain", "seq", "iv", "ct", "tag"]);
    expect(Buffer.from(e.iv, "base64")).toHaveLength(12);
    expect(Buffer.from(e.tag, "base64")).toHaveLength(16);
    expect(decryptEnvelope(e, ring)).toBe('{"secret":"alice"}');
  });

  test("the associated data binds chain, seq, id and key id", () => {
    const line = encryptLine("x", header, ring.current().key, new NonceSource());
    const e = parseEnvelope(line)!;
    for (const changed of [
      { ...e, seq: 6 },
      { ...e, chain: "d" },
      { ...e, id: "e2" },
      { ...e, clear: { a: 1 } },
    ]) {
      expect(() => decryptEnvelope(changed, ring)).toThrow(KeyError);
    }
    const moved = { ...e, kid: "k1" };
    expect(() => decryptEnvelope(moved, ring)).toThrow(/key id "k1"/);
  });

  test("a missing key id and a wrong key are errors naming the key id, never the key", () => {
    const line = encryptLine("x", { ...header, kid: "k9" }, ring.current().key, new NonceSource());
    let err: unknown;
    try {
      createLineOpener({ key: K2, key_id: "k2" })(line);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyError);
    expect(err).toMatchObject({ keyId: "k9", reason: "missing", code: "VIGIL_ERR_CONFIG" });
    expect((err as Error).message).toMatch(/no encryption key with id "k9".*configured: k2/);
    const good = encryptLine("x", header, ring.current().key, new NonceSource());
    const wrong = createLineOpener({ key: "33".repeat(32), key_id: "k2" });
    expect(() => wrong(good)).toThrow(/key id "k2": authentication failed/);
    try {
      wrong(good);
    } catch (e) {
      expect((e as Error).message).not.toContain("33".repeat(32));
    }
    expect(() => createLineOpener(undefined)(good)).toThrow(
      /encrypted with key id "k2" but no encryption key is configured/,
    );
  });

  test("plain lines pass through the decoder untouched", () => {
    expect(createLineOpener({ key: K1, key_id: "k1" })('{"a":1}')).toBe('{"a":1}');
  });

  test("no nonce repeats over 1,000,000 encryptions", () => {
    const nonces = new NonceSource();
    const key = ring.current().key;
    const seen = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) {
      const line = encryptLine("", { v: 1, kid: "k2", id: "e" }, key, nonces);
      const at = line.indexOf('"iv":"') + 6;
      seen.add(line.slice(at, at + 16));
    }
    expect(seen.size).toBe(1_000_000);
  }, 120_000);
});

describe("the encryption stage and decoder from configuration", () => {
  const config = loadConfig(
    { security: { encryption: { enabled: true, key: K2, key_id: "k2", previous_keys: { k1: K1 } } } },
    { env: {} },
  );

  test("is absent when encryption is off", () => {
    expect(createEncryptionStage(loadConfig({}, { env: {} }))).toBeUndefined();
  });

  test("writes envelopes with the current key id that the decoder reads back", () => {
    const stage = createEncryptionStage(config, { clearFields: ["timestamp", "action.category"] })!;
    const event = {
      id: "e1",
      timestamp: "2026-01-01T00:00:00.000Z",
      action: { type: "LOGIN", category: "AUTHENTICATION" },
      actor: { username: "alice" },
      integrity: { chain: "c", seq: 3, prev: "0".repeat(64), hash: "1".repeat(64) },
    } as unknown as AuditEvent;
    const line = stage.encodeLine!(JSON.stringify(event), event);
    expect(parseEnvelope(line)).toMatchObject({
      kid: "k2",
      id: "e1",
      chain: "c",
      seq: 3,
      clear: { timestamp: "2026-01-01T00:00:00.000Z", "action.category": "AUTHENTICATION" },
    });
    expect(line).not.toContain("alice");
    expect(createLineDecoder(config)(line)).toEqual(event);
  });
});
