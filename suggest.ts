/**
 * "Did you mean" for a mistyped name: the nearest known command, option, provider or connection.
 * Shared by the CLI and the service, so it lives below both and imports nothing.
 *
 * @module
 */

/**
 * The candidate nearest to `word` (edit distance at most 2, and less than half its length), for
 * "did you mean" hints; undefined when none is that close. Case is ignored in `word`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closest } from "./suggest.ts";
 * assert.equal(closest("lsit", ["list", "login"]), "list");
 * assert.equal(closest("frobnicate", ["list", "login"]), undefined);
 * ```
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.ceil(word.length / 2) - 1);
  for (const candidate of candidates) {
    // Lengths further apart than the best distance cannot come closer (and a long mistyped
    // word is never compared letter by letter).
    if (Math.abs(candidate.length - lower.length) > bestDistance) continue;
    const d = distance(lower, candidate);
    if (d < bestDistance || (d === bestDistance && best === undefined)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * `Did you mean "work"? ` (with a trailing space, to go before the rest of a hint) when a
 * candidate is close to `word`, else the empty string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { didYouMean } from "./suggest.ts";
 * assert.equal(didYouMean("githb", ["github", "gitlab"]), 'Did you mean "github"? ');
 * assert.equal(didYouMean("zzz", ["github"]), "");
 * ```
 */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const near = closest(word, candidates);
  return near === undefined ? "" : `Did you mean "${near}"? `;
}

/** Levenshtein distance (insertions, deletions, substitutions, and swaps of neighbours). */
function distance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}
