/**
 * Formatting environment variables for `export`: dotenv lines, POSIX shell `export` lines, JSON.
 * Pure functions; table-tested in env_format_test.ts.
 *
 * @module
 */

/** Output formats of `export`. */
export type ExportFormat = "env" | "shell" | "json";

const PLAIN = /^[A-Za-z0-9_./:@%+,=-]*$/;

/**
 * One dotenv line: the value bare when it is made only of safe characters, else in single quotes
 * (literal), else (when it holds a `'` or a line break) in double quotes with `\\`, `"`, `$` and
 * line breaks escaped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dotenvLine } from "./env_format.ts";
 * assert.equal(dotenvLine("A", "x y"), "A='x y'");
 * ```
 */
export function dotenvLine(name: string, value: string): string {
  if (value !== "" && PLAIN.test(value)) return `${name}=${value}`;
  if (!/['\r\n]/.test(value)) return `${name}='${value}'`;
  const escaped = value
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("$", "\\$")
    .replaceAll("`", "\\`")
    .replaceAll("\r", "\\r")
    .replaceAll("\n", "\\n");
  return `${name}="${escaped}"`;
}

/**
 * One POSIX shell line, safe to `eval`: the value always in single quotes, each `'` written as
 * `'\''`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellLine } from "./env_format.ts";
 * assert.equal(shellLine("A", "it's"), "export A='it'\\''s'");
 * ```
 */
export function shellLine(name: string, value: string): string {
  return `export ${name}='${value.replaceAll("'", "'\\''")}'`;
}

/** Formats variables in one of the export formats; the text ends with a newline unless empty. */
export function formatEnv(vars: Record<string, string>, format: ExportFormat): string {
  if (format === "json") return JSON.stringify(vars, null, 2) + "\n";
  const line = format === "env" ? dotenvLine : shellLine;
  const lines = Object.entries(vars).map(([k, v]) => line(k, v));
  return lines.length === 0 ? "" : lines.join("\n") + "\n";
}
