/**
 * The local proxy that `authsome run` puts in front of its child. It accepts only clients that
 * present the per-run secret, decrypts CONNECT tunnels to the hosts it is told to (TLS terminated
 * in-process with a leaf from authsome's CA), adds the auth header and forwards each request over
 * verified HTTPS, streaming bodies both ways. Every other CONNECT is tunnelled untouched, and plain
 * HTTP is forwarded but never injected.
 *
 * Which host is decrypted and which headers a request gets are decided by the caller
 * (`shouldIntercept`, `headersFor`); this file only moves bytes. A decrypted WebSocket upgrade
 * gets its headers the same way, then its frames are relayed untouched both ways. Each request
 * or tunnel ends in one {@linkcode ProxyEvent}.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import net from "node:net";
import tls from "node:tls";
import type { Readable, Writable } from "node:stream";
import { AuthsomeError } from "../errors.ts";
import type { CertificateAuthority, LeafCertificate, LeafIssuer } from "./certs.ts";
import {
  type ClientRequest,
  type Decision,
  describe,
  type Outcome,
  serveDecrypted,
  since,
  type Tunnel,
  UnroutableRequest,
} from "./decrypted.ts";
import { SocketConn } from "./socket_conn.ts";
import { UpstreamPool } from "./upstream_pool.ts";

/**
 * What the proxy did with one request or tunnel, emitted once when its answer begins (a
 * forwarded request: when the upstream's response head arrives). It never carries a header
 * value, a body or a query string.
 */
export interface ProxyEvent {
  /**
   * `inject`: headers were added; `pass`: a decrypted or plain-HTTP request was forwarded unchanged;
   * `tunnel`: a CONNECT was relayed untouched; `denied`: refused (proxy credentials, misdirected
   * request, bad request line, policy); `error`: upstream or TLS failure.
   */
  kind: "inject" | "pass" | "tunnel" | "denied" | "error";
  /** The target host. */
  host: string;
  /** The request path without its query, when there is a request. */
  path?: string;
  /** The request method, when there is a request. */
  method?: string;
  /** The status the client got (the upstream's, or the proxy's own answer); absent when none. */
  status?: number;
  /** Milliseconds from the request (or CONNECT) to its answer, to 0.1 ms. */
  ms: number;
  /** The provider whose credential was injected (or whose policy refused). */
  provider?: string;
  /** The connection whose credential was injected (or that was asked for and refused). */
  connection?: string;
  /** Why, in a few words. */
  detail?: string;
}

/**
 * The request header a client sends to pick the connection of the provider its request is routed
 * to; it is never forwarded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONNECTION_HEADER } from "./server.ts";
 * assert.equal(CONNECTION_HEADER, "x-authsome-connection");
 * ```
 */
export const CONNECTION_HEADER = "x-authsome-connection";

/**
 * What {@linkcode ProxyOptions.headersFor} may resolve with to name whose credential the headers
 * are, for the request's {@linkcode ProxyEvent}; a plain header record works too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Injection } from "./server.ts";
 * const injection = new Injection({ authorization: "Bearer …" }, "github", "work");
 * assert.equal(injection.connection, "work");
 * ```
 */
export class Injection {
  /** The headers to set (replacing what the client sent). */
  readonly headers: Record<string, string>;
  /** The provider they belong to. */
  readonly provider: string;
  /** The connection they belong to. */
  readonly connection: string;
  constructor(headers: Record<string, string>, provider: string, connection: string) {
    this.headers = headers;
    this.provider = provider;
    this.connection = connection;
  }
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
  /** The HTTP status the client gets. */
  readonly status: number;
  /** The JSON body (never a secret); its `rule` member, when present, is audited. */
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super(`refused: ${String(body.rule ?? status)}`);
    this.status = status;
    this.body = body;
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
  /** The connection the client asked for with {@linkcode CONNECTION_HEADER}, when it did. */
  connection?: string;
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
   * For a decrypted request: the headers to set (replacing what the client sent), as they are or
   * as an {@linkcode Injection}, or `undefined` to forward it unchanged. A
   * {@linkcode ProxyRefusal} answers with its status and JSON body; any other rejection answers
   * with 502: an {@linkcode AuthsomeError}'s message (never a secret) is shown to the client, any
   * other error as a fixed text.
   */
  headersFor(
    request: InterceptedRequest,
  ): Promise<Record<string, string> | Injection | undefined>;
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

/**
 * Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1, plus proxy auth and
 * the client's choice of connection).
 */
const HOP_BY_HOP = new Set([
  CONNECTION_HEADER,
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

const TEXT = "text/plain; charset=utf-8";

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
  const pool = new UpstreamPool();
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

  /**
   * What a decrypted request (or upgrade request) becomes: checked against its tunnel, then
   * refused with an answer, or forwarded with these headers (the injected ones set).
   */
  async function decide(req: ClientRequest, tunnel: Tunnel): Promise<Decision> {
    const method = req.method;
    const target = parseTarget(req.target);
    const path = target?.path ?? "/";
    const base = { host: tunnel.host, path, method };
    if (!target || (target.authority !== undefined && !sameAuthority(target.authority, tunnel))) {
      return refusal(400, "authsome proxy: bad request target", {
        kind: "denied",
        ...base,
        detail: "bad request target",
      });
    }
    // Only the first Host counts (and goes upstream), as node:http reads it.
    const hostHeader = firstHeader(req.headers, "host");
    // Stryker disable next-line StringLiteral: any text without a valid host fails alike.
    if (!sameAuthority(hostHeader ?? "", tunnel)) {
      // A Host other than the CONNECT host would carry the credential to a host not chosen for it.
      return refusal(421, "authsome proxy: the Host header does not match the tunnel's host", {
        kind: "denied",
        ...base,
        detail: "Host header differs from the CONNECT host",
      });
    }
    const asked = firstHeader(req.headers, CONNECTION_HEADER);
    let injected: Record<string, string> | Injection | undefined;
    try {
      injected = await options.headersFor({
        scheme: "https",
        host: tunnel.host,
        port: tunnel.port,
        path,
        method: method.toUpperCase(),
        ...(asked !== undefined ? { connection: asked } : {}),
      });
    } catch (error) {
      if (error instanceof ProxyRefusal) {
        const { body } = error;
        return {
          forward: false,
          status: error.status,
          contentType: "application/json",
          body: JSON.stringify(body) + "\n",
          event: {
            kind: "denied",
            ...base,
            ...(typeof body.provider === "string" ? { provider: body.provider } : {}),
            ...(typeof body.connection === "string" ? { connection: body.connection } : {}),
            detail: body.rule !== undefined
              ? `policy: ${String(body.rule)}`
              : `refused: ${String(body.error ?? error.status)}`,
          },
        };
      }
      const message = error instanceof AuthsomeError
        ? error.message
        : "the credential could not be loaded";
      return refusal(502, `authsome proxy: ${message}`, {
        kind: "error",
        ...base,
        detail: `headers: ${message}`,
      });
    }
    const headers = forwardHeaders(req.headers.flat());
    // Only the Host value checked above goes upstream, even if the client sent several.
    headers.host = hostHeader!;
    const pathAndQuery = target.pathAndQuery;
    if (injected === undefined) {
      return {
        forward: true,
        headers,
        pathAndQuery,
        event: { kind: "pass", ...base, detail: "no credential for this request" },
      };
    }
    const named = injected instanceof Injection ? injected : undefined;
    // Stryker disable next-line MethodExpression: header names are compared lower-case upstream.
    for (const [name, value] of Object.entries(named?.headers ?? injected)) {
      headers[name.toLowerCase()] = value;
    }
    const whose = named ? { provider: named.provider, connection: named.connection } : {};
    return { forward: true, headers, pathAndQuery, event: { kind: "inject", ...base, ...whose } };
  }

  /** A new TLS connection to a decrypted tunnel's host, verified against the name asked for. */
  async function connectUpstream(tunnel: Tunnel): Promise<Deno.Conn> {
    let upstream: { host: string; port: number };
    try {
      upstream = resolveUpstream(tunnel.host, tunnel.port);
    } catch (error) {
      throw new UnroutableRequest(describe(error), { cause: error });
    }
    const tcp = await Deno.connect({ hostname: upstream.host, port: upstream.port });
    tcp.setNoDelay(true);
    const conn = await Deno.startTls(tcp, {
      hostname: tunnel.host,
      ...(options.upstreamCa?.length ? { caCerts: options.upstreamCa } : {}),
    });
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  }

  const decryptedContext = {
    decide,
    emit,
    pool,
    connectUpstream,
    hopByHop: HOP_BY_HOP,
  };

  /** Streams the client request to upstream and the response back; 502 when upstream fails first. */
  function relay(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    upstreamReq: http.ClientRequest,
    event: Outcome,
    started: number,
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
      emit({ ...event, status: response.statusCode!, ms: since(started) });
      const headers: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (!HOP_BY_HOP.has(name)) headers[name] = value;
      }
      res.writeHead(response.statusCode!, response.statusMessage, headers);
      stream(response, res, response.headers["content-length"], () => res.destroy());
      // The head goes out with the first body bytes, one write instead of two (a separate write of
      // the head cost a sixth of the proxy's busy time). A response whose body is not there by the
      // next turn of the event loop (an event stream that waits before its first event) gets its
      // head now: its client waits for it.
      const flush = setImmediate(() => {
        if (!res.writableEnded && !res.destroyed) res.flushHeaders();
      });
      response.once("data", () => clearImmediate(flush));
      response.once("end", () => clearImmediate(flush));
    });
    let failed = false;
    const fail = (error: unknown) => {
      if (abandoned || failed) return;
      failed = true;
      const detail = `upstream: ${describe(error)}`;
      emit({ ...event, kind: "error", status: 502, ms: since(started), detail });
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
      if (!upstreamRes && !failed) {
        const detail = "the client went away before the response";
        emit({ ...event, kind: "error", ms: since(started), detail });
      }
      // Deno's node:http sends a request again when it is destroyed on a reused keep-alive socket
      // before its response arrives (denoland/deno#36786). A request sent in full is therefore
      // dropped only when its response begins, so the client's going away never duplicates it.
      if (upstreamRes || !upstreamReq.writableEnded) drop();
    });
    stream(req, upstreamReq, req.headers["content-length"], drop);
  }

  function connectHandler(req: http.IncomingMessage, socket: net.Socket, head: Buffer) {
    const started = performance.now();
    track(socket);
    socket.on("error", () => socket.destroy());
    const target = parseAuthority(req.url!);
    if (!authorized(req.headers["proxy-authorization"])) {
      emit({
        kind: "denied",
        host: target?.host ?? "",
        status: 407,
        ms: since(started),
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
      emit({
        kind: "denied",
        host: "",
        status: 400,
        ms: since(started),
        detail: "bad CONNECT target",
      });
      return rawReply(socket, 400, "Bad Request", "authsome proxy: bad CONNECT target");
    }
    let decrypt: boolean;
    try {
      decrypt = options.shouldIntercept(target.host, target.port);
    } catch (error) {
      const detail = `routing: ${describe(error)}`;
      emit({ kind: "error", host: target.host, status: 502, ms: since(started), detail });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: routing failed");
    }
    if (decrypt) void intercept(socket, head, target, started);
    else tunnelThrough(socket, head, target, started);
  }

  // A TLS context per host, made again only when the issuer hands out another leaf: making one
  // parses the key and certificate (0.3-0.9 ms), on every CONNECT before.
  const contexts = new Map<string, { certPem: string; context: tls.SecureContext }>();
  function contextFor(host: string, leaf: LeafCertificate): tls.SecureContext {
    const cached = contexts.get(host);
    if (cached?.certPem === leaf.certPem) return cached.context;
    const context = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
    contexts.set(host, { certPem: leaf.certPem, context });
    return context;
  }

  async function intercept(socket: net.Socket, head: Buffer, tunnel: Tunnel, started: number) {
    let leaf;
    try {
      leaf = await issuer.issue(tunnel.host);
    } catch (error) {
      const detail = `certificate: ${describe(error)}`;
      emit({ kind: "error", host: tunnel.host, status: 502, ms: since(started), detail });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: cannot issue a certificate");
    }
    if (socket.destroyed) return;
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    // Deno starts no TLS on a socket wrapped in the same tick as the CONNECT event.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (head.length > 0) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: contextFor(tunnel.host, leaf),
    });
    track(tlsSocket);
    // The CONNECT socket is a real TCP socket: its small writes (an event of a stream) go at once.
    socket.setNoDelay(true);
    void serveDecrypted(new SocketConn(tlsSocket), () => tunnel, decryptedContext);
  }

  function tunnelThrough(socket: net.Socket, head: Buffer, target: Tunnel, started: number) {
    let upstreamSocket: net.Socket;
    try {
      const upstream = resolveUpstream(target.host, target.port);
      upstreamSocket = net.connect({ host: upstream.host, port: upstream.port });
    } catch (error) {
      const detail = `tunnel: ${describe(error)}`;
      emit({ kind: "error", host: target.host, status: 502, ms: since(started), detail });
      return rawReply(socket, 502, "Bad Gateway", "authsome proxy: upstream failed");
    }
    track(upstreamSocket);
    let connected = false;
    upstreamSocket.once("connect", () => {
      connected = true;
      const detail = `port ${target.port}`;
      emit({ kind: "tunnel", host: target.host, status: 200, ms: since(started), detail });
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
        const detail = `tunnel: ${describe(error)}`;
        emit({ kind: "error", host: target.host, status: 502, ms: since(started), detail });
        rawReply(socket, 502, "Bad Gateway", `authsome proxy: upstream failed: ${describe(error)}`);
      }
      upstreamSocket.destroy();
    });
    socket.on("close", () => upstreamSocket.destroy());
    upstreamSocket.on("close", () => socket.destroy());
  }

  /** Plain-HTTP absolute-form requests: forwarded as they are, never injected. */
  function requestHandler(req: http.IncomingMessage, res: http.ServerResponse) {
    const started = performance.now();
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
      const detail = "missing or wrong proxy credentials";
      emit({ kind: "denied", host, method, status: 407, ms: since(started), detail });
      res.writeHead(407, {
        "proxy-authenticate": 'Basic realm="authsome"',
        "content-type": "text/plain; charset=utf-8",
      });
      res.end("authsome proxy: authentication required\n");
      return;
    }
    if (!url) {
      const detail = "not an absolute http:// URL";
      emit({ kind: "denied", host, method, status: 400, ms: since(started), detail });
      return reply(req, res, 400, "authsome proxy: expected an absolute http:// URL");
    }
    const event: Outcome = {
      kind: "pass",
      host,
      path: url.pathname,
      method,
      detail: "plain HTTP is never injected",
    };
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
      const detail = `request: ${describe(error)}`;
      emit({ ...event, kind: "error", status: 502, ms: since(started), detail });
      return reply(req, res, 502, "authsome proxy: the request could not be built");
    }
    relay(req, res, upstreamReq, event, started);
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
        pool.close();
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

/** The first value of a header (case-insensitive name) among header lines. */
function firstHeader(headers: [string, string][], name: string): string | undefined {
  for (const [key, value] of headers) if (key.toLowerCase() === name) return value;
  return undefined;
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
  answer(req, res, status, TEXT, `${text}\n`);
}

/** Answers with `body`; once a response has begun, cuts the connection instead. */
function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: string,
) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // Deno's node:http stalls a kept-alive connection whose request body was never read.
  req.resume();
  res.writeHead(status, { "content-type": contentType });
  res.end(body);
}

/** A refused decrypted request: its answer is a one-line text. */
function refusal(status: number, text: string, event: Outcome): Decision {
  return { forward: false, status, contentType: TEXT, body: `${text}\n`, event };
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
