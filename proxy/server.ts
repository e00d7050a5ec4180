/**
 * The local proxy that `authsome run` puts in front of its child. It accepts only clients that
 * present the per-run secret, decrypts CONNECT tunnels to the hosts it is told to (TLS terminated
 * in-process with a leaf from authsome's CA), adds the auth header and forwards each request over
 * verified HTTPS, streaming bodies both ways. Every other CONNECT is tunnelled untouched, and plain
 * HTTP is forwarded but never injected.
 *
 * Which host is decrypted and which headers a request gets are decided by the caller
 * (`shouldIntercept`, `headersFor`); this file only moves bytes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import type { Readable, Writable } from "node:stream";
import tls from "node:tls";
import { AuthsomeError } from "../errors.ts";
import type { CertificateAuthority, LeafIssuer } from "./certs.ts";

/** An audit event of the proxy; it never carries a header value or a query string. */
export interface ProxyEvent {
  /**
   * `inject`: headers were added; `pass`: a decrypted or plain-HTTP request was forwarded unchanged;
   * `tunnel`: a CONNECT was relayed untouched; `denied`: refused (proxy credentials, misdirected
   * request, bad request line); `error`: upstream or TLS failure.
   */
  kind: "inject" | "pass" | "tunnel" | "denied" | "error";
  /** The target host. */
  host: string;
  /** The request path without its query, when there is a request. */
  path?: string;
  /** The request method, when there is a request. */
  method?: string;
  /** Why, in a few words. */
  detail?: string;
}

/**
 * Thrown (rejected) by {@linkcode ProxyOptions.headersFor} to refuse a request by policy: the
 * client gets `status` with `body` as JSON, and nothing is forwarded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProxyRefusal } from "./server.ts";
 * const refusal = new ProxyRefusal(403, { error: "policy", rule: "read-only" });
 * assert.equal(refusal.status, 403);
 * ```
 */
export class ProxyRefusal extends Error {
  /**
   * @param status The HTTP status the client gets.
   * @param body The JSON body (never a secret); its `rule` member, when present, is audited.
   */
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(`refused: ${String(body.rule ?? status)}`);
  }
}

/** A request the proxy has decrypted, as shown to {@linkcode ProxyOptions.headersFor}. */
export interface InterceptedRequest {
  /** Always `https`: plain HTTP is never injected. */
  scheme: "https";
  /** The CONNECT host, lower-case, without IPv6 brackets. */
  host: string;
  /** The CONNECT port. */
  port: number;
  /** The path without its query string (`/` when empty). */
  path: string;
  /** The request method, upper-case. */
  method: string;
}

/** Options of {@linkcode startProxy}. */
export interface ProxyOptions {
  /**
   * The per-run secret: clients must send `Proxy-Authorization: Basic base64("authsome:" + secret)`
   * on every plain request and CONNECT; anything else gets 407.
   */
  secret: string;
  /** The CA that signs the leaf certificates shown to the client. */
  ca: CertificateAuthority;
  /** Issues (or recalls) the leaf certificate per host; default: issued by `ca`, kept in memory. */
  leaves?: LeafIssuer;
  /**
   * Should a CONNECT to this host be decrypted (`true`) or tunnelled untouched (`false`)? A decrypted
   * tunnel gets a leaf for the CONNECT host (the client's SNI is not consulted), and its requests
   * must carry that host in `Host`, else 421.
   */
  shouldIntercept(host: string, port: number): boolean;
  /**
   * For a decrypted request: the headers to set (replacing what the client sent), or `undefined` to
   * forward it unchanged. A {@linkcode ProxyRefusal} answers with its status and JSON body; any
   * other rejection answers with 502: an {@linkcode AuthsomeError}'s message (never a secret) is
   * shown to the client, any other error as a fixed text.
   */
  headersFor(request: InterceptedRequest): Promise<Record<string, string> | undefined>;
  /** Where to connect for host:port; default the same. Tests map a name to 127.0.0.1. */
  resolveUpstream?: (host: string, port: number) => { host: string; port: number };
  /**
   * Extra CA certificates (PEM) trusted for upstream TLS besides the bundled roots
   * (`tls.rootCertificates`). Upstream TLS is always verified against the requested host name,
   * whatever `resolveUpstream` returns.
   */
  upstreamCa?: string[];
  /** Receives one event per request or tunnel; errors it throws are ignored. */
  onEvent?: (event: ProxyEvent) => void;
}

/** A running proxy. */
export interface RunningProxy {
  /** `http://127.0.0.1:PORT`, without credentials. */
  url: string;
  /** The port it listens on. */
  port: number;
  /**
   * Stops listening, destroys every client connection and idle upstream connection, and resolves
   * when the port is free. An upstream request already sent in full is dropped when its response
   * begins, not before (see `relay`).
   */
  close(): Promise<void>;
}

/** Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1, plus proxy auth). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  // Stryker disable next-line StringLiteral: node:http frames every forwarded body itself.
  "transfer-encoding",
  "upgrade",
]);

interface Tunnel {
  host: string;
  port: number;
}

/**
 * Starts the proxy on 127.0.0.1 on a fresh port. Rejects with `INVALID_INPUT` when the CA cannot
 * sign, and `UNEXPECTED` when it cannot listen.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { createCa } from "./certs.ts";
 * import { startProxy } from "./server.ts";
 * const proxy = await startProxy({
 *   secret: crypto.randomUUID(),
 *   ca: await createCa(),
 *   shouldIntercept: (host) => host === "api.openai.com",
 *   headersFor: async () => ({ Authorization: "Bearer sk-…" }),
 * });
 * // The child gets http://authsome:SECRET@127.0.0.1:PORT as its proxy.
 * assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
 * await proxy.close();
 * ```
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  let leaves = options.leaves;
  if (leaves === undefined) {
    // Loaded only here: @peculiar/x509 costs ≈ 170 ms to import, and a runner that keeps its
    // leaf certificates passes its own issuer.
    const { createLeafIssuer } = await import("./certs.ts");
    leaves = createLeafIssuer(options.ca);
    // Fail now, not on the first CONNECT, when the CA cannot sign.
    await leaves.issue("localhost");
  }
  const issuer = leaves;
  const resolveUpstream = options.resolveUpstream ?? ((host, port) => ({ host, port }));
  const expectedCredentials = digest(`authsome:${options.secret}`);
  const sockets = new Set<net.Socket>();
  const tunnels = new WeakMap<object, Tunnel>();
  // Node's `ca` replaces the built-in roots rather than adding to them, so both are given.
  const ca = options.upstreamCa?.length
    ? [...tls.rootCertificates, ...options.upstreamCa]
    : undefined;
  const httpsAgent = new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
  const httpAgent = new http.Agent({ keepAlive: true });

  const emit = (event: ProxyEvent) => {
    try {
      // Stryker disable next-line OptionalChaining: a missing sink throws into the catch below.
      options.onEvent?.(event);
    } catch {
      // An audit sink that fails must not take the proxy down.
    }
  };
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    // Stryker disable next-line all: forgetting a closed socket only saves memory.
    socket.once("close", () => sockets.delete(socket));
  };
  const authorized = (header: string | undefined) => {
    // Stryker disable next-line StringLiteral: any text that is not "basic …" is refused alike.
    const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? "");
    if (!match) return false;
    // Equal-length digests, so the comparison time says nothing about the secret.
    return timingSafeEqual(
      digest(Buffer.from(match[1]!, "base64").toString("utf8")),
      expectedCredentials,
    );
  };

  // The decrypted side: one http.Server that never listens, fed with each client TLS socket.
  const inner = http.createServer((req, res) => {
    const tunnel = tunnels.get(req.socket);
    // Stryker disable next-line all: only tunnel sockets are ever fed to this server.
    if (!tunnel) {
      res.writeHead(500).end();
      return;
    }
    void forwardIntercepted(req, res, tunnel);
  });
  // Deno's node:http closes a connection after one response on a server that is not listening;
  // claiming it listens keeps client connections alive.
  Object.defineProperty(inner, "listening", { get: () => true });
  inner.on("clientError", (_error, socket) => socket.destroy());

  async function forwardIntercepted(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    tunnel: Tunnel,
  ) {
    // Both are always set on a request the server has parsed.
    const method = req.method!;
    const target = parseTarget(req.url!);
    const path = target?.path ?? "/";
    const base = { host: tunnel.host, path, method };
    if (!target || (target.authority !== undefined && !sameAuthority(target.authority, tunnel))) {
      emit({ kind: "denied", ...base, detail: "bad request target" });
      return reply(req, res, 400, "authsome proxy: bad request target");
    }
    // Stryker disable next-line StringLiteral: any text without a valid host fails alike.
    if (!sameAuthority(req.headers.host ?? "", tunnel)) {
      // A Host other than the CONNECT host would carry the credential to a host not chosen for it.
      emit({ kind: "denied", ...base, detail: "Host header differs from the CONNECT host" });
      return reply(
        req,
        res,
        421,
        "authsome proxy: the Host header does not match the tunnel's host",
      );
    }
    let injected: Record<string, string> | undefined;
    try {
      injected = await options.headersFor({
        scheme: "https",
        host: tunnel.host,
        port: tunnel.port,
        path,
        method: method.toUpperCase(),
      });
    } catch (error) {
      if (error instanceof ProxyRefusal) {
        emit({
          kind: "denied",
          ...base,
          detail: `policy: ${String(error.body.rule ?? "refused")}`,
        });
        req.resume();
        res.writeHead(error.status, { "content-type": "application/json" });
        res.end(JSON.stringify(error.body) + "\n");
        return;
      }
      const message = error instanceof AuthsomeError
        ? error.message
        : "the credential could not be loaded";
      emit({ kind: "error", ...base, detail: `headers: ${message}` });
      return reply(req, res, 502, `authsome proxy: ${message}`);
    }
    const headers = forwardHeaders(req.rawHeaders);
    // Only the Host value checked above goes upstream, even if the client sent several.
    headers.host = req.headers.host!;
    if (injected) {
      // Stryker disable next-line MethodExpression: node:http sets header names case-insensitively.
      for (const [name, value] of Object.entries(injected)) headers[name.toLowerCase()] = value;
      emit({ kind: "inject", ...base });
    } else {
      emit({ kind: "pass", ...base, detail: "no credential for this request" });
    }
    let upstreamReq: http.ClientRequest;
    try {
      const upstream = resolveUpstream(tunnel.host, tunnel.port);
      upstreamReq = https.request({
        host: upstream.host,
        port: upstream.port,
        // Verify the upstream certificate against the host the client asked for.
        // Stryker disable next-line ObjectLiteral: node:https also takes the name from Host, set above.
        ...(net.isIP(tunnel.host) ? {} : { servername: tunnel.host }),
        method,
        path: target.pathAndQuery,
        headers,
        agent: httpsAgent,
      });
    } catch (error) {
      // E.g. an injected header value with a line break, refused by node:http.
      emit({ kind: "error", ...base, detail: `request: ${describe(error)}` });
      return reply(req, res, 502, "authsome proxy: the request could not be built");
    }
    relay(req, res, upstreamReq, base);
  }

  /** Streams the client request to upstream and the response back; 502 when upstream fails first. */
  function relay(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    upstreamReq: http.ClientRequest,
    base: { host: string; path: string; method: string },
  ) {
    let upstreamRes: http.IncomingMessage | undefined;
    let abandoned = false;
    const drop = () => {
      upstreamRes?.destroy();
      upstreamReq.destroy();
    };
    upstreamReq.on("response", (response) => {
      upstreamRes = response;
      if (abandoned) return drop();
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (!HOP_BY_HOP.has(name)) headers[name] = value;
      }
      res.writeHead(response.statusCode ?? 502, response.statusMessage, headers);
      // Send the head now: an event stream's client waits for it before the first event.
      res.flushHeaders();
      stream(response, res, response.headers["content-length"], () => res.destroy());
    });
    let failed = false;
    const fail = (error: unknown) => {
      if (abandoned || failed) return;
      failed = true;
      emit({ kind: "error", ...base, detail: `upstream: ${describe(error)}` });
      reply(req, res, 502, `authsome proxy: upstream failed: ${describe(error)}`);
    };
    upstreamReq.on("error", fail);
    // Deno's node:http reports no error when a kept-alive upstream connection closes before a
    // request that is not yet ended gets its response: the client would wait forever.
    upstreamReq.on("socket", (socket) => {
      const closedEarly = () => {
        if (!upstreamRes) fail(new Error("the connection closed before a response"));
      };
      socket.once("close", closedEarly);
      // A kept-alive socket serves many requests: each one's listener goes when it is done.
      upstreamReq.once("close", () => socket.off("close", closedEarly));
    });
    res.on("close", () => {
      if (res.writableFinished) return;
      abandoned = true;
      // Deno's node:http sends a request again when it is destroyed on a reused keep-alive socket
      // before its response arrives (denoland/deno#36786). A request sent in full is therefore
      // dropped only when its response begins, so the client's going away never duplicates it.
      if (upstreamRes || !upstreamReq.writableEnded) drop();
    });
    stream(req, upstreamReq, req.headers["content-length"], drop);
  }

  function connectHandler(req: http.IncomingMessage, socket: net.Socket, head: Buffer) {
    track(socket);
    socket.on("error", () => socket.destroy());
    const target = parseAuthority(req.url!);
    if (!authorized(req.headers["proxy-authorization"])) {
      emit({
        kind: "denied",
        host: target?.host ?? "",
        detail: "missing or wrong proxy credentials",
      });
      return rawReply(
        socket,
        407,
        "Proxy Authentication Required",
        "authsome proxy: authentication required",
        [
          'Proxy-Authenticate: Basic realm="authsome"',
        ],
      );
    }
    if (!target) {
      emit({ kind: "denied", host: "", detail: "bad CONNECT target" });
      return rawReply(socket, 400, "Bad Request", "authsome proxy: bad CONNECT target");
    }
    let decrypt: boolean;
    try {
      decrypt = options.shouldIntercept(target.host, target.port);
    } catch (error) {
      emit({ kind: "error", host: target.host, detail: `routing: ${describe(error)}` });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: routing failed");
    }
    if (decrypt) void intercept(socket, head, target);
    else tunnelThrough(socket, head, target);
  }

  async function intercept(socket: net.Socket, head: Buffer, tunnel: Tunnel) {
    let leaf;
    try {
      leaf = await issuer.issue(tunnel.host);
    } catch (error) {
      emit({ kind: "error", host: tunnel.host, detail: `certificate: ${describe(error)}` });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: cannot issue a certificate");
    }
    if (socket.destroyed) return;
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    // Deno starts no TLS on a socket wrapped in the same tick as the CONNECT event.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (head.length > 0) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem }),
    });
    track(tlsSocket);
    tunnels.set(tlsSocket, tunnel);
    tlsSocket.on("error", (error) => {
      emit({ kind: "error", host: tunnel.host, detail: `client TLS: ${describe(error)}` });
      tlsSocket.destroy();
    });
    inner.emit("connection", tlsSocket);
  }

  function tunnelThrough(socket: net.Socket, head: Buffer, target: Tunnel) {
    let upstreamSocket: net.Socket;
    try {
      const upstream = resolveUpstream(target.host, target.port);
      upstreamSocket = net.connect({ host: upstream.host, port: upstream.port });
    } catch (error) {
      emit({ kind: "error", host: target.host, detail: `tunnel: ${describe(error)}` });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: upstream failed");
    }
    track(upstreamSocket);
    let connected = false;
    upstreamSocket.once("connect", () => {
      connected = true;
      emit({ kind: "tunnel", host: target.host, detail: `port ${target.port}` });
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      // Stryker disable next-line ConditionalExpression,EqualityOperator: an empty write sends nothing.
      if (head.length > 0) upstreamSocket.write(head);
      socket.pipe(upstreamSocket);
      upstreamSocket.pipe(socket);
    });
    upstreamSocket.on("error", (error) => {
      if (connected) {
        socket.destroy();
      } else {
        emit({ kind: "error", host: target.host, detail: `tunnel: ${describe(error)}` });
        rawReply(socket, 502, "Bad Gateway", `authsome proxy: upstream failed: ${describe(error)}`);
      }
      upstreamSocket.destroy();
    });
    socket.on("close", () => upstreamSocket.destroy());
    upstreamSocket.on("close", () => socket.destroy());
  }

  /** Plain-HTTP absolute-form requests: forwarded as they are, never injected. */
  function requestHandler(req: http.IncomingMessage, res: http.ServerResponse) {
    const method = req.method!;
    let url: URL | undefined;
    try {
      // Stryker disable next-line Regex: a target that is not absolute throws in new URL().
      url = /^http:\/\//i.test(req.url!) ? new URL(req.url!) : undefined;
      // Stryker disable next-line BlockStatement: url is still undefined after the throw.
    } catch {
      url = undefined;
    }
    // Stryker disable next-line Regex: a URL's hostname has either both brackets or none.
    const host = url ? url.hostname.replace(/^\[|\]$/g, "").toLowerCase() : "";
    if (!authorized(req.headers["proxy-authorization"])) {
      emit({ kind: "denied", host, method, detail: "missing or wrong proxy credentials" });
      res.writeHead(407, {
        "proxy-authenticate": 'Basic realm="authsome"',
        "content-type": "text/plain; charset=utf-8",
      });
      res.end("authsome proxy: authentication required\n");
      return;
    }
    if (!url) {
      emit({ kind: "denied", host, method, detail: "not an absolute http:// URL" });
      return reply(req, res, 400, "authsome proxy: expected an absolute http:// URL");
    }
    const base = { host, path: url.pathname, method };
    emit({ kind: "pass", ...base, detail: "plain HTTP is never injected" });
    let upstreamReq: http.ClientRequest;
    try {
      const upstream = resolveUpstream(host, url.port ? Number(url.port) : 80);
      upstreamReq = http.request({
        host: upstream.host,
        port: upstream.port,
        method,
        path: url.pathname + url.search,
        headers: forwardHeaders(req.rawHeaders),
        agent: httpAgent,
      });
    } catch (error) {
      emit({ kind: "error", ...base, detail: `request: ${describe(error)}` });
      return reply(req, res, 502, "authsome proxy: the request could not be built");
    }
    relay(req, res, upstreamReq, base);
  }

  const server = http.createServer(requestHandler);
  server.on("connection", track);
  server.on("connect", connectHandler);
  server.on("clientError", (_error, socket) => socket.destroy());
  // Stryker disable all: listening on a fresh loopback port does not fail, and gives a TCP address.
  await new Promise<void>((resolve, reject) => {
    server.once(
      "error",
      (cause) => reject(new AuthsomeError("UNEXPECTED", "The proxy could not start", { cause })),
    );
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    server.close();
    throw new AuthsomeError("UNEXPECTED", "The proxy could not start: no TCP address");
  }
  // Stryker restore all
  const port = address.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Client sockets go; requests upstream end as explained in relay(), idle ones go now.
        for (const socket of sockets) socket.destroy();
        destroyIdle(httpsAgent);
        destroyIdle(httpAgent);
      });
      return closing;
    },
  };
}

/** Closes an agent's idle keep-alive sockets; agent.destroy() would also cut requests in flight. */
function destroyIdle(agent: http.Agent) {
  for (const idle of Object.values(agent.freeSockets)) {
    // Stryker disable next-line ArrayDeclaration: the agent never lists an undefined pool.
    for (const socket of idle ?? []) socket.destroy();
  }
}

/** The client's headers minus hop-by-hop ones and those the `Connection` header names. */
function forwardHeaders(rawHeaders: string[]): Record<string, string | string[]> {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "connection") {
      for (const token of rawHeaders[i + 1]!.split(",")) named.add(token.trim().toLowerCase());
    }
  }
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [previous, value];
  }
  return headers;
}

/** `host:port` of a CONNECT line; the host lower-case and without IPv6 brackets. */
function parseAuthority(authority: string): Tunnel | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(authority);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]!).toLowerCase(), port };
}

/** Does a Host header or URL authority name the tunnel's host (and port, when it gives one)? */
function sameAuthority(value: string, tunnel: Tunnel): boolean {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(value);
  if (!match) return false;
  const host = (match[1] ?? match[2]!).toLowerCase().replace(/\.$/, "");
  // Clients leave the port out when it is the scheme's default; some do so for any port.
  return host === tunnel.host && (match[3] === undefined || Number(match[3]) === tunnel.port);
}

/** The request target inside a tunnel: origin form, or absolute form (whose authority is checked). */
function parseTarget(
  url: string,
): { path: string; pathAndQuery: string; authority?: string } | undefined {
  if (url.startsWith("/")) {
    const path = url.split("?", 1)[0]!;
    return { path, pathAndQuery: url };
  }
  const match = /^https:\/\/([^/?#]+)([^#]*)$/i.exec(url);
  if (!match) return undefined;
  const rest = match[2]!;
  const pathAndQuery = rest.startsWith("/") ? rest : `/${rest}`;
  return { path: pathAndQuery.split("?", 1)[0]!, pathAndQuery, authority: match[1]! };
}

/** Answers with a one-line text; once a response has begun, cuts the connection instead. */
function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Deno's node:http stalls a kept-alive connection whose request body was never read.
  req.resume();
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(`${text}\n`);
}

/**
 * Streams one HTTP message body with back-pressure. The chunk that completes a declared
 * Content-Length is passed to end() rather than write(): Deno's node:http never finishes a message
 * whose last byte was written in an earlier tick than end(), and the kept-alive socket then hangs.
 */
function stream(
  from: Readable & { complete?: boolean },
  to: Writable,
  contentLength: string | undefined,
  abort: () => void,
) {
  // Stryker disable next-line all: node:http has refused a Content-Length that is not digits.
  let remaining = contentLength !== undefined && /^\d+$/.test(contentLength)
    ? Number(contentLength)
    : undefined;
  from.on("data", (chunk: Buffer) => {
    if (to.writableEnded) return;
    if (remaining !== undefined) {
      remaining -= chunk.length;
      if (remaining <= 0) return void to.end(chunk);
    }
    // Stryker disable next-line all: back-pressure only bounds memory; the bytes are the same.
    if (!to.write(chunk)) {
      from.pause();
      // Stryker disable next-line all: see above.
      to.once("drain", () => from.resume());
    }
  });
  from.on("end", () => {
    if (!to.writableEnded) to.end();
  });
  from.on("error", abort);
  from.on("close", () => {
    if (from.complete === false) abort();
  });
}

function rawReply(
  socket: net.Socket,
  status: number,
  reason: string,
  text: string,
  extra: string[] = [],
) {
  const body = `${text}\n`;
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    ...extra,
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${Buffer.byteLength(body)}`,
    "Connection: close",
  ];
  socket.end(`${head.join("\r\n")}\r\n\r\n${body}`);
}

function digest(text: string): Buffer {
  // Stryker disable next-line StringLiteral: utf8 is the default encoding.
  return createHash("sha256").update(text, "utf8").digest();
}

/** A one-line description of a network error, without anything from the request. */
function describe(error: unknown): string {
  // Stryker disable next-line StringLiteral: only an Error reaches here from node's sockets.
  return error instanceof Error ? error.message.split("\n", 1)[0]! : "unknown error";
}
