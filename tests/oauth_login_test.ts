/**
 * End-to-end OAuth2 tests through the real CLI against a real authorization server (oidc-provider,
 * tests/oauth/server.ts): pkce, device code and dcr logins, refresh (also 20 processes at once),
 * revocation, logout, and hostile or broken answers at every step.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, readTree, runCli, tempHome } from "./helpers.ts";
import { storeDigest, vaultExists } from "./support/store_file.ts";
import { type AuthServer, type AuthServerOptions, startAuthServer } from "./oauth/server.ts";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  portAccepts,
  redirectPort,
  setStoredExpiry,
  spawnCli,
  storedRecord,
  USER_CODE,
  whoami,
} from "./oauth/cli_flow.ts";

// -----------------------------------------------------------------------------------------------
// fixture

/** The parts of a stored connection record the tests look at. */
interface StoredConnection {
  status: string;
  expires_at: string | null;
  secrets: { access_token?: string; refresh_token?: string };
}

/** `get --json` of an OAuth connection. */
interface ConnectionDoc {
  provider: string;
  connection: string;
  default: boolean;
  status: string;
  auth_type: string;
  scopes: string[];
  expires_at: string | null;
  obtained_at: string;
  token_type: string | null;
  account: { id: string | null; label: string | null } | null;
}

/** `list --json`, reduced to what is asserted. */
interface ListDoc {
  providers: Array<{
    name: string;
    state: string;
    connections: Array<{ name: string; status: string; default: boolean }>;
  }>;
}

interface Fixture extends AsyncDisposable {
  server: AuthServer;
  home: string;
  /** ACME_CLIENT_ID/ACME_CLIENT_SECRET of the confidential client. */
  confidential: Record<string, string>;
  /** ACME_CLIENT_ID of the public client. */
  public: Record<string, string>;
  /** Runs `./authsome ARGS` to its end (stdin /dev/null, BROWSER=true). */
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

/** Starts a server, makes a temp home and registers the providers (default: `acme`, pkce). */
async function fixture(
  serverOptions: AuthServerOptions = {},
  definitions?: (server: AuthServer) => Array<Record<string, unknown>>,
): Promise<Fixture> {
  const server = await startAuthServer(serverOptions);
  const tmp = await tempHome();
  const home = tmp.home;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, { home, env: { BROWSER: "true", ...env } });
  try {
    for (const def of definitions?.(server) ?? [acmeDefinition(server)]) {
      const file = join(home, "..", `${def.name}.json`);
      await Deno.writeTextFile(file, JSON.stringify(def));
      const r = await cli(["provider", "register", file]);
      assert.equal(r.code, 0, `provider register ${def.name}: ${r.stderr}`);
    }
  } catch (error) {
    await server.close();
    await tmp[Symbol.asyncDispose]();
    throw error;
  }
  return {
    server,
    home,
    confidential: {
      ACME_CLIENT_ID: server.confidentialClient.client_id,
      ACME_CLIENT_SECRET: server.confidentialClient.client_secret,
    },
    // An empty secret variable marks a public client: nothing is asked for it.
    public: { ACME_CLIENT_ID: server.publicClient.client_id, ACME_CLIENT_SECRET: "" },
    cli,
    async [Symbol.asyncDispose]() {
      await server.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** How a pkce login went. */
interface PkceLogin {
  result: CliResult;
  /** The authorization URL the CLI printed. */
  url: string;
  /** The loopback port of its redirect URI. */
  port: number;
  /** Where the server sent the browser back (after `tamper`). */
  callbackUrl: string;
  /** What the callback server answered the browser. */
  delivery: Awaited<ReturnType<typeof deliver>>;
}

/**
 * Runs `login PROVIDER --callback-port 0 ARGS`, plays the user at the authorization server as
 * `login` (or denies), optionally rewrites the callback URL, delivers it, and waits for the exit.
 */
async function loginPkce(
  f: Fixture,
  options: {
    login: string;
    provider?: string;
    args?: string[];
    env?: Record<string, string>;
    denyConsent?: boolean;
    tamper?: (callback: URL) => void;
  },
): Promise<PkceLogin> {
  const child = spawnCli(
    ["login", options.provider ?? "acme", "--callback-port", "0", ...(options.args ?? [])],
    { home: f.home, env: options.env ?? f.confidential },
  );
  try {
    const [, url] = await child.waitForStderr(AUTHORIZATION_URL);
    const { callbackUrl: raw } = await f.server.approveAuthorization(url!, {
      login: options.login,
      denyConsent: options.denyConsent === true,
    });
    const callback = new URL(raw);
    options.tamper?.(callback);
    const delivery = await deliver(callback.href);
    const result = await child.done();
    return { result, url: url!, port: redirectPort(url!), callbackUrl: callback.href, delivery };
  } finally {
    child.kill();
    await child.done();
  }
}

/** Asserts a successful CLI run. */
function assertOk(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stderr}`);
}

/**
 * Asserts a clean failure: exit `code`, exactly one `error:` line matching `message`, no stack
 * trace, no "Unexpected error".
 */
function assertFailure(r: CliResult, code: number, message: RegExp, what: string): void {
  const context = `${what}: exit ${r.code}\n--- stderr ---\n${r.stderr}`;
  assert.equal(r.code, code, context);
  assert.ok(!r.stderr.includes("    at "), `no stack trace; ${context}`);
  assert.ok(!/Unexpected error/i.test(r.stderr), `an expected failure; ${context}`);
  const errors = r.stderr.split("\n").filter((line) => line.startsWith("error: "));
  assert.equal(errors.length, 1, `one error line; ${context}`);
  assert.match(errors[0]!, message, context);
}

/** Asserts that no connection and no vault file exist (a fresh home after a failed login). */
async function assertNothingStored(f: Fixture, what: string): Promise<void> {
  const get = await f.cli(["get", "acme"]);
  assert.equal(get.code, 3, `${what}: get after the failure exited ${get.code}: ${get.stderr}`);
  assert.equal(vaultExists(f.home), false, `${what}: no vault was written`);
}

/** Asserts that the loopback callback port no longer accepts connections. */
async function assertPortClosed(port: number, what: string): Promise<void> {
  assert.ok(port > 0, `${what}: a real port (${port})`);
  assert.equal(await portAccepts(port), false, `${what}: port ${port} still accepts connections`);
}

async function getJson(f: Fixture, args: string[] = []): Promise<ConnectionDoc> {
  const r = await f.cli(["get", "acme", "--json", ...args]);
  assertOk(r, `get acme --json ${args.join(" ")}`);
  return JSON.parse(r.stdout) as ConnectionDoc;
}

async function accessToken(f: Fixture, args: string[] = []): Promise<CliResult> {
  return await f.cli(["get", "acme", "--field", "access_token", "--show-secret", ...args]);
}

async function stored(f: Fixture, connection = "default"): Promise<StoredConnection> {
  const record = await storedRecord<StoredConnection>(f.home, `connection/acme/${connection}`);
  assert.ok(record, `connection/acme/${connection} is stored`);
  return record;
}

const sorted = (values: string[]) => [...values].sort();

// -----------------------------------------------------------------------------------------------
// pkce

Deno.test("pkce login with a confidential client stores account, scopes and expiry, never writes or prints a secret, and a second connection reuses the stored client", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  const startedAt = Date.now();
  const login = await loginPkce(f, { login: "alice" });
  assertOk(login.result, "login acme");
  assert.match(login.result.stderr, /Logged in to acme \(default\) as alice/);
  assert.equal(login.delivery.status, 200, "the callback page answers 200");
  assert.match(login.delivery.text, /go back to the terminal/);
  await assertPortClosed(login.port, "after the login");

  const url = new URL(login.url);
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.equal(url.searchParams.get("client_id"), f.server.confidentialClient.client_id);
  assert.match(
    url.searchParams.get("redirect_uri")!,
    /^http:\/\/127\.0\.0\.1:\d+\/auth\/callback\/oauth$/,
  );

  const doc = await getJson(f);
  assert.equal(doc.status, "connected");
  assert.equal(doc.auth_type, "oauth2");
  assert.equal(doc.default, true);
  assert.equal(doc.token_type, "Bearer");
  assert.deepEqual(sorted(doc.scopes), ["openid", "read", "write"]);
  assert.deepEqual(doc.account, { id: "alice", label: "alice" });
  const expiresIn = (Date.parse(doc.expires_at!) - startedAt) / 1000;
  assert.ok(
    expiresIn > 3400 && expiresIn < 3700,
    `expires_at about an hour ahead: ${doc.expires_at}`,
  );

  const token = await accessToken(f);
  assertOk(token, "get --field access_token --show-secret");
  const access = token.stdout.trim();
  assert.ok(access.length >= 20, `an access token: ${access}`);
  assert.equal((await whoami(f.server.issuer, access)).body.sub, "alice");
  const refresh = (await stored(f)).secrets.refresh_token;
  assert.ok(refresh, "a refresh token is stored");
  const clientSecret = f.server.confidentialClient.client_secret;

  const exported = await f.cli(["export", "acme"]);
  assertOk(exported, "export acme");
  assert.equal(exported.stdout.trim(), `ACME_ACCESS_TOKEN=${access}`);

  // Secrets appear nowhere else: not in any file, not in any other command's output.
  const outputs: Array<[string, CliResult]> = [
    ["login", login.result],
    ["get --json", await f.cli(["get", "acme", "--json"])],
    ["get", await f.cli(["get", "acme"])],
    ["list --json", await f.cli(["list", "--json"])],
    ["inspect", await f.cli(["inspect", "acme"])],
    ["log", await f.cli(["log", "-n", "50"])],
    ["export", exported],
  ];
  for (const [what, r] of outputs) {
    const text = r.stdout + r.stderr;
    assert.ok(!text.includes(clientSecret), `${what} prints no client secret`);
    assert.ok(!text.includes(refresh), `${what} prints no refresh token`);
    if (what !== "export") assert.ok(!text.includes(access), `${what} prints no access token`);
  }
  const tree = await readTree(f.home);
  assert.ok(tree.has(join(f.home, "authsome.db")), "the store exists");
  for (const [path, content] of tree) {
    for (
      const [name, secret] of [["client secret", clientSecret], ["access token", access], [
        "refresh token",
        refresh,
      ]] as const
    ) {
      assert.ok(!content.includes(secret), `${path} holds no plaintext ${name}`);
    }
  }

  // A second connection without the client variables: the stored client (with its secret) is used.
  await f.server.resetStats();
  const second = await loginPkce(f, { login: "alice", args: ["--connection", "second"], env: {} });
  assertOk(second.result, "login acme --connection second without ACME_CLIENT_*");
  const secondUrl = new URL(second.url);
  assert.equal(secondUrl.searchParams.get("client_id"), f.server.confidentialClient.client_id);
  const stats = await f.server.stats();
  assert.equal(stats.token_requests.authorization_code, 1, JSON.stringify(stats));
  const secondDoc = await getJson(f, ["--connection", "second"]);
  assert.equal(secondDoc.status, "connected");
  assert.equal(secondDoc.default, false, "the first connection stays the default");
});

// -----------------------------------------------------------------------------------------------
// device code

Deno.test("device-code login with a public client prints the user code and logs in once the device is approved", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  const child = spawnCli(["login", "acme", "--flow", "device_code"], {
    home: f.home,
    env: f.public,
  });
  try {
    const [, userCode] = await child.waitForStderr(USER_CODE);
    assert.match(child.stderr(), new RegExp(`open ${f.server.issuer}/device\\b`));
    const approved = await f.server.approveDevice(userCode!, { login: "carol" });
    assert.equal(approved.outcome, "approved");
    const r = await child.done();
    assertOk(r, "login --flow device_code");
    assert.match(r.stderr, /Logged in to acme \(default\) as carol/);
  } finally {
    child.kill();
    await child.done();
  }
  const doc = await getJson(f);
  assert.equal(doc.status, "connected");
  assert.deepEqual(doc.account, { id: "carol", label: "carol" });
  assert.deepEqual(sorted(doc.scopes), ["openid", "read", "write"]);
  const token = await accessToken(f);
  assertOk(token, "get --field access_token");
  const who = await whoami(f.server.issuer, token.stdout.trim());
  assert.equal(who.status, 200);
  assert.equal(who.body.client_id, f.server.publicClient.client_id);
  const stats = await f.server.stats();
  assert.equal(stats.token_requests["urn:ietf:params:oauth:grant-type:device_code"]! >= 1, true);
  // A public client has no secret to store.
  const secret = await f.cli(["get", "acme", "--field", "client_secret", "--show-secret"]);
  assert.equal(secret.code, 5, `a public client has no client secret: ${secret.stderr}`);
});

Deno.test("a device login aborted on the confirmation page exits 2 and stores nothing", async () => {
  await using f = await fixture();
  const child = spawnCli(["login", "acme", "--flow", "device_code"], {
    home: f.home,
    env: f.public,
  });
  try {
    const [, userCode] = await child.waitForStderr(USER_CODE);
    const denied = await f.server.approveDevice(userCode!, { login: "carol", deny: true });
    assert.equal(denied.outcome, "denied");
    assertFailure(await child.done(), 2, /denied/, "denied device login");
  } finally {
    child.kill();
    await child.done();
  }
  await assertNothingStored(f, "denied device login");
});

Deno.test("a device code that expires before anyone approves it exits 2 'expired' and stores nothing", async () => {
  await using f = await fixture({ deviceCodeTTL: 3 });
  const child = spawnCli(["login", "acme", "--flow", "device_code"], {
    home: f.home,
    env: f.public,
  });
  try {
    await child.waitForStderr(USER_CODE);
    assertFailure(await child.done(), 2, /device code expired/, "expired device code");
  } finally {
    child.kill();
    await child.done();
  }
  await assertNothingStored(f, "expired device code");
});

// -----------------------------------------------------------------------------------------------
// dynamic client registration

Deno.test("dcr_pkce login registers a client found by discovery, and a second login reuses it without registering again", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 }, (server) => [
    acmeDefinition(server, {
      flow: "dcr_pkce",
      oauth: {
        authorization_url: `${server.issuer}/auth`,
        token_url: `${server.issuer}/token`,
        revocation_url: `${server.issuer}/token/revocation`,
        scopes: ["openid", "read"],
      },
    }),
  ]);
  const first = await loginPkce(f, { login: "dave", env: {} });
  assertOk(first.result, "dcr login");
  let stats = await f.server.stats();
  assert.equal(stats.requests.registration, 1, JSON.stringify(stats));
  assert.equal(stats.registered_clients.length, 1);
  const registered = stats.registered_clients[0]!;
  assert.equal(new URL(first.url).searchParams.get("client_id"), registered);
  const client = await storedRecord<{ client_id: string }>(f.home, "client/acme");
  assert.equal(client?.client_id, registered, "the registered client is stored");
  const doc = await getJson(f);
  assert.equal(doc.status, "connected");
  assert.deepEqual(doc.account, { id: "dave", label: "dave" });

  const second = await loginPkce(f, { login: "erin", args: ["--connection", "two"], env: {} });
  assertOk(second.result, "second dcr login");
  stats = await f.server.stats();
  assert.equal(stats.requests.registration, 1, `no second registration: ${JSON.stringify(stats)}`);
  assert.deepEqual(stats.registered_clients, [registered]);
  assert.equal(new URL(second.url).searchParams.get("client_id"), registered);
  assert.deepEqual((await getJson(f, ["--connection", "two"])).account, {
    id: "erin",
    label: "erin",
  });
});

// -----------------------------------------------------------------------------------------------
// connections

Deno.test("two connections of one provider keep their own account and scopes", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  const personal = await loginPkce(f, { login: "alice", args: ["--scopes", "openid,read"] });
  assertOk(personal.result, "login default as alice");
  assert.equal(new URL(personal.url).searchParams.get("scope"), "openid read");
  const work = await loginPkce(f, {
    login: "bob",
    args: ["--connection", "work", "--scopes", "openid,write"],
  });
  assertOk(work.result, "login work as bob");
  assert.match(work.result.stderr, /Logged in to acme \(work\) as bob/);

  const a = await getJson(f, ["--connection", "default"]);
  const b = await getJson(f, ["--connection", "work"]);
  assert.deepEqual(a.account, { id: "alice", label: "alice" });
  assert.deepEqual(sorted(a.scopes), ["openid", "read"]);
  assert.equal(a.default, true);
  assert.deepEqual(b.account, { id: "bob", label: "bob" });
  assert.deepEqual(sorted(b.scopes), ["openid", "write"]);
  assert.equal(b.default, false);

  const ta = (await accessToken(f, ["--connection", "default"])).stdout.trim();
  const tb = (await accessToken(f, ["--connection", "work"])).stdout.trim();
  assert.notEqual(ta, tb);
  const wa = await whoami(f.server.issuer, ta);
  const wb = await whoami(f.server.issuer, tb);
  assert.equal(wa.body.sub, "alice");
  assert.deepEqual(sorted(wa.body.scope!.split(" ")), ["openid", "read"]);
  assert.equal(wb.body.sub, "bob");
  assert.deepEqual(sorted(wb.body.scope!.split(" ")), ["openid", "write"]);

  const list = await f.cli(["list", "--json"]);
  assertOk(list, "list --json");
  const acme = (JSON.parse(list.stdout) as ListDoc).providers.find((p) => p.name === "acme")!;
  assert.deepEqual(
    acme.connections.map((c) => [c.name, c.status, c.default]).sort(),
    [["default", "connected", true], ["work", "connected", false]],
  );
});

// -----------------------------------------------------------------------------------------------
// refresh

Deno.test("get --field access_token refreshes a token near expiry, and the rotated refresh token works for the next refresh", async () => {
  await using f = await fixture({ accessTokenTTL: 5 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const before = await stored(f);
  const t0 = before.secrets.access_token!;
  const r0 = before.secrets.refresh_token!;
  await f.server.resetStats();

  const first = await accessToken(f);
  assertOk(first, "first get");
  const t1 = first.stdout.trim();
  assert.notEqual(t1, t0, "a token within 300 s of expiry is refreshed before it is handed out");
  let stats = await f.server.stats();
  assert.equal(stats.token_requests.refresh_token, 1, JSON.stringify(stats));
  const afterFirst = await stored(f);
  assert.equal(afterFirst.secrets.access_token, t1, "the new access token is stored");
  const r1 = afterFirst.secrets.refresh_token!;
  assert.notEqual(r1, r0, "the rotated refresh token is stored");

  const second = await accessToken(f);
  assertOk(second, "second get (uses the rotated refresh token)");
  const t2 = second.stdout.trim();
  assert.notEqual(t2, t1);
  stats = await f.server.stats();
  assert.equal(stats.token_requests.refresh_token, 2, JSON.stringify(stats));
  assert.notEqual((await stored(f)).secrets.refresh_token, r1, "rotated again");
  const who = await whoami(f.server.issuer, t2);
  assert.equal(who.status, 200);
  assert.equal(who.body.sub, "alice");
  const doc = await getJson(f);
  assert.equal(doc.status, "connected");
  assert.deepEqual(doc.account, { id: "alice", label: "alice" });
});

Deno.test("20 processes wanting a fresh token at once cause exactly one refresh and all print the same new token", async () => {
  // Tokens live an hour, so the refreshed one is good for everybody. (With tokens that live
  // less than the 300 s refresh window, every fresh token "needs a refresh" again and each
  // process would rightly refresh in turn.)
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const t0 = (await stored(f)).secrets.access_token!;
  // The stored token now expires in a minute: inside the refresh window.
  await setStoredExpiry(f.home, "acme", "default", new Date(Date.now() + 60_000));
  await f.server.resetStats();

  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        f.cli(
          i % 2 === 0
            ? ["get", "acme", "--field", "access_token", "--show-secret"]
            : ["export", "acme", "--format", "json"],
        ),
    ),
  );
  const tokens = new Map<string, number>();
  for (const [i, r] of results.entries()) {
    assertOk(r, `process #${i}`);
    const token = i % 2 === 0
      ? r.stdout.trim()
      : (JSON.parse(r.stdout) as Record<string, string>).ACME_ACCESS_TOKEN!;
    tokens.set(token, (tokens.get(token) ?? 0) + 1);
  }
  const stats = await f.server.stats();
  assert.equal(
    stats.token_requests.refresh_token,
    1,
    `one refresh for 20 processes: ${JSON.stringify(stats.token_requests)}`,
  );
  assert.equal(tokens.size, 1, `one token for all: ${JSON.stringify([...tokens.values()])}`);
  const [token] = tokens.keys();
  assert.notEqual(token, t0, "the refreshed token");
  const after = await stored(f);
  assert.equal(after.secrets.access_token, token);
  assert.ok(Date.parse(after.expires_at!) > Date.now() + 3000_000, "the new expiry is stored");
  assert.equal((await whoami(f.server.issuer, token!)).status, 200);
});

Deno.test("a refresh rejected with invalid_grant exits 5 with the re-login hint and marks the connection expired", async () => {
  await using f = await fixture({ accessTokenTTL: 5 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  // The user revokes the app at the provider: the grant (and its refresh token) is gone.
  const refreshToken = (await stored(f)).secrets.refresh_token!;
  const revoked = await fetch(`${f.server.issuer}/token/revocation`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      token: refreshToken,
      token_type_hint: "refresh_token",
      client_id: f.server.confidentialClient.client_id,
      client_secret: f.server.confidentialClient.client_secret,
    }),
  });
  await revoked.body?.cancel();
  assert.equal(revoked.status, 200);

  const exported = await f.cli(["export", "acme"]);
  assertFailure(exported, 5, /refresh/i, "export after the grant was revoked");
  assert.match(exported.stderr, /hint: .*login acme --connection default --force/);
  assert.equal(exported.stdout, "", "no variable is printed");
  const doc = await getJson(f);
  assert.equal(doc.status, "expired");
  const list = await f.cli(["list", "--json"]);
  assertOk(list, "list --json");
  const acme = (JSON.parse(list.stdout) as ListDoc).providers.find((p) => p.name === "acme")!;
  assert.equal(acme.connections[0]?.status, "expired");

  const get = await accessToken(f);
  assertFailure(get, 5, /acme/, "get --field access_token of the expired connection");
  assert.match(get.stderr, /hint: .*login acme --connection default --force/);
});

Deno.test("an unreachable token endpoint during refresh exits 8 and leaves the store unchanged", async () => {
  await using f = await fixture({ accessTokenTTL: 5 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const hash = await storeDigest(f.home);
  await f.server.close();

  const exported = await f.cli(["export", "acme"]);
  assertFailure(exported, 8, /reach/i, "export with the server down");
  assert.equal(await storeDigest(f.home), hash, "export left the store as it was");
  const get = await accessToken(f);
  assertFailure(get, 8, /reach/i, "get --field access_token with the server down");
  assert.equal(await storeDigest(f.home), hash, "get left the store as it was");
  assert.equal((await stored(f)).status, "connected");
});

// -----------------------------------------------------------------------------------------------
// revoke and logout

Deno.test("revoke --connection revokes that connection at the server and keeps the other; revoke without it removes every connection and the client", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login default");
  assertOk(
    (await loginPkce(f, { login: "bob", args: ["--connection", "work"] })).result,
    "login work",
  );
  const personal = (await accessToken(f, ["--connection", "default"])).stdout.trim();
  const work = (await accessToken(f, ["--connection", "work"])).stdout.trim();
  assert.equal((await whoami(f.server.issuer, work)).status, 200);
  await f.server.resetStats();

  const one = await f.cli(["revoke", "acme", "--connection", "work"]);
  assertOk(one, "revoke acme --connection work");
  let stats = await f.server.stats();
  assert.ok(stats.revocations >= 1, `the server saw the revocation: ${JSON.stringify(stats)}`);
  assert.equal(stats.last_revocation?.status, 200);
  assert.equal(stats.last_revocation?.client_id, f.server.confidentialClient.client_id);
  assert.equal((await whoami(f.server.issuer, work)).status, 401, "the revoked token is refused");
  assert.equal((await whoami(f.server.issuer, personal)).status, 200, "the other still works");
  assert.equal((await f.cli(["get", "acme", "--connection", "work"])).code, 3);
  const left = await getJson(f);
  assert.equal(left.connection, "default");
  assert.equal(left.status, "connected");
  assert.equal((await accessToken(f)).stdout.trim(), personal);

  const all = await f.cli(["revoke", "acme", "--yes"]);
  assertOk(all, "revoke acme");
  stats = await f.server.stats();
  assert.ok(stats.revocations > 1, JSON.stringify(stats));
  assert.equal((await whoami(f.server.issuer, personal)).status, 401);
  assert.equal((await f.cli(["get", "acme"])).code, 3);
  const list = await f.cli(["list", "--json"]);
  const acme = (JSON.parse(list.stdout) as ListDoc).providers.find((p) => p.name === "acme")!;
  assert.deepEqual(acme.connections, []);
  assert.equal(acme.state, "available", "no client credentials are left");
  assert.equal(await storedRecord(f.home, "client/acme"), undefined);

  // The client is gone: a login without the variables (no terminal, no browser) cannot find one.
  const again = await f.cli(["login", "acme", "--callback-port", "0"], { BROWSER: "" });
  assertFailure(again, 2, /No OAuth client ID/, "login after revoke acme");
});

Deno.test("logout deletes the connection locally without contacting the provider", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const token = (await accessToken(f)).stdout.trim();
  const before = await f.server.stats();
  const r = await f.cli(["logout", "acme"]);
  assertOk(r, "logout acme");
  assert.deepEqual(await f.server.stats(), before, "the server saw no request");
  assert.equal((await f.cli(["get", "acme"])).code, 3);
  assert.equal((await whoami(f.server.issuer, token)).status, 200, "the token was not revoked");
});

// -----------------------------------------------------------------------------------------------
// hostile and broken answers during a login

Deno.test("a callback with a wrong state fails the login (2), is used once, stores nothing and closes the port", async () => {
  await using f = await fixture();
  const login = await loginPkce(f, {
    login: "mallory",
    tamper: (u) => u.searchParams.set("state", "not-the-state"),
  });
  assertFailure(login.result, 2, /state/, "wrong state");
  assert.equal(login.delivery.status, 400, "the page says the login failed");
  assert.doesNotMatch(login.delivery.text, /Login complete/);
  const replay = await deliver(login.callbackUrl);
  assert.ok(replay.refused, `the callback server is gone: ${JSON.stringify(replay)}`);
  await assertPortClosed(login.port, "wrong state");
  await assertNothingStored(f, "wrong state");
});

Deno.test("a replayed callback after a successful login finds the callback server closed and changes nothing", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  const login = await loginPkce(f, { login: "alice" });
  assertOk(login.result, "login");
  const hash = await storeDigest(f.home);
  const doc = await getJson(f);
  const replay = await deliver(login.callbackUrl);
  assert.ok(replay.refused, `connection refused: ${JSON.stringify(replay)}`);
  await assertPortClosed(login.port, "replay");
  assert.equal(await storeDigest(f.home), hash, "the store is unchanged");
  assert.deepEqual(await getJson(f), doc);
});

Deno.test("a callback with error=access_denied fails the login (2), stores nothing and closes the port", async () => {
  await using f = await fixture();
  const login = await loginPkce(f, { login: "alice", denyConsent: true });
  assert.equal(new URL(login.callbackUrl).searchParams.get("error"), "access_denied");
  assertFailure(login.result, 2, /denied/, "access_denied");
  assert.equal(login.delivery.status, 400, "the page says the login failed");
  await assertPortClosed(login.port, "access_denied");
  await assertNothingStored(f, "access_denied");
});

for (
  const [kind, what] of [
    ["500", "HTTP 500"],
    ["non-json", "a body that is not JSON"],
    ["html", "an HTML page"],
  ] as const
) {
  Deno.test(`a token endpoint answering ${what} at the code exchange fails the login (2), stores nothing and closes the port`, async () => {
    await using f = await fixture();
    await f.server.failNext(kind);
    const login = await loginPkce(f, { login: "alice" });
    assertFailure(login.result, 2, /token endpoint/, `token endpoint ${kind}`);
    const stats = await f.server.stats();
    assert.equal(stats.injected_failures, 1, "the failure hit the code exchange");
    assert.equal(stats.token_requests.authorization_code, 1, JSON.stringify(stats));
    await assertPortClosed(login.port, `token endpoint ${kind}`);
    await assertNothingStored(f, `token endpoint ${kind}`);
  });
}

Deno.test("a callback with a mismatched iss fails the login (2), stores nothing and closes the port", async () => {
  await using f = await fixture();
  const login = await loginPkce(f, {
    login: "alice",
    tamper: (u) => {
      assert.equal(u.searchParams.get("iss"), f.server.issuer, "the server sends iss");
      u.searchParams.set("iss", "https://evil.example");
    },
  });
  assertFailure(login.result, 2, /issuer/, "mismatched iss");
  const stats = await f.server.stats();
  assert.equal(stats.requests.token ?? 0, 0, "the code was not exchanged");
  await assertPortClosed(login.port, "mismatched iss");
  await assertNothingStored(f, "mismatched iss");
});

Deno.test("login --timeout 2 with nobody at the browser exits 2 'Timed out' and closes the port", async () => {
  await using f = await fixture();
  const child = spawnCli(["login", "acme", "--callback-port", "0", "--timeout", "2"], {
    home: f.home,
    env: f.confidential,
  });
  let port = 0;
  try {
    const [, url] = await child.waitForStderr(AUTHORIZATION_URL);
    port = redirectPort(url!);
    assert.equal(await portAccepts(port), true, "the callback server listens while waiting");
    assertFailure(await child.done(), 2, /Timed out/, "login --timeout 2");
  } finally {
    child.kill();
    await child.done();
  }
  await assertPortClosed(port, "timeout");
  await assertNothingStored(f, "timeout");
});

Deno.test("a revocation the server refuses deletes nothing and points to logout", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const before = await storeDigest(f.home);
  await f.server.failNext("500", 1, "revocation");
  const r = await f.cli(["revoke", "acme", "--connection", "default"]);
  assertFailure(r, 2, /revocation endpoint/, "revoke with the endpoint failing");
  assert.match(r.stderr, /hint: Nothing was deleted\. .*authsome logout acme --connection default/);
  assert.equal(await storeDigest(f.home), before, "the vault is unchanged");
  assert.equal((await getJson(f)).status, "connected");
});

Deno.test("the refresh window is 300 s: a token expiring in 310 s is handed out as is, one expiring in 290 s is refreshed first", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const t0 = (await stored(f)).secrets.access_token!;
  await f.server.resetStats();

  await setStoredExpiry(f.home, "acme", "default", new Date(Date.now() + 310_000));
  const outside = await accessToken(f);
  assertOk(outside, "get at +310 s");
  assert.equal(outside.stdout.trim(), t0, "not refreshed outside the window");
  assert.equal((await f.server.stats()).token_requests.refresh_token ?? 0, 0);

  await setStoredExpiry(f.home, "acme", "default", new Date(Date.now() + 290_000));
  const inside = await accessToken(f);
  assertOk(inside, "get at +290 s");
  assert.notEqual(inside.stdout.trim(), t0, "refreshed inside the window");
  assert.equal((await f.server.stats()).token_requests.refresh_token, 1);
});

Deno.test("no refresh token leaves through export (env, shell, json) or run --env; only get --field refresh_token --show-secret prints it", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  const { access_token: access, refresh_token: refresh } = (await stored(f)).secrets;
  assert.ok(access && refresh);
  for (const format of ["env", "shell", "json"]) {
    const r = await f.cli(["export", "acme", "--format", format]);
    assertOk(r, `export --format ${format}`);
    assert.ok(r.stdout.includes(access), `${format}: the access token is exported`);
    assert.ok(!r.stdout.includes(refresh) && !r.stderr.includes(refresh), `${format} holds it`);
  }
  const all = await f.cli(["export", "--format", "json"]);
  assert.ok(!all.stdout.includes(refresh), "export of every default connection");
  const run = await f.cli(["run", "--env", "--", "env"]);
  assertOk(run, "run --env -- env");
  assert.ok(run.stdout.includes(access), "run --env passes the access token");
  assert.ok(!run.stdout.includes(refresh), "run --env passes no refresh token");
  const shown = await f.cli(["get", "acme", "--field", "refresh_token", "--show-secret"]);
  assertOk(shown, "get --field refresh_token --show-secret");
  assert.equal(shown.stdout.trim(), refresh);
});

Deno.test("$BROWSER is started with exactly the authorization URL the login prints", async () => {
  await using f = await fixture();
  const dir = join(f.home, "..");
  const browser = join(dir, "record-browser.sh");
  const record = join(dir, "opened.txt");
  await Deno.writeTextFile(
    browser,
    `#!/bin/sh\nprintf '%s' "$1" > "${record}.tmp" && mv "${record}.tmp" "${record}"\n`,
  );
  await Deno.chmod(browser, 0o755);
  const child = spawnCli(["login", "acme", "--callback-port", "0"], {
    home: f.home,
    env: { ...f.confidential, BROWSER: browser },
  });
  try {
    const [, url] = await child.waitForStderr(AUTHORIZATION_URL);
    let opened: string | undefined;
    for (let i = 0; opened === undefined && i < 200; i++) {
      opened = await Deno.readTextFile(record).catch(() => undefined);
      if (opened === undefined) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(opened, url, "the browser got the URL, unchanged");
    const { callbackUrl } = await f.server.approveAuthorization(url!, { login: "alice" });
    await deliver(callbackUrl);
    assertOk(await child.done(), "login");
  } finally {
    child.kill();
    await child.done();
  }
});

Deno.test("login --base-url sends authorization, code exchange, refresh and revocation to that server, not the definition's default", async () => {
  // The definition's own base URL is a port nobody listens on: any step that forgot the
  // connection's --base-url would fail with "unreachable".
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nobody = `http://127.0.0.1:${closed.addr.port}`;
  closed.close();
  await using f = await fixture({ accessTokenTTL: 5 }, (server) => [
    acmeDefinition(server, {
      oauth: {
        base_url: nobody,
        authorization_url: "{base_url}/auth",
        token_url: "{base_url}/token",
        revocation_url: "{base_url}/token/revocation",
        scopes: ["openid", "read"],
        client: { client_id_env: "ACME_CLIENT_ID", client_secret_env: "ACME_CLIENT_SECRET" },
      },
    }),
  ]);
  const login = await loginPkce(f, { login: "alice", args: ["--base-url", `${f.server.issuer}/`] });
  assertOk(login.result, "login --base-url");
  assert.ok(login.url.startsWith(`${f.server.issuer}/auth?`), login.url);
  const base = await f.cli(["get", "acme", "--field", "base_url"]);
  assert.equal(base.stdout.trim(), `${f.server.issuer}/`);

  await f.server.resetStats();
  const fresh = await accessToken(f);
  assertOk(fresh, "get (refresh near expiry)");
  assert.equal((await f.server.stats()).token_requests.refresh_token, 1);
  assert.equal((await whoami(f.server.issuer, fresh.stdout.trim())).status, 200);

  assertOk(await f.cli(["revoke", "acme", "--yes"]), "revoke");
  const stats = await f.server.stats();
  assert.ok(stats.revocations >= 1, JSON.stringify(stats));
  assert.equal((await whoami(f.server.issuer, fresh.stdout.trim())).status, 401, "revoked");
});

Deno.test("a --base-url that is not an https URL (or http on loopback) is refused before anything starts", async () => {
  await using f = await fixture();
  for (
    const bad of ["http://git.example.com", "ftp://127.0.0.1", "not a url", "https://u:p@h.test"]
  ) {
    const r = await f.cli(["login", "acme", "--base-url", bad], f.confidential);
    assertFailure(r, 64, /--base-url must/, `--base-url ${bad}`);
    assert.ok(!r.stderr.includes("u:p"), "the URL's password is not echoed");
  }
  assert.equal(vaultExists(f.home), false);
});

// -----------------------------------------------------------------------------------------------
// the server's own ways to answer (cases first pinned with a fake fetch in providers/oauth_test.ts)

/** Spawns a device login with the public client; the device is approved once the code shows. */
async function deviceLogin(f: Fixture): Promise<{ result: CliResult; seconds: number }> {
  const started = performance.now();
  const child = spawnCli(["login", "acme", "--flow", "device_code"], {
    home: f.home,
    env: f.public,
  });
  try {
    const [, userCode] = await child.waitForStderr(USER_CODE);
    await f.server.approveDevice(userCode!, { login: "carol" });
    const result = await child.done();
    return { result, seconds: (performance.now() - started) / 1000 };
  } finally {
    child.kill();
    await child.done();
  }
}

const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

Deno.test("device polling against the server rides out dropped answers, a GitHub-style 200 authorization_pending and slow_down (+5 s)", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  // Answered in this order, each after the 1 s interval: three answers cut off inside the body,
  // an HTTP 200 {"error":"authorization_pending"}, then slow_down, which makes the next wait 6 s.
  await f.server.failNext("drop", 3);
  await f.server.failNext("error-200:authorization_pending", 1);
  await f.server.failNext("slow_down", 1);
  const { result, seconds } = await deviceLogin(f);
  assertOk(result, "device login through the failures");
  assert.match(result.stderr, /Logged in to acme \(default\) as carol/);
  const stats = await f.server.stats();
  assert.equal(stats.injected_failures, 5, JSON.stringify(stats));
  assert.ok(stats.token_requests[DEVICE_GRANT]! >= 6, JSON.stringify(stats));
  // 5 polls 1 s apart, then the 6 s wait slow_down asked for: a client that ignored it would be
  // done in about 6 s.
  assert.ok(seconds >= 11, `slow_down was not obeyed: logged in after ${seconds.toFixed(1)} s`);
  assert.equal((await getJson(f)).status, "connected");
});

Deno.test("device polling against the server reports the fourth dropped answer in a row (exit 8) and stores nothing", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  await f.server.failNext("drop", 4);
  const { result } = await deviceLogin(f);
  assertFailure(
    result,
    8,
    /^error: The token endpoint of 127.0.0.1:\d+ broke off its answer$/,
    "device login, four drops",
  );
  assert.equal(vaultExists(f.home), false);
});

Deno.test("a GitHub-style HTTP 200 error at the code exchange fails the login (2) naming the code; at refresh invalid_grant is exit 5", async () => {
  await using f = await fixture({ accessTokenTTL: 5 });
  await f.server.failNext("error-200:bad_verification_code", 1);
  const failed = await loginPkce(f, { login: "alice" });
  assertFailure(failed.result, 2, /bad_verification_code/, "login, 200 error");
  await assertNothingStored(f, "after the 200 error");

  assertOk((await loginPkce(f, { login: "alice" })).result, "login");
  await f.server.failNext("error-200:invalid_grant", 1);
  const refresh = await accessToken(f);
  assertFailure(refresh, 5, /invalid_grant|log in again|expired/i, "refresh, 200 invalid_grant");
  assert.match(refresh.stderr, /authsome login acme/);
});

Deno.test("discovery asks the RFC 8414 path first, then the OpenID configuration, when the server has no RFC 8414 metadata", async () => {
  await using f = await fixture({ accessTokenTTL: 3600, rfc8414: false }, (server) => [
    acmeDefinition(server, {
      flow: "dcr_pkce",
      oauth: {
        authorization_url: `${server.issuer}/auth`,
        token_url: `${server.issuer}/token`,
        scopes: ["openid", "read"],
      },
    }),
  ]);
  const login = await loginPkce(f, { login: "dave", env: {} });
  assertOk(login.result, "dcr login with OpenID discovery only");
  const stats = await f.server.stats();
  assert.deepEqual(stats.discovery, [
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
  ]);
  assert.equal(stats.requests.registration, 1);
});

Deno.test("login --reset-client asks for the client again and replaces the stored one; without it the stored client is used", async () => {
  await using f = await fixture({ accessTokenTTL: 3600 });
  assertOk((await loginPkce(f, { login: "alice" })).result, "login with the confidential client");
  const confidential = f.server.confidentialClient.client_id;
  assert.equal(
    (await storedRecord<{ client_id: string }>(f.home, "client/acme"))?.client_id,
    confidential,
  );

  // The variables now name the public client, but the stored client is used without the flag.
  const reused = await loginPkce(f, { login: "bob", args: ["-c", "two"], env: f.public });
  assertOk(reused.result, "login -c two");
  assert.equal(new URL(reused.url).searchParams.get("client_id"), confidential);

  const reset = await loginPkce(f, {
    login: "carol",
    args: ["-c", "three", "--reset-client"],
    env: f.public,
  });
  assertOk(reset.result, "login -c three --reset-client");
  const publicId = f.server.publicClient.client_id;
  assert.equal(new URL(reset.url).searchParams.get("client_id"), publicId);
  const client = await storedRecord<{ client_id: string; client_secret?: string }>(
    f.home,
    "client/acme",
  );
  assert.equal(client?.client_id, publicId, "the new client replaced the stored one");
  assert.equal(client?.client_secret, undefined, "a public client keeps no secret");
});
