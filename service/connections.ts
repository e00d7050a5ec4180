/**
 * Connections: resolving a name (or the default) to its record, status, listing from the
 * vault's index, set-default, rename and logout.
 *
 * @module
 */
import { checkName } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
import type { VaultReader } from "../storage/vault.ts";
import { audited, connKey, providerKey, refreshLockName, type ServiceContext } from "./context.ts";
import { identityKey, type IdentityRecord } from "./identities.ts";
import {
  type ConnectionSummaryRecord,
  expandSummary,
  type StoredSummary,
  summarizeRecord,
} from "./summary.ts";
import type {
  ConnectionInfo,
  ConnectionRecord,
  ConnectionStatus,
  ConnectionSummary,
  ProviderState,
  ProviderSummary,
  RenameResult,
} from "./types.ts";

/** The provider's default connection name, or null. */
export async function defaultOf(reader: VaultReader, provider: string): Promise<string | null> {
  return (await reader.get<ProviderState>(providerKey(provider)))?.default_connection ?? null;
}

/** The names of the provider's connections, sorted. */
export async function connectionNames(reader: VaultReader, provider: string): Promise<string[]> {
  const prefix = `connection/${provider}/`;
  return (await reader.keys(prefix)).map((k) => k.slice(prefix.length));
}

/**
 * The record of `connection` (the provider's default when undefined); `CONNECTION_NOT_FOUND`
 * with the known names as hint when there is none.
 *
 * @example
 * ```ts ignore
 * const { name, record } = await resolveConnection(ctx.vault, "openai", undefined);
 * ```
 */
export async function resolveConnection(
  reader: VaultReader,
  provider: string,
  connection: string | undefined,
): Promise<{ name: string; record: ConnectionRecord }> {
  let name = connection;
  if (name === undefined) {
    const def = await defaultOf(reader, provider);
    if (def === null) {
      throw new AuthsomeError("CONNECTION_NOT_FOUND", `No connection for ${provider}`, {
        hint: `Log in first: authsome login ${provider}`,
      });
    }
    name = def;
  } else {
    checkName("connection", name);
  }
  const record = await reader.get<ConnectionRecord>(connKey(provider, name));
  if (record === undefined) {
    const names = await connectionNames(reader, provider);
    throw new AuthsomeError("CONNECTION_NOT_FOUND", `No connection "${name}" for ${provider}`, {
      hint: names.length > 0
        ? `${didYouMean(name, names)}Known connections: ${names.join(", ")}`
        : `Log in first: authsome login ${provider} --connection ${name}`,
    });
  }
  return { name, record };
}

/** The status as of `now`: a lapsed token without a refresh token is expired. */
export function statusOf(
  ctx: Pick<ServiceContext, "now">,
  connection:
    | ConnectionRecord
    | Pick<ConnectionSummaryRecord, "status" | "expires_at" | "secret_fields">,
): ConnectionStatus {
  const refreshable = "secrets" in connection
    ? connection.secrets.refresh_token !== undefined
    : connection.secret_fields.includes("refresh_token");
  if (
    connection.status === "connected" && connection.expires_at !== null && !refreshable &&
    Date.parse(connection.expires_at) <= ctx.now().getTime()
  ) return "expired";
  return connection.status;
}

/** What `get` shows of a connection, from its record or its index summary. */
export function infoOf(
  ctx: Pick<ServiceContext, "now">,
  provider: string,
  name: string,
  connection: ConnectionRecord | ConnectionSummaryRecord,
  isDefault: boolean,
): ConnectionInfo {
  const summary = "secrets" in connection
    ? expandSummary(summarizeRecord(connKey(provider, name), connection)!)
    : connection;
  return {
    provider,
    connection: name,
    default: isDefault,
    status: statusOf(ctx, summary),
    auth_type: summary.auth_type,
    scopes: summary.scopes,
    expires_at: summary.expires_at,
    obtained_at: summary.obtained_at,
    created_at: summary.created_at,
    base_url: summary.base_url,
    api_url: summary.api_url,
    token_type: summary.token_type,
    account: summary.account,
    secret_fields: summary.secret_fields,
  };
}

/** The error for a login over an existing connection without `--force`. */
export function connectionExists(provider: string, connection: string): AuthsomeError {
  return new AuthsomeError(
    "CONNECTION_EXISTS",
    `The ${provider} connection "${connection}" exists already`,
    {
      hint: `Replace it with: authsome login ${provider}${
        connection === "default" ? "" : ` --connection ${connection}`
      } --force`,
    },
  );
}

/**
 * Deletes one connection (audited as `action`); a deleted default moves to "default" or the
 * first one left.
 */
export function deleteConnection(
  ctx: ServiceContext,
  action: string,
  provider: string,
  connection: string | undefined,
): Promise<{ provider: string; connection: string; newDefault: string | null }> {
  const fields = { provider, ...(connection ? { connection } : {}) };
  return audited(ctx, action, fields, () =>
    ctx.vault.update(async (tx) => {
      const { name } = await resolveConnection(tx, provider, connection);
      tx.delete(connKey(provider, name));
      const state = await tx.get<ProviderState>(providerKey(provider));
      let newDefault = state?.default_connection ?? null;
      if (newDefault === name) {
        const rest = (await connectionNames(tx, provider)).filter((n) => n !== name);
        newDefault = rest.includes("default") ? "default" : rest[0] ?? null;
      }
      if (newDefault === null) tx.delete(providerKey(provider));
      else tx.set(providerKey(provider), { ...state, default_connection: newDefault });
      return { provider, connection: name, newDefault };
    }));
}

/** `logout`: deletes one connection locally; the provider is not contacted. */
export async function logout(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
): Promise<{ provider: string; connection: string; newDefault: string | null }> {
  await ctx.registry.get(provider).catch(async (error) => {
    // A connection of a provider whose file was removed can still be logged out; with none,
    // the name is more likely a typo, and the provider's error says what was meant.
    const known = error instanceof AuthsomeError && error.code === "PROVIDER_NOT_FOUND" &&
      (await connectionNames(ctx.vault, provider)).length > 0;
    if (!known) throw error;
  });
  return await deleteConnection(ctx, "logout", provider, connection);
}

/** Makes `connection` the provider's default. */
export async function setDefaultConnection(
  ctx: ServiceContext,
  provider: string,
  connection: string,
): Promise<void> {
  await ctx.registry.get(provider);
  checkName("connection", connection);
  await audited(ctx, "set-default", { provider, connection }, () =>
    ctx.vault.update(async (tx) => {
      await resolveConnection(tx, provider, connection);
      const state = await tx.get<ProviderState>(providerKey(provider));
      tx.set(providerKey(provider), { ...state, default_connection: connection });
    }));
}

/**
 * `connections rename`: gives connection `from` the name `to`, in one transaction: the record
 * (re-sealed under its new key, tokens, scopes and expiry unchanged), its place in the index,
 * the provider's default, and every identity whose policy names the connection (it follows the
 * credential it was granted, so a later login under the old name gains it nothing). Holds the
 * connection's refresh lock, so it never races a refresh. Exit 3 when `from` does not exist,
 * 6 when `to` does, 64 for an invalid name; audited as `rename`.
 *
 * @example
 * ```ts ignore
 * const r = await renameConnection(ctx, "openai", "work", "job");
 * ```
 */
export async function renameConnection(
  ctx: ServiceContext,
  provider: string,
  from: string,
  to: string,
): Promise<RenameResult> {
  checkName("connection", from);
  checkName("connection", to);
  await ctx.registry.get(provider).catch((error) => {
    // A connection of a provider whose file was removed can still be renamed.
    if (!(error instanceof AuthsomeError && error.code === "PROVIDER_NOT_FOUND")) throw error;
  });
  const fields = { provider, connection: from, detail: { to } };
  return await audited(
    ctx,
    "rename",
    fields,
    () =>
      ctx.vault.withLock(refreshLockName(provider, from), () =>
        ctx.vault.update(async (tx) => {
          const { record } = await resolveConnection(tx, provider, from);
          if (await tx.get(connKey(provider, to)) !== undefined) {
            throw new AuthsomeError(
              "CONNECTION_EXISTS",
              `The ${provider} connection "${to}" exists already`,
              {
                hint: `Pick another name, or remove it first: authsome logout ${provider} -c ${to}`,
              },
            );
          }
          tx.delete(connKey(provider, from));
          tx.set(connKey(provider, to), { ...record, connection: to });
          const state = await tx.get<ProviderState>(providerKey(provider));
          const isDefault = state?.default_connection === from;
          if (isDefault) tx.set(providerKey(provider), { ...state, default_connection: to });
          const identities: string[] = [];
          for (const key of await tx.keys(identityKey(""))) {
            const identity = await tx.get<IdentityRecord>(key);
            const named = (g: IdentityRecord["grants"][number]) =>
              g.provider === provider && g.connection === from;
            if (identity === undefined || !identity.grants.some(named)) continue;
            tx.set(key, {
              ...identity,
              grants: identity.grants.map((g) => named(g) ? { ...g, connection: to } : g),
            });
            identities.push(identity.name);
          }
          return { provider, from, to, default: isDefault, identities };
        }), ctx.lockWait(`refreshing ${provider} (${from})`)),
  );
}

/**
 * Every provider with its state and connections. Connections come from the vault's index, so
 * listing opens a few index records per provider, not every connection.
 */
export async function listProviders(
  ctx: ServiceContext,
): Promise<{ vault: string; providers: ProviderSummary[]; problems: string[] }> {
  const { providers, problems } = await ctx.registry.list();
  const summaries: ProviderSummary[] = [];
  for (const p of providers) {
    const name = p.definition.name;
    const indexed = await ctx.vault.summaries<StoredSummary>(`connection/${name}`);
    const def = indexed.size > 0 ? await defaultOf(ctx.vault, name) : null;
    const connections: ConnectionSummary[] = [];
    for (const [c, stored] of indexed) {
      const summary = {
        status: "invalid" as const,
        secret_fields: [],
        expires_at: null,
        ...stored,
      };
      connections.push({
        name: c,
        status: statusOf(ctx, summary),
        default: c === def,
        expires_at: summary.expires_at,
      });
    }
    const configured = await ctx.vault.get(`client/${name}`) !== undefined;
    summaries.push({
      name,
      display_name: p.definition.display_name,
      auth_type: p.definition.auth_type,
      flow: p.definition.flow,
      origin: p.origin,
      state: connections.length > 0 ? "connected" : configured ? "configured" : "available",
      connections,
    });
  }
  return { vault: ctx.settings.vault, providers: summaries, problems };
}

/** The connections of one provider, or of all, from the vault's index. */
export async function listConnections(
  ctx: ServiceContext,
  provider: string | undefined,
): Promise<ConnectionInfo[]> {
  const providers = provider === undefined
    ? [...new Set((await ctx.vault.keys("connection/")).map((k) => k.split("/")[1]!))]
    : [provider];
  const out: ConnectionInfo[] = [];
  for (const p of providers) {
    const def = await defaultOf(ctx.vault, p);
    const indexed = await ctx.vault.summaries<StoredSummary>(`connection/${p}`);
    for (const [c, s] of indexed) out.push(infoOf(ctx, p, c, expandSummary(s), c === def));
  }
  return out;
}
