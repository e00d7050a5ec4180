/**
 * The argv parser: the options the CLI knows, parsing (options before or after the command,
 * `--` ends them), and the usage errors (exit 64) of bad values.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { closest } from "../suggest.ts";

/** What `--help` and the parser know of an option. */
export interface OptionSpec {
  /** A string option takes a value; a boolean one stands alone. */
  type: "string" | "boolean";
  /** The one-letter form, e.g. `c` for `-c`. */
  short?: string;
  /** The value's name in help, e.g. `NAME` (a command's usage line may name it differently). */
  value?: string;
  /** What it does, shared by every command that takes it (`Command.optionHelp` overrides). */
  description: string;
  /** What applies when it is not given, in words. */
  default?: string;
  /** The only values it takes, listed by `--help` and completed by the shell. */
  values?: readonly string[];
}

/**
 * Every option the CLI knows: type, short form, and the help shared by the commands that take
 * it. A command whose option means something else says so in its `optionHelp`.
 */
export const OPTIONS = {
  json: {
    type: "boolean",
    description: "Machine output: JSON on stdout, and errors as JSON on stderr",
  },
  quiet: { type: "boolean", short: "q", description: "Hide the status lines on stderr" },
  "no-color": { type: "boolean", description: "No colour (as does a non-empty NO_COLOR)" },
  vault: {
    type: "string",
    value: "NAME",
    description: "The vault to use",
    default: "$AUTHSOME_VAULT, else default",
  },
  help: { type: "boolean", short: "h", description: "Show help for the command" },
  version: { type: "boolean", short: "v", description: "Print the version (also -V)" },
  connection: {
    type: "string",
    short: "c",
    value: "NAME",
    description: "The connection to use",
    default: "the provider's default connection",
  },
  force: { type: "boolean", description: "Replace what exists already" },
  flow: {
    type: "string",
    value: "FLOW",
    description: "The login flow",
    default: "the provider's",
    values: ["pkce", "device_code", "dcr_pkce", "api_key"],
  },
  scopes: {
    type: "string",
    value: "a,b",
    description: "OAuth scopes to ask for, comma-separated",
    default: "the provider's",
  },
  "base-url": {
    type: "string",
    value: "URL",
    description: "The API's base URL, for a provider whose host varies (self-hosted, regional)",
  },
  "client-id": {
    type: "string",
    value: "ID",
    description: "The OAuth app's client ID",
    default: "the stored one, else the provider's variable, else asked",
  },
  stdin: { type: "boolean", description: "Read the API key (or client secret) from stdin" },
  env: {
    type: "boolean",
    description: "Give the command the real values as variables instead of the proxy",
  },
  "no-isolate": {
    type: "boolean",
    description: "Let the command see the authsome home (Linux: no mount namespace)",
  },
  "reset-client": {
    type: "boolean",
    description: "Ask for the OAuth app's client ID and secret again",
  },
  "callback-port": {
    type: "string",
    value: "N",
    description: "Loopback port of the OAuth redirect URI; 0 picks a free one",
    default: "the provider's, else 7998",
  },
  timeout: {
    type: "string",
    value: "S",
    description: "Seconds to wait for the browser, the form or the device approval",
    default: "300",
  },
  field: { type: "string", value: "FIELD", description: "Print only this field's value" },
  "show-secret": {
    type: "boolean",
    description: "Print the secret field named by --field (the raw value alone)",
  },
  format: {
    type: "string",
    value: "FORMAT",
    description: "The output format",
    default: "env; json with --json",
    values: ["env", "shell", "json"],
  },
  n: { type: "string", short: "n", value: "N", description: "How many entries", default: "50" },
  allow: {
    type: "string",
    value: "P[/C]",
    description: "A connection the identity may use; P alone is the provider's default " +
      "connection at the time of use (repeatable)",
  },
  "read-only": {
    type: "string",
    value: "P",
    description: "Limit the provider to GET, HEAD and OPTIONS requests (repeatable)",
  },
  path: {
    type: "string",
    value: "P=/PREFIX",
    description: "Keep the provider's requests under a path prefix (repeatable)",
  },
  expires: {
    type: "string",
    value: "DURATION",
    description: "End the identity after a time: 30m, 12h, 7d, 2w",
    default: "never",
  },
  as: {
    type: "string",
    value: "IDENTITY",
    description: "Route only what this agent identity may use",
  },
  identity: { type: "string", value: "NAME", description: "Only the entries of this identity" },
  yes: { type: "boolean", short: "y", description: "Do not ask first" },
  passphrase: {
    type: "boolean",
    description:
      "Protect (or open) the backup with a passphrase: AUTHSOME_BACKUP_PASSPHRASE, else typed at a terminal",
  },
  records: {
    type: "boolean",
    description: "Also a new data key per vault, every record sealed again",
  },
  merge: { type: "boolean", description: "Keep what the home holds; report what differs" },
  "into-empty": {
    type: "boolean",
    description: "Restore only into vaults that do not exist yet (the default)",
  },
  import: {
    type: "boolean",
    description: "Store what is only in the environment or differs from the vault",
  },
  verbose: {
    type: "boolean",
    description: "One line on stderr per request the proxy handles (never a header value)",
  },
  provider: {
    type: "string",
    value: "PROVIDER",
    description: "Only the entries of this provider",
  },
  all: { type: "boolean", description: "Every provider, also those without a connection" },
  profile: {
    type: "string",
    value: "NAME",
    description: "The Python authsome's profile to read",
    default: "its default_profile, else default",
  },
  store: {
    type: "string",
    value: "URL",
    description: "A postgres:// URL of a shared store, without a password (use PGPASSWORD or " +
      "~/.pgpass)",
    default: "$AUTHSOME_STORE, else the embedded store in the home folder",
  },
  to: {
    type: "string",
    value: "TARGET",
    description: "Where to (see the command's own description)",
  },
  name: {
    type: "string",
    value: "NAME",
    description: "The provider name for the MCP server (login mcp URL)",
    default: "mcp- and the server's host, e.g. mcp-server-example",
  },
  "all-hosts": {
    type: "boolean",
    description: "The entries of every host sharing a PostgreSQL store, with their host names",
  },
} as const satisfies Record<string, OptionSpec>;

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
    const key = long ? arg.slice(2, eq === -1 ? undefined : eq) : arg === "-V" ? "v" : arg.slice(1);
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

/** One of `options`, else a usage error listing them (with the nearest one, when close). */
export function choice<T extends string>(flag: string, value: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(value)) {
    const near = closest(value, options);
    throw usage(
      `${flag} must be one of ${options.join(", ")}`,
      near === undefined ? `Example: ${flag} ${options[0]}` : `Did you mean ${flag} ${near}?`,
    );
  }
  return value as T;
}

/**
 * The usage error of `authsome COMMAND SUB` for a subcommand that does not exist: the nearest
 * one when close, else the list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unknownSubcommand } from "./args.ts";
 * const error = unknownSubcommand("identity", "lsit", ["create", "list"]);
 * assert.equal(error.message, 'Unknown subcommand "identity lsit"');
 * assert.equal(error.hint, 'Did you mean "identity list"? Run: authsome identity --help');
 * ```
 */
export function unknownSubcommand(
  command: string,
  sub: string,
  subcommands: readonly string[],
): AuthsomeError {
  const near = closest(sub, subcommands);
  return usage(
    `Unknown subcommand "${command} ${sub}"`,
    near === undefined
      ? `The subcommands: ${subcommands.join(", ")}. Run: authsome ${command} --help`
      : `Did you mean "${command} ${near}"? Run: authsome ${command} --help`,
  );
}
