/**
 * End-to-end tests of the local browser form and the device page through the real CLI: a real
 * `./authsome login` process (BROWSER=true, so it "opens" pages with `true` and prints the URL),
 * headless Chromium (Debian `chromium` through playwright-core) as the user, and the real OAuth
 * test server (oidc-provider). Also hostile local clients against a waiting form, the timeout
 * and Ctrl-C. No provider key variable is ever set: every secret comes through the page.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import openai from "../providers/bundled/openai.json" with { type: "json" };
import { type CliResult, readTree, runCli, tempHome } from "./helpers.ts";
import { type AuthServer, startAuthServer } from "./oauth/server.ts";
import {
  AUTHORIZATION_URL,
  deliver,
  portAccepts,
  storedRecord,
  USER_CODE,
} from "./oauth/cli_flow.ts";
import {
  chromiumAvailable,
  DEVICE_PAGE_URL,
  freePort,
  launchChromium,
  type LoginProcess,
  rawHttp,
  rawStatus,
  spawnLogin,
  waitForForm,
  watchPageProblems,
} from "./support/browser.ts";

// -----------------------------------------------------------------------------------------------
// fixture

const HINT = openai.api_key.key_pattern_hint;
const GOOD_KEY = "sk-e2eGoodKey_0123456789abcdefXYZ";
const WRONG_KEY = "sk-tooShort42";

/** Chromium drives pages over its own pipes and timers, which outlive single steps. */
const BROWSER_TEST = { sanitizeOps: false, sanitizeResources: false } as const;

/** A temp AUTHSOME_HOME and a CLI runner for it (BROWSER=true, stdin /dev/null). */
interface Home extends AsyncDisposable {
  home: string;
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

async function newHome(): Promise<Home> {
  const tmp = await tempHome();
  return {
    home: tmp.home,
    cli: (args, env = {}) => runCli(args, { home: tmp.home, env: { BROWSER: "true", ...env } }),
    [Symbol.asyncDispose]: () => tmp[Symbol.asyncDispose](),
  };
}

/** An OAuth provider definition pointing at the test server (as in tests/oauth_login_test.ts). */
function acmeDefinition(server: AuthServer, flow: "pkce" | "device_code") {
  return {
    name: "acme",
    display_name: "Acme",
    auth_type: "oauth2",
    flow,
    api_url: "api.acme.test",
    oauth: {
      authorization_url: `${server.issuer}/auth`,
      token_url: `${server.issuer}/token`,
      revocation_url: `${server.issuer}/token/revocation`,
      device_authorization_url: `${server.issuer}/device/auth`,
      scopes: ["openid", "read", "write"],
      client: { client_id_env: "ACME_CLIENT_ID", client_secret_env: "ACME_CLIENT_SECRET" },
    },
  };
}

interface OAuthFixture extends Home {
  server: AuthServer;
}

/** Starts the OAuth test server and registers `acme` with `flow` in a fresh home. */
async function oauthFixture(flow: "pkce" | "device_code"): Promise<OAuthFixture> {
  const server = await startAuthServer({ accessTokenTTL: 3600 });
  const h = await newHome();
  try {
    const file = join(h.home, "..", "acme.json");
    await Deno.writeTextFile(file, JSON.stringify(acmeDefinition(server, flow)));
    const r = await h.cli(["provider", "register", file]);
    assert.equal(r.code, 0, `provider register acme: ${r.stderr}`);
  } catch (error) {
    await server.close();
    await h[Symbol.asyncDispose]();
    throw error;
  }
  return {
    ...h,
    server,
    async [Symbol.asyncDispose]() {
      await server.close();
      await h[Symbol.asyncDispose]();
    },
  };
}

/** Runs `body` with a fresh headless Chromium, closed afterwards. */
async function withBrowser<T>(body: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await launchChromium();
  try {
    return await body(browser);
  } finally {
    await browser.close();
  }
}

/** Stops a CLI that a failed assertion left running, and waits for it. */
async function stop(child: LoginProcess): Promise<void> {
  child.kill();
  await child.done();
}

function assertExit(r: CliResult, code: number, what: string): void {
  assert.equal(
    r.code,
    code,
    `${what}: exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
  );
}

/** `secret` is in no output and in no file under `home` in plaintext. */
async function assertNowhere(
  home: string,
  secret: string,
  name: string,
  outputs: Array<[string, CliResult]>,
): Promise<void> {
  for (const [what, r] of outputs) {
    assert.ok(!r.stdout.includes(secret), `${what}: stdout shows no ${name}`);
    assert.ok(!r.stderr.includes(secret), `${what}: stderr shows no ${name}`);
  }
  const tree = await readTree(home);
  assert.ok(tree.size > 0, `${home} has files`);
  for (const [path, content] of tree) {
    assert.ok(!content.includes(secret), `${path} holds no plaintext ${name}`);
  }
}

/** No openai connection: `get openai` exits 3. */
async function assertNoOpenAi(h: Home, what: string): Promise<void> {
  const get = await h.cli(["get", "openai"]);
  assertExit(get, 3, `${what}: get openai`);
}

// -----------------------------------------------------------------------------------------------
// API key

Deno.test({
  name:
    "login openai: Chromium fills the real CLI's form; a wrong key shows the hint and the CLI keeps waiting; Enter on a right key stores it, never printed or written in plaintext",
  ignore: !chromiumAvailable,
  ...BROWSER_TEST,
  async fn() {
    await using h = await newHome();
    await withBrowser(async (browser) => {
      const child = spawnLogin(["login", "openai"], { home: h.home });
      try {
        const form = await waitForForm(child);
        assert.equal(form.asked, "api key");
        assert.match(child.stderr(), /Waiting for the form\.\.\. (5:00|4:59) left/);
        assert.match(child.stderr(), /Or set OPENAI_API_KEY/);

        const page = await browser.newPage();
        const problems = watchPageProblems(page);
        const shown = await page.goto(form.url);
        assert.equal(shown?.status(), 200);
        assert.equal(await page.locator("h1").textContent(), "Log in to OpenAI");
        assert.match(await page.locator("body").innerText(), /OpenAI/);
        const input = page.getByLabel("API key");
        assert.equal(await input.getAttribute("type"), "password", "a masked input");
        assert.equal(await page.locator("#field-0:focus").count(), 1, "the field has the focus");
        assert.equal(await page.locator(".hint").textContent(), HINT);
        assert.equal(
          await page.getByRole("link", { name: /OpenAI docs/ }).getAttribute("href"),
          openai.docs,
        );

        // The page refuses the wrong key first ...
        await input.fill(WRONG_KEY);
        await page.getByRole("button", { name: "Continue" }).click();
        assert.equal(await page.locator("#field-0:invalid").count(), 1, "in-page validation");
        assert.equal(page.url(), form.url);
        // ... and without it, so does the server: the form again, with the hint, 422.
        await page.locator("form").evaluate((f) => f.setAttribute("novalidate", ""));
        const [refused] = await Promise.all([
          page.waitForResponse((r) => r.request().method() === "POST"),
          page.getByRole("button", { name: "Continue" }).click(),
        ]);
        assert.equal(refused.status(), 422);
        await page.locator(".error").waitFor();
        assert.equal(await page.locator(".error").textContent(), HINT);
        assert.equal(await page.getByLabel("API key").inputValue(), "", "no refill");
        assert.equal(await page.getByLabel("API key").getAttribute("aria-invalid"), "true");
        assert.ok(!(await page.content()).includes(WRONG_KEY), "the wrong key is not echoed");

        // The CLI still waits for a right key, and stored nothing.
        assert.equal(child.exited(), false, `the CLI still waits:\n${child.stderr()}`);
        assert.equal(await portAccepts(form.port), true, "the form still listens");
        await assertNoOpenAi(h, "after the wrong key");

        // Retry without restarting: type the right key and press Enter.
        await page.getByLabel("API key").fill(GOOD_KEY);
        await page.getByLabel("API key").press("Enter");
        await page.getByText("can be closed").waitFor();
        assert.ok(!(await page.content()).includes(GOOD_KEY), "the success page shows no key");
        assert.deepEqual(problems, [], "no CSP violation or page error");

        const r = await child.done();
        assertExit(r, 0, "login openai");
        assert.match(r.stderr, /Logged in to openai \(default\)/);
        assert.equal(await portAccepts(form.port), false, "the form's port is closed");

        const key = await h.cli(["get", "openai", "--field", "api_key", "--show-secret"]);
        assertExit(key, 0, "get openai --field api_key --show-secret");
        assert.equal(key.stdout.trim(), GOOD_KEY);
        const doc = await h.cli(["get", "openai", "--json"]);
        assertExit(doc, 0, "get openai --json");
        assert.equal(JSON.parse(doc.stdout).status, "connected");

        await assertNowhere(h.home, GOOD_KEY, "API key", [
          ["login openai", r],
          ["get openai --json", doc],
          ["get openai", await h.cli(["get", "openai"])],
          ["list --json", await h.cli(["list", "--json"])],
        ]);
        await assertNowhere(h.home, WRONG_KEY, "wrong key", [["login openai", r]]);
      } finally {
        await stop(child);
      }
    });
  },
});

// -----------------------------------------------------------------------------------------------
// OAuth client credentials, then the OAuth login

Deno.test({
  name:
    "login acme --callback-port 0: Chromium enters the OAuth client ID and secret in the form (no redirect URI shown), then the real pkce login completes and stores the client",
  ignore: !chromiumAvailable,
  ...BROWSER_TEST,
  async fn() {
    await using f = await oauthFixture("pkce");
    const { client_id: clientId, client_secret: clientSecret } = f.server.confidentialClient;
    await withBrowser(async (browser) => {
      // ACME_CLIENT_ID/ACME_CLIENT_SECRET are not set: the form asks for both.
      const child = spawnLogin(["login", "acme", "--callback-port", "0"], { home: f.home });
      try {
        const form = await waitForForm(child);
        assert.equal(form.asked, "client id and client secret");
        assert.match(child.stderr(), /Or set ACME_CLIENT_ID, ACME_CLIENT_SECRET/);

        const page = await browser.newPage();
        const problems = watchPageProblems(page);
        await page.goto(form.url);
        assert.equal(await page.locator("h1").textContent(), "Connect your Acme OAuth app");
        assert.equal(
          await page.getByText("Redirect URI to register").count(),
          0,
          "a port picked later has no redirect URI to show",
        );
        assert.equal(await page.getByLabel("Client ID").getAttribute("type"), "text");
        assert.equal(await page.getByLabel("Client secret").getAttribute("type"), "password");
        await page.getByLabel("Client ID").fill(clientId);
        await page.getByLabel("Client secret").fill(clientSecret);
        await page.getByRole("button", { name: "Continue" }).click();
        await page.getByText("can be closed").waitFor();
        assert.ok(!(await page.content()).includes(clientSecret));
        assert.deepEqual(problems, []);

        // Then the OAuth login itself, with the client from the form.
        const [, authUrl] = await child.waitForStderr(AUTHORIZATION_URL);
        assert.equal(new URL(authUrl!).searchParams.get("client_id"), clientId);
        assert.equal(await portAccepts(form.port), false, "the form closed after its submission");
        const { callbackUrl } = await f.server.approveAuthorization(authUrl!, { login: "alice" });
        const delivery = await deliver(callbackUrl);
        assert.equal(delivery.status, 200, delivery.text);

        const r = await child.done();
        assertExit(r, 0, "login acme");
        assert.match(r.stderr, /Logged in to acme \(default\) as alice/);
        const doc = await f.cli(["get", "acme", "--json"]);
        assertExit(doc, 0, "get acme --json");
        const parsed = JSON.parse(doc.stdout);
        assert.equal(parsed.status, "connected");
        assert.deepEqual(parsed.account, { id: "alice", label: "alice" });
        // The client secret reached the vault (encrypted) and was used at the token endpoint.
        const client = await storedRecord<{ client_id: string; client_secret?: string }>(
          f.home,
          "client/acme",
        );
        assert.equal(client?.client_id, clientId);
        assert.equal(client?.client_secret, clientSecret);
        const stats = await f.server.stats();
        assert.equal(stats.token_requests.authorization_code, 1, JSON.stringify(stats));

        await assertNowhere(f.home, clientSecret, "client secret", [
          ["login acme", r],
          ["get acme --json", doc],
          ["list --json", await f.cli(["list", "--json"])],
        ]);
      } finally {
        await stop(child);
      }
    });
  },
});

Deno.test({
  name:
    "login acme --callback-port N: the form shows the exact redirect URI to register, and Chromium then logs in through the authorization server's pages",
  ignore: !chromiumAvailable,
  ...BROWSER_TEST,
  async fn() {
    await using f = await oauthFixture("pkce");
    const { client_id: clientId, client_secret: clientSecret } = f.server.confidentialClient;
    const port = freePort();
    const redirectUri = `http://127.0.0.1:${port}/auth/callback/oauth`;
    await withBrowser(async (browser) => {
      const child = spawnLogin(["login", "acme", "--callback-port", String(port)], {
        home: f.home,
      });
      try {
        const form = await waitForForm(child);
        const page = await browser.newPage();
        const problems = watchPageProblems(page);
        await page.goto(form.url);
        const info = page.locator("dl.info");
        assert.equal(await info.locator("dt").textContent(), "Redirect URI to register");
        assert.equal(await info.locator("dd code").textContent(), redirectUri);
        await page.getByLabel("Client ID").fill(clientId);
        await page.getByLabel("Client secret").fill(clientSecret);
        await page.getByLabel("Client secret").press("Enter");
        await page.getByText("can be closed").waitFor();
        assert.deepEqual(problems, []);

        const [, authUrl] = await child.waitForStderr(AUTHORIZATION_URL);
        assert.equal(new URL(authUrl!).searchParams.get("redirect_uri"), redirectUri);
        // The user in Chromium: sign in, allow, and the browser follows the redirect home.
        await page.goto(authUrl!);
        await page.locator("#login").fill("bob");
        await page.locator("#password").fill("x");
        await page.locator("#login-submit").click();
        const approve = page.locator("#approve");
        const landed = page.getByText("go back to the terminal");
        await approve.or(landed).first().waitFor();
        if (await approve.isVisible()) await approve.click();
        await landed.waitFor();
        assert.ok(page.url().startsWith(`${redirectUri}?`), page.url());

        const r = await child.done();
        assertExit(r, 0, "login acme --callback-port N");
        assert.match(r.stderr, /Logged in to acme \(default\) as bob/);
        assert.equal(await portAccepts(port), false, "the callback port is closed");
        const doc = await f.cli(["get", "acme", "--json"]);
        assertExit(doc, 0, "get acme --json");
        assert.equal(JSON.parse(doc.stdout).status, "connected");
        await assertNowhere(f.home, clientSecret, "client secret", [
          ["login acme", r],
          ["get acme --json", doc],
        ]);
      } finally {
        await stop(child);
      }
    });
  },
});

// -----------------------------------------------------------------------------------------------
// hostile local clients

Deno.test({
  name:
    "hostile local clients against a waiting login openai: no token, wrong token, forged Host, no or wrong CSRF, cross-site POST are 403; a second submission is refused; none stores anything",
  async fn() {
    await using h = await newHome();
    const child = spawnLogin(["login", "openai"], { home: h.home });
    const forged = "sk-forgedKey_0123456789abcdefXYZ";
    const late = "sk-secondKey_0123456789abcdefXYZ";
    try {
      const form = await waitForForm(child);
      const { port, path, token } = form;
      const origin = `http://127.0.0.1:${port}`;

      // The page itself, with its security headers.
      const page = await fetch(form.url);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("cache-control") ?? "", /no-store/);
      assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
      assert.match(page.headers.get("content-security-policy") ?? "", /form-action 'self'/);
      assert.equal(page.headers.get("x-frame-options"), "DENY");
      assert.equal(page.headers.get("referrer-policy"), "no-referrer");
      const html = await page.text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
      assert.ok(csrf.length >= 32, "a CSRF token in the page");
      assert.notEqual(csrf, token);

      const status = async (url: string, init?: RequestInit) => {
        const res = await fetch(url, init);
        await res.body?.cancel();
        return res.status;
      };
      const post = (body: string, headers: Record<string, string> = {}) =>
        status(form.url, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body,
        });
      const good = new URLSearchParams({ csrf, api_key: forged }).toString();

      assert.equal(await status(`${origin}/`), 403, "GET / (no token)");
      assert.equal(await status(`${origin}/form/`), 403, "GET /form/ (no token)");
      assert.equal(await status(`${origin}/form`), 403, "GET /form (no token)");
      const wrongToken = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
      assert.equal(await status(`${origin}/form/${wrongToken}`), 403, "GET, wrong token");
      assert.equal(await status(`${origin}/form/${token}x`), 403, "GET, token with a suffix");
      assert.equal(
        await status(`${origin}/form/${wrongToken}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: good,
        }),
        403,
        "POST with the CSRF token to a wrong token",
      );
      // A DNS-rebinding page reaches the port under another name: fetch will not forge Host.
      const forgedGet = await rawHttp(
        port,
        `GET ${path} HTTP/1.1\r\nHost: attacker.example:${port}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(rawStatus(forgedGet), 403, `GET, forged Host:\n${forgedGet.slice(0, 200)}`);
      const forgedPost = await rawHttp(
        port,
        `POST ${path} HTTP/1.1\r\nHost: localhost:${port}\r\nConnection: close\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${good.length}\r\n\r\n${good}`,
      );
      assert.equal(rawStatus(forgedPost), 403, `POST, forged Host:\n${forgedPost.slice(0, 200)}`);
      assert.equal(
        await post(new URLSearchParams({ api_key: forged }).toString()),
        403,
        "POST without the CSRF field",
      );
      assert.equal(
        await post(new URLSearchParams({ csrf: `${csrf}x`, api_key: forged }).toString()),
        403,
        "POST with a wrong CSRF token",
      );
      assert.equal(await post(good, { "sec-fetch-site": "cross-site" }), 403, "cross-site POST");

      // Nothing was stored, and the login still waits.
      assert.equal(child.exited(), false, `the CLI still waits:\n${child.stderr()}`);
      await assertNoOpenAi(h, "after the refused requests");

      // A second submission already on its way: its body is still arriving when the first is
      // accepted, so the server must refuse it once it is read.
      const lateBody = new URLSearchParams({ csrf, api_key: late }).toString();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const encoder = new TextEncoder();
      await conn.write(encoder.encode(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n` +
          `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${lateBody.length}\r\n\r\n` +
          lateBody.slice(0, 10),
      ));
      // The server reads connections in the order they came: once it has answered a request sent
      // after this one, it has taken up the half-sent submission too.
      assert.equal(await status(`${origin}/`), 403, "GET / (no token), after the late request");

      const accepted = await fetch(form.url, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, api_key: GOOD_KEY }).toString(),
      });
      assert.equal(accepted.status, 200);
      assert.match(await accepted.text(), /can be closed/);

      await conn.write(encoder.encode(lateBody.slice(10)));
      const second = await new Response(conn.readable).text();

      const r = await child.done();
      assertExit(r, 0, "login openai");
      // After that the form is gone: a third submission finds nothing listening.
      assert.equal(await portAccepts(port), false, "the port is closed after the submission");

      const key = await h.cli(["get", "openai", "--field", "api_key", "--show-secret"]);
      assertExit(key, 0, "get openai --field api_key --show-secret");
      assert.equal(key.stdout.trim(), GOOD_KEY, "only the accepted submission was stored");
      for (const [name, secret] of [["forged key", forged], ["late key", late]] as const) {
        await assertNowhere(h.home, secret, name, [["login openai", r]]);
      }
      // Checked last, so that everything above is verified either way.
      assert.equal(rawStatus(second), 410, `the second submission:\n${second.slice(0, 300)}`);
      assert.match(second, /already used/);
    } finally {
      await stop(child);
    }
  },
});

// -----------------------------------------------------------------------------------------------
// timeout and Ctrl-C

Deno.test({
  name:
    "login openai --timeout 5 with nobody submitting: the page says time is up, the CLI exits 2 'Timed out', the port is closed, nothing is stored",
  ignore: !chromiumAvailable,
  ...BROWSER_TEST,
  async fn() {
    await using h = await newHome();
    await withBrowser(async (browser) => {
      // 5 s: time enough for a loaded machine to open the page before the form closes.
      const child = spawnLogin(["login", "openai", "--timeout", "5"], { home: h.home });
      try {
        const form = await waitForForm(child);
        assert.match(child.stderr(), /Waiting for the form\.\.\. 0:0[1-5] left/);
        const page = await browser.newPage();
        await page.goto(form.url);
        await page.locator("#expired-note").waitFor({ state: "visible", timeout: 10_000 });
        assert.equal(
          await page.getByRole("button", { name: "Continue" }).isDisabled(),
          true,
          "the page disables the button when the time is up",
        );

        const r = await child.done();
        assertExit(r, 2, "login openai --timeout 5");
        assert.match(r.stderr, /^error: Timed out/m);
        assert.equal(await portAccepts(form.port), false, "the form's port is closed");
        await assertNoOpenAi(h, "after the timeout");
      } finally {
        await stop(child);
      }
    });
  },
});

Deno.test({
  name:
    "Ctrl-C while the form waits: SIGINT makes login openai exit 2 'cancelled', closes the port, stores nothing",
  async fn() {
    await using h = await newHome();
    const child = spawnLogin(["login", "openai"], { home: h.home });
    try {
      const form = await waitForForm(child);
      assert.equal(await portAccepts(form.port), true);
      child.signal("SIGINT");
      const r = await child.done();
      assertExit(r, 2, "login openai after SIGINT");
      assert.match(r.stderr, /^error: .*cancelled/m);
      assert.equal(await portAccepts(form.port), false, "the form's port is closed");
      await assertNoOpenAi(h, "after Ctrl-C");
    } finally {
      await stop(child);
    }
  },
});

// -----------------------------------------------------------------------------------------------
// device page

Deno.test({
  name:
    "device-code login with BROWSER set shows the code on a local page, which turns to approved once the device is approved and the CLI exits 0",
  ignore: !chromiumAvailable,
  ...BROWSER_TEST,
  async fn() {
    await using f = await oauthFixture("device_code");
    await withBrowser(async (browser) => {
      // An empty secret variable marks a public client: no form is shown.
      const child = spawnLogin(["login", "acme"], {
        home: f.home,
        env: { ACME_CLIENT_ID: f.server.publicClient.client_id, ACME_CLIENT_SECRET: "" },
      });
      try {
        const [, pageUrl] = await child.waitForStderr(DEVICE_PAGE_URL);
        const [, userCode] = await child.waitForStderr(USER_CODE);
        assert.ok(!/Enter the .* in your browser/.test(child.stderr()), "no form for the client");

        const page = await browser.newPage();
        const problems = watchPageProblems(page);
        const shown = await page.goto(pageUrl!);
        assert.equal(shown?.status(), 200);
        const heading = await page.locator("h1").textContent();
        assert.equal(await page.locator("#user-code").textContent(), userCode);
        assert.equal(
          await page.locator("ol.steps a").first().getAttribute("href"),
          `${f.server.issuer}/device`,
        );
        const status = page.getByRole("status");
        assert.match(await status.textContent() ?? "", /Waiting/);

        const approved = await f.server.approveDevice(userCode!, { login: "carol" });
        assert.equal(approved.outcome, "approved");
        // The page polls every 2 s; the CLI gives it one more poll before it closes the page.
        const [r] = await Promise.all([
          child.done(),
          page.locator('[data-poll][data-status="approved"]').waitFor({ timeout: 15_000 }),
        ]);
        assertExit(r, 0, "login acme (device_code)");
        assert.match(r.stderr, /Logged in to acme \(default\) as carol/);
        assert.match(await status.textContent() ?? "", /Approved\. This page can be closed/);
        assert.deepEqual(problems, []);
        assert.equal(await portAccepts(Number(new URL(pageUrl!).port)), false, "page closed");

        const doc = await f.cli(["get", "acme", "--json"]);
        assertExit(doc, 0, "get acme --json");
        assert.equal(JSON.parse(doc.stdout).status, "connected");
        // Checked last: the page names the provider by its display name, as the form does.
        assert.equal(heading, "Log in to Acme", "the device page shows the display name");
      } finally {
        await stop(child);
      }
    });
  },
});
