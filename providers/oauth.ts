/**
 * The OAuth 2.0 protocol steps of authsome: the PKCE authorization code flow, refresh, the device
 * authorization grant (RFC 8628), dynamic client registration (RFC 7591) with RFC 8414 discovery,
 * and revocation (RFC 7009). Every step goes through `oauth4webapi`.
 *
 * No hidden I/O: each function takes the `fetch` it sends with (and a clock where time matters),
 * builds the request, sends it, and turns the `Response` into a typed result or an
 * {@linkcode AuthsomeError}. Messages are one line and never contain a token, a code or a secret.
 *
 * Error codes (exit statuses):
 *
 * | what went wrong | login steps | refresh |
 * |---|---|---|
 * | `fetch` threw (connection refused, DNS, 30 s timeout) | `ENDPOINT_UNREACHABLE` (8) | `ENDPOINT_UNREACHABLE` (8) |
 * | the server answered with an OAuth error (`invalid_grant`, …) | `AUTH_FAILED` (2) | `CREDENTIAL_MISSING` (5) |
 * | HTTP 5xx, a non-JSON body (an HTML page), a malformed token response | `AUTH_FAILED` (2) | `ENDPOINT_UNREACHABLE` (8) |
 *
 * A refresh the server refused means "log in again"; any other refresh failure proves nothing
 * about the stored tokens, so the caller keeps the record as it is.
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import { AuthsomeError } from "../errors.ts";
import {
  authorizationError,
  classify,
  clean,
  deviceExpired,
  type Failure,
  failure,
  oauthRefusal,
  ProtocolFailure,
} from "./oauth_errors.ts";

/** An OAuth client: public (no secret, token endpoint auth `none`) or confidential (`client_secret_post`). */
export interface OAuthClient {
  /** The client identifier. */
  client_id: string;
  /** The client secret; absent for a public client. */
  client_secret?: string;
}

/** The endpoints of one authorization server, with `{base_url}` already filled in. */
export interface OAuthEndpoints {
  /**
   * The configured issuer identifier (`oauth.issuer`). With it, the `iss` of the authorization
   * response (RFC 9207) and of an ID token must equal it exactly. Without it the origin of
   * `authorization_url` stands in (for Google that is the ID token issuer, which the token
   * endpoint's origin is not); an `iss` that differs is checked against the server's discovery
   * document, and an ID token naming another issuer is dropped (see
   * {@linkcode TokenSet.unverified_id_token}) instead of failing the login.
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
  /** RFC 7591 registration endpoint. */
  registration_endpoint?: string;
  /**
   * The RFC 8707 resource indicator: sent as `resource` on the authorization request, the code
   * exchange and every refresh, so the access token is bound to that resource.
   */
  resource?: string;
  /**
   * True when the server's metadata says it always sends `iss` in authorization responses
   * (`authorization_response_iss_parameter_supported`); a response without it is then refused.
   */
  iss_parameter_supported?: boolean;
}

/** Identity claims taken from a validated OpenID Connect ID token. */
export interface IdTokenClaims {
  /** Subject identifier. */
  sub?: string;
  /** Full name. */
  name?: string;
  /** E-mail address. */
  email?: string;
  /** Preferred user name. */
  preferred_username?: string;
}

/** The tokens one successful grant produced. */
export interface TokenSet {
  /** The access token. */
  access_token: string;
  /** The refresh token, only when the server sent one (a refresh that does not rotate sends none). */
  refresh_token?: string;
  /** The token type (`Bearer` for the usual lower-case `bearer`). */
  token_type: string;
  /** When the access token expires (ISO 8601, from `expires_in` and the clock), or null when unknown. */
  expires_at: string | null;
  /** The granted `scope` when the server returned one, else the requested scopes. */
  scopes: string[];
  /** Identity claims from the ID token, when the server sent one. */
  id_token_claims?: IdTokenClaims;
  /** Who the user is, for display: preferred_username, email, name or sub from the ID token. */
  account_label?: string;
  /**
   * Set when no issuer is configured and the ID token (or the RFC 9207 `iss`) could not be
   * verified: the ID token was dropped (no claims, no label) and the tokens kept. `issuer` is the
   * issuer the server named (unverified), null when it named none.
   */
  unverified_id_token?: { issuer: string | null };
}

/** What {@linkcode startAuthorization} returns: the URL to open and the values to keep for the callback. */
export interface AuthorizationStart {
  /** The authorization URL to open in the browser. */
  url: URL;
  /** The `state` sent; the callback must carry the same. */
  state: string;
  /** The PKCE code verifier; a secret until the code exchange. */
  codeVerifier: string;
}

/** A device authorization response (RFC 8628 §3.2). */
export interface DeviceAuthorization {
  /** The device code; a secret, sent only to the token endpoint. */
  device_code: string;
  /** The code the user types at the verification URI. */
  user_code: string;
  /** Where the user goes. */
  verification_uri: string;
  /** The verification URI with the user code already in it, when the server sends one. */
  verification_uri_complete?: string;
  /** Seconds until the device code expires (900 when the server does not say). */
  expires_in: number;
  /** Seconds to wait between polls (5 when the server does not say). */
  interval: number;
}

/** A source of random bytes; `crypto.getRandomValues` by default. */
export type RandomBytes = (byteLength: number) => Uint8Array;

const REQUEST_TIMEOUT_MS = 30_000;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** Transport failures in a row that device polling rides out before giving up. */
const DEVICE_POLL_RETRIES = 3;

/**
 * Builds the authorization URL of a PKCE login: `response_type=code`, `client_id`,
 * `redirect_uri`, a random `state`, an S256 `code_challenge`, and `scope` (space-joined) when
 * scopes are given. Query parameters already in `authorization_url` are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startAuthorization } from "./oauth.ts";
 * const { url, state, codeVerifier } = await startAuthorization({
 *   endpoints: { authorization_url: "https://as.example/authorize", token_url: "https://as.example/token" },
 *   client: { client_id: "abc" },
 *   redirectUri: "http://127.0.0.1:7998/auth/callback/oauth",
 *   scopes: ["read", "write"],
 * });
 * assert.equal(url.searchParams.get("code_challenge_method"), "S256");
 * ```
 */
export async function startAuthorization(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  redirectUri: string;
  scopes: readonly string[];
  random?: RandomBytes;
}): Promise<AuthorizationStart> {
  const { endpoints, client, redirectUri, scopes, random } = options;
  checkClient(client);
  const url = endpointUrl(endpoints.authorization_url, "authorization endpoint");
  const state = random === undefined ? oauth.generateRandomState() : base64url(random(32));
  const codeVerifier = random === undefined
    ? oauth.generateRandomCodeVerifier()
    : base64url(random(32));
  const challenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const query = url.searchParams;
  query.set("response_type", "code");
  query.set("client_id", client.client_id);
  query.set("redirect_uri", redirectUri);
  if (scopes.length > 0) query.set("scope", scopes.join(" "));
  else query.delete("scope");
  query.set("state", state);
  query.set("code_challenge", challenge);
  query.set("code_challenge_method", "S256");
  if (endpoints.resource !== undefined) query.set("resource", endpoints.resource);
  return { url, state, codeVerifier };
}

/**
 * Checks the parameters the browser brought back to the redirect URI and exchanges the code for
 * tokens. In order: `state` must equal `expectedState` (else `AUTH_FAILED` "OAuth state
 * mismatch"); `iss`, when present, must equal the issuer (RFC 9207); an `error` becomes
 * `AUTH_FAILED` naming the server's error code; then the code is exchanged with the PKCE verifier.
 * An ID token is not required (GitHub and most OAuth-only providers send none); when one comes it
 * is validated and its identity claims are kept.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { completeAuthorization } from "./oauth.ts";
 * const fakeFetch = () => Promise.resolve(Response.json({ access_token: "t", token_type: "bearer", expires_in: 60 }));
 * const tokens = await completeAuthorization({
 *   endpoints: { authorization_url: "https://as.example/authorize", token_url: "https://as.example/token" },
 *   client: { client_id: "abc" },
 *   redirectUri: "http://127.0.0.1:7998/auth/callback/oauth",
 *   callbackParams: new URLSearchParams({ code: "c", state: "s" }),
 *   expectedState: "s",
 *   codeVerifier: "v".repeat(43),
 *   fetch: fakeFetch,
 *   now: () => new Date("2030-01-01T00:00:00Z"),
 * });
 * assert.equal(tokens.expires_at, "2030-01-01T00:01:00.000Z");
 * ```
 */
export async function completeAuthorization(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  redirectUri: string;
  callbackParams: URLSearchParams;
  expectedState: string;
  codeVerifier: string;
  fetch: typeof fetch;
  now: () => Date;
  /** The scopes asked for, reported when the server does not say which it granted. */
  scopes?: readonly string[];
}): Promise<TokenSet> {
  const { endpoints, client, callbackParams: params } = options;
  checkClient(client);
  const as = authorizationServer(endpoints);
  const state = params.get("state");
  if (state !== options.expectedState) {
    throw new AuthsomeError("AUTH_FAILED", "OAuth state mismatch", {
      hint: "Start the login again; the browser answered for a different login attempt",
    });
  }
  const iss = params.get("iss");
  const check = await issuerCheck(endpoints, iss, options.fetch);
  if (iss === null && endpoints.iss_parameter_supported === true) {
    throw new AuthsomeError("AUTH_FAILED", "The authorization response has no issuer (iss)", {
      hint: "Start the login again",
    });
  }
  const error = params.get("error");
  if (error !== null) throw authorizationError(error, params.get("error_description"));
  if (!params.get("code")) {
    throw new AuthsomeError("AUTH_FAILED", "The authorization response has no code", {
      hint: "Start the login again",
    });
  }
  const oc = oauthClient(client);
  let validated: URLSearchParams;
  try {
    // `iss` was checked above, against what this server turned out to be.
    const rest = new URLSearchParams(params);
    rest.delete("iss");
    validated = oauth.validateAuthResponse(as, oc, rest, options.expectedState);
  } catch (cause) {
    // The checks above give the precise messages; this also refuses implicit-flow parameters.
    throw new AuthsomeError("AUTH_FAILED", "The authorization response is not valid", { cause });
  }
  const tokenUrl = endpointUrl(endpoints.token_url, "token endpoint");
  const grant = { url: tokenUrl, phase: "login" as const, ...options };
  const tokens = await tokenGrant(grant, async () => {
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      oc,
      clientAuth(client),
      validated,
      options.redirectUri,
      options.codeVerifier,
      { ...httpOptions(tokenUrl, options.fetch), ...resourceParameter(endpoints) },
    );
    return await processTokens(
      response,
      check,
      (server, r, opts) => oauth.processAuthorizationCodeResponse(server, oc, r, opts),
    );
  });
  if (check.unverifiedIss !== undefined && tokens.unverified_id_token === undefined) {
    // The ID token verified against the origin, yet the response named another issuer.
    tokens.unverified_id_token = { issuer: check.unverifiedIss };
    delete tokens.id_token_claims;
    delete tokens.account_label;
  }
  return tokens;
}

/**
 * Runs one token-endpoint grant (send, then process its response) and turns the result into a
 * {@linkcode TokenSet}, or any failure into the one-line error of `phase`.
 */
async function tokenGrant(
  options: {
    url: URL;
    phase: "login" | "refresh";
    scopes?: readonly string[];
    now: () => Date;
  },
  grant: () => Promise<Processed>,
): Promise<TokenSet> {
  try {
    const { result, unverified } = await grant();
    const set = tokenSet(
      result,
      options.scopes ?? [],
      options.now,
      oauth.getValidatedIdTokenClaims(result),
    );
    if (unverified !== undefined) set.unverified_id_token = unverified;
    return set;
  } catch (error) {
    throw failure(error, { url: options.url, endpoint: "token endpoint", phase: options.phase });
  }
}

/**
 * Exchanges a refresh token for new tokens. `refresh_token` is in the result only when the
 * server rotated it; the caller keeps the old one otherwise. A refusal by the server (e.g.
 * `invalid_grant`) is `CREDENTIAL_MISSING` (exit 5: log in again); an unreachable endpoint, an
 * HTTP 5xx or a body that is not a token response is `ENDPOINT_UNREACHABLE` (exit 8) and says
 * nothing about the stored tokens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refreshTokens } from "./oauth.ts";
 * const fakeFetch = () => Promise.resolve(Response.json({ access_token: "new", token_type: "Bearer" }));
 * const tokens = await refreshTokens({
 *   endpoints: { authorization_url: "https://as.example/authorize", token_url: "https://as.example/token" },
 *   client: { client_id: "abc", client_secret: "s3cret" },
 *   refreshToken: "r1",
 *   fetch: fakeFetch,
 *   now: () => new Date(),
 * });
 * assert.equal(tokens.refresh_token, undefined); // not rotated: keep "r1"
 * ```
 */
export async function refreshTokens(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  refreshToken: string;
  fetch: typeof fetch;
  now: () => Date;
  /** The scopes held so far, reported when the server does not say which it granted. */
  scopes?: readonly string[];
}): Promise<TokenSet> {
  const { endpoints, client } = options;
  checkClient(client);
  if (options.refreshToken === "") {
    throw new AuthsomeError("CREDENTIAL_MISSING", "There is no refresh token", {
      hint: "Log in again with --force",
    });
  }
  const as = authorizationServer(endpoints);
  const oc = oauthClient(client);
  const tokenUrl = endpointUrl(endpoints.token_url, "token endpoint");
  return await tokenGrant({ url: tokenUrl, phase: "refresh", ...options }, async () => {
    const response = await oauth.refreshTokenGrantRequest(
      as,
      oc,
      clientAuth(client),
      options.refreshToken,
      { ...httpOptions(tokenUrl, options.fetch), ...resourceParameter(endpoints) },
    );
    return await processTokens(
      response,
      defaultCheck(endpoints),
      (server, r, opts) => oauth.processRefreshTokenResponse(server, oc, r, opts),
    );
  });
}

/**
 * Starts the device authorization grant (RFC 8628 §3.1): asks the device authorization endpoint
 * for a device code and a user code. Google's `verification_url` spelling is accepted; a missing
 * `expires_in` means 900 s and a missing `interval` 5 s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startDeviceAuthorization } from "./oauth.ts";
 * const fakeFetch = () => Promise.resolve(Response.json({
 *   device_code: "d", user_code: "ABCD-EFGH", verification_uri: "https://as.example/device", expires_in: 600,
 * }));
 * const device = await startDeviceAuthorization({
 *   endpoints: {
 *     authorization_url: "https://as.example/authorize",
 *     token_url: "https://as.example/token",
 *     device_authorization_url: "https://as.example/device/code",
 *   },
 *   client: { client_id: "abc" },
 *   scopes: ["read"],
 *   fetch: fakeFetch,
 * });
 * assert.deepEqual([device.user_code, device.interval], ["ABCD-EFGH", 5]);
 * ```
 */
export async function startDeviceAuthorization(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  scopes: readonly string[];
  fetch: typeof fetch;
}): Promise<DeviceAuthorization> {
  const { endpoints, client } = options;
  checkClient(client);
  if (endpoints.device_authorization_url === undefined) {
    throw new AuthsomeError("NOT_ALLOWED", "This provider has no device authorization endpoint", {
      hint: "Use another flow, e.g. --flow pkce",
    });
  }
  const url = endpointUrl(endpoints.device_authorization_url, "device authorization endpoint");
  const as = authorizationServer(endpoints);
  const oc = oauthClient(client);
  const parameters = new URLSearchParams();
  if (options.scopes.length > 0) parameters.set("scope", options.scopes.join(" "));
  const where = { url, endpoint: "device authorization endpoint", phase: "login" } as const;
  try {
    const raw = await oauth.deviceAuthorizationRequest(
      as,
      oc,
      clientAuth(client),
      parameters,
      httpOptions(url, options.fetch),
    );
    const response = await withDeviceDefaults(raw);
    const result = await consumed(
      response,
      () => oauth.processDeviceAuthorizationResponse(as, oc, response),
    );
    const device: DeviceAuthorization = {
      device_code: result.device_code,
      user_code: result.user_code,
      verification_uri: result.verification_uri,
      expires_in: result.expires_in,
      interval: result.interval ?? 5,
    };
    if (result.verification_uri_complete !== undefined) {
      device.verification_uri_complete = result.verification_uri_complete;
    }
    return device;
  } catch (error) {
    throw failure(error, where);
  }
}

/**
 * Polls the token endpoint until the user approves the device code (RFC 8628 §3.4-3.5). It waits
 * `interval` seconds (at least 1) with the given `sleep` before every poll; `authorization_pending`
 * goes on polling, `slow_down` adds 5 s to the interval, `access_denied` is `AUTH_FAILED`
 * "The authorization was denied", and `expired_token` or passing `expires_in` on the clock is
 * `AUTH_FAILED` "The device code expired". Up to three transport failures in a row (unreachable,
 * an HTTP status without an OAuth error, not JSON) are ridden out; the fourth is thrown.
 *
 * `jsonBody` selects the provider's `device_token_request: "json"` variant: a JSON body
 * `{"device_code": …}` without `grant_type` (Postiz), sent with plain `fetch`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pollDeviceToken } from "./oauth.ts";
 * const answers = [
 *   Response.json({ error: "authorization_pending" }, { status: 400 }),
 *   Response.json({ access_token: "t", token_type: "bearer" }),
 * ];
 * const tokens = await pollDeviceToken({
 *   endpoints: { authorization_url: "https://as.example/authorize", token_url: "https://as.example/token" },
 *   client: { client_id: "abc" },
 *   device: { device_code: "d", user_code: "U", verification_uri: "https://as.example/device", expires_in: 600, interval: 5 },
 *   fetch: () => Promise.resolve(answers.shift()!),
 *   now: () => new Date(),
 *   sleep: () => Promise.resolve(),
 * });
 * assert.equal(tokens.access_token, "t");
 * ```
 */
export async function pollDeviceToken(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  device: DeviceAuthorization;
  fetch: typeof fetch;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
  /** Called after each "not yet" answer with the seconds left before the code expires. */
  onPending?: (secondsLeft: number) => void;
  /** The JSON variant of the poll request (`device_token_request: "json"`). */
  jsonBody?: boolean;
  /** The scopes asked for, reported when the server does not say which it granted. */
  scopes?: readonly string[];
}): Promise<TokenSet> {
  const { device, now } = options;
  if (options.jsonBody !== true) checkClient(options.client);
  const tokenUrl = endpointUrl(options.endpoints.token_url, "token endpoint");
  const where = { url: tokenUrl, endpoint: "token endpoint", phase: "login" } as const;
  const deadline = now().getTime() + device.expires_in * 1000;
  let interval = Math.max(device.interval, 1);
  let transportFailures = 0;
  for (;;) {
    await options.sleep(interval * 1000);
    if (now().getTime() >= deadline) throw deviceExpired();
    let outcome: Failure;
    try {
      return options.jsonBody === true
        ? await pollJson(options, tokenUrl)
        : await pollForm(options, tokenUrl);
    } catch (error) {
      outcome = classify(error);
      // A well-formed answer we cannot accept will not get better by asking again.
      if (outcome.kind === "other" || outcome.kind === "invalid") throw failure(error, where);
      if (outcome.kind !== "oauth") {
        transportFailures += 1;
        if (transportFailures > DEVICE_POLL_RETRIES) throw failure(error, where);
        continue;
      }
    }
    transportFailures = 0;
    switch (outcome.error) {
      case "authorization_pending":
        break;
      case "slow_down":
        interval += 5;
        break;
      case "access_denied":
        throw new AuthsomeError("AUTH_FAILED", "The authorization was denied (access_denied)", {
          hint: "Approve the request in the browser, or start again",
        });
      case "expired_token":
        throw deviceExpired();
      default:
        throw oauthRefusal(outcome, where);
    }
    options.onPending?.(Math.max(0, Math.ceil((deadline - now().getTime()) / 1000)));
  }
}

async function pollForm(
  options: Parameters<typeof pollDeviceToken>[0],
  tokenUrl: URL,
): Promise<TokenSet> {
  const as = authorizationServer(options.endpoints);
  const oc = oauthClient(options.client);
  const response = await oauth.deviceCodeGrantRequest(
    as,
    oc,
    clientAuth(options.client),
    options.device.device_code,
    httpOptions(tokenUrl, options.fetch),
  );
  const { result, unverified } = await processTokens(
    response,
    defaultCheck(options.endpoints),
    (server, r, opts) => oauth.processDeviceCodeResponse(server, oc, r, opts),
  );
  const set = tokenSet(
    result,
    options.scopes ?? [],
    options.now,
    oauth.getValidatedIdTokenClaims(result),
  );
  if (unverified !== undefined) set.unverified_id_token = unverified;
  return set;
}

/** The `json` poll variant; oauth4webapi only speaks the form-encoded grant, so plain fetch. */
async function pollJson(
  options: Parameters<typeof pollDeviceToken>[0],
  tokenUrl: URL,
): Promise<TokenSet> {
  const response = await send(options.fetch, tokenUrl.href, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ device_code: options.device.device_code }),
    redirect: "manual",
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    if (response.status >= 300) {
      throw new ProtocolFailure({ kind: "status", status: response.status });
    }
    throw new ProtocolFailure({ kind: "not_json" });
  }
  const json = isObject(body) ? body : {};
  if (typeof json.error === "string" && json.error !== "") {
    throw new ProtocolFailure({ kind: "oauth", error: json.error, status: response.status });
  }
  if (response.status !== 200) {
    throw new ProtocolFailure({ kind: "status", status: response.status });
  }
  if (typeof json.access_token !== "string" || json.access_token === "") {
    throw new ProtocolFailure({ kind: "invalid", detail: "a response without access_token" });
  }
  const expiresIn = typeof json.expires_in === "string"
    ? Number.parseFloat(json.expires_in)
    : json.expires_in;
  return tokenSet(
    {
      access_token: json.access_token,
      token_type: typeof json.token_type === "string" ? json.token_type.toLowerCase() : "bearer",
      expires_in: typeof expiresIn === "number" && Number.isFinite(expiresIn)
        ? expiresIn
        : undefined,
      refresh_token: typeof json.refresh_token === "string" ? json.refresh_token : undefined,
      scope: typeof json.scope === "string" ? json.scope : undefined,
    },
    options.scopes ?? [],
    options.now,
    undefined,
  );
}

/**
 * Registers authsome as an OAuth client (RFC 7591): a native app with exactly `redirectUri`,
 * grant types `authorization_code` and `refresh_token`, response type `code`, and
 * `client_secret_post` requested. The result is confidential when the server returned a secret,
 * public otherwise. A 200 answer is accepted like the standard 201.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerClient } from "./oauth.ts";
 * const fakeFetch = () => Promise.resolve(Response.json({ client_id: "new-client" }, { status: 201 }));
 * const client = await registerClient({
 *   registrationEndpoint: "https://as.example/register",
 *   redirectUri: "http://127.0.0.1:7998/auth/callback/oauth",
 *   clientName: "authsome-linear",
 *   scopes: ["read"],
 *   fetch: fakeFetch,
 * });
 * assert.deepEqual(client, { client_id: "new-client" });
 * ```
 */
export async function registerClient(options: {
  registrationEndpoint: string;
  redirectUri: string;
  clientName: string;
  scopes: readonly string[];
  fetch: typeof fetch;
}): Promise<OAuthClient> {
  const url = endpointUrl(options.registrationEndpoint, "registration endpoint");
  const as: oauth.AuthorizationServer = { issuer: url.origin, registration_endpoint: url.href };
  const metadata: Partial<oauth.OmitSymbolProperties<oauth.Client>> = {
    client_name: options.clientName,
    application_type: "native",
    redirect_uris: [options.redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
  };
  if (options.scopes.length > 0) metadata.scope = options.scopes.join(" ");
  const where = { url, endpoint: "registration endpoint", phase: "login" } as const;
  try {
    const raw = await oauth.dynamicClientRegistrationRequest(
      as,
      metadata,
      httpOptions(url, options.fetch),
    );
    // Some servers answer 200 instead of RFC 7591's 201; the body is the same.
    const response = raw.status === 200
      ? new Response(raw.body, { status: 201, headers: raw.headers })
      : raw;
    const result = await consumed(
      response,
      () => oauth.processDynamicClientRegistrationResponse(response),
    );
    const client: OAuthClient = { client_id: result.client_id };
    // oauth4webapi has refused an empty client_secret already.
    if (typeof result.client_secret === "string") client.client_secret = result.client_secret;
    return client;
  } catch (error) {
    throw failure(error, where);
  }
}

/**
 * Finds a registration endpoint by metadata discovery at the origin of the authorization URL:
 * RFC 8414 `/.well-known/oauth-authorization-server` first, then
 * `/.well-known/openid-configuration`. Undefined when neither document exists, is valid for that
 * issuer, or names a `registration_endpoint`; `ENDPOINT_UNREACHABLE` when the server cannot be
 * reached.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { discoverRegistrationEndpoint } from "./oauth.ts";
 * const fakeFetch = (url: string | URL | Request) =>
 *   Promise.resolve(String(url).endsWith("/.well-known/oauth-authorization-server")
 *     ? Response.json({ issuer: "https://as.example", registration_endpoint: "https://as.example/register" })
 *     : new Response("not found", { status: 404 }));
 * const found = await discoverRegistrationEndpoint({
 *   authorizationUrl: "https://as.example/authorize",
 *   fetch: fakeFetch,
 * });
 * assert.equal(found, "https://as.example/register");
 * ```
 */
export async function discoverRegistrationEndpoint(options: {
  authorizationUrl: string;
  fetch: typeof fetch;
}): Promise<string | undefined> {
  const issuer = new URL(endpointUrl(options.authorizationUrl, "authorization endpoint").origin);
  for (const algorithm of ["oauth2", "oidc"] as const) {
    const response = await oauth.discoveryRequest(issuer, {
      ...httpOptions(issuer, options.fetch),
      algorithm,
    });
    try {
      const metadata = await consumed(
        response,
        () => oauth.processDiscoveryResponse(issuer, response),
      );
      if (typeof metadata.registration_endpoint === "string") return metadata.registration_endpoint;
    } catch (error) {
      if (classify(error).kind === "other") throw error;
    }
  }
  return undefined;
}

/**
 * Revokes a token at the revocation endpoint (RFC 7009), with the client's authentication and an
 * optional `token_type_hint`; true when revoked. `ENDPOINT_UNREACHABLE` when the endpoint cannot be reached,
 * `AUTH_FAILED` with the server's error code (or HTTP status) otherwise, `NOT_ALLOWED` when the
 * provider has no revocation endpoint.
 *
 * @example
 * ```ts
 * import { revokeToken } from "./oauth.ts";
 * await revokeToken({
 *   endpoints: {
 *     authorization_url: "https://as.example/authorize",
 *     token_url: "https://as.example/token",
 *     revocation_url: "https://as.example/revoke",
 *   },
 *   client: { client_id: "abc" },
 *   token: "t",
 *   tokenTypeHint: "access_token",
 *   fetch: () => Promise.resolve(new Response(null, { status: 200 })),
 * });
 * ```
 */
export async function revokeToken(options: {
  endpoints: OAuthEndpoints;
  client: OAuthClient;
  token: string;
  tokenTypeHint?: "access_token" | "refresh_token";
  fetch: typeof fetch;
  /**
   * Answer false instead of failing when the server says `unsupported_token_type` (RFC 7009
   * §2.2.1: it cannot revoke that kind of token, e.g. a self-contained JWT access token).
   */
  unsupportedIsFine?: boolean;
}): Promise<boolean> {
  const { endpoints, client } = options;
  checkClient(client);
  if (endpoints.revocation_url === undefined) {
    throw new AuthsomeError("NOT_ALLOWED", "This provider has no revocation endpoint");
  }
  const url = endpointUrl(endpoints.revocation_url, "revocation endpoint");
  const as = authorizationServer(endpoints);
  const oc = oauthClient(client);
  const where = { url, endpoint: "revocation endpoint", phase: "revoke" } as const;
  try {
    const request: oauth.RevocationRequestOptions = httpOptions(url, options.fetch);
    if (options.tokenTypeHint !== undefined) {
      request.additionalParameters = { token_type_hint: options.tokenTypeHint };
    }
    const raw = await oauth.revocationRequest(as, oc, clientAuth(client), options.token, request);
    // RFC 7009 says 200; a 204 No Content means the same.
    const response = raw.status === 204 ? new Response(null, { status: 200 }) : raw;
    await consumed(response, () => oauth.processRevocationResponse(response));
    if (!response.bodyUsed) await response.body?.cancel();
    return true;
  } catch (error) {
    const f = classify(error);
    if (options.unsupportedIsFine && f.kind === "oauth" && f.error === "unsupported_token_type") {
      return false;
    }
    throw failure(error, where);
  }
}

// ---- internals -------------------------------------------------------------------------------

/**
 * JWS algorithms an ID token may be signed with when the server's metadata does not list its
 * own. oauth4webapi accepts only RS256 by default; it verifies no signature of an ID token from
 * the token endpoint (the TLS connection authenticates it, OpenID Connect Core §3.1.3.7), so the
 * algorithm the server names is taken as long as it is a standard asymmetric one.
 */
const ID_TOKEN_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** How the ID token of a token response is checked. */
interface IdTokenCheck {
  endpoints: OAuthEndpoints;
  /** The issuer the ID token must name. */
  issuer: string;
  /** A configured issuer: a token that fails is an error. Otherwise it is dropped. */
  strict: boolean;
  /** JWS algorithms accepted. */
  algorithms: readonly string[];
  /** An RFC 9207 `iss` that could not be checked (the server has no discovery document). */
  unverifiedIss?: string;
}

/** A processed token response, and the issuer of an ID token that was dropped. */
interface Processed {
  result: oauth.TokenEndpointResponse;
  unverified?: { issuer: string | null };
}

/** The check without an authorization response: the configured issuer, else the origin. */
function defaultCheck(endpoints: OAuthEndpoints): IdTokenCheck {
  const issuer = endpoints.issuer ??
    endpointUrl(endpoints.authorization_url, "authorization endpoint").origin;
  return {
    endpoints,
    issuer,
    strict: endpoints.issuer !== undefined,
    algorithms: ID_TOKEN_ALGORITHMS,
  };
}

/**
 * Checks the RFC 9207 `iss` of an authorization response and returns how the ID token is to be
 * checked. A configured issuer must be matched exactly. Otherwise an `iss` other than the origin
 * of the authorization endpoint is compared with the server's discovery document; without one it
 * cannot be checked and is only noted.
 */
async function issuerCheck(
  endpoints: OAuthEndpoints,
  iss: string | null,
  fetchFn: typeof fetch,
): Promise<IdTokenCheck> {
  const check = defaultCheck(endpoints);
  if (iss === null || iss === check.issuer) return check;
  if (check.strict) throw issuerMismatch(iss, check.issuer);
  const metadata = await discoverIssuer(endpoints.authorization_url, iss, fetchFn);
  if (metadata === undefined) return { ...check, unverifiedIss: iss };
  if (metadata.issuer !== iss) throw issuerMismatch(iss, metadata.issuer);
  return { ...check, issuer: iss, algorithms: metadata.algorithms ?? check.algorithms };
}

function issuerMismatch(iss: string, expected: string): AuthsomeError {
  return new AuthsomeError(
    "AUTH_FAILED",
    `The authorization response came from issuer ${clean(iss, 100)}, expected ${
      clean(expected, 100)
    }`,
    { hint: "Check the provider's endpoints; this can be a mix-up attack" },
  );
}

/**
 * The issuer (and ID token algorithms) of the server's metadata, looked for at the origin of the
 * authorization endpoint: first the well-known paths of `iss` when it is on that origin and has a
 * path, then RFC 8414's and OpenID's root documents. Undefined when there is none.
 */
async function discoverIssuer(
  authorizationUrl: string,
  iss: string,
  fetchFn: typeof fetch,
): Promise<{ issuer: string; algorithms?: string[] } | undefined> {
  const origin = endpointUrl(authorizationUrl, "authorization endpoint").origin;
  const urls = [
    `${origin}/.well-known/oauth-authorization-server`,
    `${origin}/.well-known/openid-configuration`,
  ];
  const named = URL.canParse(iss) ? new URL(iss) : undefined;
  if (named?.origin === origin && named.pathname !== "/") {
    const path = named.pathname.replace(/\/+$/, "");
    urls.unshift(
      `${origin}/.well-known/oauth-authorization-server${path}`,
      `${origin}${path}/.well-known/openid-configuration`,
    );
  }
  for (const url of urls) {
    const response = await send(fetchFn, url, {
      headers: { accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    let body: unknown;
    try {
      body = response.status === 200 ? await response.json() : undefined;
    } catch {
      body = undefined;
    }
    if (!response.bodyUsed) await response.body?.cancel().catch(() => {});
    if (!isObject(body) || typeof body.issuer !== "string") continue;
    const algs = body.id_token_signing_alg_values_supported;
    const algorithms = Array.isArray(algs)
      ? algs.filter((a): a is string => typeof a === "string" && a !== "none")
      : undefined;
    return algorithms === undefined || algorithms.length === 0
      ? { issuer: body.issuer }
      : { issuer: body.issuer, algorithms };
  }
  return undefined;
}

/**
 * Processes a token response with oauth4webapi, shaped where the library is stricter than the
 * servers people use: a `token_type` other than Bearer or DPoP (Slack's `bot`, `user`) is taken as
 * the server names it, and without a configured issuer an ID token naming another issuer (or
 * signed with an algorithm not accepted) is dropped and its issuer reported, instead of failing.
 */
async function processTokens(
  response: Response,
  check: IdTokenCheck,
  process: (
    as: oauth.AuthorizationServer,
    response: Response,
    options: oauth.ProcessTokenResponseOptions,
  ) => Promise<oauth.TokenEndpointResponse>,
): Promise<Processed> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    throw new ProtocolFailure({ kind: "cut_off" });
  }
  const again = (body: string) =>
    new Response(NULL_BODY.has(response.status) ? null : body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const options: oauth.ProcessTokenResponseOptions = {};
  const type = isObject(json) && typeof json.token_type === "string"
    ? json.token_type.toLowerCase()
    : undefined;
  if (
    type !== undefined && type !== "bearer" && type !== "dpop" && /^[a-z0-9_.-]{1,40}$/.test(type)
  ) {
    options.recognizedTokenTypes = { [type]: () => {} };
  }
  const as = {
    ...authorizationServer(check.endpoints),
    issuer: check.issuer,
    id_token_signing_alg_values_supported: [...check.algorithms],
  };
  try {
    return { result: await process(as, again(text), options) };
  } catch (error) {
    const idToken = isObject(json) ? json.id_token : undefined;
    if (typeof idToken !== "string" || !isIdTokenIssue(error)) throw error;
    const named = unverifiedIssuer(idToken);
    if (check.strict) {
      if (named !== null && named !== check.issuer) {
        throw new ProtocolFailure({
          kind: "invalid",
          detail: `an ID token from issuer ${clean(named, 100)}, expected ${check.issuer}`,
        });
      }
      const alg = algorithmOf(error);
      if (alg !== undefined) {
        throw new ProtocolFailure({
          kind: "invalid",
          detail: `an ID token signed with ${clean(alg, 20)}, which its metadata does not list`,
        });
      }
      throw error;
    }
    const { id_token: _, ...rest } = json as Record<string, unknown>;
    return {
      result: await process(as, again(JSON.stringify(rest)), options),
      unverified: { issuer: named },
    };
  }
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** An ID token that names another issuer or an algorithm not accepted. */
function isIdTokenIssue(error: unknown): boolean {
  if (!(error instanceof oauth.OperationProcessingError)) return false;
  const cause: unknown = error.cause;
  if (error.code === oauth.JWT_CLAIM_COMPARISON) return isObject(cause) && cause.claim === "iss";
  return error.code === oauth.INVALID_RESPONSE && isObject(cause) && isObject(cause.header) &&
    "reason" in cause;
}

/** The `alg` an ID token was refused for, if that was the reason. */
function algorithmOf(error: unknown): string | undefined {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  return isObject(cause) && isObject(cause.header) && typeof cause.header.alg === "string"
    ? cause.header.alg
    : undefined;
}

/** The `iss` claim of a JWT, read without any check (for messages only); null when absent. */
function unverifiedIssuer(jwt: string): string | null {
  try {
    const payload = jwt.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const claims: unknown = JSON.parse(new TextDecoder().decode(
      Uint8Array.from(json, (c) => c.charCodeAt(0)),
    ));
    return isObject(claims) && typeof claims.iss === "string" ? clean(claims.iss, 200) : null;
  } catch {
    return null;
  }
}

function checkClient(client: OAuthClient): void {
  if (typeof client.client_id !== "string" || client.client_id === "") {
    throw new AuthsomeError("INVALID_INPUT", "The OAuth client ID is empty", {
      hint: "Pass --client-id or set the provider's client ID environment variable",
    });
  }
}

function oauthClient(client: OAuthClient): oauth.Client {
  return { client_id: client.client_id };
}

function clientAuth(client: OAuthClient): oauth.ClientAuth {
  return client.client_secret === undefined || client.client_secret === ""
    ? oauth.None()
    : oauth.ClientSecretPost(client.client_secret);
}

function authorizationServer(endpoints: OAuthEndpoints): oauth.AuthorizationServer {
  const issuer = endpoints.issuer ??
    endpointUrl(endpoints.authorization_url, "authorization endpoint").origin;
  const as: Record<string, string> = {
    issuer,
    authorization_endpoint: endpoints.authorization_url,
    token_endpoint: endpoints.token_url,
  };
  if (endpoints.revocation_url !== undefined) as.revocation_endpoint = endpoints.revocation_url;
  if (endpoints.device_authorization_url !== undefined) {
    as.device_authorization_endpoint = endpoints.device_authorization_url;
  }
  if (endpoints.registration_endpoint !== undefined) {
    as.registration_endpoint = endpoints.registration_endpoint;
  }
  return as as oauth.AuthorizationServer;
}

/** Parses an endpoint URL: https, or http on a loopback host only. */
function endpointUrl(value: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AuthsomeError("INVALID_INPUT", `The ${name} is not a valid URL`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url))) {
    throw new AuthsomeError("INVALID_INPUT", `The ${name} of ${url.host} must be an https URL`);
  }
  return url;
}

function isLoopback(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/** The RFC 8707 `resource` of a token request, when the endpoints name one. */
function resourceParameter(
  endpoints: OAuthEndpoints,
): { additionalParameters?: Record<string, string> } {
  return endpoints.resource === undefined
    ? {}
    : { additionalParameters: { resource: endpoints.resource } };
}

/** Transport options for one oauth4webapi call: our fetch, a timeout, http only for loopback. */
function httpOptions(url: URL, fetchFn: typeof fetch) {
  return {
    [oauth.customFetch]: <M, B>(input: string, init: oauth.CustomFetchOptions<M, B>) =>
      send(fetchFn, input, init as RequestInit),
    // endpointUrl() has refused plain http anywhere but on loopback.
    [oauth.allowInsecureRequests]: url.protocol === "http:",
    signal: () => AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  };
}

async function send(fetchFn: typeof fetch, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetchFn(url, init);
  } catch (cause) {
    const host = new URL(url).host;
    const timedOut = cause instanceof DOMException && cause.name === "TimeoutError";
    throw new AuthsomeError(
      "ENDPOINT_UNREACHABLE",
      timedOut ? `Cannot reach ${host}: no answer within 30 s` : `Cannot reach ${host}`,
      { hint: "Check the network connection and the provider's URL", cause },
    );
  }
}

/** Runs a processing step and releases the body it left unread when it fails. */
async function consumed<T>(response: Response, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (!response.bodyUsed) await response.body?.cancel().catch(() => {});
    throw error;
  }
}

/** Fills the RFC 8628 defaults oauth4webapi does not (Google's spelling, a missing `expires_in`). */
async function withDeviceDefaults(response: Response): Promise<Response> {
  if (response.status !== 200) return response;
  let body: unknown;
  try {
    body = await response.clone().json();
  } catch {
    return response;
  }
  if (!isObject(body)) return response;
  const fixed: Record<string, unknown> = { ...body };
  if (fixed.verification_uri === undefined && typeof fixed.verification_url === "string") {
    fixed.verification_uri = fixed.verification_url;
  }
  if (fixed.expires_in === undefined) fixed.expires_in = 900;
  await response.body?.cancel();
  return new Response(JSON.stringify(fixed), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

interface TokenFields {
  access_token: string;
  token_type: string;
  expires_in?: number | undefined;
  refresh_token?: string | undefined;
  scope?: string | undefined;
}

function tokenSet(
  fields: TokenFields,
  requested: readonly string[],
  now: () => Date,
  claims: oauth.IDToken | undefined,
): TokenSet {
  const set: TokenSet = {
    access_token: fields.access_token,
    token_type: fields.token_type === "bearer" ? "Bearer" : fields.token_type,
    expires_at: typeof fields.expires_in === "number"
      ? new Date(now().getTime() + fields.expires_in * 1000).toISOString()
      : null,
    // GitHub and Slack separate granted scopes with commas.
    scopes: typeof fields.scope === "string"
      ? fields.scope.split(/[\s,]+/).filter((s) => s !== "")
      : [...requested],
  };
  if (typeof fields.refresh_token === "string" && fields.refresh_token !== "") {
    set.refresh_token = fields.refresh_token;
  }
  if (claims !== undefined) {
    const picked: IdTokenClaims = {};
    for (const key of ["sub", "name", "email", "preferred_username"] as const) {
      const value = claims[key];
      if (typeof value === "string" && value !== "") picked[key] = value;
    }
    set.id_token_claims = picked;
    const label = picked.preferred_username ?? picked.email ?? picked.name ?? picked.sub;
    if (label !== undefined) set.account_label = label;
  }
  return set;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
