/**
 * Logging in: an API key (from the provider's variable or asked for) or an OAuth flow, and the
 * one transaction that stores the connection, its client and its provider's default.
 *
 * @module
 */
import { checkName } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { checkApiKey } from "../providers/api_key.ts";
import {
  checkBaseUrl,
  fillBaseUrl,
  type Flow,
  type ProviderDefinition,
} from "../providers/schema.ts";
import { collectClient, oauthClientOf } from "./client_credentials.ts";
import { connectionExists } from "./connections.ts";
import { audited, clientKey, connKey, providerKey, type ServiceContext } from "./context.ts";
import type {
  ClientRecord,
  ConnectionRecord,
  InputField,
  InputRequest,
  LoginOptions,
  LoginResult,
  ProviderState,
} from "./types.ts";

/**
 * Logs in to `provider` and stores the connection (audited). Without `force`, an existing
 * connection is an error (exit 6); with it, the connection is replaced and becomes the default.
 *
 * @example
 * ```ts ignore
 * await login(ctx, "openai", { connection: "work", readFields: async () => ({ api_key: key }) });
 * ```
 */
export async function login(
  ctx: ServiceContext,
  provider: string,
  opts: LoginOptions = {},
): Promise<LoginResult> {
  const connection = checkName("connection", opts.connection ?? "default");
  const def = (await ctx.registry.get(provider)).definition;
  const flow = opts.flow ?? def.flow;
  if ((def.auth_type === "api_key") !== (flow === "api_key")) {
    throw new AuthsomeError(
      "USAGE",
      `--flow ${flow} does not fit ${def.display_name}, an ${def.auth_type} provider`,
      {
        hint: def.auth_type === "api_key"
          ? "Leave out --flow"
          : "Use --flow pkce, device_code or dcr_pkce",
      },
    );
  }
  if (opts.baseUrl !== undefined) checkBaseUrl(opts.baseUrl);
  return await audited(
    ctx,
    "login",
    { provider, connection, detail: { flow } },
    () => loginWith(ctx, def, flow, connection, opts),
  );
}

/** What a caller of {@linkcode loginWith} does around the store. */
export interface LoginHooks {
  /**
   * Runs once the credential is obtained, right before the one transaction that stores it
   * (`authsome login mcp` writes the provider file here); an error stops the store.
   */
  beforeStore?: () => Promise<void>;
}

/**
 * Logs in with a definition already loaded and checked (not audited: the caller audits). An
 * existing connection is an error unless `opts.force`.
 *
 * @example
 * ```ts ignore
 * await loginWith(ctx, def, "dcr_pkce", "default", { onAuthorizationUrl: show });
 * ```
 */
export async function loginWith(
  ctx: ServiceContext,
  def: ProviderDefinition,
  flow: Flow,
  connection: string,
  opts: LoginOptions,
  hooks: LoginHooks = {},
): Promise<LoginResult> {
  const force = opts.force === true;
  if (!force && await ctx.vault.get(connKey(def.name, connection)) !== undefined) {
    throw connectionExists(def.name, connection);
  }
  return flow === "api_key"
    ? await loginApiKey(ctx, def, connection, force, opts)
    : await loginOAuth(ctx, def, flow, connection, force, opts, hooks);
}

/** An API-key login: the provider's variable, else asked for with `readFields`. */
async function loginApiKey(
  ctx: ServiceContext,
  def: ProviderDefinition,
  connection: string,
  force: boolean,
  opts: LoginOptions,
): Promise<LoginResult> {
  // Filled first: a missing --base-url is reported before anyone is asked for a key.
  const apiUrl = def.api_url.map((u) => fillBaseUrl(u, opts.baseUrl));
  const apiKeyConfig = def.api_key!;
  const envVar = apiKeyConfig.env_var;
  let raw = envVar === undefined || opts.explicitInput ? undefined : ctx.env.get(envVar);
  let source: LoginResult["source"] = "env";
  if (raw === undefined || raw.trim() === "") {
    source = "input";
    const field: InputField = { name: "api_key", label: "API key", secret: true, required: true };
    if (apiKeyConfig.key_pattern) field.pattern = apiKeyConfig.key_pattern;
    if (apiKeyConfig.key_pattern_hint) field.hint = apiKeyConfig.key_pattern_hint;
    const request: InputRequest = {
      provider: def.display_name,
      title: `Log in to ${def.display_name}`,
      intro: `Paste your ${def.display_name} API key. authsome stores it encrypted on this ` +
        "computer; it is not shown again.",
      fields: [field],
      envVars: envVar === undefined ? [] : [envVar],
      validate: (values) => {
        try {
          checkApiKey(def, values.api_key ?? "");
          return undefined;
        } catch (error) {
          return {
            api_key: error instanceof AuthsomeError ? error.hint ?? error.message : "Invalid",
          };
        }
      },
    };
    if (def.docs) request.docsUrl = def.docs;
    raw = (await opts.readFields?.(request))?.api_key;
  }
  if (raw === undefined) {
    throw new AuthsomeError("AUTH_FAILED", `No API key was given for ${def.display_name}`, {
      hint: `${envVar === undefined ? "" : `Set ${envVar}, `}pipe the key in with --stdin, ` +
        "set BROWSER to use the browser form, or run the command in a terminal",
    });
  }
  const key = checkApiKey(def, raw);
  const at = ctx.now().toISOString();
  const result = await storeConnection(ctx, def, connection, force, source, {
    auth_type: "api_key",
    obtained_at: at,
    expires_at: null,
    scopes: [],
    base_url: opts.baseUrl ?? null,
    api_url: apiUrl,
    token_type: null,
    account: null,
    secrets: { api_key: key },
  });
  return source === "env" && envVar !== undefined ? { ...result, sourceVariable: envVar } : result;
}

/** An OAuth login (pkce, device code or dcr_pkce) through oauth4webapi, loaded on demand. */
async function loginOAuth(
  ctx: ServiceContext,
  def: ProviderDefinition,
  flow: Exclude<Flow, "api_key">,
  connection: string,
  force: boolean,
  opts: LoginOptions,
  hooks: LoginHooks,
): Promise<LoginResult> {
  const oauth = await import("../providers/oauth_login.ts");
  const stored = opts.resetClient
    ? undefined
    : await ctx.vault.get<ClientRecord>(clientKey(def.name));
  let client: ClientRecord | undefined = stored;
  if (client === undefined && (flow !== "dcr_pkce" || opts.clientId !== undefined)) {
    const port = opts.callbackPort ?? def.oauth!.callback_port;
    const redirectUri = flow === "device_code" || port === 0
      ? undefined
      : `http://127.0.0.1:${port}${def.oauth!.callback_path}`;
    client = await collectClient(ctx, def, opts, redirectUri);
  }
  const baseUrl = opts.baseUrl ?? client?.base_url ?? undefined;
  const endpoints = oauth.endpointsFor(def, baseUrl);
  const scopes = opts.scopes ?? def.oauth!.scopes;
  const { signal } = opts;
  const result = await oauth.runOAuthFlow({
    flow,
    def,
    endpoints,
    client: client === undefined ? undefined : oauthClientOf(client),
    scopes,
    io: {
      fetch: ctx.fetch,
      now: ctx.now,
      sleep: (ms) => sleep(ms, signal),
      onAuthorizationUrl: opts.onAuthorizationUrl ?? (() => {}),
      onDeviceCode: opts.onDeviceCode ?? (() => {}),
      onDeviceWaiting: opts.onDeviceWaiting,
      callbackPort: opts.callbackPort ?? def.oauth!.callback_port,
      callbackPath: def.oauth!.callback_path,
      timeoutMs: (opts.timeoutSeconds ?? 300) * 1000,
      signal,
    },
  });
  if (result.registeredClient !== undefined) {
    client = {
      client_id: result.registeredClient.client_id,
      source: "dcr",
      redirect_uri: result.registeredClient.redirect_uri,
    };
    if (result.registeredClient.client_secret !== undefined) {
      client.client_secret = result.registeredClient.client_secret;
    }
  }
  if (client !== undefined && baseUrl !== undefined) client.base_url = baseUrl;
  const t = result.tokens;
  const secrets: ConnectionRecord["secrets"] = { access_token: t.access_token };
  if (t.refresh_token !== undefined) secrets.refresh_token = t.refresh_token;
  const claims = t.id_token_claims;
  const saved = await storeConnection(
    ctx,
    def,
    connection,
    force,
    "oauth",
    {
      auth_type: "oauth2",
      obtained_at: ctx.now().toISOString(),
      expires_at: t.expires_at,
      scopes: t.scopes,
      base_url: baseUrl ?? null,
      api_url: def.api_url.map((u) => u.includes("{base_url}") ? fillBaseUrl(u, baseUrl) : u),
      token_type: t.token_type,
      account: claims?.sub === undefined && t.account_label === undefined
        ? null
        : { id: claims?.sub ?? null, label: t.account_label ?? null },
      secrets,
    },
    client !== stored ? client : undefined,
    hooks.beforeStore,
  );
  if (t.unverified_id_token !== undefined) {
    saved.warnings.push(unverifiedIdTokenWarning(def, t.unverified_id_token.issuer));
  }
  return saved;
}

/** The one line saying that the ID token was not used, and which field makes it usable. */
function unverifiedIdTokenWarning(def: ProviderDefinition, issuer: string | null): string {
  const named = issuer === null ? "names no issuer" : `names issuer ${issuer}`;
  const fix = issuer === null
    ? "set oauth.issuer in its provider file"
    : `set "oauth.issuer": "${issuer}" in its provider file if that is ${def.display_name}'s issuer`;
  return `The ID token of ${def.name} ${named}, which authsome could not verify: the tokens are ` +
    `stored, the account name is left out; ${fix}`;
}

/** Writes a new connection (and client credentials) in one transaction. */
async function storeConnection(
  ctx: ServiceContext,
  def: ProviderDefinition,
  connection: string,
  force: boolean,
  source: LoginResult["source"],
  fields: Omit<ConnectionRecord, "provider" | "connection" | "status" | "created_at">,
  client?: ClientRecord,
  beforeStore?: () => Promise<void>,
): Promise<LoginResult> {
  const provider = def.name;
  await beforeStore?.();
  return await ctx.vault.update(async (tx) => {
    const previous = await tx.get<ConnectionRecord>(connKey(provider, connection));
    if (previous !== undefined && !force) throw connectionExists(provider, connection);
    const record: ConnectionRecord = {
      provider,
      connection,
      status: "connected",
      created_at: previous?.created_at ?? fields.obtained_at,
      ...fields,
    };
    tx.set(connKey(provider, connection), record);
    if (client !== undefined) tx.set(clientKey(provider), client);
    const state = await tx.get<ProviderState>(providerKey(provider));
    const isDefault = force || state?.default_connection == null ||
      state.default_connection === connection;
    if (isDefault) tx.set(providerKey(provider), { ...state, default_connection: connection });
    return {
      provider,
      connection,
      default: isDefault,
      replaced: previous !== undefined,
      source,
      account: record.account?.label ?? record.account?.id ?? null,
      warnings: [],
    };
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancelled = () => {
      clearTimeout(timer);
      reject(
        new AuthsomeError("AUTH_FAILED", "The login was cancelled", { hint: "Nothing was stored" }),
      );
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", cancelled);
      resolve();
    }, ms);
    if (signal?.aborted) cancelled();
    else signal?.addEventListener("abort", cancelled, { once: true });
  });
}
