/**
 * The HTTPS upstream of `bench/proxy_bench.ts`, run as its own process so that it never shares an
 * event loop with the proxy under test. Listens on 127.0.0.1, port 0, with the certificate and key
 * in the PEM files given as arguments, and prints `{"port":N}` on stdout once it listens. It stops
 * when its stdin closes (the bench ends or dies).
 *
 * - `GET /sse`: an event stream, one event at once and then one every 100 ms, five in all.
 * - anything else: `200 ok` when the `x-acme-key` header equals `BENCH_KEY` (from the
 *   environment), else `401 no key`, so the bench can check that each proxy injected the header.
 *
 * Run: `deno run -A bench/proxy_upstream.ts CERT.pem KEY.pem` (the bench does it).
 *
 * @module
 */
const [certFile, keyFile] = Deno.args;
const key = Deno.env.get("BENCH_KEY") ?? "";
const encoder = new TextEncoder();

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  cert: await Deno.readTextFile(certFile!),
  key: await Deno.readTextFile(keyFile!),
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
}, (request) => {
  if (request.headers.get("x-acme-key") !== key) return new Response("no key", { status: 401 });
  if (new URL(request.url).pathname !== "/sse") return new Response("ok");
  let timer: ReturnType<typeof setInterval> | undefined;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = () => {
        controller.enqueue(encoder.encode(`data: event ${sent++}\n\n`));
        if (sent === 5) {
          clearInterval(timer);
          controller.close();
        }
      };
      send();
      timer = setInterval(send, 100);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
});

// Stop when the bench closes our stdin.
for await (const _ of Deno.stdin.readable) {
  // nothing is sent; the loop ends at EOF
}
await server.shutdown();
