/**
 * The `http_request` tool: authsome sends the agent's request with the connection's credential
 * added the way the `run` proxy adds it ({@linkcode routeRequest} decides whether the URL is the
 * provider's), so the agent never holds the secret. Every rule is checked before anything is
 * sent; a refusal names the rule.
 *
 * @module
 */
import { checkRequest, type IdentityPolicy } from "../proxy/policy.ts";
import { buildRoutes, type Route, routeRequest } from "../proxy/routing.ts";
import { resolveConnection } from "../service/connections.ts";
import type { ServiceContext } from "../service/context.ts";
import { getAuthHeaders, REFRESH_WINDOW_MS } from "../service/tokens.ts";
import { toBase64 } from "../runtime/bytes.ts";
import { type CallFacts, connectionFor, type McpAccess, ToolRefusal } from "./access.ts";
import type { Upstream, UpstreamResponse } from "./upstream.ts";

/** The largest request body the tool sends: 1 MiB (UTF-8 bytes). */
export const REQUEST_BODY_LIMIT = 1_048_576;
/** The largest response body the tool returns: 256 KiB; the rest is cut with a note. */
export const RESPONSE_BODY_LIMIT = 262_144;
/** How many redirects within the provider's hosts are followed. */
export const REDIRECT_LIMIT = 5;
/** Bytes read past the cap before redacting (longer than any credential header). */
const READ_MARGIN = 8192;
/** How long a connection's headers and routes are reused before the vault is read again. */
const CACHE_MS = 30_000;

/** What the agent asks for. */
export interface HttpRequestInput {
  provider: string;
  connection?: string | undefined;
  method: string;
  url: string;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
}

/** What the agent gets back. */
export interface HttpRequestResult {
  /** The final response's status. */
  status: number;
  /** Its headers, without authorization, set-cookie and the injected header. */
  headers: Record<string, string>;
  /** The body as text (UTF-8), or base64 when it is binary. */
  body: string;
  /** `text` or `base64`. */
  body_encoding: "text" | "base64";
  /** Present when the body was cut at {@linkcode RESPONSE_BODY_LIMIT} bytes. */
  truncated?: string;
  /** Present when the credential's value appeared in the response and was replaced. */
  redacted?: string;
  /** The URL of the final response, when redirects were followed. */
  url?: string;
  /** Present when a redirect to a URL outside the provider's hosts was not followed. */
  redirect_not_followed?: string;
  /** The connection whose credential was used. */
  connection: string;
}

/** What the tool keeps for the session: the sender and the per-connection cache. */
export interface HttpSession {
  ctx: ServiceContext;
  access: McpAccess;
  /** Opened on the first request (node:https is loaded only then). */
  upstream: () => Promise<Upstream>;
  cache: Map<string, { routes: Route[]; headers: Record<string, string>; until: number }>;
}

/** Headers the agent may not set: hop-by-hop ones, the host, and authsome's own. */
const DROPPED = new Set([
  "host",
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "x-authsome-connection",
]);
/** Response headers never shown to the agent (besides the injected ones). */
const HIDDEN = new Set(["authorization", "proxy-authorization", "set-cookie", "set-cookie2"]);
const BODYLESS = new Set(["GET", "HEAD"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Runs one `http_request`: checks the URL (https only, no user info), picks the connection
 * (the session's access rules), routes the URL with the connection's hosts, checks the
 * identity's policy, builds the headers (the caller's credential headers replaced), sends it,
 * follows redirects that stay on routed URLs, and shapes the response. `facts` is filled in as
 * the call goes, for its audit entry.
 *
 * @example
 * ```ts ignore
 * const result = await httpRequest(session, {
 *   provider: "github", method: "GET", url: "https://api.github.com/user",
 * }, {});
 * ```
 */
export async function httpRequest(
  session: HttpSession,
  input: HttpRequestInput,
  facts: CallFacts,
): Promise<HttpRequestResult> {
  const { ctx, access } = session;
  const method = input.method.toUpperCase();
  facts.provider = input.provider;
  facts.method = method;
  let url = checkUrl(input.url);
  facts.host = url.host;
  const connection = await connectionFor(ctx, access, input.provider, input.connection);
  if (connection === undefined) {
    await ctx.registry.get(input.provider); // an unknown provider: its own error, with a hint
    throw new ToolRefusal(
      "connection",
      `there is no ${input.provider} connection; ask the human to log in with request_login`,
    );
  }
  facts.connection = connection;
  const body = input.body === undefined ? undefined : new TextEncoder().encode(input.body);
  if (body !== undefined && body.length > REQUEST_BODY_LIMIT) {
    throw new ToolRefusal(
      "body-size",
      `the body is ${body.length} bytes; the limit is ${REQUEST_BODY_LIMIT} bytes`,
    );
  }
  if (body !== undefined && BODYLESS.has(method)) {
    throw new ToolRefusal("body", `a ${method} request has no body`);
  }
  const entry = await connectionEntry(session, input.provider, connection);
  checkRouted(entry.routes, input.provider, connection, url);
  checkPolicy(ctx, access.policy, input.provider, method, url);
  const injected = new Set(Object.keys(entry.headers).map((h) => h.toLowerCase()));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const lower = name.toLowerCase();
    if (DROPPED.has(lower) || injected.has(lower) || lower === "authorization") continue;
    headers[lower] = value;
  }
  for (const [name, value] of Object.entries(entry.headers)) headers[name.toLowerCase()] = value;
  const upstream = await session.upstream();
  let current = { method, body };
  let response: UpstreamResponse;
  let redirects = 0;
  let notFollowed: string | undefined;
  while (true) {
    response = await upstream.send(
      { url, method: current.method, headers: withBody(headers, current.body), body: current.body },
      // Read a little past the cap, so a credential echoed across the cut is still redacted.
      RESPONSE_BODY_LIMIT + READ_MARGIN,
    );
    facts.status = response.status;
    const location = headerText(response.headers.location);
    if (!REDIRECTS.has(response.status) || location === undefined) break;
    const next = URL.parse(location, url);
    const stays = next !== null && next.protocol === "https:" && next.username === "" &&
      next.password === "" && routesTo(entry.routes, input.provider, connection, next) &&
      (access.policy === undefined ||
        checkRequest(access.policy, input.provider, method, next.pathname + next.search, ctx.now())
          .allowed);
    if (!stays) {
      notFollowed =
        `the redirect to ${next?.origin ?? "an invalid URL"} leaves ${input.provider}'s ` +
        "hosts (or its allowed paths): it was not followed and the credential was not sent there";
      break;
    }
    if (++redirects > REDIRECT_LIMIT) {
      throw new ToolRefusal("redirects", `more than ${REDIRECT_LIMIT} redirects`);
    }
    // 303, and 301/302 after a POST, continue as a GET without a body (as browsers and fetch do).
    if (
      response.status === 303 || ((response.status === 301 || response.status === 302) &&
        current.method === "POST")
    ) {
      current = { method: current.method === "HEAD" ? "HEAD" : "GET", body: undefined };
    }
    url = next!;
    facts.host = url.host;
  }
  return shape(response, entry.headers, connection, {
    ...(redirects > 0 ? { url: url.href } : {}),
    ...(notFollowed !== undefined ? { redirect_not_followed: notFollowed } : {}),
  });
}

/** The URL, refused unless it is an absolute `https:` URL without user info. */
function checkUrl(raw: string): URL {
  const url = URL.parse(raw);
  if (url === null) throw new ToolRefusal("url", `"${raw.slice(0, 200)}" is not an absolute URL`);
  if (url.protocol !== "https:") {
    throw new ToolRefusal(
      "https-only",
      `only https: URLs are sent (the credential never goes over ${url.protocol} or to a file)`,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new ToolRefusal("url", "the URL must not hold a user name or password");
  }
  return url;
}

/** The connection's routes and headers, from the cache while fresh. */
async function connectionEntry(session: HttpSession, provider: string, connection: string) {
  const { ctx } = session;
  const key = `${provider}/${connection}`;
  const hit = session.cache.get(key);
  const now = ctx.now().getTime();
  if (hit !== undefined && hit.until > now) return hit;
  await ctx.registry.get(provider); // an unknown provider: its own clear error
  const { record } = await resolveConnection(ctx.vault, provider, connection);
  const def = (await ctx.registry.get(provider)).definition;
  const endpoints = def.oauth
    ? Object.values((await import("../providers/oauth_login.ts")).endpointsFor(
      def,
      record.base_url ?? undefined,
    )).filter((v): v is string => typeof v === "string")
    : [];
  const { routes } = buildRoutes([{
    provider,
    connection,
    api_url: record.api_url,
    authEndpoints: endpoints,
  }]);
  const headers = await getAuthHeaders(ctx, provider, connection);
  const expires = record.expires_at === null
    ? Number.POSITIVE_INFINITY
    : Date.parse(record.expires_at) - REFRESH_WINDOW_MS;
  const entry = { routes, headers, until: Math.min(now + CACHE_MS, expires) };
  session.cache.set(key, entry);
  return entry;
}

/** Whether the connection's routes inject into `url` (the proxy's own decision). */
function routesTo(routes: Route[], provider: string, connection: string, url: URL): boolean {
  const decision = routeRequest(routes, {
    scheme: "https",
    host: url.host,
    path: url.pathname + url.search,
  });
  return decision.action === "inject" && decision.route.provider === provider &&
    decision.route.connection === connection;
}

/** Refuses (rule `host`) a URL the connection's credential is not for, saying where it is. */
function checkRouted(routes: Route[], provider: string, connection: string, url: URL): void {
  const decision = routeRequest(routes, {
    scheme: "https",
    host: url.host,
    path: url.pathname + url.search,
  });
  if (decision.action === "inject") return;
  const hosts =
    routes.map((r) =>
      r.host === undefined ? `regex:${r.regex!.source}` : r.host + (r.pathPrefix ?? "")
    ).join(", ") || "none";
  const why = decision.reason === "auth_endpoint"
    ? `${url.pathname} is one of ${provider}'s sign-in endpoints, which never get the credential`
    : decision.reason === "loopback"
    ? `${url.hostname} is this machine, which never gets a credential`
    : `${url.host}${url.pathname} is not one of the hosts of ${provider} (${connection}): ${hosts}`;
  throw new ToolRefusal(decision.reason === "auth_endpoint" ? "auth-endpoint" : "host", why);
}

/** Refuses what the identity's policy refuses, with its rule (read-only, path, expired). */
function checkPolicy(
  ctx: ServiceContext,
  policy: IdentityPolicy | undefined,
  provider: string,
  method: string,
  url: URL,
): void {
  if (policy === undefined) return;
  const verdict = checkRequest(policy, provider, method, url.pathname + url.search, ctx.now());
  if (!verdict.allowed) throw new ToolRefusal(verdict.rule, verdict.message);
}

function withBody(headers: Record<string, string>, body: Uint8Array | undefined) {
  return body === undefined ? headers : { ...headers, "content-length": String(body.length) };
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The agent's view of a response: hidden headers removed, the credential's values redacted
 * wherever the upstream echoed them, the body as text or base64.
 */
function shape(
  response: UpstreamResponse,
  injected: Record<string, string>,
  connection: string,
  extra: Pick<HttpRequestResult, "url" | "redirect_not_followed">,
): HttpRequestResult {
  const secrets = secretValues(injected);
  const injectedNames = new Set(Object.keys(injected).map((n) => n.toLowerCase()));
  let redacted = false;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (HIDDEN.has(name) || injectedNames.has(name)) continue;
    const text = Array.isArray(value) ? value.join(", ") : value;
    const clean = redact(text, secrets);
    redacted ||= clean !== text;
    headers[name] = clean;
  }
  let bytes = response.body;
  for (const secret of secrets) {
    const cleaned = redactBytes(bytes, new TextEncoder().encode(secret));
    redacted ||= cleaned !== bytes;
    bytes = cleaned;
  }
  const truncated = response.truncated || bytes.length > RESPONSE_BODY_LIMIT;
  if (bytes.length > RESPONSE_BODY_LIMIT) bytes = bytes.subarray(0, RESPONSE_BODY_LIMIT);
  const text = utf8(bytes, truncated);
  const result: HttpRequestResult = {
    status: response.status,
    headers,
    body: text ?? toBase64(bytes),
    body_encoding: text === undefined ? "base64" : "text",
    ...extra,
    connection,
  };
  if (truncated) {
    result.truncated = `the body was cut at ${RESPONSE_BODY_LIMIT} bytes; ask for less ` +
      "(a range, a page, a filter)";
  }
  if (redacted) {
    result.redacted = "the response held the credential; it was replaced with [REDACTED]";
  }
  return result;
}

/** The secret parts of the injected headers: each value, and the token after a scheme word. */
function secretValues(injected: Record<string, string>): string[] {
  const out = new Set<string>();
  for (const value of Object.values(injected)) {
    if (value.length >= 8) out.add(value);
    const token = /^\S+\s+(\S{8,})$/.exec(value)?.[1];
    if (token !== undefined) out.add(token);
  }
  // Longest first, so a whole header value is replaced before the token inside it.
  return [...out].sort((a, b) => b.length - a.length);
}

function redact(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join("[REDACTED]"), text);
}

const MARK = new TextEncoder().encode("[REDACTED]");

/** `bytes` with every occurrence of `needle` replaced by `[REDACTED]` (the same array if none). */
function redactBytes(bytes: Uint8Array, needle: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i + needle.length <= bytes.length;) {
    let match = true;
    for (let j = 0; j < needle.length; j++) {
      if (bytes[i + j] !== needle[j]) {
        match = false;
        break;
      }
    }
    if (match) {
      parts.push(bytes.subarray(start, i), MARK);
      i += needle.length;
      start = i;
    } else i++;
  }
  if (parts.length === 0) return bytes;
  parts.push(bytes.subarray(start));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The bytes as text when they are UTF-8 without NUL characters; undefined when binary. A cut
 * body may end inside a character: up to three trailing bytes are then dropped.
 */
function utf8(bytes: Uint8Array, cut: boolean): string | undefined {
  for (let drop = 0; drop <= (cut ? 3 : 0); drop++) {
    try {
      const text = new TextDecoder("utf-8", { fatal: true })
        .decode(bytes.subarray(0, bytes.length - drop));
      return text.includes("\u0000") ? undefined : text;
    } catch {
      // not UTF-8 (yet): try one byte fewer, or give up
    }
  }
  return undefined;
}
