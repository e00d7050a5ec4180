/**
 * `mcp`: the MCP server agent hosts start (Claude Code, Codex, Cursor, …), on stdin and stdout.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { openBrowser } from "./input.ts";
import { connectionPairs } from "./run.ts";

/** The commands of this group, by name. */
export const MCP_COMMANDS: Record<string, Command> = {
  mcp: {
    usage: "mcp [--as IDENTITY] [--connection PROVIDER=NAME]...",
    summary: "Serve your connections to an agent host over MCP (stdio), never a secret",
    options: ["as", "connection"],
    details: [
      "An agent host starts this command and speaks the Model Context Protocol on its stdin and",
      "stdout (nothing else is written there; notices go to stderr). The tools: list_connections",
      "(status, scopes, expiry, hosts; never a secret), request_login (the human logs in through",
      "the browser form, the provider's page or a device code) and http_request (authsome sends",
      "the request with the credential added, to the provider's hosts only). Without --as, the",
      "agent may use what 'run' gives: every connection, the provider's default unless",
      "--connection names another. With --as, only what the identity's policy allows. Every",
      "tool call is written to the audit log ('authsome log'). See docs/MCP.md for the lines",
      "that add it to Claude Code, Codex and Cursor.",
    ],
    optionHelp: {
      as: "Allow only what this agent identity may use (its providers, methods and paths)",
      connection: "Use this connection of PROVIDER instead of its default (repeatable)",
    },
    examples: [
      "claude mcp add authsome -- authsome mcp",
      "authsome mcp --as coder           # only what the identity coder may use",
      "authsome mcp -c github=work       # github's work connection unless a call names one",
    ],
    exitCodes: {
      0: "the host closed the connection",
      3: "no such identity",
      4: "the identity expired or may not use a --connection given; unknown provider; " +
        "inside 'authsome run'",
      64: "a --connection that is not PROVIDER=NAME",
    },
    args: [0, 0],
    async run({ values, all, io, out, service }) {
      const connections = connectionPairs("mcp", all.connection);
      if (io.stdinIsTerminal()) {
        out.note(
          "authsome mcp speaks MCP on stdin and stdout: an agent host starts it " +
            "(see docs/MCP.md). Ctrl-D ends it.",
        );
      }
      const auth = await service();
      await auth.serveMcp({
        as: values.as,
        connections,
        openUrl: (url) => openBrowser(io, url),
        onReady: (line) => out.note(line),
      });
      return 0;
    },
  },
};
