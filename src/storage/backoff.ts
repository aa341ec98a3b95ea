/**
 * The reconnection delay every buffering backend uses (SQL, NATS): exponential from
 * `initialMs`, capped at `maxMs`, with 25 % jitter so that many writers do not return at
 * the same instant.
 *
 * @module
 */

/** The delay before reconnection attempt number `attempt` (0-based). */
export function retryDelay(attempt: number, initialMs: number, maxMs: number): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.75 + Math.random() * 0.25));
}
