import assert from "node:assert/strict";
import {
  bodyFraming,
  ConnReader,
  copyBody,
  encodeLatin1,
  FramingError,
  MAX_HEAD_BYTES,
  parseHead,
} from "./http1.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reader over fixed pieces, one per read, then the end of the stream. */
function readerOf(...pieces: string[]): ConnReader {
  const queue = pieces.map((piece) => encoder.encode(piece));
  return new ConnReader({
    read(buffer) {
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      if (next.length > buffer.length) queue.unshift(next.subarray(buffer.length));
      const piece = next.subarray(0, buffer.length);
      buffer.set(piece);
      return Promise.resolve(piece.length);
    },
  });
}

async function copied(
  reader: ConnReader,
  framing: Parameters<typeof copyBody>[1],
  rechunk = false,
) {
  let out = "";
  await copyBody(reader, framing, (bytes) => {
    out += decoder.decode(bytes);
    return Promise.resolve();
  }, rechunk);
  return out;
}

Deno.test("http1: framing refuses what a smuggler would send", () => {
  const framing = (...headers: [string, string][]) => bodyFraming(headers, "request");
  assert.deepEqual(framing(["Content-Length", "5"]), { kind: "length", length: 5 });
  assert.deepEqual(framing(["content-length", "5, 5"]), { kind: "length", length: 5 });
  assert.deepEqual(framing(["Content-Length", "0"]), { kind: "none" });
  assert.deepEqual(framing(), { kind: "none" });
  assert.deepEqual(bodyFraming([], "response"), { kind: "close" });
  assert.deepEqual(framing(["Transfer-Encoding", "gzip, chunked"]), { kind: "chunked" });
  assert.deepEqual(framing(["Transfer-Encoding", "CHUNKED"]), { kind: "chunked" });
  for (
    const headers of [
      [["Content-Length", "5"], ["Transfer-Encoding", "chunked"]],
      [["Transfer-Encoding", "chunked"], ["Content-Length", "5"]],
      [["Content-Length", "5"], ["Content-Length", "6"]],
      [["Content-Length", "5, 6"]],
      [["Content-Length", "-1"]],
      [["Content-Length", "0x10"]],
      [["Content-Length", ""]],
      [["Transfer-Encoding", "chunked, gzip"]],
      [["Transfer-Encoding", "chunked"], ["Transfer-Encoding", "chunked"]],
      [["Transfer-Encoding", "identity"]],
    ] as [string, string][][]
  ) {
    assert.equal(framing(...headers), undefined, JSON.stringify(headers));
  }
});

Deno.test("http1: heads are parsed strictly, and a head past the limit is refused", async () => {
  assert.deepEqual(parseHead("POST /x?y HTTP/1.1\r\nA: 1\r\nb:2 ", "request"), {
    start: ["POST", "/x?y", "HTTP/1.1"],
    headers: [["A", "1"], ["b", "2"]],
  });
  assert.deepEqual(parseHead("HTTP/1.1 204", "response")?.start, ["HTTP/1.1", "204", ""]);
  for (
    const bad of [
      "GET /x HTTP/2.0",
      "GET  /x HTTP/1.1",
      "GET /x HTTP/1.1\r\nNo colon",
      "GET /x HTTP/1.1\r\n folded: yes",
      "GET /x HTTP/1.1\r\nBad Name: 1",
      "GET /x HTTP/1.1\r\n: empty",
    ]
  ) assert.equal(parseHead(bad, "request"), undefined, bad);
  assert.equal(parseHead("HTTP/1.1 20 OK", "response"), undefined);

  // A head may arrive in pieces; the blank line may be split across them.
  const split = readerOf("GET / HTTP/1.1\r\nHost: a\r", "\n\r", "\nbody");
  assert.equal(await split.readHead(), "GET / HTTP/1.1\r\nHost: a");
  assert.equal(decoder.decode((await split.take())!), "body");
  assert.equal(await readerOf().readHead(), null);
  // Header bytes outside ASCII survive the round trip byte for byte (read as Latin-1).
  const raw = new Uint8Array([...encoder.encode("GET / HTTP/1.1\r\nX: "), 0xe9, 0x80, 0xff]);
  const odd = new ConnReader({
    read: (buffer) => {
      if (buffer.length === 0) return Promise.resolve(null);
      buffer.set([...raw, 13, 10, 13, 10]);
      return Promise.resolve(raw.length + 4);
    },
  });
  assert.deepEqual([...encodeLatin1((await odd.readHead())!)], [...raw]);
  await assert.rejects(readerOf("GET / HTTP/1.1\r\n").readHead(), FramingError);
  const huge = readerOf(`GET / HTTP/1.1\r\nX: ${"a".repeat(MAX_HEAD_BYTES)}`, "\r\n\r\n");
  await assert.rejects(huge.readHead(), /head too large/);
});

Deno.test("http1: bodies are copied byte for byte and end where their framing says", async () => {
  const chunked = "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n";
  const reader = readerOf(chunked.slice(0, 7), chunked.slice(7), "NEXT");
  assert.equal(await copied(reader, { kind: "chunked" }), chunked);
  assert.equal(decoder.decode((await reader.take())!), "NEXT", "bytes after the body are kept");
  assert.equal(await copied(readerOf("hello world"), { kind: "length", length: 5 }), "hello");
  assert.equal(await copied(readerOf("ab", "cd"), { kind: "close" }), "abcd");
  assert.equal(
    await copied(readerOf("ab", "cde"), { kind: "close" }, true),
    "2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n",
  );
  for (
    const [bytes, framing] of [
      ["abc", { kind: "length", length: 5 }],
      ["3\r\nabc\r\n", { kind: "chunked" }],
      ["zz\r\nabc\r\n0\r\n\r\n", { kind: "chunked" }],
      ["3\r\nabcX\r\n0\r\n\r\n", { kind: "chunked" }],
      ["3\nabc\r\n0\r\n\r\n", { kind: "chunked" }],
    ] as const
  ) {
    await assert.rejects(copied(readerOf(bytes), framing), FramingError, JSON.stringify(bytes));
  }
});
