/**
 * Output formatting: tables, one-line values, connection metadata without secret names, and
 * errors as one `error:` line with a `hint:` (or JSON on stderr with --json).
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { ConnectionInfo } from "../mod.ts";
import type { CliIO } from "./command.ts";

/** A connection as shown by `get` and `inspect` (without the list of secret field names). */
export function publicConnection(info: ConnectionInfo): Record<string, unknown> {
  const { secret_fields: _, ...rest } = info;
  return rest;
}

/**
 * A value as one line of text. Nothing (null, undefined, an empty list) is `absent`: empty by
 * default, so a script reading the value gets nothing rather than a stand-in such as `-`; human
 * listings pass a word (`never`, `none`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textValue } from "./output.ts";
 * assert.equal(textValue(["read", "write"]), "read write");
 * assert.equal(textValue(null), "");
 * assert.equal(textValue([], "none"), "none");
 * ```
 */
export function textValue(value: unknown, absent = ""): string {
  if (value === null || value === undefined) return absent;
  if (Array.isArray(value)) return value.join(" ") || absent;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * Left-aligned columns, two spaces apart. A cell that does not apply is left empty (never `-`);
 * such cells stand last in their row, and trailing blanks are cut, so `awk` sees fewer fields
 * rather than a stand-in value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "./output.ts";
 * assert.equal(table(["A", "B"], [["x", "1"], ["long", ""]]), "A     B\nx     1\nlong");
 * ```
 */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** Prints `error` (one line and a hint, or JSON) and returns its exit status. */
export function reportError(error: unknown, io: CliIO, json: boolean, color: boolean): number {
  const known = error instanceof AuthsomeError
    ? permissionError(error.cause) ?? error
    : permissionError(error) ?? new AuthsomeError(
      "UNEXPECTED",
      `Unexpected error: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
      { hint: "Run 'authsome doctor'; if this persists, report it with the command you ran" },
    );
  if (debugging(io) && !(error instanceof AuthsomeError)) {
    io.stderr(`${error instanceof Error ? error.stack : String(error)}\n`);
  }
  const message = clip(known.message);
  const hint = known.hint === undefined ? undefined : clip(known.hint);
  if (json) {
    io.stderr(JSON.stringify({ error: known.code, message, hint: hint ?? null }) + "\n");
  } else {
    const label = color ? "\x1b[31merror\x1b[0m" : "error";
    io.stderr(`${label}: ${message}\n`);
    if (hint) io.stderr(`${color ? "\x1b[2mhint\x1b[0m" : "hint"}: ${hint}\n`);
  }
  return known.exitCode;
}

/** The longest error or hint line shown, in characters. */
export const MAX_MESSAGE_LENGTH = 400;

/**
 * A message cut to {@linkcode MAX_MESSAGE_LENGTH} characters: messages quote what was given (a
 * name, a provider's display name), and a 1 MB argument must not become a 1 MB error line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clip } from "./output.ts";
 * assert.equal(clip("short"), "short");
 * assert.match(clip(`Unknown command "${"x".repeat(5000)}"`), /x… \(5018 characters\)$/);
 * ```
 */
export function clip(text: string): string {
  if (text.length <= MAX_MESSAGE_LENGTH) return text;
  return `${text.slice(0, MAX_MESSAGE_LENGTH - 30)}… (${text.length} characters)`;
}

/** AUTHSOME_DEBUG is set (false when Deno may not read the environment). */
function debugging(io: CliIO): boolean {
  try {
    return Boolean(io.env.get("AUTHSOME_DEBUG"));
  } catch {
    return false;
  }
}

/**
 * A permission Deno did not grant (run as `deno run jsr:@authsome/cli …` without `-A`), as a
 * usage error naming the flag to add; undefined for any other error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissionError } from "./output.ts";
 * const denied = new Deno.errors.NotCapable(
 *   'Requires env access to "HOME", run again with the --allow-env flag',
 * );
 * assert.equal(permissionError(denied)?.hint?.startsWith("Run again with --allow-env"), true);
 * assert.equal(permissionError(new Error("other")), undefined);
 * ```
 */
export function permissionError(error: unknown): AuthsomeError | undefined {
  if (!(error instanceof Deno.errors.NotCapable)) return undefined;
  const flag = /--allow-[a-z-]+/.exec(error.message)?.[0];
  const what = /^Requires (.*?), run again/.exec(error.message)?.[1] ?? "a permission";
  return new AuthsomeError(
    "USAGE",
    `Deno did not give authsome ${what.replace(/^Requires /, "")}`,
    {
      hint:
        `${
          flag ? `Run again with ${flag}, or` : "Run again"
        } with -A for everything authsome does: ` +
        "deno run -A jsr:@authsome/cli COMMAND",
    },
  );
}
