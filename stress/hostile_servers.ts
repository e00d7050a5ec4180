/**
 * The servers the `hostile` part attacks, in a process of their own (so the attack and the
 * measurement do not share their event loop): the `run` proxy (with a TLS upstream for
 * `api.acme.test` that records what reaches it), the login form, the OAuth callback and the
 * device page, all on 127.0.0.1 port 0. Prints one JSON line with their addresses, then answers
 * `stats` on stdin with one JSON line, and stops on `close` or when stdin ends.
 *
 * @module
 */
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { startProxy } from "../proxy/server.ts";
import { startFormServer } from "../providers/input_form.ts";
import { startCallbackServer } from "../providers/callback_server.ts";
import { startDevicePage } from "../providers/device_page.ts";

/** The header value the proxy injects for `api.acme.test`: a canary no hostile request may carry upstream. */
export const INJECTED = `Bearer sk-hostileCanary${crypto.randomUUID().replaceAll("-", "")}`;

/** What the servers report on `stats`. */
export interface ServerStats {
  /** Requests that reached the upstream, by marker: legit or hostile, and with the credential. */
  upstream: { legit: number; hostile: number; hostileInjected: number; unmarkedInjected: number };
  /** The values of the accepted form submission, when there was one. */
  form: Record<string, string> | null;
  /** The parameters of the callback the callback server took, when there was one. */
  callback: Record<string, string> | null;
}

async function serve(): Promise<void> {
  const upstreamCa = await createCa({ commonName: "authsome stress upstream CA" });
  const proxyCa = await createCa({ commonName: "authsome stress proxy CA" });
  const leaf = await createLeafIssuer(upstreamCa).issue("api.acme.test");
  const stats: ServerStats = {
    upstream: { legit: 0, hostile: 0, hostileInjected: 0, unmarkedInjected: 0 },
    form: null,
    callback: null,
  };
  const upstream = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: leaf.certPem,
    key: leaf.keyPem,
    onListen: () => {},
  }, async (req) => {
    const injected = req.headers.get("authorization") === INJECTED;
    if (req.headers.has("x-stress-legit")) stats.upstream.legit++;
    else if (req.headers.has("x-stress-hostile")) {
      stats.upstream.hostile++;
      if (injected) stats.upstream.hostileInjected++;
    } else if (injected) stats.upstream.unmarkedInjected++;
    await req.body?.cancel();
    return new Response("ok");
  });
  const plain = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("plain"),
  );
  const secret = crypto.randomUUID();
  const proxy = await startProxy({
    secret,
    ca: proxyCa,
    leaves: createLeafIssuer(proxyCa),
    shouldIntercept: (host) => host === "api.acme.test",
    headersFor: () => Promise.resolve({ authorization: INJECTED }),
    resolveUpstream: (host, port) => {
      if (host === "api.acme.test") return { host: "127.0.0.1", port: upstream.addr.port };
      if (host === "plain.test") return { host: "127.0.0.1", port: plain.addr.port };
      return { host: "127.0.0.1", port: port === 0 ? 1 : 1 };
    },
    upstreamCa: [upstreamCa.certPem],
  });
  const form = startFormServer({
    request: {
      title: "Log in to Acme",
      provider: "Acme",
      fields: [{ name: "api_key", label: "API key", secret: true, required: true }],
    },
    timeoutMs: 600_000,
  });
  form.waitForSubmit().then((values) => stats.form = values, () => {});
  const state = crypto.randomUUID();
  const callback = await startCallbackServer({ port: 0, timeoutMs: 600_000, expectedState: state });
  callback.waitForCallback().then(
    (params) => stats.callback = Object.fromEntries(params),
    () => {},
  );
  const device = startDevicePage({
    provider: "Acme",
    user_code: "WDJB-MJHT",
    verification_uri: "https://auth.acme.test/device",
    expires_in: 600,
  });
  console.log(JSON.stringify({
    proxyPort: proxy.port,
    secret,
    proxyCaPem: proxyCa.certPem,
    formUrl: form.url,
    callbackUrl: callback.redirectUri,
    state,
    deviceUrl: device.url,
    injected: INJECTED,
  }));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buffer = "";
  outer: for await (const chunk of lines) {
    buffer += chunk;
    for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
      const command = buffer.slice(0, at).trim();
      buffer = buffer.slice(at + 1);
      if (command === "stats") console.log(JSON.stringify(stats));
      if (command === "close") break outer;
    }
  }
  await Promise.allSettled([
    proxy.close(),
    form.close(),
    callback.close(),
    device.close(),
    upstream.shutdown(),
    plain.shutdown(),
  ]);
  Deno.exit(0);
}

if (import.meta.main) await serve();
