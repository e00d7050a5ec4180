import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { createCa, createLeafIssuer, type LeafIssuer } from "./certs.ts";
import { type InterceptedRequest, type ProxyEvent, ProxyRefusal, startProxy } from "./server.ts";

// The proxy at the byte level: a raw TCP client speaks CONNECT and HTTP/1.1 to it, and a raw TLS
// upstream records each request head exactly as it arrived and answers with a canned response.
// This pins what real clients cannot show: which header lines go through, the exact refusals,
// and the edge cases of CONNECT and request targets.

const upstreamCa = await createCa({ commonName: "authsome wire test upstream CA" });
const proxyCa = await createCa({ commonName: "authsome wire test proxy CA" });
const upstreamLeaf = await createLeafIssuer(upstreamCa).issue("api.acme.test");
const proxyLeaves = createLeafIssuer(proxyCa);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Buffered reads over a connection: heads up to a blank line, bodies by length, or to EOF. */
class Wire {
  #buffer = new Uint8Array(0);
  /** `patient`: an upstream's reads wait as long as it takes; a client's give up after 10 s. */
  readonly conn: Deno.Conn;
  readonly patient: boolean;
  constructor(conn: Deno.Conn, patient = false) {
    this.conn = conn;
    this.patient = patient;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    let n: number | null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      // A proxy that never answers fails the test instead of hanging it.
      if (this.patient) return;
      timer = setTimeout(() => reject(new Error("no data from the peer within 10 s")), 10_000);
    });
    try {
      n = await Promise.race([this.conn.read(chunk), timeout]);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith("no data")) throw error;
      n = null;
    } finally {
      clearTimeout(timer);
    }
    if (n === null) return false;
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  #take(n: number): string {
    const text = decoder.decode(this.#buffer.subarray(0, n));
    this.#buffer = this.#buffer.slice(n);
    return text;
  }

  /** The next head including its blank line, or null at EOF. */
  async head(): Promise<string | null> {
    for (;;) {
      const at = decoder.decode(this.#buffer).indexOf("\r\n\r\n");
      if (at >= 0) return this.#take(at + 4);
      if (!(await this.#fill())) return null;
    }
  }

  /** Exactly `n` bytes, or what there was before EOF. */
  async bytes(n: number): Promise<string> {
    while (this.#buffer.length < n) if (!(await this.#fill())) break;
    return this.#take(Math.min(n, this.#buffer.length));
  }

  /** Everything until the peer closes. */
  async rest(): Promise<string> {
    while (await this.#fill());
    return this.#take(this.#buffer.length);
  }

  /** A chunked body, decoded. */
  async chunked(): Promise<string> {
    let body = "";
    for (;;) {
      let line = "";
      while (!line.endsWith("\r\n")) line += await this.bytes(1);
      const size = parseInt(line, 16);
      if (size === 0) {
        await this.bytes(2);
        return body;
      }
      body += await this.bytes(size);
      await this.bytes(2);
    }
  }

  async write(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    for (let at = 0; at < bytes.length;) at += await this.conn.write(bytes.subarray(at));
  }
}

interface Response {
  status: number;
  reason: string;
  /** Header lines as sent, `Name: value`. */
  lines: string[];
  body: string;
}

/** Reads one response (by Content-Length, chunked, or to EOF). */
async function readResponse(wire: Wire): Promise<Response> {
  const head = await wire.head();
  if (head === null) throw new Error("the connection closed before a response");
  const [statusLine, ...lines] = head.slice(0, -4).split("\r\n");
  const match = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine!);
  if (!match) throw new Error(`not a status line: ${statusLine}`);
  const header = (name: string) =>
    lines.find((l) => l.toLowerCase().startsWith(`${name}:`))?.split(":")[1]?.trim();
  const length = header("content-length");
  const body = length !== undefined
    ? await wire.bytes(Number(length))
    : header("transfer-encoding")?.toLowerCase() === "chunked"
    ? await wire.chunked()
    : await wire.rest();
  return { status: Number(match[1]), reason: match[2]!, lines, body };
}

/** The value of one header in a response's lines (case-insensitive name), all of them joined. */
function values(lines: string[], name: string): string[] {
  return lines.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)).map((l) =>
    l.slice(l.indexOf(":") + 1).trim()
  );
}

interface Upstream {
  port: number;
  /** Each request as it arrived: the head (request line and header lines) and the body. */
  requests: { head: string; body: string }[];
  /** Upstream connections closed by the proxy so far. */
  closed: number;
  /** What the next requests are answered with (raw bytes after the head is read). */
  answer: string;
  /** Close the connection after answering (to cut a response short). */
  closeAfterAnswer: boolean;
  /** Connections accepted so far. */
  connections: number;
  stop(): void;
}

/** A server (TLS for api.acme.test, or plain) that records raw requests and answers `answer`. */
function rawUpstream(secure: boolean): Upstream {
  const address = { hostname: "127.0.0.1", port: 0 };
  const listener: Deno.Listener<Deno.Conn, Deno.NetAddr> = secure
    ? Deno.listenTls({ ...address, cert: upstreamLeaf.certPem, key: upstreamLeaf.keyPem })
    : Deno.listen(address);
  const conns = new Set<Deno.Conn>();
  const upstream: Upstream = {
    port: listener.addr.port,
    requests: [],
    closed: 0,
    answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    closeAfterAnswer: false,
    connections: 0,
    stop() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    },
  };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      upstream.connections++;
      (async () => {
        const wire = new Wire(conn, true);
        for (;;) {
          const head = await wire.head();
          if (head === null) break;
          const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
          const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
          const body = length
            ? await wire.bytes(Number(length))
            : chunked
            ? await wire.chunked()
            : "";
          upstream.requests.push({ head: head.slice(0, -4), body });
          try {
            await wire.write(upstream.answer);
          } catch {
            break;
          }
          if (upstream.closeAfterAnswer) break;
        }
        upstream.closed++;
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* already closed */ }
      })();
    }
  })().catch(() => {});
  return upstream;
}

interface WireFixture {
  proxyPort: number;
  secret: string;
  auth: string;
  upstream: Upstream;
  plain: Upstream;
  /** The events, without their `ms`. */
  events: Omit<ProxyEvent, "ms">[];
  asked: InterceptedRequest[];
  routed: [string, number][];
  resolved: [string, number][];
  close(): Promise<void>;
}

interface WireOptions {
  leaves?: LeafIssuer;
  shouldIntercept?: (host: string, port: number) => boolean;
  onEvent?: (event: ProxyEvent) => void;
}

async function withWire(
  fn: (f: WireFixture) => Promise<void>,
  options: WireOptions = {},
): Promise<void> {
  const upstream = rawUpstream(true);
  const plain = rawUpstream(false);
  const events: Omit<ProxyEvent, "ms">[] = [];
  const asked: InterceptedRequest[] = [];
  const routed: [string, number][] = [];
  const resolved: [string, number][] = [];
  const secret = crypto.randomUUID();
  const proxy = await startProxy({
    secret,
    ca: proxyCa,
    leaves: options.leaves ?? proxyLeaves,
    shouldIntercept: (host, port) => {
      routed.push([host, port]);
      return options.shouldIntercept
        ? options.shouldIntercept(host, port)
        : host === "api.acme.test";
    },
    headersFor: (request) => {
      asked.push(request);
      if (request.path === "/boom") return Promise.reject(new Error("secret-detail"));
      if (request.path === "/policy") {
        return Promise.reject(
          new ProxyRefusal(403, { error: "authsome_policy", rule: "read-only" }),
        );
      }
      if (request.path === "/policy-plain") {
        return Promise.reject(new ProxyRefusal(451, { error: "authsome_policy" }));
      }
      if (request.path === "/refused") {
        return Promise.reject(new AuthsomeError("CREDENTIAL_MISSING", "No credential for acme"));
      }
      return Promise.resolve(
        request.path.startsWith("/v1") ? { AUTHORIZATION: "Bearer real-secret" } : undefined,
      );
    },
    resolveUpstream: (host, port) => {
      resolved.push([host, port]);
      if (host === "throw.test") throw new Error("no route\nsecond line");
      const ports: Record<string, number> = {
        "api.acme.test": upstream.port,
        "plain.test": plain.port,
      };
      return { host: "127.0.0.1", port: ports[host] ?? closedPort };
    },
    upstreamCa: [upstreamCa.certPem],
    onEvent: (event) => {
      // Every event carries its time; the rest is compared exactly.
      assert.ok(Number.isFinite(event.ms) && event.ms >= 0, `event time ${event.ms}`);
      const { ms: _ms, ...rest } = event;
      events.push(rest);
      options.onEvent?.(event);
    },
  });
  let closed = false;
  const fixture: WireFixture = {
    proxyPort: proxy.port,
    secret,
    auth: `Basic ${btoa(`authsome:${secret}`)}`,
    upstream,
    plain,
    events,
    asked,
    routed,
    resolved,
    async close() {
      closed = true;
      await proxy.close();
    },
  };
  try {
    await fn(fixture);
  } finally {
    if (!closed) await proxy.close();
    upstream.stop();
    plain.stop();
  }
}

const closedPort = (() => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
})();

async function connectRaw(f: WireFixture): Promise<Wire> {
  return new Wire(await Deno.connect({ hostname: "127.0.0.1", port: f.proxyPort }));
}

/** CONNECT to api.acme.test and start TLS inside: a wire to the proxy's decrypting side. */
async function openTunnel(f: WireFixture, authority = `api.acme.test:${f.upstream.port}`) {
  const raw = await connectRaw(f);
  await raw.write(
    `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
      `Proxy-Authorization: ${f.auth}\r\n\r\n`,
  );
  assert.equal(await raw.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
  const tls = await Deno.startTls(raw.conn as Deno.TcpConn, {
    hostname: authority.replace(/:\d+$/, ""),
    caCerts: [proxyCa.certPem],
  });
  return new Wire(tls);
}

function close(wire: Wire) {
  try {
    wire.conn.close();
  } catch { /* already closed */ }
}

const AUTH_REQUIRED = "HTTP/1.1 407 Proxy Authentication Required\r\n" +
  'Proxy-Authenticate: Basic realm="authsome"\r\n' +
  "Content-Type: text/plain; charset=utf-8\r\n" +
  "Content-Length: 40\r\n" +
  "Connection: close\r\n\r\n" +
  "authsome proxy: authentication required\n";

function rawAnswer(status: string, text: string): string {
  const body = `${text}\n`;
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${encoder.encode(body).length}\r\nConnection: close\r\n\r\n${body}`;
}

Deno.test("wire: CONNECT credentials — the accepted forms and the exact 407 for every other", async () => {
  await withWire(async (f) => {
    const token = btoa(`authsome:${f.secret}`);
    const accepted = [`Basic ${token}`, `basic ${token}`, `BASIC   ${token}`, `Basic ${token}  `];
    for (const header of accepted) {
      const wire = await connectRaw(f);
      await wire.write(
        `CONNECT other.test:443 HTTP/1.1\r\nProxy-Authorization: ${header}\r\n\r\n`,
      );
      // other.test is tunnelled to a closed port: an accepted client gets 502, not 407.
      const answer = await wire.rest();
      assert.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/, header);
      close(wire);
    }
    const refused = [
      "",
      `Bearer ${token}`,
      `xBasic ${token}`,
      `Basic ${token} junk`,
      `Basic${token}`,
      `Basic ${btoa(`other:${f.secret}`)}`,
      `Basic ${btoa(f.secret)}`,
      `Basic ${btoa(`authsome:${f.secret}x`)}`,
      `Basic ${btoa(`authsome:${f.secret}`).replace("=", "")}-`,
      `Basic ${btoa(`Authsome:${f.secret}`)}`,
    ];
    for (const header of refused) {
      const wire = await connectRaw(f);
      const line = header === "" ? "" : `Proxy-Authorization: ${header}\r\n`;
      await wire.write(`CONNECT api.acme.test:443 HTTP/1.1\r\n${line}\r\n`);
      assert.equal(await wire.rest(), AUTH_REQUIRED, header);
      close(wire);
    }
    assert.equal(f.upstream.requests.length, 0);
    const denied = f.events.filter((e) => e.kind === "denied");
    assert.equal(denied.length, refused.length);
    assert.deepEqual(denied[0], {
      kind: "denied",
      host: "api.acme.test",
      status: 407,
      detail: "missing or wrong proxy credentials",
    });
  });
});

Deno.test("wire: CONNECT targets — ports at their limits, IPv6, case, and the exact 400", async () => {
  await withWire(async (f) => {
    const good: [string, [string, number]][] = [
      ["Other.TEST:1", ["other.test", 1]],
      ["other.test:65535", ["other.test", 65535]],
      ["[::1]:8443", ["::1", 8443]],
      ["[FE80::1]:443", ["fe80::1", 443]],
      ["under_score-1.test:00443", ["under_score-1.test", 443]],
      ["127.0.0.1:443", ["127.0.0.1", 443]],
    ];
    for (const [authority, expected] of good) {
      const wire = await connectRaw(f);
      await wire.write(`CONNECT ${authority} HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`);
      const answer = await wire.rest();
      assert.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/, authority);
      assert.deepEqual(f.routed.at(-1), expected, authority);
      close(wire);
    }
    const bad = [
      "other.test",
      "other.test:0",
      "other.test:65536",
      "other.test:123456",
      "other.test:",
      ":443",
      "other.test:443/x",
      "x.other.test:443:1",
      "[::1:443",
      "[x::1]:443",
      "other!.test:443",
      "other.test:44a",
    ];
    const before = f.routed.length;
    for (const authority of bad) {
      const wire = await connectRaw(f);
      await wire.write(`CONNECT ${authority} HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`);
      const answer = await wire.rest();
      assert.equal(
        answer,
        rawAnswer("400 Bad Request", "authsome proxy: bad CONNECT target"),
        authority,
      );
      close(wire);
    }
    assert.equal(f.routed.length, before, "a bad target reached routing");
    assert.deepEqual(f.events.filter((e) => e.kind === "denied").at(-1), {
      kind: "denied",
      host: "",
      status: 400,
      detail: "bad CONNECT target",
    });
  });
});

Deno.test("wire: a tunnelled CONNECT to a closed port is refused with the exact 502 and an event", async () => {
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    await wire.write(`CONNECT gone.test:8443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`);
    const answer = await wire.rest();
    const body = /\r\n\r\n(.*)$/s.exec(answer)![1]!;
    assert.match(body, /^authsome proxy: upstream failed: .*ECONNREFUSED.*\n$/);
    assert.ok(!body.slice(0, -1).includes("\n"), "one line");
    assert.equal(answer, rawAnswer("502 Bad Gateway", body.slice(0, -1)));
    assert.deepEqual(f.resolved, [["gone.test", 8443]]);
    assert.equal(f.events.length, 1);
    assert.equal(f.events[0]!.kind, "error");
    assert.equal(f.events[0]!.host, "gone.test");
    assert.match(f.events[0]!.detail!, /^tunnel: .*ECONNREFUSED/);
  });
});

Deno.test("wire: routing that throws, and a certificate that cannot be issued, give exact 502s", async () => {
  const failing: LeafIssuer = { issue: () => Promise.reject(new Error("no signer\nsecond line")) };
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    await wire.write(
      `CONNECT api.acme.test:443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    assert.equal(
      await wire.rest(),
      rawAnswer("502 Bad Gateway", "authsome proxy: cannot issue a certificate"),
    );
    assert.deepEqual(f.events, [{
      kind: "error",
      host: "api.acme.test",
      status: 502,
      detail: "certificate: no signer",
    }]);
  }, { leaves: failing });
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    await wire.write(
      `CONNECT api.acme.test:443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    assert.equal(await wire.rest(), rawAnswer("502 Bad Gateway", "authsome proxy: routing failed"));
    assert.deepEqual(f.events, [{
      kind: "error",
      host: "api.acme.test",
      status: 502,
      detail: "routing: boom",
    }]);
  }, {
    shouldIntercept: () => {
      throw new Error("boom");
    },
  });
});

/** The header lines of a recorded request head, without its request line. */
function headLines(head: string): string[] {
  return head.split("\r\n").slice(1);
}

/** Polls a condition every 10 ms; rejects after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const HOP_HEADERS = "Connection: keep-alive, X-Named\r\n" +
  "Keep-Alive: timeout=99\r\n" +
  "Proxy-Connection: keep-alive\r\n" +
  "Proxy-Authorization: Basic c3RyYXk=\r\n" +
  "Proxy-Authenticate: Basic realm=stray\r\n" +
  "X-Named: drop me\r\n" +
  "TE: trailers\r\n" +
  "Trailer: X-T\r\n" +
  "Upgrade: h9\r\n";

/** Header names a proxy must never pass on (the client's own connection headers). */
const NEVER_FORWARDED = [
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "x-named",
  "te",
  "trailer",
  "upgrade",
];

Deno.test("wire: a decrypted request reaches upstream with the injected header, its own headers, no hop-by-hop one", async () => {
  await withWire(async (f) => {
    f.upstream.answer = "HTTP/1.1 201 Made Up\r\nContent-Length: 2\r\n" +
      "Keep-Alive: timeout=99\r\nProxy-Authenticate: Basic realm=up\r\nUpgrade: h9\r\n" +
      "Trailer: X-T\r\nProxy-Connection: keep-alive\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n" +
      "X-Up: 1\r\n\r\nok";
    const wire = await openTunnel(f);
    const host = `api.acme.test:${f.upstream.port}`;
    await wire.write(
      `POST /v1/chat?x=1 HTTP/1.1\r\nHost: ${host}\r\nauthorization: Bearer placeholder\r\n` +
        HOP_HEADERS + "X-Multi: a\r\nX-Multi: b\r\nX-Multi: c\r\nX-Note: x-keep\r\n" +
        "X-Keep: 1\r\nContent-Length: 5\r\n\r\nhello",
    );
    const response = await readResponse(wire);
    assert.equal(response.status, 201);
    assert.equal(response.reason, "Made Up");
    assert.equal(response.body, "ok");
    assert.deepEqual(values(response.lines, "set-cookie"), ["a=1", "b=2"]);
    assert.deepEqual(values(response.lines, "x-up"), ["1"]);
    for (const name of ["proxy-authenticate", "upgrade", "trailer", "proxy-connection"]) {
      assert.deepEqual(values(response.lines, name), [], `response ${name}`);
    }
    assert.ok(!response.lines.join("\n").includes("timeout=99"), "upstream Keep-Alive forwarded");

    const [request] = f.upstream.requests;
    const [requestLine] = request!.head.split("\r\n");
    assert.equal(requestLine, "POST /v1/chat?x=1 HTTP/1.1");
    const lines = headLines(request!.head);
    assert.deepEqual(values(lines, "host"), [host]);
    assert.deepEqual(values(lines, "authorization"), ["Bearer real-secret"]);
    assert.deepEqual(values(lines, "x-multi"), ["a", "b", "c"]);
    // Only the Connection header names headers to drop; another header's value never does.
    assert.deepEqual(values(lines, "x-keep"), ["1"]);
    assert.deepEqual(values(lines, "connection"), ["keep-alive"]);
    for (const name of NEVER_FORWARDED) assert.deepEqual(values(lines, name), [], name);
    assert.equal(request!.body, "hello");
    assert.deepEqual(f.asked, [{
      scheme: "https",
      host: "api.acme.test",
      port: f.upstream.port,
      path: "/v1/chat",
      method: "POST",
    }]);
    assert.deepEqual(f.events, [{
      kind: "inject",
      host: "api.acme.test",
      path: "/v1/chat",
      method: "POST",
      status: 201,
    }]);

    // The same tunnel serves the next request: no credential for it, so it passes unchanged.
    f.upstream.answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    await wire.write(
      `GET /public HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer placeholder\r\n\r\n`,
    );
    assert.equal((await readResponse(wire)).status, 200);
    assert.deepEqual(values(headLines(f.upstream.requests[1]!.head), "authorization"), [
      "Bearer placeholder",
    ]);
    assert.deepEqual(f.events[1], {
      kind: "pass",
      host: "api.acme.test",
      path: "/public",
      method: "GET",
      status: 200,
      detail: "no credential for this request",
    });
    // A chunked request body arrives whole.
    await wire.write(
      `PUT /v1/up HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n` +
        "3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
    );
    assert.equal((await readResponse(wire)).status, 200);
    assert.equal(f.upstream.requests[2]!.body, "hello");
    close(wire);
  });
});

Deno.test("wire: request targets inside a tunnel — absolute form checked, origin form kept", async () => {
  await withWire(async (f) => {
    const port = f.upstream.port;
    const host = `api.acme.test:${port}`;
    const wire = await openTunnel(f);
    const forwarded: [string, string, string][] = [
      [`https://${host}/v1/abs?x=1`, "GET /v1/abs?x=1 HTTP/1.1", "/v1/abs"],
      ["https://API.ACME.TEST?x=1", "GET /?x=1 HTTP/1.1", "/"],
      [`HTTPS://${host}`, "GET / HTTP/1.1", "/"],
      ["/v1/o?q=a?b", "GET /v1/o?q=a?b HTTP/1.1", "/v1/o"],
    ];
    for (const [target, line, path] of forwarded) {
      await wire.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal((await readResponse(wire)).status, 200, target);
      assert.equal(f.upstream.requests.at(-1)!.head.split("\r\n")[0], line, target);
      assert.equal(f.asked.at(-1)!.path, path, target);
    }
    const refused: [string, string][] = [
      ["https://other.test/v1", "/v1"],
      ["http://api.acme.test/v1", "/"],
      [`https://api.acme.test:${port + 1}/v1`, "/v1"],
      ["https://evil.test@api.acme.test/v1", "/v1"],
      ["*", "/"],
    ];
    const before = f.upstream.requests.length;
    for (const [target, path] of refused) {
      await wire.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const response = await readResponse(wire);
      assert.equal(response.status, 400, target);
      assert.deepEqual(values(response.lines, "content-type"), ["text/plain; charset=utf-8"]);
      assert.equal(response.body, "authsome proxy: bad request target\n");
      assert.deepEqual(f.events.at(-1), {
        kind: "denied",
        host: "api.acme.test",
        path,
        method: "GET",
        status: 400,
        detail: "bad request target",
      }, target);
    }
    assert.equal(f.upstream.requests.length, before);
    close(wire);
  });
});

Deno.test("wire: the Host header must name the tunnel's host; only that one value goes upstream", async () => {
  await withWire(async (f) => {
    const port = f.upstream.port;
    const wire = await openTunnel(f);
    for (const host of ["API.ACME.TEST.", `api.acme.test:${port}`, "[api.acme.test]"]) {
      await wire.write(`GET /v1/h HTTP/1.1\r\nHost: ${host}\r\nHost: evil.test\r\n\r\n`);
      const response = await readResponse(wire);
      if (host.startsWith("[")) {
        assert.equal(response.status, 421, host);
        continue;
      }
      assert.equal(response.status, 200, host);
      assert.deepEqual(values(headLines(f.upstream.requests.at(-1)!.head), "host"), [host]);
    }
    const before = f.upstream.requests.length;
    for (
      const host of [
        `api.acme.test:${port + 1}`,
        "evil.api.acme.test",
        "api.acme.test.evil",
        "api.acme.test:1:2",
        "api.acme.test/x",
        "",
      ]
    ) {
      await wire.write(`GET /v1/h HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      const response = await readResponse(wire);
      assert.equal(response.status, 421, host);
      assert.equal(
        response.body,
        "authsome proxy: the Host header does not match the tunnel's host\n",
      );
      assert.deepEqual(f.events.at(-1), {
        kind: "denied",
        host: "api.acme.test",
        path: "/v1/h",
        method: "GET",
        status: 421,
        detail: "Host header differs from the CONNECT host",
      });
    }
    await wire.write(`GET /v1/h HTTP/1.0\r\n\r\n`);
    assert.equal((await readResponse(wire)).status, 421, "no Host at all");
    assert.equal(f.upstream.requests.length, before);
    close(wire);
  });
});

Deno.test("wire: a credential that fails to load answers 502 with a safe one-line reason", async () => {
  await withWire(async (f) => {
    const host = `api.acme.test:${f.upstream.port}`;
    const wire = await openTunnel(f);
    await wire.write(`GET /boom?k=v HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 3\r\n\r\nabc`);
    const boom = await readResponse(wire);
    assert.equal(boom.status, 502);
    assert.equal(boom.body, "authsome proxy: the credential could not be loaded\n");
    assert.deepEqual(f.events.at(-1), {
      kind: "error",
      host: "api.acme.test",
      path: "/boom",
      method: "GET",
      status: 502,
      detail: "headers: the credential could not be loaded",
    });
    // The unread body was drained: the connection still serves the next request.
    await wire.write(`GET /refused HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const refused = await readResponse(wire);
    assert.equal(refused.status, 502);
    assert.deepEqual(values(refused.lines, "content-type"), ["text/plain; charset=utf-8"]);
    assert.equal(refused.body, "authsome proxy: No credential for acme\n");
    assert.equal(f.upstream.requests.length, 0);
    assert.ok(!JSON.stringify(f.events).includes("secret-detail"));
    close(wire);
  });
});

Deno.test("wire: a response cut short upstream is cut short for the client, never completed", async () => {
  await withWire(async (f) => {
    f.upstream.answer = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
    f.upstream.closeAfterAnswer = true;
    const wire = await openTunnel(f);
    await wire.write(`GET /v1/cut HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    const head = await wire.head();
    assert.match(head!, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head!, /\r\ncontent-length: 10\r\n/i);
    // The client never gets the ten bytes it was promised: the connection ends before.
    const body = await wire.rest();
    assert.ok(body.length < 10 && "half".startsWith(body), body);
    close(wire);
  });
});

Deno.test("wire: a streamed (chunked) response arrives whole, and an upstream cut before the head is a 502", async () => {
  await withWire(async (f) => {
    f.upstream.answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n";
    const wire = await openTunnel(f);
    await wire.write(`GET /v1/stream HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    const streamed = await readResponse(wire);
    assert.equal(streamed.body, "abcde");
    f.upstream.answer = "";
    f.upstream.closeAfterAnswer = true;
    await wire.write(`GET /v1/none HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    const none = await readResponse(wire);
    assert.equal(none.status, 502);
    assert.match(none.body, /^authsome proxy: upstream failed: [^\n]+\n$/);
    assert.equal(f.events.at(-1)!.kind, "error");
    assert.match(f.events.at(-1)!.detail!, /^upstream: /);
    close(wire);
  });
});

Deno.test("wire: an audit sink that throws does not stop the proxy", async () => {
  await withWire(async (f) => {
    const wire = await openTunnel(f);
    await wire.write(`GET /v1/a HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    assert.equal((await readResponse(wire)).status, 200);
    assert.equal(f.events.length, 1);
    close(wire);
  }, {
    onEvent: () => {
      throw new Error("sink down");
    },
  });
});

Deno.test("wire: close() cuts open client tunnels and idle upstream connections, and frees the port", async () => {
  await withWire(async (f) => {
    const wire = await openTunnel(f);
    await wire.write(`GET /v1/a HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    assert.equal((await readResponse(wire)).status, 200);
    assert.equal(f.upstream.closed, 0);
    await f.close();
    assert.equal(await wire.rest(), "");
    await until(() => f.upstream.closed === 1);
    Deno.listen({ hostname: "127.0.0.1", port: f.proxyPort }).close();
    close(wire);
  });
});

Deno.test("wire: plain HTTP — absolute URLs only, forwarded without hop-by-hop headers, never injected", async () => {
  await withWire(async (f) => {
    const port = f.plain.port;
    const wire = await connectRaw(f);
    await wire.write(
      `GET HTTP://Plain.TEST:${port}/p?q=1 HTTP/1.1\r\nHost: plain.test:${port}\r\n` +
        `Proxy-Authorization: ${f.auth}\r\n` +
        HOP_HEADERS.replace(/Proxy-Authorization.*\r\n/, "") +
        "Authorization: Bearer placeholder\r\n\r\n",
    );
    assert.equal((await readResponse(wire)).status, 200);
    const [request] = f.plain.requests;
    assert.equal(request!.head.split("\r\n")[0], "GET /p?q=1 HTTP/1.1");
    const lines = headLines(request!.head);
    for (const name of NEVER_FORWARDED) assert.deepEqual(values(lines, name), [], name);
    assert.deepEqual(values(lines, "authorization"), ["Bearer placeholder"]);
    assert.deepEqual(f.resolved, [["plain.test", port]]);
    assert.deepEqual(f.events, [{
      kind: "pass",
      host: "plain.test",
      path: "/p",
      method: "GET",
      status: 200,
      detail: "plain HTTP is never injected",
    }]);
    assert.deepEqual(f.asked, []);

    await wire.write(
      `GET http://plain.test/x HTTP/1.1\r\nHost: plain.test\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    assert.equal((await readResponse(wire)).status, 200);
    assert.deepEqual(f.resolved.at(-1), ["plain.test", 80]);
    await wire.write(
      `POST http://[::1]:9/x HTTP/1.1\r\nHost: [::1]:9\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    const v6 = await readResponse(wire);
    assert.equal(v6.status, 502);
    assert.match(v6.body, /^authsome proxy: upstream failed: [^\n]+\n$/);
    assert.deepEqual(f.resolved.at(-1), ["::1", 9]);
    assert.deepEqual(f.events.at(-1), {
      kind: "error",
      host: "::1",
      path: "/x",
      method: "POST",
      status: 502,
      detail: f.events.at(-1)!.detail,
    });
    assert.match(f.events.at(-1)!.detail!, /^upstream: /);

    for (const target of ["/x", "https://api.acme.test/x", "http://", "ftp://plain.test/"]) {
      await wire.write(
        `GET ${target} HTTP/1.1\r\nHost: plain.test\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
      );
      const response = await readResponse(wire);
      assert.equal(response.status, 400, target);
      assert.equal(response.body, "authsome proxy: expected an absolute http:// URL\n");
      assert.deepEqual(f.events.at(-1), {
        kind: "denied",
        host: "",
        method: "GET",
        status: 400,
        detail: "not an absolute http:// URL",
      });
    }
    close(wire);

    const anonymous = await connectRaw(f);
    await anonymous.write(`DELETE http://Plain.Test/x HTTP/1.1\r\nHost: plain.test\r\n\r\n`);
    const denied = await readResponse(anonymous);
    assert.equal(denied.status, 407);
    assert.deepEqual(values(denied.lines, "proxy-authenticate"), ['Basic realm="authsome"']);
    assert.deepEqual(values(denied.lines, "content-type"), ["text/plain; charset=utf-8"]);
    assert.equal(denied.body, "authsome proxy: authentication required\n");
    assert.deepEqual(f.events.at(-1), {
      kind: "denied",
      host: "plain.test",
      method: "DELETE",
      status: 407,
      detail: "missing or wrong proxy credentials",
    });
    assert.equal(f.plain.requests.length, 2);
    close(anonymous);
  });
});

Deno.test("wire: a tunnel relays bytes sent with the CONNECT and closes both ways", async () => {
  await withWire(async (f) => {
    const port = f.plain.port;
    const wire = await connectRaw(f);
    await wire.write(
      `CONNECT plain.test:${port} HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n` +
        "GET /early HTTP/1.1\r\nHost: plain.test\r\n\r\n",
    );
    assert.equal(await wire.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
    assert.equal((await readResponse(wire)).body, "ok");
    assert.equal(f.plain.requests[0]!.head.split("\r\n")[0], "GET /early HTTP/1.1");
    assert.deepEqual(f.events, [{
      kind: "tunnel",
      host: "plain.test",
      status: 200,
      detail: `port ${port}`,
    }]);
    // The client going away closes the upstream side.
    close(wire);
    await until(() => f.plain.closed === 1);

    // The upstream going away closes the client side.
    f.plain.closeAfterAnswer = true;
    const second = await connectRaw(f);
    await second.write(
      `CONNECT plain.test:${port} HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    assert.equal(await second.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
    await second.write("GET /late HTTP/1.1\r\nHost: plain.test\r\n\r\n");
    assert.equal(await second.rest(), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    close(second);
  });
});

Deno.test("wire: an upstream that cannot be resolved gives a 502 on each path, with one line", async () => {
  await withWire(async (f) => {
    const tunnel = await connectRaw(f);
    await tunnel.write(
      `CONNECT other-throw.test:443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    // other-throw.test resolves (to a closed port); throw.test is intercepted and throws.
    assert.match(await tunnel.rest(), /^HTTP\/1\.1 502 Bad Gateway\r\n/);

    const wire = await openTunnel(f, "throw.test:443");
    await wire.write(`GET /v1/x HTTP/1.1\r\nHost: throw.test\r\n\r\n`);
    const intercepted = await readResponse(wire);
    assert.equal(intercepted.status, 502);
    assert.equal(intercepted.body, "authsome proxy: the request could not be built\n");
    assert.deepEqual(f.events.at(-1), {
      kind: "error",
      host: "throw.test",
      path: "/v1/x",
      method: "GET",
      status: 502,
      detail: "request: no route",
    });
    close(wire);

    const plain = await connectRaw(f);
    await plain.write(
      `GET http://throw.test/y HTTP/1.1\r\nHost: throw.test\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
    );
    const forwarded = await readResponse(plain);
    assert.equal(forwarded.status, 502);
    assert.equal(forwarded.body, "authsome proxy: the request could not be built\n");
    assert.deepEqual(f.events.at(-1), {
      kind: "error",
      host: "throw.test",
      path: "/y",
      method: "GET",
      status: 502,
      detail: "request: no route",
    });
    close(plain);
  }, { shouldIntercept: (host) => host === "throw.test" });
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    await wire.write(`CONNECT throw.test:443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`);
    assert.equal(
      await wire.rest(),
      rawAnswer("502 Bad Gateway", "authsome proxy: upstream failed"),
    );
    assert.deepEqual(f.events, [{
      kind: "error",
      host: "throw.test",
      status: 502,
      detail: "tunnel: no route",
    }]);
  }, { shouldIntercept: () => false });
});

Deno.test("wire: a refused CONNECT without credentials and without a valid target names no host", async () => {
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    await wire.write("CONNECT not-a-target HTTP/1.1\r\n\r\n");
    assert.equal(await wire.rest(), AUTH_REQUIRED);
    assert.deepEqual(f.events, [{
      kind: "denied",
      host: "",
      status: 407,
      detail: "missing or wrong proxy credentials",
    }]);
  });
});

Deno.test("wire: malformed HTTP is cut off without an answer, outside and inside a tunnel", async () => {
  await withWire(async (f) => {
    const outside = await connectRaw(f);
    await outside.write("THIS IS NOT HTTP\r\n\r\n");
    assert.equal(await outside.rest(), "");
    const inside = await openTunnel(f);
    await inside.write("THIS IS NOT HTTP EITHER\r\n\r\n");
    assert.equal(await inside.rest(), "");
    assert.equal(f.upstream.requests.length, 0);
  });
});

Deno.test("wire: a request framed two ways (Content-Length and Transfer-Encoding) is cut off, never forwarded", async () => {
  await withWire(async (f) => {
    for (
      const framing of [
        "Content-Length: 4\r\nTransfer-Encoding: chunked",
        "Content-Length: 4\r\nContent-Length: 5",
        "Transfer-Encoding: chunked, identity",
      ]
    ) {
      const inside = await openTunnel(f);
      await inside.write(
        `POST /v1/x HTTP/1.1\r\nHost: api.acme.test\r\n${framing}\r\n\r\n` +
          "0\r\n\r\nGET /v1/smuggled HTTP/1.1\r\nHost: api.acme.test\r\n\r\n",
      );
      assert.equal(await inside.rest(), "", framing);
    }
    assert.equal(f.upstream.requests.length, 0);
    assert.deepEqual(f.asked, []);
  });
});

Deno.test("wire: an upstream that closes after a complete answer is no error; one error event when it closes before", async () => {
  await withWire(async (f) => {
    f.upstream.closeAfterAnswer = true;
    const wire = await openTunnel(f);
    await wire.write(`GET /v1/once HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    const first = await readResponse(wire);
    assert.equal(first.body, "ok");
    await wire.write(`GET /v1/twice HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    assert.equal((await readResponse(wire)).body, "ok");
    assert.deepEqual(f.events.map((e) => e.kind), ["inject", "inject"]);
    f.upstream.answer = "";
    await wire.write(`GET /v1/none HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    assert.equal((await readResponse(wire)).status, 502);
    // Let any late duplicate arrive before counting.
    await wire.write(`GET /public HTTP/1.1\r\nHost: api.acme.test\r\n\r\n`);
    await readResponse(wire);
    // One event per request: a request whose upstream fails is one error, not an inject too.
    assert.deepEqual(f.events.map((e) => e.kind), ["inject", "inject", "error", "error"]);
    close(wire);
  });
});

Deno.test("wire: with the defaults (no resolver, no extra CA) a tunnel reaches the host by its name", async () => {
  const plain = rawUpstream(false);
  const secret = crypto.randomUUID();
  const proxy = await startProxy({
    secret,
    ca: proxyCa,
    leaves: proxyLeaves,
    shouldIntercept: () => false,
    headersFor: () => Promise.resolve(undefined),
  });
  try {
    const wire = new Wire(await Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
    await wire.write(
      `CONNECT localhost:${plain.port} HTTP/1.1\r\n` +
        `Proxy-Authorization: Basic ${btoa(`authsome:${secret}`)}\r\n\r\n` +
        "GET /direct HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert.equal(await wire.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
    assert.equal((await readResponse(wire)).body, "ok");
    assert.equal(plain.requests[0]!.head.split("\r\n")[0], "GET /direct HTTP/1.1");
    close(wire);
  } finally {
    await proxy.close();
    plain.stop();
  }
});

Deno.test("wire: plain HTTP reuses one upstream connection, and close() cuts a kept-alive plain client", async () => {
  await withWire(async (f) => {
    const wire = await connectRaw(f);
    for (const path of ["/one", "/two"]) {
      await wire.write(
        `GET http://plain.test:${f.plain.port}${path} HTTP/1.1\r\nHost: plain.test\r\n` +
          `Proxy-Authorization: ${f.auth}\r\n\r\n`,
      );
      assert.equal((await readResponse(wire)).status, 200, path);
    }
    assert.equal(f.plain.requests.length, 2);
    assert.equal(f.plain.connections, 1, "a new upstream connection per request");
    await f.close();
    assert.equal(await wire.rest(), "", "the kept-alive client connection stays open");
    close(wire);
  });
});

Deno.test("wire: a client that goes away mid-request or mid-response takes the upstream request down with it", async () => {
  await withWire(async (f) => {
    // Mid-request: the body is still coming when the client leaves.
    const early = await openTunnel(f);
    await early.write(
      "POST /v1/upload HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    await until(() => f.upstream.connections === 1);
    close(early);
    await until(() => f.upstream.closed === 1);
    assert.ok(
      f.upstream.requests.every((r) => r.body.length < 100),
      "a partial request was completed upstream",
    );
    // Mid-response: the upstream is still sending when the client leaves.
    f.upstream.answer = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst part";
    const late = await openTunnel(f);
    await late.write("GET /v1/stream HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    assert.match((await late.head())!, /^HTTP\/1\.1 200 OK\r\n/);
    close(late);
    await until(() => f.upstream.closed === 2);
    // The proxy serves on.
    f.upstream.answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    const after = await openTunnel(f);
    await after.write("GET /v1/after HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    assert.equal((await readResponse(after)).body, "ok");
    close(after);
  });
});

Deno.test("wire: an IPv6 tunnel accepts its bracketed Host; absolute targets are anchored at both ends", async () => {
  await withWire(async (f) => {
    const v6 = await connectRaw(f);
    await v6.write(`CONNECT [::1]:8443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`);
    assert.equal(await v6.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
    const tls = new Wire(
      await Deno.startTls(v6.conn as Deno.TcpConn, { hostname: "::1", caCerts: [proxyCa.certPem] }),
    );
    await tls.write("GET /v1/x HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n");
    const answer = await readResponse(tls);
    // Past the Host check (a 421 otherwise): ::1 resolves to a closed port here.
    assert.equal(answer.status, 502);
    assert.match(answer.body, /^authsome proxy: upstream failed: /);
    close(tls);

    const wire = await openTunnel(f);
    const port = f.upstream.port;
    for (
      const target of [`xhttps://api.acme.test:${port}/v1`, `https://api.acme.test:${port}/v1#frag`]
    ) {
      await wire.write(`GET ${target} HTTP/1.1\r\nHost: api.acme.test:${port}\r\n\r\n`);
      const r = await readResponse(wire);
      assert.equal(r.status, 400, target);
    }
    assert.equal(f.upstream.requests.length, 0);
    close(wire);
  }, { shouldIntercept: (host) => host === "api.acme.test" || host === "::1" });
});

Deno.test("wire: a large response in many chunks arrives whole and the connection serves the next request", async () => {
  await withWire(async (f) => {
    const body = "x".repeat(300_000);
    f.upstream.answer = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const wire = await openTunnel(f);
    await wire.write("GET /v1/big HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    assert.equal((await readResponse(wire)).body.length, body.length);
    f.upstream.answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    await wire.write("GET /v1/next HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    assert.equal((await readResponse(wire)).body, "ok");
    close(wire);
  });
});

Deno.test("wire: a policy refusal answers its status and JSON body, forwards nothing, and the connection serves on", async () => {
  await withWire(async (f) => {
    const wire = await openTunnel(f);
    await wire.write(
      "POST /policy?x=1 HTTP/1.1\r\nHost: api.acme.test\r\nContent-Length: 5\r\n\r\nhello",
    );
    const refused = await readResponse(wire);
    assert.equal(refused.status, 403);
    assert.deepEqual(values(refused.lines, "content-type"), ["application/json"]);
    assert.equal(refused.body, '{"error":"authsome_policy","rule":"read-only"}\n');
    assert.deepEqual(f.events.at(-1), {
      kind: "denied",
      host: "api.acme.test",
      path: "/policy",
      method: "POST",
      status: 403,
      detail: "policy: read-only",
    });
    await wire.write("GET /policy-plain HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    const plain = await readResponse(wire);
    assert.equal(plain.status, 451);
    assert.equal(f.events.at(-1)!.detail, "refused: authsome_policy");
    await wire.write("GET /v1/after HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
    assert.equal((await readResponse(wire)).status, 200);
    assert.equal(f.upstream.requests.length, 1, "a refused request was forwarded");
    close(wire);
  });
  assert.equal(new ProxyRefusal(403, { rule: "path" }).message, "refused: path");
  assert.equal(new ProxyRefusal(451, {}).message, "refused: 451");
});

Deno.test("wire: a leaf the issuer renews is the one the next tunnel shows", async () => {
  const renewalCa = await createCa({ commonName: "authsome wire test renewal CA" });
  const first = await proxyLeaves.issue("api.acme.test");
  const renewed = await createLeafIssuer(renewalCa).issue("api.acme.test");
  let current = first;
  const leaves: LeafIssuer = { issue: () => Promise.resolve(current) };
  await withWire(async (f) => {
    const handshake = async (trusted: string) => {
      const raw = await connectRaw(f);
      await raw.write(
        `CONNECT api.acme.test:443 HTTP/1.1\r\nProxy-Authorization: ${f.auth}\r\n\r\n`,
      );
      assert.equal(await raw.head(), "HTTP/1.1 200 Connection Established\r\n\r\n");
      const conn = await Deno.startTls(raw.conn as Deno.TcpConn, {
        hostname: "api.acme.test",
        caCerts: [trusted],
      });
      try {
        await conn.handshake();
        return "accepted";
      } catch {
        return "refused";
      } finally {
        close(new Wire(conn));
      }
    };
    assert.equal(await handshake(proxyCa.certPem), "accepted");
    assert.equal(await handshake(proxyCa.certPem), "accepted", "the same leaf again");
    current = renewed;
    assert.equal(await handshake(proxyCa.certPem), "refused", "the old leaf is not shown");
    assert.equal(await handshake(renewalCa.certPem), "accepted");
  }, { leaves });
});
