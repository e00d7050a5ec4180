/**
 * `run`: a command behind the injecting proxy, or with the real variables (`--env`).
 *
 * @module
 */
import { requestLine } from "../service/run_requests.ts";
import { usage } from "./args.ts";
import type { Command } from "./command.ts";

/**
 * The `--connection PROVIDER=NAME` values of `run` and `mcp`, by provider; a value of another
 * shape is a usage error (exit 64).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectionPairs } from "./run.ts";
 * assert.deepEqual(connectionPairs("run", ["github=work"]), { github: "work" });
 * assert.throws(() => connectionPairs("mcp", ["work"]), /--connection for mcp takes PROVIDER=NAME/);
 * ```
 */
export function connectionPairs(
  command: "run" | "mcp",
  pairs: string[] | undefined,
): Record<string, string> {
  const connections: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const m = /^([^=]+)=([^=]+)$/.exec(pair);
    if (m === null) {
      throw usage(
        `--connection for ${command} takes PROVIDER=NAME, not "${pair}"`,
        command === "run"
          ? "Example: authsome run --connection github=work -- gh repo list"
          : "Example: authsome mcp --connection github=work",
      );
    }
    connections[m[1]!] = m[2]!;
  }
  return connections;
}

/** The commands of this group, by name. */
export const RUN_COMMANDS: Record<string, Command> = {
  run: {
    usage:
      "run [--as IDENTITY] [--connection PROVIDER=NAME]... [--env] [--no-isolate] [--verbose] -- COMMAND [ARGS...]",
    summary: "Run a command behind the proxy that adds your credentials to its HTTPS requests",
    options: ["connection", "env", "no-isolate", "as", "verbose"],
    details: [
      "The command gets placeholders (e.g. OPENAI_API_KEY=authsome-proxy-managed), proxy variables",
      "and a CA bundle; the proxy adds the real auth header to HTTPS requests for hosts of",
      "providers you are logged in to, so the command never holds the secret. Other hosts are",
      "tunnelled untouched. --env passes the real values as variables instead (no proxy).",
      "On Linux the command runs in its own mount namespace where the authsome home is an",
      "empty read-only folder, so it cannot read the vault or the key file; --no-isolate",
      "turns that off. Inside the command, get --show-secret, export, run --env, login and",
      "mcp are refused (exit 4). --as IDENTITY routes only what the identity may use; a request",
      "its policy refuses gets 403 from the proxy and is never forwarded.",
      "A request may pick a connection of the provider it goes to with the header",
      "X-Authsome-Connection: NAME (removed before it is sent; an unknown name gets 400).",
      "Every request or tunnel is written to the audit log ('authsome log'); --verbose also",
      "prints one line per request on stderr (method, host and path, status, what the proxy did).",
      "Exit status: the command's own, 128+N when signal N killed it, or one of those below.",
      "Errors found before the command starts (an unknown provider: 4, a missing connection: 3)",
      "have the exit codes of the other commands.",
    ],
    optionHelp: {
      connection: "Use this connection of PROVIDER instead of its default (repeatable)",
    },
    examples: [
      "authsome run -- python agent.py",
      "authsome run -c github=work -- gh repo list",
      "authsome run --as agent -- ./agent.sh     # only what the identity agent may use",
    ],
    exitCodes: {
      125: "the proxy could not start",
      126: "the command is not executable",
      127: "the command was not found",
    },
    args: [1, Number.POSITIVE_INFINITY],
    async run({ values, all, args, io, service }) {
      const connections = connectionPairs("run", all.connection);
      const auth = await service();
      return await auth.run(args, {
        connections,
        env: values.env === true,
        isolate: values["no-isolate"] !== true,
        as: values.as,
        onWarning: (message) => io.stderr(`warning: ${message}\n`),
        ...(values.verbose === true
          ? { onRequest: (request) => io.stderr(`${requestLine(request)}\n`) }
          : {}),
      });
    },
  },
};
