/**
 * The command table (every group's commands, in the order `--help` lists them) and the help
 * text (rendered by `help.ts`).
 *
 * @module
 */
import { ENV_VARS } from "../config.ts";
import { ADMIN_COMMANDS } from "./admin.ts";
import type { Command } from "./command.ts";
import { COMPLETION_COMMANDS } from "./completion.ts";
import { CONNECTIONS_COMMANDS } from "./connections.ts";
import { IDENTITY_COMMANDS } from "./identity.ts";
import { IMPORT_COMMANDS } from "./import.ts";
import { LOGIN_COMMANDS } from "./login.ts";
import { MCP_COMMANDS } from "./mcp.ts";
import { PROVIDER_COMMANDS } from "./provider.ts";
import { READ_COMMANDS } from "./read.ts";
import { RUN_COMMANDS } from "./run.ts";
import { SCAN_COMMANDS } from "./scan.ts";
import { BACKUP_COMMANDS } from "./backup.ts";
import { REKEY_COMMANDS } from "./rekey.ts";
import { STATUS_COMMANDS } from "./status.ts";
import { STORE_COMMANDS } from "./store.ts";
import { commandHelp, overview } from "./help.ts";
import { VERSION } from "./version.ts";

/** The commands by group, in the order the overview lists them. */
export const GROUPS: ReadonlyArray<readonly [string, Record<string, Command>]> = [
  [
    "Connections",
    { ...LOGIN_COMMANDS, ...READ_COMMANDS, ...CONNECTIONS_COMMANDS, ...STATUS_COMMANDS },
  ],
  ["Running a command with your credentials", RUN_COMMANDS],
  ["Agents over MCP", MCP_COMMANDS],
  ["Providers", PROVIDER_COMMANDS],
  ["Keys you already have", { ...SCAN_COMMANDS, ...IMPORT_COMMANDS }],
  ["Backup and keys", { ...BACKUP_COMMANDS, ...REKEY_COMMANDS }],
  ["Agent identities", IDENTITY_COMMANDS],
  ["Checks and records", ADMIN_COMMANDS],
  ["Shared store", STORE_COMMANDS],
  ["Shell", COMPLETION_COMMANDS],
];

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = Object.assign(
  {},
  ...GROUPS.map(([, commands]) => commands),
);

/**
 * The help of one command (`authsome CMD --help`, `authsome help CMD`), or the overview
 * (`authsome`, `authsome help`, `authsome --help`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText } from "./commands.ts";
 * assert.match(helpText("get"), /-c, --connection NAME/);
 * assert.match(helpText(), /\nConnections:\n/);
 * ```
 */
export function helpText(name?: string): string {
  if (name !== undefined) return commandHelp(COMMANDS[name]!);
  return overview(
    `authsome ${VERSION}: a local credential broker for AI agents and developer tools`,
    GROUPS,
    ENV_VARS,
  );
}
