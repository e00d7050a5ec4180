/**
 * The command table (every group's commands, in the order `--help` lists them) and the help
 * text.
 *
 * @module
 */
import { ENV_VARS } from "../config.ts";
import { ADMIN_COMMANDS } from "./admin.ts";
import type { Command } from "./command.ts";
import { COMPLETION_COMMANDS } from "./completion.ts";
import { CONNECTIONS_COMMANDS } from "./connections.ts";
import { IDENTITY_COMMANDS } from "./identity.ts";
import { LOGIN_COMMANDS } from "./login.ts";
import { PROVIDER_COMMANDS } from "./provider.ts";
import { READ_COMMANDS } from "./read.ts";
import { RUN_COMMANDS } from "./run.ts";
import { STORE_COMMANDS } from "./store.ts";
import { VERSION } from "./version.ts";

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = {
  ...LOGIN_COMMANDS,
  ...READ_COMMANDS,
  ...CONNECTIONS_COMMANDS,
  ...PROVIDER_COMMANDS,
  ...RUN_COMMANDS,
  ...IDENTITY_COMMANDS,
  ...ADMIN_COMMANDS,
  ...STORE_COMMANDS,
  ...COMPLETION_COMMANDS,
};

/** The help of one command, or the overview. */
export function helpText(name?: string): string {
  if (name !== undefined) {
    const c = COMMANDS[name]!;
    const opts = c.options.map((o) => `--${o}`).join(" ");
    return [
      `Usage: authsome ${c.usage}`,
      "",
      c.summary,
      ...(c.details ? ["", ...c.details] : []),
      "",
      `Options: ${opts || "none"}; global: --json --quiet --no-color --vault NAME --help`,
    ].join("\n");
  }
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.split(" ")[0]!.length));
  return [
    `authsome ${VERSION}: a local credential broker for AI agents and developer tools`,
    "",
    "Usage: authsome COMMAND [ARGS] [--json] [--quiet] [--no-color] [--vault NAME]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width + 2)}${c.summary}`),
    "",
    "Environment:",
    ...Object.entries(ENV_VARS).map(([k, v]) => `  ${k.padEnd(22)}${v}`),
    "",
    "Run 'authsome COMMAND --help' for a command's options.",
  ].join("\n");
}
