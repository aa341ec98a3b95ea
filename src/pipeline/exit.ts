/**
 * Flush on the way out (SPEC §4): natural exit, `process.exit()`, SIGINT and
 * SIGTERM. Listeners are installed once, when the first engine needs them.
 *
 * - `exit` (natural end and `process.exit()`): a synchronous flush, the only kind
 *   possible there; the file backend writes synchronously, so nothing queued is lost.
 * - `beforeExit`: an asynchronous flush for backends that cannot write synchronously.
 * - SIGINT / SIGTERM: a synchronous flush; then, if the application has no handler of
 *   its own for the signal, the default behaviour is restored and the signal raised
 *   again, so the process still ends the way it would have without vigil. When the
 *   application does handle the signal, vigil leaves the decision to it.
 *
 * @module
 */

export interface Flushable {
  /** Write everything queued, synchronously where the backends allow. */
  flushSync(): void;
  /** Whether asynchronous work (queued events, writes in flight) remains. */
  hasPending(): boolean;
  flush(): Promise<void>;
}

const live = new Set<Flushable>();
let installed = false;

function flushAllSync(): void {
  for (const f of live) {
    try {
      f.flushSync();
    } catch {
      // an exit path must never throw; the engine has already reported the failure
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  flushAllSync();
  if (process.listenerCount(signal) === 1) {
    // ours is the only handler: behave as if vigil were not there
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", flushAllSync);
  process.on("beforeExit", () => {
    for (const f of live) if (f.hasPending()) void f.flush().catch(() => {});
  });
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

/** Flush `f` on exit and on signals until {@link unregisterExitFlush}. */
export function registerExitFlush(f: Flushable): void {
  install();
  live.add(f);
}

export function unregisterExitFlush(f: Flushable): void {
  live.delete(f);
}
