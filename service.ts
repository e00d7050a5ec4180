/**
 * The auth service: wires the provider registry, the vault and the audit log together and offers
 * every operation of the CLI as a function. No printing, no exiting; errors are AuthsomeError.
 *
 * @module
 */
import { checkName, type EnvSource, joinPath, resolveSettings, type Settings } from "./config.ts";
import { AuthsomeError, type ErrorCode } from "./errors.ts";
import { apiKeyHeaders, checkApiKey } from "./providers/api_key.ts";
import { createRegistry, type LoadedProvider, type Registry } from "./providers/registry.ts";
import {
  type AuthType,
  type ExportField,
  fillBaseUrl,
  type Flow,
  type ProviderDefinition,
} from "./providers/schema.ts";
import type { FormField, FormRequest } from "./providers/input_form.ts";
import { randomToken } from "./providers/page_style.ts";
import type { CertificateAuthority, LeafCertificate, LeafIssuer } from "./proxy/certs.ts";
import type { DeviceCodePrompt } from "./providers/oauth_login.ts";
import { type ExportFormat, formatEnv } from "./proxy/env_format.ts";
import { appendAudit, type AuditEntry, readAudit } from "./storage/audit.ts";
import { ensurePrivateDir, readTextIfExists, writeFileAtomic } from "./storage/files.ts";
import {
  describeKeySource,
  KEY_FILE,
  loadMasterKey,
  type MasterKey,
} from "./storage/master_key.ts";
import { listHomeVaults, openHomeStore, openHomeVault } from "./storage/home.ts";
import type { Vault, VaultReader } from "./storage/vault.ts";
import { type ConnectionSummaryRecord, summarizeRecord } from "./service/summary.ts";

/** Connection status values. */
export type ConnectionStatus = "connected" | "expired" | "revoked" | "invalid";

/** A connection record as stored (sealed) in the vault. */
export interface ConnectionRecord {
  /** Provider name, e.g. `openai`. */
  provider: string;
  /** Connection name, e.g. `work`. */
  connection: string;
  /** `api_key` or `oauth2`. */
  auth_type: AuthType;
  /** `connected`, `expired`, `revoked` or `invalid` (expiry is computed when read). */
  status: ConnectionStatus;
  /** When the connection was first created (ISO-8601 UTC). */
  created_at: string;
  /** When the current credential was obtained (ISO-8601 UTC). */
  obtained_at: string;
  /** When the credential expires (ISO-8601 UTC), or null if it does not. */
  expires_at: string | null;
  /** Scopes granted (OAuth); empty for API keys. */
  scopes: string[];
  /** Base URL used for `{base_url}` templating, when one was given. */
  base_url: string | null;
  /** Hosts the credential is sent to (from the provider definition). */
  api_url: string[];
  /** OAuth token type, e.g. `Bearer`; null for API keys. */
  token_type: string | null;
  /** Who the credential belongs to, where the provider says. */
  account: { id: string | null; label: string | null } | null;
  /** The secret values; never shown unless asked for with `--show-secret`. */
  secrets: { api_key?: string; access_token?: string; refresh_token?: string };
}

/** Per-provider settings stored in the vault. */
interface ProviderState {
  [key: string]: unknown;
  default_connection: string | null;
}

/** What `get` shows of a connection: metadata only, never a secret. */
export interface ConnectionInfo {
  /** Provider name, e.g. `openai`. */
  provider: string;
  /** Connection name, e.g. `work`. */
  connection: string;
  /** Whether this is the provider's default connection. */
  default: boolean;
  /** `connected`, `expired`, `revoked` or `invalid` (expiry is computed when read). */
  status: ConnectionStatus;
  /** `api_key` or `oauth2`. */
  auth_type: AuthType;
  /** Scopes granted (OAuth); empty for API keys. */
  scopes: string[];
  /** When the credential expires (ISO-8601 UTC), or null if it does not. */
  expires_at: string | null;
  /** When the current credential was obtained (ISO-8601 UTC). */
  obtained_at: string;
  /** When the connection was first created (ISO-8601 UTC). */
  created_at: string;
  /** Base URL used for `{base_url}` templating, when one was given. */
  base_url: string | null;
  /** Hosts the credential is sent to (from the provider definition). */
  api_url: string[];
  /** OAuth token type, e.g. `Bearer`; null for API keys. */
  token_type: string | null;
  /** Who the credential belongs to, where the provider says. */
  account: { id: string | null; label: string | null } | null;
  /** Which secret fields are stored (names only). */
  secret_fields: string[];
}

/** A connection as listed. */
export interface ConnectionSummary {
  /** The name. */
  name: string;
  /** `connected`, `expired`, `revoked` or `invalid` (expiry is computed when read). */
  status: ConnectionStatus;
  /** Whether this is the provider's default connection. */
  default: boolean;
  /** When the credential expires (ISO-8601 UTC), or null if it does not. */
  expires_at: string | null;
}

/** A provider as listed. */
export interface ProviderSummary {
  /** The name. */
  name: string;
  /** Name shown to people. */
  display_name: string;
  /** `api_key` or `oauth2`. */
  auth_type: AuthType;
  /** How connections are obtained. */
  flow: Flow;
  /** `bundled`, or `user` for a file in `$AUTHSOME_HOME/providers`. */
  origin: "bundled" | "user";
  /** `available`, `configured` (client credentials only) or `connected`. */
  state: "available" | "configured" | "connected";
  /** The provider's connections in the current vault. */
  connections: ConnectionSummary[];
}

/** Secret fields that `getSecret` can reveal. */
export const SECRET_FIELDS = ["api_key", "access_token", "refresh_token", "client_secret"] as const;
/** One of {@linkcode SECRET_FIELDS}. */
export type SecretField = typeof SECRET_FIELDS[number];

/** One value a login asks the user for (the same shape the browser form renders). */
export type InputField = FormField;

/** What a login asks the user for when no environment variable or flag supplied it. */
export interface InputRequest extends FormRequest {
  /** Environment variables that could have supplied the values, for hints. */
  envVars: string[];
  /** Checks values; returns field errors (name → message), or undefined when they are fine. */
  validate?: (values: Record<string, string>) => Record<string, string> | undefined;
}

/** Options of {@linkcode AuthService.login}. */
export interface LoginOptions {
  /** Connection name (default `default`). */
  connection?: string | undefined;
  /** Replace an existing connection and make it the default. */
  force?: boolean | undefined;
  /** Override the provider's flow. */
  flow?: Flow | undefined;
  /** Requested scopes (OAuth). */
  scopes?: string[] | undefined;
  /** Base URL for `{base_url}` templating. */
  baseUrl?: string | undefined;
  /**
   * Asks the user for values no environment variable or flag supplied (an API key, OAuth client
   * credentials); resolves undefined when there is no way to ask.
   */
  readFields?: ((request: InputRequest) => Promise<Record<string, string> | undefined>) | undefined;
  /** OAuth client ID (not secret); else the provider's client ID variable, else `readFields`. */
  clientId?: string | undefined;
  /** Ask for the OAuth client credentials again instead of reusing the stored ones. */
  resetClient?: boolean | undefined;
  /** Shows (and opens) the authorization URL of a browser login. */
  onAuthorizationUrl?: ((url: string) => void | Promise<void>) | undefined;
  /** Shows the device code of a device-code login. */
  onDeviceCode?: ((prompt: DeviceCodePrompt) => void | Promise<void>) | undefined;
  /** Called while a device-code login waits, with the seconds left. */
  onDeviceWaiting?: ((secondsLeft: number) => void) | undefined;
  /** Loopback port of the redirect URI (default: the provider's, 7998); 0 picks a free port. */
  callbackPort?: number | undefined;
  /** How long to wait for the browser or the device approval, in seconds (default 300). */
  timeoutSeconds?: number | undefined;
  /** Cancels a waiting login (Ctrl-C). */
  signal?: AbortSignal | undefined;
}

/** The result of a login. */
export interface LoginResult {
  /** Provider name, e.g. `openai`. */
  provider: string;
  /** Connection name, e.g. `work`. */
  connection: string;
  /** Whether this is the provider's default connection. */
  default: boolean;
  /** Whether an existing connection was overwritten (`--force`). */
  replaced: boolean;
  /** Where the secret came from: the provider's variable, input, or an OAuth flow. */
  source: "env" | "input" | "oauth";
  /** Who the credential belongs to, where the provider says. */
  account: string | null;
}

/** One doctor check. */
export interface DoctorCheck {
  /** The name. */
  name: string;
  /** Whether the check passed. */
  ok: boolean;
  /** What was checked, or why it failed. */
  detail: string;
}

/** Options of {@linkcode AuthService.run}. */
export interface RunOptions {
  /** Connections to use instead of the defaults, by provider: `{ github: "work" }`. */
  connections?: Record<string, string> | undefined;
  /** Pass the real credentials as environment variables instead of running the proxy. */
  env?: boolean | undefined;
  /** The environment the child starts from; default this process's. */
  parentEnv?: Record<string, string> | undefined;
  /** Receives warnings (e.g. a provider route that could not be built); never a secret. */
  onWarning?: ((message: string) => void) | undefined;
}

/** Options of {@linkcode createAuthService}. */
export interface AuthServiceOptions {
  /** Home folder; default `AUTHSOME_HOME`, else `~/.authsome`. */
  home?: string | undefined;
  /** Vault name; default `AUTHSOME_VAULT`, else `default`. */
  vault?: string | undefined;
  /** Environment to read settings and provider variables from; default `Deno.env`. */
  env?: EnvSource | Record<string, string | undefined> | undefined;
  /** Clock; default `() => new Date()`. */
  now?: (() => Date) | undefined;
  /** `fetch` for network calls (OAuth); default the global fetch. */
  fetch?: typeof fetch | undefined;
}

/** The operations of authsome. Create one with {@linkcode createAuthService}. */
export interface AuthService {
  /** The resolved settings (home, vault). */
  readonly settings: Settings;
  /** Logs in to a provider and stores the connection. */
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  /** Deletes one connection locally; the default moves to a remaining connection. */
  logout(provider: string, options?: { connection?: string | undefined }): Promise<
    { provider: string; connection: string; newDefault: string | null }
  >;
  /** Deletes one connection, or every connection and the client credentials of a provider. */
  revoke(provider: string, options?: { connection?: string | undefined }): Promise<
    { provider: string; connections: string[] }
  >;
  /** Metadata of one connection (the default when none is named). */
  getConnection(provider: string, options?: { connection?: string | undefined }): Promise<
    ConnectionInfo
  >;
  /** One secret field of a connection; audited. */
  getSecret(
    provider: string,
    field: SecretField,
    options?: { connection?: string | undefined },
  ): Promise<string>;
  /** The access token, or the API key, of a connection. */
  getAccessToken(provider: string, options?: { connection?: string | undefined }): Promise<string>;
  /** The header(s) that authenticate a request to the provider's API. */
  getAuthHeaders(provider: string, options?: { connection?: string | undefined }): Promise<
    Record<string, string>
  >;
  /** Every provider with its state and connections, plus problems with user files. */
  listProviders(): Promise<{ vault: string; providers: ProviderSummary[]; problems: string[] }>;
  /** The connections of one provider, or of all. */
  listConnections(provider?: string): Promise<Array<ConnectionInfo>>;
  /** A provider definition with where it came from. */
  getProvider(name: string): Promise<LoadedProvider>;
  /** Makes `connection` the provider's default. */
  setDefaultConnection(provider: string, connection: string): Promise<void>;
  /** The `export.env` variables of one connection, or of every default connection. */
  export(
    provider: string | undefined,
    options?: { connection?: string | undefined; format?: ExportFormat },
  ): Promise<{ vars: Record<string, string>; text: string }>;
  /** Validates and installs a provider definition. */
  registerProvider(
    definition: unknown,
    options?: { force?: boolean; source?: string },
  ): Promise<LoadedProvider>;
  /** Removes a user provider definition. */
  removeProvider(name: string): Promise<{ restoredBundled: boolean }>;
  /**
   * Runs `command` behind the injecting proxy (default), or with the real variables (`env: true`),
   * and resolves with its exit status (126/127 when it cannot start, 128+N when killed by signal N).
   */
  run(command: string[], options?: RunOptions): Promise<number>;
  /** Home, vault, key source and counts. */
  whoami(): Promise<Record<string, unknown>>;
  /** Health checks. */
  doctor(): Promise<DoctorCheck[]>;
  /** The last `limit` audit entries. */
  auditLog(limit?: number): Promise<AuditEntry[]>;
  /** Releases resources; the service must not be used afterwards. */
  close(): Promise<void>;
}

/** OAuth client credentials, stored once per provider per vault and shared by its connections. */
interface ClientRecord {
  client_id: string;
  client_secret?: string;
  /** Where the client came from. */
  source: "flag" | "env" | "input" | "dcr";
  /** The redirect URI a dynamically registered client was registered with. */
  redirect_uri?: string;
  /** The base URL the client belongs to (self-hosted instances). */
  base_url?: string;
}

/** Tokens are refreshed when they expire within this window. */
const REFRESH_WINDOW_MS = 300_000;

function oauthClientOf(client: ClientRecord): { client_id: string; client_secret?: string } {
  return client.client_secret === undefined
    ? { client_id: client.client_id }
    : { client_id: client.client_id, client_secret: client.client_secret };
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

const connKey = (p: string, c: string) => `connection/${p}/${c}`;
const providerKey = (p: string) => `provider/${p}`;
const clientKey = (p: string) => `client/${p}`;

/**
 * Creates the auth service. Nothing is read until an operation needs it.
 *
 * @example
 * ```ts ignore
 * import { createAuthService } from "@authsome/cli";
 * const auth = await createAuthService();
 * const token = await auth.getAccessToken("github", { connection: "work" });
 * await auth.close();
 * ```
 */
export function createAuthService(options: AuthServiceOptions = {}): Promise<AuthService> {
  const envOption = options.env;
  const env: EnvSource = envOption === undefined
    ? { get: (name) => Deno.env.get(name) }
    : typeof (envOption as EnvSource).get === "function"
    ? envOption as EnvSource
    : { get: (name) => (envOption as Record<string, string | undefined>)[name] };
  const settings = resolveSettings(env, { home: options.home, vault: options.vault });
  const now = options.now ?? (() => new Date());
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const registry: Registry = createRegistry({ home: settings.home });
  let masterKey: Promise<MasterKey> | undefined;
  const keyOptions = {
    home: settings.home,
    masterKey: settings.masterKey,
    passphrase: settings.passphrase,
  };
  const getMasterKey = (create: boolean) => {
    if (masterKey === undefined) {
      const attempt = loadMasterKey(keyOptions, { create });
      masterKey = attempt;
      attempt.catch(() => {
        if (masterKey === attempt) masterKey = undefined;
      });
    }
    return masterKey;
  };
  const store = openHomeStore(settings.home);
  const vault: Vault = openHomeVault({
    home: settings.home,
    store,
    name: settings.vault,
    masterKey: getMasterKey,
    summarize: summarizeRecord,
  });

  const audit = async (
    action: string,
    fields: Omit<AuditEntry, "time" | "action" | "vault" | "outcome">,
    error?: unknown,
  ) => {
    const entry: AuditEntry = {
      time: now().toISOString(),
      action,
      vault: settings.vault,
      ...fields,
      outcome: error === undefined ? "ok" : "error",
    };
    if (error !== undefined) {
      entry.error = error instanceof AuthsomeError ? error.code : "UNEXPECTED" satisfies ErrorCode;
    }
    await appendAudit(settings.home, entry);
  };

  /** Runs `fn`, writing one audit entry for its outcome. */
  async function audited<T>(
    action: string,
    fields: Omit<AuditEntry, "time" | "action" | "vault" | "outcome">,
    fn: () => Promise<T>,
  ): Promise<T> {
    try {
      const result = await fn();
      await audit(action, fields);
      return result;
    } catch (error) {
      await audit(action, fields, error).catch(() => {});
      throw error;
    }
  }

  async function defaultOf(reader: VaultReader, provider: string): Promise<string | null> {
    return (await reader.get<ProviderState>(providerKey(provider)))?.default_connection ?? null;
  }

  async function resolveConnection(
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
          ? `Known connections: ${names.join(", ")}`
          : `Log in first: authsome login ${provider} --connection ${name}`,
      });
    }
    return { name, record };
  }

  async function connectionNames(reader: VaultReader, provider: string): Promise<string[]> {
    const prefix = `connection/${provider}/`;
    return (await reader.keys(prefix)).map((k) => k.slice(prefix.length));
  }

  /** The status as of now: a lapsed token without a refresh token is expired. */
  function statusOf(connection: ConnectionRecord | ConnectionSummaryRecord): ConnectionStatus {
    const refreshable = "secrets" in connection
      ? connection.secrets.refresh_token !== undefined
      : connection.secret_fields.includes("refresh_token");
    const summary = connection;
    if (
      summary.status === "connected" && summary.expires_at !== null && !refreshable &&
      Date.parse(summary.expires_at) <= now().getTime()
    ) return "expired";
    return summary.status;
  }

  /** What `get` shows of a connection, from its record or its index summary. */
  function info(
    provider: string,
    name: string,
    connection: ConnectionRecord | ConnectionSummaryRecord,
    isDefault: boolean,
  ): ConnectionInfo {
    const summary = "secrets" in connection
      ? summarizeRecord(connKey(provider, name), connection)!
      : connection;
    return {
      provider,
      connection: name,
      default: isDefault,
      status: statusOf(summary),
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

  function tokenOf(record: ConnectionRecord, def: ProviderDefinition): string {
    const secret = def.auth_type === "api_key"
      ? record.secrets.api_key
      : record.secrets.access_token;
    const status = statusOf(record);
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

  async function loadConnection(provider: string, connection: string | undefined) {
    const def = (await registry.get(provider)).definition;
    const { record } = await resolveConnection(vault, provider, connection);
    return { def, record: await fresh(def, record) };
  }

  function exportVars(def: ProviderDefinition, record: ConnectionRecord): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [field, names] of Object.entries(def.export.env) as Array<[ExportField, string[]]>) {
      let value: string | undefined;
      if (field === "api_key" || field === "access_token") value = tokenOf(record, def);
      else if (field === "base_url") value = record.base_url ?? def.oauth?.base_url;
      else value = record.api_url.find((u) => !u.startsWith("regex:"));
      if (value === undefined) continue;
      for (const name of names) out.push([name, value]);
    }
    return out;
  }

  /** Deletes one connection; a deleted default moves to "default" or the first one left. */
  function deleteConnection(action: string, provider: string, connection: string | undefined) {
    const fields = { provider, ...(connection ? { connection } : {}) };
    return audited(action, fields, () =>
      vault.update(async (tx) => {
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

  async function loginApiKey(
    def: ProviderDefinition,
    connection: string,
    force: boolean,
    opts: LoginOptions,
  ): Promise<LoginResult> {
    const apiKeyConfig = def.api_key!;
    const envVar = apiKeyConfig.env_var;
    let raw = envVar === undefined ? undefined : env.get(envVar);
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
    const at = now().toISOString();
    return await storeConnection(def, connection, force, source, {
      auth_type: "api_key",
      obtained_at: at,
      expires_at: null,
      scopes: [],
      base_url: opts.baseUrl ?? null,
      api_url: def.api_url,
      token_type: null,
      account: null,
      secrets: { api_key: key },
    });
  }

  async function loginOAuth(
    def: ProviderDefinition,
    flow: Exclude<Flow, "api_key">,
    connection: string,
    force: boolean,
    opts: LoginOptions,
  ): Promise<LoginResult> {
    const oauth = await import("./providers/oauth_login.ts");
    const stored = opts.resetClient
      ? undefined
      : await vault.get<ClientRecord>(clientKey(def.name));
    let client: ClientRecord | undefined = stored;
    if (client === undefined && (flow !== "dcr_pkce" || opts.clientId !== undefined)) {
      const port = opts.callbackPort ?? def.oauth!.callback_port;
      const redirectUri = flow === "device_code" || port === 0
        ? undefined
        : `http://127.0.0.1:${port}${def.oauth!.callback_path}`;
      client = await collectClient(def, opts, redirectUri);
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
        fetch: fetchImpl,
        now,
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
    return await storeConnection(def, connection, force, "oauth", {
      auth_type: "oauth2",
      obtained_at: now().toISOString(),
      expires_at: t.expires_at,
      scopes: t.scopes,
      base_url: baseUrl ?? null,
      api_url: def.api_url.map((u) => u.includes("{base_url}") ? fillBaseUrl(u, baseUrl) : u),
      token_type: t.token_type,
      account: claims?.sub === undefined && t.account_label === undefined
        ? null
        : { id: claims?.sub ?? null, label: t.account_label ?? null },
      secrets,
    }, client !== stored ? client : undefined);
  }

  /** Gathers OAuth client credentials: flag or variable, then input; secrets never from flags. */
  async function collectClient(
    def: ProviderDefinition,
    opts: LoginOptions,
    redirectUri: string | undefined,
  ): Promise<ClientRecord> {
    const names = def.oauth?.client;
    const idEnv = names?.client_id_env;
    const secretEnv = names?.client_secret_env;
    const fromEnv = (name: string | undefined) => {
      const v = name === undefined ? undefined : env.get(name)?.trim();
      return v === "" ? undefined : v;
    };
    let clientId = opts.clientId ?? fromEnv(idEnv);
    // A secret variable that is set but empty marks a public client: nothing is asked for it.
    let secret = secretEnv === undefined ? undefined : env.get(secretEnv)?.trim();
    let source: ClientRecord["source"] = opts.clientId !== undefined ? "flag" : "env";
    if (clientId === undefined || secret === undefined) {
      source = "input";
      const idField: InputField = {
        name: "client_id",
        label: "Client ID",
        secret: false,
        required: true,
      };
      if (clientId !== undefined) idField.value = clientId;
      const request: InputRequest = {
        provider: def.display_name,
        title: `Connect your ${def.display_name} OAuth app`,
        intro: `authsome needs the client ID and secret of an OAuth app you registered with ` +
          `${def.display_name}. They are stored encrypted and shared by all your ` +
          `${def.display_name} connections in this vault.`,
        fields: [idField, {
          name: "client_secret",
          label: "Client secret",
          secret: true,
          required: false,
          hint: "Leave empty for a public client",
        }],
        envVars: [idEnv, secretEnv].filter((v): v is string => v !== undefined),
      };
      if (redirectUri !== undefined) {
        request.info = [{ label: "Redirect URI to register", value: redirectUri, copy: true }];
      }
      if (def.docs) request.docsUrl = def.docs;
      const values = await opts.readFields?.(request);
      clientId = values?.client_id?.trim() || clientId;
      secret = values?.client_secret?.trim() || secret;
    }
    if (clientId === undefined || clientId === "") {
      throw new AuthsomeError("AUTH_FAILED", `No OAuth client ID for ${def.display_name}`, {
        hint: idEnv ? `Set ${idEnv} or pass --client-id` : "Pass --client-id",
      });
    }
    const client: ClientRecord = { client_id: clientId, source };
    if (secret !== undefined && secret !== "") client.client_secret = secret;
    return client;
  }

  /** Writes a new connection (and client credentials) in one transaction. */
  async function storeConnection(
    def: ProviderDefinition,
    connection: string,
    force: boolean,
    source: LoginResult["source"],
    fields: Omit<ConnectionRecord, "provider" | "connection" | "status" | "created_at">,
    client?: ClientRecord,
  ): Promise<LoginResult> {
    const provider = def.name;
    return await vault.update(async (tx) => {
      const previous = await tx.get<ConnectionRecord>(connKey(provider, connection));
      if (previous !== undefined && !force) throw exists(provider, connection);
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
      };
    });
  }

  /**
   * Returns the record with a usable access token: an OAuth token within 300 s of expiry is
   * refreshed first. The refresh holds the connection's lock (not the store's) across the token
   * request and re-reads the record under it, so N processes cause one token request while other
   * connections are read and written freely; the new tokens (a rotated refresh token included)
   * are saved in one short transaction.
   */
  async function fresh(
    def: ProviderDefinition,
    record: ConnectionRecord,
  ): Promise<ConnectionRecord> {
    if (def.auth_type !== "oauth2" || !needsRefresh(record)) return record;
    const seen = record.secrets.access_token;
    const provider = def.name;
    const name = record.connection;
    return await audited(
      "refresh",
      { provider, connection: name },
      () =>
        vault.withLock(`refresh/${provider}/${name}`, async () => {
          const current = await vault.get<ConnectionRecord>(connKey(provider, name));
          if (current === undefined) {
            throw new AuthsomeError(
              "CONNECTION_NOT_FOUND",
              `No connection "${name}" for ${provider}`,
            );
          }
          // Another process refreshed while this one waited for the lock: use its token (even a
          // short-lived one that is already due again), so N waiting processes cause one refresh.
          if (!needsRefresh(current) || current.secrets.access_token !== seen) return current;
          return await refreshNow(def, current);
        }),
    );
  }

  /** Sends the refresh request for `current` and saves the outcome (new tokens, or expired). */
  async function refreshNow(
    def: ProviderDefinition,
    current: ConnectionRecord,
  ): Promise<ConnectionRecord> {
    const provider = def.name;
    const name = current.connection;
    const refreshToken = current.secrets.refresh_token;
    /** Saves `next` unless the connection changed meanwhile (a new login or a logout wins). */
    const save = (next: ConnectionRecord) =>
      vault.update(async (tx) => {
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
    const client = await vault.get<ClientRecord>(clientKey(provider));
    if (refreshToken === undefined || client === undefined) {
      if (Date.parse(current.expires_at!) > now().getTime()) return current;
      return await expire("has expired and cannot be refreshed");
    }
    const oauth = await import("./providers/oauth_login.ts");
    let tokens: Awaited<ReturnType<typeof oauth.refreshTokens>>;
    try {
      tokens = await oauth.refreshTokens({
        endpoints: oauth.endpointsFor(def, current.base_url ?? undefined),
        client: oauthClientOf(client),
        refreshToken,
        fetch: fetchImpl,
        now,
        scopes: current.scopes,
      });
    } catch (error) {
      if (!(error instanceof AuthsomeError) || error.code !== "CREDENTIAL_MISSING") throw error;
      return await expire(`could not be refreshed: ${error.message}`);
    }
    const next: ConnectionRecord = {
      ...current,
      status: "connected",
      obtained_at: now().toISOString(),
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

  function needsRefresh(record: ConnectionRecord): boolean {
    return record.auth_type === "oauth2" && record.expires_at !== null &&
      Date.parse(record.expires_at) - now().getTime() <= REFRESH_WINDOW_MS;
  }

  /** Revokes a connection's tokens at the provider, where it has a revocation endpoint. */
  async function revokeRemote(def: ProviderDefinition, record: ConnectionRecord): Promise<void> {
    if (def.auth_type !== "oauth2" || def.oauth?.revocation_url === undefined) return;
    const client = await vault.get<ClientRecord>(clientKey(def.name));
    if (client === undefined) return;
    const oauth = await import("./providers/oauth_login.ts");
    const endpoints = oauth.endpointsFor(def, record.base_url ?? undefined);
    const tokens: Array<[string | undefined, "refresh_token" | "access_token"]> = [
      [record.secrets.refresh_token, "refresh_token"],
      [record.secrets.access_token, "access_token"],
    ];
    for (const [token, tokenTypeHint] of tokens) {
      if (token === undefined) continue;
      try {
        await oauth.revokeToken({
          endpoints,
          client: oauthClientOf(client),
          token,
          tokenTypeHint,
          fetch: fetchImpl,
        });
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

  /**
   * Starts the injecting proxy for `run`: the CA from the vault (created once), its files under
   * `<home>/proxy/`, the routes of the chosen connections, and headers from getAuthHeaders (cached
   * until the token is due for refresh).
   */
  async function startRunProxy(
    chosen: Array<{ def: ProviderDefinition; record: ConnectionRecord }>,
    onWarning: ((message: string) => void) | undefined,
  ) {
    const [{ buildRoutes, hostIsRouted, routeRequest }, { startProxy }, tls] = await Promise.all([
      import("./proxy/routing.ts"),
      import("./proxy/server.ts"),
      import("node:tls"),
    ]);
    // The CA is created once and kept sealed in the vault, with the leaf certificates it issued,
    // so a run starts without generating keys (or loading the certificate library) after the first.
    let ca = await vault.get<CertificateAuthority>("proxy/ca");
    if (ca === undefined) {
      const { createCa } = await import("./proxy/certs.ts");
      const created = await createCa();
      ca = await vault.update(async (tx) => {
        const stored = await tx.get<CertificateAuthority>("proxy/ca");
        if (stored !== undefined) return stored;
        tx.set("proxy/ca", created);
        return created;
      });
    }
    const authority = ca;
    let issuer: LeafIssuer | undefined;
    const leaves: LeafIssuer = {
      async issue(host) {
        const key = `proxy/leaf/${host.toLowerCase()}`;
        const stored = await vault.get<LeafCertificate & { renew_after: number }>(key);
        if (stored !== undefined && stored.renew_after > now().getTime()) return stored;
        issuer ??= (await import("./proxy/certs.ts")).createLeafIssuer(authority);
        const leaf = await issuer.issue(host);
        // Leaves live 30 days; renew after 25.
        const renew_after = now().getTime() + 25 * 86_400_000;
        await vault.update((tx) => tx.set(key, { ...leaf, renew_after }));
        return leaf;
      },
    };
    const dir = joinPath(settings.home, "proxy");
    await ensurePrivateDir(dir);
    const caCertPath = joinPath(dir, "ca.pem");
    const caBundlePath = joinPath(dir, "ca-bundle.pem");
    const bundle = [...tls.rootCertificates, authority.certPem].join("\n") + "\n";
    if (await readTextIfExists(caCertPath) !== authority.certPem) {
      await writeFileAtomic(caCertPath, authority.certPem);
    }
    if (await readTextIfExists(caBundlePath) !== bundle) {
      await writeFileAtomic(caBundlePath, bundle);
    }

    const oauth = chosen.some((c) => c.def.auth_type === "oauth2")
      ? await import("./providers/oauth_login.ts")
      : undefined;
    const { routes, warnings } = buildRoutes(chosen.map(({ def, record }) => {
      const endpoints = oauth && def.oauth
        ? oauth.endpointsFor(def, record.base_url ?? undefined)
        : undefined;
      return {
        provider: def.name,
        connection: record.connection,
        api_url: record.api_url,
        authEndpoints: endpoints
          ? Object.values(endpoints).filter((v): v is string => typeof v === "string")
          : [],
      };
    }));
    for (const w of warnings) onWarning?.(w);
    const cache = new Map<string, { headers: Record<string, string>; until: number }>();
    const secret = randomToken();
    // Upstream TLS is verified against the built-in roots plus, as Node does, the certificates in
    // NODE_EXTRA_CA_CERTS (e.g. a company's TLS-inspecting proxy).
    const extraCaFile = env.get("NODE_EXTRA_CA_CERTS");
    const extraCa = extraCaFile ? await readTextIfExists(extraCaFile) : undefined;
    const proxy = await startProxy({
      secret,
      ca: authority,
      leaves,
      ...(extraCa ? { upstreamCa: [extraCa] } : {}),
      shouldIntercept: (host) => hostIsRouted(routes, host),
      headersFor: async (request) => {
        const decision = routeRequest(routes, request);
        if (decision.action !== "inject") return undefined;
        const { provider, connection } = decision.route;
        const key = `${provider}/${connection}`;
        const hit = cache.get(key);
        if (hit !== undefined && hit.until > now().getTime()) return hit.headers;
        const headers = await service.getAuthHeaders(provider, { connection });
        const record = await vault.get<ConnectionRecord>(connKey(provider, connection));
        const until = record?.expires_at == null
          ? Number.POSITIVE_INFINITY
          : Date.parse(record.expires_at) - REFRESH_WINDOW_MS;
        cache.set(key, { headers, until });
        return headers;
      },
    });
    return {
      proxyUrl: `http://authsome:${secret}@127.0.0.1:${proxy.port}`,
      caCertPath,
      caBundlePath,
      close: () => proxy.close(),
    };
  }

  const service: AuthService = {
    settings,

    async login(provider, opts = {}) {
      const connection = checkName("connection", opts.connection ?? "default");
      const def = (await registry.get(provider)).definition;
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
      const force = opts.force === true;
      return await audited("login", { provider, connection, detail: { flow } }, async () => {
        if (!force && await vault.get(connKey(provider, connection)) !== undefined) {
          throw exists(provider, connection);
        }
        return flow === "api_key"
          ? await loginApiKey(def, connection, force, opts)
          : await loginOAuth(def, flow, connection, force, opts);
      });
    },

    async logout(provider, opts = {}) {
      await registry.get(provider).catch((error) => {
        // A connection of a provider whose file was removed can still be logged out.
        if (!(error instanceof AuthsomeError && error.code === "PROVIDER_NOT_FOUND")) throw error;
      });
      return await deleteConnection("logout", provider, opts.connection);
    },

    async revoke(provider, opts = {}) {
      const def = (await registry.get(provider)).definition;
      if (opts.connection !== undefined) {
        const { record } = await resolveConnection(vault, provider, opts.connection);
        await audited(
          "revoke-remote",
          { provider, connection: record.connection },
          () => revokeRemote(def, record),
        );
        const { connection } = await deleteConnection("revoke", provider, opts.connection);
        return { provider, connections: [connection] };
      }
      const names = await connectionNames(vault, provider);
      for (const name of names) {
        const record = (await vault.get<ConnectionRecord>(connKey(provider, name)))!;
        await audited(
          "revoke-remote",
          { provider, connection: name },
          () => revokeRemote(def, record),
        );
      }
      return await audited("revoke", { provider }, () =>
        vault.update(async (tx) => {
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
          return { provider, connections: names };
        }));
    },

    async getConnection(provider, opts = {}) {
      const { def, record } = await loadConnection(provider, opts.connection).catch(
        async (error) => {
          // A connection whose refresh failed is still shown, with its status.
          if (!(error instanceof AuthsomeError) || error.code !== "CREDENTIAL_MISSING") throw error;
          const def = (await registry.get(provider)).definition;
          return {
            def,
            record: (await resolveConnection(vault, provider, opts.connection)).record,
          };
        },
      );
      void def;
      return info(
        provider,
        record.connection,
        record,
        (await defaultOf(vault, provider)) === record.connection,
      );
    },

    async getSecret(provider, field, opts = {}) {
      const fields = { provider, ...(opts.connection ? { connection: opts.connection } : {}) };
      return await audited("get-secret", { ...fields, detail: { field } }, async () => {
        await registry.get(provider);
        if (field === "client_secret") {
          const client = await vault.get<{ client_secret?: string }>(clientKey(provider));
          if (client?.client_secret === undefined) {
            throw new AuthsomeError(
              "CREDENTIAL_MISSING",
              `No client secret is stored for ${provider}`,
            );
          }
          return client.client_secret;
        }
        // Tokens are handed out fresh, like getAccessToken: refreshed when they expire soon.
        const { record } = field === "api_key"
          ? await resolveConnection(vault, provider, opts.connection)
          : await loadConnection(provider, opts.connection);
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
    },

    async getAccessToken(provider, opts = {}) {
      const { def, record } = await loadConnection(provider, opts.connection);
      return tokenOf(record, def);
    },

    async getAuthHeaders(provider, opts = {}) {
      const { def, record } = await loadConnection(provider, opts.connection);
      const token = tokenOf(record, def);
      return def.auth_type === "api_key"
        ? apiKeyHeaders(def.api_key!, token)
        : { Authorization: `Bearer ${token}` };
    },

    async listProviders() {
      const { providers, problems } = await registry.list();
      const summaries: ProviderSummary[] = [];
      for (const p of providers) {
        const name = p.definition.name;
        // The index, not the records: listing opens a few index records per provider.
        const indexed = await vault.summaries<ConnectionSummaryRecord>(`connection/${name}`);
        const def = indexed.size > 0 ? await defaultOf(vault, name) : null;
        const connections: ConnectionSummary[] = [];
        for (const [c, summary] of indexed) {
          connections.push({
            name: c,
            status: statusOf(summary),
            default: c === def,
            expires_at: summary.expires_at,
          });
        }
        const configured = await vault.get(clientKey(name)) !== undefined;
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
      return { vault: settings.vault, providers: summaries, problems };
    },

    async listConnections(provider) {
      const providers = provider === undefined
        ? [...new Set((await vault.keys("connection/")).map((k) => k.split("/")[1]!))]
        : [provider];
      const out: ConnectionInfo[] = [];
      for (const p of providers) {
        const def = await defaultOf(vault, p);
        const indexed = await vault.summaries<ConnectionSummaryRecord>(`connection/${p}`);
        for (const [c, summary] of indexed) out.push(info(p, c, summary, c === def));
      }
      return out;
    },

    getProvider: (name) => registry.get(name),

    async setDefaultConnection(provider, connection) {
      await registry.get(provider);
      checkName("connection", connection);
      await audited("set-default", { provider, connection }, () =>
        vault.update(async (tx) => {
          await resolveConnection(tx, provider, connection);
          const state = await tx.get<ProviderState>(providerKey(provider));
          tx.set(providerKey(provider), { ...state, default_connection: connection });
        }));
    },

    async export(provider, opts = {}) {
      const format = opts.format ?? "env";
      const fields = {
        ...(provider ? { provider } : {}),
        ...(opts.connection ? { connection: opts.connection } : {}),
        detail: { format },
      };
      return await audited("export", fields, async () => {
        const pairs: Array<[string, string, string]> = []; // name, value, "PROVIDER_CONNECTION"
        if (provider !== undefined) {
          const { def, record } = await loadConnection(provider, opts.connection);
          for (const [k, v] of exportVars(def, record)) pairs.push([k, v, ""]);
        } else {
          if (opts.connection !== undefined) {
            throw new AuthsomeError("USAGE", "--connection needs a provider", {
              hint: "Run: authsome export PROVIDER --connection NAME",
            });
          }
          const providers = [
            ...new Set((await vault.keys("provider/")).map((k) => k.slice("provider/".length))),
          ];
          for (const p of providers) {
            let loaded: LoadedProvider;
            try {
              loaded = await registry.get(p);
            } catch {
              continue; // its definition was removed; nothing to map the values to
            }
            let record = (await resolveConnection(vault, p, undefined)).record;
            try {
              record = await fresh(loaded.definition, record);
            } catch (error) {
              if (error instanceof AuthsomeError && error.code === "CREDENTIAL_MISSING") continue;
              throw error;
            }
            if (statusOf(record) !== "connected") continue;
            const tag = `${p}_${record.connection}`.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
            for (const [k, v] of exportVars(loaded.definition, record)) pairs.push([k, v, tag]);
          }
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
    },

    async registerProvider(definition, opts = {}) {
      const source = opts.source ?? "definition";
      const name = typeof definition === "object" && definition !== null &&
          typeof (definition as { name?: unknown }).name === "string"
        ? (definition as { name: string }).name
        : undefined;
      return await audited(
        "provider-register",
        name === undefined ? {} : { provider: name },
        () => registry.register(definition, source, { force: opts.force === true }),
      );
    },

    async removeProvider(name) {
      return await audited("provider-remove", { provider: name }, async () => {
        const loaded = await registry.get(name).catch(() => undefined);
        const connections = await connectionNames(vault, name);
        if (loaded?.origin === "user" && !loaded.overrides && connections.length > 0) {
          throw new AuthsomeError(
            "NOT_ALLOWED",
            `Provider "${name}" still has ${connections.length} connection(s) in vault "${settings.vault}"`,
            { hint: `Remove them first: authsome revoke ${name}` },
          );
        }
        return await registry.remove(name);
      });
    },

    async run(command, opts = {}) {
      if (command.length === 0) {
        throw new AuthsomeError("USAGE", "No command to run", {
          hint: "Example: authsome run -- python agent.py",
        });
      }
      const { spawnChild } = await import("./proxy/runner.ts");
      const parent = opts.parentEnv ?? Deno.env.toObject();
      const { providers } = await registry.list();
      const defs = new Map(providers.map((p) => [p.definition.name, p.definition]));
      const withConnections = new Set(
        (await vault.keys("connection/")).map((k) => k.split("/")[1]!),
      );
      // The variables of every provider authsome holds a connection for are removed from the
      // child's environment (and become placeholders); other variables are the user's own.
      const credentialVars = new Set<string>();
      for (const def of defs.values()) {
        if (!withConnections.has(def.name)) continue;
        for (const names of Object.values(def.export.env)) {
          names.forEach((n) => credentialVars.add(n));
        }
        if (def.api_key?.env_var) credentialVars.add(def.api_key.env_var);
        if (def.oauth?.client?.client_id_env) credentialVars.add(def.oauth.client.client_id_env);
        if (def.oauth?.client?.client_secret_env) {
          credentialVars.add(def.oauth.client.client_secret_env);
        }
      }
      // The connection of each provider: the default, or the one asked for.
      const chosen: Array<{ def: ProviderDefinition; record: ConnectionRecord }> = [];
      for (const provider of opts.connections ? Object.keys(opts.connections) : []) {
        if (!defs.has(provider)) await registry.get(provider); // a clear "unknown provider" error
      }
      for (const provider of withConnections) {
        const def = defs.get(provider);
        if (def === undefined) continue;
        const wanted = opts.connections?.[provider];
        const { record } = await resolveConnection(vault, provider, wanted).catch((error) => {
          if (wanted === undefined && error instanceof AuthsomeError) return { record: undefined };
          throw error;
        }) as { record: ConnectionRecord | undefined };
        if (record !== undefined) chosen.push({ def, record });
      }
      for (const [provider, name] of Object.entries(opts.connections ?? {})) {
        if (!withConnections.has(provider)) await resolveConnection(vault, provider, name);
      }
      const program = command[0]!.split("/").pop()!;
      const mode = opts.env ? "env" : "proxy";
      return await audited(
        "run",
        { detail: { program, mode, connections: chosen.length } },
        async () => {
          const spawn = async (env: Record<string, string>) => {
            const result = await spawnChild(command, env);
            if (typeof result === "number") return result;
            throw result.code === 127
              ? new AuthsomeError("COMMAND_NOT_FOUND", `Command not found: ${result.program}`, {
                hint: "Check the command name and PATH",
              })
              : new AuthsomeError("COMMAND_NOT_EXECUTABLE", `Cannot execute: ${result.program}`, {
                hint: "Check that it is a program and has execute permission",
              });
          };
          if (opts.env) {
            const { realEnv } = await import("./proxy/child_env.ts");
            const values: Record<string, string> = {};
            for (const { def, record } of chosen) {
              for (const [k, v] of exportVars(def, await fresh(def, record))) values[k] = v;
            }
            const env = realEnv({ parent, credentialVars: [...credentialVars], values });
            return await spawn(env);
          }
          const session = await startRunProxy(chosen, opts.onWarning).catch((error) => {
            if (error instanceof AuthsomeError && error.code !== "UNEXPECTED") throw error;
            throw new AuthsomeError(
              "PROXY_FAILED",
              `The proxy could not start: ${
                error instanceof Error ? error.message.split("\n")[0] : String(error)
              }`,
              { cause: error, hint: "Run 'authsome doctor', or use 'authsome run --env'" },
            );
          });
          try {
            const { childEnv } = await import("./proxy/child_env.ts");
            const placeholders = new Set<string>();
            for (const provider of withConnections) {
              for (const names of Object.values(defs.get(provider)?.export.env ?? {})) {
                names.forEach((n) => placeholders.add(n));
              }
            }
            const env = childEnv({
              parent,
              proxyUrl: session.proxyUrl,
              caBundlePath: session.caBundlePath,
              caCertPath: session.caCertPath,
              placeholders: [...placeholders],
              credentialVars: [...credentialVars],
            });
            return await spawn(env);
          } finally {
            await session.close();
          }
        },
      );
    },

    async whoami() {
      const key = describeKeySource(keyOptions);
      const connections = await vault.keys("connection/");
      return {
        home: settings.home,
        vault: settings.vault,
        vaults: await listHomeVaults(settings.home, store),
        key_source: key.source,
        key_detail: key.detail,
        vault_exists: await vault.exists(),
        connections: connections.length,
        providers_connected: new Set(connections.map((k) => k.split("/")[1])).size,
      };
    },

    async doctor() {
      return await runDoctor(settings, keyOptions, vault, registry);
    },

    auditLog: (limit = 50) => readAudit(settings.home, limit),

    close: () => Promise.resolve(store.close()),
  };
  return Promise.resolve(service);
}

function exists(provider: string, connection: string): AuthsomeError {
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

async function runDoctor(
  settings: Settings,
  keyOptions: { home: string; masterKey: string | undefined; passphrase: string | undefined },
  vault: Vault,
  registry: Registry,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await fn() });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      checks.push({ name, ok: false, detail: message });
    }
  };
  await check("home", async () => {
    let mode: number | null;
    try {
      mode = (await Deno.stat(settings.home)).mode;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return `${settings.home} (created on first login)`;
      throw error;
    }
    if (mode !== null && (mode & 0o077) !== 0) {
      throw new Error(
        `${settings.home} is mode ${(mode & 0o777).toString(8)}; run: chmod 700 ${settings.home}`,
      );
    }
    return `${settings.home} (0700)`;
  });
  await check("master key", async () => {
    const described = describeKeySource(keyOptions);
    if (
      described.source === "file" &&
      await readTextIfExists(joinPath(settings.home, KEY_FILE)) === undefined
    ) {
      return `${described.detail} (created on first login)`;
    }
    await loadMasterKey(keyOptions, { create: false });
    return described.detail;
  });
  await check(`vault "${settings.vault}"`, async () => {
    if (!await vault.exists()) return "empty (created on first login)";
    const keys = await vault.keys();
    for (const key of keys) await vault.get(key);
    return `${keys.length} record(s), all open`;
  });
  await check("providers", async () => {
    const { providers, problems } = await registry.list();
    if (problems.length > 0) throw new Error(problems.join("; "));
    return `${providers.length} valid`;
  });
  await check("file modes", async () => {
    const loose: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for await (const e of Deno.readDir(dir)) {
        const path = joinPath(dir, e.name);
        const mode = (await Deno.lstat(path)).mode;
        if (mode === null) continue;
        if (e.isDirectory) {
          if ((mode & 0o077) !== 0) loose.push(`${path} (${(mode & 0o777).toString(8)})`);
          await walk(path);
        } else if ((mode & 0o077) !== 0) loose.push(`${path} (${(mode & 0o777).toString(8)})`);
      }
    };
    try {
      await walk(settings.home);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (loose.length > 0) throw new Error(`readable by others: ${loose.join(", ")}`);
    return "every file 0600, every folder 0700";
  });
  return checks;
}

export type { DeviceCodePrompt };
