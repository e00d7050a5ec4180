/**
 * The authsome command line: argv → command module (`cli/`) → service. The only module that
 * prints to the terminal or sets an exit code; the command modules write through the
 * {@linkcode CliIO} they are given.
 *
 * @example
 * ```sh
 * ./authsome login openai --connection work
 * ./authsome export openai --connection work --format shell
 * ```
 *
 * @module
 */
import type { AuthService } from "./mod.ts";
import { GLOBAL, type OptionName, parseArgv, usage } from "./cli/args.ts";
import { type CliIO, Output } from "./cli/command.ts";
import { reportError } from "./cli/output.ts";
import { refuseInRunChild } from "./cli/run_child.ts";
import { denoIO } from "./cli/terminal.ts";
import { VERSION } from "./cli/version.ts";
import { closest } from "./suggest.ts";

export { parseArgv } from "./cli/args.ts";
export type { CliIO } from "./cli/command.ts";
export { VERSION };

/**
 * Runs the CLI with `argv` and returns the exit status. Never throws.
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 * Deno.exitCode = await main(["list", "--json"]);
 * ```
 */
export async function main(argv: string[], io: CliIO = denoIO()): Promise<number> {
  let json = argv.includes("--json");
  let color = false;
  let auth: AuthService | undefined;
  if (argv[0] === "__complete") return await completeWords(argv.slice(1), io);
  try {
    color = useColor(io, argv);
    const parsed = parseArgv(argv);
    const values = parsed.values;
    json = values.json === true;
    if (values["no-color"]) color = false;
    const [name, ...args] = parsed.positionals;
    if (values.version || (name === "version" && args.length === 0)) {
      io.stdout(json ? JSON.stringify({ version: VERSION }) + "\n" : `authsome ${VERSION}\n`);
      return 0;
    }
    // The command table (and through it the service) is loaded only when a command runs.
    const { COMMANDS, helpText } = await import("./cli/commands.ts");
    // `authsome`, `authsome help` and `authsome help CMD` show help, like --help.
    if (name === undefined || (name === "help" && args.length <= 1)) {
      const topic = name === "help" ? args[0] : undefined;
      if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) throw await unknownCommand(topic);
      io.stdout(helpText(topic) + "\n");
      return 0;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) throw await unknownCommand(name);
    if (values.help) {
      io.stdout(helpText(name) + "\n");
      return 0;
    }
    for (const key of Object.keys(values) as OptionName[]) {
      if (!GLOBAL.includes(key) && !command.options.includes(key)) {
        const near = closest(key, command.options);
        throw usage(
          `${key.length === 1 ? "-" : "--"}${key} is not an option of "${name}"`,
          near
            ? `Did you mean --${near}? Run: authsome ${name} --help`
            : `Run: authsome ${name} --help`,
        );
      }
    }
    const [min, max] = command.args;
    if (args.length < min || args.length > max) {
      throw usage(
        args.length < min ? `Missing arguments for "${name}"` : `Too many arguments for "${name}"`,
        // A hint is one line: a command with several forms names the first and points at help.
        command.usage.includes("\n")
          ? `Usage: authsome ${
            command.usage.split("\n", 1)[0]
          } (other forms: authsome ${name} --help)`
          : `Usage: authsome ${command.usage}`,
      );
    }
    refuseInRunChild(name, values, io.env);
    const out = new Output(io, json, values.quiet === true);
    const store = storeOption(values.store);
    const service = async () => {
      const { createAuthService } = await import("./mod.ts");
      return auth ??= await createAuthService({
        vault: values.vault,
        store,
        env: io.env,
        onNotice: (message) => out.note(message),
      });
    };
    const named = values.vault ?? io.env.get("AUTHSOME_VAULT");
    if (named !== undefined && named !== "" && named !== "default" && USES_VAULT.has(name)) {
      await requireVault(await service());
    }
    return await command.run({ values, all: parsed.all, args, io, out, service });
  } catch (error) {
    return reportError(error, io, json, color);
  } finally {
    await auth?.close();
  }
}

/**
 * `authsome __complete WORD...` (used by the completion scripts): candidates, one per line.
 * Never fails loudly: a vault that cannot be read gives no names.
 */
async function completeWords(words: string[], io: CliIO): Promise<number> {
  const [{ COMMANDS }, { complete }] = await Promise.all([
    import("./cli/commands.ts"),
    import("./cli/completion.ts"),
  ]);
  let auth: AuthService | undefined;
  const service = async () => {
    const { createAuthService } = await import("./mod.ts");
    return auth ??= await createAuthService({ env: io.env });
  };
  try {
    const candidates = await complete(words, COMMANDS, {
      providers: async () => (await (await service()).listProviders()).providers.map((p) => p.name),
      connections: async (provider) =>
        (await (await service()).listConnections(provider)).map((c) => c.connection),
    }).catch(() => []);
    if (candidates.length > 0) io.stdout(candidates.join("\n") + "\n");
    return 0;
  } finally {
    await auth?.close();
  }
}

/**
 * The `--store` URL, refused when it holds a password: other processes can read the command
 * line (the password belongs in AUTHSOME_STORE, PGPASSWORD or ~/.pgpass).
 */
function storeOption(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let password = false;
  try {
    const parsed = new URL(url);
    password = parsed.password !== "" || parsed.searchParams.has("password");
  } catch { /* checked (and refused) with the settings */ }
  if (password) {
    throw usage(
      "--store must not hold a password: other processes can read the command line",
      "Put the password in PGPASSWORD or ~/.pgpass, or the whole URL in AUTHSOME_STORE",
    );
  }
  return url;
}

/** `Unknown command "X"`, with the nearest command name when one is close. */
async function unknownCommand(name: string) {
  const { COMMANDS } = await import("./cli/commands.ts");
  const near = closest(name, [...Object.keys(COMMANDS), "help", "version"]);
  return usage(
    `Unknown command "${name}"`,
    near
      ? `Did you mean "${near}"? Run: authsome --help`
      : "Run: authsome --help to see the commands",
  );
}

/**
 * Commands that read or change an existing vault: run on a vault named with --vault or
 * AUTHSOME_VAULT that does not exist (a typo), they fail instead of showing an empty one or
 * creating it. Only `login` creates a vault.
 */
const USES_VAULT = new Set([
  "get",
  "export",
  "list",
  "inspect",
  "connections",
  "status",
  "run",
  "mcp",
  "logout",
  "revoke",
  "identity",
  "scan",
]);

/** Exit 3 when the named vault does not exist, with the vaults that do. */
async function requireVault(auth: AuthService): Promise<void> {
  const { current, exists, all } = await auth.vaults();
  if (exists) return;
  const { AuthsomeError } = await import("./errors.ts");
  throw new AuthsomeError("VAULT_NOT_FOUND", `No vault "${current}"`, {
    hint: `${all.length > 0 ? `The vaults: ${all.join(", ")}. ` : ""}` +
      `A vault is created by logging in: authsome --vault ${current} login PROVIDER`,
  });
}

/**
 * Colour on stderr: off with `--no-color` or a non-empty `NO_COLOR` (no-color.org: an empty one
 * does not count); forced on by a non-empty `FORCE_COLOR` or `CLICOLOR_FORCE` other than `0`;
 * otherwise on when stderr is a terminal.
 */
function useColor(io: CliIO, argv: string[]): boolean {
  const set = (name: string) => {
    const value = io.env.get(name);
    return value !== undefined && value !== "";
  };
  if (argv.includes("--no-color") || set("NO_COLOR")) return false;
  const forced = (name: string) => set(name) && io.env.get(name) !== "0";
  return forced("FORCE_COLOR") || forced("CLICOLOR_FORCE") || io.stderrIsTerminal();
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
