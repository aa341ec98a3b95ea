/**
 * Encryption at rest (SPEC §9): AES-256-GCM envelopes with key ids and rotation, the
 * decoder that reads them back, and key generation. See `docs/integrity.md`.
 *
 * @module
 */
export { type Envelope, type EnvelopeHeader, isEnvelopeLine, NonceSource, parseEnvelope } from "./aead.js";
export { createLineDecoder, createLineOpener, type LineOpener } from "./decode.js";
export { type KeygenAlgorithm, type KeygenOptions, type KeygenResult, keygen } from "./keygen.js";
export { type EncryptionKeys, KeyError, KeyRing } from "./keyring.js";
export { createEncryptionStage, type EncryptionStageOptions } from "./stage.js";
