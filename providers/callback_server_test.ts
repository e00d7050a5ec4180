import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { createCallbackApp, startCallbackServer } from "./callback_server.ts";

const HOST = "127.0.0.1:7998";
const BASE = `http://${HOST}/auth/callback/oauth`;

function setup(verdict: "ok" | "error" = "ok") {
  const calls: URLSearchParams[] = [];
  const app = createCallbackApp({
    path: "/auth/callback/oauth",
    expectedHost: HOST,
    onCallback: (params) => {
      calls.push(params);
      return verdict;
    },
  });
  const get = (query: string, headers: Record<string, string> = { host: HOST }, method = "GET") =>
    app.request(`${BASE}${query}`, { headers, method });
  return { app, calls, get };
}

function assertSafeHeaders(res: Response): void {
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(
    res.headers.get("content-security-policy"),
    "default-src 'none'; style-src 'unsafe-inline'",
  );
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
}

Deno.test("a request with another Host header is 403 and does not use the callback", async () => {
  const { calls, get } = setup();
  for (const host of ["evil.example:7998", "localhost:7998", "127.0.0.1:7999"]) {
    const res = await get("?code=the-code&state=s", { host });
    assert.equal(res.status, 403);
    assertSafeHeaders(res);
    assert.ok(!(await res.text()).includes("the-code"));
  }
  const noHost = await get("?code=the-code&state=s", {});
  assert.equal(noHost.status, 403);
  await noHost.body?.cancel();
  assert.equal(calls.length, 0);
  const ok = await get("?code=the-code&state=s");
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("a callback without code or error is 400 'Invalid callback' and does not use it up", async () => {
  const { calls, get } = setup();
  const res = await get("?state=s");
  assert.equal(res.status, 400);
  assertSafeHeaders(res);
  assert.match(await res.text(), /Invalid callback/);
  const other = await get("", { host: HOST });
  assert.equal(other.status, 400);
  await other.body?.cancel();
  assert.equal(calls.length, 0);
  const ok = await get("?code=c&state=s");
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("the first callback wins: success page with safe headers, later ones 409", async () => {
  const { calls, get } = setup("ok");
  const res = await get("?code=the-code-123&state=s1");
  assert.equal(res.status, 200);
  assertSafeHeaders(res);
  const body = await res.text();
  assert.match(body, /Login complete — you can close this tab and go back to the terminal/);
  assert.ok(!body.includes("the-code-123"), "the code is never echoed");
  assert.equal(calls.length, 1);
  assert.equal(calls[0]?.get("code"), "the-code-123");
  assert.equal(calls[0]?.get("state"), "s1");
  for (const query of ["?code=the-code-123&state=s1", "?code=another&state=s1", "?error=x"]) {
    const again = await get(query);
    assert.equal(again.status, 409);
    assertSafeHeaders(again);
    assert.match(await again.text(), /already used/);
  }
  assert.equal(calls.length, 1);
});

Deno.test("the error page shows the server's error code, HTML-escaped", async () => {
  const { calls, get } = setup("error");
  const res = await get(`?error=${encodeURIComponent("<script>alert(1)</script>")}&state=s`);
  assert.equal(res.status, 400);
  assertSafeHeaders(res);
  const body = await res.text();
  assert.ok(!body.includes("<script>"));
  assert.match(body, /Login failed: &#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.equal(calls.length, 1);
});

Deno.test("HEAD and POST do not use up the callback; other paths are 404", async () => {
  const { calls, get } = setup();
  const head = await get("?code=c&state=s", { host: HOST }, "HEAD");
  assert.equal(head.status, 405);
  const post = await get("?code=c&state=s", { host: HOST }, "POST");
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET");
  await post.body?.cancel();
  const app = setup().app;
  for (const path of ["/", "/favicon.ico", "/auth/callback/oauth/", "/auth/callback"]) {
    const res = await app.request(`http://${HOST}${path}?code=c`, { headers: { host: HOST } });
    assert.equal(res.status, 404, path);
    assertSafeHeaders(res);
    await res.body?.cancel();
  }
  assert.equal(calls.length, 0);
});

async function portIsClosed(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test("the callback server on a real socket delivers the callback and closes its port", async () => {
  const server = await startCallbackServer({ port: 0, expectedState: "s1", timeoutMs: 10_000 });
  const uri = new URL(server.redirectUri);
  assert.equal(uri.hostname, "127.0.0.1");
  assert.equal(uri.pathname, "/auth/callback/oauth");
  const port = Number(uri.port);
  assert.ok(port > 0);
  const res = await fetch(`${server.redirectUri}?code=the-code&state=s1&iss=x`);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /Login complete/);
  const params = await server.waitForCallback();
  assert.equal(params.get("code"), "the-code");
  assert.equal(params.get("state"), "s1");
  // It closes by itself after the one callback; close() only waits for that.
  for (let i = 0; i < 100 && !(await portIsClosed(port)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(await portIsClosed(port), true);
  await server.close();
  assert.equal(await server.waitForCallback(), params, "close after success changes nothing");
});

Deno.test("the callback server times out with AUTH_FAILED, and a taken port is a clear error", async () => {
  const server = await startCallbackServer({ port: 0, timeoutMs: 20 });
  const port = Number(new URL(server.redirectUri).port);
  await assert.rejects(server.waitForCallback(), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.exitCode, 2);
    assert.equal(e.message, "Timed out after 1 s waiting for the browser");
    return true;
  });
  await server.close();
  assert.equal(await portIsClosed(port), true);

  const first = await startCallbackServer({ port: 0 });
  const taken = Number(new URL(first.redirectUri).port);
  await assert.rejects(() => startCallbackServer({ port: taken }), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.exitCode, 2);
    assert.equal(
      e.message,
      `Port ${taken} on 127.0.0.1 is in use, so the login callback cannot listen there`,
    );
    assert.match(e.hint ?? "", /--callback-port/);
    return true;
  });
  const controller = new AbortController();
  const third = await startCallbackServer({ port: 0, signal: controller.signal });
  controller.abort();
  await assert.rejects(third.waitForCallback(), /The login was cancelled/);
  await third.close();
  await first.close();
  await assert.rejects(first.waitForCallback(), /The login was cancelled/);
});

/** The status, h1, paragraph, title and headers of a callback page. */
async function pageOf(res: Response) {
  const html = await res.text();
  return {
    status: res.status,
    title: /<title>(.*)<\/title>/.exec(html)?.[1],
    h1: /<h1>(.*)<\/h1>/.exec(html)?.[1],
    text: /<p>(.*)<\/p>/.exec(html)?.[1],
    lang: /<html lang="(\w+)">/.exec(html)?.[1],
    headers: Object.fromEntries(
      [...res.headers].filter(([name]) => name !== "content-length"),
    ),
  };
}

const PAGE_HEADERS = {
  "cache-control": "no-store",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  "content-type": "text/html; charset=utf-8",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

Deno.test("every page a browser can get, word for word, with its headers", async () => {
  const app = createCallbackApp({
    path: "/cb",
    expectedHost: "localhost:7998",
    onCallback: (params) => {
      if (params.get("state") === "boom") throw new Error("a bug in the login");
      return params.get("state") === "good" ? "ok" : "error";
    },
  });
  const ask = async (path: string, method = "GET", host = "LOCALHOST:7998") =>
    await pageOf(await app.request(`http://localhost:7998${path}`, { method, headers: { host } }));
  const expect = (
    status: number,
    h1: string,
    text: string,
    extra: Record<string, string> = {},
  ) => ({
    status,
    title: `authsome — ${h1}`,
    h1,
    text,
    lang: "en",
    headers: { ...PAGE_HEADERS, ...extra },
  });
  assert.deepEqual(
    await ask("/cb?code=c&state=good", "GET", "evil.test:7998"),
    expect(403, "Forbidden", "This address only answers requests made to itself."),
  );
  assert.deepEqual(await ask("/other"), expect(404, "Not found", "There is nothing here."));
  assert.deepEqual(
    await ask("/cb?code=c&state=good", "POST"),
    expect(405, "Method not allowed", "Only the browser&#39;s redirect is accepted here.", {
      allow: "GET",
    }),
  );
  assert.deepEqual(
    await ask("/cb?state=good"),
    expect(400, "Invalid callback", "This address only accepts the answer of a login."),
  );
  assert.deepEqual(
    await ask("/cb?code=c&state=good"),
    expect(
      200,
      "Login complete",
      "Login complete — you can close this tab and go back to the terminal.",
    ),
  );
  assert.deepEqual(
    await ask("/cb?code=c&state=good"),
    expect(409, "Already used", "This login callback was already used. Go back to the terminal."),
  );
  const failed = (reason: string) =>
    expect(400, "Login failed", `Login failed: ${reason}. Go back to the terminal for details.`);
  const fresh = (onCallback: () => "ok" | "error") =>
    createCallbackApp({ path: "/cb", expectedHost: "localhost:7998", onCallback });
  const once = async (query: string, onCallback: () => "ok" | "error" = () => "error") =>
    await pageOf(
      await fresh(onCallback).request(`http://localhost:7998/cb${query}`, {
        headers: { host: "localhost:7998" },
      }),
    );
  assert.deepEqual(await once("?error=access_denied"), failed("access_denied"));
  assert.deepEqual(
    await once("?error=&code=c"),
    failed("the answer does not belong to this login"),
  );
  assert.deepEqual(await once("?code=c"), failed("the answer does not belong to this login"));
  assert.deepEqual(await once(`?error=${"e".repeat(150)}`), failed("e".repeat(100)));
  assert.deepEqual(
    await once("?code=c", () => {
      throw new Error("a bug");
    }),
    failed("the answer does not belong to this login"),
  );
});

Deno.test("startCallbackServer: the state check decides the page, the path must be absolute, an aborted signal starts nothing", async () => {
  for (
    const [expectedState, query, h1] of [
      ["s1", "?code=c&state=s1", "Login complete"],
      [() => "s1", "?code=c&state=s1", "Login complete"],
      ["s1", "?code=c&state=s2", "Login failed"],
      [() => "s1", "?code=c&state=s2", "Login failed"],
      [undefined, "?code=c&state=any", "Login complete"],
      [() => undefined, "?code=c&state=any", "Login complete"],
      ["s1", "?error=access_denied&state=s1", "Login failed"],
    ] as const
  ) {
    const server = await startCallbackServer({
      port: 0,
      ...(expectedState === undefined ? {} : { expectedState }),
    });
    const page = await pageOf(await fetch(`${server.redirectUri}${query}`));
    assert.equal(page.h1, h1, `${String(expectedState)} ${query}`);
    const params = await server.waitForCallback();
    assert.equal(params.toString(), query.slice(1), "the callback is delivered either way");
    await server.close();
  }
  await assert.rejects(() => startCallbackServer({ port: 0, path: "cb" }), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.code, "USAGE");
    assert.equal(e.message, 'The callback path must start with "/": cb');
    return true;
  });
  const aborted = new AbortController();
  aborted.abort();
  await assert.rejects(
    () => startCallbackServer({ port: 0, signal: aborted.signal }),
    (e: unknown) =>
      e instanceof AuthsomeError && e.message === "The login was cancelled" && e.exitCode === 2,
  );
  const timed = await startCallbackServer({ port: 0, timeoutMs: 1500 });
  await assert.rejects(timed.waitForCallback(), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.message, "Timed out after 2 s waiting for the browser");
    assert.equal(e.hint, "Run the login again and finish it in the browser");
    return true;
  });
  await timed.close();
});
