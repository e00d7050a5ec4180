/**
 * `authsome mcp`: the MCP server on this process's stdin and stdout until the host closes stdin.
 * Nothing but the protocol is written to stdout.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import process from "node:process";
import type { ServiceContext } from "../service/context.ts";
import type { McpServeOptions } from "../service/types.ts";
import { openAccess } from "./access.ts";
import { createMcpServer } from "./server.ts";

/**
 * Serves MCP over stdio; resolves when the host closes the connection. The identity and the
 * `--connection` choices are checked first: a bad one rejects before anything is served.
 *
 * @example
 * ```ts ignore
 * await serveStdio(ctx, { as: "agent", onReady: (line) => console.error(line) });
 * ```
 */
export async function serveStdio(ctx: ServiceContext, opts: McpServeOptions): Promise<void> {
  const access = await openAccess(ctx, opts);
  const handle = createMcpServer({ ctx, access, openUrl: opts.openUrl ?? (() => {}) });
  const closed = new Promise<void>((resolve) => handle.server.onclose = resolve);
  const transport = new StdioServerTransport();
  // Calls already received are answered before the server closes; a login still waiting for the
  // human ends first (the host that would show them the page is gone), so the process exits now
  // rather than when the login times out, and every call is still audited.
  const end = () =>
    void handle.endLogins().then(() => handle.settled()).then(() => handle.server.close())
      .catch(() => {});
  process.stdin.once("end", end);
  process.stdin.once("close", end);
  await handle.server.connect(transport);
  opts.onReady?.(
    `authsome MCP server on stdio (vault ${ctx.settings.vault}` +
      (access.policy === undefined ? "" : `, identity ${access.policy.name}`) +
      "): tools list_connections, request_login, http_request",
  );
  try {
    await closed;
  } finally {
    process.stdin.off("end", end);
    process.stdin.off("close", end);
    await handle.close();
  }
}
