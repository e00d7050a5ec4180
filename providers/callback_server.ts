/**
 * The loopback redirect target of the PKCE login: a hono app that takes the browser's one
 * authorization response, and a small server that runs it on 127.0.0.1 until that response
 * arrives, a timeout passes, or the caller closes it.
 *
 * @module
 */
import { Hono } from "hono";
import { AuthsomeError } from "../errors.ts";
import { type LocalServer, runtime } from "../runtime/runtime.ts";
import { escapeHtml } from "./page_style.ts";

/** What the login made of a callback: decides whether the page says "complete" or "failed". */
export type CallbackVerdict = "ok" | "error";

/** Options of {@linkcode createCallbackApp}. */
export interface CallbackAppOptions {
  /** The path of the redirect URI, e.g. `/auth/callback/oauth`; matched exactly. */
  path: string;
  /** The only accepted `Host` header, e.g. `127.0.0.1:7998` (defence against DNS rebinding). */
  expectedHost: string;
  /** Receives the first callback carrying `code` or `error`; called at most once. */
  onCallback: (params: URLSearchParams) => CallbackVerdict;
}

/** Options of {@linkcode startCallbackServer}. */
export interface CallbackServerOptions {
  /** Port on 127.0.0.1 (default 7998, the documented redirect URI port; 0 picks a free one). */
  port?: number;
  /** Path of the redirect URI (default `/auth/callback/oauth`). */
  path?: string;
  /** How long to wait for the browser, in milliseconds (default 300000). */
  timeoutMs?: number;
  /** Aborting it closes the server and rejects the wait as cancelled. */
  signal?: AbortSignal;
  /**
   * The `state` of this login, when known: a callback with another state is still the one use
   * (and the login then fails with "OAuth state mismatch"), but its page says "Login failed".
   */
  expectedState?: string | (() => string | undefined);
}

/** A running callback server. */
export interface CallbackServer {
  /** The exact redirect URI, e.g. `http://127.0.0.1:7998/auth/callback/oauth`. */
  redirectUri: string;
  /**
   * Resolves with the parameters of the first callback carrying `code` or `error`; rejects with
   * `AUTH_FAILED` on timeout or when closed or aborted first. Every call returns the same promise.
   */
  waitForCallback(): Promise<URLSearchParams>;
  /** Stops listening (idempotent); resolves once the port is free. */
  close(): Promise<void>;
}

const DEFAULT_PORT = 7998;
const DEFAULT_PATH = "/auth/callback/oauth";
const DEFAULT_TIMEOUT_MS = 300_000;

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
};

/**
 * The redirect target as a hono app. Every answer is a small HTML page that is not cached, not
 * framed and sends no referrer. A wrong `Host` is 403; another path 404; a method other than GET
 * 405; a request with neither `code` nor `error` 400 "Invalid callback"; the first real callback
 * goes to `onCallback` and every later one is 409 "already used". The code is never echoed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCallbackApp } from "./callback_server.ts";
 * const app = createCallbackApp({
 *   path: "/auth/callback/oauth",
 *   expectedHost: "127.0.0.1:7998",
 *   onCallback: () => "ok",
 * });
 * const res = await app.request("http://127.0.0.1:7998/auth/callback/oauth?code=c&state=s", {
 *   headers: { host: "127.0.0.1:7998" },
 * });
 * assert.equal(res.status, 200);
 * ```
 */
export function createCallbackApp(options: CallbackAppOptions): Hono {
  const expectedHost = options.expectedHost.toLowerCase();
  let used = false;
  const app = new Hono();
  app.use("*", async (c, next) => {
    if (c.req.header("host")?.toLowerCase() !== expectedHost) {
      return page(403, "Forbidden", "This address only answers requests made to itself.");
    }
    await next();
  });
  app.all("*", (c) => {
    const url = new URL(c.req.url);
    if (url.pathname !== options.path) {
      return page(404, "Not found", "There is nothing here.");
    }
    // HEAD would reach a GET handler in hono; link previewers must not use up the callback.
    if (c.req.method !== "GET") {
      return page(405, "Method not allowed", "Only the browser's redirect is accepted here.", {
        Allow: "GET",
      });
    }
    const params = url.searchParams;
    if (!params.has("code") && !params.has("error")) {
      return page(400, "Invalid callback", "This address only accepts the answer of a login.");
    }
    if (used) {
      return page(
        409,
        "Already used",
        "This login callback was already used. Go back to the terminal.",
      );
    }
    used = true;
    let verdict: CallbackVerdict = "error";
    try {
      verdict = options.onCallback(new URLSearchParams(params));
    } catch {
      // A handler that fails is a failed login: the verdict stays "error".
    }
    if (verdict === "ok") {
      return page(
        200,
        "Login complete",
        "Login complete — you can close this tab and go back to the terminal.",
      );
    }
    const error = params.get("error");
    const reason = error === null || error === ""
      ? "the answer does not belong to this login"
      : error.slice(0, 100);
    return page(
      400,
      "Login failed",
      `Login failed: ${reason}. Go back to the terminal for details.`,
    );
  });
  return app;
}

/**
 * Serves {@linkcode createCallbackApp} on 127.0.0.1 only, for one login. The server closes itself
 * after the first callback, on timeout, on abort, or on `close()`.
 *
 * A port that is taken (or not allowed) is `AUTH_FAILED` (exit 2, the login could not happen)
 * with a hint to stop the other program or pass `--callback-port`: the redirect URI registered
 * with the provider names the port, so picking another one silently would only fail later.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCallbackServer } from "./callback_server.ts";
 * const server = await startCallbackServer({ port: 0, timeoutMs: 1000 });
 * assert.ok(server.redirectUri.startsWith("http://127.0.0.1:"));
 * await server.close();
 * await assert.rejects(server.waitForCallback(), /The login was cancelled/);
 * ```
 */
export async function startCallbackServer(
  options: CallbackServerOptions = {},
): Promise<CallbackServer> {
  const port = options.port ?? DEFAULT_PORT;
  const path = options.path ?? DEFAULT_PATH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!path.startsWith("/")) {
    throw new AuthsomeError("USAGE", `The callback path must start with "/": ${path}`);
  }
  if (options.signal?.aborted) throw cancelled();

  let settled = false;
  let resolveWait!: (params: URLSearchParams) => void;
  let rejectWait!: (error: unknown) => void;
  const waiting = new Promise<URLSearchParams>((resolve, reject) => {
    resolveWait = resolve;
    rejectWait = reject;
  });
  // The caller may close without ever waiting; that rejection is not an unhandled one.
  waiting.catch(() => {});

  let server: LocalServer;
  try {
    // `app` needs the bound port (port 0); no request is handled before it is assigned below.
    server = await runtime.serve((request) => app.fetch(request), port);
  } catch (error) {
    throw portError(port, error);
  }
  const actualPort = server.port;

  let closing: Promise<void> | undefined;
  const timer = setTimeout(() => {
    finish(
      new AuthsomeError(
        "AUTH_FAILED",
        `Timed out after ${Math.ceil(timeoutMs / 1000)} s waiting for the browser`,
        { hint: "Run the login again and finish it in the browser" },
      ),
    );
  }, timeoutMs);
  const onAbort = () => finish(cancelled());
  options.signal?.addEventListener("abort", onAbort, { once: true });

  function finish(outcome: URLSearchParams | AuthsomeError): Promise<void> {
    if (!settled) {
      settled = true;
      if (outcome instanceof URLSearchParams) resolveWait(outcome);
      else rejectWait(outcome);
    }
    closing ??= (async () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      await server.shutdown();
    })();
    return closing;
  }

  const app = createCallbackApp({
    path,
    expectedHost: `127.0.0.1:${actualPort}`,
    onCallback(params) {
      // The page is sent before the shutdown completes: shutdown lets in-flight requests finish.
      void finish(params);
      const expected = typeof options.expectedState === "function"
        ? options.expectedState()
        : options.expectedState;
      const stateOk = expected === undefined || params.get("state") === expected;
      return stateOk && !params.has("error") ? "ok" : "error";
    },
  });

  return {
    redirectUri: `http://127.0.0.1:${actualPort}${path}`,
    waitForCallback: () => waiting,
    close: () => finish(cancelled()),
  };
}

function cancelled(): AuthsomeError {
  return new AuthsomeError("AUTH_FAILED", "The login was cancelled");
}

function portError(port: number, error: unknown): unknown {
  const hint =
    "Stop the program using it, or pass --callback-port (the redirect URI registered with the provider must use the same port)";
  if (runtime.failure(error) === "addr-in-use") {
    return new AuthsomeError(
      "AUTH_FAILED",
      `Port ${port} on 127.0.0.1 is in use, so the login callback cannot listen there`,
      { hint, cause: error },
    );
  }
  // Stryker disable all: a port only root may bind; the tests (and CI) run as root.
  if (runtime.failure(error) === "denied") {
    return new AuthsomeError(
      "AUTH_FAILED",
      `Port ${port} on 127.0.0.1 cannot be used for the login callback (permission denied)`,
      { hint, cause: error },
    );
  }
  // Stryker restore all
  return error;
}

function page(
  status: number,
  title: string,
  text: string,
  extraHeaders: Record<string, string> = {},
): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>authsome — ${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}h1{font-size:1.4rem}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(text)}</p>
</body>
</html>
`;
  return new Response(html, { status, headers: { ...SECURITY_HEADERS, ...extraHeaders } });
}
