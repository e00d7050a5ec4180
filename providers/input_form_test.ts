import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { createFormApp, type FormRequest, startFormServer } from "./input_form.ts";

const HOST = "127.0.0.1:41234";
const TOKEN = "tok_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const CSRF = "csrf_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
const URL_OK = `http://${HOST}/form/${TOKEN}`;
const HINT = 'Keys start with "sk-" followed by at least 20 letters or digits';
const GOOD_KEY = "sk-abcdefghijklmnopqrstuvwxyz0123";

const REQUEST: FormRequest = {
  title: "Log in to OpenAI",
  provider: "OpenAI",
  intro: "Paste your OpenAI API key.",
  fields: [
    {
      name: "api_key",
      label: "API key",
      secret: true,
      required: true,
      pattern: "sk-[A-Za-z0-9]{20,}",
      hint: HINT,
    },
  ],
  info: [{
    label: "Redirect URI to register",
    value: "http://127.0.0.1:7998/auth/callback/oauth",
    copy: true,
  }],
  docsUrl: "https://platform.openai.com/api-keys",
};

function setup(
  overrides: {
    request?: FormRequest;
    now?: () => Date;
    validate?: (v: Record<string, string>) => Record<string, string> | undefined;
  } = {},
) {
  const accepted: Record<string, string>[] = [];
  const app = createFormApp({
    request: overrides.request ?? REQUEST,
    token: TOKEN,
    csrfToken: CSRF,
    expectedHost: HOST,
    deadline: new Date(Date.UTC(2030, 0, 1, 12, 5)),
    now: overrides.now ?? (() => new Date(Date.UTC(2030, 0, 1, 12, 0))),
    ...(overrides.validate === undefined ? {} : { validate: overrides.validate }),
    onAccepted: (values) => accepted.push(values),
  });
  const get = (url = URL_OK, headers: Record<string, string> = { host: HOST }) =>
    app.request(url, { headers });
  /** `headers` replaces the default Host header when given. */
  const post = (
    body: string,
    { url = URL_OK, headers = { host: HOST } }: { url?: string; headers?: Record<string, string> } =
      {},
  ) =>
    app.request(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body,
    });
  const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  return { app, accepted, get, post, form };
}

function assertSafeHeaders(res: Response): void {
  assert.equal(res.headers.get("cache-control"), "no-store");
  const csp = res.headers.get("content-security-policy") ?? "";
  for (
    const directive of [
      "default-src 'none'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ]
  ) {
    assert.ok(csp.split("; ").includes(directive), `${directive} in ${csp}`);
  }
  assert.match(csp, /style-src 'nonce-[A-Za-z0-9_-]{43}'/);
  assert.match(csp, /script-src 'nonce-[A-Za-z0-9_-]{43}'/);
  assert.doesNotMatch(csp, /unsafe-eval|\*/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
}

/** Every `<style>` and `<script>` in the page carries the CSP nonce, or the browser drops it. */
function assertNonced(res: Response, html: string): void {
  const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1];
  assert.ok(nonce);
  for (const tag of html.match(/<(style|script)\b[^>]*>/g) ?? []) {
    assert.ok(tag.includes(`nonce="${nonce}"`), tag);
  }
  assert.doesNotMatch(html, / style=| on[a-z]+=/, "no inline style or handler attributes");
}

Deno.test("the form page has labels, a masked input, the hint, the info, the docs link and the time left", async () => {
  const { get } = setup();
  const res = await get();
  assert.equal(res.status, 200);
  assertSafeHeaders(res);
  const html = await res.text();
  assertNonced(res, html);
  assert.match(html, /<h1>Log in to OpenAI<\/h1>/);
  assert.match(html, /Paste your OpenAI API key\./);
  assert.match(html, /<label for="field-0">API key<\/label>/);
  const input = /<input id="field-0"[^>]*>/.exec(html)?.[0] ?? "";
  for (
    const attr of [
      'type="password"',
      'autocomplete="off"',
      "required",
      'pattern="sk-[A-Za-z0-9]{20,}"',
      'aria-describedby="field-0-hint"',
      "autofocus",
    ]
  ) {
    assert.ok(input.includes(attr), `${attr} in ${input}`);
  }
  assert.ok(input.includes(`title="Keys start with &#34;sk-&#34;`));
  assert.doesNotMatch(input, /value=/);
  assert.match(html, /<p class="hint" id="field-0-hint">Keys start with &#34;sk-&#34;/);
  assert.match(html, /<input type="hidden" name="csrf" value="csrf_B+">/);
  assert.match(html, /<form method="post" action="\/form\/tok_A+"/);
  assert.match(html, /<button type="submit" class="primary">/);
  assert.match(html, /Redirect URI to register<\/dt>/);
  assert.match(
    html,
    /<code class="value" id="info-0">http:\/\/127\.0\.0\.1:7998\/auth\/callback\/oauth<\/code>/,
  );
  assert.match(
    html,
    /<button type="button" class="secondary" data-copy="info-0" hidden><span class="label">Copy</,
  );
  assert.match(
    html,
    /<a href="https:\/\/platform\.openai\.com\/api-keys" target="_blank" rel="noopener noreferrer">/,
  );
  assert.match(html, /data-seconds-left="300">5:00</);
  assert.match(html, /prefers-color-scheme:dark/);
  assert.doesNotMatch(
    html,
    /https?:\/\/(?!127\.0\.0\.1|platform\.openai\.com)/,
    "no external resources",
  );
});

Deno.test("no token, a wrong token or a forged Host is 403 and reveals nothing", async () => {
  const { get, post, form, accepted } = setup();
  const cases: Array<[string, Record<string, string>]> = [
    [`http://${HOST}/`, { host: HOST }],
    [`http://${HOST}/form`, { host: HOST }],
    [`http://${HOST}/form/`, { host: HOST }],
    [`http://${HOST}/form/${TOKEN.slice(0, -1)}`, { host: HOST }],
    [`http://${HOST}/form/${TOKEN}x`, { host: HOST }],
    [`http://${HOST}/form/${TOKEN}/`, { host: HOST }],
    [`http://${HOST}/form/wrong`, { host: HOST }],
    [URL_OK, { host: "evil.example:41234" }],
    [URL_OK, { host: "localhost:41234" }],
    [URL_OK, { host: "127.0.0.1:41235" }],
    [URL_OK, { host: "127.0.0.1" }],
    [URL_OK, {}],
  ];
  for (const [url, headers] of cases) {
    const res = await get(url, headers);
    assert.equal(res.status, 403, `${url} ${JSON.stringify(headers)}`);
    assertSafeHeaders(res);
    const html = await res.text();
    assert.ok(!html.includes(CSRF) && !html.includes(TOKEN) && !html.includes("OpenAI"));
    const posted = await post(form({ csrf: CSRF, api_key: GOOD_KEY }), { url, headers });
    assert.equal(posted.status, 403);
    await posted.body?.cancel();
  }
  assert.equal(accepted.length, 0);
});

Deno.test("a POST without the CSRF token, or with a wrong one, is 403 and accepts nothing", async () => {
  const { post, form, accepted } = setup();
  for (
    const body of [
      form({ api_key: GOOD_KEY }),
      form({ csrf: "", api_key: GOOD_KEY }),
      form({ csrf: CSRF.slice(0, -1), api_key: GOOD_KEY }),
      form({ csrf: `${CSRF}x`, api_key: GOOD_KEY }),
      form({ csrf: TOKEN, api_key: GOOD_KEY }),
    ]
  ) {
    const res = await post(body);
    assert.equal(res.status, 403, body);
    assertSafeHeaders(res);
    assert.ok(!(await res.text()).includes(GOOD_KEY));
  }
  const crossSite = await post(form({ csrf: CSRF, api_key: GOOD_KEY }), {
    headers: { host: HOST, "sec-fetch-site": "cross-site" },
  });
  assert.equal(crossSite.status, 403);
  await crossSite.body?.cancel();
  assert.equal(accepted.length, 0);
});

Deno.test("a value that does not match the pattern is 422 with the hint and is never echoed", async () => {
  const { post, form, accepted } = setup();
  const wrong = "sk-short<b>secret";
  const res = await post(form({ csrf: CSRF, api_key: wrong }));
  assert.equal(res.status, 422);
  assertSafeHeaders(res);
  const html = await res.text();
  assertNonced(res, html);
  assert.ok(!html.includes("short"), "the submitted secret is not in the page");
  assert.match(html, /role="alert"><p>Please fix the highlighted field below\./);
  assert.match(html, /<p class="error" id="field-0-error">Keys start with &#34;sk-&#34;/);
  const input = /<input id="field-0"[^>]*>/.exec(html)?.[0] ?? "";
  assert.ok(input.includes('aria-invalid="true"'));
  assert.ok(
    input.includes('aria-describedby="field-0-error"'),
    "the hint is shown once, as the error",
  );
  assert.doesNotMatch(html, /class="hint"/);
  assert.doesNotMatch(input, /value=/);
  assert.match(html, /name="csrf" value="csrf_B+"/, "the user can retry");
  assert.equal(accepted.length, 0);

  // A full match: a key with the right start but extra characters after a space is refused.
  const partial = await post(form({ csrf: CSRF, api_key: `${GOOD_KEY} extra` }));
  assert.equal(partial.status, 422);
  await partial.body?.cancel();
  const empty = await post(form({ csrf: CSRF, api_key: "   " }));
  assert.equal(empty.status, 422);
  assert.match(await empty.text(), /API key is required/);
  const lineBreak = await post(form({ csrf: CSRF, api_key: `${GOOD_KEY}\nmore` }));
  assert.equal(lineBreak.status, 422);
  assert.match(await lineBreak.text(), /Paste the API key alone, on one line/);
  assert.equal(accepted.length, 0);

  const ok = await post(form({ csrf: CSRF, api_key: `  ${GOOD_KEY}\n` }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.deepEqual(accepted, [{ api_key: GOOD_KEY }]);
});

Deno.test("one submission is accepted: 'can be closed', onAccepted once, then every request is 410", async () => {
  const { get, post, form, accepted } = setup();
  const res = await post(form({ csrf: CSRF, api_key: GOOD_KEY, extra: "ignored" }));
  assert.equal(res.status, 200);
  assertSafeHeaders(res);
  const html = await res.text();
  assert.match(html, /This page can be closed/);
  assert.ok(!html.includes(GOOD_KEY));
  assert.deepEqual(accepted, [{ api_key: GOOD_KEY }]);
  for (const again of [await post(form({ csrf: CSRF, api_key: GOOD_KEY })), await get()]) {
    assert.equal(again.status, 410);
    assertSafeHeaders(again);
    const body = await again.text();
    assert.match(body, /This form was already used/);
    assert.ok(!body.includes(CSRF) && !body.includes(GOOD_KEY));
  }
  assert.equal(accepted.length, 1);
  // A wrong token still gets no hint that the form exists.
  const wrong = await get(`http://${HOST}/form/nope`);
  assert.equal(wrong.status, 403);
  await wrong.body?.cancel();
});

Deno.test("two submissions racing: only one is accepted", async () => {
  const { post, form, accepted } = setup();
  const [a, b] = await Promise.all([
    post(form({ csrf: CSRF, api_key: GOOD_KEY })),
    post(form({ csrf: CSRF, api_key: `${GOOD_KEY}9` })),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [200, 410]);
  await a.body?.cancel();
  await b.body?.cancel();
  assert.equal(accepted.length, 1);
});

Deno.test("the server-side validate hook shows its messages; other fields are never refilled with submitted values", async () => {
  const request: FormRequest = {
    title: "Set up the GitHub OAuth app",
    provider: "GitHub",
    fields: [
      {
        name: "client_id",
        label: "Client ID",
        secret: false,
        required: true,
        value: "Iv1.prefill",
        hint: "On the app's page under General",
      },
      { name: "client_secret", label: "Client secret", secret: true, required: true },
      { name: "note", label: "Note", secret: false, required: false, pattern: "[a-z]+" },
    ],
  };
  const { get, post, form, accepted } = setup({
    request,
    validate: (values) =>
      values.client_id === "Iv1.bad"
        ? { client_id: "This client ID is not registered", general: "GitHub said <no>" }
        : undefined,
  });
  const page = await (await get()).text();
  assert.match(
    page,
    /<input id="field-0" name="client_id" type="text"[^>]*value="Iv1\.prefill"[^>]*autofocus>/,
  );
  assert.match(page, /Note <span class="optional">\(optional\)<\/span>/);
  const res = await post(form({ csrf: CSRF, client_id: "Iv1.bad", client_secret: "s3cr3t-value" }));
  assert.equal(res.status, 422);
  const html = await res.text();
  assert.ok(!html.includes("Iv1.bad") && !html.includes("s3cr3t-value"));
  assert.match(html, /value="Iv1\.prefill"/, "the caller's prefill comes back, not the submission");
  assert.match(html, /<p class="error" id="field-0-error">This client ID is not registered<\/p>/);
  assert.match(html, /<p>GitHub said &#60;no&#62;<\/p>/);
  assert.match(html, /<input id="field-0"[^>]*autofocus>/);
  assert.match(html, /<input id="field-0"[^>]*aria-describedby="field-0-hint field-0-error"/);
  assert.match(html, /<p class="hint" id="field-0-hint">On the app&#39;s page under General<\/p>/);
  const badNote = await post(
    form({ csrf: CSRF, client_id: "Iv1.ok", client_secret: "x", note: "A1" }),
  );
  assert.equal(badNote.status, 422);
  assert.match(await badNote.text(), /This Note does not have the expected format/);
  const ok = await post(form({ csrf: CSRF, client_id: "Iv1.ok", client_secret: "x" }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.deepEqual(accepted, [{ client_id: "Iv1.ok", client_secret: "x", note: "" }]);
});

Deno.test("everything from the request is HTML-escaped, and unsafe links are refused", async () => {
  const evil = `<script>alert("x")</script>`;
  const { get } = setup({
    request: {
      title: evil,
      provider: evil,
      intro: evil,
      fields: [{
        name: `a"><b`,
        label: evil,
        secret: false,
        required: true,
        hint: evil,
        value: evil,
        pattern: "[<]",
      }],
      info: [{ label: evil, value: evil, copy: true }],
      docsUrl: `https://example.com/"><script>`,
    },
  });
  const res = await get();
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.ok(!html.includes("<script>alert"));
  assert.ok(!html.includes(`"><b`));
  assert.ok(!html.includes(`"><script>`));
  assert.throws(
    () => setup({ request: { ...REQUEST, docsUrl: "javascript:alert(1)" } }),
    (e: unknown) => e instanceof AuthsomeError && e.code === "INVALID_INPUT",
  );
  for (
    const fields of [
      [],
      [{ name: "csrf", label: "x", secret: false, required: true }],
      [{ name: "k", label: "x", secret: true, required: true, value: "prefilled secret" }],
      [{ name: "k", label: "x", secret: false, required: true, pattern: "(" }],
    ]
  ) {
    assert.throws(
      () => setup({ request: { ...REQUEST, fields } }),
      (e: unknown) => e instanceof AuthsomeError && e.code === "INVALID_INPUT",
    );
  }
});

Deno.test("a pattern the browser cannot compile is checked by the page script and by the server", async () => {
  // `[…_-]` is valid without flags but not under the `v` flag browsers use for `pattern`.
  const { get, post, form } = setup({
    request: {
      ...REQUEST,
      fields: [{
        name: "api_key",
        label: "API key",
        secret: true,
        required: true,
        pattern: "^sk-[A-Za-z0-9_-]{20,}$",
        hint: HINT,
      }],
    },
  });
  const html = await (await get()).text();
  assert.match(html, /data-pattern="\^sk-\[A-Za-z0-9_-\]\{20,\}\$"/);
  assert.doesNotMatch(html, / pattern=/);
  const bad = await post(form({ csrf: CSRF, api_key: "sk-tooshort" }));
  assert.equal(bad.status, 422);
  await bad.body?.cancel();
  const ok = await post(form({ csrf: CSRF, api_key: "sk-abc_def-ghijklmnopqrstu" }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
});

Deno.test("other methods are 405, other bodies 415 or 413, and an expired form is 410", async () => {
  let clock = new Date(Date.UTC(2030, 0, 1, 12, 0));
  const { app, get, post, form, accepted } = setup({ now: () => clock });
  for (const method of ["HEAD", "PUT", "DELETE", "OPTIONS"]) {
    const res = await app.request(URL_OK, { method, headers: { host: HOST } });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET, POST");
    assertSafeHeaders(res);
    await res.body?.cancel();
  }
  const json = await post(JSON.stringify({ csrf: CSRF, api_key: GOOD_KEY }), {
    headers: { host: HOST, "content-type": "application/json" },
  });
  assert.equal(json.status, 415);
  assertSafeHeaders(json);
  await json.body?.cancel();
  const huge = await post(form({ csrf: CSRF, api_key: "x".repeat(70_000) }));
  assert.equal(huge.status, 413);
  assertSafeHeaders(huge);
  await huge.body?.cancel();

  clock = new Date(Date.UTC(2030, 0, 1, 12, 4, 30));
  const late = await get();
  assert.match(await late.text(), /data-seconds-left="30">0:30</);
  clock = new Date(Date.UTC(2030, 0, 1, 12, 5));
  for (const res of [await get(), await post(form({ csrf: CSRF, api_key: GOOD_KEY }))]) {
    assert.equal(res.status, 410);
    assertSafeHeaders(res);
    assert.match(await res.text(), /This form has expired/);
  }
  assert.equal(accepted.length, 0);
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

async function rawGet(port: number, path: string, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  const text = await new Response(conn.readable).text();
  return text;
}

async function waitClosed(port: number): Promise<boolean> {
  for (let i = 0; i < 100 && !(await portIsClosed(port)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return await portIsClosed(port);
}

Deno.test("the form server on a real socket takes one submission, resolves, and frees its port", async () => {
  const server = startFormServer({ request: REQUEST, timeoutMs: 10_000 });
  const url = new URL(server.url);
  assert.equal(url.hostname, "127.0.0.1");
  assert.match(url.pathname, /^\/form\/[A-Za-z0-9_-]{43}$/);
  const port = Number(url.port);
  assert.ok(Math.abs(server.deadline.getTime() - Date.now() - 10_000) < 1000);

  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  assertSafeHeaders(page);
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  assert.match(csrf, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(csrf, url.pathname.slice(6));

  const noToken = await fetch(`http://127.0.0.1:${port}/form/`);
  assert.equal(noToken.status, 403);
  await noToken.body?.cancel();
  // fetch() will not forge a Host header; a raw request does, as a DNS-rebinding page would.
  assert.match(
    await rawGet(port, `${url.pathname}`, `attacker.example:${port}`),
    /^HTTP\/1\.1 403 /,
  );
  assert.match(await rawGet(port, `${url.pathname}`, `127.0.0.1:${port}`), /^HTTP\/1\.1 200 /);

  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf, api_key: GOOD_KEY }),
  });
  assert.equal(res.status, 200);
  assert.match(await res.text(), /can be closed/);
  assert.deepEqual(await server.waitForSubmit(), { api_key: GOOD_KEY });
  assert.equal(await waitClosed(port), true);
  await server.close();
  assert.deepEqual(
    await server.waitForSubmit(),
    { api_key: GOOD_KEY },
    "close after success changes nothing",
  );
});

Deno.test("the form server times out with AUTH_FAILED and frees its port", async () => {
  const server = startFormServer({ request: REQUEST, timeoutMs: 300 });
  const port = Number(new URL(server.url).port);
  await assert.rejects(server.waitForSubmit(), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.code, "AUTH_FAILED");
    assert.equal(e.exitCode, 2);
    assert.equal(e.message, "Timed out after 1 s waiting for the browser form");
    return true;
  });
  assert.equal(await waitClosed(port), true);
  await server.close();
});

Deno.test("the default timeout is 300 s and its message says so", async () => {
  const server = startFormServer({ request: REQUEST });
  assert.ok(Math.abs(server.deadline.getTime() - Date.now() - 300_000) < 1000);
  await server.close();
  await assert.rejects(server.waitForSubmit(), /The login was cancelled/);
});

Deno.test("aborting the signal cancels the form and frees its port", async () => {
  const controller = new AbortController();
  const server = startFormServer({ request: REQUEST, signal: controller.signal });
  const port = Number(new URL(server.url).port);
  controller.abort();
  await assert.rejects(server.waitForSubmit(), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.code, "AUTH_FAILED");
    assert.equal(e.message, "The login was cancelled");
    return true;
  });
  assert.equal(await waitClosed(port), true);
  await server.close();
  assert.throws(
    () => startFormServer({ request: REQUEST, signal: controller.signal }),
    /The login was cancelled/,
  );
});

/** The status, h1, paragraph, `<title>` and Allow header of a message page. */
async function messageOf(res: Response) {
  const html = await res.text();
  return {
    status: res.status,
    h1: /<h1>(.*)<\/h1>/.exec(html)?.[1],
    text: /<p>(.*)<\/p>/.exec(html)?.[1],
    title: /<title>(.*)<\/title>/.exec(html)?.[1],
    provider: /<span>([^<]*)<\/span><span class="via">/.exec(html)?.[1],
    allow: res.headers.get("allow"),
  };
}

Deno.test("every message page of the form, word for word, and when each is sent", async () => {
  const FORBIDDEN = {
    status: 403,
    h1: "Forbidden",
    text: "This page only answers the link printed by authsome in your terminal.",
  };
  const pick = async (res: Response) => {
    const { status, h1, text, provider } = await messageOf(res);
    return provider === undefined ? { status, h1, text } : { status, h1, text, provider };
  };
  {
    const { app, get, post, form } = setup();
    // The Host header is compared case-insensitively, on both sides.
    const upper = createFormApp({
      request: REQUEST,
      token: TOKEN,
      csrfToken: CSRF,
      expectedHost: "LocalHost:41234",
      deadline: new Date(Date.UTC(2030, 0, 1, 12, 5)),
      now: () => new Date(Date.UTC(2030, 0, 1, 12, 0)),
      onAccepted: () => {},
    });
    const viaName = await upper.request(`http://localhost:41234/form/${TOKEN}`, {
      headers: { host: "LOCALHOST:41234" },
    });
    assert.equal(viaName.status, 200);
    await viaName.body?.cancel();
    assert.deepEqual(await pick(await get(URL_OK, {})), FORBIDDEN, "no Host");
    const put = await messageOf(
      await app.request(URL_OK, { method: "PUT", headers: { host: HOST } }),
    );
    assert.deepEqual(put, {
      status: 405,
      h1: "Method not allowed",
      text: "Open the link printed in the terminal.",
      title: "Method not allowed · authsome",
      provider: "OpenAI",
      allow: "GET, POST",
    });
    for (const site of ["cross-site", "same-site", "none", ""]) {
      assert.deepEqual(
        await pick(
          await post(form({ csrf: CSRF, api_key: GOOD_KEY }), {
            headers: { host: HOST, "sec-fetch-site": site },
          }),
        ),
        FORBIDDEN,
        `sec-fetch-site: ${site}`,
      );
    }
    const unsupported = await app.request(URL_OK, {
      method: "POST",
      headers: { host: HOST, "content-type": "text/plain" },
      body: `csrf=${CSRF}&api_key=${GOOD_KEY}`,
    });
    assert.deepEqual(await pick(unsupported), {
      status: 415,
      h1: "Unsupported form data",
      text: "Submit the form from its page.",
      provider: "OpenAI",
    });
    const big = await post(form({ csrf: CSRF, api_key: "x".repeat(70_000) }));
    assert.deepEqual(await pick(big), {
      status: 413,
      h1: "Too much data",
      text: "The form data is too large.",
      provider: "OpenAI",
    });
    assert.deepEqual(
      await pick(await post(form({ api_key: GOOD_KEY }))),
      FORBIDDEN,
      "no CSRF field",
    );
    // The media type may carry parameters and any letter case; same-origin is allowed.
    const accepted = await app.request(URL_OK, {
      method: "POST",
      headers: {
        host: HOST,
        "content-type": " Application/X-WWW-Form-Urlencoded ; charset=UTF-8",
        "sec-fetch-site": "same-origin",
      },
      body: form({ csrf: CSRF, api_key: GOOD_KEY }),
    });
    assert.deepEqual(await messageOf(accepted), {
      status: 200,
      h1: "Received",
      text:
        "authsome has what it needs for OpenAI. This page can be closed; go back to the terminal.",
      title: "Received · authsome",
      provider: "OpenAI",
      allow: null,
    });
    assert.deepEqual(await messageOf(await get()), {
      status: 410,
      h1: "This form was already used",
      text: "Go back to the terminal. To enter the details again, run the command again.",
      title: "This form was already used · authsome",
      provider: "OpenAI",
      allow: null,
    });
  }
  {
    // At the deadline exactly, the form has expired.
    const { get } = setup({ now: () => new Date(Date.UTC(2030, 0, 1, 12, 5)) });
    assert.deepEqual(await messageOf(await get()), {
      status: 410,
      h1: "This form has expired",
      text: "Time ran out. Run the command again in the terminal to get a new form.",
      title: "This form has expired · authsome",
      provider: "OpenAI",
      allow: null,
    });
  }
});

Deno.test("a form timeout that is not a positive number is refused before a port opens", () => {
  for (const timeoutMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => startFormServer({ request: REQUEST, timeoutMs }), (e: unknown) => {
      assert.ok(e instanceof AuthsomeError);
      assert.equal(e.code, "USAGE");
      assert.equal(e.message, `The form timeout must be a positive number: ${timeoutMs}`);
      return true;
    });
  }
});

Deno.test("a submission whose body breaks off gets the 500 page and nothing is accepted", async () => {
  const { app, accepted } = setup();
  const res = await app.request(URL_OK, {
    method: "POST",
    headers: { host: HOST, "content-type": "application/x-www-form-urlencoded" },
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`csrf=${CSRF}&api_key=`));
        controller.error(new TypeError("connection reset"));
      },
    }),
    duplex: "half",
  } as RequestInit);
  const page = await messageOf(res);
  assert.deepEqual([page.status, page.h1, page.text], [
    500,
    "Something went wrong",
    "Nothing was saved. Go back to the terminal.",
  ]);
  assert.deepEqual(accepted, []);
});

Deno.test("a malformed form request is refused with its exact reason before anything listens", () => {
  const field = REQUEST.fields[0]!;
  const cases: Array<[Partial<FormRequest>, string]> = [
    [{ fields: [] }, "The browser form needs at least one field"],
    [{ docsUrl: "javascript:alert(1)" }, "The docs link of the browser form must be http(s)"],
    [
      { fields: [{ ...field, name: "" }] },
      'The browser form field name "" is empty, reserved or repeated',
    ],
    [
      { fields: [{ ...field, name: "csrf" }] },
      'The browser form field name "csrf" is empty, reserved or repeated',
    ],
    [
      { fields: [field, { ...field }] },
      'The browser form field name "api_key" is empty, reserved or repeated',
    ],
    [
      { fields: [{ ...field, value: "prefilled" }] },
      'The secret field "api_key" of the browser form cannot be prefilled',
    ],
    [
      { fields: [{ ...field, pattern: "(unclosed" }] },
      'The pattern of the browser form field "api_key" is not a valid regular expression',
    ],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => startFormServer({ request: { ...REQUEST, ...change }, timeoutMs: 1000 }),
      (e: unknown) => {
        assert.ok(e instanceof AuthsomeError);
        assert.equal(e.exitCode, 65);
        assert.equal(e.message, message);
        return true;
      },
    );
  }
});

Deno.test("submitted values: required, one line without control characters (DEL too), the pattern, then the validate hook", async () => {
  const request: FormRequest = {
    title: "Log in to Acme",
    provider: "Acme",
    fields: [
      { name: "id", label: "Client ID", secret: false, required: true, pattern: "[a-z]+" },
      { name: "note", label: "Note", secret: false, required: false },
    ],
  };
  const seen: Array<Record<string, string>> = [];
  const { post, form, accepted } = setup({
    request,
    validate: (values) => {
      seen.push(values);
      return values.id === "rejected" ? { id: "The server refused this client" } : {};
    },
  });
  const errorsOf = async (fields: Record<string, string>) => {
    const res = await post(form({ csrf: CSRF, ...fields }));
    const html = await res.text();
    return [
      res.status,
      [...html.matchAll(/<p class="error" id="[^"]+">([^<]*)</g)].map((m) => m[1]),
    ];
  };
  assert.deepEqual(await errorsOf({ id: "", note: "" }), [422, ["Client ID is required"]]);
  assert.deepEqual(await errorsOf({ id: "abc\u007f" }), [422, [
    "Paste the Client ID alone, on one line",
  ]]);
  assert.deepEqual(await errorsOf({ id: "abc", note: "a\u001fb" }), [422, [
    "Paste the Note alone, on one line",
  ]]);
  assert.deepEqual(await errorsOf({ id: "ABC" }), [422, [
    "This Client ID does not have the expected format",
  ]]);
  assert.equal(seen.length, 0, "the hook runs only on values that passed the checks");
  assert.deepEqual(await errorsOf({ id: "rejected" }), [422, ["The server refused this client"]]);
  // An empty object from the hook means no error; a space (0x20) is allowed inside a value.
  const ok = await post(form({ csrf: CSRF, id: "abc", note: "two words" }));
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  assert.deepEqual(accepted, [{ id: "abc", note: "two words" }]);
});

/**
 * The whole page, compared with a reviewed copy in tests/fixtures/ (its nonce replaced), so any
 * change to what a person sees is a visible change to that file. `AUTHSOME_UPDATE_GOLDEN=1`
 * rewrites the copies; review the diff before committing it.
 */
async function assertGolden(res: Response, name: string): Promise<void> {
  const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1];
  assert.ok(nonce);
  const html = (await res.text()).replaceAll(nonce, "NONCE");
  const file = new URL(`../tests/fixtures/${name}`, import.meta.url);
  if (Deno.env.get("AUTHSOME_UPDATE_GOLDEN") === "1") await Deno.writeTextFile(file, html);
  assert.equal(html, await Deno.readTextFile(file), `${name} differs from the reviewed page`);
}

Deno.test("the form page, as a person sees it, matches its reviewed copy: first view, and a 422 with every kind of message", async () => {
  const { get } = setup();
  await assertGolden(await get(), "form_page_first.html");
  const request: FormRequest = {
    title: "Log in to Acme",
    provider: "Acme",
    fields: [
      { name: "id", label: "Client ID", secret: false, required: true, pattern: "[a-z]+" },
      {
        name: "secret",
        label: "Client secret",
        secret: true,
        required: true,
        hint: "From the app page",
      },
      { name: "region", label: "Region", secret: false, required: false, value: "eu" },
    ],
  };
  const { post, form } = setup({
    request,
    validate: () => ({ secret: "Wrong secret", other: "The server said no" }),
  });
  await assertGolden(
    await post(form({ csrf: CSRF, id: "BAD", secret: "", region: "eu" })),
    "form_page_two_errors.html",
  );
  await assertGolden(
    await post(form({ csrf: CSRF, id: "abc", secret: "s", region: "eu" })),
    "form_page_hook_errors.html",
  );
});
