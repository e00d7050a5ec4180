/**
 * Raw HTTP/1.1 over TCP for the `hostile` part: requests with exactly the bytes an attacker
 * chooses (a forged `Host`, both `Content-Length` and `Transfer-Encoding`, huge heads), the
 * first status line read back, and a CONNECT tunnel with TLS inside.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What one exchange gave: the status (0 when the server closed or kept silent) and the head. */
export interface Answer {
  status: number;
  head: string;
  /** The body bytes that came with the head (up to the read limit). */
  body: string;
}

/**
 * Writes `request` and reads up to the end of the first response head (0 when the server closes
 * first, or says nothing within `limitMs`).
 *
 * @example
 * ```ts ignore
 * import { exchange } from "./wire.ts";
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: 8080 });
 * const answer = await exchange(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
 * ```
 */
export async function exchange(
  conn: Deno.Conn,
  request: string | Uint8Array,
  limitMs = 10_000,
): Promise<Answer> {
  const bytes = typeof request === "string" ? encoder.encode(request) : request;
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  } catch {
    // The server may close before the whole request is written (a refused huge body).
  }
  return await readHead(conn, limitMs);
}

/** Reads until the end of a response head; status 0 on close, error or silence. */
export async function readHead(conn: Deno.Conn, limitMs = 10_000): Promise<Answer> {
  let text = "";
  const chunk = new Uint8Array(16384);
  const deadline = Date.now() + limitMs;
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      return { status, head: text.slice(0, end), body: text.slice(end + 4) };
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const silence = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), Math.max(1, deadline - Date.now()));
    });
    let n: number | null;
    try {
      n = await Promise.race([conn.read(chunk), silence]);
    } catch {
      n = null;
    } finally {
      clearTimeout(timer);
    }
    if (n === null) return { status: 0, head: text, body: "" };
    text += decoder.decode(chunk.subarray(0, n));
  }
}

/**
 * Opens a TCP connection to 127.0.0.1:`port`, runs `fn` on it, and closes it.
 *
 * @example
 * ```ts ignore
 * import { exchange, withConn } from "./wire.ts";
 * const answer = await withConn(8080, (conn) => exchange(conn, "GET / HTTP/1.1\r\n\r\n"));
 * ```
 */
export async function withConn<T>(port: number, fn: (conn: Deno.Conn) => Promise<T>): Promise<T> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    return await fn(conn);
  } finally {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

/** `Proxy-Authorization` for `secret`, as the child's proxy URL gives it. */
export function proxyAuth(secret: string): string {
  return `Basic ${btoa(`authsome:${secret}`)}`;
}

/**
 * CONNECT to `authority` through the proxy, TLS inside (trusting `caPem`), then `request`; the
 * answer of the CONNECT when it is not 200, else the answer inside the tunnel.
 *
 * @example
 * ```ts ignore
 * import { throughTunnel } from "./wire.ts";
 * const a = await throughTunnel({ port, auth, caPem, authority: "api.acme.test:443" }, "GET / HTTP/1.1\r\nHost: api.acme.test\r\n\r\n");
 * ```
 */
export async function throughTunnel(
  to: { port: number; auth: string | undefined; caPem: string; authority: string },
  request: string,
  limitMs = 10_000,
): Promise<Answer & { tunnelled: boolean }> {
  return await withConn(to.port, async (conn) => {
    const auth = to.auth === undefined ? "" : `Proxy-Authorization: ${to.auth}\r\n`;
    const connect = await exchange(
      conn,
      `CONNECT ${to.authority} HTTP/1.1\r\nHost: ${to.authority}\r\n${auth}\r\n`,
      limitMs,
    );
    if (connect.status !== 200) return { ...connect, tunnelled: false };
    const tls = await Deno.startTls(conn as Deno.TcpConn, {
      hostname: to.authority.replace(/:\d+$/, ""),
      caCerts: [to.caPem],
    });
    try {
      return { ...(await exchange(tls, request, limitMs)), tunnelled: true };
    } finally {
      try {
        tls.close();
      } catch { /* closed already */ }
    }
  });
}
