/**
 * A refresh in flight holds only its own connection: while the token request of `acme/default`
 * is held at the authorization server, other connections are read, logged in and listed, a
 * second process wanting the same refresh waits for it, and the server sees one token request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, tempHome } from "./helpers.ts";
import { startAuthServer } from "./oauth/server.ts";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  setStoredExpiry,
  spawnCli,
} from "./oauth/cli_flow.ts";

const OPENAI_KEY = "sk-test5555555555555555555555eeee";

Deno.test("a refresh waiting on the token endpoint blocks neither reads nor logins of other connections, and a second process waits for it", async () => {
  await using server = await startAuthServer({ accessTokenTTL: 3600 });
  await using tmp = await tempHome();
  const home = tmp.home;
  const client = {
    ACME_CLIENT_ID: server.confidentialClient.client_id,
    ACME_CLIENT_SECRET: server.confidentialClient.client_secret,
  };
  const cli = (args: string[], stdin?: string) =>
    runCli(args, { home, env: { BROWSER: "true" }, ...(stdin === undefined ? {} : { stdin }) });
  const definition = join(home, "..", "acme.json");
  await Deno.writeTextFile(definition, JSON.stringify(acmeDefinition(server)));
  assert.equal((await cli(["provider", "register", definition])).code, 0);
  const login = spawnCli(["login", "acme", "--callback-port", "0"], { home, env: client });
  const [, url] = await login.waitForStderr(AUTHORIZATION_URL);
  const { callbackUrl } = await server.approveAuthorization(url!, { login: "alice" });
  await deliver(callbackUrl);
  assert.equal((await login.done()).code, 0, login.stderr());
  assert.equal((await cli(["login", "openai", "--stdin"], OPENAI_KEY)).code, 0);

  await setStoredExpiry(home, "acme", "default", new Date(Date.now() + 60_000));
  await server.resetStats();
  await server.failNext("hold", 1, "token");
  const tokenArgs = ["get", "acme", "--field", "access_token", "--show-secret"];
  const first = spawnCli(tokenArgs, { home });
  for (let i = 0; (await server.stats()).held !== 1; i++) {
    assert.ok(i < 200 && !first.exited(), `the refresh reached the server: ${first.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const second = spawnCli(tokenArgs, { home });
  try {
    // While the token request is held: other connections work, reads and writes alike.
    const key = await cli(["get", "openai", "--field", "api_key", "--show-secret"]);
    assert.equal(key.code, 0, key.stderr);
    assert.equal(key.stdout.trim(), OPENAI_KEY);
    const other = await cli(["login", "openai", "--connection", "work", "--stdin"], OPENAI_KEY);
    assert.equal(other.code, 0, other.stderr);
    const list = await cli(["list", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    const acme = await cli(["inspect", "acme", "--json"]);
    assert.equal(acme.code, 0, `the refreshing connection is listed: ${acme.stderr}`);
    assert.equal(first.exited(), false, `the refresh is still waiting: ${first.stderr()}`);
    assert.equal(second.exited(), false, "the second process waits for the first refresh");

    await server.release();
    const [a, b] = await Promise.all([first.done(), second.done()]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(a.stdout, b.stdout, "both print the one refreshed token");
    const stats = await server.stats();
    assert.equal(stats.token_requests.refresh_token, 1, JSON.stringify(stats.token_requests));
  } finally {
    first.kill();
    second.kill();
    await Promise.all([first.done(), second.done()]);
  }
});
