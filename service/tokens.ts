/**
 * Tokens: handing out a usable credential (refreshing an OAuth token within 300 s of expiry,
 * one refresh for N processes), the auth headers, secret fields and the `export` values.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { apiKeyHeaders } from "../providers/api_key.ts";
import type { LoadedProvider } from "../providers/registry.ts";
import type { ExportField, ProviderDefinition } from "../providers/schema.ts";
import { type ExportFormat, formatEnv } from "../proxy/env_format.ts";
import { oauthClientOf } from "./client_credentials.ts";
import { defaultOf, infoOf, resolveConnection, statusOf } from "./connections.ts";
import { audited, clientKey, connKey, refreshLockName, type ServiceContext } from "./context.ts";
import type { ClientRecord, ConnectionInfo, ConnectionRecord, SecretField } from "./types.ts";

/** Tokens are refreshed when they expire within this window. */
export const REFRESH_WINDOW_MS = 300_000;

/** Whether an OAuth record's token expires within {@linkcode REFRESH_WINDOW_MS}. */
export function needsRefresh(ctx: Pick<ServiceContext, "now">, record: ConnectionRecord): boolean {
  return record.auth_type === "oauth2" && record.expires_at !== null &&
    Date.parse(record.expires_at) - ctx.now().getTime() <= REFRESH_WINDOW_MS;
}

/**
 * Returns the record with a usable access token: an OAuth token within 300 s of expiry is
 * refreshed first. The refresh holds the connection's lock (not the store's) across the token
 * request and re-reads the record under it, so N processes cause one token request while other
 * connections are read and written freely; the new tokens (a rotated refresh token included)
 * are saved in one short transaction.
 */
export async function fresh(
  ctx: ServiceContext,
  def: ProviderDefinition,
  record: ConnectionRecord,
): Promise<ConnectionRecord> {
  if (def.auth_type !== "oauth2" || !needsRefresh(ctx, record)) return record;
  const seen = record.secrets.access_token;
  const provider = def.name;
  const name = record.connection;
  return await ctx.vault.withLock(refreshLockName(provider, name), async () => {
    const current = await ctx.vault.get<ConnectionRecord>(connKey(provider, name));
    if (current === undefined) {
      throw new AuthsomeError("CONNECTION_NOT_FOUND", `No connection "${name}" for ${provider}`);
    }
    // Another process refreshed while this one waited for the lock: use its token (even a
    // short-lived one that is already due again), so N waiting processes cause one refresh.
    if (!needsRefresh(ctx, current) || current.secrets.access_token !== seen) return current;
    const client = await ctx.vault.get<ClientRecord>(clientKey(provider));
    const refreshable = current.secrets.refresh_token !== undefined && client !== undefined;
    // Nothing to refresh with, and not expired yet: the token is still good until it expires.
    if (!refreshable && Date.parse(current.expires_at!) > ctx.now().getTime()) return current;
    // Audited only when something happens: a token request, or the connection marked expired.
    return await audited(
      ctx,
      "refresh",
      { provider, connection: name },
      () => refreshNow(ctx, def, current, client),
    );
  }, ctx.lockWait(`refreshing ${provider} (${name})`));
}

/**
 * Sends the refresh request for `current` and saves the outcome (new tokens, or expired); without
 * a refresh token or a client to send it with, marks the connection expired.
 */
async function refreshNow(
  ctx: ServiceContext,
  def: ProviderDefinition,
  current: ConnectionRecord,
  client: ClientRecord | undefined,
): Promise<ConnectionRecord> {
  const provider = def.name;
  const name = current.connection;
  const refreshToken = current.secrets.refresh_token;
  /** Saves `next` unless the connection changed meanwhile (a new login or a logout wins). */
  const save = (next: ConnectionRecord) =>
    ctx.vault.update(async (tx) => {
      const latest = await tx.get<ConnectionRecord>(connKey(provider, name));
      if (latest === undefined || latest.secrets.refresh_token !== refreshToken) return;
      tx.set(connKey(provider, name), next);
    });
  /** Marks the connection expired and says why. */
  const expire = async (why: string): Promise<never> => {
    await save({ ...current, status: "expired" });
    const hint = `Log in again: authsome login ${provider} --connection ${name} --force`;
    throw new AuthsomeError("CREDENTIAL_MISSING", `The ${provider} connection "${name}" ${why}`, {
      hint,
    });
  };
  if (refreshToken === undefined || client === undefined) {
    return await expire("has expired and cannot be refreshed");
  }
  const oauth = await import("../providers/oauth_login.ts");
  let tokens: Awaited<ReturnType<typeof oauth.refreshTokens>>;
  try {
    tokens = await oauth.refreshTokens({
      endpoints: oauth.endpointsFor(def, current.base_url ?? undefined),
      client: oauthClientOf(client),
      refreshToken,
      fetch: ctx.fetch,
      now: ctx.now,
      scopes: current.scopes,
    });
  } catch (error) {
    if (!(error instanceof AuthsomeError) || error.code !== "CREDENTIAL_MISSING") throw error;
    return await expire(`could not be refreshed: ${error.message}`);
  }
  const next: ConnectionRecord = {
    ...current,
    status: "connected",
    obtained_at: ctx.now().toISOString(),
    expires_at: tokens.expires_at,
    token_type: tokens.token_type,
    scopes: tokens.scopes,
    secrets: {
      access_token: tokens.access_token,
      refresh_token: tokens.refresh_token ?? refreshToken,
    },
  };
  await save(next);
  return next;
}

/** The definition and the fresh record of a connection (the default when none is named). */
export async function loadConnection(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
): Promise<{ def: ProviderDefinition; record: ConnectionRecord }> {
  const def = (await ctx.registry.get(provider)).definition;
  const { record } = await resolveConnection(ctx.vault, provider, connection);
  return { def, record: await fresh(ctx, def, record) };
}

/** The API key or access token of a record; `CREDENTIAL_MISSING` unless it is usable. */
export function tokenOf(
  ctx: Pick<ServiceContext, "now">,
  record: ConnectionRecord,
  def: ProviderDefinition,
): string {
  const secret = def.auth_type === "api_key" ? record.secrets.api_key : record.secrets.access_token;
  const status = statusOf(ctx, record);
  if (secret === undefined || status !== "connected") {
    throw new AuthsomeError(
      "CREDENTIAL_MISSING",
      `The ${record.provider} connection "${record.connection}" is ${
        secret === undefined ? "missing its credential" : status
      }`,
      {
        hint:
          `Log in again: authsome login ${record.provider} --connection ${record.connection} --force`,
      },
    );
  }
  return secret;
}

/** Metadata of one connection (refreshed first when due; shown with its status if that fails). */
export async function getConnection(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
): Promise<ConnectionInfo> {
  const { record } = await loadConnection(ctx, provider, connection).catch(async (error) => {
    // A connection whose refresh failed is still shown, with its status.
    if (!(error instanceof AuthsomeError) || error.code !== "CREDENTIAL_MISSING") throw error;
    await ctx.registry.get(provider);
    return await resolveConnection(ctx.vault, provider, connection);
  });
  const isDefault = (await defaultOf(ctx.vault, provider)) === record.connection;
  return infoOf(ctx, provider, record.connection, record, isDefault);
}

/** One secret field of a connection (or the client secret); audited. */
export async function getSecret(
  ctx: ServiceContext,
  provider: string,
  field: SecretField,
  connection: string | undefined,
): Promise<string> {
  const fields = { provider, ...(connection ? { connection } : {}) };
  return await audited(ctx, "get-secret", { ...fields, detail: { field } }, async () => {
    await ctx.registry.get(provider);
    if (field === "client_secret") {
      const client = await ctx.vault.get<{ client_secret?: string }>(clientKey(provider));
      if (client?.client_secret === undefined) {
        throw new AuthsomeError("CREDENTIAL_MISSING", `No client secret is stored for ${provider}`);
      }
      return client.client_secret;
    }
    // Tokens are handed out fresh, like getAccessToken: refreshed when they expire soon.
    const { record } = field === "api_key"
      ? await resolveConnection(ctx.vault, provider, connection)
      : await loadConnection(ctx, provider, connection);
    const value = record.secrets[field];
    if (value === undefined) {
      throw new AuthsomeError(
        "CREDENTIAL_MISSING",
        `The ${provider} connection "${record.connection}" has no ${field}`,
        { hint: `It holds: ${Object.keys(record.secrets).join(", ") || "nothing"}` },
      );
    }
    return value;
  });
}

/** The access token, or the API key, of a connection (refreshed first when due). */
export async function getAccessToken(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
): Promise<string> {
  const { def, record } = await loadConnection(ctx, provider, connection);
  return tokenOf(ctx, record, def);
}

/** The header(s) that authenticate a request to the provider's API. */
export async function getAuthHeaders(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
): Promise<Record<string, string>> {
  const { def, record } = await loadConnection(ctx, provider, connection);
  const token = tokenOf(ctx, record, def);
  return def.auth_type === "api_key"
    ? apiKeyHeaders(def.api_key!, token)
    : { Authorization: `Bearer ${token}` };
}

/**
 * The value of a non-secret export field: the base URL (the connection's, else the provider's)
 * or the first API URL that is not a regex.
 */
export function plainExportValue(
  def: ProviderDefinition,
  record: ConnectionRecord,
  field: "base_url" | "api_url",
): string | undefined {
  return field === "base_url"
    ? record.base_url ?? def.oauth?.base_url
    : record.api_url.find((u) => !u.startsWith("regex:"));
}

/** The provider's `export.env` variables for a record (never a refresh token). */
export function exportVars(
  ctx: Pick<ServiceContext, "now">,
  def: ProviderDefinition,
  record: ConnectionRecord,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [field, names] of Object.entries(def.export.env) as Array<[ExportField, string[]]>) {
    const value = field === "api_key" || field === "access_token"
      ? tokenOf(ctx, record, def)
      : plainExportValue(def, record, field);
    if (value === undefined) continue;
    for (const name of names) out.push([name, value]);
  }
  return out;
}

/**
 * `export`: the variables of one connection, or of every provider's default connection (a name
 * used twice with different values gets a `_PROVIDER_CONNECTION` suffix); audited.
 *
 * @example
 * ```ts ignore
 * const { text } = await exportValues(ctx, "openai", { format: "shell" });
 * ```
 */
export async function exportValues(
  ctx: ServiceContext,
  provider: string | undefined,
  opts: { connection?: string | undefined; format?: ExportFormat } = {},
): Promise<{ vars: Record<string, string>; text: string }> {
  const format = opts.format ?? "env";
  const fields = {
    ...(provider ? { provider } : {}),
    ...(opts.connection ? { connection: opts.connection } : {}),
    detail: { format },
  };
  return await audited(ctx, "export", fields, async () => {
    const pairs: Array<[string, string, string]> = []; // name, value, "PROVIDER_CONNECTION"
    if (provider !== undefined) {
      const { def, record } = await loadConnection(ctx, provider, opts.connection);
      for (const [k, v] of exportVars(ctx, def, record)) pairs.push([k, v, ""]);
    } else {
      if (opts.connection !== undefined) {
        throw new AuthsomeError("USAGE", "--connection needs a provider", {
          hint: "Run: authsome export PROVIDER --connection NAME",
        });
      }
      for (const [k, v, tag] of await defaultExports(ctx)) pairs.push([k, v, tag]);
    }
    const vars: Record<string, string> = {};
    for (const [name, value, tag] of pairs) {
      let key = name;
      if (key in vars && vars[key] !== value) {
        key = `${name}_${tag}`;
        for (let i = 2; key in vars; i++) key = `${name}_${tag}_${i}`;
      }
      vars[key] = value;
    }
    return { vars, text: formatEnv(vars, format) };
  });
}

/** The variables of every provider's usable default connection, tagged `PROVIDER_CONNECTION`. */
async function defaultExports(ctx: ServiceContext): Promise<Array<[string, string, string]>> {
  const out: Array<[string, string, string]> = [];
  const providers = [
    ...new Set((await ctx.vault.keys("provider/")).map((k) => k.slice("provider/".length))),
  ];
  for (const p of providers) {
    let loaded: LoadedProvider;
    try {
      loaded = await ctx.registry.get(p);
    } catch {
      continue; // its definition was removed; nothing to map the values to
    }
    let record = (await resolveConnection(ctx.vault, p, undefined)).record;
    try {
      record = await fresh(ctx, loaded.definition, record);
    } catch (error) {
      if (error instanceof AuthsomeError && error.code === "CREDENTIAL_MISSING") continue;
      throw error;
    }
    if (statusOf(ctx, record) !== "connected") continue;
    const tag = `${p}_${record.connection}`.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
    for (const [k, v] of exportVars(ctx, loaded.definition, record)) out.push([k, v, tag]);
  }
  return out;
}
