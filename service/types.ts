/**
 * The public types of the auth service (what `mod.ts` re-exports) and the shapes of the records
 * it keeps in the vault.
 *
 * @module
 */
import type { PythonImportOptions, PythonImportReport } from "./import_python.ts";
import type { EnvSource, Settings } from "../config.ts";
import type { LoadedProvider } from "../providers/registry.ts";
import type { AuthType, Flow } from "../providers/schema.ts";
import type { FormField, FormRequest } from "../providers/input_form.ts";
import type { DeviceCodePrompt } from "../providers/oauth_login.ts";
import type { McpLoginOptions, McpLoginResult } from "./mcp_login.ts";
import type { StoreStatus } from "../storage/store_copy.ts";
import type { SharedAuditEntry } from "../storage/store.ts";
import type { StoreCopyResult } from "./store_admin.ts";
import type { ExportFormat } from "../proxy/env_format.ts";
import type { AuditEntry, AuditFilter } from "../storage/audit.ts";
import type { ScanImport, ScanReport } from "./scan.ts";
import type { BackupSummary, RestoreResult } from "./backup.ts";
import type { RekeyOptions, RekeyResult } from "./rekey.ts";

export type { DeviceCodePrompt };

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

/** Per-provider settings stored in the vault (`provider/<p>`). */
export interface ProviderState {
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
   * The user chose how to give the key (e.g. `--stdin`): ask `readFields` even when the
   * provider's variable is set, which would otherwise be used.
   */
  explicitInput?: boolean | undefined;
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

/** What `revoke` did. */
export interface RevokeResult {
  /** The provider. */
  provider: string;
  /** The connections deleted here. */
  connections: string[];
  /** The provider's kind of credential. */
  auth_type: "api_key" | "oauth2";
  /**
   * Whether the tokens were revoked at the provider too (OAuth with a revocation endpoint);
   * false: deleted here only, the credential stays valid at the provider (API keys).
   */
  remote: boolean;
  /** Where the provider documents its credentials (to revoke an API key there). */
  docs?: string;
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
  /** The variable, when the secret came from one (`OPENAI_API_KEY`). */
  sourceVariable?: string;
  /** Who the credential belongs to, where the provider says. */
  account: string | null;
  /**
   * Things the user should know that did not stop the login, one line each (e.g. an ID token
   * whose issuer could not be verified). The library prints nothing; the CLI shows them as
   * `warning:` lines.
   */
  warnings: string[];
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
  /**
   * Hide the authsome home from the command (Linux mount namespace; default true). When it
   * cannot be done, a warning says the command can read the home.
   */
  isolate?: boolean | undefined;
  /**
   * Run as this agent identity: only its allowed connections are routed, and requests its
   * policy refuses get 403 from the proxy (never forwarded). Default: the service's identity.
   */
  as?: string | undefined;
  /**
   * Receives one event per request or tunnel of the command, as the audit log records it (the
   * same fields; never a header value, body or query string). `run --verbose` prints them.
   */
  onRequest?: ((event: ProxiedRequest) => void) | undefined;
}

/** Options of {@linkcode AuthService.serveMcp}. */
export interface McpServeOptions {
  /**
   * Act as this agent identity: its policy limits every tool. Default: the service's identity;
   * without one, what `run` gives (every connection, the provider's default unless named).
   */
  as?: string | undefined;
  /** Connections to use instead of the defaults, by provider: `{ github: "work" }`. */
  connections?: Record<string, string> | undefined;
  /** Opens a login's page in the human's browser when one can be opened; never throws. */
  openUrl?: ((url: string) => void) | undefined;
  /** Told once the server is ready, with one line for people (never a secret). */
  onReady?: ((line: string) => void) | undefined;
}

/** One request (or tunnel) of a `run` command, as the proxy handled it. */
export interface ProxiedRequest {
  /** What the proxy did. */
  outcome: "injected" | "passed" | "tunnelled" | "denied" | "error";
  /** The target host. */
  host: string;
  /** The request method (absent for a tunnel). */
  method?: string;
  /** The path without its query (absent for a tunnel). */
  path?: string;
  /** The status the command got, when it got one. */
  status?: number;
  /** Milliseconds until the answer began. */
  ms: number;
  /** The provider whose credential was injected (or whose policy refused). */
  provider?: string;
  /** The connection whose credential was injected (or that was asked for and refused). */
  connection?: string;
  /** Why, for a denied or failed request, in a few words. */
  reason?: string;
}

/** What `identity create` takes. */
export interface IdentitySpec {
  /** `PROVIDER` (its default connection at the time of use) or `PROVIDER/CONNECTION`. */
  allow: string[];
  /** Providers limited to GET, HEAD and OPTIONS. */
  readOnly?: string[] | undefined;
  /** `PROVIDER=/PREFIX`: requests must stay under one of the provider's prefixes. */
  paths?: string[] | undefined;
  /** A duration (`90m`, `12h`, `7d`, `2w`) after which the identity may do nothing. */
  expires?: string | undefined;
}

/** An identity as shown by `identity show` (no private key). */
export interface IdentityInfo {
  /** The identity's name. */
  name: string;
  /** When it was created (ISO time). */
  created_at: string;
  /** When it expires (ISO time), or null. */
  expires_at: string | null;
  /** Whether it has expired now. */
  expired: boolean;
  /** What it may use: a provider, its connection (null: the default), and the limits. */
  allow: Array<
    { provider: string; connection: string | null; read_only: boolean; paths: string[] }
  >;
  /** `ed25519:` + the public key (base64url), for remote authentication later. */
  public_key: string;
  /** `SHA256:` + base64 of the SHA-256 of the public key. */
  key_fingerprint: string;
}

/** What `connections rename` did. */
export interface RenameResult {
  /** The provider. */
  provider: string;
  /** The old name. */
  from: string;
  /** The new name. */
  to: string;
  /** Whether the connection is (and stays) the provider's default. */
  default: boolean;
  /** The identities whose policy named the connection, now naming it by its new name. */
  identities: string[];
}

/**
 * The outcome of checking one connection (`status`), without a network call:
 * `ok` usable; `refresh_due` usable, its token is refreshed on next use (within 300 s of expiry,
 * with a refresh token and the client); `expired` past its expiry with no way to refresh;
 * `login_required` revoked, invalid or missing its credential; `unreadable` its record cannot
 * be opened (wrong key, tampered).
 */
export type CheckResult = "ok" | "refresh_due" | "expired" | "login_required" | "unreadable";

/** One connection as checked by {@linkcode AuthService.checkConnections}. */
export interface ConnectionCheck {
  /** The provider. */
  provider: string;
  /** The connection name. */
  connection: string;
  /** Whether it is the provider's default (false when that cannot be read). */
  default: boolean;
  /** The outcome. */
  result: CheckResult;
  /** Whether it can be used now (`ok` or `refresh_due`). */
  usable: boolean;
  /** The stored status as of now; null when the record cannot be opened. */
  status: ConnectionStatus | null;
  /** When the credential expires (ISO-8601 UTC); null when it does not, or is unknown. */
  expires_at: string | null;
  /** One line for people: why, and what to do. Never a secret. */
  detail: string;
}

/** Options of {@linkcode createAuthService}. */
export interface AuthServiceOptions {
  /** Home folder; default `AUTHSOME_HOME`, else `~/.authsome`. */
  home?: string | undefined;
  /** Vault name; default `AUTHSOME_VAULT`, else `default`. */
  vault?: string | undefined;
  /**
   * A shared PostgreSQL store, `postgres://…`; default `AUTHSOME_STORE`, else the embedded store
   * in the home folder.
   */
  store?: string | undefined;
  /** Environment to read settings and provider variables from; default `Deno.env`. */
  env?: EnvSource | Record<string, string | undefined> | undefined;
  /** Clock; default `() => new Date()`. */
  now?: (() => Date) | undefined;
  /** `fetch` for network calls (OAuth); default the global fetch. */
  fetch?: typeof fetch | undefined;
  /**
   * Act as this agent identity: only the providers (and connections) its policy allows can be
   * used (`NOT_ALLOWED`, exit 4, otherwise); providers it may use only with read-only or path
   * limits are usable through `run` only, since a token handed out could not be limited; and
   * nothing in the vault can be changed. Every audit entry names the identity.
   */
  identity?: string | undefined;
  /**
   * Receives what a user should know while an operation goes on, e.g. `Waiting for another
   * authsome process that is refreshing acme (work)…` after a second of waiting. The library
   * never prints; the CLI writes these to stderr. Never a secret.
   */
  onNotice?: ((message: string) => void) | undefined;
}

/** The operations of authsome. Create one with {@linkcode createAuthService}. */
export interface AuthService {
  /** The resolved settings (home, vault). */
  readonly settings: Settings;
  /** Logs in to a provider and stores the connection. */
  login(provider: string, options?: LoginOptions): Promise<LoginResult>;
  /**
   * Logs in to a remote MCP server (discovery, dynamic registration, PKCE with its resource),
   * writes its user provider file and stores the connection.
   */
  loginMcp(serverUrl: string, options?: McpLoginOptions): Promise<McpLoginResult>;
  /** Deletes one connection locally; the default moves to a remaining connection. */
  logout(provider: string, options?: { connection?: string | undefined }): Promise<
    { provider: string; connection: string; newDefault: string | null }
  >;
  /** Deletes one connection, or every connection and the client credentials of a provider. */
  revoke(provider: string, options?: { connection?: string | undefined }): Promise<RevokeResult>;
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
  /**
   * Renames a connection (its tokens, scopes, expiry and default kept; identities naming it
   * follow it), in one transaction.
   */
  renameConnection(provider: string, from: string, to: string): Promise<RenameResult>;
  /**
   * Checks connections without a network call and without revealing a secret: all of them, one
   * provider's, or one.
   */
  checkConnections(
    provider?: string,
    options?: { connection?: string | undefined },
  ): Promise<ConnectionCheck[]>;
  /** The `export.env` variables of one connection, or of every default connection. */
  export(
    provider: string | undefined,
    options?: { connection?: string | undefined; format?: ExportFormat },
  ): Promise<{ vars: Record<string, string>; text: string }>;
  /**
   * Validates and installs a provider definition. `notice` names the fields of the Python
   * original's format the file has that authsome ignores.
   */
  registerProvider(
    definition: unknown,
    options?: { force?: boolean; source?: string },
  ): Promise<LoadedProvider & { notice?: string }>;
  /** Removes a user provider definition. */
  removeProvider(name: string): Promise<{ restoredBundled: boolean }>;
  /**
   * Imports the connections, defaults, client credentials and custom provider files of a home
   * folder of the Python original into this vault (see service/import_python.ts).
   */
  importPython(options: PythonImportOptions): Promise<PythonImportReport>;
  /**
   * Runs `command` behind the injecting proxy (default), or with the real variables (`env: true`),
   * and resolves with its exit status (126/127 when it cannot start, 128+N when killed by signal N).
   */
  run(command: string[], options?: RunOptions): Promise<number>;
  /**
   * Serves the MCP tools (list_connections, request_login, http_request) on this process's
   * stdin and stdout until the host closes stdin (see docs/MCP.md).
   */
  serveMcp(options?: McpServeOptions): Promise<void>;
  /** Home, vault, key source and counts. */
  whoami(): Promise<Record<string, unknown>>;
  /** The vault in use, whether it exists yet, and every vault of the home. Opens nothing sealed. */
  vaults(): Promise<{ current: string; exists: boolean; all: string[] }>;
  /** Health checks. */
  doctor(): Promise<DoctorCheck[]>;
  /**
   * The API keys in the dotenv files of `dir` and in the environment, against the vault: per
   * API-key provider matches, differs, only in the environment, only in authsome, or neither.
   * No value is returned; a differing key is shown as a short fingerprint.
   */
  scan(options: { dir: string }): Promise<ScanReport>;
  /**
   * Writes every vault of the home (and the user provider files) to one sealed file, under the
   * master key or, with `passphrase`, a backup passphrase.
   */
  backup(
    options: { file: string; passphrase?: string | undefined; force?: boolean | undefined },
  ): Promise<BackupSummary>;
  /** Restores a backup into vaults that are empty, or with `merge` beside what is there. */
  restore(
    options: { file: string; passphrase?: string | undefined; merge?: boolean | undefined },
  ): Promise<RestoreResult>;
  /**
   * Changes the master key of every vault of the home: a new key from the same source, or a
   * move to another (`to`). Only the wrapped data keys are rewritten, unless `records`. Crash-safe:
   * a killed rekey leaves a home that opens with exactly one of the two keys.
   */
  rekey(options?: RekeyOptions): Promise<RekeyResult>;
  /** Imports the keys `scan` finds only in the environment or different from the vault. */
  importScanned(options: { dir: string; connection?: string | undefined }): Promise<ScanImport[]>;
  /** The store in use: kind, location (never a password), vaults and their record counts. */
  storeStatus(): Promise<StoreStatus>;
  /**
   * Copies every vault to another store (a `postgres://` URL, or a home folder for the embedded
   * store), sealed records as they are, with the counts checked in the destination.
   */
  copyStore(to: string): Promise<StoreCopyResult>;
  /**
   * The last `limit` (default 50) audit entries of every host sharing the store, with their host
   * names, oldest first; only a shared (PostgreSQL) store keeps them (else `USAGE`).
   */
  fleetAuditLog(limit?: number): Promise<SharedAuditEntry[]>;
  /** The last `limit` audit entries (only those matching `filter`, when given). */
  auditLog(limit?: number, filter?: AuditFilter): Promise<AuditEntry[]>;
  /** Creates an agent identity with its policy. */
  createIdentity(name: string, spec: IdentitySpec): Promise<IdentityInfo>;
  /** Every identity. */
  listIdentities(): Promise<IdentityInfo[]>;
  /** One identity. */
  getIdentity(name: string): Promise<IdentityInfo>;
  /** Deletes an identity. */
  removeIdentity(name: string): Promise<void>;
  /** Releases resources; the service must not be used afterwards. */
  close(): Promise<void>;
}

/** OAuth client credentials, stored once per provider per vault and shared by its connections. */
export interface ClientRecord {
  client_id: string;
  client_secret?: string;
  /** Where the client came from. */
  source: "flag" | "env" | "input" | "dcr";
  /** The redirect URI a dynamically registered client was registered with. */
  redirect_uri?: string;
  /** The base URL the client belongs to (self-hosted instances). */
  base_url?: string;
}
