/**
 * The provider definition `authsome login mcp URL` writes for a remote MCP server: its name
 * (derived from the host unless given), and a `dcr_pkce` OAuth provider whose endpoints come from
 * discovery, whose `oauth.resource` is the server's resource (RFC 8707), and whose `api_url` is
 * the server's host, so `authsome run` injects the token into the agent host's traffic to it.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { McpServerAuth } from "./mcp_discovery.ts";

/** The pseudo-provider name of `authsome login mcp URL`; no provider may be called this. */
export const MCP_PSEUDO_PROVIDER = "mcp";

const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The provider name for an MCP server: `mcp-` and its host, dots and other signs as `-`, a
 * leading `mcp.` or `www.` dropped, a port other than the default kept, at most 64 characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mcpProviderName } from "./mcp_provider.ts";
 * assert.equal(mcpProviderName(new URL("https://server.example/mcp")), "mcp-server-example");
 * assert.equal(mcpProviderName(new URL("https://mcp.linear.app/mcp")), "mcp-linear-app");
 * assert.equal(mcpProviderName(new URL("http://127.0.0.1:3000/mcp")), "mcp-127-0-0-1-3000");
 * ```
 */
export function mcpProviderName(server: URL): string {
  const host = server.hostname.replace(/^(mcp|www)\./, "") +
    (server.port === "" ? "" : `-${server.port}`);
  const stem = host.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
  return `mcp-${stem}`.slice(0, 64).replace(/-+$/, "");
}

/**
 * Checks a `--name` for `login mcp`: a valid provider name, and not the reserved `mcp`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMcpProviderName } from "./mcp_provider.ts";
 * assert.equal(checkMcpProviderName("work-tools"), "work-tools");
 * assert.throws(() => checkMcpProviderName("mcp"), /reserved/);
 * ```
 */
export function checkMcpProviderName(name: string): string {
  if (name === MCP_PSEUDO_PROVIDER) {
    throw new AuthsomeError("USAGE", `--name mcp is reserved for 'authsome login mcp URL'`, {
      hint: "Choose another name, e.g. --name mcp-tools",
    });
  }
  if (!PROVIDER_NAME.test(name)) {
    throw new AuthsomeError(
      "USAGE",
      "--name must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
      { hint: "E.g. --name mcp-tools" },
    );
  }
  return name;
}

/**
 * The provider document (as written to `<home>/providers/NAME.json`) for a discovered MCP
 * server. The environment variables `<NAME>_CLIENT_ID` / `<NAME>_CLIENT_SECRET` can give a
 * client registered by hand; without one, dynamic client registration makes one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mcpProviderDocument } from "./mcp_provider.ts";
 * const doc = mcpProviderDocument("mcp-server-example", {
 *   serverUrl: "https://server.example/mcp",
 *   resource: "https://server.example/mcp",
 *   resourceMetadataUrl: "https://server.example/.well-known/oauth-protected-resource/mcp",
 *   issuer: "https://auth.example",
 *   authorization_endpoint: "https://auth.example/authorize",
 *   token_endpoint: "https://auth.example/token",
 *   registration_endpoint: "https://auth.example/register",
 *   scopes: ["tools"],
 * });
 * assert.deepEqual(doc.api_url, ["server.example"]);
 * assert.equal(doc.oauth.resource, "https://server.example/mcp");
 * ```
 */
export function mcpProviderDocument(name: string, found: McpServerAuth) {
  const server = new URL(found.serverUrl);
  const stem = name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  const oauth: Record<string, unknown> = {
    issuer: found.issuer,
    authorization_url: found.authorization_endpoint,
    token_url: found.token_endpoint,
  };
  if (found.registration_endpoint !== undefined) {
    oauth.registration_endpoint = found.registration_endpoint;
  }
  if (found.revocation_endpoint !== undefined) oauth.revocation_url = found.revocation_endpoint;
  oauth.resource = found.resource;
  oauth.scopes = found.scopes;
  oauth.client = { client_id_env: `${stem}_CLIENT_ID`, client_secret_env: `${stem}_CLIENT_SECRET` };
  return {
    schema_version: 1 as const,
    name,
    display_name: `MCP server ${server.host}`,
    description: `Remote MCP server ${found.serverUrl} (written by 'authsome login mcp')`,
    auth_type: "oauth2" as const,
    flow: "dcr_pkce" as const,
    // An IPv6 literal is no host name for api_url: its origin (a URL target) stands in.
    api_url: [server.hostname.includes(":") ? server.origin : server.hostname],
    oauth: oauth as { resource: string } & Record<string, unknown>,
    export: { env: { access_token: [`${stem}_ACCESS_TOKEN`] } },
    docs: found.serverUrl,
    metadata: { mcp_server: found.serverUrl, resource_metadata: found.resourceMetadataUrl },
  };
}
