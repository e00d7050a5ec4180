/**
 * Provider definitions (schema v1): the types, and the one validator that turns a parsed JSON
 * document into a normalised definition or reports the JSON path of the first bad field.
 * See docs/PROVIDERS.md.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { type IgnoredField, upgradeLegacyFields } from "./legacy.ts";
import { unsafePatternReason } from "./safe_pattern.ts";

/** How a connection is obtained. */
export type Flow = "pkce" | "device_code" | "dcr_pkce" | "api_key";
/** The kinds of credential. */
export type AuthType = "oauth2" | "api_key";
/** Connection values that `export.env` can map to environment variables. */
export type ExportField = "api_key" | "access_token" | "base_url" | "api_url";

/** The `api_key` block. */
export interface ApiKeyConfig {
  /** Header carrying the key (default `Authorization`). */
  header_name: string;
  /** Word before the key (default `Bearer`); null or "" sends the raw key. */
  header_prefix: string | null;
  /** Environment variable a key is read from at login, when set. */
  env_var?: string;
  /** Regular expression the whole key must match. */
  key_pattern?: string;
  /** Shown when the key does not match `key_pattern`. */
  key_pattern_hint?: string;
}

/** The `oauth` block. URLs may contain `{base_url}`. */
export interface OAuthConfig {
  /** Default value of `{base_url}`. */
  base_url?: string;
  /**
   * The authorization server's issuer identifier (RFC 8414). With it, the ID token's `iss` and
   * the RFC 9207 `iss` of the authorization response must equal it exactly.
   */
  issuer?: string;
  /** Authorization endpoint. */
  authorization_url: string;
  /** Token endpoint. */
  token_url: string;
  /** RFC 7009 revocation endpoint. */
  revocation_url?: string;
  /** RFC 8628 device authorization endpoint. */
  device_authorization_url?: string;
  /** RFC 7591 dynamic client registration endpoint. */
  registration_endpoint?: string;
  /** `json` for servers that poll with a JSON body (Postiz), else `oauth2_form`. */
  device_token_request: "oauth2_form" | "json";
  /** Scopes granted (OAuth); empty for API keys. */
  scopes: string[];
  /**
   * The RFC 8707 resource indicator sent as `resource` on the authorization, token and refresh
   * requests, so the token is issued for that resource only (a remote MCP server's URL).
   */
  resource?: string;
  /** Environment variables that may hold the OAuth client ID and secret. */
  client?: { client_id_env?: string; client_secret_env?: string };
  /** Loopback port of the redirect URI (default 7998); providers need it registered exactly. */
  callback_port: number;
  /** Path of the redirect URI (default `/auth/callback/oauth`). */
  callback_path: string;
}

/** A validated, normalised provider definition. */
export interface ProviderDefinition {
  /** Always 1. */
  schema_version: 1;
  /** The name. */
  name: string;
  /** Name shown to people. */
  display_name: string;
  /** `api_key` or `oauth2`. */
  auth_type: AuthType;
  /** How connections are obtained. */
  flow: Flow;
  /** Hosts the proxy sends this provider's credential to (bare host, URL with path, `regex:`). */
  api_url: string[];
  /** OAuth2 endpoints and scopes (auth_type `oauth2`). */
  oauth?: OAuthConfig;
  /** Header rule and key format (auth_type `api_key`). */
  api_key?: ApiKeyConfig;
  /** Environment variable names per exported field. */
  export: { env: Partial<Record<ExportField, string[]>> };
  /** Where users get credentials for this provider. */
  docs?: string;
  /** A short description. */
  description?: string;
}

const FLOWS: Record<AuthType, Flow[]> = {
  oauth2: ["pkce", "device_code", "dcr_pkce"],
  api_key: ["api_key"],
};
const EXPORT_FIELDS: ExportField[] = ["api_key", "access_token", "base_url", "api_url"];
const TOP_KEYS = [
  "$schema",
  "schema_version",
  "name",
  "display_name",
  "auth_type",
  "flow",
  "api_url",
  "oauth",
  "api_key",
  "export",
  "docs",
  "description",
  "metadata",
  "registration", // the Python original's block; only registration_endpoint is known (legacy.ts)
  "connections", // present in `inspect` output, which users save as a starting point; ignored
];
const OAUTH_KEYS = [
  "issuer",
  "base_url",
  "authorization_url",
  "token_url",
  "revocation_url",
  "device_authorization_url",
  "registration_endpoint",
  "resource",
  "device_token_request",
  "scopes",
  "client",
  "callback_port",
  "callback_path",
];
const API_KEY_KEYS = ["header_name", "header_prefix", "env_var", "key_pattern", "key_pattern_hint"];
/** Default loopback port of the OAuth redirect URI. */
export const DEFAULT_CALLBACK_PORT = 7998;
/** Default path of the OAuth redirect URI. */
export const DEFAULT_CALLBACK_PATH = "/auth/callback/oauth";
const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/i;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

class Bad extends Error {
  readonly path: string;
  constructor(path: string, reason: string) {
    super(reason);
    this.path = path;
  }
}

/**
 * Validates a parsed provider document. `source` (a file name) prefixes the error message:
 * `acme.json: oauth.token_url: must be an https URL`. Errors are `INVALID_INPUT` (exit 65).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProvider } from "./schema.ts";
 * const def = parseProvider({
 *   name: "acme",
 *   display_name: "Acme",
 *   auth_type: "api_key",
 *   api_url: "api.acme.test",
 *   api_key: { env_var: "ACME_API_KEY" },
 * }, "acme.json");
 * assert.equal(def.api_key?.header_name, "Authorization");
 * assert.deepEqual(def.export.env.api_key, ["ACME_API_KEY"]);
 * ```
 */
export function parseProvider(
  input: unknown,
  source: string,
  /** Receives the fields of the Python original's format that were dropped. */
  ignored?: IgnoredField[],
): ProviderDefinition {
  try {
    const upgraded = upgradeLegacyFields(input);
    ignored?.push(...upgraded.ignored);
    return parse(upgraded.document);
  } catch (error) {
    if (!(error instanceof Bad)) throw error;
    const where = error.path === "" ? "" : `${error.path}: `;
    throw new AuthsomeError("INVALID_INPUT", `${source}: ${where}${error.message}`, {
      hint: "See docs/PROVIDERS.md for the provider file format",
    });
  }
}

function parse(input: unknown): ProviderDefinition {
  const doc = object(input, "", "must be a JSON object");
  unknownKeys(doc, TOP_KEYS, "");
  if (doc.schema_version !== undefined && doc.schema_version !== 1) {
    throw new Bad("schema_version", "must be 1");
  }
  const name = string(doc.name, "name");
  if (!PROVIDER_NAME.test(name)) {
    throw new Bad(
      "name",
      "must be 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
    );
  }
  const display_name = string(doc.display_name, "display_name");
  const auth_type = oneOf(doc.auth_type, "auth_type", ["oauth2", "api_key"] as const);
  const flow = doc.flow === undefined ? FLOWS[auth_type][0]! : oneOf(
    doc.flow,
    "flow",
    FLOWS[auth_type],
    `must be one of ${FLOWS[auth_type].join(", ")} for auth_type ${auth_type}`,
  );
  const def: ProviderDefinition = {
    schema_version: 1,
    name,
    display_name,
    auth_type,
    flow,
    api_url: parseApiUrl(doc.api_url),
    export: { env: {} },
  };
  if (auth_type === "oauth2") {
    if (doc.oauth === undefined) throw new Bad("oauth", "is required when auth_type is oauth2");
    def.oauth = parseOAuth(doc.oauth);
    if (flow === "device_code" && def.oauth.device_authorization_url === undefined) {
      throw new Bad("oauth.device_authorization_url", "is required by the device_code flow");
    }
  } else if (doc.oauth !== undefined) {
    throw new Bad("oauth", "is only allowed when auth_type is oauth2");
  }
  if (auth_type === "api_key") {
    def.api_key = parseApiKey(doc.api_key ?? {});
  } else if (doc.api_key !== undefined) {
    throw new Bad("api_key", "is only allowed when auth_type is api_key");
  }
  def.export = parseExport(doc.export, def);
  if (doc.docs !== undefined) def.docs = url(doc.docs, "docs");
  if (doc.description !== undefined) def.description = string(doc.description, "description");
  if (doc.metadata !== undefined) object(doc.metadata, "metadata", "must be an object");
  if (doc.registration !== undefined) {
    const registration = object(doc.registration, "registration", "must be an object");
    unknownKeys(registration, [], "registration.");
    throw new Bad("registration", "needs oauth: its registration_endpoint moves there");
  }
  return def;
}

function parseOAuth(value: unknown): OAuthConfig {
  const o = object(value, "oauth", "must be an object");
  unknownKeys(o, OAUTH_KEYS, "oauth.");
  const base = o.base_url === undefined ? undefined : url(o.base_url, "oauth.base_url");
  const out: OAuthConfig = {
    authorization_url: url(o.authorization_url, "oauth.authorization_url"),
    token_url: url(o.token_url, "oauth.token_url"),
    device_token_request: o.device_token_request === undefined
      ? "oauth2_form"
      : oneOf(o.device_token_request, "oauth.device_token_request", ["oauth2_form", "json"]),
    scopes: o.scopes === undefined ? [] : stringList(o.scopes, "oauth.scopes", true),
    callback_port: DEFAULT_CALLBACK_PORT,
    callback_path: DEFAULT_CALLBACK_PATH,
  };
  if (o.callback_port !== undefined) {
    const port = o.callback_port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Bad("oauth.callback_port", "must be a port number from 1 to 65535");
    }
    out.callback_port = port;
  }
  if (o.callback_path !== undefined) {
    const path = string(o.callback_path, "oauth.callback_path");
    if (!/^\/[A-Za-z0-9._~\/-]*$/.test(path)) {
      throw new Bad("oauth.callback_path", "must be a URL path such as /auth/callback/oauth");
    }
    out.callback_path = path;
  }
  if (base !== undefined) out.base_url = base;
  if (o.issuer !== undefined) out.issuer = issuerUrl(o.issuer);
  if (o.resource !== undefined) out.resource = resourceUrl(o.resource);
  for (const key of ["revocation_url", "device_authorization_url", "registration_endpoint"]) {
    const v = o[key];
    if (v !== undefined && v !== null) {
      (out as unknown as Record<string, string>)[key] = url(v, `oauth.${key}`);
    }
  }
  if (o.client !== undefined) {
    const c = object(o.client, "oauth.client", "must be an object");
    unknownKeys(c, ["client_id_env", "client_secret_env"], "oauth.client.");
    const client: NonNullable<OAuthConfig["client"]> = {};
    if (c.client_id_env !== undefined) {
      client.client_id_env = envName(c.client_id_env, "oauth.client.client_id_env");
    }
    if (c.client_secret_env !== undefined) {
      client.client_secret_env = envName(c.client_secret_env, "oauth.client.client_secret_env");
    }
    out.client = client;
  }
  const usesBase = [out.authorization_url, out.token_url].some((u) => u.includes("{base_url}"));
  if (usesBase && base === undefined) {
    // Allowed: the user then passes --base-url at login (e.g. a self-hosted instance).
  }
  return out;
}

function parseApiKey(value: unknown): ApiKeyConfig {
  const a = object(value, "api_key", "must be an object");
  unknownKeys(a, API_KEY_KEYS, "api_key.");
  const header_name = a.header_name === undefined
    ? "Authorization"
    : string(a.header_name, "api_key.header_name");
  if (!HEADER_NAME.test(header_name)) {
    throw new Bad("api_key.header_name", "must be a valid HTTP header name");
  }
  let header_prefix: string | null = "Bearer";
  if (a.header_prefix === null || a.header_prefix === "") header_prefix = null;
  else if (a.header_prefix !== undefined) {
    header_prefix = string(a.header_prefix, "api_key.header_prefix");
    if (/[\r\n]/.test(header_prefix)) {
      throw new Bad("api_key.header_prefix", "must not contain a line break");
    }
  }
  const out: ApiKeyConfig = { header_name, header_prefix };
  if (a.env_var !== undefined) out.env_var = envName(a.env_var, "api_key.env_var");
  if (a.key_pattern !== undefined) {
    out.key_pattern = string(a.key_pattern, "api_key.key_pattern");
    try {
      new RegExp(out.key_pattern);
    } catch {
      throw new Bad("api_key.key_pattern", "is not a valid regular expression");
    }
    const unsafe = unsafePatternReason(out.key_pattern);
    if (unsafe !== undefined) throw new Bad("api_key.key_pattern", unsafe);
  }
  if (a.key_pattern_hint !== undefined) {
    out.key_pattern_hint = string(a.key_pattern_hint, "api_key.key_pattern_hint");
  }
  return out;
}

function parseApiUrl(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === "string" ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new Bad("api_url", "must be a host, an https URL, a regex: pattern, or a list of them");
  }
  return list.map((entry, i) => {
    const path = Array.isArray(value) ? `api_url[${i}]` : "api_url";
    const s = string(entry, path);
    if (s.startsWith("regex:")) {
      try {
        new RegExp(s.slice("regex:".length), "i");
      } catch {
        throw new Bad(path, "is not a valid regular expression");
      }
      if (s.length === "regex:".length) throw new Bad(path, "has an empty regular expression");
      const unsafe = unsafePatternReason(s.slice("regex:".length));
      if (unsafe !== undefined) throw new Bad(path, unsafe);
      return s;
    }
    if (s.includes("://") || s.includes("{base_url}")) return url(s, path);
    if (!HOST.test(s)) throw new Bad(path, "must be a host name such as api.example.com");
    return s.toLowerCase();
  });
}

function parseExport(value: unknown, def: ProviderDefinition): ProviderDefinition["export"] {
  const env: Partial<Record<ExportField, string[]>> = {};
  if (value === undefined) {
    const stem = def.name.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
    if (def.auth_type === "api_key") env.api_key = [def.api_key?.env_var ?? `${stem}_API_KEY`];
    else env.access_token = [`${stem}_ACCESS_TOKEN`];
    return { env };
  }
  const e = object(value, "export", "must be an object");
  unknownKeys(e, ["env"], "export.");
  const map = object(e.env ?? {}, "export.env", "must be an object");
  for (const [field, names] of Object.entries(map)) {
    const path = `export.env.${field}`;
    if (field === "refresh_token" || field === "client_secret") {
      throw new Bad(
        path,
        `cannot be exported: a ${field.replace("_", " ")} never leaves the vault`,
      );
    }
    if (!(EXPORT_FIELDS as string[]).includes(field)) {
      throw new Bad(path, `is not an exportable field (use ${EXPORT_FIELDS.join(", ")})`);
    }
    if (
      (field === "api_key") !== (def.auth_type === "api_key") && field !== "base_url" &&
      field !== "api_url"
    ) {
      throw new Bad(path, `is not available for auth_type ${def.auth_type}`);
    }
    const list = typeof names === "string" ? [names] : names;
    env[field as ExportField] = stringList(list, path, false).map((n, i) =>
      envName(n, Array.isArray(names) ? `${path}[${i}]` : path)
    );
  }
  return { env };
}

/** An issuer identifier: a URL like the endpoints, without query or fragment, kept as written. */
function issuerUrl(value: unknown): string {
  const s = url(value, "oauth.issuer");
  if (s.includes("{base_url}")) return s;
  const parsed = new URL(s);
  if (parsed.search !== "" || parsed.hash !== "" || s.includes("?") || s.includes("#")) {
    throw new Bad("oauth.issuer", "must be a URL without query or fragment (RFC 8414)");
  }
  return s;
}

/** A resource indicator (RFC 8707 §2): an absolute URL without a fragment, kept as written. */
function resourceUrl(value: unknown): string {
  const s = url(value, "oauth.resource");
  if (s.includes("{base_url}") || s.includes("#")) {
    throw new Bad("oauth.resource", "must be an https URL without a fragment (RFC 8707)");
  }
  return s;
}

function object(value: unknown, path: string, reason: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Bad(path, reason);
  }
  return value as Record<string, unknown>;
}

function unknownKeys(o: Record<string, unknown>, allowed: string[], prefix: string): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) throw new Bad(`${prefix}${key}`, "is not a known field");
  }
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string" || value.trim() === "") {
    throw new Bad(path, value === undefined ? "is required" : "must be a non-empty string");
  }
  return value;
}

function stringList(value: unknown, path: string, allowEmpty: boolean): string[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw new Bad(path, "must be a list of strings");
  }
  return value.map((v, i) => string(v, `${path}[${i}]`));
}

function oneOf<T extends string>(
  value: unknown,
  path: string,
  options: readonly T[],
  reason = `must be one of ${options.join(", ")}`,
): T {
  if (typeof value !== "string" || !(options as readonly string[]).includes(value)) {
    throw new Bad(path, value === undefined ? "is required" : reason);
  }
  return value as T;
}

function envName(value: unknown, path: string): string {
  const s = string(value, path);
  if (!ENV_NAME.test(s)) {
    throw new Bad(path, "must be an environment variable name such as ACME_API_KEY");
  }
  return s;
}

/** Accepts https URLs, `{base_url}` templates, and http only for loopback hosts. */
function url(value: unknown, path: string): string {
  const s = string(value, path);
  const filled = s.replaceAll("{base_url}", "https://base-url.invalid");
  let parsed: URL;
  try {
    parsed = new URL(filled);
  } catch {
    throw new Bad(path, "must be an https URL");
  }
  const loopback = LOOPBACK.has(parsed.hostname);
  if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && loopback)) {
    throw new Bad(path, "must be an https URL");
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new Bad(path, "must not contain a user name or password");
  }
  return s;
}

/**
 * Checks a `--base-url` the way provider URLs are checked: an https URL (http only on a loopback
 * host), no user name or password, no `{base_url}` of its own. Throws a USAGE error otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBaseUrl } from "./schema.ts";
 * assert.equal(checkBaseUrl("https://git.example.com/"), "https://git.example.com/");
 * assert.throws(() => checkBaseUrl("http://git.example.com"), /must be an https URL/);
 * ```
 */
export function checkBaseUrl(value: string): string {
  try {
    if (value.includes("{base_url}")) throw new Bad("--base-url", "must be an https URL");
    return url(value, "--base-url");
  } catch (error) {
    if (!(error instanceof Bad)) throw error;
    throw new AuthsomeError("USAGE", `--base-url ${error.message}`, {
      hint: "Pass the instance's address, e.g. --base-url https://git.example.com",
    });
  }
}

/** Replaces `{base_url}` (without its trailing `/`) in a URL template. */
export function fillBaseUrl(template: string, baseUrl: string | undefined): string {
  if (!template.includes("{base_url}")) return template;
  if (baseUrl === undefined) {
    throw new AuthsomeError("USAGE", `This provider needs a base URL for ${template}`, {
      hint: "Pass --base-url https://your-instance.example",
    });
  }
  return template.replaceAll("{base_url}", baseUrl.replace(/\/+$/, ""));
}
