/**
 * Proves the OAuth test harness (tests/oauth/) with plain fetch: no authsome code involved.
 */
import assert from "node:assert/strict";
import { approveDevice, type AuthServer, startAuthServer } from "./oauth/server.ts";

const REDIRECT = "http://127.0.0.1:7998/auth/callback/oauth";
const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

interface Reply {
  status: number;
  contentType: string;
  text: string;
  // deno-lint-ignore no-explicit-any
  json: any;
}

async function post(url: string, form: Record<string, string>): Promise<Reply> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", text, json };
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return { verifier, challenge: b64url(new Uint8Array(digest)) };
}

function authorizationUrl(server: AuthServer, params: Record<string, string>): string {
  const url = new URL(`${server.issuer}/auth`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

/** A full PKCE login as the confidential client; returns the token response. */
async function pkceLogin(
  server: AuthServer,
  login: string,
  scope = "read write offline_access",
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const { verifier, challenge } = await pkcePair();
  const client = server.confidentialClient;
  const { callbackUrl } = await server.approveAuthorization(
    authorizationUrl(server, {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope,
      state: "s-1",
      code_challenge: challenge,
      code_challenge_method: "S256",
    }),
    { login },
  );
  const code = new URL(callbackUrl).searchParams.get("code");
  assert.ok(code, callbackUrl);
  const token = await post(`${server.issuer}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: client.client_id,
    client_secret: client.client_secret,
  });
  assert.equal(token.status, 200, token.text);
  return token.json;
}

Deno.test("harness: a PKCE authorization-code login as the confidential client yields rotating tokens", async () => {
  await using server = await startAuthServer();
  const { verifier, challenge } = await pkcePair();
  const client = server.confidentialClient;
  // any loopback port matches the registered redirect URI (native client, RFC 8252)
  const redirectUri = "http://127.0.0.1:43210/auth/callback/oauth";
  const { callbackUrl } = await server.approveAuthorization(
    authorizationUrl(server, {
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: redirectUri,
      scope: "openid profile email read write offline_access",
      prompt: "consent", // oidc-provider keeps offline_access in the scope only with this
      state: "state-123",
      code_challenge: challenge,
      code_challenge_method: "S256",
    }),
    { login: "alice" },
  );
  const callback = new URL(callbackUrl);
  assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
  assert.equal(callback.searchParams.get("state"), "state-123");
  assert.equal(callback.searchParams.get("iss"), server.issuer); // RFC 9207
  const code = callback.searchParams.get("code");
  assert.ok(code);

  const token = await post(`${server.issuer}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: client.client_id,
    client_secret: client.client_secret,
  });
  assert.equal(token.status, 200, token.text);
  assert.equal(token.json.token_type, "Bearer");
  assert.equal(typeof token.json.access_token, "string");
  assert.equal(typeof token.json.refresh_token, "string");
  assert.equal(token.json.expires_in, 60);
  assert.deepEqual(
    token.json.scope.split(" ").sort(),
    ["email", "offline_access", "openid", "profile", "read", "write"],
  );

  const me = await fetch(`${server.issuer}/me`, {
    headers: { authorization: `Bearer ${token.json.access_token}` },
  });
  const claims = await me.json();
  assert.equal(claims.sub, "alice");
  assert.equal(claims.email, "alice@example.test");
  assert.equal(claims.name, "Alice");

  // the code is single-use...
  const replay = await post(`${server.issuer}/token`, {
    grant_type: "authorization_code",
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: client.client_id,
    client_secret: client.client_secret,
  });
  assert.equal(replay.json.error, "invalid_grant");

  // ...and replaying it revokes what it produced (RFC 6749 4.1.2)
  const after = await fetch(`${server.issuer}/me`, {
    headers: { authorization: `Bearer ${token.json.access_token}` },
  });
  assert.equal(after.status, 401);
  await after.body?.cancel();
});

Deno.test("harness: authsome's usual request (no openid, no prompt) still gets a refresh token", async () => {
  await using server = await startAuthServer();
  const token = await pkceLogin(server, "bob", "read write");
  assert.equal(typeof token.refresh_token, "string");
  assert.equal(token.scope, "read write");
  const who = await fetch(`${server.issuer}/__test/whoami`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  assert.deepEqual(
    { ...(await who.json()), exp: 0 },
    { sub: "bob", client_id: server.confidentialClient.client_id, scope: "read write", exp: 0 },
  );
});

Deno.test("harness: an authorization request without a code_challenge is rejected (PKCE required)", async () => {
  await using server = await startAuthServer();
  const { callbackUrl } = await server.approveAuthorization(
    authorizationUrl(server, {
      response_type: "code",
      client_id: server.confidentialClient.client_id,
      redirect_uri: REDIRECT,
      scope: "read",
      state: "s",
    }),
    { login: "alice" },
  );
  const params = new URL(callbackUrl).searchParams;
  assert.equal(params.get("error"), "invalid_request");
  assert.match(params.get("error_description") ?? "", /PKCE/);
  assert.equal(params.get("state"), "s");
  assert.equal((await server.stats()).token_requests["authorization_code"], undefined);
});

Deno.test("harness: denying consent sends error=access_denied to the callback", async () => {
  await using server = await startAuthServer();
  const { challenge } = await pkcePair();
  const { callbackUrl } = await server.approveAuthorization(
    authorizationUrl(server, {
      response_type: "code",
      client_id: server.confidentialClient.client_id,
      redirect_uri: REDIRECT,
      scope: "read",
      state: "s2",
      code_challenge: challenge,
      code_challenge_method: "S256",
    }),
    { login: "alice", denyConsent: true },
  );
  const params = new URL(callbackUrl).searchParams;
  assert.equal(params.get("error"), "access_denied");
  assert.equal(params.get("state"), "s2");
  assert.equal(params.get("iss"), server.issuer);
  assert.equal(params.get("code"), null);
});

Deno.test("harness: refresh rotates the refresh token; the old one is then invalid_grant", async () => {
  await using server = await startAuthServer();
  const client = server.confidentialClient;
  const first = await pkceLogin(server, "alice");
  const refresh = (refreshToken: string) =>
    post(`${server.issuer}/token`, {
      grant_type: "refresh_token",
      refresh_token: refreshToken,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });

  const second = await refresh(first.refresh_token);
  assert.equal(second.status, 200, second.text);
  assert.notEqual(second.json.refresh_token, first.refresh_token);
  assert.notEqual(second.json.access_token, first.access_token);
  assert.equal(second.json.expires_in, 60);
  // without prompt=consent oidc-provider drops offline_access from the scope (but still issues
  // refresh tokens, as configured)
  assert.equal(second.json.scope, "read write");

  const reused = await refresh(first.refresh_token);
  assert.equal(reused.status, 400);
  assert.equal(reused.json.error, "invalid_grant");

  const stats = await server.stats();
  assert.equal(stats.token_requests["refresh_token"], 2);
  assert.equal(stats.token_requests["authorization_code"], 1);
  assert.equal(stats.requests.token, 3);
});

Deno.test("harness: short access tokens expire", async () => {
  await using server = await startAuthServer({ accessTokenTTL: 1 });
  const token = await pkceLogin(server, "alice");
  assert.equal(token.expires_in, 1);
  await new Promise((r) => setTimeout(r, 1500));
  const who = await fetch(`${server.issuer}/__test/whoami`, {
    headers: { authorization: `Bearer ${token.access_token}` },
  });
  assert.equal(who.status, 401);
  await who.body?.cancel();
});

/** Polls the token endpoint as the public client until something other than pending. */
async function pollDevice(server: AuthServer, deviceCode: string, intervalMs: number) {
  for (let i = 0; i < 50; i++) {
    const reply = await post(`${server.issuer}/token`, {
      grant_type: DEVICE_GRANT,
      device_code: deviceCode,
      client_id: server.publicClient.client_id,
    });
    if (reply.json?.error !== "authorization_pending") return reply;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error("device polling never finished");
}

Deno.test("harness: device flow with the public client: approve, then polling yields tokens", async () => {
  await using server = await startAuthServer();
  const auth = await post(`${server.issuer}/device/auth`, {
    client_id: server.publicClient.client_id,
    scope: "read offline_access",
  });
  assert.equal(auth.status, 200, auth.text);
  assert.equal(auth.json.verification_uri, `${server.issuer}/device`);
  assert.equal(auth.json.interval, 1);
  assert.equal(auth.json.expires_in, 600);

  const pending = await post(`${server.issuer}/token`, {
    grant_type: DEVICE_GRANT,
    device_code: auth.json.device_code,
    client_id: server.publicClient.client_id,
  });
  assert.equal(pending.status, 400);
  assert.equal(pending.json.error, "authorization_pending");
  await server.failNext("slow_down");
  const slow = await post(`${server.issuer}/token`, {
    grant_type: DEVICE_GRANT,
    device_code: auth.json.device_code,
    client_id: server.publicClient.client_id,
  });
  assert.equal(slow.json.error, "slow_down");

  assert.deepEqual(
    await server.approveDevice(auth.json.user_code, { login: "bob" }),
    { outcome: "approved" },
  );
  const token = await pollDevice(server, auth.json.device_code, 100);
  assert.equal(token.status, 200, token.text);
  assert.equal(typeof token.json.access_token, "string");
  assert.equal(typeof token.json.refresh_token, "string");
  assert.equal(token.json.scope, "read offline_access");
  assert.equal((await server.stats()).token_requests[DEVICE_GRANT], 3);
});

Deno.test("harness: device flow: the complete verification URI, and denial ends in access_denied", async () => {
  await using server = await startAuthServer();
  const start = () =>
    post(`${server.issuer}/device/auth`, {
      client_id: server.publicClient.client_id,
      scope: "read",
    });
  const one = await start();
  assert.deepEqual(
    await approveDevice(one.json.verification_uri_complete, "", { login: "alice" }),
    { outcome: "approved" },
  );
  assert.equal((await pollDevice(server, one.json.device_code, 100)).status, 200);

  const two = await start();
  assert.deepEqual(
    await server.approveDevice(two.json.user_code, { login: "alice", deny: true }),
    { outcome: "denied" },
  );
  const denied = await pollDevice(server, two.json.device_code, 100);
  assert.equal(denied.json.error, "access_denied");

  await assert.rejects(
    server.approveDevice("BCDF-GHJK", { login: "alice" }),
    /device code rejected/,
  );
});

Deno.test("harness: an unapproved device code with a 3 s lifetime ends in expired_token", async () => {
  await using server = await startAuthServer({ deviceCodeTTL: 3 });
  const auth = await post(`${server.issuer}/device/auth`, {
    client_id: server.publicClient.client_id,
    scope: "read",
  });
  assert.equal(auth.json.expires_in, 3);
  const end = await pollDevice(server, auth.json.device_code, 250);
  assert.equal(end.json.error, "expired_token", end.text);
});

Deno.test("harness: dynamic client registration from discovery returns a usable client", async () => {
  await using server = await startAuthServer();
  const discovery = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
  assert.equal(discovery.issuer, server.issuer);
  assert.equal(discovery.authorization_response_iss_parameter_supported, true);
  assert.deepEqual(discovery.code_challenge_methods_supported, ["S256"]);
  const rfc8414 = await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`))
    .json();
  assert.equal(rfc8414.registration_endpoint, discovery.registration_endpoint);

  const res = await fetch(discovery.registration_endpoint, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "authsome dcr",
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
    }),
  });
  const registered = await res.json();
  assert.equal(res.status, 201, JSON.stringify(registered));
  assert.equal(typeof registered.client_id, "string");
  assert.deepEqual((await server.stats()).registered_clients, [registered.client_id]);

  // the new client can log in
  const { verifier, challenge } = await pkcePair();
  const { callbackUrl } = await server.approveAuthorization(
    authorizationUrl(server, {
      response_type: "code",
      client_id: registered.client_id,
      redirect_uri: REDIRECT,
      scope: "read",
      code_challenge: challenge,
      code_challenge_method: "S256",
    }),
    { login: "carol" },
  );
  const token = await post(`${server.issuer}/token`, {
    grant_type: "authorization_code",
    code: new URL(callbackUrl).searchParams.get("code") ?? "",
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    client_id: registered.client_id,
  });
  assert.equal(token.status, 200, token.text);
  assert.equal(typeof token.json.refresh_token, "string");
});

Deno.test("harness: revoking an access token makes introspection say active:false", async () => {
  await using server = await startAuthServer();
  const client = server.confidentialClient;
  const token = await pkceLogin(server, "alice");
  const auth = { client_id: client.client_id, client_secret: client.client_secret };

  const before = await post(`${server.issuer}/token/introspection`, {
    token: token.access_token,
    ...auth,
  });
  assert.equal(before.json.active, true, before.text);
  assert.equal(before.json.sub, "alice");

  assert.equal((await server.stats()).last_revocation, null);
  const revoked = await post(`${server.issuer}/token/revocation`, {
    token: token.access_token,
    token_type_hint: "access_token",
    ...auth,
  });
  assert.equal(revoked.status, 200, revoked.text);

  const after = await post(`${server.issuer}/token/introspection`, {
    token: token.access_token,
    ...auth,
  });
  assert.deepEqual(after.json, { active: false });

  const stats = await server.stats();
  assert.equal(stats.revocations, 1);
  assert.deepEqual(stats.last_revocation, {
    status: 200,
    client_id: client.client_id,
    token_type_hint: "access_token",
    token_kind: "access_token",
  });

  // revoking the refresh token ends the whole grant
  await post(`${server.issuer}/token/revocation`, { token: token.refresh_token, ...auth });
  const refresh = await post(`${server.issuer}/token`, {
    grant_type: "refresh_token",
    refresh_token: token.refresh_token,
    ...auth,
  });
  assert.equal(refresh.json.error, "invalid_grant");
});

Deno.test("harness: failNext makes the next token responses a 500, an HTML page, non-JSON, a dead connection", async () => {
  await using server = await startAuthServer();
  const client = server.confidentialClient;
  const token = await pkceLogin(server, "alice");
  const refresh = (rt: string) =>
    post(`${server.issuer}/token`, {
      grant_type: "refresh_token",
      refresh_token: rt,
      client_id: client.client_id,
      client_secret: client.client_secret,
    });

  await server.failNext("500");
  await server.failNext("html");
  await server.failNext("non-json");
  const r500 = await refresh(token.refresh_token);
  assert.equal(r500.status, 500);
  assert.equal(r500.json, undefined);
  const html = await refresh(token.refresh_token);
  assert.equal(html.status, 200);
  assert.match(html.contentType, /text\/html/);
  assert.match(html.text, /<html>/);
  const broken = await refresh(token.refresh_token);
  assert.equal(broken.status, 200);
  assert.match(broken.contentType, /application\/json/);
  assert.equal(broken.json, undefined);

  await server.failNext("drop");
  await assert.rejects(refresh(token.refresh_token));
  await server.failNext("reset", 2); // Deno's fetch retries once on a reused connection
  await assert.rejects(refresh(token.refresh_token));

  // injected failures never reached oidc-provider: the refresh token still works
  const ok = await refresh(token.refresh_token);
  assert.equal(ok.status, 200, ok.text);
  const stats = await server.stats();
  assert.equal(stats.injected_failures, 6);
  assert.equal(stats.token_requests["refresh_token"], 7);

  await server.resetStats();
  assert.deepEqual((await server.stats()).token_requests, {});
});

Deno.test("harness: the server stops when its stdin closes", async () => {
  const server = await startAuthServer();
  const { issuer } = server;
  await server.close();
  await assert.rejects(fetch(`${issuer}/.well-known/openid-configuration`));
});
