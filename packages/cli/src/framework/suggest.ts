/** "did you mean …?" suggestions by edit distance. */

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate within a distance that scales with the word's length, or a unique prefix match. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Number.POSITIVE_INFINITY;
  const limit = Math.max(2, Math.floor(word.length / 3));
  const list = [...candidates];
  for (const c of list) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  if (best !== undefined && bestDist <= limit) return best;
  const prefixed = list.filter((c) => c.startsWith(word) || (word.length >= 3 && word.startsWith(c)));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
