/**
 * Retention that stays verifiable (SPEC §9): before files older than the cutoff are
 * deleted, a signed retention record per chain range states exactly which events go
 * (`chain`, `from..to`, the hash of the last one, the files). Verify then accepts those
 * gaps — and still reports any other.
 *
 * @module
 */
import { unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ResolvedConfig } from "../config/types.js";
import { createLineOpener } from "../crypto/decode.js";
import type { EncryptionKeys } from "../crypto/keyring.js";
import { ErrorCodes, VigilError } from "../errors.js";
import type { RetentionResult, StorageBackend } from "../storage/backend.js";
import { FileBackend, type PruneHook } from "../storage/file/file-backend.js";
import { SqlBackend } from "../storage/sql/backend.js";
import { checkLine } from "./chain.js";
import { readFileLines } from "./read.js";
import { type CheckpointSink, FileCheckpointSink, type RetentionRecord, signRecord } from "./records.js";
import { createSigner, type Signer } from "./signing.js";
import { retainRows } from "./sql.js";

/** Options of {@link applyVerifiableRetention}. */
export interface VerifiableRetentionOptions {
  /** The file backend: its `applyRetention(cutoff, { dryRun: true })` chooses the files. */
  readonly backend: {
    applyRetention(cutoff: Date, options: { readonly dryRun: boolean }): Promise<RetentionResult>;
  };
  readonly cutoff: Date;
  /** Signs the retention records (the store's signing key). */
  readonly signer: Signer;
  /** Receives the records (e.g. a `FileCheckpointSink` on `<directory>/checkpoints`). */
  readonly sink: CheckpointSink;
  /** Decryption keys when the files are encrypted. */
  readonly encryption?: EncryptionKeys;
  /** Report what would go without deleting or signing anything. Default false. */
  readonly dryRun?: boolean;
  /** Clock (tests). */
  readonly now?: () => Date;
}

/** What {@link applyVerifiableRetention} did. */
export interface VerifiableRetentionResult extends RetentionResult {
  readonly records: readonly RetentionRecord[];
}

/**
 * Delete the files the backend's retention selects, after signing (and fsyncing) one
 * retention record per contiguous range of each chain they hold.
 *
 * @example
 * await applyVerifiableRetention({ backend, cutoff, signer: createSigner(config.security.signing),
 *   sink: new FileCheckpointSink(join(backend.directory, "checkpoints")) });
 */
export async function applyVerifiableRetention(
  options: VerifiableRetentionOptions,
): Promise<VerifiableRetentionResult> {
  const plan = await options.backend.applyRetention(options.cutoff, { dryRun: true });
  const paths = plan.deletedFiles ?? [];
  const records = await signDeletion(paths, {
    signer: options.signer,
    ...(options.encryption ? { encryption: options.encryption } : {}),
    cutoff: options.cutoff,
    ...(options.now ? { now: options.now } : {}),
  });
  if (!options.dryRun) {
    for (const r of records) options.sink.append(r);
    for (const path of paths) {
      try {
        await unlink(path);
      } catch (err) {
        // gone already: deleted by a process that does not take the store's lock
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
  }
  return { deletedEvents: plan.deletedEvents, deletedFiles: paths, records };
}

/**
 * The signed retention records that make deleting `paths` verifiable: one per contiguous
 * range of each chain the files hold (lines that cannot be read are not vouched for, so
 * verify reports their absence as before). Nothing is written or deleted.
 *
 * @throws the read error of a file that cannot be read to its end.
 */
export async function signDeletion(
  paths: readonly string[],
  options: {
    readonly signer: Signer;
    readonly encryption?: EncryptionKeys;
    /** The retention cutoff (deletion by age). */
    readonly cutoff?: Date;
    /** Why the files go, when not by age (e.g. `rotation.backup_count 2`). */
    readonly reason?: string;
    readonly now?: () => Date;
  },
): Promise<RetentionRecord[]> {
  const open = createLineOpener(options.encryption);
  const seqs = new Map<string, Map<number, string>>();
  const filesOf = new Map<string, Set<string>>();
  for (const path of paths) {
    const name = basename(path);
    const outcome = await readFileLines(path, path.endsWith(".gz"), (text) => {
      let check: ReturnType<typeof checkLine>;
      try {
        check = checkLine(open(text));
      } catch {
        return; // unreadable lines are not vouched for: verify reports their absence as before
      }
      if (!check?.valid) return;
      const m = seqs.get(check.chain) ?? new Map<number, string>();
      seqs.set(check.chain, m);
      m.set(check.seq, check.hash);
      const f = filesOf.get(check.chain) ?? new Set<string>();
      filesOf.set(check.chain, f);
      f.add(name);
    });
    if (outcome.error) throw outcome.error;
  }
  const now = (options.now ?? (() => new Date()))().toISOString();
  const records: RetentionRecord[] = [];
  for (const [chain, m] of seqs) {
    const sorted = [...m.keys()].sort((a, b) => a - b);
    const files = [...(filesOf.get(chain) ?? [])].sort();
    for (let i = 0; i < sorted.length; ) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
      records.push(
        signRecord(
          {
            v: 1 as const,
            type: "retention" as const,
            chain,
            from: sorted[i]!,
            to: sorted[j]!,
            last_hash: m.get(sorted[j]!)!,
            files,
            ...(options.cutoff ? { cutoff: options.cutoff.toISOString() } : {}),
            ...(options.reason !== undefined ? { reason: options.reason } : {}),
            time: now,
          },
          options.signer,
        ),
      );
      i = j + 1;
    }
  }
  return records;
}

/**
 * The file backend's `beforePrune` hook for a signed store: before `rotation.backup_count`
 * deletes rotated files, a signed retention record (reason `rotation.backup_count N`)
 * covering exactly the events they hold is written to `<directory>/checkpoints` (and each
 * witness) and fsync'd, so verify accepts the gap. `undefined` when signing is off.
 * When the records cannot be signed or written, the hook rejects and the files are kept.
 *
 * @example
 * createBackends(config, { onWarning, beforePrune: rotationRetention(config) });
 */
export function rotationRetention(config: ResolvedConfig): PruneHook | undefined {
  const { signing, encryption } = config.security;
  if (!signing.enabled) return undefined;
  let signer: Signer | undefined;
  const witness = signing.witness === undefined ? [] : [signing.witness];
  return async ({ directory, files, keep }) => {
    try {
      signer ??= createSigner(signing);
      const records = await signDeletion(
        files.map((f) => f.path),
        { signer, encryption, reason: `rotation.backup_count ${keep}` },
      );
      if (records.length === 0) return;
      const sink = new FileCheckpointSink(join(directory, "checkpoints"), witness);
      try {
        sink.appendAll(records);
      } finally {
        sink.close();
      }
    } catch (err) {
      throw new VigilError(
        ErrorCodes.INTEGRITY,
        `cannot sign a retention record for ${files.map((f) => f.name).join(", ")}, so they are not deleted: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };
}

/** What {@link retainBackend} did for one backend. */
export interface BackendRetentionResult extends RetentionResult {
  /** Retention records signed (file stores with signing on). */
  readonly signed?: number;
}

/**
 * Retention for one backend, the one path both `engine.applyRetention()` and
 * `vigil retention` take: with a signer, a file store's files (and a database's rows) go
 * only after a signed retention record covers each chain range they hold — beside the
 * file store's checkpoints, or in the database's `<table>_checkpoints` — so `verify`
 * accepts exactly that gap; otherwise the backend deletes by itself.
 */
export async function retainBackend(
  backend: StorageBackend,
  cutoff: Date,
  options: { readonly signer?: Signer; readonly encryption?: EncryptionKeys; readonly dryRun: boolean },
): Promise<BackendRetentionResult> {
  if (options.signer && backend instanceof SqlBackend) {
    const result = await retainRows(backend, cutoff, {
      signer: options.signer,
      dryRun: options.dryRun,
      open: createLineOpener(options.encryption),
    });
    return { deletedEvents: result.deletedEvents, signed: result.records.length };
  }
  const signer = options.signer;
  if (!signer || !(backend instanceof FileBackend))
    return backend.applyRetention(cutoff, { dryRun: options.dryRun });
  // holding the store's maintenance lock: another process applying retention at once
  // finds the files gone instead of signing for them and deleting them a second time
  if (!options.dryRun) return backend.exclusively(() => retainFiles(backend, cutoff, signer, options));
  return retainFiles(backend, cutoff, signer, options);
}

async function retainFiles(
  backend: FileBackend,
  cutoff: Date,
  signer: Signer,
  options: { readonly encryption?: EncryptionKeys; readonly dryRun: boolean },
): Promise<BackendRetentionResult> {
  const sink = new FileCheckpointSink(join(backend.directory, "checkpoints"));
  try {
    const result = await applyVerifiableRetention({
      backend,
      cutoff,
      signer,
      sink,
      ...(options.encryption ? { encryption: options.encryption } : {}),
      dryRun: options.dryRun,
    });
    return { ...result, signed: result.records.length };
  } finally {
    sink.close();
  }
}
