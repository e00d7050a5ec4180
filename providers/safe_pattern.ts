/**
 * Refuses regular expressions that can backtrack catastrophically. A provider file's
 * `api_key.key_pattern` and `regex:` hosts run against values a user or a local client chooses
 * (an API key, a CONNECT host); a pattern such as `^(a+)+$` takes exponential time on
 * `aaaa…!` and would hang the process. JavaScript has no match timeout, so such patterns are
 * refused when the provider file is read, in the way `safe-regex`-style checks do: no repeated
 * group that itself repeats or alternates, no back-reference, and a bounded length.
 *
 * @module
 */

/** The longest pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1024;

/**
 * Why `pattern` may backtrack catastrophically, or undefined when it is safe. Assumes `pattern`
 * compiles (check that first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unsafePatternReason } from "./safe_pattern.ts";
 * assert.equal(unsafePatternReason("^sk-[A-Za-z0-9_-]{20,}$"), undefined);
 * assert.equal(unsafePatternReason("^(sk|rk)_(live|test)_[a-z]+$"), undefined);
 * assert.equal(unsafePatternReason("^([a-z0-9-]+\\.)+example\\.com$"), undefined);
 * assert.match(unsafePatternReason("^(a+)+$") ?? "", /repeated group/);
 * ```
 */
export function unsafePatternReason(pattern: string): string | undefined {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return `is longer than ${MAX_PATTERN_LENGTH} characters`;
  }
  const groups: Group[] = [];
  let previous: { atom: string; group?: Group } | undefined;
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    const length = quantifierLength(pattern, i);
    if (length > 0) {
      const many = repeatsMoreThanOnce(pattern.slice(i, i + length));
      if (many && previous?.group && !safeRepeat(previous.group)) {
        return "has a repeated group that itself repeats or alternates, " +
          "which can make matching take exponential time";
      }
      const inner = groups[groups.length - 1];
      if (many && inner && previous) inner.repeated.push(previous.atom);
      if (inner) inner.last = undefined;
      i += length;
      previous = undefined;
      continue;
    }
    let atom = ch;
    let group: Group | undefined;
    if (ch === "\\") {
      const next = pattern[i + 1] ?? "";
      if (/[1-9]/.test(next) || next === "k") {
        return "uses a back-reference, which can make matching take exponential time";
      }
      atom = pattern.slice(i, i + 2);
    } else if (ch === "[") {
      atom = pattern.slice(i, endOfClass(pattern, i + 1));
    } else if (ch === "(") {
      groups.push({ repeated: [], alternates: false, last: undefined });
      i += pattern[i + 1] === "?" ? 2 : 1;
      previous = undefined;
      continue;
    } else if (ch === ")") {
      group = groups.pop();
      const outer = groups[groups.length - 1];
      if (group && outer) {
        outer.repeated.push(...group.repeated);
        outer.alternates ||= group.alternates;
      }
    } else if (ch === "|" && groups.length > 0) {
      groups[groups.length - 1]!.alternates = true;
    }
    i += atom.length;
    const inner = groups[groups.length - 1];
    if (inner && ch !== ")") inner.last = isLiteral(atom) ? atom : undefined;
    if (inner && ch === ")") inner.last = undefined;
    previous = group ? { atom, group } : { atom };
  }
  return undefined;
}

/** What is known of an open group: its repeated atoms, alternation, and its last literal. */
interface Group {
  repeated: string[];
  alternates: boolean;
  /** The group's last atom when it is a single literal character (`\.`, `-`), else undefined. */
  last: string | undefined;
}

/**
 * Whether repeating `group` stays linear: it neither repeats nor alternates inside, or it ends
 * with a literal separator none of its repeated atoms can match (`([a-z]+\.)+`).
 */
function safeRepeat(group: Group): boolean {
  if (group.alternates) return false;
  if (group.repeated.length === 0) return true;
  const separator = group.last;
  if (separator === undefined) return false;
  const char = separator.length === 2 ? separator[1]! : separator;
  return group.repeated.every((atom) => !new RegExp(`^${atom}$`).test(char));
}

/** A single literal character: a plain one or an escaped punctuation mark. */
function isLiteral(atom: string): boolean {
  if (atom.length === 1) return !".^$|".includes(atom);
  return atom.length === 2 && atom[0] === "\\" && /[^A-Za-z0-9]/.test(atom[1]!);
}

/** The index after the `]` that ends the character class starting at `from`. */
function endOfClass(pattern: string, from: number): number {
  let i = from;
  while (i < pattern.length && pattern[i] !== "]") i += pattern[i] === "\\" ? 2 : 1;
  return i + 1;
}

/** The length of the quantifier at `i` (`*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, lazy `?`), or 0. */
function quantifierLength(pattern: string, i: number): number {
  const ch = pattern[i];
  let length = 0;
  if (ch === "*" || ch === "+" || ch === "?") length = 1;
  else if (ch === "{") length = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i))?.[0].length ?? 0;
  if (length > 0 && pattern[i + length] === "?") length++;
  return length;
}

/** Whether a quantifier allows more than one repetition (`?` and `{0,1}` do not). */
function repeatsMoreThanOnce(quantifier: string): boolean {
  const bare = quantifier.replace(/\?$/, "") || "?";
  if (bare === "?") return false;
  const counts = /^\{(\d+)(,(\d*))?\}$/.exec(bare);
  if (!counts) return true;
  if (counts[2] === undefined) return Number(counts[1]) > 1;
  return counts[3] === "" || Number(counts[3]) > 1;
}
