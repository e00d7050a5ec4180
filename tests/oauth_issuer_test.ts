/**
 * End-to-end: OAuth servers whose issuer identifier is not the origin authsome reaches them at
 * (another host name, a path as Keycloak's `/realms/NAME`), with ID tokens signed with ES256,
 * PS256 or EdDSA. PKCE logins with `openid` through the real CLI, with and without
 * `oauth.issuer`, and a refresh afterwards (tests/oauth/server.ts, oidc-provider).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliResult, runCli, tempHome } from "./helpers.ts";
import { vaultExists } from "./support/store_file.ts";
import { type AuthServer, type AuthServerOptions, startAuthServer } from "./oauth/server.ts";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  setStoredExpiry,
  spawnCli,
  storedRecord,
  whoami,
} from "./oauth/cli_flow.ts";

interface Fixture extends AsyncDisposable {
  server: AuthServer;
  home: string;
  cli(args: string[]): Promise<CliResult>;
}

/** A server, a temp home and the `acme` provider (openid scopes) with `oauth` overrides. */
async function fixture(
  serverOptions: AuthServerOptions,
  oauth: (server: AuthServer) => Record<string, unknown> = () => ({}),
): Promise<Fixture> {
  const server = await startAuthServer({ accessTokenTTL: 3600, ...serverOptions });
  const tmp = await tempHome();
  const cli = (args: string[]) => runCli(args, { home: tmp.home, env: { BROWSER: "true" } });
  const def = acmeDefinition(server);
  const file = join(tmp.home, "..", "acme.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({ ...def, oauth: { ...def.oauth, ...oauth(server) } }),
  );
  const r = await cli(["provider", "register", file]);
  assert.equal(r.code, 0, r.stderr);
  return {
    server,
    home: tmp.home,
    cli,
    async [Symbol.asyncDispose]() {
      await server.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** `login acme` as alice with the confidential client, played to its end. */
async function login(f: Fixture): Promise<CliResult> {
  const child = spawnCli(["login", "acme", "--callback-port", "0"], {
    home: f.home,
    env: {
      ACME_CLIENT_ID: f.server.confidentialClient.client_id,
      ACME_CLIENT_SECRET: f.server.confidentialClient.client_secret,
    },
  });
  try {
    const [, url] = await child.waitForStderr(AUTHORIZATION_URL);
    assert.match(new URL(url!).searchParams.get("scope")!, /\bopenid\b/);
    const { callbackUrl } = await f.server.approveAuthorization(url!, { login: "alice" });
    await deliver(callbackUrl);
    return await child.done();
  } finally {
    child.kill();
    await child.done();
  }
}

interface Account {
  account: { id: string | null; label: string | null } | null;
}

/** Forces a refresh with `get --field access_token` and checks the new token at the server. */
async function refreshWorks(f: Fixture): Promise<void> {
  const key = "connection/acme/default";
  const before = await storedRecord<{ secrets: { access_token: string } }>(f.home, key);
  await setStoredExpiry(f.home, "acme", "default", new Date(Date.now() + 60_000));
  await f.server.resetStats();
  const r = await f.cli(["get", "acme", "--field", "access_token", "--show-secret"]);
  assert.equal(r.code, 0, `refresh: ${r.stderr}`);
  assert.equal(r.stderr, "", "a refresh prints nothing");
  const token = r.stdout.trim();
  assert.notEqual(token, before!.secrets.access_token, "a new access token");
  assert.equal((await f.server.stats()).token_requests.refresh_token, 1);
  const who = await whoami(f.server.origin, token);
  assert.equal(who.status, 200);
  assert.equal(who.body.sub, "alice");
}

const warnings = (r: CliResult) => r.stderr.split("\n").filter((l) => l.startsWith("warning: "));

Deno.test("issuer on another host name (localhost), no oauth.issuer: the discovery document confirms the iss, the ES256 ID token is verified, no warning; refresh works", async () => {
  await using f = await fixture({ issuer: "http://localhost:{port}", idTokenAlg: "ES256" });
  assert.equal(f.server.issuer, `http://localhost:${f.server.port}`);
  const r = await login(f);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(warnings(r), []);
  assert.match(r.stderr, /Logged in to acme \(default\) as alice/);
  const doc = JSON.parse((await f.cli(["get", "acme", "--json"])).stdout) as Account;
  assert.deepEqual(doc.account, { id: "alice", label: "alice" });
  await refreshWorks(f);
});

Deno.test("issuer on another host name, no discovery document, no oauth.issuer: tokens stored, no account, one warning naming the issuer and oauth.issuer; refresh works", async () => {
  await using f = await fixture({
    issuer: "http://localhost:{port}",
    discovery: false,
    idTokenAlg: "PS256",
  });
  const r = await login(f);
  assert.equal(r.code, 0, r.stderr);
  const issuer = `http://localhost:${f.server.port}`;
  assert.deepEqual(warnings(r), [
    `warning: The ID token of acme names issuer ${issuer}, which authsome could not verify: ` +
    `the tokens are stored, the account name is left out; set "oauth.issuer": "${issuer}" in ` +
    "its provider file if that is Acme's issuer",
  ]);
  assert.match(r.stderr, /Logged in to acme \(default\)\.|Logged in to acme \(default\), /);
  assert.doesNotMatch(r.stderr, / as alice/);
  const doc = JSON.parse((await f.cli(["get", "acme", "--json"])).stdout) as Account;
  assert.equal(doc.account, null);
  await refreshWorks(f);
});

Deno.test("oauth.issuer with a path (Keycloak-style /realms/dev), EdDSA ID tokens: verified strictly, account label kept, no warning; refresh works", async () => {
  await using f = await fixture(
    { issuer: "http://127.0.0.1:{port}/realms/dev", discovery: false, idTokenAlg: "EdDSA" },
    (server) => ({ issuer: `${server.origin}/realms/dev` }),
  );
  const r = await login(f);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(warnings(r), []);
  assert.match(r.stderr, / as alice/);
  await refreshWorks(f);
});

Deno.test("an oauth.issuer the server does not use fails the login (2) naming both issuers, and stores nothing", async () => {
  await using f = await fixture(
    { issuer: "http://localhost:{port}" },
    (server) => ({ issuer: server.origin }),
  );
  const r = await login(f);
  assert.equal(r.code, 2, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.deepEqual(errors, [
    `error: The authorization response came from issuer http://localhost:${f.server.port}, ` +
    `expected ${f.server.origin}`,
  ]);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
  assert.equal(vaultExists(f.home), false, "nothing stored");
});
