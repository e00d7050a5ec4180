/**
 * A tools-only MCP server on the SDK's own `Protocol` (JSON-RPC, requests, notifications,
 * progress, cancellation, ping): the `initialize` handshake and nothing else. The SDK's `Server`
 * class would do the same but loads its JSON Schema validator (ajv) on import, about 100 ms of
 * every start, for features a tools-only server never uses (elicitation, sampling results).
 *
 * @module
 */
// The SDK's "./*" export maps types to "*.js.d.ts"; these directives name the real ones.
// @ts-types="@modelcontextprotocol/sdk/shared/protocol"
import { Protocol } from "@modelcontextprotocol/sdk/shared/protocol.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  type Implementation,
  InitializedNotificationSchema,
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  type ServerNotification,
  type ServerRequest,
  type ServerResult,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";

/**
 * An MCP server that offers tools: it answers `initialize` with the protocol version the client
 * asked for when it is supported (else the latest), the `tools` capability, its name and
 * instructions. Register `tools/list` and `tools/call` with `setRequestHandler`.
 *
 * @example
 * ```ts ignore
 * const server = new ToolServer({ name: "authsome", version: "0.1.0" }, "Use list_connections…");
 * server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
 * await server.connect(new StdioServerTransport());
 * ```
 */
export class ToolServer extends Protocol<ServerRequest, ServerNotification, ServerResult> {
  /** @param info the server's name and version; @param instructions for the agent */
  constructor(info: Implementation, instructions: string) {
    super();
    this.setRequestHandler(InitializeRequestSchema, (request) => ({
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(request.params.protocolVersion)
        ? request.params.protocolVersion
        : LATEST_PROTOCOL_VERSION,
      capabilities: { tools: {} },
      serverInfo: info,
      instructions,
    }));
    this.setNotificationHandler(InitializedNotificationSchema, () => {});
  }

  /** The server sends no requests of its own. */
  protected assertCapabilityForMethod(method: string): void {
    throw new Error(`authsome's MCP server does not send ${method}`);
  }

  /** Progress (and the SDK's own) notifications need no client capability. */
  protected assertNotificationCapability(_method: string): void {}

  /** Any handler may be registered: only tools are. */
  protected assertRequestHandlerCapability(_method: string): void {}

  /** Tasks are not offered. */
  protected assertTaskCapability(method: string): void {
    throw new Error(`authsome's MCP server offers no tasks (${method})`);
  }

  /** Tasks are not offered. */
  protected assertTaskHandlerCapability(method: string): void {
    throw new Error(`authsome's MCP server offers no tasks (${method})`);
  }
}
