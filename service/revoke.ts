/**
 * Revoking: tokens revoked at the provider's revocation endpoint, then the connection (or every
 * connection and the client credentials) deleted locally. Nothing is deleted when the provider
 * refuses, so the user can retry or fall back to `logout`.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { ProviderDefinition } from "../providers/schema.ts";
import { oauthClientOf } from "./client_credentials.ts";
import { connectionNames, deleteConnection, resolveConnection } from "./connections.ts";
import { audited, clientKey, connKey, providerKey, type ServiceContext } from "./context.ts";
import type { ClientRecord, ConnectionRecord, RevokeResult } from "./types.ts";

/**
 * `revoke`: with a connection, revokes its tokens at the provider (where it has a revocation
 * endpoint) and deletes it; without one, every connection of the provider and its client.
 *
 * @example
 * ```ts ignore
 * await revoke(ctx, "github", { connection: "work" });
 * ```
 */
export async function revoke(
  ctx: ServiceContext,
  provider: string,
  opts: { connection?: string | undefined } = {},
): Promise<RevokeResult> {
  const def = (await ctx.registry.get(provider)).definition;
  // Only OAuth tokens with a revocation endpoint and a stored client are revoked remotely.
  const remote = def.auth_type === "oauth2" && def.oauth?.revocation_url !== undefined &&
    await ctx.vault.get(clientKey(provider)) !== undefined;
  const extra = { auth_type: def.auth_type, remote, ...(def.docs ? { docs: def.docs } : {}) };
  if (opts.connection !== undefined) {
    const { record } = await resolveConnection(ctx.vault, provider, opts.connection);
    await audited(
      ctx,
      "revoke-remote",
      { provider, connection: record.connection },
      () => revokeRemote(ctx, def, record),
    );
    const { connection } = await deleteConnection(ctx, "revoke", provider, opts.connection);
    return { provider, connections: [connection], ...extra };
  }
  const names = await connectionNames(ctx.vault, provider);
  for (const name of names) {
    const record = (await ctx.vault.get<ConnectionRecord>(connKey(provider, name)))!;
    await audited(
      ctx,
      "revoke-remote",
      { provider, connection: name },
      () => revokeRemote(ctx, def, record),
    );
  }
  return await audited(ctx, "revoke", { provider }, () =>
    ctx.vault.update(async (tx) => {
      const names = await connectionNames(tx, provider);
      const hasClient = await tx.get(clientKey(provider)) !== undefined;
      if (names.length === 0 && !hasClient) {
        throw new AuthsomeError("CONNECTION_NOT_FOUND", `Nothing to revoke for ${provider}`, {
          hint: `Log in first: authsome login ${provider}`,
        });
      }
      for (const name of names) tx.delete(connKey(provider, name));
      tx.delete(providerKey(provider));
      tx.delete(clientKey(provider));
      return { provider, connections: names, ...extra };
    }));
}

/** Revokes a connection's tokens at the provider, where it has a revocation endpoint. */
async function revokeRemote(
  ctx: ServiceContext,
  def: ProviderDefinition,
  record: ConnectionRecord,
): Promise<void> {
  if (def.auth_type !== "oauth2" || def.oauth?.revocation_url === undefined) return;
  const client = await ctx.vault.get<ClientRecord>(clientKey(def.name));
  if (client === undefined) return;
  const oauth = await import("../providers/oauth_login.ts");
  const endpoints = oauth.endpointsFor(def, record.base_url ?? undefined);
  const tokens: Array<[string | undefined, "refresh_token" | "access_token"]> = [
    [record.secrets.refresh_token, "refresh_token"],
    [record.secrets.access_token, "access_token"],
  ];
  let revokedRefresh = false;
  for (const [token, tokenTypeHint] of tokens) {
    if (token === undefined) continue;
    try {
      const revoked = await oauth.revokeToken({
        endpoints,
        client: oauthClientOf(client),
        token,
        tokenTypeHint,
        fetch: ctx.fetch,
        // A server that cannot revoke access tokens (JWTs) has revoked the grant with the
        // refresh token; the access token expires on its own.
        unsupportedIsFine: revokedRefresh,
      });
      if (tokenTypeHint === "refresh_token") revokedRefresh = revoked;
    } catch (error) {
      if (!(error instanceof AuthsomeError)) throw error;
      // Nothing is deleted locally, so the user can retry, or drop it without the provider.
      throw new AuthsomeError(error.code, error.message, {
        cause: error,
        hint:
          `Nothing was deleted. Retry, or delete it locally only: authsome logout ${def.name} ` +
          `--connection ${record.connection}`,
      });
    }
  }
}
