/**
 * Signing keys for checkpoints and retention records: HMAC-SHA256 with a shared secret,
 * or Ed25519 with a key pair (an auditor holding only the public key can verify but not
 * forge). Every key has a `key_id`, a fingerprint that names it without revealing it:
 *
 * - Ed25519: the first 16 hex digits of SHA-256 over the public key (SPKI DER);
 * - HMAC: the first 16 hex digits of HMAC-SHA256(secret, "vigil key id").
 *
 * @module
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
  timingSafeEqual,
} from "node:crypto";
import { keyFileText } from "../config/keys.js";
import type { ResolvedConfig } from "../config/types.js";
import { ErrorCodes, VigilError } from "../errors.js";

/** The signature algorithms vigil uses. */
export type SigningAlgorithm = "hmac-sha256" | "ed25519";

/** Signing settings: `security.signing` of a resolved configuration, or the same shape by hand. */
export type SigningKeys = Pick<
  ResolvedConfig["security"]["signing"],
  "algorithm" | "secret_key" | "private_key" | "public_key"
>;

/** Signs bytes. */
export interface Signer {
  readonly algorithm: SigningAlgorithm;
  readonly keyId: string;
  /** The signature of `data`, base64. */
  sign(data: string): string;
}

/** Checks signatures. */
export interface SignatureVerifier {
  readonly algorithm: SigningAlgorithm;
  readonly keyId: string;
  /** Whether `signature` (base64) signs `data`; compares MACs in constant time. */
  verify(data: string, signature: string): boolean;
}

function keyError(message: string): VigilError {
  return new VigilError(ErrorCodes.CONFIG, message);
}

function hmacKeyId(secret: string): string {
  return createHmac("sha256", secret).update("vigil key id").digest("hex").slice(0, 16);
}

function edKeyId(publicKey: KeyObject): string {
  return createHash("sha256")
    .update(publicKey.export({ format: "der", type: "spki" }))
    .digest("hex")
    .slice(0, 16);
}

function pem(text: string): string {
  return !text.includes("\n") && text.includes("\\n") ? text.replaceAll("\\n", "\n") : text;
}

/**
 * A signer for `keys`: HMAC needs `secret_key`, Ed25519 needs `private_key` (PEM, PKCS#8).
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` when the needed key is missing or unreadable.
 * @example const signer = createSigner({ algorithm: "hmac-sha256", secret_key: process.env.AUDIT_KEY });
 */
export function createSigner(keys: SigningKeys): Signer {
  if (keys.algorithm === "hmac-sha256") {
    const secret = keys.secret_key === undefined ? undefined : keyFileText(keys.secret_key);
    if (!secret) throw keyError("security.signing.secret_key is required to sign with hmac-sha256");
    return {
      algorithm: "hmac-sha256",
      keyId: hmacKeyId(secret),
      sign: (data) => createHmac("sha256", secret).update(data, "utf8").digest("base64"),
    };
  }
  if (!keys.private_key) throw keyError("security.signing.private_key is required to sign with ed25519");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem(keys.private_key), format: "pem" });
  } catch (err) {
    throw keyError(`security.signing.private_key is not a PEM private key: ${(err as Error).message}`);
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw keyError(`security.signing.private_key is a ${privateKey.asymmetricKeyType} key, expected ed25519`);
  }
  const keyId = edKeyId(createPublicKey(privateKey));
  return {
    algorithm: "ed25519",
    keyId,
    sign: (data) => edSign(null, Buffer.from(data, "utf8"), privateKey).toString("base64"),
  };
}

/**
 * A verifier for `keys`: HMAC needs `secret_key`; Ed25519 needs `public_key` (or derives
 * it from `private_key`).
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` when no usable key is given.
 */
export function createVerifier(keys: SigningKeys): SignatureVerifier {
  if (keys.algorithm === "hmac-sha256") {
    const secret = keys.secret_key === undefined ? undefined : keyFileText(keys.secret_key);
    if (!secret) throw keyError("security.signing.secret_key is required to verify hmac-sha256 signatures");
    return {
      algorithm: "hmac-sha256",
      keyId: hmacKeyId(secret),
      verify(data, signature) {
        const expected = createHmac("sha256", secret).update(data, "utf8").digest();
        const given = Buffer.from(signature, "base64");
        return given.length === expected.length && timingSafeEqual(given, expected);
      },
    };
  }
  let publicKey: KeyObject;
  try {
    if (keys.public_key) {
      if (keys.public_key.includes("PRIVATE KEY")) throw new Error("this is a private key, not a public key");
      publicKey = createPublicKey({ key: pem(keys.public_key), format: "pem" });
    } else if (keys.private_key) {
      publicKey = createPublicKey(createPrivateKey({ key: pem(keys.private_key), format: "pem" }));
    } else {
      throw keyError("security.signing.public_key is required to verify ed25519 signatures");
    }
  } catch (err) {
    if (err instanceof VigilError) throw err;
    throw keyError(`security.signing.public_key is not a PEM public key: ${(err as Error).message}`);
  }
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw keyError(`security.signing.public_key is a ${publicKey.asymmetricKeyType} key, expected ed25519`);
  }
  return {
    algorithm: "ed25519",
    keyId: edKeyId(publicKey),
    verify(data, signature) {
      try {
        return edVerify(null, Buffer.from(data, "utf8"), publicKey, Buffer.from(signature, "base64"));
      } catch {
        return false;
      }
    },
  };
}
