/**
 * `vigil keygen` (SPEC §10): new key material written to files readable only by their
 * owner (mode 0600), never printed.
 *
 * @module
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";
import { createSigner } from "../integrity/signing.js";
import { makeDirectorySync } from "../storage/dirs.js";

/** A `${VAR}` reference, as written in the YAML configuration. */
const ENV = (name: string): string => "$" + `{${name}}`;

/** What {@link keygen} can make. */
export type KeygenAlgorithm = "hmac-sha256" | "ed25519" | "aes-256-gcm";

/** Options of {@link keygen}. */
export interface KeygenOptions {
  /** `hmac-sha256` (a signing secret), `ed25519` (a signing key pair) or `aes-256-gcm` (an encryption key). */
  readonly algorithm: KeygenAlgorithm;
  /** Directory for the files (created, mode 0700, when missing). */
  readonly outDir: string;
  /** File name stem. Default `vigil-<algorithm>`. */
  readonly name?: string;
  /** Replace existing files. Default false: an existing file is an error. */
  readonly overwrite?: boolean;
}

/** What {@link keygen} wrote. */
export interface KeygenResult {
  readonly algorithm: KeygenAlgorithm;
  /** Files written, secret first. */
  readonly files: readonly string[];
  /** The key id: the fingerprint checkpoints carry (signing), or a suggested `key_id` (encryption). */
  readonly keyId: string;
  /** The configuration to add, with `${VAR}` references instead of the key itself. */
  readonly configHint: string;
}

/**
 * Generate a key and write it (files mode 0600).
 *
 * - `hmac-sha256`: `<name>.key` — 32 random bytes as 64 hex characters;
 * - `ed25519`: `<name>.pem` (private, PKCS#8) and `<name>.pub.pem` (public, SPKI — give this
 *   one to auditors);
 * - `aes-256-gcm`: `<name>.key` — 32 random bytes as 64 hex characters.
 *
 * @throws {VigilError} `VIGIL_ERR_INVALID_ARGUMENT` for an unknown algorithm, or when a file exists
 *   and `overwrite` is not set.
 * @example keygen({ algorithm: "ed25519", outDir: "keys" })
 */
export function keygen(options: KeygenOptions): KeygenResult {
  const dir = resolve(options.outDir);
  const stem = options.name ?? `vigil-${options.algorithm}`;
  const write = (file: string, text: string) => {
    const path = join(dir, file);
    try {
      writeFileSync(path, text, { mode: 0o600, flag: options.overwrite ? "w" : "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new VigilError(
          ErrorCodes.INVALID_ARGUMENT,
          `keygen: ${path} exists; choose another name or allow overwrite`,
        );
      }
      throw err;
    }
    return path;
  };
  switch (options.algorithm) {
    case "hmac-sha256": {
      makeDirectorySync(dir, { mode: 0o700 });
      const secret = randomBytes(32).toString("hex");
      const file = write(`${stem}.key`, `${secret}\n`);
      return {
        algorithm: "hmac-sha256",
        files: [file],
        keyId: createSigner({ algorithm: "hmac-sha256", secret_key: secret }).keyId,
        configHint: `security:\n  signing: { enabled: true, algorithm: hmac-sha256, secret_key: ${ENV("VIGIL_SIGNING_SECRET")} }`,
      };
    }
    case "ed25519": {
      makeDirectorySync(dir, { mode: 0o700 });
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      const privatePem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
      const publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();
      const files = [write(`${stem}.pem`, privatePem), write(`${stem}.pub.pem`, publicPem)];
      return {
        algorithm: "ed25519",
        files,
        keyId: createSigner({ algorithm: "ed25519", private_key: privatePem }).keyId,
        configHint: `security:\n  signing: { enabled: true, algorithm: ed25519, private_key: ${ENV("VIGIL_SIGNING_PRIVATE_KEY")} }\n# auditors verify with the .pub.pem file alone: vigil verify --public-key <file>`,
      };
    }
    case "aes-256-gcm": {
      makeDirectorySync(dir, { mode: 0o700 });
      const key = randomBytes(32).toString("hex");
      const keyId = `k${new Date().toISOString().slice(0, 10).replaceAll("-", "")}-${randomBytes(2).toString("hex")}`;
      const file = write(`${stem}.key`, `${key}\n`);
      return {
        algorithm: "aes-256-gcm",
        files: [file],
        keyId,
        configHint: `security:\n  encryption: { enabled: true, key: ${ENV("VIGIL_ENCRYPTION_KEY")}, key_id: ${keyId} }\n# on rotation, move the old key under previous_keys: { <old id>: ${ENV("VIGIL_OLD_KEY")} }`,
      };
    }
    default:
      throw new VigilError(
        ErrorCodes.INVALID_ARGUMENT,
        `keygen: algorithm must be hmac-sha256, ed25519 or aes-256-gcm, found ${JSON.stringify(options.algorithm)}`,
      );
  }
}
