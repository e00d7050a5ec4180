/**
 * The proxy's decrypted side: the HTTP/1.1 requests a client sends inside a decrypted tunnel,
 * each decided (refused, or forwarded with the credential set), sent upstream on a kept-alive
 * TLS connection, and answered with the upstream's response as it streams. Bodies are copied
 * byte for byte (`http1.ts`); nothing waits for a whole body.
 *
 * The client's side is its TLS socket (node:tls over the CONNECT socket, seen through
 * `SocketConn`); the upstream is a `Deno.startTls` connection from `UpstreamPool`.
 * This is where the time per request goes, so the hot path is short: one head parse, one write
 * of the request head (with the body when it is already there), one of the response head (with
 * the first body bytes).
 *
 * @module
 */
import { STATUS_CODES } from "node:http";
import {
  bodyFraming,
  closeQuietly,
  type Conn,
  ConnReader,
  copyBody,
  encodeLatin1,
  type Framing,
  FramingError,
  joinBytes,
  parseHead,
  writeAll,
} from "./http1.ts";
import type { UpstreamConn, UpstreamPool } from "./upstream_pool.ts";

/** A decrypted tunnel: the host and port the client asked for in its CONNECT. */
export interface Tunnel {
  host: string;
  port: number;
}

/** An event of the proxy (the `ProxyEvent` of `server.ts`), before its status and time. */
export interface Outcome {
  kind: "inject" | "pass" | "tunnel" | "denied" | "error";
  host: string;
  path?: string;
  method?: string;
  provider?: string;
  connection?: string;
  detail?: string;
}

/** What a decrypted request becomes: refused with this answer, or forwarded with these headers. */
export type Decision =
  | { forward: false; status: number; contentType: string; body: string; event: Outcome }
  | {
    forward: true;
    headers: Record<string, string | string[]>;
    pathAndQuery: string;
    event: Outcome;
  };

/** A request as the client sent it, for the decision. */
export interface ClientRequest {
  method: string;
  /** The request target as sent (origin or absolute form). */
  target: string;
  /** Header lines as sent, in order. */
  headers: [string, string][];
}

/** What the decrypted side needs from the proxy around it. */
export interface DecryptedContext {
  /** Refuses or forwards a request (the checks, the routing, the credential). */
  decide(request: ClientRequest, tunnel: Tunnel): Promise<Decision>;
  /** Reports what happened to a request. */
  emit(event: Outcome & { status?: number; ms: number }): void;
  /** Kept-alive upstream connections. */
  pool: UpstreamPool;
  /** Opens a new verified TLS connection to the tunnel's host. */
  connectUpstream(tunnel: Tunnel): Promise<Deno.Conn>;
  /** Headers that are never forwarded (lower-case). */
  hopByHop: ReadonlySet<string>;
}

const TEXT = "text/plain; charset=utf-8";
const EMPTY = new Uint8Array(0);
/** Methods a request may be sent again for when a reused connection closed under it (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/**
 * Serves the requests of one decrypted client connection until it closes, or until a request
 * breaks HTTP/1.1 framing (the connection is then cut without an answer).
 *
 * @example
 * ```ts ignore
 * import { serveDecrypted } from "./decrypted.ts";
 * void serveDecrypted(new SocketConn(tlsSocket), () => tunnel, context);
 * ```
 */
export async function serveDecrypted(
  conn: Conn,
  tunnelOf: () => Tunnel | undefined,
  ctx: DecryptedContext,
): Promise<void> {
  const client = new ConnReader(conn);
  const opened = performance.now();
  let served = 0;
  try {
    for (;;) {
      let text: string | null;
      try {
        text = await client.readHead();
      } catch (error) {
        const tunnel = tunnelOf();
        if (served === 0 && !(error instanceof FramingError) && tunnel) {
          const detail = `client TLS: ${describe(error)}`;
          ctx.emit({ kind: "error", host: tunnel.host, ms: since(opened), detail });
        }
        return;
      }
      const tunnel = tunnelOf();
      if (text === null || tunnel === undefined) return;
      const head = parseHead(text, "request");
      const framing = head && bodyFraming(head.headers, "request");
      if (!head || !framing) return;
      served++;
      const [method, target, version] = head.start;
      const keepAlive = clientKeepsAlive(version, head.headers);
      const request = { method, target, headers: head.headers };
      const started = performance.now();
      const decision = await ctx.decide(request, tunnel);
      if (isUpgrade(head.headers)) {
        await forwardUpgrade(conn, client, request, decision, tunnel, ctx, started);
        return;
      }
      if (!decision.forward) {
        ctx.emit({ ...decision.event, status: decision.status, ms: since(started) });
        // The body is read and dropped, so the connection can serve the next request.
        await copyBody(client, framing, () => Promise.resolve());
        await writeAll(
          conn,
          answer(decision.status, decision.contentType, decision.body, keepAlive),
        );
        if (!keepAlive) return;
        continue;
      }
      const next = await forward(conn, client, request, framing, decision, tunnel, ctx, started);
      if (!next || !keepAlive) return;
    }
  } catch {
    // A client that went away, or bytes that are not HTTP: the connection ends.
  } finally {
    closeQuietly(conn);
  }
}

/**
 * Sends one request upstream and its response back. Resolves true when the client connection
 * can serve another request.
 */
async function forward(
  conn: Conn,
  client: ConnReader,
  request: ClientRequest,
  framing: Framing,
  decision: Extract<Decision, { forward: true }>,
  tunnel: Tunnel,
  ctx: DecryptedContext,
  started: number,
): Promise<boolean> {
  const fail = async (error: unknown, what: string, text: string): Promise<boolean> => {
    const detail = `${what}: ${describe(error)}`;
    ctx.emit({ ...decision.event, kind: "error", status: 502, ms: since(started), detail });
    await copyBody(client, framing, () => Promise.resolve());
    await writeAll(conn, answer(502, TEXT, `${text}\n`, true));
    return true;
  };
  let head: Uint8Array;
  try {
    head = requestHead(request.method, decision.pathAndQuery, decision.headers, framing);
  } catch (error) {
    return await fail(error, "request", "authsome proxy: the request could not be built");
  }
  const key = `${tunnel.host}:${tunnel.port}`;
  // A request without a body can be sent again on a new connection when a reused one turns out
  // to be closed before any answer: its server closed it while it sat idle.
  const replayable = framing.kind === "none" && IDEMPOTENT.has(request.method.toUpperCase());
  let upstream: UpstreamConn | undefined;
  let responseText: string | null = null;
  let sending: Promise<unknown> = Promise.resolve();
  for (let attempt = 0;; attempt++) {
    try {
      upstream = await ctx.pool.acquire(key, () => ctx.connectUpstream(tunnel));
    } catch (error) {
      if (error instanceof UnroutableRequest) {
        return await fail(error, "request", "authsome proxy: the request could not be built");
      }
      return await fail(
        error,
        "upstream",
        `authsome proxy: upstream failed: ${describe(error)}`,
      );
    }
    const target = upstream;
    // The head goes with the body bytes already here: one write for a small request.
    const firstBody = framing.kind === "length" && client.buffered > 0
      ? await client.take(framing.length)
      : EMPTY;
    const sent = firstBody?.length ?? 0;
    sending = writeAll(target.conn, joinBytes(head, firstBody ?? EMPTY)).then(() =>
      copyBody(
        client,
        framing.kind === "length" ? { kind: "length", length: framing.length - sent } : framing,
        (bytes) => writeAll(target.conn, bytes),
      )
    );
    // A client that leaves mid-request takes the upstream request down with it.
    sending.catch(() => ctx.pool.discard(target));
    try {
      responseText = await readResponseHead(target, conn, client, sending);
    } catch (error) {
      ctx.pool.discard(target);
      if (error instanceof ClientGone) return clientGone(decision, ctx, started);
      responseText = null;
      if (!(error instanceof FramingError) && !(error instanceof Deno.errors.BadResource)) {
        return await fail(
          error,
          "upstream",
          `authsome proxy: upstream failed: ${describe(error)}`,
        );
      }
    }
    if (responseText !== null) break;
    ctx.pool.discard(target);
    if (!(target.reused && replayable && attempt === 0)) {
      const error = new Error("the connection closed before a response");
      return await fail(error, "upstream", `authsome proxy: upstream failed: ${error.message}`);
    }
  }
  const response = parseHead(responseText, "response");
  const status = Number(response?.start[1]);
  const bodyless = request.method.toUpperCase() === "HEAD" || status === 204 || status === 304;
  const responseFraming = bodyless
    ? { kind: "none" as const }
    : response && bodyFraming(response.headers, "response");
  if (!response || !responseFraming) {
    ctx.pool.discard(upstream);
    const error = new Error("the response was not valid HTTP/1.1");
    return await fail(error, "upstream", `authsome proxy: upstream failed: ${error.message}`);
  }
  ctx.emit({ ...decision.event, status, ms: since(started) });
  // The client's connection stays usable unless its response runs to the close of upstream's.
  let out = `HTTP/1.1 ${response.start[1]} ${response.start[2]}`.trimEnd() + "\r\n";
  let upstreamKeepsAlive = response.start[0] === "HTTP/1.1";
  for (const [name, value] of response.headers) {
    const lower = name.toLowerCase();
    if (lower === "connection") {
      if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) upstreamKeepsAlive = false;
      if (/(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) {
        upstreamKeepsAlive ||= response.start[0] === "HTTP/1.0";
      }
    }
    if (ctx.hopByHop.has(lower)) continue;
    out += `${name}: ${value}\r\n`;
  }
  const rechunk = responseFraming.kind === "close";
  if (responseFraming.kind === "chunked" || rechunk) out += "Transfer-Encoding: chunked\r\n";
  let pendingHead: Uint8Array | undefined = encodeLatin1(out + "\r\n");
  const toClient = async (bytes: Uint8Array) => {
    if (pendingHead) {
      bytes = joinBytes(pendingHead, bytes);
      pendingHead = undefined;
    }
    await writeAll(conn, bytes);
  };
  try {
    // An event stream's head goes now: its first event may be a while.
    if (responseFraming.kind === "none" || upstream.reader.buffered === 0) await toClient(EMPTY);
    const target = upstream;
    let clientClosed = false;
    let complete = false;
    // The client leaving mid-response (its read ends) ends the upstream request too; once the
    // response is whole, the upstream connection is no longer this request's to close.
    void sending.then(() => client.watch(), () => false).then((closed) => {
      if (closed && !complete) {
        clientClosed = true;
        ctx.pool.discard(target);
      }
    });
    await copyBody(upstream.reader, responseFraming, toClient, rechunk);
    complete = true;
    if (clientClosed) return false;
  } catch {
    // Cut short upstream (the client's response is cut short too), or the client went away.
    ctx.pool.discard(upstream);
    return false;
  }
  const requestSent = await sending.then(() => true, () => false);
  if (upstreamKeepsAlive && requestSent && !rechunk) ctx.pool.release(upstream);
  else ctx.pool.discard(upstream);
  return requestSent;
}

/**
 * Thrown by `connectUpstream` when the request cannot be sent anywhere (the upstream's address
 * could not be worked out): the client gets "the request could not be built".
 *
 * @example
 * ```ts
 * import { UnroutableRequest } from "./decrypted.ts";
 * console.log(new UnroutableRequest("no route").message); // "no route"
 * ```
 */
export class UnroutableRequest extends Error {
  override name = "UnroutableRequest";
}

/** Thrown when the client leaves before its response begins. */
class ClientGone extends Error {}

/**
 * The upstream's final response head (1xx interim ones are passed to the client on the way);
 * `null` when the connection closed before one. Rejects with ClientGone when the client closes
 * first.
 */
async function readResponseHead(
  upstream: UpstreamConn,
  conn: Conn,
  client: ConnReader,
  sending: Promise<unknown>,
): Promise<string | null> {
  // Once the request is sent whole, the client's connection is watched: a client that closes it
  // while waiting for the answer has gone.
  const watching = sending.then(() => client.watch(), () => true);
  const gone: Promise<never> = watching.then((closed) =>
    closed ? Promise.reject(new ClientGone()) : new Promise(() => {})
  );
  gone.catch(() => {});
  for (;;) {
    const text = await Promise.race([upstream.reader.readHead(), gone]);
    if (text === null) return null;
    const status = /^HTTP\/1\.[01] (1\d\d)\b/.exec(text)?.[1];
    if (status === undefined || status === "101") return text;
    // 100 Continue and other interim answers go to the client as they are.
    await writeAll(conn, encodeLatin1(`${text}\r\n\r\n`));
  }
}

/** The event of a request whose client left before its answer; the connection ends. */
function clientGone(
  decision: Extract<Decision, { forward: true }>,
  ctx: DecryptedContext,
  started: number,
): boolean {
  const detail = "the client went away before the response";
  ctx.emit({ ...decision.event, kind: "error", ms: since(started), detail });
  return false;
}

/**
 * An upgrade request (a WebSocket): sent upstream with the injected headers on a connection of
 * its own; after the upstream's 101, bytes flow both ways untouched until either side closes. An
 * upstream that answers otherwise has its answer passed on, then both close.
 */
async function forwardUpgrade(
  conn: Conn,
  client: ConnReader,
  request: ClientRequest,
  decision: Decision,
  tunnel: Tunnel,
  ctx: DecryptedContext,
  started: number,
): Promise<void> {
  if (!decision.forward) {
    ctx.emit({ ...decision.event, status: decision.status, ms: since(started) });
    await writeAll(conn, answer(decision.status, decision.contentType, decision.body, false));
    return;
  }
  const upgrade = request.headers.find(([name]) => name.toLowerCase() === "upgrade")?.[1] ?? "";
  let head: Uint8Array;
  try {
    head = requestHead(
      request.method,
      decision.pathAndQuery,
      {
        ...decision.headers,
        connection: "Upgrade",
        upgrade,
      },
      { kind: "none" },
      false,
    );
  } catch (error) {
    const detail = `request: ${describe(error)}`;
    ctx.emit({ ...decision.event, kind: "error", status: 502, ms: since(started), detail });
    const text = "authsome proxy: the request could not be built\n";
    await writeAll(conn, answer(502, TEXT, text, false));
    return;
  }
  let upstream: Deno.Conn;
  try {
    upstream = await ctx.connectUpstream(tunnel);
  } catch (error) {
    if (error instanceof UnroutableRequest) {
      const detail = `request: ${describe(error)}`;
      ctx.emit({ ...decision.event, kind: "error", status: 502, ms: since(started), detail });
      const text = "authsome proxy: the request could not be built\n";
      await writeAll(conn, answer(502, TEXT, text, false));
      return;
    }
    const detail = `upstream: ${describe(error)}`;
    ctx.emit({ ...decision.event, kind: "error", status: 502, ms: since(started), detail });
    const text = `authsome proxy: upstream failed: ${describe(error)}\n`;
    await writeAll(conn, answer(502, TEXT, text, false));
    return;
  }
  try {
    const reader = new ConnReader(upstream);
    await writeAll(upstream, joinBytes(head, client.drain()));
    const text = await reader.readHead();
    const response = text === null ? undefined : parseHead(text, "response");
    if (!response) throw new Error("the connection closed before a response");
    const status = Number(response.start[1]);
    ctx.emit({ ...decision.event, status, ms: since(started) });
    if (status === 101) {
      await writeAll(conn, joinBytes(encodeLatin1(`${text}\r\n\r\n`), reader.drain()));
      await Promise.allSettled([pump(client, upstream), pump(reader, conn)]);
      return;
    }
    let out = `HTTP/1.1 ${response.start[1]} ${response.start[2]}`.trimEnd() + "\r\n";
    for (const [name, value] of response.headers) {
      if (!ctx.hopByHop.has(name.toLowerCase())) out += `${name}: ${value}\r\n`;
    }
    // Without Transfer-Encoding the body ends where the connection does.
    await writeAll(conn, encodeLatin1(`${out}Connection: close\r\n\r\n`));
    const framing = bodyFraming(response.headers, "response") ?? { kind: "close" as const };
    await copyBody(
      reader,
      framing.kind === "chunked" ? { kind: "close" } : framing,
      (bytes) => writeAll(conn, bytes),
    );
  } catch (error) {
    const detail = `upstream: ${describe(error)}`;
    ctx.emit({ ...decision.event, kind: "error", status: 502, ms: since(started), detail });
    const text = `authsome proxy: upstream failed: ${describe(error)}\n`;
    await writeAll(conn, answer(502, TEXT, text, false)).catch(() => {});
  } finally {
    closeQuietly(upstream);
  }
}

/** Copies bytes from a reader to a connection until either side ends; then ends the other. */
async function pump(from: ConnReader, to: Conn): Promise<void> {
  try {
    for (;;) {
      const chunk = await from.take();
      if (chunk === null) break;
      await writeAll(to, chunk);
    }
  } catch {
    // either side went away
  }
  closeQuietly(to);
  closeQuietly(from.conn as Conn);
}

/**
 * The request head sent upstream: the request line, the forwarded headers (checked: a line
 * break in a value would split the head), `Connection: keep-alive`, and the body's framing.
 */
function requestHead(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string | string[]>,
  framing: Framing,
  keepAlive = true,
): Uint8Array {
  let out = `${method} ${pathAndQuery} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\0\r\n]/.test(one)) {
        throw new TypeError(`Invalid header: ${name}`);
      }
      out += `${name}: ${one}\r\n`;
    }
  }
  if (keepAlive) out += "Connection: keep-alive\r\n";
  if (framing.kind === "chunked") out += "Transfer-Encoding: chunked\r\n";
  return encodeLatin1(out + "\r\n");
}

/** Does the client keep its connection for another request? */
function clientKeepsAlive(version: string, headers: [string, string][]): boolean {
  const connection = headers.filter(([name]) => name.toLowerCase() === "connection")
    .map(([, value]) => value.toLowerCase()).join(",");
  if (/(?:^|,)\s*close\s*(?:,|$)/.test(connection)) return false;
  return version === "HTTP/1.1" || /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection);
}

/** A request that asks to switch protocols: `Connection: upgrade` and an `Upgrade` header. */
function isUpgrade(headers: [string, string][]): boolean {
  let connection = false;
  let upgrade = false;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "connection" && /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(value)) connection = true;
    if (lower === "upgrade" && value !== "") upgrade = true;
  }
  return connection && upgrade;
}

/** A complete answer of the proxy's own. */
function answer(status: number, contentType: string, body: string, keepAlive: boolean) {
  const bytes = new TextEncoder().encode(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`.trimEnd(),
    `Content-Type: ${contentType}`,
    `Content-Length: ${bytes.length}`,
    ...(keepAlive ? [] : ["Connection: close"]),
  ];
  return joinBytes(encodeLatin1(`${head.join("\r\n")}\r\n\r\n`), bytes);
}

/**
 * Milliseconds since `started` (a `performance.now()`), to 0.1 ms: the `ms` of a proxy event.
 *
 * @example
 * ```ts
 * import { since } from "./decrypted.ts";
 * console.log(since(performance.now()) >= 0); // true
 * ```
 */
export function since(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/**
 * A one-line description of a network error, without anything from the request.
 *
 * @example
 * ```ts
 * import { describe } from "./decrypted.ts";
 * console.log(describe(new Error("refused\nmore"))); // "refused"
 * ```
 */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message.split("\n", 1)[0]! : "unknown error";
}
