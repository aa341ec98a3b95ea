/**
 * "Did you mean ...?" for misspelt keys and values: the closest candidate by
 * Damerau–Levenshtein distance (optimal string alignment: insert, delete, substitute,
 * swap two neighbours), compared case-insensitively.
 *
 * @module
 */

/**
 * The optimal-string-alignment distance between `a` and `b`: how many single-character
 * insertions, deletions, substitutions or swaps of adjacent characters turn one into the other.
 *
 * @example
 * editDistance("batch_sise", "batch_size"); // 1
 * editDistance("recieve", "receive");       // 1 (a swap)
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  // d[i][j] = distance between a[0..i) and b[0..j), stored row-major.
  const d = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The candidate closest to `word`, or `undefined` when none is close enough.
 *
 * Close enough means an edit distance of at most 2 (at most 1 for words of up to four
 * characters, so that `host` does not suggest `port`), or `word` being a prefix of exactly
 * one candidate and at least four characters long (`batch_timeout` → `batch_timeout_seconds`).
 * Case is ignored. Ties go to the candidate listed first.
 *
 * @example
 * closest("batch_sise", ["enabled", "batch_size", "batch_timeout_seconds"]); // "batch_size"
 * closest("colour", ["enabled"]);                                            // undefined
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    if (c === w) return candidate;
    const limit = Math.min(w.length, c.length) <= 4 ? 1 : 2;
    const distance = editDistance(w, c);
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  if (w.length >= 4) {
    const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(w));
    if (prefixed.length === 1) return prefixed[0];
  }
  return undefined;
}
