/**
 * The yardstick of `bench/proxy_bench.ts`: the least a decrypting proxy of authsome's design does
 * in Deno (node:http server, a TLSSocket per CONNECT, a keep-alive https.Agent upstream, one
 * header set, bodies piped) and nothing else: no proxy authentication, no routing or Host checks,
 * no error handling. Not for use; it shows what the runtime allows on this machine.
 *
 * Args: the CA JSON file (`{certPem, keyPkcs8Pem}`) that signs its leaf, the upstream CA PEM file,
 * the host to decrypt, the header name and value. Listens on 127.0.0.1 port 0, prints
 * `{"port":N}`, and stops when its stdin closes.
 *
 * @module
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { createLeafIssuer } from "../proxy/certs.ts";

const [caFile, upstreamCaFile, host, headerName, headerValue] = Deno.args;
const leaf = await createLeafIssuer(JSON.parse(await Deno.readTextFile(caFile!))).issue(host!);
const context = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
const agent = new https.Agent({
  keepAlive: true,
  ca: [await Deno.readTextFile(upstreamCaFile!)],
});

const inner = http.createServer((req, res) => {
  const upstream = https.request({
    host: "127.0.0.1",
    port: Number(req.headers.host!.split(":")[1] ?? 443),
    servername: host,
    method: req.method,
    path: req.url,
    headers: { ...req.headers, [headerName!]: headerValue },
    agent,
  }, (response) => {
    res.writeHead(response.statusCode!, response.headers);
    response.pipe(res);
  });
  req.pipe(upstream);
});
// As in proxy/server.ts: Deno's node:http keeps connections alive only on a "listening" server.
Object.defineProperty(inner, "listening", { get: () => true });

const server = http.createServer();
server.on("connect", async (_req, socket) => {
  socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
  await new Promise((resolve) => setTimeout(resolve, 0));
  inner.emit("connection", new tls.TLSSocket(socket, { isServer: true, secureContext: context }));
});
server.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
});
for await (const _ of Deno.stdin.readable) {
  // nothing is sent; the loop ends at EOF
}
Deno.exit(0);
