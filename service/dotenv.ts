/**
 * Dotenv files as the common tools read them: `KEY=value` lines, comments, blank lines, an
 * `export ` prefix, single quotes (literal), double quotes (with `\n`, `\t`, `\"`, `\\`
 * escapes), values spanning lines inside quotes, and an unquoted value ending at ` #`.
 * A line that cannot be read is reported with its number and skipped; values never appear in
 * a problem.
 *
 * @module
 */

/** One variable read from a file: its value and the line it starts on (1-based). */
export interface DotenvEntry {
  value: string;
  line: number;
}

/** What a file held: the variables (a later line wins) and the lines that were skipped. */
export interface DotenvFile {
  entries: Map<string, DotenvEntry>;
  problems: Array<{ line: number; reason: string }>;
}

/** The dotenv files `scan` reads, in order: a later file overrides an earlier one. */
export const DOTENV_FILES: readonly string[] = [
  ".env",
  ".env.local",
  ".env.development",
  ".env.development.local",
  ".env.test",
  ".env.test.local",
  ".env.production",
  ".env.production.local",
];

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", '"': '"', "\\": "\\" };

/**
 * Parses the text of a dotenv file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDotenv } from "./dotenv.ts";
 * const file = parseDotenv('# keys\nexport A=1 # note\nB="x\\ny"\nC=\'$raw\'\nnot a line\n');
 * assert.deepEqual(file.entries.get("A"), { value: "1", line: 2 });
 * assert.equal(file.entries.get("B")?.value, "x\ny");
 * assert.equal(file.entries.get("C")?.value, "$raw");
 * assert.deepEqual(file.problems, [{ line: 5, reason: "expected NAME=value" }]);
 * ```
 */
export function parseDotenv(text: string): DotenvFile {
  const entries = new Map<string, DotenvEntry>();
  const problems: DotenvFile["problems"] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    const trimmed = lines[i]!.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const body = trimmed.replace(/^export\s+/, "");
    const eq = body.indexOf("=");
    const name = eq === -1 ? "" : body.slice(0, eq).trim();
    if (eq === -1 || !NAME.test(name)) {
      problems.push({ line: start, reason: "expected NAME=value" });
      continue;
    }
    let rest = body.slice(eq + 1).trimStart();
    const quote = rest[0];
    if (quote !== '"' && quote !== "'") {
      const comment = rest.search(/\s#/);
      entries.set(name, {
        value: (comment === -1 ? rest : rest.slice(0, comment)).trim(),
        line: start,
      });
      continue;
    }
    // A quoted value may go on over the next lines until its closing quote.
    let closing = findClosing(rest, quote);
    while (closing === -1 && i + 1 < lines.length) {
      rest += "\n" + lines[++i]!;
      closing = findClosing(rest, quote);
    }
    if (closing === -1) {
      problems.push({ line: start, reason: `the ${quote} quote is never closed` });
      continue;
    }
    const after = rest.slice(closing + 1).trim();
    if (after !== "" && !after.startsWith("#")) {
      problems.push({ line: start, reason: "text after the closing quote" });
      continue;
    }
    const inner = rest.slice(1, closing);
    entries.set(name, {
      value: quote === "'" ? inner : inner.replace(/\\(.)/gs, (m, c) => ESCAPES[c] ?? m),
      line: start,
    });
  }
  return { entries, problems };
}

/** The index of the quote closing `text` (which starts with it), or -1. */
function findClosing(text: string, quote: string): number {
  for (let j = 1; j < text.length; j++) {
    if (quote === '"' && text[j] === "\\") {
      j++;
      continue;
    }
    if (text[j] === quote) return j;
  }
  return -1;
}
