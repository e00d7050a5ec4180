/**
 * The legitimate client of the `hostile` part, in a worker (its own event loop). On `init` it
 * makes one untimed request through the proxy and answers `ready`; on `start` it sends requests
 * with the right secret (CONNECT, TLS, GET) one after another, timing each, until `stop`, then
 * answers `{latencies, failures}`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { proxyAuth, throughTunnel } from "./wire.ts";

interface Target {
  port: number;
  secret: string;
  caPem: string;
}

let target: Target | undefined;
let stopped = false;

self.onmessage = async (event: MessageEvent) => {
  const message = event.data as { init?: Target; start?: true; stop?: true };
  if (message.init) {
    target = message.init;
    await once();
    self.postMessage("ready");
  } else if (message.start) {
    stopped = false;
    const latencies: number[] = [];
    let failures = 0;
    while (!stopped) {
      const started = performance.now();
      if (await once()) latencies.push(performance.now() - started);
      else failures++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    self.postMessage({ latencies, failures });
  } else if (message.stop) {
    stopped = true;
  }
};

/** One request through the proxy; whether it was answered 200 "ok". */
async function once(): Promise<boolean> {
  const to = {
    port: target!.port,
    auth: proxyAuth(target!.secret),
    caPem: target!.caPem,
    authority: "api.acme.test:443",
  };
  const answer = await throughTunnel(
    to,
    "GET /v1/legit HTTP/1.1\r\nHost: api.acme.test\r\nx-stress-legit: 1\r\nConnection: close\r\n\r\n",
  ).catch(() => undefined);
  return answer?.status === 200;
}
