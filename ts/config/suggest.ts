/**
 * "Did you mean …?" for unknown config keys: a misspelt key is otherwise silently
 * ignored (ckpool's behaviour), which is how a pool ends up on default difficulty.
 */

/** Levenshtein distance, small inputs only. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest known key within a small distance (case-insensitive), if any. */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const k = key.toLowerCase();
  let best: string | undefined;
  let bestDist = Math.min(2, Math.floor(k.length / 3)) + 1; // must beat this
  for (const cand of known) {
    // "update-interval", "updateInterval" → update_interval
    const d = editDistance(k.replace(/[-_]/g, ''), cand.toLowerCase().replace(/[-_]/g, ''));
    if (d < bestDist) {
      best = cand;
      bestDist = d;
    }
  }
  return best;
}
