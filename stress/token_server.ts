/**
 * A small OAuth 2.0 authorization server on 127.0.0.1 for the adversarial suite: the device
 * authorization grant (approved at once, so `authsome login acme --flow device_code` needs no
 * browser) and the refresh grant, which rotates the refresh token on every use and counts how often
 * each one was presented. A refresh token presented a second time is a reuse: the suite's
 * "no refresh token spent twice" rule reads {@linkcode TokenServer.reuses}.
 *
 * @module
 */

/** Options of {@linkcode startTokenServer}. */
export interface TokenServerOptions {
  /**
   * How a spent refresh token is answered: `refuse` (400 `invalid_grant`, as strict servers do)
   * or `grace` (honoured again, as servers with a reuse grace do: a client killed between the
   * token response and its save can still refresh). Reuses are counted either way. Default refuse.
   */
  reuse?: "refuse" | "grace";
  /** Lifetime of access tokens in seconds (default 60: due for a refresh at every use). */
  accessTokenTTL?: number;
}

/** A running token server. */
export interface TokenServer {
  /** `http://127.0.0.1:PORT`. */
  origin: string;
  /** The device authorization endpoint. */
  deviceUrl: string;
  /** The token endpoint. */
  tokenUrl: string;
  /** Refresh grants answered with new tokens. */
  refreshes(): number;
  /** Refresh tokens presented more than once (each extra presentation counts). */
  reuses(): number;
  /** Whether `token` is an access token this server issued. */
  issuedAccess(token: string): boolean;
  /**
   * The newest tokens issued for the login that `refreshToken` belongs to, as
   * `"ACCESS REFRESH"`; undefined for a token this server never issued.
   */
  latestTokens(refreshToken: string): string | undefined;
  /** The tokens of the newest device login, `"ACCESS REFRESH"` (empty before the first). */
  newestLogin(): string;
  /** Holds every refresh grant until {@linkcode TokenServer.release}; resolves when one arrives. */
  hold(): Promise<void>;
  /** Answers the held refresh grants and stops holding. */
  release(): void;
  /** Stops the server. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the server on 127.0.0.1, port 0. It answers any client id and secret.
 *
 * @example
 * ```ts
 * import { startTokenServer } from "./token_server.ts";
 * await using server = await startTokenServer();
 * const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: "nope" });
 * const res = await fetch(server.tokenUrl, { method: "POST", body });
 * console.log(res.status, (await res.json()).error); // 400 invalid_grant
 * ```
 */
export function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const ttl = options.accessTokenTTL ?? 60;
  const access = new Set<string>();
  /** Refresh token → uses so far and the chain (login) it belongs to. */
  const refreshTokens = new Map<string, { uses: number; chain: number }>();
  /** Per login (chain): its newest tokens, `"ACCESS REFRESH"`. */
  const latest: string[] = [];
  let refreshes = 0;
  let reuses = 0;
  let serial = 0;
  let held: Array<() => void> | undefined;
  let arrived: (() => void) | undefined;

  const issue = (chain: number) => {
    const accessToken = `at-${++serial}-${crypto.randomUUID()}`;
    const refreshToken = `rt-${serial}-${crypto.randomUUID()}`;
    access.add(accessToken);
    refreshTokens.set(refreshToken, { uses: 0, chain });
    latest[chain] = `${accessToken} ${refreshToken}`;
    return Response.json({
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: ttl,
      refresh_token: refreshToken,
      scope: "read",
    }, { headers: { "cache-control": "no-store" } });
  };
  const refuse = (error: string) => Response.json({ error }, { status: 400 });

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method !== "POST") return new Response("not found", { status: 404 });
    const form = new URLSearchParams(await request.text());
    if (path === "/device") {
      return Response.json({
        device_code: `dc-${crypto.randomUUID()}`,
        user_code: "ABCD-EFGH",
        verification_uri: "http://127.0.0.1/device",
        expires_in: 600,
        interval: 1,
      });
    }
    if (path !== "/token") return new Response("not found", { status: 404 });
    const grant = form.get("grant_type");
    if (grant === "urn:ietf:params:oauth:grant-type:device_code") return issue(latest.length);
    if (grant !== "refresh_token") return refuse("unsupported_grant_type");
    if (held !== undefined) {
      arrived?.();
      await new Promise<void>((resolve) => held!.push(resolve));
    }
    const known = refreshTokens.get(form.get("refresh_token") ?? "");
    if (known === undefined) return refuse("invalid_grant");
    known.uses++;
    if (known.uses > 1) {
      reuses++;
      if (options.reuse !== "grace") return refuse("invalid_grant");
    }
    refreshes++;
    return issue(known.chain);
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handle,
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return Promise.resolve({
    origin,
    deviceUrl: `${origin}/device`,
    tokenUrl: `${origin}/token`,
    refreshes: () => refreshes,
    reuses: () => reuses,
    issuedAccess: (token) => access.has(token),
    latestTokens: (token) => {
      const known = refreshTokens.get(token);
      return known === undefined ? undefined : latest[known.chain];
    },
    newestLogin: () => latest.at(-1) ?? "",
    hold: () => {
      held = [];
      return new Promise<void>((resolve) => arrived = resolve);
    },
    release: () => {
      const waiting = held ?? [];
      held = undefined;
      arrived = undefined;
      for (const resume of waiting) resume();
    },
    async [Symbol.asyncDispose]() {
      this.release();
      await server.shutdown();
    },
  });
}
