/**
 * Kept-alive upstream TLS connections of the proxy's decrypted side, per host and port. An idle
 * connection keeps a read pending, so one its server closes leaves the pool at once instead of
 * failing the next request sent on it.
 *
 * @module
 */
import { closeQuietly as close, ConnReader } from "./http1.ts";

/** An upstream connection and its reader. */
export interface UpstreamConn {
  conn: Deno.Conn;
  reader: ConnReader;
  /** Where it leads: `host:port` as the client asked. */
  key: string;
  /** True when it came from the pool (it may have been closed by its server meanwhile). */
  reused: boolean;
}

/** How to open a new connection for a key. */
export type Connect = () => Promise<Deno.Conn>;

/** The most idle connections kept per key. */
const MAX_IDLE_PER_KEY = 32;

/**
 * A pool of idle upstream connections.
 *
 * @example
 * ```ts ignore
 * import { UpstreamPool } from "./upstream_pool.ts";
 * const pool = new UpstreamPool();
 * const upstream = await pool.acquire("api.acme.test:443", () => Deno.connectTls({ hostname: "api.acme.test", port: 443 }));
 * // … a request and its whole response …
 * pool.release(upstream);
 * pool.close();
 * ```
 */
export class UpstreamPool {
  #idle = new Map<string, Set<UpstreamConn>>();
  #open = new Set<Deno.Conn>();
  #closed = false;

  /** An idle connection for `key`, or a new one from `connect`. */
  async acquire(key: string, connect: Connect): Promise<UpstreamConn> {
    const idle = this.#idle.get(key);
    if (idle) {
      for (const upstream of idle) {
        idle.delete(upstream);
        return { ...upstream, reused: true };
      }
    }
    const conn = await connect();
    if (this.#closed) {
      close(conn);
      throw new Error("the proxy is closing");
    }
    this.#open.add(conn);
    return { conn, reader: new ConnReader(conn), key, reused: false };
  }

  /** Gives a connection whose response was read whole back to the pool. */
  release(upstream: UpstreamConn): void {
    if (this.#closed || upstream.reader.buffered > 0) return this.discard(upstream);
    let idle = this.#idle.get(upstream.key);
    if (!idle) this.#idle.set(upstream.key, idle = new Set());
    if (idle.size >= MAX_IDLE_PER_KEY) return this.discard(upstream);
    const entry = { ...upstream, reused: true };
    idle.add(entry);
    // Anything that arrives on an idle connection (its server closing it, or bytes it should not
    // send) ends its time in the pool.
    void upstream.reader.watch().then(() => {
      if (idle.delete(entry)) this.discard(entry);
    });
  }

  /** Closes a connection that cannot be reused. */
  discard(upstream: UpstreamConn): void {
    this.#open.delete(upstream.conn);
    close(upstream.conn);
  }

  /** Closes every connection, idle or in use; later acquires fail. */
  close(): void {
    this.#closed = true;
    for (const conn of this.#open) close(conn);
    this.#open.clear();
    this.#idle.clear();
  }

  /** Idle connections, for tests and close(). */
  get idleCount(): number {
    let n = 0;
    for (const idle of this.#idle.values()) n += idle.size;
    return n;
  }
}
