/**
 * Sending one HTTPS request for `http_request`, the way the `run` proxy sends upstream: node:https
 * on a keep-alive agent, TLS verified against the built-in roots plus the certificates in
 * `NODE_EXTRA_CA_CERTS` and always against the requested host name, redirects never followed
 * here, the response body read up to a cap.
 *
 * @module
 */
import * as https from "node:https";
import * as net from "node:net";
import * as tls from "node:tls";

/** One request to send. */
export interface UpstreamRequest {
  /** An `https:` URL (checked by the caller). */
  url: URL;
  /** The method, upper-case. */
  method: string;
  /** Every header to send, credential included. */
  headers: Record<string, string>;
  /** The body, or undefined for none. */
  body: Uint8Array | undefined;
}

/** What came back. */
export interface UpstreamResponse {
  status: number;
  /** Response headers, lower-case names; repeated ones joined with `, ` (set-cookie: an array). */
  headers: Record<string, string | string[]>;
  /** The body, at most `limit` bytes of it. */
  body: Uint8Array;
  /** Whether the body went past the cap (the rest was not read). */
  truncated: boolean;
}

/** Sends requests; {@linkcode openUpstream} makes one. */
export interface Upstream {
  send(request: UpstreamRequest, limit: number, signal?: AbortSignal): Promise<UpstreamResponse>;
  /** Closes idle connections. */
  close(): void;
}

/** Options of {@linkcode openUpstream}. */
export interface UpstreamOptions {
  /** Extra CA certificates (PEM) trusted besides the built-in roots. */
  extraCa?: string[];
  /** Where to connect for host:port (tests map a name to 127.0.0.1); TLS still checks the name. */
  resolve?: (host: string, port: number) => { host: string; port: number };
  /** How long a request may take, in ms (default 30 s). */
  timeoutMs?: number;
}

/**
 * Opens a sender with its own keep-alive agent.
 *
 * @example
 * ```ts ignore
 * const upstream = openUpstream({ extraCa: [pem] });
 * const res = await upstream.send({ url: new URL("https://api.example.com/"), method: "GET",
 *   headers: {}, body: undefined }, 262_144);
 * upstream.close();
 * ```
 */
export function openUpstream(options: UpstreamOptions = {}): Upstream {
  // Node's `ca` replaces the built-in roots rather than adding to them, so both are given.
  const ca = options.extraCa?.length ? [...tls.rootCertificates, ...options.extraCa] : undefined;
  const agent = new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) });
  const resolve = options.resolve ?? ((host, port) => ({ host, port }));
  const timeoutMs = options.timeoutMs ?? 30_000;
  return {
    send(request, limit, signal) {
      const host = request.url.hostname.replace(/^\[|\]$/g, "");
      const port = Number(request.url.port || 443);
      const target = resolve(host, port);
      return new Promise((fulfil, reject) => {
        const req = https.request({
          agent,
          host: target.host,
          port: target.port,
          method: request.method,
          path: request.url.pathname + request.url.search,
          headers: { ...request.headers, host: request.url.host },
          ...(net.isIP(host) ? {} : { servername: host }),
          timeout: timeoutMs,
          ...(signal ? { signal } : {}),
        }, (res) => {
          const chunks: Uint8Array[] = [];
          let kept = 0;
          const finish = (truncated: boolean) => {
            const body = new Uint8Array(kept);
            let at = 0;
            for (const c of chunks) {
              body.set(c, at);
              at += c.length;
            }
            const headers: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) headers[name] = value;
            }
            fulfil({ status: res.statusCode ?? 0, headers, body, truncated });
          };
          res.on("data", (chunk: Uint8Array) => {
            if (kept + chunk.length <= limit) {
              chunks.push(chunk);
              kept += chunk.length;
              return;
            }
            // Past the cap: keep what fits and stop reading (the connection is dropped).
            chunks.push(chunk.subarray(0, limit - kept));
            kept = limit;
            finish(true);
            res.destroy();
          });
          res.on("end", () => finish(false));
          res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
        req.on("error", reject);
        req.end(request.body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
