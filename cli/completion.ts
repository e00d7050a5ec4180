/**
 * Shell completion: `authsome completion bash|zsh|fish` prints a script that asks
 * `authsome __complete WORD...` for candidates — commands, options, provider names and
 * connection names (names from the vault's index only; no secret is opened or printed).
 *
 * @module
 */
import { choice, type OptionName, OPTIONS, type OptionSpec, usage } from "./args.ts";
import type { Command } from "./command.ts";

const SCRIPTS: Record<"bash" | "zsh" | "fish", string> = {
  bash: `# authsome completion for bash: source <(authsome completion bash)
_authsome() {
  local IFS=$'\\n'
  COMPREPLY=($(authsome __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _authsome authsome
`,
  zsh: `#compdef authsome
# authsome completion for zsh: source <(authsome completion zsh)
_authsome() {
  local -a candidates
  candidates=("\${(@f)$(authsome __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _authsome authsome
`,
  fish: `# authsome completion for fish: authsome completion fish | source
complete -c authsome -f -a '(authsome __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`,
};

/** The first words of commands that do not list them as `subcommands`. */
const ACTIONS: Record<string, string[]> = {
  connections: ["list", "rename", "set-default"],
  completion: ["bash", "zsh", "fish"],
};

/** Commands whose first argument is a provider name. */
const TAKES_PROVIDER = new Set([
  "login",
  "logout",
  "revoke",
  "get",
  "export",
  "inspect",
  "status",
]);

/** The commands of this group, by name. */
export const COMPLETION_COMMANDS: Record<string, Command> = {
  completion: {
    usage: "completion bash|zsh|fish",
    summary: "Print the shell completion script (commands, options, providers, connections)",
    options: [],
    details: [
      "Load it from your shell's start-up file (or save the bash script under bash-completion's",
      "folder). Provider and connection names come from the vault's index; no secret is read.",
    ],
    examples: [
      "source <(authsome completion bash)     # in ~/.bashrc",
      "source <(authsome completion zsh)      # in ~/.zshrc",
      "authsome completion fish | source      # in ~/.config/fish/config.fish",
    ],
    exitCodes: { 0: "printed", 64: "not one of bash, zsh, fish" },
    args: [1, 1],
    run({ args, out }) {
      out.data(SCRIPTS[choice("completion", args[0]!, ["bash", "zsh", "fish"] as const)]);
      return Promise.resolve(0);
    },
  },
};

/**
 * The candidates for the last of `words` (the word being completed, maybe empty), given the
 * words before it (the command line without `authsome`), one per line.
 *
 * @example
 * ```ts ignore
 * await complete(["lo"], commands, service); // ["log", "login", "logout"]
 * ```
 */
export async function complete(
  words: string[],
  commands: Record<string, Command>,
  names: {
    providers(): Promise<string[]>;
    connections(provider: string): Promise<string[]>;
  },
): Promise<string[]> {
  if (words.length === 0) throw usage("__complete needs the words", "It is used by completion");
  const current = words.at(-1)!;
  const before = words.slice(0, -1);
  const positionals = before.filter((w, i) => !w.startsWith("-") && !takesValue(before[i - 1]));
  const [command, ...args] = positionals;
  const startsWith = (list: Iterable<string>) =>
    [...list].filter((c) => c.startsWith(current)).sort();
  if (command === undefined) {
    if (current.startsWith("-")) return startsWith(["--help", "--version", "--json"]);
    return startsWith([...Object.keys(commands), "help", "version"]);
  }
  const spec = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (spec === undefined) return [];
  const previous = before.at(-1);
  if (previous === "--connection" || previous === "-c") {
    const provider = TAKES_PROVIDER.has(command) ? args[0] : undefined;
    return provider === undefined ? [] : startsWith(await names.connections(provider));
  }
  const valueOf = previous?.startsWith("--") ? optionSpec(previous.slice(2)) : undefined;
  if (valueOf?.values) return startsWith(valueOf.values);
  if (takesValue(previous)) return [];
  if (current.startsWith("-")) {
    const global = ["json", "quiet", "no-color", "vault", "store", "help"];
    return startsWith([...spec.options, ...global].map((o) => `--${o}`));
  }
  const actions = spec.subcommands ? Object.keys(spec.subcommands) : ACTIONS[command];
  if (actions !== undefined && args.length === 0) return startsWith(actions);
  if (command === "connections" && args.length === 2 && args[0] !== "list") {
    return startsWith(await names.connections(args[1]!)); // rename OLD, set-default CONNECTION
  }
  if (command === "help" || (command === "connections" && args.length === 1)) {
    return command === "help"
      ? startsWith(Object.keys(commands))
      : startsWith(await names.providers());
  }
  if (TAKES_PROVIDER.has(command) && args.length === 0) {
    return startsWith(await names.providers());
  }
  return [];
}

/** Whether `word` is an option that takes a value (its value is not a positional). */
function takesValue(word: string | undefined): boolean {
  if (word === undefined || !word.startsWith("-") || word.includes("=")) return false;
  const name = word.startsWith("--")
    ? word.slice(2)
    : word === "-c"
    ? "connection"
    : word === "-n"
    ? "n"
    : "";
  return optionSpec(name)?.type === "string";
}

/** The option named `name`, if there is one. */
function optionSpec(name: string): OptionSpec | undefined {
  return Object.hasOwn(OPTIONS, name) ? OPTIONS[name as OptionName] : undefined;
}
