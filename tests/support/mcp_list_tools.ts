/**
 * An MCP client with no credentials of its own, as an agent host would be: connects to the
 * Streamable HTTP server at `Deno.args[0]` with the SDK's client, lists its tools, calls
 * `whoami`, and prints `{"tools": [...], "whoami": "..."}` on stdout. Run under `authsome run`,
 * the proxy adds the token. Exits 3 with the error on stderr when the server refuses it.
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const client = new Client({ name: "agent-host-under-test", version: "1.0.0" });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(Deno.args[0]!)));
  const { tools } = await client.listTools();
  const who = await client.callTool({ name: "whoami", arguments: {} });
  const content = who.content as Array<{ type: string; text?: string }>;
  console.log(JSON.stringify({ tools: tools.map((t) => t.name).sort(), whoami: content[0]?.text }));
  await client.close();
} catch (error) {
  console.error(`mcp client: ${error instanceof Error ? error.message : String(error)}`);
  Deno.exit(3);
}
