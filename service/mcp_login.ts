/**
 * `authsome login mcp URL`: discovers a remote MCP server's authorization (RFC 9728, RFC 8414),
 * builds a provider definition for it, logs in with dynamic client registration and PKCE bound
 * to the server's resource (RFC 8707), and stores the connection together with the user provider
 * file. Nothing is written unless the login succeeds; a failed store removes the file again.
 *
 * @module
 */
import { checkName, joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { checkServerUrl, discoverMcpServer } from "../providers/mcp_discovery.ts";
import {
  checkMcpProviderName,
  mcpProviderDocument,
  mcpProviderName,
} from "../providers/mcp_provider.ts";
import type { LoadedProvider } from "../providers/registry.ts";
import { parseProvider } from "../providers/schema.ts";
import { isLoopbackHost } from "../proxy/routing.ts";
import { runtime } from "../runtime/runtime.ts";
import { readTextIfExists, writeFileAtomic } from "../storage/files.ts";
import { audited, clientKey, type ServiceContext } from "./context.ts";
import { loginWith } from "./login.ts";
import type { LoginOptions, LoginResult } from "./types.ts";

/** Options of {@linkcode loginMcp}: those of a login, and the provider name. */
export interface McpLoginOptions extends LoginOptions {
  /** The provider name (default: derived from the host, e.g. `mcp-server-example`). */
  name?: string | undefined;
}

/** The result of {@linkcode loginMcp}: a login's, and the provider file it wrote. */
export interface McpLoginResult extends LoginResult {
  /** The MCP server's URL. */
  mcp_server: string;
  /** The resource the token is bound to (RFC 8707). */
  resource: string;
  /** The user provider file written (or rewritten) for the server. */
  provider_file: string;
  /** True when the file is new; false when it existed for the same server and was refreshed. */
  provider_created: boolean;
}

/**
 * Logs in to the remote MCP server at `serverUrl` (audited as a `login`). A provider of the same
 * name for another server, or a bundled one, is `PROVIDER_EXISTS` (exit 7); an existing
 * connection is `CONNECTION_EXISTS` (exit 6) unless `force`.
 *
 * @example
 * ```ts ignore
 * const r = await loginMcp(ctx, "https://mcp.example.com/mcp", { onAuthorizationUrl: show });
 * console.log(r.provider, r.provider_file);
 * ```
 */
export async function loginMcp(
  ctx: ServiceContext,
  serverUrl: string,
  opts: McpLoginOptions = {},
): Promise<McpLoginResult> {
  const server = checkServerUrl(serverUrl);
  const name = opts.name === undefined ? mcpProviderName(server) : checkMcpProviderName(opts.name);
  const connection = checkName("connection", opts.connection ?? "default");
  if (opts.flow !== undefined && opts.flow !== "dcr_pkce" && opts.flow !== "pkce") {
    throw new AuthsomeError("USAGE", `--flow ${opts.flow} does not fit an MCP server`, {
      hint: "Leave out --flow: MCP servers log in with PKCE (and dynamic registration)",
    });
  }
  if (opts.baseUrl !== undefined) {
    throw new AuthsomeError("USAGE", "--base-url does not apply to 'login mcp'", {
      hint: "The MCP server's URL is the only address needed",
    });
  }
  const fields = {
    provider: name,
    connection,
    detail: { flow: "dcr_pkce", mcp_server: server.href },
  };
  return await audited(ctx, "login", fields, async () => {
    const found = await discoverMcpServer({ serverUrl: server.href, fetch: ctx.fetch });
    const document = mcpProviderDocument(name, found);
    if (opts.scopes !== undefined) document.oauth.scopes = opts.scopes;
    const source = `providers/${name}.json`;
    const def = parseProvider(document, source);
    await refuseClash(ctx, name, found.resource);
    if (
      found.registration_endpoint === undefined && opts.clientId === undefined &&
      ctx.env.get(def.oauth!.client!.client_id_env!) === undefined &&
      (opts.resetClient === true || await ctx.vault.get(clientKey(name)) === undefined)
    ) {
      throw new AuthsomeError(
        "AUTH_FAILED",
        `The authorization server of ${server.host} offers no dynamic client registration`,
        { hint: "Register a client there and pass its ID with --client-id" },
      );
    }
    const path = joinPath(ctx.settings.home, "providers", `${name}.json`);
    const before = await readTextIfExists(path);
    let written: LoadedProvider | undefined;
    try {
      const result = await loginWith(ctx, def, "dcr_pkce", connection, opts, {
        beforeStore: async () => {
          written = await ctx.registry.register(document, source, { force: true });
        },
      });
      if (isLoopbackHost(server.hostname)) {
        result.warnings.push(
          `${server.host} is a loopback host: 'authsome run' never injects credentials into ` +
            `loopback hosts, so use 'authsome get ${name}' or 'authsome export ${name}' for it`,
        );
      }
      return {
        ...result,
        mcp_server: server.href,
        resource: found.resource,
        provider_file: written!.path,
        provider_created: before === undefined,
      };
    } catch (error) {
      // The store failed after the file was written: put the file back as it was.
      if (written !== undefined) await restore(path, before);
      throw error;
    }
  });
}

/** A provider of that name for another server (or a bundled one) is not replaced. */
async function refuseClash(ctx: ServiceContext, name: string, resource: string): Promise<void> {
  let existing: LoadedProvider;
  try {
    existing = await ctx.registry.get(name);
  } catch (error) {
    if (error instanceof AuthsomeError && error.code === "PROVIDER_NOT_FOUND") return;
    throw error;
  }
  if (existing.origin === "user" && existing.definition.oauth?.resource === resource) return;
  const what = existing.origin === "bundled"
    ? "a bundled provider"
    : existing.definition.oauth?.resource === undefined
    ? "a user provider"
    : `the provider of ${existing.definition.oauth.resource}`;
  throw new AuthsomeError("PROVIDER_EXISTS", `Provider "${name}" exists already as ${what}`, {
    hint: "Choose another name for this server with --name NAME",
  });
}

async function restore(path: string, before: string | undefined): Promise<void> {
  try {
    if (before === undefined) await runtime.remove(path);
    else await writeFileAtomic(path, before);
  } catch {
    // The original error matters more; a leftover file is still a valid definition.
  }
}
