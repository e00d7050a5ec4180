/**
 * `connections`: managing the connections of a provider.
 *
 * @module
 */
import { usage } from "./args.ts";
import type { Command } from "./command.ts";

/** The commands of this group, by name. */
export const CONNECTIONS_COMMANDS: Record<string, Command> = {
  connections: {
    usage: "connections set-default PROVIDER CONNECTION",
    summary: "Make a connection its provider's default",
    options: [],
    args: [3, 3],
    async run({ args, out, service }) {
      if (args[0] !== "set-default") {
        throw usage(
          `Unknown subcommand "connections ${args[0]}"`,
          "Run: authsome connections --help",
        );
      }
      const [, provider, connection] = args as [string, string, string];
      await (await service()).setDefaultConnection(provider, connection);
      if (out.json) out.doc({ status: "ok", provider, default_connection: connection });
      else out.note(`The default ${provider} connection is now ${connection}.`);
      return 0;
    },
  },
};
