/**
 * `status`: whether each connection is usable, checked without a network call.
 *
 * @module
 */
import { EXIT_CODES } from "../errors.ts";
import { usage } from "./args.ts";
import type { Command } from "./command.ts";
import { table } from "./output.ts";

/** The commands of this group, by name. */
export const STATUS_COMMANDS: Record<string, Command> = {
  status: {
    usage: "status [PROVIDER] [--connection NAME]",
    summary: "Check that each connection is usable (exit 0 only when all are)",
    options: ["connection"],
    details: [
      "Opens every connection record (no network call, no secret shown) and says, per connection:",
      "  ok              usable",
      "  refresh_due     usable; its OAuth token is refreshed on next use",
      "  expired         past its expiry and cannot be refreshed: log in again",
      "  login_required  revoked, invalid or missing its credential: log in again",
      "  unreadable      its record cannot be opened (wrong master key, tampered)",
    ],
    examples: [
      "authsome status",
      "authsome status github --connection work",
      "authsome status --json",
    ],
    exitCodes: {
      0: "every connection checked is usable",
      3: "no connection to check",
      5: "a connection is expired or needs a login (and none is unreadable)",
      10: "a connection cannot be opened",
    },
    optionHelp: { connection: "check only this connection of PROVIDER" },
    args: [0, 1],
    async run({ values, args, out, service }) {
      const provider = args[0];
      if (values.connection !== undefined && provider === undefined) {
        throw usage(
          "--connection needs a provider",
          "Example: authsome status openai --connection work",
        );
      }
      const auth = await service();
      const checks = await auth.checkConnections(provider, { connection: values.connection });
      const code = checks.some((c) => c.result === "unreadable")
        ? EXIT_CODES.VAULT_UNAVAILABLE
        : checks.every((c) => c.usable)
        ? 0
        : EXIT_CODES.CREDENTIAL_MISSING;
      if (out.json) {
        out.doc({ vault: auth.settings.vault, usable: code === 0, connections: checks });
        return code;
      }
      out.data(table(
        ["PROVIDER", "CONNECTION", "DEFAULT", "RESULT", "DETAIL"],
        checks.map((c) => [c.provider, c.connection, c.default ? "yes" : "no", c.result, c.detail]),
      ));
      const bad = checks.filter((c) => !c.usable).length;
      out.note(
        bad === 0
          ? `All ${checks.length} connections are usable.`
          : `${bad} of ${checks.length} connections are not usable (exit ${code}).`,
      );
      return code;
    },
  },
};
