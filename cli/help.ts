/**
 * Rendering help, as gh does: a command's summary, usage, subcommands, every option with its
 * description, allowed values and default, examples, exit codes and the global options; and the
 * overview of every command by group. Pure text from the command table; nothing is loaded.
 *
 * @module
 */
import { GLOBAL, type OptionName, OPTIONS, type OptionSpec } from "./args.ts";
import type { Command } from "./command.ts";

/** Help lines are wrapped to this many columns. */
const WIDTH = 100;
/** A left column (`  -c, --connection NAME`) is at most this wide; a longer entry has its
 * description on the next line. */
const LEFT_MAX = 30;

/**
 * The help of one command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandHelp } from "./help.ts";
 * const text = commandHelp({
 *   usage: "hello [--json]",
 *   summary: "Say hello",
 *   options: [],
 *   examples: ["authsome hello", "authsome hello --json"],
 *   exitCodes: { 0: "said hello" },
 *   args: [0, 0],
 *   run: () => Promise.resolve(0),
 * });
 * assert.match(text, /^Say hello\n\nUsage: authsome hello \[--json\]\n/);
 * assert.match(text, /\nExit codes:\n {2}0 {4}said hello\n/);
 * ```
 */
export function commandHelp(command: Command): string {
  const options = command.options.map((o) => optionRow(o, command));
  const globals = GLOBAL.map((o) => optionRow(o));
  const width = columnWidth([...options, ...globals]);
  const sections: string[][] = [[command.summary], [`Usage: authsome ${command.usage}`]];
  if (command.details) sections.push(command.details);
  if (command.subcommands) {
    const rows = Object.entries(command.subcommands).map((
      [sub, s],
    ) => [`  ${sub}${s.usage === "" ? "" : ` ${s.usage}`}`, s.summary] as const);
    const subWidth = columnWidth(rows);
    sections.push(["Subcommands:", ...rows.flatMap(([left, text]) => row(left, text, subWidth))]);
  }
  if (options.length > 0) {
    sections.push(["Options:", ...options.flatMap(([left, text]) => row(left, text, width))]);
  }
  if (command.examples && command.examples.length > 0) {
    sections.push(["Examples:", ...command.examples.map((e) => `  ${e}`)]);
  }
  const codes = Object.entries(command.exitCodes ?? {})
    .sort(([a], [b]) => Number(a) - Number(b));
  if (codes.length > 0) {
    sections.push([
      "Exit codes:",
      ...codes.flatMap(([code, text]) => row(`  ${code}`, text ?? "", 7)),
    ]);
  }
  sections.push([
    "Global options:",
    ...globals.flatMap(([left, text]) => row(left, text, width)),
  ]);
  sections.push([`Every command and the environment variables: authsome help`]);
  return sections.map((s) => s.join("\n")).join("\n\n");
}

/**
 * The overview: every command by group, the global options and the environment variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overview } from "./help.ts";
 * const hello = {
 *   usage: "hello",
 *   summary: "Say hello",
 *   options: [],
 *   args: [0, 0] as [number, number],
 *   run: () => Promise.resolve(0),
 * };
 * const text = overview("authsome 1.0", [["Greetings", { hello }]], { HOME: "Your home" });
 * assert.match(text, /\nGreetings:\n {2}hello +Say hello\n/);
 * ```
 */
export function overview(
  title: string,
  groups: ReadonlyArray<readonly [string, Record<string, Command>]>,
  env: Readonly<Record<string, string>>,
): string {
  const names = groups.flatMap(([, commands]) => Object.keys(commands));
  const width = Math.max(...names.map((n) => n.length)) + 4;
  const envWidth = Math.max(...Object.keys(env).map((k) => k.length)) + 4;
  return [
    title,
    "",
    "Usage: authsome COMMAND [ARGS] [OPTIONS]",
    ...groups.flatMap(([group, commands]) => [
      "",
      `${group}:`,
      ...Object.entries(commands).flatMap(([n, c]) => row(`  ${n}`, c.summary, width)),
    ]),
    "",
    "Global options (before or after the command):",
    `  ${
      GLOBAL.map((o) => {
        const spec: OptionSpec = OPTIONS[o];
        return `--${o}${spec.value ? ` ${spec.value}` : ""}${
          spec.short ? ` (-${spec.short})` : ""
        }`;
      }).join("  ")
    }`,
    "",
    "Environment:",
    ...Object.entries(env).flatMap(([k, v]) => row(`  ${k}`, v, envWidth)),
    "",
    "Run 'authsome help COMMAND' (or 'authsome COMMAND --help') for its options, examples and " +
    "exit codes.",
  ].join("\n");
}

/** `[left column, description]` of an option, as `command` means it (shared when absent). */
function optionRow(name: OptionName, command?: Command): [string, string] {
  const spec: OptionSpec = OPTIONS[name];
  const own = command?.optionHelp?.[name];
  const value = spec.type === "string"
    ? ` ${(command && valueName(name, command.usage)) ?? spec.value ?? "VALUE"}`
    : "";
  // Long names line up whether or not a short form stands before them.
  const indent = spec.short === undefined && name.length > 1 ? "      " : "  ";
  let text = own ?? spec.description;
  if (spec.values) text += `: {${spec.values.join("|")}}`;
  // A command's own help says its default itself; the shared default may not apply to it.
  if (own === undefined && spec.default !== undefined) text += ` (default: ${spec.default})`;
  return [`${indent}${optionName(name, spec)}${value}`, text];
}

/** `-c, --connection`, `--field`, or `-n` for a one-letter option. */
function optionName(name: OptionName, spec: OptionSpec): string {
  if (name.length === 1) return `-${name}`;
  return spec.short === undefined ? `--${name}` : `-${spec.short}, --${name}`;
}

/**
 * The value's name as the command's usage line writes it (`--connection PROVIDER=NAME` in
 * `run`), so the option list agrees with the usage; undefined when the usage does not show it.
 */
function valueName(name: OptionName, usage: string): string | undefined {
  const flag = name.length === 1 ? `-${name}` : `--${name}`;
  const words = usage.split(/\s+/);
  for (let i = 0; i < words.length - 1; i++) {
    if (words[i]!.replace(/^\[+/, "") !== flag) continue;
    let value = words[i + 1]!.replace(/\.\.\.$/, "");
    // Drop the brackets that close an optional part around the option: `NAME]` → `NAME`.
    while (value.endsWith("]") && count(value, "]") > count(value, "[")) {
      value = value.slice(0, -1).replace(/\.\.\.$/, "");
    }
    // `--format env|shell|json` lists the values, which the option's row lists anyway.
    return /^[[\-|]/.test(value) || value.includes("|") ? undefined : value;
  }
  return undefined;
}

function count(text: string, char: string): number {
  return text.split(char).length - 1;
}

/** The width of a table's left column: its longest entry that fits (longer ones wrap). */
function columnWidth(rows: ReadonlyArray<readonly [string, string]>): number {
  return Math.max(0, ...rows.map(([left]) => left.length).filter((n) => n <= LEFT_MAX)) + 2;
}

/** One table row, the text wrapped under its column (on the next line when `left` is wider). */
function row(left: string, text: string, width: number): string[] {
  const lines = wrap(text, WIDTH - width);
  const pad = " ".repeat(width);
  if (left.length + 2 > width) return [left, ...lines.map((l) => pad + l)];
  return [left.padEnd(width) + (lines[0] ?? ""), ...lines.slice(1).map((l) => pad + l)];
}

/** Words wrapped to lines of at most `width` columns (a longer word stands alone). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}
