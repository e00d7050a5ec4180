/**
 * Discovery of a remote MCP server's authorization, as the MCP authorization spec lays it out:
 * the server's 401 (`WWW-Authenticate: Bearer resource_metadata="…"`), its protected-resource
 * metadata (RFC 9728), and its authorization server's metadata (RFC 8414, then OpenID
 * discovery). Every document is checked before anything is used: JSON object, at most
 * {@linkcode MAX_METADATA_BYTES}, the fields the login needs, https endpoints (plain http only on
 * loopback), a `resource` that names this server and an `issuer` equal to the one asked for.
 *
 * Failures are one-line {@linkcode AuthsomeError}s: `USAGE` (64) for a bad server URL,
 * `ENDPOINT_UNREACHABLE` (8) when a server cannot be reached, `AUTH_FAILED` (2) for metadata that
 * is missing, broken or hostile. Nothing is stored here.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";

/** The largest metadata document read (64 KiB); a larger one is refused. */
export const MAX_METADATA_BYTES = 64 * 1024;
const TIMEOUT_MS = 30_000;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** What discovery found out about a remote MCP server. */
export interface McpServerAuth {
  /** The MCP server's URL as given (normalised by the URL parser). */
  serverUrl: string;
  /** The protected resource's identifier: sent as the RFC 8707 `resource` parameter. */
  resource: string;
  /** Where the protected-resource metadata was read. */
  resourceMetadataUrl: string;
  /** The authorization server's issuer identifier (checked against its metadata). */
  issuer: string;
  /** Authorization endpoint. */
  authorization_endpoint: string;
  /** Token endpoint. */
  token_endpoint: string;
  /** RFC 7591 registration endpoint, when the server offers one. */
  registration_endpoint?: string;
  /** RFC 7009 revocation endpoint, when the server offers one. */
  revocation_endpoint?: string;
  /** Scopes to ask for: the 401's `scope`, else the resource's `scopes_supported`, else none. */
  scopes: string[];
}

/**
 * Checks the URL of an MCP server as given on the command line: an absolute https URL (plain
 * http only on a loopback host), without user name, password or fragment. `USAGE` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkServerUrl } from "./mcp_discovery.ts";
 * assert.equal(checkServerUrl("https://MCP.Example.com/mcp").href, "https://mcp.example.com/mcp");
 * assert.throws(() => checkServerUrl("http://mcp.example.com/mcp"), /must be an https URL/);
 * ```
 */
export function checkServerUrl(value: string): URL {
  const hint = "Give the MCP server's address, e.g. authsome login mcp https://mcp.example.com/mcp";
  if (!URL.canParse(value)) {
    throw new AuthsomeError("USAGE", `${clean(value)} is not a URL`, { hint });
  }
  const url = new URL(value);
  if (!isSecure(url)) {
    throw new AuthsomeError("USAGE", `The MCP server URL must be an https URL`, { hint });
  }
  if (url.username !== "" || url.password !== "" || url.hash !== "") {
    throw new AuthsomeError(
      "USAGE",
      "The MCP server URL must not contain a user name, password or fragment",
      { hint },
    );
  }
  return url;
}

/**
 * Discovers how to log in to the MCP server at `serverUrl`: probes it without credentials, reads
 * its protected-resource metadata and its authorization server's metadata, and checks them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { discoverMcpServer } from "./mcp_discovery.ts";
 * const as = "https://auth.example.com";
 * const docs: Record<string, unknown> = {
 *   "https://mcp.example.com/.well-known/oauth-protected-resource/mcp": {
 *     resource: "https://mcp.example.com/mcp",
 *     authorization_servers: [as],
 *   },
 *   [`${as}/.well-known/oauth-authorization-server`]: {
 *     issuer: as,
 *     authorization_endpoint: `${as}/authorize`,
 *     token_endpoint: `${as}/token`,
 *     registration_endpoint: `${as}/register`,
 *     code_challenge_methods_supported: ["S256"],
 *   },
 * };
 * const fakeFetch = (url: string | URL | Request) => {
 *   const doc = docs[String(url)];
 *   if (doc !== undefined) return Promise.resolve(Response.json(doc));
 *   return Promise.resolve(new Response("", {
 *     status: 401,
 *     headers: { "www-authenticate": 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"' },
 *   }));
 * };
 * const found = await discoverMcpServer({ serverUrl: "https://mcp.example.com/mcp", fetch: fakeFetch });
 * assert.equal(found.resource, "https://mcp.example.com/mcp");
 * assert.equal(found.token_endpoint, "https://auth.example.com/token");
 * ```
 */
export async function discoverMcpServer(options: {
  serverUrl: string;
  fetch: typeof fetch;
}): Promise<McpServerAuth> {
  const server = checkServerUrl(options.serverUrl);
  const fetchFn = options.fetch;
  const challenge = await probe(server, fetchFn);
  const prm = await protectedResource(server, challenge.resourceMetadata, fetchFn);
  const as = await authorizationServer(prm.authorizationServer, fetchFn);
  const scopes = challenge.scope ?? prm.scopes;
  const found: McpServerAuth = {
    serverUrl: server.href,
    resource: prm.resource,
    resourceMetadataUrl: prm.url,
    issuer: as.issuer,
    authorization_endpoint: as.authorization_endpoint,
    token_endpoint: as.token_endpoint,
    scopes,
  };
  if (as.registration_endpoint !== undefined) {
    found.registration_endpoint = as.registration_endpoint;
  }
  if (as.revocation_endpoint !== undefined) found.revocation_endpoint = as.revocation_endpoint;
  return found;
}

/**
 * Reads the `Bearer` challenge of a `WWW-Authenticate` header: its `resource_metadata` and `scope`
 * parameters (quoted or token values). Other schemes are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBearerChallenge } from "./mcp_discovery.ts";
 * const c = parseBearerChallenge('Bearer error="invalid_token", resource_metadata="https://a.example/.well-known/oauth-protected-resource", scope="read write"');
 * assert.equal(c.resourceMetadata, "https://a.example/.well-known/oauth-protected-resource");
 * assert.deepEqual(c.scope, ["read", "write"]);
 * ```
 */
export function parseBearerChallenge(
  header: string | null,
): { resourceMetadata?: string; scope?: string[] } {
  const out: { resourceMetadata?: string; scope?: string[] } = {};
  if (header === null) return out;
  const bearer = /(?:^|,)\s*Bearer(?:\s+|$)(.*)$/i.exec(header);
  if (bearer === null) return out;
  const param = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  const text = bearer[1] ?? "";
  let match: RegExpExecArray | null;
  while ((match = param.exec(text)) !== null && match[0] !== "") {
    const name = match[1]!.toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3] ?? "";
    if (name === "resource_metadata" && out.resourceMetadata === undefined) {
      out.resourceMetadata = value;
    } else if (name === "scope" && out.scope === undefined) {
      out.scope = value.split(" ").filter((s) => s !== "");
    }
  }
  return out;
}

// ---- the steps -------------------------------------------------------------------------------

/** Sends the MCP `initialize` request without credentials and reads the 401's challenge. */
async function probe(
  server: URL,
  fetchFn: typeof fetch,
): Promise<{ resourceMetadata?: string; scope?: string[] }> {
  const response = await send(fetchFn, server, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "authsome", version: "1" },
      },
    }),
  });
  await response.body?.cancel().catch(() => {});
  return response.status === 401
    ? parseBearerChallenge(response.headers.get("www-authenticate"))
    : {};
}

/**
 * The protected-resource metadata: at the 401's `resource_metadata`, else at the well-known
 * path of the server's URL (RFC 9728 §3.1), else at the well-known path of its origin.
 */
async function protectedResource(
  server: URL,
  named: string | undefined,
  fetchFn: typeof fetch,
): Promise<{ url: string; resource: string; authorizationServer: string; scopes: string[] }> {
  const candidates: string[] = [];
  if (named !== undefined) {
    candidates.push(metadataUrl(named, "resource_metadata URL of its 401 answer", server).href);
  } else {
    const path = server.pathname.replace(/\/+$/, "");
    if (path !== "") {
      candidates.push(`${server.origin}/.well-known/oauth-protected-resource${path}`);
    }
    candidates.push(`${server.origin}/.well-known/oauth-protected-resource`);
  }
  for (const url of candidates) {
    const doc = await readMetadata(url, fetchFn, named !== undefined, server);
    if (doc === undefined) continue;
    const what = `The protected-resource metadata of ${server.host}`;
    const resource = requiredString(doc, "resource", what);
    if (!resourceMatches(resource, server)) {
      throw bad(
        `${what} is for ${clean(resource)}, not ${server.href}`,
        "The server may be misconfigured or impersonating another one; nothing was stored",
      );
    }
    const servers = doc.authorization_servers;
    if (!Array.isArray(servers) || servers.length === 0 || typeof servers[0] !== "string") {
      throw bad(`${what} names no authorization server (authorization_servers)`);
    }
    metadataUrl(servers[0], "authorization server it names", server);
    const supported = doc.scopes_supported;
    const scopes = Array.isArray(supported)
      ? supported.filter((s): s is string => typeof s === "string" && /^[\x21-\x7e]+$/.test(s))
      : [];
    return { url, resource, authorizationServer: issuerForm(servers[0]), scopes };
  }
  throw bad(
    `${server.host} publishes no protected-resource metadata (RFC 9728)`,
    "Check the URL: it must be the MCP endpoint of a server that uses OAuth, e.g. https://host/mcp",
  );
}

/**
 * The authorization server's metadata: RFC 8414's well-known path first, then OpenID
 * discovery's (inserted, then appended for an issuer with a path). Its `issuer` must equal
 * the one asked for; endpoints must be https (http on loopback); S256 PKCE must be offered.
 */
async function authorizationServer(
  issuer: string,
  fetchFn: typeof fetch,
): Promise<{
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint?: string;
  revocation_endpoint?: string;
}> {
  const base = new URL(issuer);
  const path = base.pathname.replace(/\/+$/, "");
  const candidates = [
    `${base.origin}/.well-known/oauth-authorization-server${path}`,
    `${base.origin}/.well-known/openid-configuration${path}`,
  ];
  if (path !== "") candidates.push(`${base.origin}${path}/.well-known/openid-configuration`);
  const what = `The authorization server ${base.host}`;
  const its = `The metadata of the authorization server ${base.host}`;
  for (const url of candidates) {
    const doc = await readMetadata(url, fetchFn, false, base);
    if (doc === undefined) continue;
    const named = requiredString(doc, "issuer", its);
    if (issuerForm(named) !== issuer) {
      throw bad(
        `${what} calls itself ${clean(named)}, not ${issuer}`,
        "This can be a mix-up attack; nothing was stored",
      );
    }
    const endpoint = (field: string, required: boolean): string | undefined => {
      const value = doc[field];
      if (value === undefined && !required) return undefined;
      if (typeof value !== "string" || value === "") {
        throw bad(`${its} has no ${field}`);
      }
      return metadataUrl(value, `${field} it names`, base).href;
    };
    const methods = doc.code_challenge_methods_supported;
    if (!Array.isArray(methods) || !methods.includes("S256")) {
      throw bad(
        `${what} does not offer PKCE with S256 (code_challenge_methods_supported)`,
        "The MCP authorization spec requires it; ask the server's operators",
      );
    }
    const out = {
      issuer,
      authorization_endpoint: endpoint("authorization_endpoint", true)!,
      token_endpoint: endpoint("token_endpoint", true)!,
    } as {
      issuer: string;
      authorization_endpoint: string;
      token_endpoint: string;
      registration_endpoint?: string;
      revocation_endpoint?: string;
    };
    const registration = endpoint("registration_endpoint", false);
    if (registration !== undefined) out.registration_endpoint = registration;
    const revocation = endpoint("revocation_endpoint", false);
    if (revocation !== undefined) out.revocation_endpoint = revocation;
    return out;
  }
  throw bad(
    `${what} publishes no metadata (RFC 8414 or OpenID discovery)`,
    "Check the authorization_servers entry of the MCP server's metadata",
  );
}

// ---- helpers ---------------------------------------------------------------------------------

/**
 * Reads one metadata document. 404 (or 410) means "not here" (undefined) unless `required`;
 * any other non-200 answer, a body over the limit, or one that is not a JSON object is an error.
 */
async function readMetadata(
  url: string,
  fetchFn: typeof fetch,
  required: boolean,
  server: URL,
): Promise<Record<string, unknown> | undefined> {
  const response = await send(fetchFn, new URL(url), {
    headers: { accept: "application/json" },
    redirect: "manual",
  });
  const where = new URL(url);
  const shown = `${where.host}${clean(where.pathname)}`;
  if ((response.status === 404 || response.status === 410) && !required) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw bad(
      `${shown} answered HTTP ${response.status} instead of its metadata`,
      `Check that ${server.host} is up and is an MCP server that uses OAuth`,
    );
  }
  const text = await limitedText(response, shown);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad(`The metadata at ${shown} is not JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw bad(`The metadata at ${shown} is not a JSON object`);
  }
  return doc as Record<string, unknown>;
}

/** The body as text, refused past {@linkcode MAX_METADATA_BYTES}. */
async function limitedText(response: Response, shown: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  const tooBig = () =>
    bad(`The metadata at ${shown} is larger than ${MAX_METADATA_BYTES / 1024} KiB`);
  if (declared > MAX_METADATA_BYTES) {
    await response.body?.cancel().catch(() => {});
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body?.getReader();
  try {
    while (reader !== undefined) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_METADATA_BYTES) {
        await reader.cancel().catch(() => {});
        throw tooBig();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof AuthsomeError) throw error;
    throw bad(`The metadata at ${shown} was cut off`);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** A URL a document names: absolute, https (http on loopback), no user name or password. */
function metadataUrl(value: string, what: string, server: URL): URL {
  if (!URL.canParse(value)) throw bad(`The ${what} is not a URL: ${clean(value)}`);
  const url = new URL(value);
  if (!isSecure(url) || url.username !== "" || url.password !== "") {
    throw bad(
      `The ${what} is not an https URL: ${clean(url.origin)}`,
      `Only https is accepted (plain http on loopback only); ${server.host} may be misconfigured`,
    );
  }
  return url;
}

/** An issuer identifier as RFC 8414 compares it: the URL as written, without a trailing `/`. */
function issuerForm(value: string): string {
  return value.replace(/\/$/, "");
}

/**
 * Whether the metadata's `resource` names this server: the same origin, and a path equal to the
 * server's or a whole-segment prefix of it (one resource for a server with several endpoints).
 */
function resourceMatches(resource: string, server: URL): boolean {
  if (!URL.canParse(resource)) return false;
  const r = new URL(resource);
  if (r.origin !== server.origin || r.search !== "" || r.hash !== "") return false;
  const prefix = r.pathname.replace(/\/+$/, "");
  const path = server.pathname.replace(/\/+$/, "");
  return path === prefix || path.startsWith(`${prefix}/`);
}

function requiredString(doc: Record<string, unknown>, field: string, what: string): string {
  const value = doc[field];
  if (typeof value !== "string" || value === "") throw bad(`${what} has no ${field}`);
  return value;
}

function isSecure(url: URL): boolean {
  return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK.has(url.hostname));
}

async function send(fetchFn: typeof fetch, url: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetchFn(url.href, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (cause) {
    const timedOut = cause instanceof DOMException && cause.name === "TimeoutError";
    throw new AuthsomeError(
      "ENDPOINT_UNREACHABLE",
      timedOut ? `Cannot reach ${url.host}: no answer within 30 s` : `Cannot reach ${url.host}`,
      { hint: "Check the network connection and the server's URL", cause },
    );
  }
}

function bad(message: string, hint = "Nothing was stored; check the server's URL"): AuthsomeError {
  return new AuthsomeError("AUTH_FAILED", message, { hint });
}

/** A value from a document, safe to print: printable ASCII, at most 100 characters. */
function clean(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 100 ? `${printable.slice(0, 100)}…` : printable;
}
