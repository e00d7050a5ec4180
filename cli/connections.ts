/**
 * `connections list|rename|set-default`: seeing and managing the connections of a provider.
 *
 * @module
 */
import { usage } from "./args.ts";
import type { Command } from "./command.ts";
import { table } from "./output.ts";
import { CONNECTION_COLUMNS, connectionCells } from "./read.ts";

const ACTIONS = ["list", "rename", "set-default"] as const;

/** The commands of this group, by name. */
export const CONNECTIONS_COMMANDS: Record<string, Command> = {
  connections: {
    usage:
      "connections list [PROVIDER] | rename PROVIDER OLD NEW | set-default PROVIDER CONNECTION",
    summary: "List, rename, or pick the default of a provider's connections",
    options: [],
    details: [
      "list: one row per connection (of every provider, or of PROVIDER), read from the index;",
      "  DEFAULT is yes or no, EXPIRES is never when the credential does not expire.",
      "rename: OLD becomes NEW in one step; tokens, client, scopes, expiry and the default stay.",
      "  An identity whose policy names OLD then names NEW (it follows the credential).",
      "set-default: CONNECTION is used when no --connection is given.",
    ],
    examples: [
      "authsome connections list",
      "authsome connections rename openai work job",
      "authsome connections set-default openai personal",
    ],
    exitCodes: {
      3: "no such connection",
      4: "unknown provider",
      6: "rename: a connection named NEW exists already",
      64: "an invalid connection name or a wrong number of arguments",
    },
    args: [1, 4],
    async run({ args, out, service }) {
      const [action, ...rest] = args as [string, ...string[]];
      if (!(ACTIONS as readonly string[]).includes(action)) {
        throw usage(
          `Unknown subcommand "connections ${action}"`,
          `The subcommands: ${ACTIONS.join(", ")}. Run: authsome connections --help`,
        );
      }
      const want = (min: number, max: number, shape: string) => {
        if (rest.length < min || rest.length > max) {
          throw usage(
            `${rest.length < min ? "Missing" : "Too many"} arguments for "connections ${action}"`,
            `Usage: authsome connections ${action} ${shape}`,
          );
        }
      };
      const auth = await service();
      if (action === "list") {
        want(0, 1, "[PROVIDER]");
        const provider = rest[0];
        if (provider !== undefined) {
          await auth.getProvider(provider).catch(async (error) => {
            // A provider whose definition was removed still lists its connections.
            if ((await auth.listConnections(provider)).length === 0) throw error;
          });
        }
        const connections = await auth.listConnections(provider);
        if (out.json) {
          out.doc({
            vault: auth.settings.vault,
            connections: connections.map(({ secret_fields: _, ...c }) => c),
          });
          return 0;
        }
        if (connections.length === 0) {
          out.note(
            `No ${
              provider === undefined ? "" : `${provider} `
            }connections in vault "${auth.settings.vault}" yet. ` +
              `Log in with: authsome login ${provider ?? "PROVIDER"}`,
          );
          return 0;
        }
        out.data(table(
          ["PROVIDER", "AUTH", ...CONNECTION_COLUMNS],
          connections.map((
            c,
          ) => [c.provider, c.auth_type, ...connectionCells({ ...c, name: c.connection })]),
        ));
        return 0;
      }
      if (action === "rename") {
        want(3, 3, "PROVIDER OLD NEW");
        const [provider, from, to] = rest as [string, string, string];
        const r = await auth.renameConnection(provider, from, to);
        if (out.json) {
          out.doc({
            status: "ok",
            provider,
            connection: to,
            previous: from,
            default: r.default,
            identities: r.identities,
          });
          return 0;
        }
        out.note(
          `Renamed the ${provider} connection "${from}" to "${to}"${
            r.default ? " (still the default)" : ""
          }.`,
        );
        for (const identity of r.identities) {
          out.note(`The identity "${identity}" now allows ${provider}/${to}.`);
        }
        return 0;
      }
      want(2, 2, "PROVIDER CONNECTION");
      const [provider, connection] = rest as [string, string];
      await auth.setDefaultConnection(provider, connection);
      if (out.json) out.doc({ status: "ok", provider, default_connection: connection });
      else out.note(`The default ${provider} connection is now ${connection}.`);
      return 0;
    },
  },
};
