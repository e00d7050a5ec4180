/**
 * A real OAuth 2.0 authorization server for end-to-end tests, and helpers that play the user.
 *
 * {@linkcode startAuthServer} spawns `node tests/oauth/server.mjs` (the npm package
 * `oidc-provider`) on 127.0.0.1, port 0. The server exits when its stdin closes, so a crashed test
 * never leaves it running. {@linkcode approveAuthorization} and {@linkcode approveDevice} do what a
 * browser would do over plain HTTP: they follow redirects by hand, keep cookies, and submit the
 * server's login and consent forms.
 *
 * @module
 */

/** Where `server.mjs` lives. */
export const SERVER_SCRIPT: string = new URL("./server.mjs", import.meta.url).pathname;

/** OAuth client metadata as oidc-provider takes it (RFC 7591 names). */
export interface ClientMetadata {
  client_id?: string;
  client_secret?: string;
  redirect_uris?: string[];
  application_type?: "native" | "web";
  token_endpoint_auth_method?: string;
  grant_types?: string[];
  response_types?: string[];
  scope?: string;
  client_name?: string;
  [key: string]: unknown;
}

/** Options of {@linkcode startAuthServer}; every one has a default. Times are in seconds. */
export interface AuthServerOptions {
  /** Access token lifetime (default 60). */
  accessTokenTTL?: number;
  /** Refresh token lifetime (default 86400). */
  refreshTokenTTL?: number;
  /** Device code lifetime (default 600). */
  deviceCodeTTL?: number;
  /** Authorization code lifetime (default 60). */
  authorizationCodeTTL?: number;
  /** `interval` added to device authorization responses (default 1; `null` leaves it out). */
  deviceInterval?: number | null;
  /** Every refresh returns a new refresh token and consumes the old one (default true). */
  rotateRefreshToken?: boolean;
  /** PKCE (S256) required for every authorization request (default true). */
  pkceRequired?: boolean;
  /** Open dynamic client registration at /reg (default true). */
  registration?: boolean;
  /** Serve the RFC 8414 metadata path (default true); false answers it 404, as OIDC-only servers. */
  rfc8414?: boolean;
  /** No discovery documents at all: both well-known paths answer 404 (default true = served). */
  discovery?: boolean;
  /**
   * The issuer identifier, `{port}` replaced by the port (default `http://127.0.0.1:{port}`, the
   * origin). E.g. `http://localhost:{port}` or `http://127.0.0.1:{port}/realms/dev`: the issuer
   * then differs from the origin the endpoints are reached at, as for Okta, Keycloak, Entra.
   */
  issuer?: string;
  /** The ID token signing algorithm: RS256 (default), PS256, ES256 or EdDSA. */
  idTokenAlg?: "RS256" | "PS256" | "ES256" | "EdDSA";
  /** Scopes the server knows (default `openid offline_access profile email read write`). */
  scopes?: string[];
  /**
   * Overrides for the confidential client (defaults: client_id `authsome-confidential`, secret
   * `authsome-confidential-secret`, client_secret_post, native, redirect URI
   * `http://127.0.0.1:7998/auth/callback/oauth` — any loopback port matches).
   */
  confidentialClient?: ClientMetadata;
  /** Overrides for the public client (defaults: client_id `authsome-public`, auth method none). */
  publicClient?: ClientMetadata;
  /** More pre-registered clients (full metadata). */
  clients?: ClientMetadata[];
  /**
   * A resource server (RFC 8707): requests with `resource` = `url` get JWT access tokens with that
   * audience and the scopes of `scope` (space-separated). Default: none (`invalid_target`).
   */
  resource?: { url: string; scope: string };
  /** The node binary (default `node` from PATH). */
  node?: string;
}

/** How an injected failure looks. */
export type FailureKind =
  | "500" // HTTP 500, text/plain
  | "html" // HTTP 200, an HTML login page
  | "non-json" // HTTP 200, application/json that does not parse
  | "reset" // the connection is closed without a response (clients may retry once: use n = 2)
  | "drop" // HTTP 200 headers, then the connection dies inside the JSON body
  | "slow_down" // HTTP 400 {"error":"slow_down"}
  | "invalid_grant" // HTTP 400 {"error":"invalid_grant"}
  | "temporarily_unavailable" // HTTP 503 {"error":"temporarily_unavailable"}
  | "hold" // held (stats.held counts it) until release(), then answered normally
  | `error-200:${string}`; // HTTP 200 {"error": CODE}, as GitHub answers token errors

/** Endpoints whose requests are counted and can be made to fail. */
export type Endpoint =
  | "token"
  | "revocation"
  | "introspection"
  | "device_authorization"
  | "registration"
  | "authorization"
  | "userinfo";

/** What the server counted since it started (or since `resetStats`). */
export interface AuthServerStats {
  /** Requests per endpoint, injected failures included. */
  requests: Partial<Record<Endpoint, number>>;
  /** Token endpoint requests per `grant_type` value (full URN for the device grant). */
  token_requests: Record<string, number>;
  /** Responses replaced by {@linkcode AuthServer.failNext}. */
  injected_failures: number;
  /** Requests held by a "hold" failure so far (absent until one was). */
  held?: number;
  /** Revocation requests that reached oidc-provider. */
  revocations: number;
  /** The last of them, or null. `token_kind` is what the token turned out to be (null: unknown). */
  last_revocation: {
    status: number;
    client_id: string | null;
    token_type_hint: string | null;
    token_kind: "access_token" | "refresh_token" | "client_credentials" | null;
  } | null;
  /** client_ids created by dynamic registration. */
  registered_clients: string[];
  /** The `/.well-known/…` paths asked for, in order. */
  discovery: string[];
  /** The RFC 8707 `resource` of each authorization and token request (null: none sent), in order. */
  resource_params: Array<
    { route: "authorization" | "token"; grant_type: string | null; resource: string | null }
  >;
}

/** The effective configuration, as the server reports it. */
export interface AuthServerConfig {
  issuer: string;
  origin: string;
  port: number;
  clients: ClientMetadata[];
  accessTokenTTL: number;
  refreshTokenTTL: number;
  deviceCodeTTL: number;
  authorizationCodeTTL: number;
  deviceInterval: number | null;
  rotateRefreshToken: boolean;
  pkceRequired: boolean;
  scopes: string[];
}

/** Options of {@linkcode approveAuthorization}. */
export interface ApproveOptions {
  /** The account to sign in as; any name is accepted and becomes the `sub`. */
  login: string;
  /** Deny at the consent page: the callback URL then carries `error=access_denied`. */
  denyConsent?: boolean;
}

/** Options of {@linkcode approveDevice}. */
export interface ApproveDeviceOptions {
  /** The account to sign in as. */
  login: string;
  /** Press "Abort" on the confirmation page: the client's polling ends in `access_denied`. */
  deny?: boolean;
}

/** A running server. */
export interface AuthServer extends AsyncDisposable {
  /** Its issuer identifier: `http://127.0.0.1:PORT` unless the option `issuer` says otherwise. */
  issuer: string;
  /** Where it is reached: `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  /** The pre-registered confidential client (client_secret_post). */
  confidentialClient: Required<
    Pick<ClientMetadata, "client_id" | "client_secret" | "redirect_uris">
  >;
  /** The pre-registered public client (auth method none; device flow allowed). */
  publicClient: Required<Pick<ClientMetadata, "client_id" | "redirect_uris">>;
  /** The effective configuration. */
  config: AuthServerConfig;
  /** Counters; see {@linkcode AuthServerStats}. */
  stats(): Promise<AuthServerStats>;
  /** Zeroes the counters and drops injected failures not yet used. */
  resetStats(): Promise<void>;
  /** The next `n` requests to `endpoint` (default the token endpoint) fail as `kind` says. */
  failNext(kind: FailureKind, n?: number, endpoint?: Endpoint): Promise<void>;
  /** Lets every request held by a "hold" failure go on. */
  release(): Promise<void>;
  /** {@linkcode approveAuthorization} against this server. */
  approveAuthorization(authorizationUrl: string, options: ApproveOptions): Promise<{
    callbackUrl: string;
  }>;
  /** {@linkcode approveDevice} at this server's verification URI. */
  approveDevice(userCode: string, options: ApproveDeviceOptions): Promise<DeviceResult>;
  /** What the server wrote to stderr so far (for failure messages). */
  logs(): string;
  /** Stops the server (closes its stdin, then SIGTERM if needed) and waits for it. */
  close(): Promise<void>;
}

/** The outcome of {@linkcode approveDevice}. */
export interface DeviceResult {
  /** "approved": the success page was shown; "denied": the request was aborted. */
  outcome: "approved" | "denied";
}

/** Starts a server; close it with `close()` or `await using`. */
export async function startAuthServer(options: AuthServerOptions = {}): Promise<AuthServer> {
  const { node = "node", ...config } = options;
  const child = new Deno.Command(node, {
    args: [SERVER_SCRIPT, JSON.stringify(config)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();

  let stderrText = "";
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stderrText = (stderrText + chunk).slice(-64 * 1024);
      },
    }),
  ).catch(() => {});

  // The first stdout line is the ready line; the rest is drained.
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let readyLine: string | undefined;
  while (readyLine === undefined) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    const nl = buffered.indexOf("\n");
    if (nl >= 0) readyLine = buffered.slice(0, nl);
  }
  const stdoutDone = (async () => {
    try {
      while (!(await lines.read()).done) { /* drain */ }
    } catch { /* closed */ }
  })();

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await stdin.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
    }, 3000);
    await child.status;
    clearTimeout(timer);
    await stdoutDone;
    await stderrDone;
  };

  if (readyLine === undefined) {
    await close();
    throw new Error(`the OAuth test server did not start:\n${stderrText}`);
  }
  const { issuer, origin, port } = JSON.parse(readyLine) as {
    issuer: string;
    origin: string;
    port: number;
  };

  const testFetch = async (path: string, init?: RequestInit): Promise<unknown> => {
    const res = await fetch(`${origin}/__test/${path}`, init);
    const body = await res.json();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body;
  };

  let effective: AuthServerConfig;
  try {
    effective = await testFetch("config") as AuthServerConfig;
  } catch (err) {
    await close();
    throw err;
  }
  const [confidential, pub] = effective.clients;

  return {
    issuer,
    origin,
    port,
    config: effective,
    confidentialClient: {
      client_id: confidential!.client_id!,
      client_secret: confidential!.client_secret!,
      redirect_uris: confidential!.redirect_uris!,
    },
    publicClient: { client_id: pub!.client_id!, redirect_uris: pub!.redirect_uris! },
    stats: () => testFetch("stats") as Promise<AuthServerStats>,
    resetStats: async () => {
      await testFetch("reset-stats", { method: "POST" });
    },
    failNext: async (kind, n = 1, endpoint = "token") => {
      await testFetch("fail", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ kind, count: n, endpoint }),
      });
    },
    release: async () => {
      await testFetch("release", { method: "POST" });
    },
    approveAuthorization,
    approveDevice: (userCode, opts) => approveDevice(`${origin}/device`, userCode, opts),
    logs: () => stderrText,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// -----------------------------------------------------------------------------------------------
// the "browser"

/** A minimal cookie jar: one host, names only (paths ignored), deletions honoured. */
class CookieJar {
  #cookies = new Map<string, string>();

  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = value === "";
      for (const attribute of attributes) {
        const [key = "", val = ""] = attribute.split("=").map((s) => s.trim());
        if (key.toLowerCase() === "max-age" && Number(val) <= 0) expired = true;
        if (key.toLowerCase() === "expires" && Date.parse(val) <= Date.now()) expired = true;
      }
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
}

interface Page {
  url: string;
  status: number;
  /** Present when the response was a redirect. */
  location?: string;
  html: string;
}

interface Form {
  id: string;
  action: string;
  method: string;
  fields: Record<string, string>;
}

async function request(
  jar: CookieJar,
  url: string,
  form?: Record<string, string>,
): Promise<Page> {
  const headers: Record<string, string> = { accept: "text/html" };
  const cookie = jar.header();
  if (cookie) headers.cookie = cookie;
  const init: RequestInit = { redirect: "manual", headers };
  if (form) {
    init.method = "POST";
    headers["content-type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams(form).toString();
  }
  const res = await fetch(url, init);
  jar.store(res.headers);
  const html = await res.text();
  const location = res.headers.get("location");
  const page: Page = { url, status: res.status, html };
  if (res.status >= 300 && res.status < 400 && location) {
    page.location = new URL(location, url).href;
  }
  return page;
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, "i").exec(tag);
  const raw = m?.[1] ?? m?.[2];
  return raw === undefined ? undefined : unescapeHtml(raw);
}

function unescapeHtml(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** The page's forms, with their named inputs' current values. */
function formsOf(page: Page): Form[] {
  const forms: Form[] = [];
  for (const m of page.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const open = m[1] ?? "";
    const fields: Record<string, string> = {};
    for (const input of (m[2] ?? "").matchAll(/<input\b[^>]*>/gi)) {
      const name = attr(input[0], "name");
      if (name) fields[name] = attr(input[0], "value") ?? "";
    }
    forms.push({
      id: attr(open, "id") ?? "",
      action: new URL(attr(open, "action") ?? page.url, page.url).href,
      method: (attr(open, "method") ?? "get").toLowerCase(),
      fields,
    });
  }
  return forms;
}

function pageKind(page: Page): string | undefined {
  return /<body[^>]*\sdata-page="([^"]*)"/i.exec(page.html)?.[1];
}

function describe(page: Page): string {
  const text = page.html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim().slice(0, 500);
  return `HTTP ${page.status} at ${page.url}: ${text}`;
}

function mustForm(page: Page, id: string): Form {
  const form = formsOf(page).find((f) => f.id === id);
  if (!form) throw new Error(`expected a form #${id}; got ${describe(page)}`);
  return form;
}

/** Submits the login form or the consent/deny form of an interaction page. */
function interactionStep(
  jar: CookieJar,
  page: Page,
  options: { login: string; deny?: boolean | undefined },
): Promise<Page> {
  switch (pageKind(page)) {
    case "login": {
      const form = mustForm(page, "login-form");
      return request(jar, form.action, { ...form.fields, login: options.login, password: "x" });
    }
    case "consent": {
      const form = mustForm(page, options.deny ? "deny-form" : "consent-form");
      return request(jar, form.action, form.fields);
    }
    default:
      throw new Error(`unexpected page: ${describe(page)}`);
  }
}

/**
 * Plays the user for an authorization request: opens `authorizationUrl` in a fresh cookie jar,
 * signs in as `login`, consents to every requested scope (or denies with `denyConsent`), and
 * follows the redirects up to the client's redirect URI. Returns that callback URL (with `code`,
 * `state`, `iss`, or `error`) without requesting it. Throws when the server shows an error page
 * instead (e.g. an unknown client or redirect URI).
 */
export async function approveAuthorization(
  authorizationUrl: string,
  options: ApproveOptions,
): Promise<{ callbackUrl: string }> {
  const jar = new CookieJar();
  const origin = new URL(authorizationUrl).origin;
  let page = await request(jar, authorizationUrl);
  for (let step = 0; step < 20; step++) {
    if (page.location !== undefined) {
      if (new URL(page.location).origin !== origin) return { callbackUrl: page.location };
      page = await request(jar, page.location);
      continue;
    }
    if (page.status !== 200) throw new Error(`authorization failed: ${describe(page)}`);
    page = await interactionStep(jar, page, { login: options.login, deny: options.denyConsent });
  }
  throw new Error("authorization: too many steps");
}

/**
 * Plays the user for the device flow: opens `verificationUri` (the `verification_uri`, or the
 * `verification_uri_complete` with an empty `userCode`), enters `userCode`, confirms (or aborts
 * with `deny`), signs in as `login` and consents. Throws when the server rejects the code (unknown,
 * expired, already used), with the page's text.
 */
export async function approveDevice(
  verificationUri: string,
  userCode: string,
  options: ApproveDeviceOptions,
): Promise<DeviceResult> {
  const jar = new CookieJar();
  let page = await request(jar, verificationUri);
  let codeEntered = false;
  for (let step = 0; step < 20; step++) {
    if (page.location !== undefined) {
      page = await request(jar, page.location);
      continue;
    }
    const kind = pageKind(page);
    if (kind === "device-success") return { outcome: "approved" };
    if (kind === "device-input") {
      const error = /data-error="([^"]*)"/.exec(page.html)?.[1];
      if (error === "AbortedError" && options.deny) return { outcome: "denied" };
      if (codeEntered || error) {
        throw new Error(`device code rejected (${error}): ${describe(page)}`);
      }
      const form = mustForm(page, "op.deviceInputForm");
      codeEntered = true;
      page = await request(jar, form.action, { ...form.fields, user_code: userCode });
      continue;
    }
    if (kind === "device-confirm") {
      const form = mustForm(page, "op.deviceConfirmForm");
      const fields = options.deny ? { ...form.fields, abort: "yes" } : form.fields;
      page = await request(jar, form.action, fields);
      continue;
    }
    if (kind === undefined) {
      // oidc-provider's auto-submitting form_post page (verification_uri_complete)
      const [form] = formsOf(page);
      if (form?.method === "post" && page.status === 200) {
        codeEntered = true;
        page = await request(jar, form.action, form.fields);
        continue;
      }
    }
    if (page.status !== 200) throw new Error(`device approval failed: ${describe(page)}`);
    page = await interactionStep(jar, page, options);
  }
  throw new Error("device approval: too many steps");
}
