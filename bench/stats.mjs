/**
 * Small helpers every benchmark shares: the median of a sample, and waiting for a child
 * process's message.
 */

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Resolves with the first message of `child` that `match` accepts; rejects if it exits first. */
export function childMessage(child, match) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (!match(m)) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(m);
    };
    const onExit = (code, signal) => reject(new Error(`bench server exited (${signal ?? `code ${code}`})`));
    child.on("message", onMessage);
    child.on("exit", onExit);
  });
}
