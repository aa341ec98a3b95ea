/**
 * Erasure by rewriting in a database table: the rows are read in row-id order (keyset
 * pages), each line about the person is rewritten (`rewrite.ts`), and every batch of rows is
 * updated in one transaction together with the signed erasure records that list its
 * replacements (in `<table>_checkpoints`): both are committed or neither. Rows keep their
 * ids and row ids, so verification reads them in the same order.
 *
 * @module
 */

import { ErrorCodes, VigilError } from "../errors.js";
import type { Signer } from "../integrity/signing.js";
import { recordRow } from "../integrity/sql.js";
import type { StoredRecord } from "../storage/backend.js";
import type { SqlBackend } from "../storage/sql/backend.js";
import type { StoreErasure } from "./erase-files.js";
import { type LineRewrite, type Replacement, signErasure } from "./rewrite.js";

/** Options of {@link eraseInRows}. */
export interface RowErasureOptions {
  readonly rewrite: (stored: string) => LineRewrite;
  /** Signs the erasure records; required when the rows are chained. */
  readonly signer?: Signer;
  /** Rows per transaction. Default 500. */
  readonly batchSize?: number;
  /** Called now and then with the number of rows read so far. */
  readonly onProgress?: (rowsRead: number) => void;
}

/**
 * Erase one person from a database backend by rewriting its rows.
 *
 * @throws {VigilError} `VIGIL_ERR_CONFIG` when the rows are chained and no signer is given;
 *   `StorageError` when the database fails (batches committed before stay committed and
 *   verify; erasing again completes the work).
 */
export async function eraseInRows(backend: SqlBackend, options: RowErasureOptions): Promise<StoreErasure> {
  const size = Math.max(1, options.batchSize ?? 500);
  const source = backend.source;
  const out: StoreErasure["replacements"][number][] = [];
  const refused: { at: string; reason: string }[] = [];
  let records = 0;
  let batch: { at: number; record: StoredRecord }[] = [];
  let chained: Replacement[] = [];
  const commit = async () => {
    if (batch.length === 0) return;
    if (chained.length > 0 && !options.signer)
      throw new VigilError(
        ErrorCodes.CONFIG,
        `${source} holds signed (chained) events but security.signing is off: erasure cannot sign its record, nothing rewritten`,
      );
    const signed = chained.length > 0 ? signErasure(chained, options.signer!) : [];
    await backend.rewriteRows(batch, signed.map(recordRow));
    records += signed.length;
    batch = [];
    chained = [];
  };
  let read = 0;
  for await (const { at, line } of backend.storedLines()) {
    if (++read % 1000 === 0) options.onProgress?.(read);
    const r = options.rewrite(line);
    const where = `${source} row ${at}`;
    if (r.kind === "refused") refused.push({ at: where, reason: r.reason });
    if (r.kind !== "rewritten") continue;
    batch.push({ at, record: { event: r.event, line: r.line } });
    if (r.chain) {
      chained.push({ ...r.chain, at: where, fields: r.fields });
      out.push({ at: where, ...r.chain, fields: r.fields });
    } else out.push({ at: where, fields: r.fields });
    if (batch.length >= size) await commit();
  }
  await commit();
  return { backend: backend.name, type: "database", events: out.length, records, replacements: out, refused };
}
