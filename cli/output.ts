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

/** A value as one line of text (`-` for nothing). */
export function textValue(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.join(" ") || "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** Prints `error` (one line and a hint, or JSON) and returns its exit status. */
export function reportError(error: unknown, io: CliIO, json: boolean, color: boolean): number {
  const known = error instanceof AuthsomeError ? error : new AuthsomeError(
    "UNEXPECTED",
    `Unexpected error: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
    { hint: "Run 'authsome doctor'; if this persists, report it with the command you ran" },
  );
  if (io.env.get("AUTHSOME_DEBUG") && !(error instanceof AuthsomeError)) {
    io.stderr(`${error instanceof Error ? error.stack : String(error)}\n`);
  }
  if (json) {
    io.stderr(
      JSON.stringify({ error: known.code, message: known.message, hint: known.hint ?? null }) +
        "\n",
    );
  } else {
    const label = color ? "\x1b[31merror\x1b[0m" : "error";
    io.stderr(`${label}: ${known.message}\n`);
    if (known.hint) io.stderr(`${color ? "\x1b[2mhint\x1b[0m" : "hint"}: ${known.hint}\n`);
  }
  return known.exitCode;
}
