/**
 * Tamper evidence (SPEC §9): the hash chain, signed checkpoints and retention records,
 * and verification. See `docs/integrity.md`.
 *
 * @module
 */

export {
  type BackendVerifyResult,
  type StoreVerifyResult,
  type VerifyBackendsOptions,
  verifyBackends,
} from "./backends.js";
export { canonicalize } from "./canonical.js";
export {
  checkLine,
  createChainId,
  eventHash,
  GENESIS,
  type LineCheck,
  sealEvent,
  sha256Hex,
} from "./chain.js";
export {
  type ChainWriter,
  type PendingOptions,
  type PendingPolicy,
  parseChainId,
  pendingPolicy,
  type WriterState,
} from "./pending.js";
export {
  type CheckpointRecord,
  type CheckpointSink,
  checkRecordSignature,
  FileCheckpointSink,
  fanOutSinks,
  type RetentionRecord,
  readRecords,
  type SignedRecord,
  signRecord,
} from "./records.js";
export {
  applyVerifiableRetention,
  type BackendRetentionResult,
  retainBackend,
  rotationRetention,
  signDeletion,
  type VerifiableRetentionOptions,
  type VerifiableRetentionResult,
} from "./retention.js";
export {
  createSigner,
  createVerifier,
  type SignatureVerifier,
  type Signer,
  type SigningAlgorithm,
  type SigningKeys,
} from "./signing.js";
export {
  type RecordTable,
  type RowStore,
  readTableRecords,
  retainRows,
  TableCheckpointSink,
  tableLineSource,
} from "./sql.js";
export {
  createIntegrityStage,
  defaultStoreDirectory,
  type IntegrityStage,
  type IntegrityStageOptions,
} from "./stage.js";
export {
  ChainVerifier,
  type ChainVerifierOptions,
  type LineSource,
  type PendingTail,
  type ProblemKind,
  type VerifyFile,
  type VerifyProblem,
  type VerifyProgress,
  type VerifyResult,
  type VerifyStoreOptions,
  verifyStore,
} from "./verify.js";
