/**
 * The argv parser: the options the CLI knows, parsing (options before or after the command,
 * `--` ends them), and the usage errors (exit 64) of bad values.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";

/** Every option the CLI knows, with its type and short form. */
export const OPTIONS = {
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "no-color": { type: "boolean" },
  vault: { type: "string" },
  store: { type: "string" },
  to: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  connection: { type: "string", short: "c" },
  force: { type: "boolean" },
  flow: { type: "string" },
  scopes: { type: "string" },
  "base-url": { type: "string" },
  "client-id": { type: "string" },
  stdin: { type: "boolean" },
  env: { type: "boolean" },
  "no-isolate": { type: "boolean" },
  "reset-client": { type: "boolean" },
  "callback-port": { type: "string" },
  timeout: { type: "string" },
  field: { type: "string" },
  "show-secret": { type: "boolean" },
  format: { type: "string" },
  n: { type: "string", short: "n" },
  allow: { type: "string" },
  "read-only": { type: "string" },
  path: { type: "string" },
  expires: { type: "string" },
  as: { type: "string" },
  identity: { type: "string" },
  yes: { type: "boolean", short: "y" },
} as const;

/** An option name, e.g. `connection`. */
export type OptionName = keyof typeof OPTIONS;
/** Parsed option values. */
export type Values = {
  [K in OptionName]?: typeof OPTIONS[K]["type"] extends "string" ? string : boolean;
};

/** Options every command takes. */
export const GLOBAL: OptionName[] = [
  "json",
  "quiet",
  "no-color",
  "vault",
  "store",
  "help",
  "version",
];

/**
 * Parses argv against {@linkcode OPTIONS}: `--name value`, `--name=value`, `-c value`, boolean
 * flags, and `--` to end the options. Hand-written instead of `node:util`'s `parseArgs`, whose
 * Node-compat start-up costs about 10 ms on every command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArgv } from "./args.ts";
 * assert.deepEqual({ ...parseArgv(["get", "openai", "-c", "work"]).values }, { connection: "work" });
 * ```
 */
export function parseArgv(
  argv: string[],
): { values: Values; positionals: string[]; all: Partial<Record<OptionName, string[]>> } {
  const values: Record<string, string | boolean> = {};
  const all: Partial<Record<OptionName, string[]>> = {};
  const positionals: string[] = [];
  const shorts = new Map<string, OptionName>();
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if ("short" in spec) shorts.set(spec.short, name as OptionName);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      // `run CMD ARGS...`: everything from the command on belongs to the command.
      if (positionals.length === 2 && positionals[0] === "run") {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    // `-v` is the version, as in most tools (`-V` too).
    const key = long ? arg.slice(2, eq === -1 ? undefined : eq) : arg === "-v" ? "V" : arg.slice(1);
    const name = long ? (key in OPTIONS ? key as OptionName : undefined) : shorts.get(key);
    if (name === undefined) {
      const near = long ? closest(key, Object.keys(OPTIONS)) : undefined;
      throw usage(
        `Unknown option ${long ? "--" : "-"}${key}`,
        near ? `Did you mean --${near}? Run: authsome --help` : "Run: authsome --help",
      );
    }
    const shown = long ? `--${name}` : `-${key}`;
    if (OPTIONS[name].type === "boolean") {
      if (eq !== -1) throw usage(`${shown} takes no value`, `Write ${shown} alone`);
      values[name] = true;
      continue;
    }
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw usage(`${shown} needs a value`, `Example: ${shown} VALUE`);
    values[name] = value;
    (all[name] ??= []).push(value);
  }
  return { values: values as Values, positionals, all };
}

/** A usage error (exit 64) with a hint. */
export function usage(message: string, hint: string): AuthsomeError {
  return new AuthsomeError("USAGE", message, { hint });
}

/** A whole number from `min` to `max`, else a usage error. */
export function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw usage(
      `${flag} must be a whole number from ${min} to ${max}`,
      `Example: ${flag} ${max === 65535 ? 7998 : 300}`,
    );
  }
  return n;
}

/** One of `options`, else a usage error listing them. */
export function choice<T extends string>(flag: string, value: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(value)) {
    throw usage(`${flag} must be one of ${options.join(", ")}`, `Example: ${flag} ${options[0]}`);
  }
  return value as T;
}

/**
 * The candidate nearest to `word` (Levenshtein distance at most 2, and less than half its
 * length), for "did you mean" hints; undefined when none is that close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { closest } from "./args.ts";
 * assert.equal(closest("lsit", ["list", "login"]), "list");
 * assert.equal(closest("frobnicate", ["list", "login"]), undefined);
 * ```
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.ceil(word.length / 2) - 1);
  for (const candidate of candidates) {
    const d = distance(word.toLowerCase(), candidate);
    if (d <= bestDistance && (best === undefined || d < distance(word.toLowerCase(), best))) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
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
