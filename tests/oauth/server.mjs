// A real OAuth 2.0 / OpenID Connect authorization server for authsome's end-to-end tests.
//
// Runs the npm package `oidc-provider` under Node on 127.0.0.1, port 0, over plain http.
// Usage:  node tests/oauth/server.mjs ['{"accessTokenTTL": 2, ...}']
// (or the same JSON in the environment variable AUTHSOME_TEST_OAUTH_CONFIG).
// When ready it prints exactly one line to stdout:
// {"issuer":"http://127.0.0.1:N","origin":"http://127.0.0.1:N","port":N}
// The issuer differs from the origin (where the server is reached) when the option `issuer` is
// given, e.g. "http://localhost:{port}" or "http://127.0.0.1:{port}/realms/dev", as real servers
// reached through another host name or with a path in their issuer identifier.
// It exits when its stdin closes (so a crashed test never leaves it running), and on SIGTERM.
//
// Besides the standard endpoints (discovery, /auth, /token, /device/auth, /device, /reg,
// /token/revocation, /token/introspection, /me) it serves:
//   GET  /interaction/:uid          the login or consent page (plain HTML forms)
//   POST /interaction/:uid/login    form field `login`: signs in as that account (any name works)
//   POST /interaction/:uid/confirm  grants every requested scope
//   POST /interaction/:uid/abort    finishes the interaction with error=access_denied
//   GET  /__test/stats              counters, see `stats` below
//   POST /__test/reset-stats        zeroes them and drops failures not yet used
//   POST /__test/fail               JSON {"kind", "count", "endpoint"}: the next `count` requests to
//                                   `endpoint` (default "token") fail the way `kind` says
//   POST /__test/fail-token         the same, endpoint "token"
//   POST /__test/release            lets requests held by the "hold" kind go on
//   GET  /__test/config             the effective configuration (clients, lifetimes, scopes)
//   ANY  /__test/whoami             a protected resource: Bearer access token -> 200 JSON or 401
//   GET  /jwks                      the signing keys (oidc-provider's), for JWT access tokens
//   GET  /.well-known/oauth-authorization-server   RFC 8414 alias of the OpenID discovery document
//                                   (404 with {"rfc8414": false}, like servers that only do OIDC;
//                                   {"discovery": false} answers both well-known paths 404)
// stats.discovery lists the well-known paths asked for, in order.

import * as crypto from "node:crypto";
import * as http from "node:http";

// oidc-provider prints notices with console.info/console.log; stdout is reserved for the single
// ready line, so everything else goes to stderr.
console.log = console.error;
console.info = console.error;

const { Provider, errors } = await import("oidc-provider");

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const DEFAULT_REDIRECT = "http://127.0.0.1:7998/auth/callback/oauth";

const rawConfig = process.argv[2] ?? process.env.AUTHSOME_TEST_OAUTH_CONFIG ?? "{}";
const options = JSON.parse(rawConfig);

const cfg = {
  accessTokenTTL: 60,
  refreshTokenTTL: 24 * 60 * 60,
  deviceCodeTTL: 600,
  authorizationCodeTTL: 60,
  // seconds; added to the device authorization response (oidc-provider sends none, and RFC 8628
  // clients then default to 5 s). null leaves it out.
  deviceInterval: 1,
  rotateRefreshToken: true,
  pkceRequired: true,
  registration: true,
  rfc8414: true,
  discovery: true,
  issuer: null,
  idTokenAlg: "RS256",
  exitOnStdinClose: true,
  // {"url": "https://…", "scope": "a b"}: a resource server (RFC 8707) whose access tokens are
  // JWTs with that audience; null refuses every resource indicator (invalid_target).
  resource: null,
  scopes: ["openid", "offline_access", "profile", "email", "read", "write"],
  ...options,
};

const confidentialClient = {
  client_id: "authsome-confidential",
  client_secret: "authsome-confidential-secret",
  redirect_uris: [DEFAULT_REDIRECT],
  // "native" lets any loopback port match a registered 127.0.0.1 redirect URI (RFC 8252 7.3).
  application_type: "native",
  token_endpoint_auth_method: "client_secret_post",
  grant_types: ["authorization_code", "refresh_token", DEVICE_GRANT],
  response_types: ["code"],
  client_name: "authsome test (confidential)",
  ...cfg.confidentialClient,
};

const publicClient = {
  client_id: "authsome-public",
  redirect_uris: [DEFAULT_REDIRECT],
  application_type: "native",
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token", DEVICE_GRANT],
  response_types: ["code"],
  client_name: "authsome test (public)",
  ...cfg.publicClient,
};

const clients = [confidentialClient, publicClient, ...(cfg.clients ?? [])];

// ---------------------------------------------------------------------------------------------
// counters and injected failures

const ROUTES = {
  "/token": "token",
  "/token/revocation": "revocation",
  "/token/introspection": "introspection",
  "/device/auth": "device_authorization",
  "/reg": "registration",
  "/auth": "authorization",
  "/me": "userinfo",
};

function freshStats() {
  return {
    requests: {},
    token_requests: {},
    injected_failures: 0,
    revocations: 0,
    last_revocation: null,
    registered_clients: [],
    discovery: [],
    resource_params: [],
  };
}
let stats = freshStats();
/** endpoint name -> list of pending failure kinds */
const failures = {};

const FAIL_KINDS = new Set([
  "500",
  "html",
  "non-json",
  "reset",
  "drop",
  "slow_down",
  "invalid_grant",
  "temporarily_unavailable",
  "hold",
]);
/** `error-200:CODE`: HTTP 200 with {"error": CODE}, the way GitHub answers token errors. */
const GITHUB_ERROR = /^error-200:[a-z_]+$/;
/** Requests held by the "hold" kind; `POST /__test/release` lets them go on. */
const held = [];

function injectFailure(ctx, kind) {
  stats.injected_failures += 1;
  switch (kind) {
    case "500":
      ctx.status = 500;
      ctx.type = "text/plain";
      ctx.body = "Internal Server Error";
      return;
    case "html":
      ctx.status = 200;
      ctx.type = "text/html";
      ctx.body = "<!DOCTYPE html><html><head><title>Sign in</title></head>" +
        "<body><h1>Session expired</h1><p>Please sign in again.</p></body></html>";
      return;
    case "non-json":
      ctx.status = 200;
      ctx.type = "application/json";
      ctx.body = '{"access_token": "truncated';
      return;
    case "reset":
      // no response at all. NB: an HTTP client may transparently retry once on a reused
      // keep-alive connection (Deno's fetch does), so use a count of 2 to make one call fail.
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    case "drop": {
      // headers promise a JSON body; the connection dies after a few bytes of it
      ctx.respond = false;
      const socket = ctx.req.socket;
      socket.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n" +
          '{"access_token": "',
        () => socket.destroy(),
      );
      return;
    }
    default:
      if (GITHUB_ERROR.test(kind)) {
        ctx.status = 200;
        ctx.type = "application/json";
        ctx.body = {
          error: kind.slice("error-200:".length),
          error_description: "injected by the test server, GitHub style",
          error_uri: "https://docs.example/errors",
        };
        return;
      }
      break;
    case "slow_down":
    case "invalid_grant":
    case "temporarily_unavailable":
      ctx.status = kind === "temporarily_unavailable" ? 503 : 400;
      ctx.type = "application/json";
      ctx.set("Cache-Control", "no-store");
      ctx.body = { error: kind, error_description: "injected by the test server" };
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// HTML

function esc(value) {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function page(title, body, marker = "") {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body${marker}>
<h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function userCodeInputSource(ctx, form, out, err) {
  let message = "Enter the code displayed on your device";
  let kind = "";
  if (err) {
    kind = err.name ?? "error";
    if (err.userCode || err.name === "NoCodeError") message = "The code you entered is incorrect.";
    else if (err.name === "AbortedError") message = "The sign-in request was aborted.";
    else message = `There was an error processing your request: ${out?.error ?? ""}`;
  }
  ctx.type = "html";
  ctx.body = page(
    "Device sign-in",
    `<p id="device-message">${esc(message)}</p>\n${form}\n` +
      '<button type="submit" form="op.deviceInputForm" id="device-submit">Continue</button>',
    ` data-page="device-input" data-error="${esc(kind)}"`,
  );
}

function userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
  ctx.type = "html";
  ctx.body = page(
    "Confirm device",
    `<p><strong>${esc(client.clientName ?? client.clientId)}</strong> wants access.</p>\n` +
      `<p>Code: <code id="user-code">${esc(userCode)}</code></p>\n${form}\n` +
      '<button type="submit" form="op.deviceConfirmForm" id="device-confirm">Continue</button>\n' +
      '<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" id="device-abort">Abort</button>',
    ' data-page="device-confirm"',
  );
}

function successSource(ctx) {
  ctx.type = "html";
  ctx.body = page(
    "Sign-in success",
    '<p id="device-success">You can close this page and go back to your device.</p>',
    ' data-page="device-success"',
  );
}

function renderError(ctx, out) {
  ctx.type = "html";
  ctx.body = page(
    "Error",
    Object.entries(out).map(([k, v]) =>
      `<p><strong>${esc(k)}</strong>: <span class="${esc(k)}">${esc(v)}</span></p>`
    ).join("\n"),
    ` data-page="error" data-error="${esc(out.error)}"`,
  );
}

function loginPage(uid, details, problem) {
  const client = details.params.client_id;
  return page(
    "Sign in",
    (problem ? `<p id="problem">${esc(problem)}</p>\n` : "") +
      `<p>Sign in to continue to <strong>${esc(client)}</strong>.</p>
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
  <input type="text" name="login" id="login" placeholder="any user name" autofocus>
  <input type="password" name="password" id="password" placeholder="any password">
  <button type="submit" id="login-submit">Sign in</button>
</form>
<form id="deny-form" method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit" id="deny">Cancel</button>
</form>`,
    ' data-page="login"',
  );
}

function consentPage(uid, details) {
  const scopes = details.prompt.details.missingOIDCScope ?? [];
  return page(
    "Authorize",
    `<p><strong>${esc(details.params.client_id)}</strong> asks for access as
<strong id="account">${esc(details.session?.accountId)}</strong>.</p>
<ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join("")}</ul>
<form id="consent-form" method="post" action="/interaction/${esc(uid)}/confirm">
  <button type="submit" id="approve">Allow</button>
</form>
<form id="deny-form" method="post" action="/interaction/${esc(uid)}/abort">
  <button type="submit" id="deny">Deny</button>
</form>`,
    ' data-page="consent"',
  );
}

// ---------------------------------------------------------------------------------------------
// request bodies

async function readRaw(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new Error("request body too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function formOf(buffer) {
  return Object.fromEntries(new URLSearchParams(buffer.toString("utf8")));
}

// ---------------------------------------------------------------------------------------------
// the provider

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(0, "127.0.0.1", resolve);
});
const { port } = server.address();
const origin = `http://127.0.0.1:${port}`;
const issuer = cfg.issuer === null ? origin : String(cfg.issuer).replaceAll("{port}", String(port));

// One signing key for the algorithm ID tokens are signed with (`idTokenAlg`).
const keyOptions = {
  RS256: ["rsa", { modulusLength: 2048 }],
  PS256: ["rsa", { modulusLength: 2048 }],
  ES256: ["ec", { namedCurve: "P-256" }],
  EdDSA: ["ed25519", {}],
}[cfg.idTokenAlg];
if (!keyOptions) throw new Error(`idTokenAlg ${cfg.idTokenAlg} is not supported`);
const { privateKey } = crypto.generateKeyPairSync(...keyOptions);
const signingKey = {
  ...privateKey.export({ format: "jwk" }),
  kid: `test-${cfg.idTokenAlg.toLowerCase()}`,
  alg: cfg.idTokenAlg,
  use: "sig",
};

const grantTTL = Math.max(cfg.refreshTokenTTL, 24 * 60 * 60) * 2;

const provider = new Provider(issuer, {
  clients,
  clientDefaults: {
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    id_token_signed_response_alg: cfg.idTokenAlg,
  },
  enabledJWA: { idTokenSigningAlgValues: [cfg.idTokenAlg] },
  responseTypes: ["code"],
  scopes: cfg.scopes,
  claims: {
    openid: ["sub"],
    profile: ["name", "preferred_username"],
    email: ["email", "email_verified"],
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
  pkce: { required: () => cfg.pkceRequired },
  findAccount(_ctx, sub) {
    return {
      accountId: sub,
      claims() {
        const name = sub.charAt(0).toUpperCase() + sub.slice(1);
        return {
          sub,
          name,
          preferred_username: sub,
          email: `${sub}@example.test`,
          email_verified: true,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    deviceFlow: { enabled: true, userCodeInputSource, userCodeConfirmSource, successSource },
    registration: { enabled: Boolean(cfg.registration), initialAccessToken: false },
    revocation: {
      enabled: true,
      allowedPolicy(_ctx, client, token) {
        if (token.clientId !== client.clientId) {
          throw new errors.InvalidRequest("client is not authorized to revoke the presented token");
        }
        return true;
      },
    },
    introspection: { enabled: true, allowedPolicy: () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(_ctx, indicator) {
        if (cfg.resource === null || indicator !== cfg.resource.url) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: cfg.resource.scope,
          audience: indicator,
          accessTokenTTL: cfg.accessTokenTTL,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: cfg.idTokenAlg } },
        };
      },
    },
  },
  // authsome asks for e.g. "read write offline_access" without prompt=consent: every client that
  // may use the refresh_token grant gets a refresh token, whatever the scopes.
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
  rotateRefreshToken: Boolean(cfg.rotateRefreshToken),
  expiresWithSession: () => false,
  ttl: {
    AccessToken: () => cfg.accessTokenTTL,
    AuthorizationCode: () => cfg.authorizationCodeTTL,
    DeviceCode: () => cfg.deviceCodeTTL,
    RefreshToken: () => cfg.refreshTokenTTL,
    ClientCredentials: () => cfg.accessTokenTTL,
    IdToken: () => 3600,
    Interaction: () => 3600,
    Session: () => grantTTL,
    Grant: () => grantTTL,
    BackchannelAuthenticationRequest: () => 600,
    PreAuthorizedCode: () => 600,
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError,
  clientBasedCORS: () => false,
});

// ---------------------------------------------------------------------------------------------
// interactions (login + consent)

async function interaction(ctx, uid, action) {
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page(
      "Error",
      `<p>${esc(err.message)}</p>`,
      ' data-page="error" data-error="session_not_found"',
    );
    return;
  }
  if (details.uid !== uid) {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page("Error", "<p>interaction mismatch</p>", ' data-page="error"');
    return;
  }
  ctx.set("Cache-Control", "no-store");
  const prompt = details.prompt.name;

  if (action === undefined && ctx.method === "GET") {
    ctx.type = "html";
    ctx.body = prompt === "login" ? loginPage(uid, details) : consentPage(uid, details);
    return;
  }
  if (ctx.method !== "POST") {
    ctx.status = 405;
    return;
  }
  const body = formOf(await readRaw(ctx.req));
  let result;
  let merge = false;
  if (action === "abort") {
    result = { error: "access_denied", error_description: "End-User denied the request" };
  } else if (action === "login" && prompt === "login") {
    const login = (body.login ?? "").trim();
    if (!login) {
      ctx.status = 400;
      ctx.type = "html";
      ctx.body = loginPage(uid, details, "Enter a user name.");
      return;
    }
    result = { login: { accountId: login } };
  } else if (action === "confirm" && prompt === "consent") {
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({
        accountId: details.session.accountId,
        clientId: details.params.client_id,
      });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    result = { consent: { grantId: await grant.save() } };
    merge = true;
  } else {
    ctx.status = 400;
    ctx.type = "html";
    ctx.body = page(
      "Error",
      `<p>unexpected ${esc(action)} during ${esc(prompt)}</p>`,
      ' data-page="error"',
    );
    return;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: merge,
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

// ---------------------------------------------------------------------------------------------
// test routes

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = "application/json";
  ctx.set("Cache-Control", "no-store");
  ctx.body = body;
}

async function testRoute(ctx) {
  const name = ctx.path.slice("/__test/".length);
  switch (name) {
    case "stats":
      return json(ctx, 200, stats);
    case "reset-stats":
      // A fresh start for the next test: counters zeroed, pending failures dropped.
      stats = freshStats();
      for (const endpoint of Object.keys(failures)) delete failures[endpoint];
      return json(ctx, 200, stats);
    case "config":
      return json(ctx, 200, {
        issuer,
        origin,
        port,
        clients,
        accessTokenTTL: cfg.accessTokenTTL,
        refreshTokenTTL: cfg.refreshTokenTTL,
        deviceCodeTTL: cfg.deviceCodeTTL,
        authorizationCodeTTL: cfg.authorizationCodeTTL,
        deviceInterval: cfg.deviceInterval,
        rotateRefreshToken: cfg.rotateRefreshToken,
        pkceRequired: cfg.pkceRequired,
        scopes: cfg.scopes,
      });
    case "fail":
    case "fail-token": {
      if (ctx.method !== "POST") return json(ctx, 405, { error: "POST only" });
      const raw = await readRaw(ctx.req);
      const body = raw.length ? JSON.parse(raw.toString("utf8")) : {};
      const kind = String(body.kind ?? "500");
      const count = Number(body.count ?? 1);
      const endpoint = name === "fail-token" ? "token" : String(body.endpoint ?? "token");
      if (!FAIL_KINDS.has(kind) && !GITHUB_ERROR.test(kind)) {
        return json(ctx, 400, { error: `unknown kind ${kind}` });
      }
      if (!Object.values(ROUTES).includes(endpoint)) {
        return json(ctx, 400, { error: `unknown endpoint ${endpoint}` });
      }
      failures[endpoint] ??= [];
      for (let i = 0; i < count; i++) failures[endpoint].push(kind);
      return json(ctx, 200, { pending: failures });
    }
    case "release":
      if (ctx.method !== "POST") return json(ctx, 405, { error: "POST only" });
      for (const resolve of held.splice(0)) resolve();
      return json(ctx, 200, { released: true });
    case "whoami": {
      const header = ctx.get("authorization");
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const token = match ? await provider.AccessToken.find(match[1]) : undefined;
      if (!token || token.isExpired) {
        ctx.set("WWW-Authenticate", 'Bearer error="invalid_token"');
        return json(ctx, 401, { error: "invalid_token" });
      }
      return json(ctx, 200, {
        sub: token.accountId,
        client_id: token.clientId,
        scope: token.scope,
        exp: token.exp,
      });
    }
    default:
      return json(ctx, 404, { error: "no such test route" });
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith("/__test/")) return testRoute(ctx);

  const interactionMatch = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (interactionMatch) return interaction(ctx, interactionMatch[1], interactionMatch[2]);

  if (ctx.path.startsWith("/.well-known/")) stats.discovery.push(ctx.path);
  if (ctx.path.startsWith("/.well-known/") && !cfg.discovery) {
    return json(ctx, 404, { error: "not found" });
  }
  if (ctx.path === "/.well-known/oauth-authorization-server") {
    if (!cfg.rfc8414) return json(ctx, 404, { error: "not found" });
    ctx.path = "/.well-known/openid-configuration";
  }

  const route = ROUTES[ctx.path];
  if (!route) return next();
  stats.requests[route] = (stats.requests[route] ?? 0) + 1;

  let params = {};
  if (ctx.method === "POST" && ctx.is("application/x-www-form-urlencoded")) {
    // Read the body here (to count grant types even for requests we fail on purpose) and hand
    // it to oidc-provider, which uses an already-read req.body.
    const raw = await readRaw(ctx.req);
    ctx.req.body = raw;
    params = formOf(raw);
  }
  if (route === "token") {
    const grantType = params.grant_type ?? "(none)";
    stats.token_requests[grantType] = (stats.token_requests[grantType] ?? 0) + 1;
    stats.resource_params.push({ route, grant_type: grantType, resource: params.resource ?? null });
  } else if (route === "authorization") {
    stats.resource_params.push({
      route,
      grant_type: null,
      resource: ctx.query.resource ?? null,
    });
  }

  const pending = failures[route];
  if (pending?.length) {
    const kind = pending.shift();
    if (kind === "hold") {
      // Held until the test releases it, then answered normally.
      stats.held = (stats.held ?? 0) + 1;
      await new Promise((resolve) => held.push(resolve));
    } else {
      injectFailure(ctx, kind);
      return;
    }
  }

  await next();

  if (route === "revocation") {
    const entities = ctx.oidc?.entities ?? {};
    stats.revocations += 1;
    stats.last_revocation = {
      status: ctx.status,
      client_id: ctx.oidc?.client?.clientId ?? params.client_id ?? null,
      token_type_hint: params.token_type_hint ?? null,
      token_kind: entities.AccessToken
        ? "access_token"
        : entities.RefreshToken
        ? "refresh_token"
        : entities.ClientCredentials
        ? "client_credentials"
        : null,
    };
  } else if (route === "registration" && ctx.status === 201 && ctx.body?.client_id) {
    stats.registered_clients.push(ctx.body.client_id);
  } else if (
    route === "device_authorization" && ctx.status === 200 && ctx.body &&
    typeof ctx.body === "object" && cfg.deviceInterval != null
  ) {
    ctx.body.interval = cfg.deviceInterval;
  }
});

provider.on("server_error", (_ctx, err) => console.error("oidc-provider server_error:", err));

server.on("request", provider.callback());

// ---------------------------------------------------------------------------------------------
// lifetime

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (cfg.exitOnStdinClose) {
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}

process.stdout.write(JSON.stringify({ issuer, origin, port }) + "\n");
