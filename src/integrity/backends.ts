/**
 * Verification of every backend of a store, the one path `engine.verify()` and
 * `vigil verify` take: each file store as {@link verifyStore} reads it, and each database
 * backend's rows as a {@link LineSource}, with the signed records of its
 * `<table>_checkpoints` table (and the file store's checkpoints, when the store has one:
 * they are written there when both kinds of backend are configured).
 *
 * Each backend is verified on its own — the same chain is stored in every backend, so
 * reading them together would report each event as duplicated — and the results are
 * combined.
 *
 * @module
 */
import { join } from "node:path";
import type { EncryptionKeys } from "../crypto/keyring.js";
import type { StorageBackend } from "../storage/backend.js";
import { FileBackend } from "../storage/file/file-backend.js";
import { SqlBackend } from "../storage/sql/backend.js";
import type { PendingOptions } from "./pending.js";
import { readRecords } from "./records.js";
import type { SigningKeys } from "./signing.js";
import { readTableRecords, tableLineSource } from "./sql.js";
import { type VerifyProgress, type VerifyResult, verifyStore } from "./verify.js";

/** The outcome for one backend. */
export interface BackendVerifyResult {
  /** The backend's name (`storage.backends[].name`). */
  readonly backend: string;
  /** `file` or `database`. */
  readonly type: string;
  readonly result: VerifyResult;
}

/**
 * The combined outcome: `ok` only when every backend is intact or pending; counts are sums over the
 * backends (a chain stored in two backends counts twice); problems are listed backend by
 * backend. `backends` has each one's own result.
 */
export interface StoreVerifyResult extends VerifyResult {
  readonly backends: readonly BackendVerifyResult[];
}

/** Options of {@link verifyBackends}. */
export interface VerifyBackendsOptions {
  readonly signing: SigningKeys;
  readonly encryption?: EncryptionKeys;
  readonly witness?: string | readonly string[];
  /** Files of days in `[from, to)`; rows from the first to the last with a timestamp in it. */
  readonly from?: Date;
  readonly to?: Date;
  /** After each file or table, with totals over all backends read so far. */
  readonly onProgress?: (progress: VerifyProgress) => void;
  readonly maxProblems?: number;
  /** How pending tails of running writers are judged, or `false` (strict); see {@link verifyStore}. Default on. */
  readonly pending?: PendingOptions | false;
  /** `false`: storage order is not chain order (a central store that `vigil ingest` fills). Default true. */
  readonly ordered?: boolean;
}

/**
 * Verify every file and database backend in `backends` (others are skipped).
 *
 * @example
 * const result = await verifyBackends(backends, { signing: config.security.signing });
 * for (const b of result.backends) console.log(b.backend, b.result.status);
 */
export async function verifyBackends(
  backends: readonly StorageBackend[],
  options: VerifyBackendsOptions,
): Promise<StoreVerifyResult> {
  const fileStore = backends.find((b): b is FileBackend => b instanceof FileBackend);
  const common = {
    signing: options.signing,
    ...(options.encryption ? { encryption: options.encryption } : {}),
    ...(options.witness !== undefined ? { witness: options.witness } : {}),
    ...(options.from ? { from: options.from } : {}),
    ...(options.to ? { to: options.to } : {}),
    ...(options.maxProblems !== undefined ? { maxProblems: options.maxProblems } : {}),
    ...(options.pending !== undefined ? { pending: options.pending } : {}),
    ...(options.ordered === false ? { ordered: false } : {}),
  };
  const results: BackendVerifyResult[] = [];
  let doneBefore = 0;
  let eventsBefore = 0;
  const onProgress = options.onProgress
    ? (p: VerifyProgress) =>
        options.onProgress!({
          done: doneBefore + p.done,
          total: doneBefore + p.total,
          events: eventsBefore + p.events,
          current: p.current,
        })
    : undefined;
  for (const backend of backends) {
    let result: VerifyResult;
    if (backend instanceof FileBackend) {
      result = await verifyStore({ ...common, backend, ...(onProgress ? { onProgress } : {}) });
    } else if (backend instanceof SqlBackend) {
      const own = await readTableRecords(backend);
      // Checkpoints kept in the file store cover the rows too; its retention records are
      // about its files, never about rows.
      const files = fileStore ? readRecords(join(fileStore.directory, "checkpoints")) : undefined;
      const checkpoints = files
        ? [{ records: files.records.filter((r) => r.record.type === "checkpoint"), bad: files.bad }]
        : [];
      result = await verifyStore({
        ...common,
        sources: [tableLineSource(backend, { from: options.from, to: options.to })],
        records: [own, ...checkpoints],
        ...(onProgress ? { onProgress } : {}),
      });
    } else continue;
    results.push({ backend: backend.name, type: backend.type, result });
    doneBefore += result.files;
    eventsBefore += result.events;
  }
  return combine(results);
}

function combine(results: readonly BackendVerifyResult[]): StoreVerifyResult {
  const all = results.map((r) => r.result);
  const sum = (f: (r: VerifyResult) => number) => all.reduce((n, r) => n + f(r), 0);
  const status = all.some((r) => r.status === "tampered")
    ? "tampered"
    : all.some((r) => r.status === "unverifiable")
      ? "unverifiable"
      : all.some((r) => r.status === "pending")
        ? "pending"
        : "intact";
  return {
    ok: status === "intact" || status === "pending",
    status,
    chains: sum((r) => r.chains),
    events: sum((r) => r.events),
    files: sum((r) => r.files),
    checkpoints: sum((r) => r.checkpoints),
    retained: sum((r) => r.retained),
    erased: sum((r) => r.erased),
    problems: all.flatMap((r) => r.problems),
    omittedProblems: sum((r) => r.omittedProblems),
    pending: all.flatMap((r) => r.pending),
    pendingEvents: sum((r) => r.pendingEvents),
    backends: results,
  };
}
