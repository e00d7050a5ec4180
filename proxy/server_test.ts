import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { createCa, createLeafIssuer } from "./certs.ts";
import { type ProxyEvent, type RunningProxy, startProxy } from "./server.ts";

// Real clients (curl, Python requests, Deno fetch) talk to a real upstream through the real proxy,
// all on 127.0.0.1. The CAs are made once; each test gets its own servers and temp dir.

const PLACEHOLDER = "Bearer authsome-proxy-managed";
const REAL = "Bearer real-secret";
const upstreamCa = await createCa({ commonName: "authsome test upstream CA" });
const proxyCa = await createCa({ commonName: "authsome test proxy CA" });
const upstreamLeaves = createLeafIssuer(upstreamCa);
const acmeLeaf = await upstreamLeaves.issue("api.acme.test");
const otherLeaf = await upstreamLeaves.issue("other.test");

interface Seen {
  host: string | null;
  method: string;
  path: string;
  authorization: string | null;
}

interface Fixture {
  proxy: RunningProxy;
  secret: string;
  /** http://authsome:SECRET@127.0.0.1:PORT */
  proxyUrl: string;
  acmePort: number;
  otherPort: number;
  plainPort: number;
  proxyCaFile: string;
  upstreamCaFile: string;
  dir: string;
  /** Requests the upstreams received, in order. */
  seen: Seen[];
  events: ProxyEvent[];
  /** What the SSE endpoint sent and the test client received, in order. */
  timeline: Timeline;
  /** Resolves the pending /v1/slow requests: they wait for it. */
  release: () => void;
}

/** An ordered log of events that a party can wait on (`reached`) instead of sleeping. */
class Timeline {
  readonly entries: string[] = [];
  #waiting = new Map<string, () => void>();
  push(entry: string): void {
    if (this.entries.includes(entry)) return;
    this.entries.push(entry);
    this.#waiting.get(entry)?.();
  }
  reached(entry: string): Promise<void> {
    if (this.entries.includes(entry)) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting.set(entry, resolve);
    return promise;
  }
  at(entry: string): number {
    return this.entries.indexOf(entry);
  }
}

function upstreamHandler(seen: Seen[], timeline: Timeline, released: Promise<void>) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const body = await req.text();
    seen.push({
      host: req.headers.get("host"),
      method: req.method,
      path: url.pathname,
      authorization: req.headers.get("authorization"),
    });
    if (url.pathname === "/v1/slow") await released;
    if (url.pathname === "/v1/late-event") {
      // The head goes first and the one event only once the client has the head: a proxy that
      // held the head back until the first body bytes would deliver neither.
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          await timeline.reached("received head");
          controller.enqueue(new TextEncoder().encode("data: late\n\n"));
          controller.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    if (url.pathname === "/v1/sse") {
      // Each event is sent only once the client has received the one before: a proxy that
      // buffered the stream would never deliver event 1, and the client's timeout would fail.
      let cancelled = false;
      const encoder = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          for (let n = 1; n <= 3 && !cancelled; n++) {
            if (n > 1) await timeline.reached(`received ${n - 1}`);
            timeline.push(`sent ${n}`);
            controller.enqueue(encoder.encode(`data: ${n}\n\n`));
          }
          if (!cancelled) controller.close();
        },
        cancel() {
          cancelled = true;
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    }
    return Response.json({
      method: req.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      body,
    }, { headers: { "x-upstream": "echo" } });
  };
}

async function withProxy(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "authsome-proxy-test-" });
  const seen: Seen[] = [];
  const events: ProxyEvent[] = [];
  const timeline = new Timeline();
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const handler = upstreamHandler(seen, timeline, released);
  const listen = { hostname: "127.0.0.1", port: 0, onListen() {} };
  const acme = Deno.serve({ ...listen, cert: acmeLeaf.certPem, key: acmeLeaf.keyPem }, handler);
  const other = Deno.serve({ ...listen, cert: otherLeaf.certPem, key: otherLeaf.keyPem }, handler);
  const plain = Deno.serve(listen, handler);
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const downPort = closed.addr.port;
  closed.close();
  const ports: Record<string, number> = {
    "api.acme.test": acme.addr.port,
    "other.test": other.addr.port,
    "plain.test": plain.addr.port,
    "down.test": downPort,
    "gone.test": downPort,
  };
  const secret = crypto.randomUUID();
  const proxy = await startProxy({
    secret,
    ca: proxyCa,
    shouldIntercept: (host) => ["api.acme.test", "down.test", "impostor.test"].includes(host),
    headersFor: (request) => {
      if (request.path === "/v1/expired") {
        return Promise.reject(
          new AuthsomeError("CREDENTIAL_MISSING", "The credential for acme has expired"),
        );
      }
      if (request.path === "/v1/bad-header") {
        return Promise.resolve({ Authorization: "Bearer real-secret\r\nX-Evil: 1" });
      }
      return Promise.resolve(request.path.startsWith("/v1/") ? { Authorization: REAL } : undefined);
    },
    resolveUpstream: (host, port) => ({ host: "127.0.0.1", port: ports[host] ?? port }),
    upstreamCa: [upstreamCa.certPem],
    onEvent: (event) => events.push(event),
  });
  const proxyCaFile = join(dir, "proxy-ca.pem");
  const upstreamCaFile = join(dir, "upstream-ca.pem");
  await Deno.writeTextFile(proxyCaFile, proxyCa.certPem);
  await Deno.writeTextFile(upstreamCaFile, upstreamCa.certPem);
  try {
    await fn({
      proxy,
      secret,
      proxyUrl: `http://authsome:${secret}@127.0.0.1:${proxy.port}`,
      acmePort: acme.addr.port,
      otherPort: other.addr.port,
      plainPort: plain.addr.port,
      proxyCaFile,
      upstreamCaFile,
      dir,
      seen,
      events,
      timeline,
      release,
    });
  } finally {
    release();
    await proxy.close();
    await Promise.all([acme.shutdown(), other.shutdown(), plain.shutdown()]);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Proxy variables cleared, so only what a test sets reaches a client. */
const CLEAN_ENV = {
  HTTP_PROXY: "",
  HTTPS_PROXY: "",
  http_proxy: "",
  https_proxy: "",
  ALL_PROXY: "",
  all_proxy: "",
  NO_PROXY: "",
  no_proxy: "",
};

async function run(cmd: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const output = await new Deno.Command(cmd, {
    args,
    env: { ...CLEAN_ENV, ...env },
    stdout: "piped",
    stderr: "piped",
    ...(cwd ? { cwd } : {}),
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** curl, silent but for errors, giving up after 10 s so that a hang fails the test. */
function curl(args: string[]) {
  return run("curl", ["-sS", "--max-time", "10", ...args]);
}

/** curl -i output split into everything before the body (CONNECT and response heads) and the body. */
function splitHead(text: string): { head: string; body: string } {
  const at = text.lastIndexOf("\r\n\r\n");
  return { head: text.slice(0, at), body: text.slice(at + 4) };
}

function assertNoSecretIn(text: string) {
  assert.ok(!text.includes("real-secret"), `the secret leaked into: ${text}`);
}

Deno.test("curl through the proxy: the upstream gets the real header, the client never sees it", async () => {
  await withProxy(async (f) => {
    const url = `https://api.acme.test:${f.acmePort}`;
    const common = ["-i", "--proxy", f.proxyUrl, "--cacert", f.proxyCaFile];
    const injected = await curl([
      ...common,
      "-H",
      `Authorization: ${PLACEHOLDER}`,
      "--data",
      "hello=1",
      `${url}/v1/models?limit=2`,
    ]);
    assert.equal(injected.code, 0, injected.stderr);
    const { head, body } = splitHead(injected.stdout);
    const echo = JSON.parse(body);
    assert.equal(echo.headers.authorization, REAL);
    assert.equal(echo.method, "POST");
    assert.equal(echo.path, "/v1/models?limit=2");
    assert.equal(echo.body, "hello=1");
    assert.equal(echo.headers.host, `api.acme.test:${f.acmePort}`);
    assert.equal(echo.headers["proxy-authorization"], undefined);
    assert.match(head, /x-upstream: echo/i);
    assertNoSecretIn(head);

    const passed = await curl([...common, "-H", `Authorization: ${PLACEHOLDER}`, `${url}/public`]);
    assert.equal(passed.code, 0, passed.stderr);
    assert.equal(JSON.parse(splitHead(passed.stdout).body).headers.authorization, PLACEHOLDER);
    assertNoSecretIn(passed.stdout);

    assert.deepEqual(f.events.map((e) => [e.kind, e.method, e.path]), [
      ["inject", "POST", "/v1/models"],
      ["pass", "GET", "/public"],
    ]);
    assertNoSecretIn(JSON.stringify(f.events));
  });
});

Deno.test("Python requests through the proxy gets the header injected", async () => {
  await withProxy(async (f) => {
    const script = [
      "import json, sys, requests",
      `r = requests.get(sys.argv[1], headers={"Authorization": "${PLACEHOLDER}"}, timeout=10)`,
      "print(json.dumps({'status': r.status_code, 'headers': dict(r.headers), 'body': r.text}))",
    ].join("\n");
    const result = await run("python3", [
      "-c",
      script,
      `https://api.acme.test:${f.acmePort}/v1/chat`,
    ], { HTTPS_PROXY: f.proxyUrl, https_proxy: f.proxyUrl, REQUESTS_CA_BUNDLE: f.proxyCaFile });
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.status, 200);
    assert.equal(JSON.parse(out.body).headers.authorization, REAL);
    assertNoSecretIn(JSON.stringify(out.headers));
    assert.deepEqual(f.seen.map((s) => s.authorization), [REAL]);
  });
});

Deno.test("Deno fetch in a subprocess through the proxy gets the header injected", async () => {
  await withProxy(async (f) => {
    const code = `
      const r = await fetch(Deno.args[0], {
        headers: { Authorization: "${PLACEHOLDER}" },
        signal: AbortSignal.timeout(10_000),
      });
      console.log(JSON.stringify({ status: r.status, headers: [...r.headers], body: await r.text() }));`;
    const result = await run(
      Deno.execPath(),
      ["eval", code, `https://api.acme.test:${f.acmePort}/v1/embeddings`],
      {
        HTTPS_PROXY: f.proxyUrl,
        https_proxy: f.proxyUrl,
        DENO_CERT: f.proxyCaFile,
        DENO_NO_UPDATE_CHECK: "1",
      },
      f.dir,
    );
    assert.equal(result.code, 0, result.stderr);
    const out = JSON.parse(result.stdout);
    assert.equal(out.status, 200);
    assert.equal(JSON.parse(out.body).headers.authorization, REAL);
    assertNoSecretIn(JSON.stringify(out.headers));
  });
});

Deno.test("a client without the right Proxy-Authorization gets 407", async () => {
  await withProxy(async (f) => {
    const target = `https://api.acme.test:${f.acmePort}/v1/models`;
    const wrong = `http://authsome:not-the-secret@127.0.0.1:${f.proxy.port}`;
    for (const proxy of [f.proxy.url, wrong]) {
      const result = await curl([
        "-o",
        "/dev/null",
        "-w",
        "%{http_connect}",
        "--proxy",
        proxy,
        "--cacert",
        f.proxyCaFile,
        target,
      ]);
      assert.notEqual(result.code, 0);
      assert.equal(result.stdout, "407");
    }
    // A plain-HTTP request is refused the same way, with the challenge.
    const plain = await curl([
      "-i",
      "--proxy",
      f.proxy.url,
      `http://plain.test:${f.plainPort}/v1/x`,
    ]);
    assert.match(plain.stdout, /^HTTP\/1\.1 407/);
    assert.match(plain.stdout, /proxy-authenticate: Basic realm="authsome"/i);
    assert.equal(f.seen.length, 0);
    assert.deepEqual(f.events.map((e) => e.kind), ["denied", "denied", "denied"]);
  });
});

Deno.test("a host that is not intercepted is tunnelled with the upstream's own certificate", async () => {
  await withProxy(async (f) => {
    const target = `https://other.test:${f.otherPort}/v1/models`;
    const common = ["--proxy", f.proxyUrl, "-H", `Authorization: ${PLACEHOLDER}`];
    const ok = await curl([...common, "--cacert", f.upstreamCaFile, target]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).headers.authorization, PLACEHOLDER);
    const refused = await curl([...common, "--cacert", f.proxyCaFile, target]);
    assert.equal(refused.code, 60, refused.stderr); // curl: peer certificate cannot be authenticated
    assert.deepEqual(f.seen.map((s) => s.authorization), [PLACEHOLDER]);
    assert.deepEqual(f.events.map((e) => [e.kind, e.host]), [
      ["tunnel", "other.test"],
      ["tunnel", "other.test"],
    ]);
  });
});

Deno.test("plain HTTP is forwarded but never injected", async () => {
  await withProxy(async (f) => {
    const result = await curl([
      "--proxy",
      f.proxyUrl,
      "-H",
      `Authorization: ${PLACEHOLDER}`,
      `http://plain.test:${f.plainPort}/v1/models`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const echo = JSON.parse(result.stdout);
    assert.equal(echo.headers.authorization, PLACEHOLDER);
    assert.equal(echo.headers["proxy-authorization"], undefined);
    assert.deepEqual(f.events.map((e) => e.kind), ["pass"]);
  });
});

Deno.test("an event stream arrives event by event, not when the upstream has finished", async () => {
  await withProxy(async (f) => {
    const client = Deno.createHttpClient({
      proxy: { url: f.proxy.url, basicAuth: { username: "authsome", password: f.secret } },
      caCerts: [proxyCa.certPem],
    });
    try {
      const response = await fetch(`https://api.acme.test:${f.acmePort}/v1/sse`, {
        client,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.headers.get("content-type"), "text/event-stream");
      const decoder = new TextDecoder();
      let text = "";
      for await (const chunk of response.body!) {
        text += decoder.decode(chunk, { stream: true });
        for (const match of text.matchAll(/data: (\d)\n\n/g)) {
          f.timeline.push(`received ${match[1]}`);
        }
      }
      assert.equal(text, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
      assert.deepEqual(f.timeline.entries, [
        "sent 1",
        "received 1",
        "sent 2",
        "received 2",
        "sent 3",
        "received 3",
      ]);
      assert.equal(f.seen[0]?.authorization, REAL);
    } finally {
      client.close();
    }
  });
});

Deno.test("an event stream's head reaches the client before its first event is sent", async () => {
  await withProxy(async (f) => {
    const client = Deno.createHttpClient({
      proxy: { url: f.proxy.url, basicAuth: { username: "authsome", password: f.secret } },
      caCerts: [proxyCa.certPem],
    });
    try {
      const response = await fetch(`https://api.acme.test:${f.acmePort}/v1/late-event`, {
        client,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(response.headers.get("content-type"), "text/event-stream");
      f.timeline.push("received head");
      assert.equal(await response.text(), "data: late\n\n");
    } finally {
      client.close();
    }
  });
});

Deno.test("an upstream whose trusted certificate names another host gets 502 and no request", async () => {
  await withProxy(async (f) => {
    // impostor.test is decrypted and leads to the acme server, whose certificate (from a trusted
    // CA) names api.acme.test only.
    const result = await curl([
      "--proxy",
      f.proxyUrl,
      "--cacert",
      f.proxyCaFile,
      "-w",
      "%{http_code}",
      `https://impostor.test:${f.acmePort}/v1/x`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^authsome proxy: upstream failed: .*impostor\.test.*\n502$/);
    assert.deepEqual(f.seen, [], "nothing reached the upstream");
  });
});

Deno.test("two requests over one client connection are both served (keep-alive)", async () => {
  await withProxy(async (f) => {
    const url = `https://api.acme.test:${f.acmePort}`;
    const result = await curl([
      "--proxy",
      f.proxyUrl,
      "--cacert",
      f.proxyCaFile,
      "-o",
      "/dev/null",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{num_connects}\n",
      `${url}/v1/a`,
      `${url}/v1/b`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    // The second transfer opened no new connection to the proxy.
    assert.equal(result.stdout, "200 1\n200 0\n");
    assert.deepEqual(f.seen.map((s) => [s.path, s.authorization]), [["/v1/a", REAL], [
      "/v1/b",
      REAL,
    ]]);
  });
});

Deno.test("a Host header other than the CONNECT host is refused and nothing is forwarded", async () => {
  await withProxy(async (f) => {
    const result = await curl([
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "--proxy",
      f.proxyUrl,
      "--cacert",
      f.proxyCaFile,
      "-H",
      "Host: other.test",
      `https://api.acme.test:${f.acmePort}/v1/models`,
    ]);
    assert.equal(result.stdout, "421");
    assert.equal(f.seen.length, 0);
  });
});

Deno.test("an upstream that is down gives 502 with a one-line reason", async () => {
  await withProxy(async (f) => {
    const intercepted = await curl([
      "-w",
      "\n%{http_code}",
      "--proxy",
      f.proxyUrl,
      "--cacert",
      f.proxyCaFile,
      "https://down.test/v1/models",
    ]);
    const [body, status] = intercepted.stdout.split("\n\n");
    assert.equal(status, "502");
    assert.match(body!, /^authsome proxy: upstream failed: Connection refused/);
    const tunnelled = await curl([
      "-o",
      "/dev/null",
      "-w",
      "%{http_connect}",
      "--proxy",
      f.proxyUrl,
      "https://gone.test/",
    ]);
    assert.equal(tunnelled.stdout, "502");
    assert.deepEqual(f.events.map((e) => e.kind), ["error", "error"]);
  });
});

Deno.test("a credential that cannot be had answers 502 with the reason, never a secret", async () => {
  await withProxy(async (f) => {
    const common = ["-w", "\n%{http_code}", "--proxy", f.proxyUrl, "--cacert", f.proxyCaFile];
    const url = `https://api.acme.test:${f.acmePort}`;
    const expired = await curl([...common, `${url}/v1/expired`]);
    assert.equal(expired.stdout, "authsome proxy: The credential for acme has expired\n\n502");
    const bad = await curl([...common, `${url}/v1/bad-header`]);
    assert.equal(bad.stdout, "authsome proxy: the request could not be built\n\n502");
    assertNoSecretIn(JSON.stringify(f.events));
    assert.equal(f.seen.length, 0);
    // The proxy is still serving.
    const ok = await curl([...common, `${url}/v1/ok`]);
    assert.match(ok.stdout, /\n200$/);
  });
});

Deno.test("a client that does not trust the authsome CA fails the handshake, and it is reported", async () => {
  await withProxy(async (f) => {
    const result = await curl([
      "--proxy",
      f.proxyUrl,
      "--cacert",
      f.upstreamCaFile,
      `https://api.acme.test:${f.acmePort}/v1/models`,
    ]);
    assert.equal(result.code, 60, result.stderr);
    assert.equal(f.seen.length, 0);
    await until(() => f.events.some((e) => e.kind === "error"));
    assert.match(f.events.find((e) => e.kind === "error")?.detail ?? "", /^client TLS: /);
  });
});

Deno.test("the proxy listens on 127.0.0.1 only and close() frees the port", async () => {
  let port = 0;
  await withProxy(async (f) => {
    port = f.proxy.port;
    assert.equal(f.proxy.url, `http://127.0.0.1:${port}`);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    // Linux routes all of 127/8 to lo: a socket bound to every address would answer here.
    await assert.rejects(Deno.connect({ hostname: "127.0.0.2", port }));
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
});

Deno.test("a request the client abandons before its answer is not sent upstream twice", async () => {
  await withProxy(async (f) => {
    const client = Deno.createHttpClient({
      proxy: { url: f.proxy.url, basicAuth: { username: "authsome", password: f.secret } },
      caCerts: [proxyCa.certPem],
    });
    try {
      const url = `https://api.acme.test:${f.acmePort}`;
      // The first request leaves a kept-alive connection upstream for the second to reuse.
      await (await fetch(`${url}/v1/a`, { client, method: "POST", body: "first" })).text();
      const abort = new AbortController();
      const slow = fetch(`${url}/v1/slow`, {
        client,
        method: "POST",
        body: "once",
        signal: abort.signal,
      });
      await until(() => f.seen.length === 2);
      abort.abort();
      await assert.rejects(slow);
      // A duplicate, if any, is sent as soon as the proxy drops the request.
      await assert.rejects(
        until(() => f.seen.length > 2, 300),
        /not met in time/,
        `the abandoned request reached the upstream again: ${f.seen.map((s) => s.path)}`,
      );
      f.release();
      // A later request through the same proxy is answered only after anything queued before it.
      const after = await fetch(`${url}/v1/b`, { client, method: "POST", body: "after" });
      assert.equal(after.status, 200);
      await after.text();
      assert.deepEqual(f.seen.map((s) => s.path), ["/v1/a", "/v1/slow", "/v1/b"]);
    } finally {
      client.close();
    }
  });
});

/** Polls a condition every 10 ms; rejects after `ms`. */
async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
