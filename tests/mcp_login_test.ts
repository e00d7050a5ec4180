/**
 * `request_login` of `authsome mcp` for OAuth providers, end to end with the SDK's own client
 * against the real authorization server of tests/oauth/ (oidc-provider): the PKCE browser flow
 * (in process), the device-code flow (a spawned `./authsome mcp` over stdio), the wait limit (a
 * login not finished in time stores nothing) and identity refusals (no login started). The OAuth
 * app's client secret goes through the real browser form in headless Chromium; the provider's
 * pages are played by the HTTP "browser" of tests/oauth/server.ts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/inMemory"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { openAccess } from "../mcp/access.ts";
import { createMcpServer } from "../mcp/server.ts";
import { createContext } from "../service/context.ts";
import { readAudit } from "../storage/audit.ts";
import { cliEnv, LAUNCHER, runCli, tempHome } from "./helpers.ts";
import { type AuthServer, type AuthServerOptions, startAuthServer } from "./oauth/server.ts";
import { acmeDefinition, deliver, portAccepts, storedRecord, whoami } from "./oauth/cli_flow.ts";
import { chromiumAvailable, freePort, launchChromium } from "./support/browser.ts";

type Browser = Awaited<ReturnType<typeof launchChromium>>;
type ToolResult = { isError?: boolean; content: Array<{ type: string; text?: string }> };

/** The text of a tool result. */
function textOf(result: unknown): string {
  return (result as ToolResult).content.map((c) => c.text ?? "").join("\n");
}

/** The JSON of a successful tool result. */
function jsonOf(result: unknown): Record<string, unknown> {
  assert.ok(!(result as ToolResult).isError, `tool error: ${textOf(result)}`);
  return JSON.parse(textOf(result));
}

/** A stored OAuth connection, as read straight from the vault file. */
interface StoredConnection {
  secrets: { access_token: string; refresh_token?: string };
}

/** The home, the server and the two providers: `acme` (pkce) and `acmetv` (device_code). */
interface LoginFixture extends AsyncDisposable {
  server: AuthServer;
  home: string;
  dir: string;
  /** The loopback port of acme's redirect URI (its provider file's `oauth.callback_port`). */
  callbackPort: number;
  /** The agent host's environment: the client IDs (a client secret there is not used). */
  env: Record<string, string>;
  /** `authsome list --json`: `provider/connection:status` of every connection. */
  listed(): Promise<string[]>;
}

async function loginFixture(serverOptions: AuthServerOptions = {}): Promise<LoginFixture> {
  const server = await startAuthServer({ accessTokenTTL: 3600, ...serverOptions });
  const tmp = await tempHome();
  const home = tmp.home;
  const dir = join(home, "..");
  const callbackPort = freePort();
  const acme = acmeDefinition(server);
  const definitions = [
    { ...acme, oauth: { ...acme.oauth, callback_port: callbackPort } },
    {
      ...acme,
      name: "acmetv",
      display_name: "Acme TV",
      flow: "device_code",
      oauth: {
        ...acme.oauth,
        client: { client_id_env: "ACMETV_CLIENT_ID", client_secret_env: "ACMETV_CLIENT_SECRET" },
      },
    },
  ];
  for (const def of definitions) {
    const file = join(dir, `${def.name}.json`);
    await Deno.writeTextFile(file, JSON.stringify(def));
    const r = await runCli(["provider", "register", file], { home });
    assert.equal(r.code, 0, r.stderr);
  }
  return {
    server,
    home,
    dir,
    callbackPort,
    env: {
      ACME_CLIENT_ID: server.confidentialClient.client_id,
      // The agent's environment may hold a secret: request_login asks the human instead.
      ACME_CLIENT_SECRET: "not-the-secret-from-the-agents-env",
      ACMETV_CLIENT_ID: server.publicClient.client_id,
      ACMETV_CLIENT_SECRET: "",
    },
    async listed() {
      const r = await runCli(["list", "--json"], { home });
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as {
        providers: Array<{ name: string; connections: Array<{ name: string; status: string }> }>;
      };
      return doc.providers.flatMap((p) =>
        p.connections.map((c) => `${p.name}/${c.name}:${c.status}`)
      );
    },
    async [Symbol.asyncDispose]() {
      await server.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

/** An in-process client of a server over the fixture's home; `opened` records the pages opened. */
async function inProcess(f: LoginFixture, openUrl: (url: string) => void = () => {}) {
  const ctx = createContext({ home: f.home, env: { HOME: f.dir, ...f.env } });
  const access = await openAccess(ctx, {});
  const handle = createMcpServer({ ctx, access, openUrl });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await handle.server.connect(serverSide);
  const client = new Client({ name: "test", version: "1" });
  await client.connect(clientSide);
  const outputs: string[] = [];
  const progress: string[] = [];
  const call = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args }, undefined, {
      onprogress: (p) => progress.push(p.message ?? ""),
    });
    outputs.push(JSON.stringify(result));
    return result;
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await client.close();
    await handle.close();
    await ctx.store.close();
  };
  return { client, call, outputs, progress, close, [Symbol.asyncDispose]: close };
}

/** A client of a spawned `./authsome mcp ARGS`; `BROWSER` is a script that records each page. */
async function spawned(f: LoginFixture, args: string[] = []) {
  const opened = join(f.dir, "opened.txt");
  const recorder = join(f.dir, "browser.sh");
  await Deno.writeTextFile(recorder, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${opened}'\n`);
  await Deno.chmod(recorder, 0o755);
  const transport = new StdioClientTransport({
    command: LAUNCHER,
    args: ["mcp", ...args],
    env: cliEnv(f.home, { ...f.env, BROWSER: recorder }),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => stderr += new TextDecoder().decode(chunk));
  const client = new Client({ name: "test", version: "1" });
  await client.connect(transport);
  const outputs: string[] = [];
  const progress: string[] = [];
  const call = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args }, undefined, {
      onprogress: (p) => progress.push(p.message ?? ""),
    });
    outputs.push(JSON.stringify(result));
    return result;
  };
  return {
    client,
    call,
    outputs,
    progress,
    stderr: () => stderr,
    /** The pages authsome asked the browser to open, in order (a moment after the ask). */
    opened: async () =>
      (await Deno.readTextFile(opened).catch(() => "")).split("\n").filter((l) => l !== ""),
    async [Symbol.asyncDispose]() {
      await client.close();
    },
  };
}

/** The human types the OAuth app's client secret (or leaves it empty) into the local form. */
async function fillClientForm(browser: Browser, url: string, secret: string): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    if (secret !== "") await page.getByLabel("Client secret").fill(secret);
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByText("can be closed").waitFor();
  } finally {
    await page.close();
  }
}

/** Waits (at most `ms`) until `check` holds. */
async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Asserts that none of `secrets` appears in `text`. */
function assertNoSecret(text: string, secrets: string[], where: string): void {
  for (const secret of secrets) {
    assert.ok(secret.length >= 8, `a real secret to look for (${secret})`);
    assert.ok(!text.includes(secret), `a secret appears in ${where}:\n${text}`);
  }
}

const FORM =
  /^Waiting for the human: open (http:\/\/127\.0\.0\.1:\d+\/form\/\S+) and enter the client secret there$/;

Deno.test({
  name:
    "mcp request_login, OAuth PKCE: the form for the app's secret, the provider's page, progress, the outcome, no token anywhere",
  ignore: !chromiumAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using f = await loginFixture();
    const browser = await launchChromium();
    try {
      const clientSecret = f.server.confidentialClient.client_secret;
      const opened: string[] = [];
      const human: Array<Promise<unknown>> = [];
      let progress: string[] = [];
      await using s = await inProcess(f, (url) => {
        opened.push(url);
        if (url.includes("/form/")) human.push(fillClientForm(browser, url, clientSecret));
        else {
          // The human takes a while at the provider's page: progress goes on meanwhile.
          human.push((async () => {
            await until(
              () => progress.filter((m) => m.endsWith(" and log in")).length >= 2,
              "a second progress notification while the provider's page waits",
            );
            const { callbackUrl } = await f.server.approveAuthorization(url, { login: "alice" });
            return await deliver(callbackUrl);
          })());
        }
      });
      progress = s.progress;
      const outcome = jsonOf(await s.call("request_login", { provider: "acme" }));
      await Promise.all(human);
      assert.deepEqual(outcome, {
        status: "logged_in",
        provider: "acme",
        connection: "default",
        default: true,
        account: "alice",
        message: "Logged in to Acme (default) as alice, the default connection",
      });

      // The form, then the provider's sign-in page (PKCE, S256, the provider's loopback port).
      assert.equal(opened.length, 2, opened.join("\n"));
      assert.match(opened[0]!, /^http:\/\/127\.0\.0\.1:\d+\/form\//);
      const auth = new URL(opened[1]!);
      assert.equal(auth.origin + auth.pathname, `${f.server.origin}/auth`);
      assert.equal(auth.searchParams.get("code_challenge_method"), "S256");
      assert.equal(auth.searchParams.get("client_id"), f.server.confidentialClient.client_id);
      assert.equal(
        auth.searchParams.get("redirect_uri"),
        `http://127.0.0.1:${f.callbackPort}/auth/callback/oauth`,
      );
      assert.equal(progress[0], "Starting the Acme login…");
      assert.match(progress[1]!, FORM);
      assert.equal(progress[1]!.match(FORM)![1], opened[0]);
      const waitingAuth = `Waiting for the human: open ${opened[1]} and log in`;
      assert.ok(
        progress.filter((m) => m === waitingAuth).length >= 2,
        `progress when the page is ready and 5 s later:\n${progress.join("\n")}`,
      );
      assert.equal(await portAccepts(f.callbackPort), false, "the callback port is closed");

      // The agent sees the connection; the vault holds a token the provider accepts.
      const rows = jsonOf(await s.call("list_connections", {})).connections as Array<
        Record<string, unknown>
      >;
      assert.deepEqual(rows.map((r) => [r.provider, r.connection, r.default, r.status, r.hosts]), [
        ["acme", "default", true, "ok", ["api.acme.test"]],
      ]);
      assert.deepEqual((rows[0]!.scopes as string[]).sort(), ["openid", "read", "write"]);
      assert.deepEqual(await f.listed(), ["acme/default:connected"]);
      const stored = await storedRecord<StoredConnection>(f.home, "connection/acme/default");
      const { access_token: access, refresh_token: refresh } = stored!.secrets;
      assert.equal((await whoami(f.server.issuer, access)).body.sub, "alice");
      const client = await storedRecord<{ client_secret?: string }>(f.home, "client/acme");
      assert.equal(client?.client_secret, clientSecret, "the secret typed in the form is stored");

      const again = jsonOf(await s.call("request_login", { provider: "acme" }));
      assert.equal(again.status, "already_logged_in");
      const logins = (await readAudit(f.home, 100)).filter((e) =>
        e.action === "login" || e.detail?.tool === "request_login"
      ).map((e) => [e.action, e.provider, e.connection, e.outcome, e.detail?.login ?? null]);
      assert.deepEqual(logins, [
        ["login", "acme", "default", "ok", null],
        ["mcp", "acme", "default", "ok", "logged_in"],
        ["mcp", "acme", "default", "ok", "already_logged_in"],
      ]);
      const secrets = [access, refresh!, clientSecret];
      assertNoSecret(s.outputs.join("\n"), secrets, "the tool output");
      assertNoSecret(progress.join("\n"), secrets, "the progress notifications");
      assertNoSecret(await Deno.readTextFile(join(f.home, "audit.log")), secrets, "the audit log");
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name:
    "authsome mcp over stdio, request_login device code: the code and page come back, the human approves, logged in",
  ignore: !chromiumAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using f = await loginFixture();
    await using s = await spawned(f);

    // The first call returns at once with the form for the app's client details.
    const first = jsonOf(await s.call("request_login", { provider: "acmetv", wait_seconds: 0 }));
    assert.equal(first.status, "waiting");
    const form = first.prompt as { kind: string; url: string; asks: string };
    assert.equal(form.kind, "form");
    assert.equal(form.asks, "client secret");
    const browser = await launchChromium();
    try {
      await fillClientForm(browser, form.url, ""); // a public client: no secret
    } finally {
      await browser.close();
    }

    // The next calls wait for that same login; soon the device code is what the human needs.
    let prompt: Record<string, unknown> | undefined;
    let waiting: Record<string, unknown> = {};
    for (let i = 0; i < 40 && prompt?.kind !== "device_code"; i++) {
      waiting = jsonOf(await s.call("request_login", { provider: "acmetv", wait_seconds: 0 }));
      assert.equal(waiting.status, "waiting");
      prompt = waiting.prompt as Record<string, unknown>;
      if (prompt.kind !== "device_code") await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(prompt?.kind, "device_code", JSON.stringify(waiting));
    const code = prompt!.code as string;
    assert.match(code, /^[A-Z]{4}-?[A-Z]{4}$/);
    assert.equal(prompt!.url, `${f.server.origin}/device`);
    assert.ok((prompt!.url_with_code as string).startsWith(`${f.server.origin}/device?user_code=`));
    assert.ok((prompt!.expires_in as number) > 500, String(prompt!.expires_in));
    assert.equal(
      waiting.message,
      `Ask the human to open ${f.server.origin}/device and enter the code ${code}, then call ` +
        "request_login again with the same provider and connection to wait for the outcome",
    );
    const stats = await f.server.stats();
    assert.equal(stats.requests.device_authorization, 1, "one login, one device code");

    assert.deepEqual((await f.server.approveDevice(code, { login: "carol" })).outcome, "approved");
    const done = jsonOf(await s.call("request_login", { provider: "acmetv" }));
    assert.equal(done.status, "logged_in");
    assert.equal(done.account, "carol");
    assert.equal(done.connection, "default");

    const rows = jsonOf(await s.call("list_connections", {})).connections as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(rows.map((r) => `${r.provider}/${r.connection}:${r.status}`), [
      "acmetv/default:ok",
    ]);
    assert.deepEqual(await f.listed(), ["acmetv/default:connected"]);
    const stored = await storedRecord<StoredConnection>(f.home, "connection/acmetv/default");
    const { access_token: access, refresh_token: refresh } = stored!.secrets;
    assert.equal((await whoami(f.server.issuer, access)).body.sub, "carol");

    // The browser was asked to open the form, then the page with the code filled in.
    const opened = await s.opened();
    assert.deepEqual(opened, [form.url, prompt!.url_with_code]);
    assert.ok(
      s.progress.includes(
        `Waiting for the human: open ${f.server.origin}/device and enter the code ${code}`,
      ),
      s.progress.join("\n"),
    );
    const secrets = [access, refresh!];
    assertNoSecret(s.outputs.join("\n"), secrets, "the tool output");
    assertNoSecret(s.progress.join("\n"), secrets, "the progress notifications");
    assertNoSecret(s.stderr(), secrets, "stderr");
    assertNoSecret(await Deno.readTextFile(join(f.home, "audit.log")), secrets, "the audit log");
  },
});

Deno.test({
  name:
    "mcp request_login wait limit: a login not finished in wait_seconds is 'waiting' and stores nothing; one that expires is a tool error",
  ignore: !chromiumAvailable,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await using f = await loginFixture({ deviceCodeTTL: 3 });

    await t.step("wait_seconds: 1 → waiting after about a second, nothing stored", async () => {
      await using s = await inProcess(f);
      const began = Date.now();
      const waiting = jsonOf(await s.call("request_login", { provider: "acme", wait_seconds: 1 }));
      const took = Date.now() - began;
      assert.ok(took >= 900 && took < 10_000, `returned after ${took} ms`);
      assert.equal(waiting.status, "waiting");
      const prompt = waiting.prompt as { kind: string; url: string };
      assert.equal(prompt.kind, "form");
      assert.equal(
        waiting.message,
        `Ask the human to open ${prompt.url} and enter the client secret there, then call ` +
          "request_login again with the same provider and connection to wait for the outcome",
      );
      assert.deepEqual(await f.listed(), []);
      assert.equal(await storedRecord(f.home, "connection/acme/default"), undefined);
      assert.equal(await storedRecord(f.home, "client/acme"), undefined);
      const formPort = Number(new URL(prompt.url).port);
      assert.equal(await portAccepts(formPort), true, "the login still waits for the human");
      // The session ends before the human came: the login ends with it, nothing stored.
      await s.close();
      assert.equal(await portAccepts(formPort), false, "the form is gone with the session");
      assert.deepEqual(await f.listed(), []);
      const audit = (await readAudit(f.home, 100)).filter((e) =>
        e.provider === "acme" && (e.action === "login" || e.action === "mcp")
      );
      assert.deepEqual(audit.map((e) => [e.action, e.outcome, e.detail?.login ?? e.error]), [
        ["mcp", "ok", "waiting"],
        ["login", "error", "AUTH_FAILED"],
      ]);
    });

    await t.step("wait_seconds over the 300 s limit is refused", async () => {
      await using s = await inProcess(f);
      const refused = await s.call("request_login", { provider: "acme", wait_seconds: 301 });
      assert.equal((refused as ToolResult).isError, true);
      assert.match(textOf(refused), /^refused \(rule: input\): wait_seconds: /);
    });

    await t.step("a device code that expires unused: a tool error, nothing stored", async () => {
      const browser = await launchChromium();
      try {
        const human: Array<Promise<void>> = [];
        await using s = await inProcess(f, (url) => {
          if (url.includes("/form/")) human.push(fillClientForm(browser, url, ""));
        });
        const failed = await s.call("request_login", { provider: "acmetv" });
        await Promise.all(human);
        assert.equal((failed as ToolResult).isError, true, textOf(failed));
        assert.equal(
          textOf(failed),
          "error: The device code expired\nhint: Start the login again and enter the code sooner",
        );
        assert.ok(
          s.progress.some((m) => / and enter the code [A-Z-]+$/.test(m)),
          s.progress.join("\n"),
        );
        assert.deepEqual(await f.listed(), []);
        assert.equal(await storedRecord(f.home, "connection/acmetv/default"), undefined);
        assert.equal(await storedRecord(f.home, "client/acmetv"), undefined);
        const audit = (await readAudit(f.home, 100)).filter((e) =>
          e.provider === "acmetv" && (e.action === "login" || e.action === "mcp")
        );
        assert.deepEqual(audit.map((e) => [e.action, e.outcome, e.error]), [
          ["login", "error", "AUTH_FAILED"],
          ["mcp", "error", "AUTH_FAILED"],
        ]);
      } finally {
        await browser.close();
      }
    });
  },
});

Deno.test({
  name:
    "authsome mcp --as: request_login for a provider or connection the identity may not use is refused, no login started",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using f = await loginFixture();
    const created = await runCli(["identity", "create", "reader", "--allow", "acme/work"], {
      home: f.home,
    });
    assert.equal(created.code, 0, created.stderr);
    await using s = await spawned(f, ["--as", "reader"]);

    // wait_seconds 0: were a refusal missing, the call would come back at once with the page.
    const provider = await s.call("request_login", { provider: "acmetv", wait_seconds: 0 });
    assert.equal((provider as ToolResult).isError, true);
    assert.equal(
      textOf(provider),
      'refused (rule: provider): identity "reader" may not use acmetv. Nothing was sent.',
    );
    const connection = await s.call("request_login", {
      provider: "acme",
      connection: "default",
      wait_seconds: 0,
    });
    assert.equal((connection as ToolResult).isError, true);
    assert.equal(
      textOf(connection),
      'refused (rule: connection): identity "reader" may use only the acme connection "work". ' +
        "Nothing was sent.",
    );
    assert.deepEqual(s.progress, [], "no progress: nothing was started");
    assert.deepEqual(await s.opened(), [], "no page was opened");
    const stats = await f.server.stats();
    assert.equal(stats.requests.authorization ?? 0, 0);
    assert.equal(stats.requests.device_authorization ?? 0, 0);

    // What the identity may use is started: acme's form, for the connection of its grant.
    const allowed = jsonOf(await s.call("request_login", { provider: "acme", wait_seconds: 0 }));
    assert.equal(allowed.status, "waiting");
    assert.equal(allowed.connection, "work");
    const url = (allowed.prompt as { url: string }).url;
    for (let i = 0; i < 40 && (await s.opened()).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await s.opened(), [url]);

    const audit = (await readAudit(f.home, 100)).filter((e) => e.action === "mcp");
    assert.deepEqual(audit.map((e) => [e.identity, e.provider, e.outcome, e.detail?.rule]), [
      ["reader", "acmetv", "denied", "provider"],
      ["reader", "acme", "denied", "connection"],
      ["reader", "acme", "ok", undefined],
    ]);
    assert.deepEqual(await f.listed(), []);
  },
});

Deno.test({
  name:
    "authsome mcp over stdio: the host goes while request_login waits — the login ends at once, audited, nothing stored",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using f = await loginFixture();
    const s = await spawned(f);
    const first = jsonOf(await s.call("request_login", { provider: "acme", wait_seconds: 0 }));
    const formPort = Number(new URL((first.prompt as { url: string }).url).port);
    // A call that waits for the human (up to 300 s) when the host closes the connection.
    const before = s.progress.length;
    const waiting = s.call("request_login", { provider: "acme" }).catch(() => undefined);
    await until(() => s.progress.length > before, "the waiting call's progress");
    const began = Date.now();
    await s.client.close(); // stdin closes; the SDK sends SIGTERM after 2 s if still running
    await waiting;
    const took = Date.now() - began;
    assert.equal(await portAccepts(formPort), false, "the form is gone");
    // Ended by itself, before any signal: the call and the login are both audited.
    const audit = (await readAudit(f.home, 100)).filter((e) =>
      e.action === "login" || e.action === "mcp"
    );
    assert.deepEqual(audit.map((e) => [e.action, e.outcome, e.detail?.login ?? e.error]), [
      ["mcp", "ok", "waiting"],
      ["login", "error", "AUTH_FAILED"],
      ["mcp", "error", "AUTH_FAILED"],
    ]);
    assert.ok(took < 2_000, `authsome mcp exited ${took} ms after its stdin closed`);
    assert.deepEqual(await f.listed(), []);
    assert.equal(await storedRecord(f.home, "client/acme"), undefined);
  },
});
