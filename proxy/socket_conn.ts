/**
 * A node `Duplex` (a client's TLS socket) seen as the small part of `Deno.Conn` the proxy's
 * decrypted side uses: `read` into a buffer, `write` that waits only for back-pressure, `close`.
 *
 * The client's side is TLS served by node:tls over the CONNECT socket, not by a `Deno.listenTls`
 * listener: Deno's TLS listener cannot turn off Nagle's algorithm on the connections it accepts,
 * which held each small write of a stream (an event of an event stream) for up to 40 ms.
 *
 * @module
 */
import type { Duplex } from "node:stream";

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

  constructor(socket: Duplex) {
    this.socket = socket;
    const wake = () => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.();
    };
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      // Back-pressure: the socket waits while a read is not asked for.
      socket.pause();
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

  /** Reads into `buffer`: the number of bytes, or null at the end of the stream. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return null;
      this.socket.resume();
      await new Promise<void>((resolve) => this.#waiting = resolve);
    }
    const chunk = this.#chunks[0]!;
    if (chunk.length <= buffer.length) {
      this.#chunks.shift();
      buffer.set(chunk);
      return chunk.length;
    }
    buffer.set(chunk.subarray(0, buffer.length));
    this.#chunks[0] = chunk.subarray(buffer.length);
    return buffer.length;
  }

  /** Writes every byte; waits only when the socket asks for it (back-pressure). */
  async write(bytes: Uint8Array): Promise<number> {
    if (this.socket.destroyed) throw new Deno.errors.BrokenPipe("the client went away");
    // The socket may keep the array: a copy, since callers reuse their buffers.
    if (!this.socket.write(bytes.slice())) {
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
