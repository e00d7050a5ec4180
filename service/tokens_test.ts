/**
 * Handing out tokens, in process, against the real OAuth test server (oidc-provider): the refresh
 * window at its boundaries, rotation, a refused or impossible refresh, a logout during a refresh,
 * one refresh for many callers, auth headers, secret fields, and `export` (never a refresh token).
 * The clock is the service's injected `now`; the server's tokens live 3600 s.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { acmeDefinition, deliver } from "../tests/oauth/cli_flow.ts";
import { type AuthServer, startAuthServer } from "../tests/oauth/server.ts";
import { createAuthService } from "./auth_service.ts";
import { REFRESH_WINDOW_MS } from "./tokens.ts";
import type { AuthService } from "./types.ts";

interface Fixture extends AsyncDisposable {
  server: AuthServer;
  auth: AuthService;
  /** The service's AUTHSOME_HOME. */
  home: string;
  /** The environment the service was created with (its master key among it). */
  env: Record<string, string>;
  /** Moves the service's clock to `ms` (epoch milliseconds). */
  setClock(ms: number): void;
  /** Logs in `connection` of acme as `login` through the real authorization server. */
  login(login: string, connection?: string, force?: boolean): Promise<void>;
  /** The stored expiry of a connection, in epoch ms. */
  expiry(connection?: string): Promise<number>;
  /** Refresh requests the server received so far. */
  refreshes(): Promise<number>;
}

/**
 * One server for the whole file (it stops when this process ends): each fixture starts from zeroed
 * counters and no pending failures, with its own home, so the tests stay independent.
 */
const server = await startAuthServer({
  accessTokenTTL: 3600,
  // A client that is never given a refresh token (no refresh_token grant).
  clients: [{
    client_id: "acme-no-refresh",
    client_secret: "acme-no-refresh-secret",
    token_endpoint_auth_method: "client_secret_post",
    application_type: "native",
    grant_types: ["authorization_code"],
    response_types: ["code"],
    redirect_uris: ["http://127.0.0.1:7998/auth/callback/oauth"],
  }],
});

async function fixture(
  env: Record<string, string> = {},
  authServer: AuthServer = server,
): Promise<Fixture> {
  const server = authServer;
  await server.resetStats();
  const dir = await Deno.makeTempDir({ prefix: "authsome-tokens-" });
  let clock = Date.now();
  const serviceEnv = {
    AUTHSOME_MASTER_KEY: crypto.getRandomValues(new Uint8Array(32)).toBase64(),
    ACME_CLIENT_ID: server.confidentialClient.client_id,
    ACME_CLIENT_SECRET: server.confidentialClient.client_secret,
    ...env,
  };
  const auth = await createAuthService({
    home: join(dir, "home"),
    env: serviceEnv,
    now: () => new Date(clock),
  });
  await auth.registerProvider(acmeDefinition(server, {
    export: { env: { access_token: ["ACME_TOKEN"], api_url: ["ACME_API"] } },
  }));
  return {
    server,
    auth,
    home: join(dir, "home"),
    env: serviceEnv,
    setClock: (ms) => void (clock = ms),
    async login(login, connection = "default", force = false) {
      await auth.login("acme", {
        connection,
        force,
        callbackPort: 0,
        onAuthorizationUrl: async (url) => {
          const { callbackUrl } = await server.approveAuthorization(url, { login });
          // Delivered once the login listens for it (this callback runs before it waits).
          setTimeout(() => void deliver(callbackUrl), 0);
        },
      });
    },
    async expiry(connection = "default") {
      const info = await auth.getConnection("acme", { connection });
      return Date.parse(info.expires_at!);
    },
    async refreshes() {
      return (await server.stats()).token_requests.refresh_token ?? 0;
    },
    async [Symbol.asyncDispose]() {
      await server.release();
      await auth.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Rejects with `code` and exactly `message` (and `hint` when given). */
function authsomeError(code: string, message: string | RegExp, hint?: string) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, String(e));
    assert.equal(e.code, code, e.message);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    if (hint !== undefined) assert.equal(e.hint, hint);
    return true;
  };
}

Deno.test("the refresh window is exactly 300 s: 301 s before expiry the token is handed out, 300 s before it is refreshed", async () => {
  await using f = await fixture();
  await f.login("alice");
  assert.equal(REFRESH_WINDOW_MS, 300_000);
  const first = await f.auth.getAccessToken("acme");
  const expiry = await f.expiry();
  f.setClock(expiry - 301_000);
  assert.equal(await f.auth.getAccessToken("acme"), first);
  assert.equal(await f.refreshes(), 0);
  f.setClock(expiry - 300_000);
  const second = await f.auth.getAccessToken("acme");
  assert.notEqual(second, first);
  assert.equal(await f.refreshes(), 1);
  const info = await f.auth.getConnection("acme");
  assert.equal(info.status, "connected");
  assert.equal(Date.parse(info.obtained_at), expiry - 300_000, "obtained at the refresh");
  assert.equal(Date.parse(info.expires_at!), expiry - 300_000 + 3600_000);
  assert.deepEqual([...info.scopes].sort(), ["openid", "read", "write"]);
});

Deno.test("a rotated refresh token is stored and used for the next refresh", async () => {
  await using f = await fixture();
  await f.login("alice");
  const r0 = await f.auth.getSecret("acme", "refresh_token");
  f.setClock(await f.expiry() - 1000);
  const t1 = await f.auth.getAccessToken("acme");
  const r1 = await f.auth.getSecret("acme", "refresh_token");
  assert.notEqual(r1, r0, "rotated");
  f.setClock(await f.expiry() - 1000);
  const t2 = await f.auth.getAccessToken("acme");
  assert.notEqual(t2, t1);
  assert.equal(await f.refreshes(), 2, "the second refresh used the rotated token and worked");
});

Deno.test("ten callers wanting a token at once cause one refresh and all get the new token", async () => {
  await using f = await fixture();
  await f.login("alice");
  f.setClock(await f.expiry() - 1000);
  const tokens = await Promise.all(
    Array.from({ length: 10 }, () => f.auth.getAccessToken("acme")),
  );
  assert.equal(new Set(tokens).size, 1);
  assert.equal(await f.refreshes(), 1);
});

Deno.test("a refused refresh marks the connection expired (exit 5, re-login hint); it is still shown", async () => {
  await using f = await fixture();
  await f.login("alice");
  f.setClock(await f.expiry() - 1000);
  // Refused every time (as a revoked refresh token is): each later use tries once more.
  await f.server.failNext("invalid_grant", 3);
  await assert.rejects(
    f.auth.getAccessToken("acme"),
    authsomeError(
      "CREDENTIAL_MISSING",
      'The acme connection "default" could not be refreshed: The refresh token was rejected (invalid_grant)',
      "Log in again: authsome login acme --connection default --force",
    ),
  );
  const info = await f.auth.getConnection("acme");
  assert.equal(info.status, "expired");
  assert.equal(info.connection, "default");
  await assert.rejects(
    f.auth.getAuthHeaders("acme"),
    authsomeError("CREDENTIAL_MISSING", /could not be refreshed/),
  );
});

Deno.test("an unreachable token endpoint during refresh changes nothing (exit 8)", async () => {
  await using f = await fixture();
  await f.login("alice");
  const before = await f.auth.getConnection("acme");
  const token = await f.auth.getAccessToken("acme");
  const start = Date.parse(before.obtained_at);
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("500", 1);
  await assert.rejects(
    f.auth.getAccessToken("acme"),
    authsomeError("ENDPOINT_UNREACHABLE", /answered HTTP 500/),
  );
  f.setClock(start);
  assert.deepEqual(await f.auth.getConnection("acme"), before);
  assert.equal(await f.auth.getAccessToken("acme"), token);
});

Deno.test("a logout while a refresh is in flight wins: the refreshed tokens are not saved", async () => {
  await using f = await fixture();
  await f.login("alice");
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("hold", 1);
  const refreshing = f.auth.getAccessToken("acme");
  while (((await f.server.stats()).held ?? 0) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await f.auth.logout("acme");
  await f.server.release();
  await refreshing;
  await assert.rejects(f.auth.getConnection("acme"), authsomeError("CONNECTION_NOT_FOUND", /./));
});

Deno.test("headers, secret fields and their errors", async () => {
  await using f = await fixture();
  await f.login("alice");
  const token = await f.auth.getAccessToken("acme");
  assert.deepEqual(await f.auth.getAuthHeaders("acme"), { Authorization: `Bearer ${token}` });
  assert.equal(await f.auth.getSecret("acme", "access_token"), token);
  assert.equal(
    await f.auth.getSecret("acme", "client_secret"),
    f.server.confidentialClient.client_secret,
  );
  await assert.rejects(
    f.auth.getSecret("acme", "api_key"),
    authsomeError(
      "CREDENTIAL_MISSING",
      'The acme connection "default" has no api_key',
      "It holds: access_token, refresh_token",
    ),
  );
});

Deno.test("export: the access token and API URL in every format, never the refresh token; clashes get a suffix", async () => {
  await using f = await fixture();
  await f.login("alice");
  await f.login("bob", "work");
  const token = await f.auth.getAccessToken("acme");
  const refresh = await f.auth.getSecret("acme", "refresh_token");
  for (const format of ["env", "shell", "json"] as const) {
    const { vars, text } = await f.auth.export("acme", { format });
    assert.deepEqual(vars, { ACME_TOKEN: token, ACME_API: "api.acme.test" });
    assert.ok(text.includes(token), format);
    assert.ok(!text.includes(refresh), `${format} holds the refresh token`);
  }
  const work = await f.auth.export("acme", { connection: "work" });
  assert.notEqual(work.vars.ACME_TOKEN, token);
  await assert.rejects(
    f.auth.export(undefined, { connection: "work" }),
    authsomeError("USAGE", "--connection needs a provider"),
  );

  // Every provider's default: a second provider exporting the same names gets suffixed names.
  await f.auth.registerProvider(acmeDefinition(f.server, {
    name: "acme2",
    display_name: "Acme 2",
    export: { env: { access_token: ["ACME_TOKEN"], api_url: ["ACME_API"] } },
  }));
  const all = await f.auth.export(undefined);
  assert.deepEqual(Object.keys(all.vars).sort(), ["ACME_API", "ACME_TOKEN"]);
  assert.equal(all.vars.ACME_TOKEN, token);
});

Deno.test("export of every provider: the same names with different values get _PROVIDER_CONNECTION suffixes; a connection that cannot be refreshed is left out", async () => {
  await using f = await fixture({ ACME2_KEY: "acme2-key-0123456789" });
  await f.login("alice");
  const token = await f.auth.getAccessToken("acme");
  // An API-key provider exporting the same variable name, with another value.
  await f.auth.registerProvider({
    name: "acme-two",
    display_name: "Acme Two",
    auth_type: "api_key",
    api_url: "api.acme-two.test",
    api_key: { header_name: "x-key", header_prefix: null, env_var: "ACME2_KEY" },
    export: { env: { api_key: ["ACME_TOKEN", "ACME2_KEY"] } },
  });
  await f.auth.login("acme-two", { connection: "main-1" });
  const all = await f.auth.export(undefined, { format: "json" });
  assert.deepEqual(all.vars, {
    ACME_TOKEN: token,
    ACME_API: "api.acme.test",
    ACME_TOKEN_ACME_TWO_MAIN_1: "acme2-key-0123456789",
    ACME2_KEY: "acme2-key-0123456789",
  });
  assert.equal(all.text, JSON.stringify(all.vars, null, 2) + "\n");
  assert.deepEqual(await f.auth.getAuthHeaders("acme-two"), { "x-key": "acme2-key-0123456789" });

  // acme's token is due and its refresh is refused: only acme-two is exported.
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("invalid_grant", 5);
  const without = await f.auth.export(undefined);
  assert.deepEqual(without.vars, {
    ACME_TOKEN: "acme2-key-0123456789",
    ACME2_KEY: "acme2-key-0123456789",
  });
  assert.equal(without.text, "ACME_TOKEN=acme2-key-0123456789\nACME2_KEY=acme2-key-0123456789\n");
});

Deno.test("an API key is never refreshed, whatever the clock says; a missing client secret is named", async () => {
  await using f = await fixture({ ACME2_KEY: "acme2-key-0123456789" });
  await f.auth.registerProvider({
    name: "acme-two",
    display_name: "Acme Two",
    auth_type: "api_key",
    api_url: "api.acme-two.test",
    api_key: { header_name: "Authorization", header_prefix: "Token", env_var: "ACME2_KEY" },
  });
  await f.auth.login("acme-two");
  f.setClock(Date.parse("2100-01-01T00:00:00Z"));
  assert.equal(await f.auth.getAccessToken("acme-two"), "acme2-key-0123456789");
  assert.deepEqual(await f.auth.getAuthHeaders("acme-two"), {
    Authorization: "Token acme2-key-0123456789",
  });
  assert.equal(await f.refreshes(), 0);
  await assert.rejects(
    f.auth.getSecret("acme-two", "client_secret"),
    authsomeError("CREDENTIAL_MISSING", "No client secret is stored for acme-two"),
  );
  await assert.rejects(
    f.auth.getSecret("acme-two", "refresh_token"),
    authsomeError(
      "CREDENTIAL_MISSING",
      'The acme-two connection "default" has no refresh_token',
      "It holds: api_key",
    ),
  );
});

/** The audit log's entries (one JSON object per line). */
async function auditEntries(home: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(home, "audit.log"));
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

Deno.test("a token without a refresh token is handed out until it expires, then the connection is expired with a re-login hint", async () => {
  await using f = await fixture({
    ACME_CLIENT_ID: "acme-no-refresh",
    ACME_CLIENT_SECRET: "acme-no-refresh-secret",
  });
  await f.login("alice");
  const token = await f.auth.getAccessToken("acme");
  const expiry = await f.expiry();
  // Inside the refresh window but not expired: nothing can refresh it, it still works.
  f.setClock(expiry - 1);
  assert.equal(await f.auth.getAccessToken("acme"), token);
  assert.equal((await f.auth.getConnection("acme")).status, "connected");
  f.setClock(expiry);
  const hint = "Log in again: authsome login acme --connection default --force";
  await assert.rejects(
    f.auth.getAccessToken("acme"),
    authsomeError(
      "CREDENTIAL_MISSING",
      'The acme connection "default" has expired and cannot be refreshed',
      hint,
    ),
  );
  assert.equal(await f.refreshes(), 0);
  // The expiry was saved: with the clock set back, the token is still refused, as expired.
  f.setClock(expiry - 3600_000);
  assert.equal((await f.auth.getConnection("acme")).status, "expired");
  await assert.rejects(
    f.auth.getAccessToken("acme"),
    authsomeError("CREDENTIAL_MISSING", 'The acme connection "default" is expired', hint),
  );
  // Every provider's export leaves an expired connection out.
  assert.deepEqual((await f.auth.export(undefined)).vars, {});
  const refreshes = (await auditEntries(f.home)).filter((e) => e.action === "refresh");
  assert.deepEqual(
    refreshes.map((e) => [e.provider, e.connection, e.outcome, e.error]),
    [["acme", "default", "error", "CREDENTIAL_MISSING"]],
  );
});

Deno.test("a server that does not rotate: the refresh token is kept and used again", async () => {
  await using still = await startAuthServer({ accessTokenTTL: 3600, rotateRefreshToken: false });
  await using f = await fixture({}, still);
  await f.login("alice");
  const r0 = await f.auth.getSecret("acme", "refresh_token");
  f.setClock(await f.expiry() - 1000);
  const t1 = await f.auth.getAccessToken("acme");
  assert.equal(await f.auth.getSecret("acme", "refresh_token"), r0);
  f.setClock(await f.expiry() - 1000);
  assert.notEqual(await f.auth.getAccessToken("acme"), t1);
  assert.equal(await f.refreshes(), 2);
});

Deno.test("a new login while a refresh is in flight wins: its tokens are kept", async () => {
  await using f = await fixture();
  await f.login("alice");
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("hold", 1);
  const refreshing = f.auth.getAccessToken("acme");
  while (((await f.server.stats()).held ?? 0) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await f.login("bob", "default", true);
  const bob = await f.auth.getSecret("acme", "refresh_token");
  const bobToken = await f.auth.getAccessToken("acme");
  await f.server.release();
  const refreshed = await refreshing;
  assert.notEqual(refreshed, bobToken);
  assert.equal(await f.auth.getAccessToken("acme"), bobToken);
  assert.equal(await f.auth.getSecret("acme", "refresh_token"), bob);
});

Deno.test("getConnection shows a refused refresh but not an unreachable endpoint; the default flag is per connection", async () => {
  await using f = await fixture();
  await f.login("alice");
  await f.login("bob", "work");
  assert.equal((await f.auth.getConnection("acme")).default, true);
  assert.equal((await f.auth.getConnection("acme", { connection: "work" })).default, false);
  f.setClock(await f.expiry("work") - 1000);
  await f.server.failNext("500", 1);
  await assert.rejects(
    f.auth.getConnection("acme", { connection: "work" }),
    authsomeError("ENDPOINT_UNREACHABLE", /answered HTTP 500/),
  );
  await assert.rejects(
    f.auth.getConnection("nope"),
    authsomeError("PROVIDER_NOT_FOUND", /nope/),
  );
  await f.server.failNext("invalid_grant", 1);
  const work = await f.auth.getConnection("acme", { connection: "work" });
  assert.equal(work.status, "expired");
  assert.equal(work.connection, "work");
  assert.equal(work.default, false);
});

Deno.test("secret fields: an access or refresh token is refreshed first when due, an api_key lookup never refreshes; each is audited with its field", async () => {
  await using f = await fixture();
  await f.login("alice");
  const r0 = await f.auth.getSecret("acme", "refresh_token");
  f.setClock(await f.expiry() - 1000);
  await assert.rejects(
    f.auth.getSecret("acme", "api_key"),
    authsomeError("CREDENTIAL_MISSING", /has no api_key/),
  );
  assert.equal(await f.refreshes(), 0);
  const r1 = await f.auth.getSecret("acme", "refresh_token");
  assert.notEqual(r1, r0);
  assert.equal(await f.refreshes(), 1);
  const secrets = (await auditEntries(f.home)).filter((e) => e.action === "get-secret");
  assert.deepEqual(secrets.map((e) => [e.provider, e.connection, e.detail, e.outcome]), [
    ["acme", undefined, { field: "refresh_token" }, "ok"],
    ["acme", undefined, { field: "api_key" }, "error"],
    ["acme", undefined, { field: "refresh_token" }, "ok"],
  ]);
  await f.auth.getSecret("acme", "access_token", { connection: "default" });
  assert.deepEqual((await auditEntries(f.home)).at(-1)!.connection, "default");
  const text = await Deno.readTextFile(join(f.home, "audit.log"));
  assert.ok(!text.includes(r0) && !text.includes(r1), "a secret reached the audit log");
});

Deno.test("export: base_url and the first plain api_url; an unreachable refresh fails the export of every provider; audited with the format", async () => {
  await using f = await fixture();
  await f.auth.registerProvider(
    acmeDefinition(f.server, {
      api_url: ["regex:^api[0-9]\\.acme\\.test$", "api.acme.test", "eu.acme.test"],
      oauth: {
        ...acmeDefinition(f.server).oauth,
        base_url: "https://acme.test",
        authorization_url: `${f.server.issuer}/auth`,
      },
      export: { env: { base_url: ["ACME_BASE"], api_url: ["ACME_API"] } },
    }),
    { force: true },
  );
  await f.login("alice");
  assert.deepEqual((await f.auth.export("acme")).vars, {
    ACME_BASE: "https://acme.test",
    ACME_API: "api.acme.test",
  });
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("500", 1);
  await assert.rejects(
    f.auth.export(undefined),
    authsomeError("ENDPOINT_UNREACHABLE", /answered HTTP 500/),
  );
  const exports = (await auditEntries(f.home)).filter((e) => e.action === "export");
  assert.deepEqual(exports.map((e) => [e.provider, e.detail, e.outcome, e.error]), [
    ["acme", { format: "env" }, "ok", undefined],
    [undefined, { format: "env" }, "error", "ENDPOINT_UNREACHABLE"],
  ]);
});

Deno.test("a refresh holds only its own connection's lock: another connection refreshes meanwhile", async () => {
  await using f = await fixture();
  await f.login("alice");
  await f.login("bob", "work");
  f.setClock(await f.expiry() - 1000);
  await f.server.failNext("hold", 1);
  const held = f.auth.getAccessToken("acme");
  while (((await f.server.stats()).held ?? 0) === 0) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // "work" is due too; its refresh must not wait for the held one of "default".
  const work = await Promise.race([
    f.auth.getAccessToken("acme", { connection: "work" }).then(() => "refreshed"),
    new Promise((resolve) => setTimeout(() => resolve("blocked"), 5000)),
  ]);
  assert.equal(work, "refreshed");
  await f.server.release();
  await held;
  assert.equal(await f.refreshes(), 2);
});

Deno.test("tokens that are due as soon as they are issued: callers waiting on one refresh still cause one", async () => {
  // Tokens live 100 s, less than the 300 s window: each new token is due at once.
  await using short = await startAuthServer({ accessTokenTTL: 100 });
  await using f = await fixture({}, short);
  await f.login("alice");
  await f.server.resetStats();
  const tokens = await Promise.all(Array.from({ length: 4 }, () => f.auth.getAccessToken("acme")));
  assert.equal(new Set(tokens).size, 1);
  assert.equal(await f.refreshes(), 1);
});

Deno.test("export details: an API-key provider without a base URL leaves it out; equal values are not suffixed; tags fold runs of symbols; the connection is audited; a removed definition is skipped", async () => {
  await using f = await fixture({ ACME2_KEY: "acme2-key-0123456789" });
  await f.login("alice");
  const token = await f.auth.getAccessToken("acme");
  await f.auth.registerProvider({
    name: "acme-two",
    display_name: "Acme Two",
    auth_type: "api_key",
    api_url: "api.acme-two.test",
    api_key: { header_name: "x-key", header_prefix: null, env_var: "ACME2_KEY" },
    export: { env: { api_key: ["ACME_TOKEN"], base_url: ["ACME2_BASE"], api_url: ["ACME_API"] } },
  });
  await f.auth.login("acme-two", { connection: "x--1" });
  assert.deepEqual((await f.auth.export("acme-two")).vars, {
    ACME_TOKEN: "acme2-key-0123456789",
    ACME_API: "api.acme-two.test",
  });
  const all = await f.auth.export(undefined);
  assert.deepEqual(all.vars, {
    ACME_TOKEN: token,
    ACME_API: "api.acme.test",
    ACME_TOKEN_ACME_TWO_X_1: "acme2-key-0123456789",
    ACME_API_ACME_TWO_X_1: "api.acme-two.test",
  });
  await f.auth.export("acme", { connection: "default" });
  const last = (await auditEntries(f.home)).at(-1)!;
  assert.deepEqual([last.action, last.provider, last.connection], ["export", "acme", "default"]);
  await assert.rejects(
    f.auth.export(undefined, { connection: "default" }),
    authsomeError(
      "USAGE",
      "--connection needs a provider",
      "Run: authsome export PROVIDER --connection NAME",
    ),
  );
  // The same name with the same value from two providers is one variable.
  await f.auth.registerProvider({
    name: "acme-three",
    display_name: "Acme Three",
    auth_type: "api_key",
    api_url: "api.acme.test",
    api_key: { header_name: "x-key", header_prefix: null, env_var: "ACME2_KEY" },
    export: { env: { api_url: ["ACME_API"] } },
  });
  await f.auth.login("acme-three");
  assert.deepEqual(Object.keys((await f.auth.export(undefined)).vars).sort(), [
    "ACME_API",
    "ACME_API_ACME_TWO_X_1",
    "ACME_TOKEN",
    "ACME_TOKEN_ACME_TWO_X_1",
  ]);
  // A provider whose definition file is gone is skipped, not an error.
  for await (const entry of Deno.readDir(join(f.home, "providers"))) {
    if (entry.name.startsWith("acme-two")) await Deno.remove(join(f.home, "providers", entry.name));
  }
  const again = await createAuthService({ home: f.home, env: f.env });
  try {
    assert.deepEqual((await again.export(undefined)).vars, {
      ACME_TOKEN: token,
      ACME_API: "api.acme.test",
    });
  } finally {
    await again.close();
  }
});
