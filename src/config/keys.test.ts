import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  decodeKey32,
  describeBadKey32,
  keysMatch,
  parseEd25519PrivateKey,
  parseEd25519PublicKey,
} from "./keys.js";

describe("decodeKey32", () => {
  const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7));

  it("reads 64 hex characters in either case", () => {
    expect(decodeKey32(bytes.toString("hex"))).toEqual(bytes);
    expect(decodeKey32(bytes.toString("hex").toUpperCase())).toEqual(bytes);
  });

  it("reads standard and URL-safe base64, with or without padding", () => {
    expect(decodeKey32(bytes.toString("base64"))).toEqual(bytes);
    expect(decodeKey32(bytes.toString("base64").replace(/=+$/, ""))).toEqual(bytes);
    expect(decodeKey32(bytes.toString("base64url"))).toEqual(bytes);
  });

  it("rejects other sizes and other text", () => {
    expect(decodeKey32("ab".repeat(31))).toBeUndefined();
    expect(decodeKey32(Buffer.alloc(31).toString("base64"))).toBeUndefined();
    expect(decodeKey32("not a key!")).toBeUndefined();
    expect(decodeKey32("")).toBeUndefined();
  });

  it("describes a bad key without repeating it", () => {
    expect(describeBadKey32("abcd")).toBe("4 hex characters");
    expect(describeBadKey32(Buffer.alloc(16).toString("base64"))).toBe("base64 of 16 bytes");
    expect(describeBadKey32("p@ss word")).toBe("a string of 9 characters that is neither hex nor base64");
  });
});

describe("Ed25519 keys", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const privatePem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();

  it("parses PEM keys and matches a pair", () => {
    const priv = parseEd25519PrivateKey(privatePem);
    const pub = parseEd25519PublicKey(publicPem);
    expect(priv?.asymmetricKeyType).toBe("ed25519");
    expect(pub?.type).toBe("public");
    expect(keysMatch(priv!, pub!)).toBe(true);
    const other = generateKeyPairSync("ed25519").publicKey;
    expect(keysMatch(priv!, other)).toBe(false);
  });

  it("rejects other key types and a private key given as the public one", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    expect(
      parseEd25519PrivateKey(rsa.privateKey.export({ format: "pem", type: "pkcs8" }).toString()),
    ).toBeUndefined();
    expect(
      parseEd25519PublicKey(rsa.publicKey.export({ format: "pem", type: "spki" }).toString()),
    ).toBeUndefined();
    expect(parseEd25519PublicKey(privatePem)).toBeUndefined();
    expect(parseEd25519PrivateKey("garbage")).toBeUndefined();
  });
});
