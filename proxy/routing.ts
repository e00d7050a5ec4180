/**
 * Proxy routing for `authsome run`: which HTTPS requests get which connection's credential.
 *
 * Pure functions, no I/O. {@linkcode buildRoutes} turns the stored `api_url` targets of the
 * connections into a route table once per run; {@linkcode routeRequest} decides per request;
 * {@linkcode hostIsRouted} decides at CONNECT time whether a host is decrypted at all.
 *
 * A credential is never injected over plain HTTP, into a loopback host, into one of the
 * provider's own auth endpoints, or when two connections match equally well.
 *
 * @module
 */

/**
 * One connection's routing inputs.
 *
 * @example
 * ```ts
 * import type { RouteSource } from "./routing.ts";
 * const source: RouteSource = {
 *   provider: "github",
 *   connection: "default",
 *   api_url: ["api.github.com", "regex:^[a-z0-9-]+\\.githubusercontent\\.com$"],
 *   authEndpoints: ["https://github.com/login/oauth/access_token"],
 * };
 * ```
 */
export interface RouteSource {
  /** Provider name. */
  provider: string;
  /** Connection name. */
  connection: string;
  /**
   * Targets stored on the connection, `{base_url}` already filled: a bare host
   * (`api.openai.com`), an https URL whose path is a prefix constraint
   * (`https://api.cloudflare.com/client/v4`), or `regex:<pattern>` matched against the whole host.
   */
  api_url: string[];
  /**
   * Full URLs of the provider's authorization, token, revocation, device authorization and
   * registration endpoints, filled. Their paths are never injected on a routed host.
   */
  authEndpoints: string[];
}

/**
 * One entry of the route table: a host (exact or regex) and an optional path prefix that lead to
 * one connection.
 *
 * @example
 * ```ts
 * import type { Route } from "./routing.ts";
 * const route: Route = {
 *   provider: "cloudflare",
 *   connection: "default",
 *   host: "api.cloudflare.com",
 *   pathPrefix: "/client/v4",
 *   excludedPaths: new Set(),
 * };
 * ```
 */
export interface Route {
  /** Provider name. */
  provider: string;
  /** Connection name. */
  connection: string;
  /** Exact host: lower-case, no IPv6 brackets, no trailing dot. */
  host?: string;
  /** Matched against the whole host, case-insensitively (anchored as `^(?:pattern)$`). */
  regex?: RegExp;
  /** Path prefix without a trailing slash; `path === prefix` or `path` starts with `prefix + "/"`. */
  pathPrefix?: string;
  /**
   * Paths of the provider's auth endpoints on this route's host(s), in comparison form (see
   * {@linkcode routeRequest}: percent-decoded, lower-case, no trailing slash). Never injected.
   */
  excludedPaths: Set<string>;
}

/**
 * What to do with one request: inject the route's credential, or pass it through unchanged and
 * why.
 *
 * @example
 * ```ts
 * import type { RouteDecision } from "./routing.ts";
 * const decision: RouteDecision = { action: "pass", reason: "no_match" };
 * ```
 */
export type RouteDecision =
  | { action: "inject"; route: Route }
  | {
    action: "pass";
    reason: "not_https" | "loopback" | "no_match" | "ambiguous" | "auth_endpoint";
  };

const REGEX_PREFIX = "regex:";
const DNS_HOST = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;
const IPV6_HOST = /^[0-9a-f:.]+$/;

/**
 * Builds the route table. Each target becomes one route; targets that are empty, unfilled
 * (`{base_url}`), not https, unparseable, invalid regexes, or loopback hosts are skipped with a
 * warning (warnings name the provider, connection and target, never a secret).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRoutes } from "./routing.ts";
 * const { routes, warnings } = buildRoutes([{
 *   provider: "cloudflare",
 *   connection: "default",
 *   api_url: ["https://api.cloudflare.com/client/v4/", "regex:(", "localhost"],
 *   authEndpoints: [],
 * }]);
 * assert.equal(routes.length, 1);
 * assert.equal(routes[0]?.host, "api.cloudflare.com");
 * assert.equal(routes[0]?.pathPrefix, "/client/v4");
 * assert.equal(warnings.length, 2);
 * ```
 */
export function buildRoutes(sources: RouteSource[]): { routes: Route[]; warnings: string[] } {
  const routes: Route[] = [];
  const warnings: string[] = [];
  for (const source of sources) {
    const who = `${source.provider} (${source.connection})`;
    if (source.api_url.length === 0) {
      warnings.push(`${who}: no api_url, so the proxy sends its credential nowhere`);
    }
    const endpoints: Array<{ host: string; key: string }> = [];
    for (const endpoint of source.authEndpoints) {
      const parsed = parseUrl(endpoint);
      if (parsed === undefined) {
        warnings.push(`${who}: ignored auth endpoint "${endpoint}": not a URL`);
        continue;
      }
      endpoints.push({
        host: normalizeHost(parsed.hostname),
        key: comparisonPath(parsed.pathname),
      });
    }
    for (const target of source.api_url) {
      const result = parseTarget(target);
      if (typeof result === "string") {
        warnings.push(`${who}: skipped api_url "${target}": ${result}`);
        continue;
      }
      const route: Route = {
        provider: source.provider,
        connection: source.connection,
        ...result,
        excludedPaths: new Set(),
      };
      for (const endpoint of endpoints) {
        if (hostMatches(route, endpoint.host)) route.excludedPaths.add(endpoint.key);
      }
      routes.push(route);
    }
  }
  return { routes, warnings };
}

/**
 * Decides one request. In order: plain HTTP → `not_https`; a loopback host → `loopback`;
 * candidates are the exact-host routes for the host plus the regex routes matching the whole
 * host (the port is ignored); those whose path prefix matches the path survive, then those for
 * which the path is not an auth endpoint path (if only that exclusion emptied the list →
 * `auth_endpoint`; none at all → `no_match`). The most specific survivor wins: longer path
 * prefix first, then exact host over regex; different connections tied at the top → `ambiguous`.
 *
 * The host is trimmed, lower-cased, stripped of IPv6 brackets, a `:port` and a trailing dot; a
 * host that is not a DNS name or IP literal never matches. The path loses its query and fragment;
 * `.`/`..` segments (also `%2e`) are resolved and repeated slashes (and backslashes) collapsed
 * before prefix matching. Auth endpoint paths are compared in a looser form (percent-decoded,
 * lower-case, `;params` and trailing slash dropped), so spelling variants of a token endpoint
 * are never injected either.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRoutes, routeRequest } from "./routing.ts";
 * const { routes } = buildRoutes([{
 *   provider: "openai",
 *   connection: "default",
 *   api_url: ["api.openai.com"],
 *   authEndpoints: [],
 * }]);
 * const decision = routeRequest(routes, {
 *   scheme: "https",
 *   host: "API.OpenAI.com",
 *   path: "/v1/models?limit=1",
 * });
 * assert.equal(decision.action, "inject");
 * assert.deepEqual(
 *   routeRequest(routes, { scheme: "http", host: "api.openai.com", path: "/" }),
 *   { action: "pass", reason: "not_https" },
 * );
 * ```
 */
export function routeRequest(
  routes: Route[],
  request: { scheme: "http" | "https"; host: string; port?: number; path: string },
): RouteDecision {
  if (request.scheme !== "https") return { action: "pass", reason: "not_https" };
  if (isLoopbackHost(request.host)) return { action: "pass", reason: "loopback" };
  const host = normalizeHost(request.host);
  if (!isValidHost(host)) return { action: "pass", reason: "no_match" };
  const path = canonicalPath(request.path);
  const key = comparisonPath(request.path);
  const prefixed = routes.filter((r) => hostMatches(r, host) && prefixMatches(r, path));
  const allowed = prefixed.filter((r) => !r.excludedPaths.has(key));
  if (allowed.length === 0) {
    return { action: "pass", reason: prefixed.length > 0 ? "auth_endpoint" : "no_match" };
  }
  const bestScore = Math.max(...allowed.map(specificity));
  const best = allowed.filter((route) => specificity(route) === bestScore);
  const winner = best[0]!;
  const tied = best.some((r) =>
    r.provider !== winner.provider || r.connection !== winner.connection
  );
  return tied ? { action: "pass", reason: "ambiguous" } : { action: "inject", route: winner };
}

/**
 * Whether any route's host (exact or regex) matches: the proxy decrypts only such hosts and
 * tunnels every other one untouched. Loopback hosts and malformed hosts are never routed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRoutes, hostIsRouted } from "./routing.ts";
 * const { routes } = buildRoutes([{
 *   provider: "github",
 *   connection: "default",
 *   api_url: ["regex:^[a-z0-9-]+\\.githubusercontent\\.com$"],
 *   authEndpoints: [],
 * }]);
 * assert.equal(hostIsRouted(routes, "raw.githubusercontent.com"), true);
 * assert.equal(hostIsRouted(routes, "raw.githubusercontent.com.evil.test"), false);
 * ```
 */
export function hostIsRouted(routes: Route[], host: string): boolean {
  if (isLoopbackHost(host)) return false;
  const normalized = normalizeHost(host);
  return isValidHost(normalized) && routes.some((r) => hostMatches(r, normalized));
}

/**
 * Whether a host names this machine: `localhost` and `*.localhost`, 127.0.0.0/8 (in any IPv4
 * spelling a URL parser accepts, such as `127.1` or `2130706433`), `0.0.0.0`, `::1`, `::` and
 * IPv4-mapped forms of those, with or without brackets, a `:port` or a trailing dot. Names that
 * only resolve to loopback through DNS are not detected here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopbackHost } from "./routing.ts";
 * assert.equal(isLoopbackHost("[::1]"), true);
 * assert.equal(isLoopbackHost("app.localhost"), true);
 * assert.equal(isLoopbackHost("127.5.5.5"), true);
 * assert.equal(isLoopbackHost("api.openai.com"), false);
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const simple = normalizeHost(host);
  const canonical = canonicalHost(simple);
  return [simple, canonical].some((h) =>
    h === "localhost" || h.endsWith(".localhost") || h === "0.0.0.0" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::1" || h === "::" ||
    h === "::ffff:0:0" || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h)
  );
}

/** Trim, lower-case, strip IPv6 brackets or a `:port`, then one trailing dot. */
function normalizeHost(raw: string): string {
  let host = raw.trim().toLowerCase();
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
  if (bracketed) host = bracketed[1]!;
  else host = host.replace(/^([^:]*):\d*$/, "$1");
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** The WHATWG URL form of a normalised host (IPv4 spellings unified), or the host itself. */
function canonicalHost(host: string): string {
  const authority = host.includes(":") ? `[${host}]` : host;
  try {
    return normalizeHost(new URL(`http://${authority}/`).hostname);
  } catch {
    return host;
  }
}

/**
 * Only DNS names and IP literals can match: what matched must be exactly what the proxy
 * connects to, so nothing like `evil.test/x.example.com` slips through a loose regex.
 */
function isValidHost(host: string): boolean {
  return host.includes(":") ? IPV6_HOST.test(host) : DNS_HOST.test(host);
}

function hostMatches(route: Route, host: string): boolean {
  if (route.regex === undefined) return route.host === host;
  // Checked as a full match even for a hand-made, unanchored or global regex.
  route.regex.lastIndex = 0;
  return route.regex.exec(host)?.[0] === host;
}

function prefixMatches(route: Route, path: string): boolean {
  const prefix = route.pathPrefix;
  return prefix === undefined || path === prefix || path.startsWith(prefix + "/");
}

/**
 * Regex routes (never a path prefix) score 0; an exact host scores 1 plus its prefix's length,
 * so a longer prefix wins and an exact host beats a regex.
 */
function specificity(route: Route): number {
  return route.regex === undefined ? 1 + (route.pathPrefix?.length ?? 0) : 0;
}

type Target = { host: string; pathPrefix?: string } | { regex: RegExp };

/** A route target, or the reason it is skipped. */
function parseTarget(raw: string): Target | string {
  const target = raw.trim();
  if (target === "") return "empty target";
  if (target.includes("{base_url}")) return "{base_url} is not filled in";
  if (target.toLowerCase().startsWith(REGEX_PREFIX)) {
    const pattern = target.slice(REGEX_PREFIX.length).trim();
    if (pattern === "") return "empty regular expression";
    try {
      // Compiled alone first: an unbalanced `)` could otherwise escape the anchoring group.
      new RegExp(pattern);
      return { regex: new RegExp(`^(?:${pattern})$`, "i") };
    } catch {
      return "not a valid regular expression";
    }
  }
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
  if (hasScheme && !/^https:\/\//i.test(target)) {
    return "not an https URL (plain HTTP is never injected)";
  }
  const parsed = parseUrl(hasScheme ? target : `https://${target}`);
  if (parsed === undefined) return "not a host or URL";
  const host = normalizeHost(parsed.hostname);
  if (!isValidHost(host)) return "not a host or URL";
  if (isLoopbackHost(host)) return "loopback hosts are never injected";
  const prefix = canonicalPath(parsed.pathname);
  return prefix === "/" ? { host } : { host, pathPrefix: prefix };
}

function parseUrl(raw: string): URL | undefined {
  return URL.parse(raw) ?? undefined;
}

/**
 * The request path as a server would resolve it: no query or fragment, `/` and `\\` runs
 * collapsed, `.`/`..` segments (also percent-encoded) resolved, no trailing slash (a prefix
 * matches with or without one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalPath } from "./routing.ts";
 * assert.equal(canonicalPath("/a//b/%2e%2e/c/?x=1"), "/a/c");
 * ```
 */
export function canonicalPath(raw: string): string {
  const end = raw.search(/[?#]/);
  const path = end === -1 ? raw : raw.slice(0, end);
  const out: string[] = [];
  for (const segment of path.split(/[/\\]/)) {
    const dots = segment.replace(/%2e/gi, ".");
    if (dots === "..") out.pop();
    else if (segment !== "" && dots !== ".") out.push(segment);
  }
  return `/${out.join("/")}`;
}

/**
 * The loose form used to recognise auth endpoints: ASCII percent-escapes decoded, `;params`
 * dropped, then canonicalised, lower-cased, no trailing slash.
 */
function comparisonPath(raw: string): string {
  const end = raw.search(/[?#]/);
  const path = end === -1 ? raw : raw.slice(0, end);
  const decoded = path.replace(
    /%([0-7][0-9a-f])/gi,
    (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
  );
  // A decoded `?` or `#` is dropped, not taken for a query: `/token%3F` is looked at as `/token`.
  const withoutParams = decoded.replace(/[?#]/g, "").replace(/;[^/\\]*/g, "");
  return canonicalPath(withoutParams).toLowerCase();
}
