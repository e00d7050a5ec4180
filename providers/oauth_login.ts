/**
 * Runs an OAuth2 login flow end to end (pkce, device_code, dcr_pkce) over the protocol steps of
 * oauth.ts, with every side effect (network, clock, browser, terminal) passed in. Loaded lazily
 * by the service: only OAuth logins, refreshes and revocations pay for oauth4webapi and hono.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { startCallbackServer } from "./callback_server.ts";
import {
  completeAuthorization,
  discoverRegistrationEndpoint,
  type OAuthClient,
  type OAuthEndpoints,
  pollDeviceToken,
  refreshTokens,
  registerClient,
  revokeToken,
  startAuthorization,
  startDeviceAuthorization,
  type TokenSet,
} from "./oauth.ts";
import { fillBaseUrl, type Flow, type ProviderDefinition } from "./schema.ts";

export { refreshTokens, revokeToken };
export type { OAuthClient, OAuthEndpoints, TokenSet };

/** What the device flow shows the user. */
export interface DeviceCodePrompt {
  /** The provider's display name. */
  provider: string;
  /** The code to type. */
  user_code: string;
  /** Where to type it. */
  verification_uri: string;
  /** The same page with the code filled in, when the server offers one. */
  verification_uri_complete?: string;
  /** Seconds before the code expires. */
  expires_in: number;
}

/** Side effects of a login flow. */
export interface OAuthFlowIO {
  /** `fetch` for every request to the authorization server. */
  fetch: typeof fetch;
  /** The clock. */
  now: () => Date;
  /** Waits between device-code polls. */
  sleep: (ms: number) => Promise<void>;
  /** Shows (and opens) the authorization URL. */
  onAuthorizationUrl: (url: string) => void | Promise<void>;
  /** Shows the device code. */
  onDeviceCode: (prompt: DeviceCodePrompt) => void | Promise<void>;
  /** Called while the device flow waits, with the seconds left. */
  onDeviceWaiting?: ((secondsLeft: number) => void) | undefined;
  /** Port of the loopback redirect URI (0 = any free port). */
  callbackPort: number;
  /** Path of the loopback redirect URI. */
  callbackPath: string;
  /** How long to wait for the browser, in milliseconds. */
  timeoutMs: number;
  /** Aborts the wait (Ctrl-C). */
  signal?: AbortSignal | undefined;
}

/** Resolves the provider's endpoints with a base URL. */
export function endpointsFor(def: ProviderDefinition, baseUrl: string | undefined): OAuthEndpoints {
  const o = def.oauth;
  if (o === undefined) {
    throw new AuthsomeError("NOT_ALLOWED", `${def.display_name} does not use OAuth2`);
  }
  const base = baseUrl ?? o.base_url;
  const out: OAuthEndpoints = {
    authorization_url: fillBaseUrl(o.authorization_url, base),
    token_url: fillBaseUrl(o.token_url, base),
  };
  if (o.issuer) out.issuer = fillBaseUrl(o.issuer, base);
  if (o.resource) out.resource = o.resource;
  if (o.revocation_url) out.revocation_url = fillBaseUrl(o.revocation_url, base);
  if (o.device_authorization_url) {
    out.device_authorization_url = fillBaseUrl(o.device_authorization_url, base);
  }
  if (o.registration_endpoint) {
    out.registration_endpoint = fillBaseUrl(o.registration_endpoint, base);
  }
  return out;
}

/** The result of a login flow: tokens, and the client when the flow registered one. */
export interface FlowResult {
  /** The tokens obtained. */
  tokens: TokenSet;
  /** A client registered by dcr_pkce, to be stored for the next logins. */
  registeredClient?: OAuthClient & { redirect_uri: string };
}

/**
 * Runs `flow` and returns the tokens. For `dcr_pkce` without a client, registers one first at
 * the provider's registration endpoint or the one RFC 8414 discovery finds.
 */
export async function runOAuthFlow(options: {
  flow: Exclude<Flow, "api_key">;
  def: ProviderDefinition;
  endpoints: OAuthEndpoints;
  client: OAuthClient | undefined;
  scopes: string[];
  io: OAuthFlowIO;
}): Promise<FlowResult> {
  const { flow, endpoints, scopes, io } = options;
  if (flow === "device_code") {
    const client = requireClient(options.client, options.def);
    const device = await startDeviceAuthorization({ endpoints, client, scopes, fetch: io.fetch });
    const prompt: DeviceCodePrompt = {
      provider: options.def.display_name,
      user_code: device.user_code,
      verification_uri: device.verification_uri,
      expires_in: device.expires_in,
    };
    if (device.verification_uri_complete) {
      prompt.verification_uri_complete = device.verification_uri_complete;
    }
    await io.onDeviceCode(prompt);
    const tokens = await pollDeviceToken({
      endpoints,
      client,
      device,
      fetch: io.fetch,
      now: io.now,
      sleep: io.sleep,
      scopes,
      jsonBody: options.def.oauth?.device_token_request === "json",
      ...(io.onDeviceWaiting ? { onPending: io.onDeviceWaiting } : {}),
    });
    return { tokens };
  }

  let state: string | undefined;
  const server = await startCallbackServer({
    expectedState: () => state, // known once the authorization URL is built, below
    port: io.callbackPort,
    path: io.callbackPath,
    timeoutMs: io.timeoutMs,
    ...(io.signal ? { signal: io.signal } : {}),
  });
  try {
    let client = options.client;
    let registeredClient: FlowResult["registeredClient"];
    if (client === undefined && flow === "dcr_pkce") {
      const endpoint = endpoints.registration_endpoint ??
        await discoverRegistrationEndpoint({
          authorizationUrl: endpoints.authorization_url,
          fetch: io.fetch,
        });
      if (endpoint === undefined) {
        throw new AuthsomeError(
          "AUTH_FAILED",
          `${options.def.display_name} offers no dynamic client registration endpoint`,
          { hint: "Give a client with --client-id, or use --flow pkce" },
        );
      }
      client = await registerClient({
        registrationEndpoint: endpoint,
        redirectUri: server.redirectUri,
        clientName: `authsome-${options.def.name}`,
        scopes,
        fetch: io.fetch,
      });
      registeredClient = { ...client, redirect_uri: server.redirectUri };
    }
    client = requireClient(client, options.def);
    const start = await startAuthorization({
      endpoints,
      client,
      redirectUri: server.redirectUri,
      scopes,
    });
    state = start.state;
    await io.onAuthorizationUrl(start.url.href);
    const params = await server.waitForCallback();
    const tokens = await completeAuthorization({
      endpoints,
      client,
      redirectUri: server.redirectUri,
      callbackParams: params,
      expectedState: start.state,
      codeVerifier: start.codeVerifier,
      fetch: io.fetch,
      now: io.now,
    });
    return registeredClient ? { tokens, registeredClient } : { tokens };
  } finally {
    await server.close();
  }
}

function requireClient(client: OAuthClient | undefined, def: ProviderDefinition): OAuthClient {
  if (client === undefined || client.client_id === "") {
    const env = def.oauth?.client?.client_id_env;
    throw new AuthsomeError("AUTH_FAILED", `No OAuth client ID for ${def.display_name}`, {
      hint: env ? `Set ${env} or pass --client-id` : "Pass --client-id",
    });
  }
  return client;
}
