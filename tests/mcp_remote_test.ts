/**
 * End-to-end: `authsome login mcp URL` against a remote MCP server (the SDK's McpServer over
 * Streamable HTTP, HTTPS on the test host mcp.remote.test) whose tokens come from the test OAuth
 * server (oidc-provider, JWT access tokens for the server's resource). The real CLI discovers,
 * registers a client, logs in with PKCE and `resource`; then an SDK client with no credentials
 * of its own lists the tools under `authsome run`. Broken or hostile metadata is refused with
 * one clear error, the documented exit code, and nothing stored.
 *
 * The test host name resolves to 127.0.0.1 only inside a private mount namespace
 * (`unshare -m`, a bind-mounted /etc/hosts); the machine's /etc/hosts is never touched.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { assertCleanError, cliEnv, type CliResult, readTree, ROOT, tempHome } from "./helpers.ts";
import {
  AUTHORIZATION_URL,
  cliCommand,
  deliver,
  setStoredExpiry,
  spawnCli,
  storedRecord,
} from "./oauth/cli_flow.ts";
import { type AuthServer, startAuthServer } from "./oauth/server.ts";
import {
  MCP_SCOPE,
  type McpRemoteServer,
  startMcpRemoteServer,
} from "./support/mcp_remote_server.ts";

const HOST = "mcp.remote.test";
const CLIENT_SCRIPT = join(ROOT, "tests", "support", "mcp_list_tools.ts");

interface Fixture extends AsyncDisposable {
  home: string;
  dir: string;
  mcp: McpRemoteServer;
  as: AuthServer;
  /** Environment of every CLI run: trust the test CA (login: DENO_CERT; run's proxy: NODE_…). */
  env: Record<string, string>;
  hosts: string;
  /** Runs `./authsome ARGS` where mcp.remote.test is 127.0.0.1; every output is kept. */
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** Every stdout and stderr so far, for the canary check. */
  outputs: string[];
}

async function fixture(): Promise<Fixture> {
  const tmp = await tempHome();
  const dir = join(tmp.home, "..");
  const ca = await createCa({ commonName: "mcp remote test CA" });
  const leaf = await createLeafIssuer(ca).issue(HOST);
  const mcp = startMcpRemoteServer({ host: HOST, certPem: leaf.certPem, keyPem: leaf.keyPem });
  const as = await startAuthServer({
    accessTokenTTL: 3600,
    resource: { url: mcp.url, scope: MCP_SCOPE },
    scopes: ["openid", "offline_access", "profile", "email", MCP_SCOPE],
  });
  mcp.authServer.issuer = as.issuer;
  mcp.authServer.origin = as.origin;
  const caFile = join(dir, "ca.pem");
  await Deno.writeTextFile(caFile, ca.certPem);
  const hosts = join(dir, "hosts");
  await Deno.writeTextFile(
    hosts,
    (await Deno.readTextFile("/etc/hosts")) + `\n127.0.0.1 ${HOST}\n`,
  );
  const env = { DENO_CERT: caFile, NODE_EXTRA_CA_CERTS: caFile };
  const outputs: string[] = [];
  return {
    home: tmp.home,
    dir,
    mcp,
    as,
    env,
    hosts,
    outputs,
    async cli(args, extra = {}) {
      const [program, argv] = cliCommand(args, hosts);
      const out = await new Deno.Command(program, {
        args: argv,
        clearEnv: true,
        env: cliEnv(tmp.home, { ...env, ...extra }),
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      const r = { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
      outputs.push(r.stdout, r.stderr);
      return r;
    },
    async [Symbol.asyncDispose]() {
      await mcp.close();
      await as.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** `login mcp URL ARGS…` played to its end: the user signs in as alice and allows access. */
async function login(
  f: Fixture,
  args: string[] = [],
  env: Record<string, string> = {},
  denyConsent = false,
): Promise<{ r: CliResult; url: URL }> {
  const child = spawnCli(["login", "mcp", f.mcp.url, "--callback-port", "0", ...args], {
    home: f.home,
    env: { ...f.env, ...env },
    hosts: f.hosts,
  });
  try {
    const [, authorizationUrl] = await child.waitForStderr(AUTHORIZATION_URL, 60_000);
    const { callbackUrl } = await f.as.approveAuthorization(authorizationUrl!, {
      login: "alice",
      denyConsent,
    });
    await deliver(callbackUrl);
    const r = await child.done();
    f.outputs.push(r.stdout, r.stderr);
    return { r, url: new URL(authorizationUrl!) };
  } finally {
    child.kill();
    await child.done();
  }
}

/** `authsome run -- deno run … mcp_list_tools.ts URL`: the agent host without a token. */
function agentUnderRun(f: Fixture): Promise<CliResult> {
  return f.cli([
    "run",
    "--",
    join(ROOT, "scripts", "deno"),
    "run",
    "--quiet",
    "-A",
    "--config",
    join(ROOT, "deno.json"),
    CLIENT_SCRIPT,
    f.mcp.url,
  ]);
}

Deno.test("login mcp: discovery, DCR and PKCE with resource; the agent host lists tools under run", async () => {
  await using f = await fixture();
  const name = `mcp-remote-test-${f.mcp.port}`;
  const file = join(f.home, "providers", `${name}.json`);

  const { r, url } = await login(f);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    r.stderr.includes(`Wrote the provider file ${file} for ${f.mcp.url}.`),
    r.stderr,
  );
  assert.ok(r.stderr.includes(`Logged in to ${name} (default)`), r.stderr);
  assert.ok(r.stderr.includes(`Open this page to log in to the MCP server ${f.mcp.url}:`));

  // The authorization request: PKCE S256, the resource, the scope of the 401, a registered client.
  assert.equal(url.searchParams.get("resource"), f.mcp.url);
  assert.equal(url.searchParams.get("code_challenge_method"), "S256");
  assert.equal(url.searchParams.get("scope"), MCP_SCOPE);
  const stats = await f.as.stats();
  assert.deepEqual(stats.registered_clients, [url.searchParams.get("client_id")]);
  assert.deepEqual(
    stats.resource_params.map((p) => [p.route, p.grant_type, p.resource]),
    [["authorization", null, f.mcp.url], ["token", "authorization_code", f.mcp.url]],
  );

  // The provider file: the server's host, its resource, the discovered endpoints.
  const written = JSON.parse(await Deno.readTextFile(file));
  assert.equal(written.name, name);
  assert.equal(written.flow, "dcr_pkce");
  assert.deepEqual(written.api_url, [HOST]);
  assert.equal(written.oauth.resource, f.mcp.url);
  assert.equal(written.oauth.issuer, f.as.issuer);
  assert.equal(written.oauth.token_url, `${f.as.origin}/token`);
  assert.equal(written.oauth.registration_endpoint, `${f.as.origin}/reg`);

  // The agent host, with no credential of its own, lists the tools through authsome run.
  const run = await agentUnderRun(f);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), { tools: ["echo", "whoami"], whoami: "alice" });
  const accepted = f.mcp.seen.filter((s) => s.token === "accepted");
  assert.ok(accepted.length >= 3, JSON.stringify(f.mcp.seen));
  assert.ok(
    accepted.some((s) => s.contentType?.startsWith("text/event-stream")),
    "answers streamed as SSE reach the client through the proxy",
  );
  assert.equal(f.mcp.seen.filter((s) => s.token === "refused").length, 0);
  assert.equal(f.mcp.seen[0]?.token, "none", "the probe went out without a token");

  // An expired token is refreshed with the same resource, and the agent host goes on working.
  await setStoredExpiry(f.home, name, "default", new Date(Date.now() - 60_000));
  const again = await agentUnderRun(f);
  assert.equal(again.code, 0, again.stderr);
  const refreshes = (await f.as.stats()).resource_params.filter((p) =>
    p.grant_type === "refresh_token"
  );
  assert.deepEqual(refreshes.map((p) => p.resource), [f.mcp.url]);

  // Listed like any connection.
  const list = await f.cli(["list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  assert.ok(list.stdout.includes(`"${name}"`), list.stdout);

  // A second login to the same server keeps the file (updated) and asks for --force.
  const exists = await f.cli(["login", "mcp", f.mcp.url]);
  assertCleanError(exists, 6, `${name}`);

  // No secret in any output or in the audit log; the login is audited with the server.
  const record = await storedRecord<{ secrets: Record<string, string> }>(
    f.home,
    `connection/${name}/default`,
  );
  const client = await storedRecord<{ client_secret?: string }>(f.home, `client/${name}`);
  const secrets = [
    record!.secrets.access_token!,
    record!.secrets.refresh_token!,
    client!.client_secret!,
  ];
  for (const s of secrets) assert.ok(typeof s === "string" && s.length > 10);
  const audit = await Deno.readTextFile(join(f.home, "audit.log"));
  for (const text of [...f.outputs, audit, await Deno.readTextFile(file)]) {
    for (const s of secrets) assert.ok(!text.includes(s), "a secret leaked");
  }
  const logins = audit.trim().split("\n").map((l) => JSON.parse(l)).filter((e) =>
    e.action === "login" && e.outcome === "ok"
  );
  assert.equal(logins.length, 1);
  assert.equal(logins[0].provider, name);
  assert.equal(logins[0].detail.mcp_server, f.mcp.url);

  // Revoked at the authorization server like any OAuth connection.
  const revoke = await f.cli(["revoke", name, "--yes"]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.match(revoke.stderr, /Revoked .* at the provider/);
  assert.ok((await f.as.stats()).revocations >= 1);
});

Deno.test("login mcp: broken or hostile metadata is refused, nothing stored", async () => {
  await using f = await fixture();
  const url = f.mcp.url;
  const evil = f.mcp.evilIssuer;
  const goodAs = (over: Record<string, unknown> = {}) => ({
    issuer: evil,
    authorization_endpoint: `${f.as.origin}/auth`,
    token_endpoint: `${f.as.origin}/token`,
    registration_endpoint: `${f.as.origin}/reg`,
    code_challenge_methods_supported: ["S256"],
    ...over,
  });
  const viaEvil = { resource: url, authorization_servers: [evil] };
  // A user provider that is not this server's: its name is taken.
  await Deno.writeTextFile(
    join(f.dir, "taken.json"),
    JSON.stringify({ name: "taken", display_name: "Taken", auth_type: "api_key" }),
  );
  assert.equal((await f.cli(["provider", "register", join(f.dir, "taken.json")])).code, 0);
  // The provider of another MCP server (as `login mcp` would have written it).
  await Deno.writeTextFile(
    join(f.dir, "other-server.json"),
    JSON.stringify({
      name: "other-server",
      display_name: "Other",
      auth_type: "oauth2",
      flow: "dcr_pkce",
      api_url: "other.example",
      oauth: {
        authorization_url: "https://other.example/authorize",
        token_url: "https://other.example/token",
        resource: "https://other.example/mcp",
      },
    }),
  );
  assert.equal((await f.cli(["provider", "register", join(f.dir, "other-server.json")])).code, 0);
  // No provider may be called "mcp": `login mcp` could never reach it.
  await Deno.writeTextFile(
    join(f.dir, "mcp.json"),
    JSON.stringify({ name: "mcp", display_name: "M", auth_type: "api_key" }),
  );
  assertCleanError(
    await f.cli(["provider", "register", join(f.dir, "mcp.json")]),
    65,
    `name: "mcp" is reserved for 'authsome login mcp URL'`,
  );
  const before = await snapshot(f.home);

  const cases: Array<{
    what: string;
    metadata: McpRemoteServer["metadata"];
    args?: string[];
    code: number;
    message: string;
  }> = [
    {
      what: "a resource that names another server",
      metadata: {
        resource: { resource: "https://other.example/mcp", authorization_servers: [evil] },
      },
      code: 2,
      message: `is for https://other.example/mcp, not ${url}`,
    },
    {
      what: "the same, found at the well-known path when the 401 names no metadata",
      metadata: {
        challenge: null,
        resource: { resource: `${f.mcp.origin}/other`, authorization_servers: [evil] },
      },
      code: 2,
      message: `is for ${f.mcp.origin}/other, not ${url}`,
    },
    {
      what: "an issuer mismatch (mix-up)",
      metadata: { resource: viaEvil, evilAs: goodAs({ issuer: "https://attacker.example" }) },
      code: 2,
      message: `calls itself https://attacker.example, not ${evil}`,
    },
    {
      what: "a plain-http token endpoint off loopback",
      metadata: {
        resource: viaEvil,
        evilAs: goodAs({ token_endpoint: "http://tokens.example/token" }),
      },
      code: 2,
      message: "token_endpoint it names is not an https URL",
    },
    {
      what: "a plain-http authorization server off loopback",
      metadata: { resource: { resource: url, authorization_servers: ["http://as.example"] } },
      code: 2,
      message: "authorization server it names is not an https URL",
    },
    {
      what: "no authorization_servers",
      metadata: { resource: { resource: url } },
      code: 2,
      message: "names no authorization server",
    },
    {
      what: "no token endpoint",
      metadata: { resource: viaEvil, evilAs: goodAs({ token_endpoint: undefined }) },
      code: 2,
      message: "has no token_endpoint",
    },
    {
      what: "no PKCE S256",
      metadata: {
        resource: viaEvil,
        evilAs: goodAs({ code_challenge_methods_supported: ["plain"] }),
      },
      code: 2,
      message: "does not offer PKCE with S256",
    },
    {
      what: "no registration endpoint and no client",
      metadata: { resource: viaEvil, evilAs: goodAs({ registration_endpoint: undefined }) },
      code: 2,
      message: "offers no dynamic client registration",
    },
    {
      what: "metadata that is not JSON",
      metadata: { resource: "<html><body>Sign in</body></html>" },
      code: 2,
      message: "is not JSON",
    },
    {
      what: "oversized metadata",
      metadata: {
        resource: JSON.stringify({
          resource: url,
          authorization_servers: [evil],
          pad: "x".repeat(70_000),
        }),
      },
      code: 2,
      message: "is larger than 64 KiB",
    },
    {
      what: "a provider name taken by another provider",
      metadata: {},
      args: ["--name", "taken"],
      code: 7,
      message: 'Provider "taken" exists already as a user provider',
    },
    {
      what: "a provider name that belongs to another MCP server",
      metadata: {},
      args: ["--name", "other-server"],
      code: 7,
      message:
        'Provider "other-server" exists already as the provider of https://other.example/mcp',
    },
    {
      what: "the reserved name",
      metadata: {},
      args: ["--name", "mcp"],
      code: 64,
      message: "--name mcp is reserved",
    },
  ];
  for (const c of cases) {
    f.mcp.metadata.challenge = c.metadata.challenge;
    f.mcp.metadata.resource = c.metadata.resource;
    f.mcp.metadata.evilAs = c.metadata.evilAs;
    // --timeout: were a case let through, its login would give up soon instead of in 300 s.
    const r = await f.cli(["login", "mcp", url, "--timeout", "3", ...(c.args ?? [])]);
    assertCleanError(r, c.code, c.message);
    assert.deepEqual(await snapshot(f.home), before, `${c.what}: something was stored`);
  }
  const stats = await f.as.stats();
  assert.equal(stats.registered_clients.length, 0, "no client was registered");
  assert.equal(stats.resource_params.length, 0, "no authorization or token request was made");

  f.mcp.metadata.resource = undefined;
  assertCleanError(
    await f.cli(["login", "mcp", url.replace("https:", "http:")]),
    64,
    "must be an https URL",
  );
  assertCleanError(await f.cli(["login", "mcp"]), 64, "login mcp needs the MCP server's URL");
  assertCleanError(
    await f.cli(["login", "mcp", `https://${HOST}:1/mcp`]),
    8,
    `Cannot reach ${HOST}:1`,
  );
  assert.deepEqual(await snapshot(f.home), before);
});

Deno.test("login mcp --client-id: a client registered by hand, no dynamic registration", async () => {
  await using f = await fixture();
  // The test server's public client; an empty secret variable marks it public (nothing asked).
  const { r, url } = await login(f, ["--name", "tools", "--client-id", "authsome-public"], {
    TOOLS_CLIENT_SECRET: "",
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(url.searchParams.get("client_id"), "authsome-public");
  assert.equal(url.searchParams.get("resource"), f.mcp.url);
  assert.deepEqual((await f.as.stats()).registered_clients, []);
  assert.ok(r.stderr.includes(`Logged in to tools (default)`), r.stderr);
  const run = await agentUnderRun(f);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout).tools, ["echo", "whoami"]);
});

Deno.test("login mcp denied at the consent page: exit 2, no provider file, no connection", async () => {
  await using f = await fixture();
  const { r } = await login(f, [], {}, true);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /access_denied|denied/i);
  const files = await readTree(f.home).catch(() => new Map<string, string>());
  assert.deepEqual(
    [...files.keys()].filter((p) => p.includes(`${join(f.home, "providers")}/`)),
    [],
    "no provider file",
  );
  const list = await f.cli(["list", "--json"]);
  assert.ok(!list.stdout.includes("mcp-remote-test"), list.stdout);
});

/** The home's files and their contents, without the audit log (failed logins are audited). */
async function snapshot(home: string): Promise<Record<string, string>> {
  const tree = await readTree(home);
  tree.delete(join(home, "audit.log"));
  return Object.fromEntries([...tree].sort());
}
