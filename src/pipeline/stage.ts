/**
 * The extension point between `prepare` and storage: integrity (hash chain,
 * checkpoints) and encryption are stages. Stages run in order, synchronously, in
 * queue order, on the batch being written — so a stage sees events exactly in the
 * order backends receive them.
 *
 * @module
 */
import type { AuditEvent, Mutable } from "../event/types.js";
import type { StoredRecord } from "../storage/backend.js";

export interface BatchStage {
  readonly name: string;
  /** Fill or change a prepared event before it is serialized (e.g. `integrity`). */
  processEvent?(event: Mutable<AuditEvent>): void;
  /**
   * Write the event's stored line instead of `toJsonLine` (the first stage that has this
   * hook does it; e.g. the integrity stage's canonical, hashed line).
   */
  serialize?(event: AuditEvent): string;
  /** Transform the serialized line (e.g. encrypt it); `event` is the clear event. */
  encodeLine?(line: string, event: AuditEvent): string;
  /** Called once the batch has been handed to every backend (e.g. to sign a checkpoint). */
  afterBatch?(records: readonly StoredRecord[]): void;
  /** Called by `engine.close()` after the last batch (e.g. a final checkpoint). */
  close?(): Promise<void> | void;
}
