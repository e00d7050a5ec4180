import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import {
  completeAuthorization,
  type DeviceAuthorization,
  discoverRegistrationEndpoint,
  type OAuthClient,
  type OAuthEndpoints,
  pollDeviceToken,
  refreshTokens,
  registerClient,
  revokeToken,
  startAuthorization,
  startDeviceAuthorization,
} from "./oauth.ts";

// ---- helpers ---------------------------------------------------------------------------------

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

type Answer = Response | Error | (() => Response);

/** A fetch that records each request and answers from a list, in order. */
function fakeFetch(...answers: Answer[]): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    sent.push({
      url: request.url,
      method: request.method,
      headers: request.headers,
      body: await request.text(),
    });
    const answer = answers.shift();
    if (answer === undefined) throw new Error("unexpected request");
    if (answer instanceof Error) throw answer;
    return typeof answer === "function" ? answer() : answer;
  };
  return { fetch: fn as typeof fetch, sent };
}

const endpoints: OAuthEndpoints = {
  authorization_url: "https://as.example/authorize",
  token_url: "https://as.example/token",
  revocation_url: "https://as.example/revoke",
  device_authorization_url: "https://as.example/device/code",
};
const publicClient = { client_id: "cli-app" };
const secretClient = { client_id: "cli-app", client_secret: "CLIENT-SECRET-xyz" };
const redirectUri = "http://127.0.0.1:7998/auth/callback/oauth";
const fixedNow = () => new Date("2030-01-01T00:00:00.000Z");

const html = (status: number) =>
  new Response("<html><body>Internal failure TOPSECRET-BODY</body></html>", {
    status,
    headers: { "content-type": "text/html" },
  });

function isAuthsome(exitCode: number, message?: RegExp | string) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, `expected AuthsomeError, got ${e}`);
    assert.equal(e.exitCode, exitCode, `exit code of "${e.message}"`);
    if (typeof message === "string") assert.equal(e.message, message);
    else if (message !== undefined) assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"), "one line");
    for (const secret of ["TOPSECRET", "CLIENT-SECRET", "the-code", "VERIFIER", "REFRESH-1"]) {
      assert.ok(!e.message.includes(secret), `no secret in "${e.message}"`);
    }
    return true;
  };
}

function complete(
  params: Record<string, string>,
  fetchFn: typeof fetch,
  more: Partial<Parameters<typeof completeAuthorization>[0]> = {},
) {
  return completeAuthorization({
    endpoints,
    client: secretClient,
    redirectUri,
    callbackParams: new URLSearchParams(params),
    expectedState: "S1",
    codeVerifier: "VERIFIER-0123456789-0123456789-0123456789-abc",
    fetch: fetchFn,
    now: fixedNow,
    ...more,
  });
}

async function sha256Base64url(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function b64url(value: unknown): string {
  return btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// ---- authorization URL -----------------------------------------------------------------------

Deno.test("the authorization URL carries an S256 challenge, state, scope and the exact redirect URI", async () => {
  const start = await startAuthorization({
    endpoints: { ...endpoints, authorization_url: "https://as.example/authorize?audience=api" },
    client: publicClient,
    redirectUri,
    scopes: ["read", "write:all"],
  });
  const q = start.url.searchParams;
  assert.equal(start.url.origin + start.url.pathname, "https://as.example/authorize");
  assert.equal(q.get("audience"), "api");
  assert.equal(q.get("response_type"), "code");
  assert.equal(q.get("client_id"), "cli-app");
  assert.equal(q.get("redirect_uri"), redirectUri);
  assert.equal(q.get("scope"), "read write:all");
  assert.equal(q.get("state"), start.state);
  assert.equal(q.get("code_challenge_method"), "S256");
  assert.equal(q.get("code_challenge"), await sha256Base64url(start.codeVerifier));
  assert.ok(start.state.length >= 22 && start.codeVerifier.length >= 43);
  assert.equal(q.get("code_verifier"), null);
});

Deno.test("each authorization gets a fresh state and verifier, from the injected random source", async () => {
  let n = 0;
  const random = (size: number) => new Uint8Array(size).fill(++n);
  const a = await startAuthorization({
    endpoints,
    client: publicClient,
    redirectUri,
    scopes: [],
    random,
  });
  assert.equal(a.url.searchParams.has("scope"), false);
  assert.notEqual(a.state, a.codeVerifier);
  const b = await startAuthorization({ endpoints, client: publicClient, redirectUri, scopes: [] });
  const c = await startAuthorization({ endpoints, client: publicClient, redirectUri, scopes: [] });
  assert.notEqual(b.state, c.state);
  assert.notEqual(b.codeVerifier, c.codeVerifier);
});

Deno.test("plain http endpoints are refused unless the host is loopback", async () => {
  await assert.rejects(
    startAuthorization({
      endpoints: { ...endpoints, authorization_url: "http://as.example/authorize" },
      client: publicClient,
      redirectUri,
      scopes: [],
    }),
    isAuthsome(65, /must be an https URL/),
  );
  const { fetch, sent } = fakeFetch(
    Response.json({ access_token: "A", token_type: "bearer" }),
  );
  const local = {
    authorization_url: "http://127.0.0.1:9/authorize",
    token_url: "http://127.0.0.1:9/token",
  };
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch, { endpoints: local });
  assert.equal(tokens.access_token, "A");
  assert.equal(sent[0]?.url, "http://127.0.0.1:9/token");
});

// ---- callback checks -------------------------------------------------------------------------

Deno.test("a callback with another state is refused before any request", async () => {
  const { fetch, sent } = fakeFetch();
  await assert.rejects(
    complete({ code: "the-code", state: "S2" }, fetch),
    isAuthsome(2, "OAuth state mismatch"),
  );
  await assert.rejects(
    complete({ code: "the-code" }, fetch),
    isAuthsome(2, "OAuth state mismatch"),
  );
  assert.equal(sent.length, 0);
});

Deno.test("error=access_denied is a denied authorization, exit 2", async () => {
  const { fetch, sent } = fakeFetch();
  await assert.rejects(
    complete({ error: "access_denied", state: "S1" }, fetch),
    isAuthsome(2, "The authorization was denied (access_denied)"),
  );
  await assert.rejects(
    complete({ error: "invalid_scope", error_description: "bad\nscope <x>", state: "S1" }, fetch),
    isAuthsome(2, "The authorization server returned an error (invalid_scope): bad scope <x>"),
  );
  assert.equal(sent.length, 0);
});

/**
 * A fetch whose server publishes `metadata` at every well-known path (null: none, 404); other
 * requests are answered from `answers` and recorded in `sent`.
 */
function discoveryFetch(metadata: Record<string, unknown> | null, ...answers: Answer[]) {
  const inner = fakeFetch(...answers);
  const discovery: string[] = [];
  const fn = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new Request(input, init).url;
    if (!url.includes("/.well-known/")) return inner.fetch(input, init);
    discovery.push(new URL(url).pathname);
    return Promise.resolve(
      metadata === null ? new Response("no", { status: 404 }) : Response.json(metadata),
    );
  };
  return { fetch: fn as typeof fetch, sent: inner.sent, discovery };
}

function idToken(claims: Record<string, unknown>, alg = "RS256"): string {
  const now = Math.floor(Date.now() / 1000);
  return [
    b64url({ alg, typ: "JWT" }),
    b64url({ sub: "u-1", aud: "cli-app", iat: now, exp: now + 300, ...claims }),
    "c2lnbmF0dXJl",
  ].join(".");
}

Deno.test("an iss that is not the issuer is refused (RFC 9207): against oauth.issuer, or else the discovery document; nothing is exchanged", async () => {
  const evil = { code: "the-code", state: "S1", iss: "https://evil.example" };
  const unconfigured = discoveryFetch({ issuer: "https://as.example" });
  await assert.rejects(
    complete(evil, unconfigured.fetch),
    exactly(
      "AUTH_FAILED",
      "The authorization response came from issuer https://evil.example, expected https://as.example",
      "Check the provider's endpoints; this can be a mix-up attack",
    ),
  );
  assert.deepEqual(unconfigured.discovery, ["/.well-known/oauth-authorization-server"]);
  const configured = discoveryFetch({ issuer: "https://evil.example" });
  await assert.rejects(
    complete(evil, configured.fetch, {
      endpoints: { ...endpoints, issuer: "https://as.example/tenant" },
    }),
    exactly(
      "AUTH_FAILED",
      "The authorization response came from issuer https://evil.example, expected https://as.example/tenant",
      "Check the provider's endpoints; this can be a mix-up attack",
    ),
  );
  assert.deepEqual(configured.discovery, [], "a configured issuer is not looked up");
  assert.equal(unconfigured.sent.length + configured.sent.length, 0);

  // The origin of the authorization endpoint needs no lookup.
  const plain = discoveryFetch(null, Response.json({ access_token: "A", token_type: "bearer" }));
  const tokens = await complete({ ...evil, iss: "https://as.example" }, plain.fetch);
  assert.equal(tokens.access_token, "A");
  assert.deepEqual(plain.discovery, []);
});

Deno.test("without oauth.issuer, an iss with a path that the discovery document confirms verifies the ID token", async () => {
  const { fetch, discovery } = discoveryFetch(
    { issuer: "https://as.example/realms/dev", id_token_signing_alg_values_supported: ["ES256"] },
    Response.json({
      access_token: "A",
      token_type: "Bearer",
      id_token: idToken(
        { iss: "https://as.example/realms/dev", preferred_username: "ada" },
        "ES256",
      ),
    }),
  );
  const tokens = await complete(
    { code: "the-code", state: "S1", iss: "https://as.example/realms/dev" },
    fetch,
  );
  assert.equal(tokens.account_label, "ada");
  assert.equal(tokens.unverified_id_token, undefined);
  assert.deepEqual(discovery, ["/.well-known/oauth-authorization-server/realms/dev"]);
});

Deno.test("without oauth.issuer, an ID token naming another issuer is dropped, not fatal: tokens kept, no label, the issuer reported", async () => {
  const answer = () =>
    Response.json({
      access_token: "A",
      refresh_token: "R",
      token_type: "Bearer",
      id_token: idToken({ iss: "https://login.example/tenant/v2.0", name: "Ada" }),
    });
  // No iss in the callback (Entra, Okta): the origin stands in, the ID token names another.
  const none = discoveryFetch(null, answer());
  const tokens = await complete({ code: "the-code", state: "S1" }, none.fetch);
  assert.equal(tokens.access_token, "A");
  assert.equal(tokens.refresh_token, "R");
  assert.equal(tokens.account_label, undefined);
  assert.equal(tokens.id_token_claims, undefined);
  assert.deepEqual(tokens.unverified_id_token, { issuer: "https://login.example/tenant/v2.0" });
  // An iss the server has no discovery document for cannot be checked: noted, not fatal.
  const noDoc = discoveryFetch(null, answer());
  const second = await complete(
    { code: "the-code", state: "S1", iss: "https://login.example/tenant/v2.0" },
    noDoc.fetch,
  );
  assert.deepEqual(second.unverified_id_token, { issuer: "https://login.example/tenant/v2.0" });
  // The same at refresh.
  const refreshed = await refreshTokens({
    endpoints,
    client: publicClient,
    refreshToken: "R",
    fetch: discoveryFetch(null, answer()).fetch,
    now: fixedNow,
  });
  assert.equal(refreshed.access_token, "A");
  assert.deepEqual(refreshed.unverified_id_token, { issuer: "https://login.example/tenant/v2.0" });
});

Deno.test("with oauth.issuer, an ID token naming another issuer fails the login (2) naming both", async () => {
  const { fetch } = discoveryFetch(
    null,
    Response.json({
      access_token: "A",
      token_type: "Bearer",
      id_token: idToken({ iss: "https://as.example" }),
    }),
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch, {
      endpoints: { ...endpoints, issuer: "https://as.example/oauth2/default" },
    }),
    exactly(
      "AUTH_FAILED",
      "The token endpoint of as.example sent an ID token from issuer https://as.example, expected https://as.example/oauth2/default",
      null,
    ),
  );
});

Deno.test("ID tokens signed with ES256, PS256 or EdDSA and token types such as Slack's bot are accepted", async () => {
  for (const alg of ["ES256", "PS256", "EdDSA"]) {
    const { fetch } = discoveryFetch(
      null,
      Response.json({
        access_token: "A",
        token_type: "bearer",
        id_token: idToken({ iss: "https://as.example", email: "ada@example.com" }, alg),
      }),
    );
    const tokens = await complete({ code: "the-code", state: "S1" }, fetch, {
      endpoints: { ...endpoints, issuer: "https://as.example" },
    });
    assert.equal(tokens.account_label, "ada@example.com", alg);
  }
  for (const type of ["bot", "user"]) {
    const { fetch } = discoveryFetch(
      null,
      Response.json({ access_token: "xoxb-A", token_type: type }),
    );
    const tokens = await complete({ code: "the-code", state: "S1" }, fetch);
    assert.equal(tokens.token_type, type);
  }
  // HS256 (keyed with the client secret) is not taken, strictly or otherwise.
  const hs = () =>
    Response.json({
      access_token: "A",
      token_type: "bearer",
      id_token: idToken({ iss: "https://as.example" }, "HS256"),
    });
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, discoveryFetch(null, hs()).fetch, {
      endpoints: { ...endpoints, issuer: "https://as.example" },
    }),
    exactly(
      "AUTH_FAILED",
      "The token endpoint of as.example sent an ID token signed with HS256, which its metadata does not list",
      null,
    ),
  );
  const lenient = await complete(
    { code: "the-code", state: "S1" },
    discoveryFetch(null, hs()).fetch,
  );
  assert.deepEqual(lenient.unverified_id_token, { issuer: "https://as.example" });
});

Deno.test("a server that promises iss must send it", async () => {
  const { fetch } = fakeFetch();
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch, {
      endpoints: { ...endpoints, iss_parameter_supported: true },
    }),
    isAuthsome(2, /no issuer/),
  );
});

// ---- code exchange ---------------------------------------------------------------------------

Deno.test("a successful exchange sends the verifier and yields a TokenSet with expires_at from now()", async () => {
  const { fetch, sent } = fakeFetch(
    Response.json({
      access_token: "ACCESS-1",
      token_type: "bearer",
      expires_in: 3600,
      refresh_token: "REFRESH-1",
      scope: "read",
    }),
  );
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch, {
    scopes: ["read", "write"],
  });
  assert.deepEqual(tokens, {
    access_token: "ACCESS-1",
    refresh_token: "REFRESH-1",
    token_type: "Bearer",
    expires_at: "2030-01-01T01:00:00.000Z",
    scopes: ["read"],
  });
  const req = sent[0]!;
  assert.equal(req.method, "POST");
  assert.equal(req.url, "https://as.example/token");
  assert.match(req.headers.get("content-type") ?? "", /application\/x-www-form-urlencoded/);
  assert.equal(req.headers.get("accept"), "application/json");
  const body = new URLSearchParams(req.body);
  assert.equal(body.get("grant_type"), "authorization_code");
  assert.equal(body.get("code"), "the-code");
  assert.equal(body.get("redirect_uri"), redirectUri);
  assert.equal(body.get("code_verifier"), "VERIFIER-0123456789-0123456789-0123456789-abc");
  assert.equal(body.get("client_id"), "cli-app");
  assert.equal(body.get("client_secret"), "CLIENT-SECRET-xyz");
});

Deno.test("a public client sends no secret; without expires_in or scope the requested scopes stand", async () => {
  const { fetch, sent } = fakeFetch(Response.json({ access_token: "A", token_type: "Bearer" }));
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch, {
    client: publicClient,
    scopes: ["repo", "read:user"],
  });
  assert.equal(tokens.expires_at, null);
  assert.deepEqual(tokens.scopes, ["repo", "read:user"]);
  assert.equal(tokens.refresh_token, undefined);
  const body = new URLSearchParams(sent[0]!.body);
  assert.equal(body.get("client_id"), "cli-app");
  assert.equal(body.has("client_secret"), false);
});

Deno.test("GitHub-style comma-separated granted scopes are split", async () => {
  const { fetch } = fakeFetch(
    Response.json({ access_token: "A", token_type: "bearer", scope: "repo,read:user" }),
  );
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch);
  assert.deepEqual(tokens.scopes, ["repo", "read:user"]);
});

Deno.test("an ID token gives identity claims and an account label", async () => {
  const now = Math.floor(Date.now() / 1000);
  const idToken = [
    b64url({ alg: "RS256", typ: "JWT" }),
    b64url({
      iss: "https://as.example",
      sub: "u-1",
      aud: "cli-app",
      iat: now,
      exp: now + 300,
      email: "ada@example.com",
      name: "Ada",
    }),
    "c2lnbmF0dXJl",
  ].join(".");
  const { fetch } = fakeFetch(
    Response.json({ access_token: "A", token_type: "bearer", id_token: idToken }),
  );
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch);
  assert.deepEqual(tokens.id_token_claims, { sub: "u-1", name: "Ada", email: "ada@example.com" });
  assert.equal(tokens.account_label, "ada@example.com");
});

Deno.test("an invalid_grant during login is exit 2 naming the error code", async () => {
  const { fetch } = fakeFetch(
    Response.json({ error: "invalid_grant", error_description: "code TOPSECRET used" }, {
      status: 400,
    }),
    // GitHub answers errors with HTTP 200
    Response.json({ error: "bad_verification_code" }),
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch),
    isAuthsome(2, "The token endpoint of as.example refused the request (invalid_grant)"),
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch),
    isAuthsome(2, /refused the request \(bad_verification_code\)/),
  );
});

Deno.test("a 500, an HTML page or a non-JSON body from the token endpoint is one clear line at login", async () => {
  const cases: Array<[Response, string]> = [
    [html(500), "The token endpoint of as.example answered HTTP 500"],
    [html(502), "The token endpoint of as.example answered HTTP 502"],
    [html(200), "The token endpoint of as.example answered with something that is not JSON"],
    [html(400), "The token endpoint of as.example answered with something that is not JSON"],
    [
      new Response("TOPSECRET{", { headers: { "content-type": "application/json" } }),
      "The token endpoint of as.example answered with something that is not JSON",
    ],
    [
      Response.json({ token_type: "bearer" }),
      "The token endpoint of as.example sent an invalid response",
    ],
  ];
  for (const [answer, message] of cases) {
    const { fetch } = fakeFetch(answer);
    await assert.rejects(
      complete({ code: "the-code", state: "S1" }, fetch),
      isAuthsome(2, message),
    );
  }
});

Deno.test("an answer whose connection breaks inside the JSON body is exit 8, not 'not JSON'", async () => {
  const cut = () =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"access_token": "'));
          controller.error(new TypeError("error reading a body from connection"));
        },
      }),
      { headers: { "content-type": "application/json" } },
    );
  const { fetch } = fakeFetch(cut());
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch),
    isAuthsome(8, "The token endpoint of as.example broke off its answer"),
  );
});

Deno.test("fetch throwing is exit 8 'Cannot reach <host>'", async () => {
  const { fetch } = fakeFetch(
    new TypeError("error sending request: Connection refused (os error 111)"),
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch),
    isAuthsome(8, "Cannot reach as.example"),
  );
});

// ---- refresh ---------------------------------------------------------------------------------

function refresh(fetchFn: typeof fetch, client: OAuthClient = secretClient) {
  return refreshTokens({
    endpoints,
    client,
    refreshToken: "REFRESH-1",
    fetch: fetchFn,
    now: fixedNow,
    scopes: ["read"],
  });
}

Deno.test("a refresh with rotation returns the new refresh token", async () => {
  const { fetch, sent } = fakeFetch(
    Response.json({
      access_token: "A2",
      token_type: "bearer",
      expires_in: 60,
      refresh_token: "R2",
    }),
  );
  const tokens = await refresh(fetch);
  assert.equal(tokens.access_token, "A2");
  assert.equal(tokens.refresh_token, "R2");
  assert.equal(tokens.expires_at, "2030-01-01T00:01:00.000Z");
  assert.deepEqual(tokens.scopes, ["read"]);
  const body = new URLSearchParams(sent[0]!.body);
  assert.equal(body.get("grant_type"), "refresh_token");
  assert.equal(body.get("refresh_token"), "REFRESH-1");
  assert.equal(body.get("client_id"), "cli-app");
  assert.equal(body.get("client_secret"), "CLIENT-SECRET-xyz");
});

Deno.test("a refresh without rotation returns no refresh token, so the caller keeps the old one", async () => {
  const { fetch } = fakeFetch(Response.json({ access_token: "A2", token_type: "bearer" }));
  const tokens = await refresh(fetch, publicClient);
  assert.equal("refresh_token" in tokens, false);
});

Deno.test("a refresh token rejected with invalid_grant is exit 5", async () => {
  const { fetch } = fakeFetch(
    Response.json({ error: "invalid_grant" }, { status: 400 }),
    Response.json({ error: "invalid_client" }, { status: 401 }),
  );
  await assert.rejects(
    refresh(fetch),
    isAuthsome(5, "The refresh token was rejected (invalid_grant)"),
  );
  await assert.rejects(refresh(fetch), isAuthsome(5, /refused the refresh \(invalid_client\)/));
});

Deno.test("an unreachable, failing or non-JSON token endpoint during refresh is exit 8", async () => {
  const answers: Array<[Answer, string]> = [
    [new TypeError("Connection refused"), "Cannot reach as.example"],
    [html(500), "The token endpoint of as.example answered HTTP 500"],
    [html(503), "The token endpoint of as.example answered HTTP 503"],
    [html(200), "The token endpoint of as.example answered with something that is not JSON"],
  ];
  for (const [answer, message] of answers) {
    const { fetch } = fakeFetch(answer);
    await assert.rejects(refresh(fetch), isAuthsome(8, message));
  }
});

Deno.test("refresh: every kind of answer maps to its exit code, message and hint", async () => {
  const challenge = (error: string) =>
    new Response(null, {
      status: 401,
      headers: { "www-authenticate": `Bearer error="${error}", error_description="x"` },
    });
  const cases: Array<[Answer, number, string, string | undefined]> = [
    [
      Response.json({ error: "invalid_grant" }, { status: 400 }),
      5,
      "The refresh token was rejected (invalid_grant)",
      "Log in again with --force",
    ],
    [
      Response.json({ error: "invalid_scope" }, { status: 400 }),
      5,
      "The token endpoint of as.example refused the refresh (invalid_scope)",
      "Log in again with --force",
    ],
    // GitHub answers a refused refresh with HTTP 200.
    [
      Response.json({ error: "bad_refresh_token", error_description: "gone" }),
      5,
      "The token endpoint of as.example refused the refresh (bad_refresh_token)",
      "Log in again with --force",
    ],
    [
      challenge("invalid_token"),
      5,
      "The token endpoint of as.example refused the refresh (invalid_token)",
      "Log in again with --force",
    ],
    [
      new Response(null, { status: 401, headers: { "www-authenticate": 'Bearer realm="x"' } }),
      5,
      "The token endpoint of as.example refused the refresh (invalid_client)",
      "Log in again with --force",
    ],
    [
      Response.json({ error: "in valid\u0000_grant\u00e9" + "x".repeat(80) }, { status: 400 }),
      5,
      `The token endpoint of as.example refused the refresh (invalid_grant${"x".repeat(51)})`,
      "Log in again with --force",
    ],
    [
      Response.json({ error: "\u00e9\u00e9" }, { status: 400 }),
      5,
      "The token endpoint of as.example refused the refresh (unknown_error)",
      "Log in again with --force",
    ],
    [
      html(502),
      8,
      "The token endpoint of as.example answered HTTP 502",
      "The provider may be having problems; try again later",
    ],
    [
      html(200),
      8,
      "The token endpoint of as.example answered with something that is not JSON",
      "Check the provider's endpoint URLs; this is not an OAuth endpoint",
    ],
    [
      Response.json({ token_type: "bearer" }),
      8,
      "The token endpoint of as.example sent an invalid response",
      undefined,
    ],
    [
      Response.json({ access_token: "", token_type: "bearer" }),
      8,
      "The token endpoint of as.example sent an invalid response",
      undefined,
    ],
    [
      Response.json({ access_token: "A", token_type: "mac token" }),
      8,
      "The token endpoint of as.example sent an unsupported token type",
      undefined,
    ],
    [
      Response.json(["access_token"]),
      8,
      "The token endpoint of as.example sent an invalid response",
      undefined,
    ],
    [
      new TypeError("Connection refused"),
      8,
      "Cannot reach as.example",
      "Check the network connection and the provider's URL",
    ],
    [
      new DOMException("timed out", "TimeoutError"),
      8,
      "Cannot reach as.example: no answer within 30 s",
      "Check the network connection and the provider's URL",
    ],
    [
      new DOMException("aborted", "AbortError"),
      8,
      "Cannot reach as.example",
      "Check the network connection and the provider's URL",
    ],
  ];
  for (const [answer, code, message, hint] of cases) {
    const { fetch } = fakeFetch(answer);
    await assert.rejects(refresh(fetch), (e: unknown) => {
      isAuthsome(code, message)(e);
      assert.equal((e as AuthsomeError).hint, hint, message);
      return true;
    });
  }
});

Deno.test("refresh: the token set is normalised (Bearer, expiry from now, scopes as granted); an empty refresh token is refused", async () => {
  const { fetch } = fakeFetch(
    Response.json({
      access_token: "A",
      token_type: "bearer",
      expires_in: 90,
      scope: "read,write  admin",
    }),
    Response.json({ access_token: "A", token_type: "DPoP" }),
    Response.json({ access_token: "A", token_type: "bearer", refresh_token: "" }),
  );
  assert.deepEqual(await refresh(fetch), {
    access_token: "A",
    token_type: "Bearer",
    expires_at: "2030-01-01T00:01:30.000Z",
    scopes: ["read", "write", "admin"],
  });
  // Other token types are kept as the server spelled them (lower-cased by oauth4webapi).
  assert.deepEqual(await refresh(fetch), {
    access_token: "A",
    token_type: "dpop",
    expires_at: null,
    scopes: ["read"],
  });
  await assert.rejects(
    refresh(fetch),
    isAuthsome(8, "The token endpoint of as.example sent an invalid response"),
  );
});

Deno.test("refresh: an empty client ID, an empty refresh token and bad endpoint URLs are refused before any request", async () => {
  const { fetch, sent } = fakeFetch();
  await assert.rejects(refresh(fetch, { client_id: "" }), (e: unknown) => {
    isAuthsome(65, "The OAuth client ID is empty")(e);
    assert.equal(
      (e as AuthsomeError).hint,
      "Pass --client-id or set the provider's client ID environment variable",
    );
    return true;
  });
  await assert.rejects(
    refreshTokens({ endpoints, client: secretClient, refreshToken: "", fetch, now: fixedNow }),
    (e: unknown) => {
      isAuthsome(5, "There is no refresh token")(e);
      assert.equal((e as AuthsomeError).hint, "Log in again with --force");
      return true;
    },
  );
  for (
    const [token_url, message] of [
      ["http://as.example/token", "The token endpoint of as.example must be an https URL"],
      ["not a url", "The token endpoint is not a valid URL"],
      ["ftp://127.0.0.1/token", "The token endpoint of 127.0.0.1 must be an https URL"],
    ]
  ) {
    await assert.rejects(
      refreshTokens({
        endpoints: { ...endpoints, token_url: token_url! },
        client: secretClient,
        refreshToken: "REFRESH-1",
        fetch,
        now: fixedNow,
      }),
      isAuthsome(65, message!),
    );
  }
  assert.equal(sent.length, 0);
});

Deno.test("refresh: plain http is allowed on loopback only, and a public client sends no secret", async () => {
  for (const host of ["127.0.0.1:8080", "localhost:8080", "[::1]:8080"]) {
    const { fetch, sent } = fakeFetch(Response.json({ access_token: "A", token_type: "bearer" }));
    await refreshTokens({
      endpoints: { authorization_url: `http://${host}/auth`, token_url: `http://${host}/token` },
      client: { client_id: "cli-app", client_secret: "" },
      refreshToken: "REFRESH-1",
      fetch,
      now: fixedNow,
    });
    assert.equal(sent[0]?.url, `http://${host}/token`);
    assert.equal(new URLSearchParams(sent[0]!.body).get("client_secret"), null);
  }
});

Deno.test("login: each refusal at the callback or the code exchange has its message and the hint that helps", async () => {
  const callbackCases: Array<[Record<string, string>, string, string]> = [
    [
      { error: "access_denied", state: "S1" },
      "The authorization was denied (access_denied)",
      "Approve the request in the browser, or start again",
    ],
    [
      { error: "redirect_uri_mismatch", state: "S1" },
      "The authorization server returned an error (redirect_uri_mismatch)",
      "Check that the redirect URI registered with the provider is exactly the one authsome uses",
    ],
    [
      { error: "invalid_request", error_description: "", state: "S1" },
      "The authorization server returned an error (invalid_request)",
      "Check that the redirect URI registered with the provider is exactly the one authsome uses",
    ],
    [
      { error: "server_error", error_description: " line one\n\tline\u2028two ", state: "S1" },
      "The authorization server returned an error (server_error): line one line two",
      "Start the login again",
    ],
    [
      { error: "temporarily_unavailable", error_description: "x".repeat(250), state: "S1" },
      `The authorization server returned an error (temporarily_unavailable): ${"x".repeat(199)}…`,
      "Start the login again",
    ],
    [
      { error: "server_error", error_description: "y".repeat(200), state: "S1" },
      `The authorization server returned an error (server_error): ${"y".repeat(200)}`,
      "Start the login again",
    ],
  ];
  for (const [params, message, hint] of callbackCases) {
    const { fetch } = fakeFetch();
    await assert.rejects(complete(params, fetch), (e: unknown) => {
      isAuthsome(2, message)(e);
      assert.equal((e as AuthsomeError).hint, hint, message);
      return true;
    });
  }
  const exchangeCases: Array<[Response, string, string]> = [
    [
      Response.json({ error: "invalid_client" }, { status: 401 }),
      "The token endpoint of as.example refused the request (invalid_client)",
      "Check the client ID and client secret",
    ],
    [
      Response.json({ error: "unauthorized_client" }, { status: 400 }),
      "The token endpoint of as.example refused the request (unauthorized_client)",
      "Check the client ID and client secret",
    ],
    [
      Response.json({ error: "invalid_grant" }, { status: 400 }),
      "The token endpoint of as.example refused the request (invalid_grant)",
      "Start the login again",
    ],
  ];
  for (const [answer, message, hint] of exchangeCases) {
    const { fetch } = fakeFetch(answer);
    await assert.rejects(complete({ code: "the-code", state: "S1" }, fetch), (e: unknown) => {
      isAuthsome(2, message)(e);
      assert.equal((e as AuthsomeError).hint, hint, message);
      return true;
    });
  }
});

// ---- device flow -----------------------------------------------------------------------------

Deno.test("the device authorization request sends client_id and scope; defaults and Google's spelling are accepted", async () => {
  const { fetch, sent } = fakeFetch(
    Response.json({
      device_code: "DEV",
      user_code: "ABCD-EFGH",
      verification_url: "https://as.example/device",
    }),
  );
  const device = await startDeviceAuthorization({
    endpoints,
    client: publicClient,
    scopes: ["a", "b"],
    fetch,
  });
  assert.deepEqual(device, {
    device_code: "DEV",
    user_code: "ABCD-EFGH",
    verification_uri: "https://as.example/device",
    expires_in: 900,
    interval: 5,
  });
  assert.equal(sent[0]?.url, "https://as.example/device/code");
  const body = new URLSearchParams(sent[0]!.body);
  assert.equal(body.get("client_id"), "cli-app");
  assert.equal(body.get("scope"), "a b");
});

Deno.test("the device authorization keeps verification_uri_complete and the server's interval", async () => {
  const { fetch } = fakeFetch(
    Response.json({
      device_code: "DEV",
      user_code: "U",
      verification_uri: "https://as.example/device",
      verification_uri_complete: "https://as.example/device?user_code=U",
      expires_in: 600,
      interval: 2,
    }),
  );
  const device = await startDeviceAuthorization({
    endpoints,
    client: publicClient,
    scopes: [],
    fetch,
  });
  assert.equal(device.verification_uri_complete, "https://as.example/device?user_code=U");
  assert.equal(device.interval, 2);
  assert.equal(device.expires_in, 600);
  await assert.rejects(
    startDeviceAuthorization({
      endpoints: { authorization_url: endpoints.authorization_url, token_url: endpoints.token_url },
      client: publicClient,
      scopes: [],
      fetch,
    }),
    isAuthsome(4, /no device authorization endpoint/),
  );
});

const device: DeviceAuthorization = {
  device_code: "DEV",
  user_code: "U",
  verification_uri: "https://as.example/device",
  expires_in: 120,
  interval: 5,
};

/** A clock that only moves when the poller sleeps. */
function fakeClock() {
  let t = fixedNow().getTime();
  const slept: number[] = [];
  return {
    now: () => new Date(t),
    sleep: (ms: number) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    slept,
  };
}

const pending = () => Response.json({ error: "authorization_pending" }, { status: 400 });

Deno.test("device polling waits the interval before each poll, and slow_down adds 5 s", async () => {
  const clock = fakeClock();
  const left: number[] = [];
  const { fetch, sent } = fakeFetch(
    pending(),
    Response.json({ error: "slow_down" }, { status: 400 }),
    // GitHub: HTTP 200 with an error member
    Response.json({ error: "authorization_pending" }),
    Response.json({ access_token: "A", token_type: "bearer", expires_in: 100 }),
  );
  const tokens = await pollDeviceToken({
    endpoints,
    client: publicClient,
    device,
    fetch,
    now: clock.now,
    sleep: clock.sleep,
    onPending: (s) => left.push(s),
    scopes: ["x"],
  });
  assert.deepEqual(clock.slept, [5000, 5000, 10000, 10000]);
  assert.deepEqual(left, [115, 110, 100]);
  assert.equal(tokens.access_token, "A");
  assert.deepEqual(tokens.scopes, ["x"]);
  assert.equal(tokens.expires_at, new Date(fixedNow().getTime() + 30_000 + 100_000).toISOString());
  const body = new URLSearchParams(sent[0]!.body);
  assert.equal(body.get("grant_type"), "urn:ietf:params:oauth:grant-type:device_code");
  assert.equal(body.get("device_code"), "DEV");
  assert.equal(body.get("client_id"), "cli-app");
});

Deno.test("device polling: access_denied is exit 2 'denied', expired_token is 'The device code expired'", async () => {
  for (
    const [answer, message] of [
      [Response.json({ error: "access_denied" }, { status: 400 }), /denied \(access_denied\)/],
      [Response.json({ error: "expired_token" }, { status: 400 }), /^The device code expired$/],
    ] as const
  ) {
    const clock = fakeClock();
    const { fetch } = fakeFetch(pending(), answer);
    await assert.rejects(
      pollDeviceToken({ endpoints, client: publicClient, device, fetch, ...clock }),
      isAuthsome(2, message),
    );
  }
});

Deno.test("device polling stops when expires_in has passed on the clock", async () => {
  const clock = fakeClock();
  const { fetch, sent } = fakeFetch(...Array.from({ length: 30 }, pending));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device: { ...device, expires_in: 12, interval: 5 },
      fetch,
      ...clock,
    }),
    isAuthsome(2, "The device code expired"),
  );
  assert.equal(sent.length, 2); // polls at 5 s and 10 s; at 15 s the code is dead
});

Deno.test("device polling rides out three transport failures, then reports the fourth", async () => {
  const ok = Response.json({ access_token: "A", token_type: "bearer" });
  const clock = fakeClock();
  const first = fakeFetch(new TypeError("reset"), html(502), html(200), ok);
  const tokens = await pollDeviceToken({
    endpoints,
    client: publicClient,
    device,
    fetch: first.fetch,
    ...clock,
  });
  assert.equal(tokens.access_token, "A");
  const second = fakeFetch(html(500), html(500), html(500), new TypeError("refused"));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device,
      fetch: second.fetch,
      ...fakeClock(),
    }),
    isAuthsome(8, "Cannot reach as.example"),
  );
  const third = fakeFetch(Response.json({ access_token: "A", token_type: "mac token" }));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device,
      fetch: third.fetch,
      ...fakeClock(),
    }),
    isAuthsome(2, "The token endpoint of as.example sent an unsupported token type"),
  );
  assert.equal(third.sent.length, 1, "a token response it cannot use is not polled again");
});

Deno.test("the json device poll variant posts {device_code} without grant_type", async () => {
  const clock = fakeClock();
  const { fetch, sent } = fakeFetch(
    Response.json({ error: "authorization_pending" }, { status: 400 }),
    Response.json({ access_token: "A", expires_in: "60" }),
  );
  const tokens = await pollDeviceToken({
    endpoints,
    client: { client_id: "" },
    device,
    fetch,
    ...clock,
    jsonBody: true,
  });
  assert.equal(tokens.access_token, "A");
  assert.equal(tokens.token_type, "Bearer");
  assert.equal(tokens.expires_at, new Date(fixedNow().getTime() + 10_000 + 60_000).toISOString());
  assert.equal(sent.length, 2);
  assert.equal(sent[0]?.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(sent[0]!.body), { device_code: "DEV" });
  const denied = fakeFetch(Response.json({ error: "access_denied" }, { status: 403 }));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device,
      fetch: denied.fetch,
      ...fakeClock(),
      jsonBody: true,
    }),
    isAuthsome(2, /denied/),
  );
});

Deno.test("the json device poll: each answer's outcome, and the token set built from its fields", async () => {
  const poll = (...answers: Answer[]) =>
    pollDeviceToken({
      endpoints,
      client: { client_id: "" },
      device,
      fetch: fakeFetch(...answers).fetch,
      ...fakeClock(),
      jsonBody: true,
      scopes: ["read"],
    });
  assert.deepEqual(
    await poll(
      Response.json({
        access_token: "A",
        token_type: "DPoP",
        expires_in: 30,
        refresh_token: "R",
        scope: "a b",
      }),
    ),
    {
      access_token: "A",
      token_type: "dpop",
      expires_at: new Date(fixedNow().getTime() + 5_000 + 30_000).toISOString(),
      scopes: ["a", "b"],
      refresh_token: "R",
    },
  );
  assert.deepEqual(await poll(Response.json({ access_token: "A", expires_in: "soon" })), {
    access_token: "A",
    token_type: "Bearer",
    expires_at: null,
    scopes: ["read"],
  });
  const failures: Array<[Answer[], number, string]> = [
    [
      [Response.json({ error: "invalid_client" }, { status: 401 })],
      2,
      "The token endpoint of as.example refused the request (invalid_client)",
    ],
    [[Response.json({ error: "expired_token" }, { status: 400 })], 2, "The device code expired"],
    // Any status but 200 is taken for a passing failure: ridden out three times, then reported.
    [
      Array.from({ length: 4 }, () => Response.json({}, { status: 500 })),
      2,
      "The token endpoint of as.example answered HTTP 500",
    ],
    [
      Array.from({ length: 4 }, () => Response.json({ access_token: "A" }, { status: 201 })),
      2,
      "The token endpoint of as.example answered HTTP 201",
    ],
    [
      [Response.json({ access_token: "" })],
      2,
      "The token endpoint of as.example sent a response without access_token",
    ],
    [
      [Response.json(["A"])],
      2,
      "The token endpoint of as.example sent a response without access_token",
    ],
    [
      [Response.json({ error: "" }, { status: 200 })],
      2,
      "The token endpoint of as.example sent a response without access_token",
    ],
    // Not JSON: a status of 300 or more is a transport failure (ridden out three times), a 200 is
    // a broken endpoint.
    [
      [html(502), html(502), html(502), html(502)],
      2,
      "The token endpoint of as.example answered HTTP 502",
    ],
    [
      [html(300), html(300), html(300), html(300)],
      2,
      "The token endpoint of as.example answered HTTP 300",
    ],
    [
      [html(299), html(299), html(299), html(299)],
      2,
      "The token endpoint of as.example answered with something that is not JSON",
    ],
  ];
  for (const [answers, code, message] of failures) {
    await assert.rejects(poll(...answers), isAuthsome(code, message));
  }
  // A pending answer in between resets the transport failures.
  const tokens = await poll(
    html(502),
    html(502),
    html(502),
    Response.json({ error: "authorization_pending" }, { status: 400 }),
    html(502),
    html(502),
    html(502),
    Response.json({ access_token: "A" }),
  );
  assert.equal(tokens.access_token, "A");
});

// ---- dynamic client registration -------------------------------------------------------------

Deno.test("client registration posts RFC 7591 metadata and returns a confidential or public client", async () => {
  const { fetch, sent } = fakeFetch(
    Response.json(
      { client_id: "new-id", client_secret: "NEW-SECRET", client_secret_expires_at: 0 },
      {
        status: 201,
      },
    ),
    Response.json({ client_id: "public-id" }, { status: 200 }),
  );
  const options = {
    registrationEndpoint: "https://as.example/register",
    redirectUri,
    clientName: "authsome-acme",
    scopes: ["read", "write"],
    fetch,
  };
  assert.deepEqual(await registerClient(options), {
    client_id: "new-id",
    client_secret: "NEW-SECRET",
  });
  assert.deepEqual(await registerClient(options), { client_id: "public-id" });
  const req = sent[0]!;
  assert.equal(req.url, "https://as.example/register");
  assert.equal(req.method, "POST");
  assert.equal(req.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(req.body), {
    client_name: "authsome-acme",
    application_type: "native",
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_post",
    scope: "read write",
  });
});

Deno.test("a refused registration names the server's error", async () => {
  const { fetch } = fakeFetch(
    Response.json({ error: "invalid_redirect_uri", error_description: "loopback only" }, {
      status: 400,
    }),
  );
  await assert.rejects(
    registerClient({
      registrationEndpoint: "https://as.example/register",
      redirectUri,
      clientName: "authsome-acme",
      scopes: [],
      fetch,
    }),
    isAuthsome(
      2,
      "The registration endpoint of as.example refused the registration (invalid_redirect_uri): loopback only",
    ),
  );
});

Deno.test("discovery tries RFC 8414 first, then OpenID configuration, at the origin", async () => {
  const { fetch, sent } = fakeFetch(
    html(404),
    Response.json({
      issuer: "https://as.example",
      registration_endpoint: "https://as.example/reg",
    }),
  );
  const found = await discoverRegistrationEndpoint({
    authorizationUrl: "https://as.example/oauth/authorize",
    fetch,
  });
  assert.equal(found, "https://as.example/reg");
  assert.deepEqual(sent.map((s) => s.url), [
    "https://as.example/.well-known/oauth-authorization-server",
    "https://as.example/.well-known/openid-configuration",
  ]);
  const none = fakeFetch(
    Response.json({ issuer: "https://other.example", registration_endpoint: "https://x/reg" }),
    Response.json({ issuer: "https://as.example" }),
  );
  assert.equal(
    await discoverRegistrationEndpoint({
      authorizationUrl: endpoints.authorization_url,
      fetch: none.fetch,
    }),
    undefined,
  );
  const down = fakeFetch(new TypeError("refused"));
  await assert.rejects(
    discoverRegistrationEndpoint({
      authorizationUrl: endpoints.authorization_url,
      fetch: down.fetch,
    }),
    isAuthsome(8, "Cannot reach as.example"),
  );
});

// ---- revocation ------------------------------------------------------------------------------

Deno.test("revocation posts token, token_type_hint and the client authentication", async () => {
  const { fetch, sent } = fakeFetch(
    new Response(null, { status: 200 }),
    new Response(null, { status: 204 }),
  );
  await revokeToken({
    endpoints,
    client: secretClient,
    token: "REFRESH-1",
    tokenTypeHint: "refresh_token",
    fetch,
  });
  await revokeToken({ endpoints, client: publicClient, token: "ACCESS-1", fetch });
  assert.equal(sent[0]?.url, "https://as.example/revoke");
  const body = new URLSearchParams(sent[0]!.body);
  assert.equal(body.get("token"), "REFRESH-1");
  assert.equal(body.get("token_type_hint"), "refresh_token");
  assert.equal(body.get("client_id"), "cli-app");
  assert.equal(body.get("client_secret"), "CLIENT-SECRET-xyz");
  const second = new URLSearchParams(sent[1]!.body);
  assert.equal(second.has("token_type_hint"), false);
  assert.equal(second.has("client_secret"), false);
});

Deno.test("revocation failures: unreachable is exit 8, a server error exit 2 with its code", async () => {
  const { fetch } = fakeFetch(
    new TypeError("refused"),
    Response.json({ error: "unsupported_token_type" }, { status: 400 }),
    html(503),
  );
  const revoke = () => revokeToken({ endpoints, client: publicClient, token: "TOPSECRET", fetch });
  await assert.rejects(revoke(), isAuthsome(8, "Cannot reach as.example"));
  await assert.rejects(revoke(), isAuthsome(2, /refused the request \(unsupported_token_type\)/));
  await assert.rejects(
    revoke(),
    isAuthsome(2, "The revocation endpoint of as.example answered HTTP 503"),
  );
  await assert.rejects(
    revokeToken({
      endpoints: { authorization_url: endpoints.authorization_url, token_url: endpoints.token_url },
      client: publicClient,
      token: "t",
      fetch,
    }),
    isAuthsome(4),
  );
});

// ---- registration, discovery and revocation: every answer's message and hint ----------------

/** Rejects with an AuthsomeError of this code, exactly this message and (when given) hint. */
function exactly(code: string, message: string, hint?: string | null) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, `expected AuthsomeError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.message, message);
    if (hint !== undefined) assert.equal(e.hint ?? null, hint);
    return true;
  };
}

function register(fetchFn: typeof fetch, more: Partial<Parameters<typeof registerClient>[0]> = {}) {
  return registerClient({
    registrationEndpoint: "https://as.example/register",
    redirectUri,
    clientName: "authsome-acme",
    scopes: [],
    fetch: fetchFn,
    ...more,
  });
}

Deno.test("registration: no scope member without scopes, an empty secret refused, each failure its message", async () => {
  const { fetch, sent } = fakeFetch(Response.json({ client_id: "pub" }, { status: 201 }));
  assert.deepEqual(await register(fetch), { client_id: "pub" });
  assert.equal("scope" in JSON.parse(sent[0]!.body), false);

  const where = "The registration endpoint of as.example";
  const cases: [Answer, string, string, string | null][] = [
    [
      Response.json({ error: "invalid_client_metadata" }, { status: 400 }),
      "AUTH_FAILED",
      `${where} refused the registration (invalid_client_metadata)`,
      null,
    ],
    [
      Response.json({
        error: "bad\u0000 code\u00e9",
        error_description: `line one\nline\ttwo\u2028 ${"x".repeat(300)}`,
      }, { status: 400 }),
      "AUTH_FAILED",
      `${where} refused the registration (badcode): ${
        `line one line two ${"x".repeat(300)}`.slice(0, 199)
      }…`,
      null,
    ],
    [
      Response.json({ error: "\u0001\u0002", error_description: "" }, { status: 400 }),
      "AUTH_FAILED",
      `${where} refused the registration (unknown_error): `,
      null,
    ],
    [
      html(500),
      "AUTH_FAILED",
      `${where} answered HTTP 500`,
      "The provider may be having problems; try again later",
    ],
    [
      new Response("{not json", { status: 201, headers: { "content-type": "application/json" } }),
      "AUTH_FAILED",
      `${where} answered with something that is not JSON`,
      "Check the provider's endpoint URLs; this is not an OAuth endpoint",
    ],
    [
      Response.json({ client_id: "pub", client_secret: "" }, { status: 201 }),
      "AUTH_FAILED",
      `${where} sent an invalid response`,
      null,
    ],
    [
      Response.json({ client_secret: "x" }, { status: 201 }),
      "AUTH_FAILED",
      `${where} sent an invalid response`,
      null,
    ],
    [
      new DOMException("timed out", "TimeoutError"),
      "ENDPOINT_UNREACHABLE",
      "Cannot reach as.example: no answer within 30 s",
      "Check the network connection and the provider's URL",
    ],
    [
      new TypeError("connection refused"),
      "ENDPOINT_UNREACHABLE",
      "Cannot reach as.example",
      "Check the network connection and the provider's URL",
    ],
  ];
  for (const [answer, code, message, hint] of cases) {
    await assert.rejects(register(fakeFetch(answer).fetch), exactly(code, message, hint));
  }
  await assert.rejects(
    register(fetch, { registrationEndpoint: "http://as.example/register" }),
    exactly("INVALID_INPUT", "The registration endpoint of as.example must be an https URL"),
  );
  await assert.rejects(
    register(fetch, { registrationEndpoint: "not a url" }),
    exactly("INVALID_INPUT", "The registration endpoint is not a valid URL"),
  );
  // Plain http on a loopback host is a local test server: allowed.
  const local = fakeFetch(Response.json({ client_id: "loc" }, { status: 201 }));
  assert.deepEqual(
    await register(local.fetch, { registrationEndpoint: "http://127.0.0.1:9/register" }),
    { client_id: "loc" },
  );
  assert.equal(local.sent[0]!.url, "http://127.0.0.1:9/register");
});

Deno.test("discovery: the first document naming a registration endpoint wins; bad or foreign documents are skipped", async () => {
  const first = fakeFetch(
    Response.json({ issuer: "https://as.example", registration_endpoint: "https://as.example/r1" }),
  );
  assert.equal(
    await discoverRegistrationEndpoint({
      authorizationUrl: "https://as.example/a",
      fetch: first.fetch,
    }),
    "https://as.example/r1",
  );
  assert.equal(first.sent.length, 1);
  const skipped = fakeFetch(
    Response.json({ issuer: "https://as.example", registration_endpoint: 7 }),
    new Response("{not json", { headers: { "content-type": "application/json" } }),
  );
  assert.equal(
    await discoverRegistrationEndpoint({
      authorizationUrl: "https://as.example/a",
      fetch: skipped.fetch,
    }),
    undefined,
  );
  assert.equal(skipped.sent.length, 2);
  const local = fakeFetch(
    html(404),
    Response.json({ issuer: "http://127.0.0.1:9", registration_endpoint: "http://127.0.0.1:9/r" }),
  );
  assert.equal(
    await discoverRegistrationEndpoint({
      authorizationUrl: "http://127.0.0.1:9/authorize",
      fetch: local.fetch,
    }),
    "http://127.0.0.1:9/r",
  );
  await assert.rejects(
    discoverRegistrationEndpoint({ authorizationUrl: "http://as.example/a", fetch: first.fetch }),
    exactly("INVALID_INPUT", "The authorization endpoint of as.example must be an https URL"),
  );
});

Deno.test("revocation: each refusal's message and hint; an empty client ID is refused before any request", async () => {
  const where = "The revocation endpoint of as.example";
  const cases: [Answer, string, string, string | null][] = [
    [
      Response.json({ error: "invalid_client" }, { status: 401 }),
      "AUTH_FAILED",
      `${where} refused the request (invalid_client)`,
      "Check the client ID and client secret",
    ],
    [
      Response.json({ error: "unauthorized_client" }, { status: 400 }),
      "AUTH_FAILED",
      `${where} refused the request (unauthorized_client)`,
      "Check the client ID and client secret",
    ],
    [
      Response.json({ error: "invalid_request" }, { status: 400 }),
      "AUTH_FAILED",
      `${where} refused the request (invalid_request)`,
      "Start the login again",
    ],
    [
      new Response(null, {
        status: 401,
        headers: { "www-authenticate": 'Bearer error="invalid_token"' },
      }),
      "AUTH_FAILED",
      `${where} refused the request (invalid_token)`,
      "Start the login again",
    ],
    [
      new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="as"' } }),
      "AUTH_FAILED",
      `${where} refused the request (invalid_client)`,
      "Check the client ID and client secret",
    ],
  ];
  for (const [answer, code, message, hint] of cases) {
    await assert.rejects(
      revokeToken({ endpoints, client: secretClient, token: "t", fetch: fakeFetch(answer).fetch }),
      exactly(code, message, hint),
    );
  }
  const none = fakeFetch();
  await assert.rejects(
    revokeToken({ endpoints, client: { client_id: "" }, token: "t", fetch: none.fetch }),
    exactly(
      "INVALID_INPUT",
      "The OAuth client ID is empty",
      "Pass --client-id or set the provider's client ID environment variable",
    ),
  );
  await assert.rejects(
    revokeToken({
      endpoints: { authorization_url: endpoints.authorization_url, token_url: endpoints.token_url },
      client: publicClient,
      token: "t",
      fetch: none.fetch,
    }),
    exactly("NOT_ALLOWED", "This provider has no revocation endpoint"),
  );
  assert.equal(none.sent.length, 0);
});

Deno.test("callback checks: state, issuer, code and stray parameters, each with its exact message and hint; nothing is sent", async () => {
  const { fetch, sent } = discoveryFetch({ issuer: "https://as.example" });
  const restart = "Start the login again";
  const cases: [Record<string, string>, Partial<OAuthEndpoints>, string, string][] = [
    [
      { code: "the-code", state: "S2" },
      {},
      "OAuth state mismatch",
      "Start the login again; the browser answered for a different login attempt",
    ],
    [
      { code: "the-code", state: "S1", iss: "https://evil.example/\u0000x\ny" },
      {},
      "The authorization response came from issuer https://evil.example/ x y, expected https://as.example",
      "Check the provider's endpoints; this can be a mix-up attack",
    ],
    [
      { code: "the-code", state: "S1", iss: "https://as.example" },
      { issuer: "https://as.example/tenant" },
      "The authorization response came from issuer https://as.example, expected https://as.example/tenant",
      "Check the provider's endpoints; this can be a mix-up attack",
    ],
    [
      { code: "the-code", state: "S1" },
      { iss_parameter_supported: true },
      "The authorization response has no issuer (iss)",
      restart,
    ],
    [{ state: "S1" }, {}, "The authorization response has no code", restart],
    [{ state: "S1", code: "" }, {}, "The authorization response has no code", restart],
    [
      { state: "S1", error: "access_denied", iss: "https://evil.example" },
      {},
      "The authorization response came from issuer https://evil.example, expected https://as.example",
      "Check the provider's endpoints; this can be a mix-up attack",
    ],
  ];
  for (const [params, more, message, hint] of cases) {
    await assert.rejects(
      complete(params, fetch, { endpoints: { ...endpoints, ...more } }),
      exactly("AUTH_FAILED", message, hint),
    );
  }
  // A response carrying implicit-flow tokens is refused as a whole.
  await assert.rejects(
    complete({ code: "the-code", state: "S1", id_token: "x.y.z" }, fetch),
    exactly("AUTH_FAILED", "The authorization response is not valid", null),
  );
  assert.equal(sent.length, 0);
});

Deno.test("device authorization without an endpoint, or without a client ID, is refused before any request", async () => {
  const { fetch, sent } = fakeFetch();
  await assert.rejects(
    startDeviceAuthorization({
      endpoints: { authorization_url: endpoints.authorization_url, token_url: endpoints.token_url },
      client: publicClient,
      scopes: [],
      fetch,
    }),
    exactly(
      "NOT_ALLOWED",
      "This provider has no device authorization endpoint",
      "Use another flow, e.g. --flow pkce",
    ),
  );
  await assert.rejects(
    startDeviceAuthorization({ endpoints, client: { client_id: "" }, scopes: [], fetch }),
    exactly("INVALID_INPUT", "The OAuth client ID is empty"),
  );
  await assert.rejects(
    startAuthorization({ endpoints, client: { client_id: "" }, redirectUri, scopes: [] }),
    exactly("INVALID_INPUT", "The OAuth client ID is empty"),
  );
  assert.equal(sent.length, 0);
});

// ---- details a user sees: URLs, scopes, ID-token claims, token sets --------------------------

Deno.test("state and verifier are base64url of 32 bytes from the random source, exactly", async () => {
  // Bytes chosen so that base64 has '+', '/' and '=' padding: each must be turned to base64url.
  const bytes = [...Array(10).fill([0xfb, 0xef, 0xbe]).flat(), 0xff, 0xff];
  let calls = 0;
  const start = await startAuthorization({
    endpoints,
    client: publicClient,
    redirectUri,
    scopes: [],
    random: (size) => {
      calls++;
      assert.equal(size, 32);
      return Uint8Array.from(bytes);
    },
  });
  assert.equal(calls, 2);
  const expected = `${"----".repeat(10)}__8`;
  assert.equal(start.state, expected);
  assert.equal(start.codeVerifier, expected);
  // Without a random source both come from the system's generator: 43 base64url characters.
  const plain = await startAuthorization({
    endpoints,
    client: publicClient,
    redirectUri,
    scopes: [],
  });
  assert.match(plain.state, /^[A-Za-z0-9_-]{43}$/);
  assert.match(plain.codeVerifier, /^[A-Za-z0-9_-]{43}$/);
});

Deno.test("a scope already in the authorization URL is replaced, or removed when no scope is asked for", async () => {
  const withScope = { ...endpoints, authorization_url: "https://as.example/authorize?scope=admin" };
  const none = await startAuthorization({
    endpoints: withScope,
    client: publicClient,
    redirectUri,
    scopes: [],
  });
  assert.equal(none.url.searchParams.has("scope"), false);
  const some = await startAuthorization({
    endpoints: withScope,
    client: publicClient,
    redirectUri,
    scopes: ["read"],
  });
  assert.deepEqual(some.url.searchParams.getAll("scope"), ["read"]);
});

Deno.test("each endpoint is named in its URL errors", async () => {
  const bad = "not a url";
  await assert.rejects(
    startAuthorization({
      endpoints: { ...endpoints, authorization_url: bad },
      client: publicClient,
      redirectUri,
      scopes: [],
    }),
    exactly("INVALID_INPUT", "The authorization endpoint is not a valid URL"),
  );
  const { fetch } = fakeFetch();
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch, {
      endpoints: { ...endpoints, token_url: "http://as.example/token" },
    }),
    exactly("INVALID_INPUT", "The token endpoint of as.example must be an https URL"),
  );
  await assert.rejects(
    startDeviceAuthorization({
      endpoints: { ...endpoints, device_authorization_url: bad },
      client: publicClient,
      scopes: [],
      fetch,
    }),
    exactly("INVALID_INPUT", "The device authorization endpoint is not a valid URL"),
  );
  await assert.rejects(
    revokeToken({
      endpoints: { ...endpoints, revocation_url: bad },
      client: publicClient,
      token: "t",
      fetch,
    }),
    exactly("INVALID_INPUT", "The revocation endpoint is not a valid URL"),
  );
  await assert.rejects(
    refreshTokens({
      endpoints: { ...endpoints, authorization_url: bad },
      client: publicClient,
      refreshToken: "REFRESH-1",
      fetch,
      now: fixedNow,
    }),
    exactly("INVALID_INPUT", "The authorization endpoint is not a valid URL"),
  );
  await assert.rejects(
    pollDeviceToken({
      endpoints: { ...endpoints, token_url: bad },
      client: publicClient,
      device,
      fetch,
      ...fakeClock(),
    }),
    exactly("INVALID_INPUT", "The token endpoint is not a valid URL"),
  );
  // A client object without a client_id (from JavaScript) is refused like an empty one.
  await assert.rejects(
    startAuthorization({
      endpoints,
      client: {} as OAuthClient,
      redirectUri,
      scopes: [],
    }),
    exactly("INVALID_INPUT", "The OAuth client ID is empty"),
  );
});

Deno.test("a server that promises iss and sends the right one is accepted", async () => {
  const { fetch } = fakeFetch(Response.json({ access_token: "A", token_type: "bearer" }));
  const tokens = await complete(
    { code: "the-code", state: "S1", iss: "https://as.example" },
    fetch,
    { endpoints: { ...endpoints, iss_parameter_supported: true } },
  );
  assert.equal(tokens.access_token, "A");
});

Deno.test("token sets: no scope asked and none granted is an empty list; scopes split on commas and blanks", async () => {
  const { fetch } = fakeFetch(
    Response.json({ access_token: "A", token_type: "bearer" }),
    Response.json({
      access_token: "B",
      token_type: "bearer",
      scope: " read,write  admin ",
    }),
  );
  const bare = await complete({ code: "the-code", state: "S1" }, fetch);
  assert.deepEqual(bare.scopes, []);
  assert.equal("refresh_token" in bare, false);
  const split = await complete({ code: "the-code", state: "S1" }, fetch);
  assert.deepEqual(split.scopes, ["read", "write", "admin"]);
  assert.equal("refresh_token" in split, false);
});

Deno.test("ID-token claims: empty ones are left out; a token for someone else is refused as failed validation", async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = (claims: Record<string, unknown>) =>
    [
      b64url({ alg: "RS256", typ: "JWT" }),
      b64url({
        iss: "https://as.example",
        sub: "u-1",
        aud: "cli-app",
        iat: now,
        exp: now + 300,
        ...claims,
      }),
      "c2lnbmF0dXJl",
    ].join(".");
  const answer = (claims: Record<string, unknown>) =>
    Response.json({ access_token: "A", token_type: "bearer", id_token: token(claims) });
  const { fetch } = fakeFetch(
    answer({ name: "", email: "", preferred_username: "ada" }),
    answer({ aud: "someone-else" }),
    answer({ exp: now - 3600, iat: now - 7200 }),
  );
  const tokens = await complete({ code: "the-code", state: "S1" }, fetch, { client: publicClient });
  assert.deepEqual(tokens.id_token_claims, { sub: "u-1", preferred_username: "ada" });
  assert.equal(tokens.account_label, "ada");
  const failed = "The token endpoint of as.example sent an ID token that failed validation";
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch, { client: publicClient }),
    exactly("AUTH_FAILED", failed, null),
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch, { client: publicClient }),
    exactly("AUTH_FAILED", failed, null),
  );
});

Deno.test("a GitHub-style 200 with an empty error member is an invalid response, not a refusal", async () => {
  const { fetch } = fakeFetch(Response.json({ error: "" }));
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fetch),
    exactly("AUTH_FAILED", "The token endpoint of as.example sent an invalid response", null),
  );
});

Deno.test("a challenge without an error code is skipped for the one that has it", async () => {
  const { fetch } = fakeFetch(
    new Response(null, {
      status: 401,
      headers: { "www-authenticate": 'Basic realm="as", Bearer error="invalid_token"' },
    }),
  );
  await assert.rejects(
    revokeToken({ endpoints, client: secretClient, token: "t", fetch }),
    exactly(
      "AUTH_FAILED",
      "The revocation endpoint of as.example refused the request (invalid_token)",
      "Start the login again",
    ),
  );
});

Deno.test("device flow details: no scope member without scopes, a failing endpoint, the exact expiry boundary, Google's verification_url only as a fallback", async () => {
  const sent = fakeFetch(
    Response.json({
      device_code: "D",
      user_code: "U",
      verification_uri: "https://as.example/activate",
      verification_url: "https://as.example/other",
      expires_in: 60,
    }),
    html(500),
    new Response("{broken", { status: 200, headers: { "content-type": "application/json" } }),
  );
  const started = await startDeviceAuthorization({
    endpoints,
    client: publicClient,
    scopes: [],
    fetch: sent.fetch,
  });
  assert.equal(started.verification_uri, "https://as.example/activate");
  assert.equal(new URLSearchParams(sent.sent[0]!.body).has("scope"), false);
  await assert.rejects(
    startDeviceAuthorization({ endpoints, client: publicClient, scopes: [], fetch: sent.fetch }),
    exactly(
      "AUTH_FAILED",
      "The device authorization endpoint of as.example answered HTTP 500",
      "The provider may be having problems; try again later",
    ),
  );
  await assert.rejects(
    startDeviceAuthorization({ endpoints, client: publicClient, scopes: [], fetch: sent.fetch }),
    exactly(
      "AUTH_FAILED",
      "The device authorization endpoint of as.example answered with something that is not JSON",
    ),
  );
  // Polling stops when the clock reaches the deadline exactly: no poll at that instant.
  const clock = fakeClock();
  const pending = () => Response.json({ error: "authorization_pending" }, { status: 400 });
  const polls = fakeFetch(...Array.from({ length: 30 }, pending));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device: { ...device, expires_in: 10, interval: 5 },
      fetch: polls.fetch,
      ...clock,
    }),
    exactly(
      "AUTH_FAILED",
      "The device code expired",
      "Start the login again and enter the code sooner",
    ),
  );
  assert.equal(polls.sent.length, 1, "polled at 5 s only; at 10 s the code has expired");
  // An invalid answer while polling ends it at once (no retry).
  const invalid = fakeFetch(Response.json({ token_type: "bearer" }), pending());
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device,
      fetch: invalid.fetch,
      ...fakeClock(),
    }),
    exactly("AUTH_FAILED", "The token endpoint of as.example sent an invalid response"),
  );
  assert.equal(invalid.sent.length, 1);
});

Deno.test("the last details: a form poll needs a client ID, a JSON poll's empty refresh token is none, a broken-off answer's hint", async () => {
  const none = fakeFetch();
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: { client_id: "" },
      device,
      fetch: none.fetch,
      ...fakeClock(),
    }),
    exactly("INVALID_INPUT", "The OAuth client ID is empty"),
  );
  assert.equal(none.sent.length, 0);
  const json = fakeFetch(Response.json({ access_token: "A", refresh_token: "" }));
  const tokens = await pollDeviceToken({
    endpoints,
    client: { client_id: "" },
    device,
    fetch: json.fetch,
    ...fakeClock(),
    jsonBody: true,
  });
  assert.equal(tokens.access_token, "A");
  assert.equal("refresh_token" in tokens, false);
  const cut = new Response(
    new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"access_token": "'));
        controller.error(new TypeError("error reading a body from connection"));
      },
    }),
    { headers: { "content-type": "application/json" } },
  );
  await assert.rejects(
    complete({ code: "the-code", state: "S1" }, fakeFetch(cut).fetch),
    exactly(
      "ENDPOINT_UNREACHABLE",
      "The token endpoint of as.example broke off its answer",
      "Check the network connection and try again",
    ),
  );
});

Deno.test("device polls: a denial's hint, the JSON variant's accept header, an expires_in that is not a number", async () => {
  const denied = fakeFetch(Response.json({ error: "access_denied" }, { status: 400 }));
  await assert.rejects(
    pollDeviceToken({
      endpoints,
      client: publicClient,
      device,
      fetch: denied.fetch,
      ...fakeClock(),
    }),
    exactly(
      "AUTH_FAILED",
      "The authorization was denied (access_denied)",
      "Approve the request in the browser, or start again",
    ),
  );
  const json = fakeFetch(Response.json({ access_token: "A", expires_in: "soon" }));
  const tokens = await pollDeviceToken({
    endpoints,
    client: { client_id: "" },
    device,
    fetch: json.fetch,
    ...fakeClock(),
    jsonBody: true,
  });
  assert.equal(tokens.expires_at, null);
  assert.equal(json.sent[0]!.headers.get("accept"), "application/json");
});

// ---- resource indicators (RFC 8707) ----------------------------------------------------------

Deno.test("a resource goes on the authorization URL, the code exchange and the refresh", async () => {
  const withResource = { ...endpoints, resource: "https://mcp.example/mcp" };
  const { url } = await startAuthorization({
    endpoints: withResource,
    client: publicClient,
    redirectUri,
    scopes: [],
  });
  assert.equal(url.searchParams.get("resource"), "https://mcp.example/mcp");
  const { fetch, sent } = fakeFetch(
    Response.json({ access_token: "a", token_type: "Bearer", refresh_token: "r" }),
    Response.json({ access_token: "b", token_type: "Bearer" }),
  );
  await complete({ code: "the-code", state: "S1" }, fetch, { endpoints: withResource });
  await refreshTokens({
    endpoints: withResource,
    client: publicClient,
    refreshToken: "r",
    fetch,
    now: fixedNow,
  });
  for (const request of sent) {
    assert.equal(new URLSearchParams(request.body).get("resource"), "https://mcp.example/mcp");
  }
  // Without one, none is sent.
  const plain = await startAuthorization({
    endpoints,
    client: publicClient,
    redirectUri,
    scopes: [],
  });
  assert.equal(plain.url.searchParams.has("resource"), false);
});

Deno.test("unsupported_token_type is false, not an error, only when the caller allows it", async () => {
  const refusal = () => Response.json({ error: "unsupported_token_type" }, { status: 400 });
  const { fetch } = fakeFetch(refusal, refusal, new Response(null, { status: 200 }));
  const revoke = (unsupportedIsFine: boolean) =>
    revokeToken({ endpoints, client: publicClient, token: "TOPSECRET", fetch, unsupportedIsFine });
  assert.equal(await revoke(true), false);
  await assert.rejects(revoke(false), isAuthsome(2, /unsupported_token_type/));
  assert.equal(await revoke(true), true);
});
