/**
 * A node `Duplex` (a client's TLS socket) seen as the small part of `Deno.Conn` the proxy's
 * decrypted side uses: `read` into a buffer, `write` that waits only for back-pressure, `close`.
 * Bytes given to `write` must not be changed afterwards (the socket may still hold them).
 *
 * The client's side is TLS served by node:tls over the CONNECT socket, not by a `Deno.listenTls`
 * listener: Deno's TLS listener cannot turn off Nagle's algorithm on the connections it accepts,
 * which held each small write of a stream (an event of an event stream) for up to 40 ms.
 *
 * @module
 */
import type { Duplex } from "node:stream";

/** The most received bytes kept before the socket is paused. */
const HIGH_WATER = 1024 * 1024;

/**
 * Adapts a node socket for `serveDecrypted`.
 *
 * @example
 * ```ts
 * import { PassThrough } from "node:stream";
 * import { SocketConn } from "./socket_conn.ts";
 * const socket = new PassThrough();
 * const conn = new SocketConn(socket);
 * socket.end("hello");
 * const buffer = new Uint8Array(16);
 * console.log(await conn.read(buffer)); // 5
 * ```
 */
export class SocketConn {
  readonly socket: Duplex;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #waiting: (() => void) | undefined;
  /** Bytes received and not yet read. */
  #queued = 0;

  constructor(socket: Duplex) {
    this.socket = socket;
    const wake = () => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.();
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      // Back-pressure: the socket waits while a megabyte is not read.
      if (this.#queued > HIGH_WATER) socket.pause();
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error) => {
      this.#error ??= error;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
  }

  /** Waits for a chunk: true when one is queued, false at the end of the stream. */
  async #arrived(): Promise<boolean> {
    while (this.#chunks.length === 0) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return false;
      if (this.socket.isPaused()) this.socket.resume();
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
    return true;
  }

  /** Reads into `buffer`: the number of bytes, or null at the end of the stream. */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (!(await this.#arrived())) return null;
    const chunk = this.#chunks[0]!;
    const n = Math.min(chunk.length, buffer.length);
    buffer.set(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    this.#queued -= n;
    if (this.#queued <= HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return n;
  }

  /** The next chunk received, whole; null at the end of the stream. */
  async readChunk(): Promise<Uint8Array | null> {
    if (!(await this.#arrived())) return null;
    const chunk = this.#chunks.shift()!;
    this.#queued -= chunk.length;
    if (this.#queued <= HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return chunk;
  }

  /** Writes every byte; waits only when the socket asks for it (back-pressure). */
  async write(bytes: Uint8Array): Promise<number> {
    if (this.socket.destroyed) throw new Deno.errors.BrokenPipe("the client went away");
    // The socket may keep the array until it is sent: callers never change what they wrote.
    if (!this.socket.write(bytes)) {
      await new Promise<void>((resolve, reject) => {
        const done = () => {
          this.socket.off("drain", done);
          this.socket.off("close", done);
          if (this.socket.destroyed) reject(new Deno.errors.BrokenPipe("the client went away"));
          else resolve();
        };
        this.socket.on("drain", done);
        this.socket.on("close", done);
      });
    }
    return bytes.length;
  }

  /** Ends the stream for writing (the peer sees its end). */
  closeWrite(): void {
    this.socket.end();
  }

  /** Destroys the socket. */
  close(): void {
    this.socket.destroy();
  }
}
