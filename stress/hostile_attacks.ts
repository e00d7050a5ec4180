/**
 * The hostile requests of the `hostile` part (stress/hostile.ts): against the proxy (wrong
 * secrets, odd targets, smuggling, huge heads, a flood, slow-loris) and against the login form,
 * the OAuth callback and the device page (wrong tokens, forged Host, cross-site, replays).
 *
 * @module
 */
import { parallel } from "./harness.ts";
import { type Answer, exchange, proxyAuth, readHead, throughTunnel, withConn } from "./wire.ts";

/** Where the servers are, as hostile_servers.ts prints it. */
export interface Targets {
  proxyPort: number;
  secret: string;
  proxyCaPem: string;
  formUrl: string;
  callbackUrl: string;
  state: string;
  deviceUrl: string;
}

/** Records one hostile request and its answer. */
export type Fire = (what: string, answer: Promise<Answer>) => Promise<void>;

/**
 * Requests to the proxy without, or with a wrong, secret; odd targets; smuggling; huge heads.
 *
 * @example
 * ```ts ignore
 * await proxyAttacks(targets, fire);
 * ```
 */
export async function proxyAttacks(t: Targets, fire: Fire): Promise<void> {
  const raw = (request: string | Uint8Array) =>
    withConn(t.proxyPort, (conn) => exchange(conn, request));
  const right = proxyAuth(t.secret);
  const wrongAuths: Array<[string, string | undefined]> = [
    ["no Proxy-Authorization", undefined],
    ["a wrong secret", proxyAuth(crypto.randomUUID())],
    [
      "the secret with one character changed",
      proxyAuth(t.secret.slice(0, -1) + (t.secret.endsWith("a") ? "b" : "a")),
    ],
    ["another user name", `Basic ${btoa(`admin:${t.secret}`)}`],
    ["a Bearer scheme", `Bearer ${t.secret}`],
    ["an empty secret", proxyAuth("")],
    ["the secret as a prefix", proxyAuth(t.secret + "x")],
  ];
  const targets = [
    "api.acme.test:443",
    "127.0.0.1:22",
    `127.0.0.1:${t.proxyPort}`,
    "[::1]:443",
    "[::ffff:127.0.0.1]:443",
    `${"a".repeat(10_000)}.test:443`,
    "api.acme.test",
    "api.acme.test:0",
    "api.acme.test:99999",
    ":443",
  ];
  const shots: Array<[string, Promise<Answer>]> = [];
  for (const [how, auth] of wrongAuths) {
    const header = auth === undefined ? "" : `Proxy-Authorization: ${auth}\r\n`;
    for (const target of targets) {
      shots.push([
        `CONNECT ${target.slice(0, 40)} with ${how}`,
        raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${header}\r\n`),
      ]);
    }
    // Were the tunnel opened, a request inside it would show whether a credential is added.
    shots.push([
      `a request in a tunnel opened with ${how}`,
      throughTunnel(
        { port: t.proxyPort, auth, caPem: t.proxyCaPem, authority: "api.acme.test:443" },
        "GET /v1/x HTTP/1.1\r\nHost: api.acme.test\r\nx-stress-hostile: 1\r\n\r\n",
      ),
    ]);
    shots.push([
      `plain GET with ${how}`,
      raw(
        `GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nx-stress-hostile: 1\r\n${header}\r\n`,
      ),
    ]);
    shots.push([
      `smuggling (Content-Length and Transfer-Encoding) with ${how}`,
      raw(
        `POST http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\n${header}Content-Length: 4\r\n` +
          "Transfer-Encoding: chunked\r\nx-stress-hostile: 1\r\n\r\n0\r\n\r\nGET http://plain.test/x HTTP/1.1\r\nHost: plain.test\r\n\r\n",
      ),
    ]);
  }
  // With the right secret: targets the proxy must still refuse.
  for (
    const target of [
      `${"a".repeat(10_000)}.test:443`,
      "api.acme.test:0",
      "api.acme.test:99999",
      ":443",
      "api.acme.test",
    ]
  ) {
    shots.push([
      `CONNECT ${target.slice(0, 40)} with the right secret`,
      raw(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${right}\r\n\r\n`),
    ]);
  }
  shots.push([
    "a 100 KB header line",
    raw(
      `CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test\r\nX-Big: ${
        "b".repeat(100_000)
      }\r\n\r\n`,
    ),
  ]);
  shots.push([
    "a 20 MB body without a secret",
    raw(
      `POST http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 20000000\r\nx-stress-hostile: 1\r\n\r\n${
        "z".repeat(1_000_000)
      }`,
    ),
  ]);
  const tunnel = {
    port: t.proxyPort,
    auth: right,
    caPem: t.proxyCaPem,
    authority: "api.acme.test:443",
  };
  shots.push([
    "a Host other than the CONNECT host, in a tunnel",
    throughTunnel(tunnel, "GET /v1/x HTTP/1.1\r\nHost: evil.test\r\nx-stress-hostile: 1\r\n\r\n"),
  ]);
  shots.push([
    "an absolute URL to another host, in a tunnel",
    throughTunnel(
      tunnel,
      "GET https://evil.test/v1/x HTTP/1.1\r\nHost: api.acme.test\r\nx-stress-hostile: 1\r\n\r\n",
    ),
  ]);
  shots.push([
    "smuggling (Content-Length and Transfer-Encoding), in a tunnel",
    throughTunnel(
      tunnel,
      "POST /v1/x HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n" +
        "x-stress-hostile: 1\r\n\r\n0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: api.acme.test\r\nx-stress-hostile: 1\r\n\r\n",
    ),
  ]);
  shots.push([
    "two Content-Length headers, in a tunnel",
    throughTunnel(
      tunnel,
      "POST /v1/x HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 4\r\nContent-Length: 40\r\nx-stress-hostile: 1\r\n\r\nabcd",
    ),
  ]);
  shots.push([
    "a 100 KB header line, in a tunnel",
    throughTunnel(
      tunnel,
      `GET /v1/x HTTP/1.1\r\nHost: api.acme.test\r\nX-Big: ${
        "b".repeat(100_000)
      }\r\nx-stress-hostile: 1\r\n\r\n`,
    ),
  ]);
  await parallel(shots, 8, ([what, answer]) => fire(what, answer));
}

/**
 * `count` connections at once, each a CONNECT without the secret.
 *
 * @example
 * ```ts ignore
 * await flood(targets, 1000, fire);
 * ```
 */
export async function flood(t: Targets, count: number, fire: Fire): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) =>
    fire(
      `parallel connection ${i}`,
      withConn(t.proxyPort, (conn) =>
        exchange(
          conn,
          "CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test:443\r\n\r\n",
          30_000,
        )),
    )));
}

/**
 * `count` connections that send a head one byte per 100 ms for `lastMs`.
 *
 * @example
 * ```ts ignore
 * await slowLoris(targets, 100, 4000, fire);
 * ```
 */
export async function slowLoris(
  t: Targets,
  count: number,
  lastMs: number,
  fire: Fire,
): Promise<void> {
  const head = "CONNECT api.acme.test:443 HTTP/1.1\r\nHost: api.acme.test:443\r\nX-Slow: ";
  await Promise.all(Array.from({ length: count }, (_, i) =>
    fire(
      `slow-loris connection ${i}`,
      withConn(t.proxyPort, async (conn) => {
        const until = Date.now() + lastMs;
        try {
          for (let at = 0; Date.now() < until; at++) {
            await conn.write(new TextEncoder().encode(head[at % head.length]!));
            await sleep(100);
          }
        } catch {
          return { status: 0, head: "", body: "" };
        }
        return await readHead(conn, 100);
      }),
    )));
}

/**
 * The form, the callback and the device page: wrong tokens, a forged Host, cross-site posts,
 * replays. Returns the values of the user's own (legitimate) form submission.
 *
 * @example
 * ```ts ignore
 * const legit = await pageAttacks(targets, fire);
 * ```
 */
export async function pageAttacks(t: Targets, fire: Fire): Promise<Record<string, string>> {
  const form = new URL(t.formUrl);
  const formPort = Number(form.port);
  const host = form.host;
  const request = (port: number, text: string) => withConn(port, (conn) => exchange(conn, text));
  const post = (path: string, headers: string, body: string) =>
    `POST ${path} HTTP/1.1\r\n${headers}Content-Type: application/x-www-form-urlencoded\r\n` +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\nConnection: close\r\n\r\n${body}`;
  const pageText = await fetchPage(formPort, form.pathname, host);
  const csrf = encodeURIComponent(/name="csrf" value="([^"]+)"/.exec(pageText)?.[1] ?? "");
  const wrongPath = form.pathname.slice(0, -1) + (form.pathname.endsWith("a") ? "b" : "a");
  const body = (csrfToken: string) => `csrf=${csrfToken}&api_key=sk-hostile-${crypto.randomUUID()}`;
  const formShots: Array<[string, string]> = [
    [
      "form GET with a wrong token",
      `GET ${wrongPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    ],
    [
      "form GET without a token",
      `GET /form/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    ],
    [
      "form GET with a forged Host",
      `GET ${form.pathname} HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n`,
    ],
    ["form POST with a forged Host", post(form.pathname, "Host: evil.test\r\n", body(csrf))],
    ["form POST with a wrong token", post(wrongPath, `Host: ${host}\r\n`, body(csrf))],
    ["form POST without the CSRF token", post(form.pathname, `Host: ${host}\r\n`, body(""))],
    [
      "form POST with a wrong CSRF token",
      post(form.pathname, `Host: ${host}\r\n`, body(csrf.slice(0, -1) + "x")),
    ],
    [
      "form POST cross-site (Sec-Fetch-Site)",
      post(
        form.pathname,
        `Host: ${host}\r\nSec-Fetch-Site: cross-site\r\nOrigin: http://evil.test\r\n`,
        body(csrf),
      ),
    ],
    [
      "form POST same-site (Sec-Fetch-Site)",
      post(form.pathname, `Host: ${host}\r\nSec-Fetch-Site: same-site\r\n`, body(csrf)),
    ],
    [
      "form POST cross-site without the CSRF token",
      post(form.pathname, `Host: ${host}\r\nOrigin: http://evil.test\r\n`, body("")),
    ],
  ];
  for (const [what, text] of formShots) await fire(what, request(formPort, text));
  // The user's own submission, then its replay.
  const legitValues = { api_key: `sk-legit-${crypto.randomUUID()}` };
  const legitBody = `csrf=${csrf}&api_key=${legitValues.api_key}`;
  const accepted = await request(
    formPort,
    post(form.pathname, `Host: ${host}\r\nSec-Fetch-Site: same-origin\r\n`, legitBody),
  );
  if (accepted.status !== 200) {
    legitValues.api_key = `(the user's submission got ${accepted.status})`;
  }
  await fire(
    "form POST replayed",
    request(
      formPort,
      post(form.pathname, `Host: ${host}\r\nSec-Fetch-Site: same-origin\r\n`, legitBody),
    ),
  );

  const callback = new URL(t.callbackUrl);
  const cbPort = Number(callback.port);
  const cbHost = callback.host;
  const get = (path: string, headers = `Host: ${cbHost}\r\n`) =>
    `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;
  const legitQuery = `?code=legit-code&state=${t.state}`;
  const cbShots: Array<[string, string]> = [
    [
      "callback with a forged Host",
      get(callback.pathname + legitQuery.replace("legit", "forged"), "Host: evil.test\r\n"),
    ],
    ["callback on another path", get("/auth/callback/other" + legitQuery)],
    [
      "callback POST",
      `POST ${callback.pathname}${legitQuery} HTTP/1.1\r\nHost: ${cbHost}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    ],
    ["callback without code or error", get(`${callback.pathname}?state=${t.state}`)],
    [
      "callback cross-site with a forged Host",
      get(
        callback.pathname + "?code=x&state=y",
        "Host: attacker.test\r\nSec-Fetch-Site: cross-site\r\n",
      ),
    ],
  ];
  for (const [what, text] of cbShots) await fire(what, request(cbPort, text));
  const first = await request(cbPort, get(callback.pathname + legitQuery));
  if (first.status !== 200) {
    await fire(
      `the user's callback was refused (${first.status})`,
      Promise.resolve({ ...first, status: 299 }),
    );
  }
  await fire("callback replayed", request(cbPort, get(callback.pathname + legitQuery)));
  await fire(
    "callback with another code after the first",
    request(cbPort, get(`${callback.pathname}?code=forged&state=${t.state}`)),
  );

  const device = new URL(t.deviceUrl);
  const dvPort = Number(device.port);
  const dvShots: Array<[string, string]> = [
    [
      "device page with a wrong token",
      get(device.pathname.slice(0, -1) + "x", `Host: ${device.host}\r\n`),
    ],
    ["device page with a forged Host", get(device.pathname, "Host: evil.test\r\n")],
    ["device status with a forged Host", get(`${device.pathname}/status`, "Host: evil.test\r\n")],
    ["device page without a token", get("/device/", `Host: ${device.host}\r\n`)],
  ];
  for (const [what, text] of dvShots) await fire(what, request(dvPort, text));
  return legitValues;
}

/** The whole body of a page (the user's browser opening the form). */
async function fetchPage(port: number, path: string, host: string): Promise<string> {
  return await withConn(port, async (conn) => {
    const answer = await exchange(
      conn,
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    let text = answer.body;
    const chunk = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) return text;
      text += new TextDecoder().decode(chunk.subarray(0, n));
    }
  });
}

function sleep(msValue: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, msValue));
}
