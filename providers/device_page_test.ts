import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { createDevicePageApp, type DeviceStatus, startDevicePage } from "./device_page.ts";

const HOST = "127.0.0.1:41235";
const TOKEN = "dev_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const PAGE = `http://${HOST}/device/${TOKEN}`;
const START = Date.UTC(2030, 0, 1, 12, 0);

function setup(options: { complete?: string; uri?: string } = {}) {
  let status: DeviceStatus = "waiting";
  let clock = new Date(START);
  const app = createDevicePageApp({
    provider: "GitHub",
    user_code: "WDJB-MJHT",
    verification_uri: options.uri ?? "https://github.com/login/device",
    ...(options.complete === undefined ? {} : { verification_uri_complete: options.complete }),
    deadline: new Date(START + 900_000),
    token: TOKEN,
    expectedHost: HOST,
    status: () => status,
    now: () => clock,
  });
  const get = (url = PAGE, headers: Record<string, string> = { host: HOST }) =>
    app.request(url, { headers });
  return {
    app,
    get,
    setStatus: (next: DeviceStatus) => void (status = next),
    setClock: (ms: number) => void (clock = new Date(START + ms)),
  };
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
  assert.match(csp, /script-src 'nonce-[A-Za-z0-9_-]{43}'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
}

Deno.test("the device page shows the code with a Copy button, the links, the time left and the status", async () => {
  const { get } = setup({ complete: "https://github.com/login/device?user_code=WDJB-MJHT" });
  const res = await get();
  assert.equal(res.status, 200);
  assertSafeHeaders(res);
  assert.match(res.headers.get("content-security-policy") ?? "", /connect-src 'self'/);
  const html = await res.text();
  assert.match(html, /<h1>Log in to GitHub<\/h1>/);
  assert.match(html, /<span class="user-code" id="user-code">WDJB-MJHT<\/span>/);
  assert.match(
    html,
    /<button type="button" class="secondary" data-copy="user-code" hidden><span class="label">Copy</,
  );
  assert.match(
    html,
    /<a href="https:\/\/github\.com\/login\/device" target="_blank" rel="noopener noreferrer">/,
  );
  assert.match(html, /href="https:\/\/github\.com\/login\/device\?user_code=WDJB-MJHT"/);
  assert.match(html, /data-status="waiting" data-poll="\/device\/dev_A+\/status"/);
  assert.match(html, /role="status"/);
  assert.match(html, /Waiting for you to approve this device/);
  assert.match(html, /data-seconds-left="900">15:00</);
  assert.match(html, /<noscript><meta http-equiv="refresh" content="3"><\/noscript>/);
  const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1];
  for (const tag of html.match(/<(style|script)\b[^>]*>/g) ?? []) {
    assert.ok(tag.includes(`nonce="${nonce}"`), tag);
  }
});

Deno.test("the status JSON follows the login, and a waiting login turns expired at the deadline", async () => {
  const { get, setStatus, setClock } = setup();
  const status = async () => {
    const res = await get(`${PAGE}/status`);
    assert.equal(res.status, 200);
    assertSafeHeaders(res);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    return await res.json();
  };
  assert.deepEqual(await status(), {
    status: "waiting",
    message: "Waiting for you to approve this device…",
    seconds_left: 900,
  });
  setStatus("approved");
  assert.equal((await status()).status, "approved");
  assert.match((await status()).message, /can be closed/);
  const page = await (await get()).text();
  assert.match(page, /data-status="approved"/);
  assert.doesNotMatch(page, /http-equiv="refresh"/, "a final page stops refreshing");
  setStatus("denied");
  assert.equal((await status()).status, "denied");
  setStatus("waiting");
  setClock(900_000);
  assert.deepEqual(await status(), {
    status: "expired",
    message: "The code expired. Run the login again in the terminal.",
    seconds_left: 0,
  });
});

Deno.test("the device page refuses a missing or wrong token, a forged Host, and anything but GET", async () => {
  const { app, get } = setup();
  const cases: Array<[string, Record<string, string>]> = [
    [`http://${HOST}/`, { host: HOST }],
    [`http://${HOST}/device/`, { host: HOST }],
    [`http://${HOST}/device/wrong`, { host: HOST }],
    [`http://${HOST}/device/wrong/status`, { host: HOST }],
    [`http://${HOST}/device/${TOKEN}x/status`, { host: HOST }],
    [PAGE, { host: "evil.example:41235" }],
    [`${PAGE}/status`, { host: "localhost:41235" }],
    [PAGE, {}],
  ];
  for (const [url, headers] of cases) {
    const res = await get(url, headers);
    assert.equal(res.status, 403, `${url} ${JSON.stringify(headers)}`);
    assertSafeHeaders(res);
    const html = await res.text();
    assert.ok(!html.includes("WDJB-MJHT") && !html.includes(TOKEN));
  }
  for (const method of ["POST", "PUT", "DELETE", "HEAD"]) {
    const res = await app.request(PAGE, { method, headers: { host: HOST } });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "GET");
    assertSafeHeaders(res);
    await res.body?.cancel();
  }
});

Deno.test("the device page escapes the code and refuses non-http verification links", async () => {
  const evil = setup({ uri: 'https://example.com/?a=<b>&c="d"' });
  const html = await (await evil.get()).text();
  assert.ok(html.includes("https://example.com/?a=&#60;b&#62;&#38;c=&#34;d&#34;"));
  for (const uri of ["javascript:alert(1)", "data:text/html,x", "not a url"]) {
    assert.throws(
      () => setup({ uri }),
      (e: unknown) => e instanceof AuthsomeError && e.code === "AUTH_FAILED",
    );
    assert.throws(
      () => setup({ complete: uri }),
      (e: unknown) => e instanceof AuthsomeError && e.code === "AUTH_FAILED",
    );
  }
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

Deno.test("the device page on a real socket serves the page and status, then frees its port", async () => {
  const page = startDevicePage({
    provider: "GitHub",
    user_code: "WDJB-MJHT",
    verification_uri: "https://github.com/login/device",
    expires_in: 900,
  });
  const url = new URL(page.url);
  assert.equal(url.hostname, "127.0.0.1");
  assert.match(url.pathname, /^\/device\/[A-Za-z0-9_-]{43}$/);
  const port = Number(url.port);
  const res = await fetch(page.url);
  assert.equal(res.status, 200);
  assertSafeHeaders(res);
  assert.match(await res.text(), /WDJB-MJHT/);
  const waiting = await (await fetch(`${page.url}/status`)).json();
  assert.equal(waiting.status, "waiting");
  page.setStatus("approved");
  const approved = await (await fetch(`${page.url}/status`)).json();
  assert.equal(approved.status, "approved");
  await page.close();
  assert.equal(await portIsClosed(port), true);
  await page.close();
  assert.throws(
    () =>
      startDevicePage({
        provider: "GitHub",
        user_code: "X",
        verification_uri: "https://github.com/login/device",
        expires_in: 0,
      }),
    (e: unknown) => e instanceof AuthsomeError && e.code === "AUTH_FAILED",
  );
});

Deno.test("closing with a final status the open page has not seen waits briefly for its poll", async () => {
  const page = startDevicePage({
    provider: "GitHub",
    user_code: "WDJB-MJHT",
    verification_uri: "https://github.com/login/device",
    expires_in: 900,
  });
  await (await fetch(page.url)).body?.cancel();
  page.setStatus("denied");
  const closed = page.close();
  const seen = await (await fetch(`${page.url}/status`)).json();
  assert.equal(seen.status, "denied");
  await closed;
  assert.equal(await portIsClosed(Number(new URL(page.url).port)), true);
});

/** The status, h1, paragraph and Allow header of a message page. */
async function messageOf(res: Response) {
  const html = await res.text();
  return {
    status: res.status,
    h1: /<h1>(.*)<\/h1>/.exec(html)?.[1],
    text: /<p>(.*)<\/p>/.exec(html)?.[1],
    allow: res.headers.get("allow"),
  };
}

Deno.test("the device page's messages, word for word: each status, 403, 405, and the page title", async () => {
  const { app, get, setStatus } = setup({ complete: "https://github.com/login/device?code=1" });
  const status = async () => (await (await get(`${PAGE}/status`)).json()) as { message: string };
  const messages: Record<DeviceStatus, string> = {
    waiting: "Waiting for you to approve this device…",
    approved: "Approved. This page can be closed; go back to the terminal.",
    denied: "The login was denied. Go back to the terminal.",
    expired: "The code expired. Run the login again in the terminal.",
  };
  for (const [state, message] of Object.entries(messages) as Array<[DeviceStatus, string]>) {
    setStatus(state);
    assert.equal((await status()).message, message);
    const html = await (await get()).text();
    assert.ok(html.includes(`<span class="text">${message}</span>`), state);
    assert.ok(
      html.includes(state === "waiting" ? '<p class="timer">' : '<p class="timer" hidden>'),
      `timer of ${state}`,
    );
    assert.match(html, /<title>Log in to GitHub · authsome<\/title>/);
    assert.match(html, /href="https:\/\/github.com\/login\/device\?code=1"/);
    assert.ok(html.includes("fetch(box.dataset.poll"), "the polling script is included");
    assert.ok(html.includes("navigator.clipboard"), "the copy script is included");
  }
  assert.deepEqual(await messageOf(await get(PAGE, {})), {
    status: 403,
    h1: "Forbidden",
    text: "This page only answers the link printed by authsome in your terminal.",
    allow: null,
  });
  assert.deepEqual(
    await messageOf(await app.request(PAGE, { method: "POST", headers: { host: HOST } })),
    {
      status: 405,
      h1: "Method not allowed",
      text: "This page only shows the login status.",
      allow: "GET",
    },
  );
  // The Host header is compared case-insensitively, on both sides.
  const named = createDevicePageApp({
    provider: "GitHub",
    user_code: "WDJB-MJHT",
    verification_uri: "https://github.com/login/device",
    deadline: new Date(START + 900_000),
    token: TOKEN,
    expectedHost: "LocalHost:41235",
    status: () => "waiting",
    now: () => new Date(START),
  });
  const viaName = await named.request(`http://localhost:41235/device/${TOKEN}`, {
    headers: { host: "LOCALHOST:41235" },
  });
  assert.equal(viaName.status, 200);
  await viaName.body?.cancel();
  // Without a complete URI there is no "with the code filled in" link: the status follows the code.
  const plain = await (await setup().get()).text();
  assert.doesNotMatch(plain, /with the code filled in/);
  assert.match(plain, /<\/button><\/div>\n<p class="status"/);
});

Deno.test("startDevicePage refuses a missing or bad expires_in and non-http links before it listens", () => {
  for (const expires_in of [0, -5, Number.NaN]) {
    assert.throws(
      () =>
        startDevicePage({
          provider: "GitHub",
          user_code: "C",
          verification_uri: "https://github.com/login/device",
          expires_in,
        }),
      (e: unknown) =>
        e instanceof AuthsomeError && e.exitCode === 2 &&
        e.message === "The provider sent a device code without a valid expires_in",
    );
  }
  assert.throws(
    () =>
      startDevicePage({
        provider: "GitHub",
        user_code: "C",
        verification_uri: "https://github.com/login/device",
        verification_uri_complete: "javascript:alert(1)",
        expires_in: 60,
      }),
    (e: unknown) =>
      e instanceof AuthsomeError &&
      e.message === "The provider sent a verification URI that is not an http(s) URL",
  );
});

Deno.test("startDevicePage serves the complete link when the provider sent one, and closes itself once the code has expired", async () => {
  let clock = START;
  const page = startDevicePage({
    provider: "GitHub",
    user_code: "WDJB-MJHT",
    verification_uri: "https://github.com/login/device",
    verification_uri_complete: "https://github.com/login/device?user_code=WDJB-MJHT",
    expires_in: 1,
    now: () => new Date(clock),
  });
  const html = await (await fetch(page.url)).text();
  assert.match(html, /href="https:\/\/github.com\/login\/device\?user_code=WDJB-MJHT"/);
  clock += 1000;
  assert.equal((await (await fetch(`${page.url}/status`)).json()).status, "expired");
  await page.close();
});

Deno.test("a failure while answering is the 500 page, not a stack trace", async () => {
  const app = createDevicePageApp({
    provider: "GitHub",
    user_code: "C",
    verification_uri: "https://github.com/login/device",
    deadline: new Date(START + 900_000),
    token: TOKEN,
    expectedHost: HOST,
    status: () => {
      throw new Error("internal detail");
    },
    now: () => new Date(START),
  });
  const res = await app.request(PAGE, { headers: { host: HOST } });
  const page = await messageOf(res);
  assert.deepEqual([page.status, page.h1, page.text], [
    500,
    "Something went wrong",
    "Go back to the terminal.",
  ]);
});

Deno.test("closing the device page: at once when no page saw a status it must still learn, else after its next poll", async () => {
  /** "closed" when `close` resolves within 2 s (the grace for a last poll is 3 s), else "waited". */
  const closesAtOnce = async (close: Promise<void>) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise((resolve) => timer = setTimeout(resolve, 2000, "waited"));
    try {
      return await Promise.race([close.then(() => "closed"), late]);
    } finally {
      clearTimeout(timer);
      await close;
    }
  };
  const options = {
    provider: "GitHub",
    user_code: "C",
    verification_uri: "https://github.com/login/device",
    expires_in: 600,
  };
  // Nobody opened the page: nothing to wait for.
  const unseen = startDevicePage(options);
  unseen.setStatus("approved");
  assert.equal(await closesAtOnce(unseen.close()), "closed");
  // The page already showed the final status.
  const seen = startDevicePage(options);
  seen.setStatus("denied");
  await (await fetch(`${seen.url}/status`)).body?.cancel();
  assert.equal(await closesAtOnce(seen.close()), "closed");
  // Still waiting (the login was cancelled): nothing new to show.
  const waiting = startDevicePage(options);
  await (await fetch(`${waiting.url}/status`)).body?.cancel();
  assert.equal(await closesAtOnce(waiting.close()), "closed");
});

Deno.test("two device pages at once each get their own loopback port, and the default clock is the real one", async () => {
  const options = {
    provider: "GitHub",
    user_code: "C",
    verification_uri: "https://github.com/login/device",
    expires_in: 600,
  };
  const [a, b] = [startDevicePage(options), startDevicePage(options)];
  try {
    assert.notEqual(new URL(a.url).port, new URL(b.url).port);
    const status = await (await fetch(`${a.url}/status`)).json();
    assert.equal(status.status, "waiting");
    assert.ok(status.seconds_left > 590 && status.seconds_left <= 600, String(status.seconds_left));
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("the device page, as a person sees it, matches its reviewed copies (waiting with a complete link; approved)", async () => {
  const golden = async (res: Response, name: string) => {
    const nonce = /'nonce-([^']+)'/.exec(res.headers.get("content-security-policy") ?? "")?.[1];
    assert.ok(nonce);
    const html = (await res.text()).replaceAll(nonce, "NONCE");
    const file = new URL(`../tests/fixtures/${name}`, import.meta.url);
    if (Deno.env.get("AUTHSOME_UPDATE_GOLDEN") === "1") await Deno.writeTextFile(file, html);
    assert.equal(html, await Deno.readTextFile(file), `${name} differs from the reviewed page`);
  };
  const { get, setStatus } = setup({
    complete: "https://github.com/login/device?user_code=WDJB-MJHT",
  });
  await golden(await get(), "device_page_waiting.html");
  setStatus("approved");
  await golden(await get(), "device_page_approved.html");
});
