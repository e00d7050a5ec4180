/**
 * HTTP/1.1 framing over a Deno connection, for the proxy's decrypted side: read a message head,
 * tell how its body is framed (RFC 9112 §6), and copy a body through as it arrives, byte for byte,
 * knowing where it ends. Nothing here decodes a body or keeps one whole in memory.
 *
 * @module
 */
import { Buffer } from "node:buffer";

/** The most a message head may take (request or status line and every header line). */
export const MAX_HEAD_BYTES = 64 * 1024;

const CRLF2 = [13, 10, 13, 10] as const;

/** The part of a connection the reader needs: `Deno.Conn` and `Deno.TlsConn` both have it. */
export interface Readable {
  read(buffer: Uint8Array): Promise<number | null>;
  /**
   * The next bytes received, handed over whole (the reader keeps them; the connection never
   * changes them afterwards), or null at the end: saves a copy where the connection has them.
   */
  readChunk?(): Promise<Uint8Array | null>;
}

/** The part of a connection a writer needs. */
export interface Writable {
  write(bytes: Uint8Array): Promise<number>;
}

/** A connection as the proxy's decrypted side uses it (a `Deno.Conn` is one). */
export interface Conn extends Readable, Writable {
  close(): void;
}

/**
 * Buffered reads over a connection: a head up to its blank line, then body bytes as they come.
 *
 * @example
 * ```ts
 * import { ConnReader } from "./http1.ts";
 * const bytes = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
 * let given = false;
 * const reader = new ConnReader({
 *   read: (buffer) => {
 *     if (given) return Promise.resolve(null);
 *     given = true;
 *     buffer.set(bytes);
 *     return Promise.resolve(bytes.length);
 *   },
 * });
 * console.log(await reader.readHead()); // "GET / HTTP/1.1\r\nHost: a"
 * ```
 */
export class ConnReader {
  /** Bytes read from the connection and not yet taken. */
  #buffer: Uint8Array = new Uint8Array(0);
  #scratch = new Uint8Array(64 * 1024);
  /** A read started ahead of time (see {@linkcode ConnReader.watch}). */
  #pending: Promise<Uint8Array | null> | undefined;
  readonly conn: Readable;

  constructor(conn: Readable) {
    this.conn = conn;
  }

  /** How many bytes are buffered. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /**
   * Starts a read now and keeps it for the next {@linkcode ConnReader.take}: an idle kept-alive
   * connection learns at once that its peer closed it. Resolves true when the peer closed (or
   * the read failed) before anything was wanted from it.
   */
  watch(): Promise<boolean> {
    this.#pending ??= this.#read();
    return this.#pending.then((chunk) => chunk === null, () => true);
  }

  /** The next bytes from the connection, in an array of their own. */
  async #read(): Promise<Uint8Array | null> {
    if (this.conn.readChunk) return await this.conn.readChunk();
    const n = await this.conn.read(this.#scratch);
    return n === null ? null : this.#scratch.slice(0, n);
  }

  /** Reads once more from the connection into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    const pending = this.#pending;
    this.#pending = undefined;
    const chunk = await (pending ?? this.#read());
    if (chunk === null) return false;
    const n = chunk.length;
    if (this.#buffer.length === 0) {
      this.#buffer = chunk;
    } else {
      const joined = new Uint8Array(this.#buffer.length + n);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  /**
   * The next head without its blank line, as Latin-1 text; `null` when the stream ends before
   * a head starts. Throws {@linkcode FramingError} when it ends inside one or when the head is
   * longer than {@linkcode MAX_HEAD_BYTES}.
   */
  async readHead(): Promise<string | null> {
    let searched = 0;
    for (;;) {
      const at = indexOfBlankLine(this.#buffer, searched);
      if (at >= 0) {
        const head = latin1(this.#buffer.subarray(0, at));
        this.#buffer = this.#buffer.subarray(at + 4);
        return head;
      }
      if (this.#buffer.length > MAX_HEAD_BYTES) throw new FramingError("head too large");
      searched = Math.max(0, this.#buffer.length - 3);
      if (!(await this.#fill())) {
        if (this.#buffer.length === 0) return null;
        throw new FramingError("the stream ended inside a head");
      }
    }
  }

  /**
   * Up to `max` bytes: buffered ones first, else one read from the connection; `null` at the end
   * of the stream.
   */
  async take(max = Infinity): Promise<Uint8Array | null> {
    if (this.#buffer.length === 0 && !(await this.#fill())) return null;
    const n = Math.min(max, this.#buffer.length);
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Every buffered byte (possibly none), without reading. */
  drain(): Uint8Array {
    const out = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return out;
  }

  /** One line ending in CRLF, without it (a chunk-size line or a trailer line). */
  async line(limit = 8 * 1024): Promise<string> {
    let searched = 0;
    for (;;) {
      const at = this.#buffer.indexOf(10, searched);
      if (at >= 0) {
        if (at === 0 || this.#buffer[at - 1] !== 13) throw new FramingError("bare LF");
        const text = latin1(this.#buffer.subarray(0, at - 1));
        this.#buffer = this.#buffer.subarray(at + 1);
        return text;
      }
      if (this.#buffer.length > limit) throw new FramingError("line too long");
      searched = this.#buffer.length;
      if (!(await this.#fill())) throw new FramingError("the stream ended inside a body");
    }
  }
}

/** A message that breaks HTTP/1.1 framing: the connection it came on cannot be trusted further. */
export class FramingError extends Error {
  override name = "FramingError";
}

/** Where the blank line that ends a head begins, searching from `from`; -1 when not there yet. */
function indexOfBlankLine(buffer: Uint8Array, from: number): number {
  let at = buffer.indexOf(13, from);
  while (at >= 0 && at + 3 < buffer.length) {
    if (buffer[at + 1] === CRLF2[1] && buffer[at + 2] === CRLF2[2] && buffer[at + 3] === CRLF2[3]) {
      return at;
    }
    at = buffer.indexOf(13, at + 1);
  }
  return -1;
}

/** Bytes as Latin-1 text, one character per byte (header values may hold any octet). */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/**
 * Text to bytes, one byte per character (the inverse of how heads are read).
 *
 * @example
 * ```ts
 * import { encodeLatin1 } from "./http1.ts";
 * console.log(encodeLatin1("é").length); // 1
 * ```
 */
export function encodeLatin1(text: string): Uint8Array {
  return Buffer.from(text, "latin1");
}

/** A parsed head: the start line's three parts and the header lines as name/value pairs. */
export interface Head {
  /** Request: method, target, version. Response: version, status, reason. */
  start: [string, string, string];
  /** Header names as sent, values trimmed, in order. */
  headers: [string, string][];
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses a head read by {@linkcode ConnReader.readHead}; `undefined` when it is not HTTP/1.x
 * (a malformed start line, a header line without a colon, folded lines, a bad name).
 *
 * @example
 * ```ts
 * import { parseHead } from "./http1.ts";
 * const head = parseHead("GET /x HTTP/1.1\r\nHost: a.test", "request");
 * console.log(head?.start, head?.headers); // ["GET", "/x", "HTTP/1.1"] [["Host", "a.test"]]
 * ```
 */
export function parseHead(text: string, kind: "request" | "response"): Head | undefined {
  const lines = text.split("\r\n");
  const first = lines[0]!;
  let start: [string, string, string];
  if (kind === "request") {
    const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP\/1\.[01])$/.exec(first);
    if (!match) return undefined;
    start = [match[1]!, match[2]!, match[3]!];
  } else {
    const match = /^(HTTP\/1\.[01]) (\d{3})(?: (.*))?$/.exec(first);
    if (!match) return undefined;
    start = [match[1]!, match[2]!, match[3] ?? ""];
  }
  const headers: [string, string][] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return undefined;
    headers.push([name, value]);
  }
  return { start, headers };
}

/** How a body is framed. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * How the body of a message with these headers is framed (RFC 9112 §6.3); `undefined` when the
 * headers contradict each other in a way a smuggler would use: Content-Length together with
 * Transfer-Encoding, differing or invalid Content-Length values, or a transfer coding other than
 * a final `chunked`. A request without either has no body; a response without either runs to the
 * close of the connection.
 *
 * @example
 * ```ts
 * import { bodyFraming } from "./http1.ts";
 * console.log(bodyFraming([["Content-Length", "5"]], "request")); // { kind: "length", length: 5 }
 * console.log(bodyFraming([["Content-Length", "5"], ["Transfer-Encoding", "chunked"]], "request")); // undefined
 * ```
 */
export function bodyFraming(
  headers: [string, string][],
  kind: "request" | "response",
): Framing | undefined {
  let length: string | undefined;
  let coding: string | undefined;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === "content-length") {
      for (const part of value.split(",")) {
        const trimmed = part.trim();
        if (!/^\d{1,15}$/.test(trimmed)) return undefined;
        if (length !== undefined && length !== trimmed) return undefined;
        length = trimmed;
      }
    } else if (lower === "transfer-encoding") {
      coding = coding === undefined ? value : `${coding},${value}`;
    }
  }
  if (coding !== undefined) {
    if (length !== undefined) return undefined;
    const codings = coding.split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "");
    if (codings.at(-1) !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) {
      return undefined;
    }
    return { kind: "chunked" };
  }
  if (length !== undefined) {
    const n = Number(length);
    return n === 0 ? { kind: "none" } : { kind: "length", length: n };
  }
  return kind === "request" ? { kind: "none" } : { kind: "close" };
}

/**
 * Copies one body from `reader` to `write` as it arrives, unchanged (chunked bodies keep their
 * chunks and trailers), and resolves when the body is complete. Rejects with
 * {@linkcode FramingError} when the stream ends early or a chunk is malformed; a `close` body
 * ends with the stream. `rechunk` frames a `close` body as chunks instead (its receiver's
 * connection then stays usable).
 *
 * @example
 * ```ts
 * import { ConnReader, copyBody } from "./http1.ts";
 * const bytes = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\n");
 * let given = false;
 * const reader = new ConnReader({
 *   read: (buffer) => {
 *     if (given) return Promise.resolve(null);
 *     given = true;
 *     buffer.set(bytes);
 *     return Promise.resolve(bytes.length);
 *   },
 * });
 * let out = "";
 * await copyBody(reader, { kind: "chunked" }, (chunk) => {
 *   out += new TextDecoder().decode(chunk);
 *   return Promise.resolve();
 * });
 * console.log(JSON.stringify(out)); // "3\r\nabc\r\n0\r\n\r\n"
 * ```
 */
export async function copyBody(
  reader: ConnReader,
  framing: Framing,
  write: (bytes: Uint8Array) => Promise<void>,
  rechunk = false,
): Promise<void> {
  if (framing.kind === "none") return;
  if (framing.kind === "length") {
    let remaining = framing.length;
    while (remaining > 0) {
      const chunk = await reader.take(remaining);
      if (chunk === null) throw new FramingError("the stream ended inside a body");
      remaining -= chunk.length;
      await write(chunk);
    }
    return;
  }
  if (framing.kind === "close") {
    for (;;) {
      const chunk = await reader.take();
      if (chunk === null) break;
      if (rechunk) {
        await write(joinBytes(encodeLatin1(`${chunk.length.toString(16)}\r\n`), chunk, CRLF));
      } else {
        await write(chunk);
      }
    }
    if (rechunk) await write(encodeLatin1("0\r\n\r\n"));
    return;
  }
  // Pieces are gathered while the reader has bytes buffered and written together: a small
  // chunked body goes out in one write, not three per chunk.
  let pieces: Uint8Array[] = [];
  const put = async (piece: Uint8Array) => {
    pieces.push(piece);
    if (reader.buffered > 0) return;
    const joined = pieces.length === 1 ? pieces[0]! : joinBytes(...pieces);
    pieces = [];
    await write(joined);
  };
  for (;;) {
    const sizeLine = await reader.line();
    const match = /^([0-9A-Fa-f]{1,12})(?:[ \t]*;.*)?$/.exec(sizeLine);
    if (!match) throw new FramingError("bad chunk size");
    const size = parseInt(match[1]!, 16);
    if (size === 0) {
      // The last chunk, then trailer lines up to a blank one.
      let last = `${sizeLine}\r\n`;
      for (;;) {
        const trailer = await reader.line();
        last += `${trailer}\r\n`;
        if (trailer === "") break;
      }
      pieces.push(encodeLatin1(last));
      await write(joinBytes(...pieces));
      return;
    }
    await put(encodeLatin1(`${sizeLine}\r\n`));
    let remaining = size;
    while (remaining > 0) {
      const chunk = await reader.take(remaining);
      if (chunk === null) throw new FramingError("the stream ended inside a body");
      remaining -= chunk.length;
      await put(chunk);
    }
    if ((await reader.line(2)) !== "") throw new FramingError("bad chunk end");
    await put(CRLF);
  }
}

const CRLF = new Uint8Array([13, 10]);

/**
 * Several byte arrays as one.
 *
 * @example
 * ```ts
 * import { joinBytes } from "./http1.ts";
 * console.log(joinBytes(new Uint8Array([1]), new Uint8Array([2, 3]))); // Uint8Array(3) [1, 2, 3]
 * ```
 */
export function joinBytes(...parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const part of parts) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Writes every byte (a connection's write may take fewer than given).
 *
 * @example
 * ```ts ignore
 * import { writeAll } from "./http1.ts";
 * await writeAll(conn, new TextEncoder().encode("hello"));
 * ```
 */
export async function writeAll(conn: Writable, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/**
 * Closes a connection, ignoring that it may be closed already.
 *
 * @example
 * ```ts
 * import { closeQuietly } from "./http1.ts";
 * closeQuietly({ close: () => { throw new Error("already closed"); } }); // no throw
 * ```
 */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}
