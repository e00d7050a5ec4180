/**
 * The local page of the device-code login: the user code large and copyable, the verification
 * link, the time left, and a status line that follows the login until it is approved, denied or
 * expired. Read-only: it takes no input.
 *
 * @module
 */
import { Hono } from "hono";
import { AuthsomeError } from "../errors.ts";
import {
  COMMON_SCRIPT,
  constantTimeEqual,
  escapeHtml,
  formatTimeLeft,
  isHttpUrl,
  jsonResponse,
  messagePage,
  randomToken,
  renderPage,
} from "./page_style.ts";

/** Where the device-code login stands. */
export type DeviceStatus = "waiting" | "approved" | "denied" | "expired";

/** Options of {@linkcode createDevicePageApp}. */
export interface DevicePageAppOptions {
  /** The provider's display name, e.g. `GitHub`. */
  provider: string;
  /** The code the user types at the provider, e.g. `WDJB-MJHT`. */
  user_code: string;
  /** Where to type it (http or https only). */
  verification_uri: string;
  /** The same page with the code already filled in, when the provider sends one. */
  verification_uri_complete?: string;
  /** When the code expires; from then on a waiting login shows as expired. */
  deadline: Date;
  /** The per-session token that is the path segment after `/device/`. */
  token: string;
  /** The only accepted `Host` header, e.g. `127.0.0.1:41234` (defence against DNS rebinding). */
  expectedHost: string;
  /** The current status, read on every page load and poll. */
  status: () => DeviceStatus;
  /** The clock (default: the system clock). */
  now?: () => Date;
}

/** Options of {@linkcode startDevicePage}. */
export interface DevicePageOptions {
  /** The provider's display name. */
  provider: string;
  /** The code the user types at the provider. */
  user_code: string;
  /** Where to type it (http or https only). */
  verification_uri: string;
  /** The same page with the code already filled in. */
  verification_uri_complete?: string;
  /** Seconds until the code expires, as the provider sent it. */
  expires_in: number;
  /** The clock (default: the system clock). */
  now?: () => Date;
}

/** A running device page. */
export interface DevicePage {
  /** The page to open, `http://127.0.0.1:PORT/device/<token>`. */
  url: string;
  /** Sets the status the page shows from its next poll on. */
  setStatus(status: DeviceStatus): void;
  /**
   * Stops listening (idempotent). When the status is final and an open page has not seen it
   * yet, waits up to 3 s for its next poll first.
   */
  close(): Promise<void>;
}

const POLL_MS = 2000;
const CLOSE_GRACE_MS = 3000;
/** The page closes itself this long after the code expired, in case nobody calls close(). */
const EXPIRY_GRACE_MS = 10_000;

const MESSAGES: Readonly<Record<DeviceStatus, string>> = {
  waiting: "Waiting for you to approve this device…",
  approved: "Approved. This page can be closed; go back to the terminal.",
  denied: "The login was denied. Go back to the terminal.",
  expired: "The code expired. Run the login again in the terminal.",
};

/**
 * The device page as a hono app. `GET /device/<token>` is the page, `GET
 * /device/<token>/status` is `{"status", "message", "seconds_left"}` as JSON, which the page polls
 * every 2 s with a nonce'd script (without JavaScript it refreshes itself). A wrong `Host`, or
 * a missing or wrong token, is 403; anything but GET is 405. Every answer carries the same
 * security headers as the browser form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDevicePageApp } from "./device_page.ts";
 * const app = createDevicePageApp({
 *   provider: "GitHub",
 *   user_code: "WDJB-MJHT",
 *   verification_uri: "https://github.com/login/device",
 *   deadline: new Date(Date.now() + 900_000),
 *   token: "t0k3n",
 *   expectedHost: "127.0.0.1:8000",
 *   status: () => "waiting",
 * });
 * const res = await app.request("http://127.0.0.1:8000/device/t0k3n/status", {
 *   headers: { host: "127.0.0.1:8000" },
 * });
 * assert.equal((await res.json()).status, "waiting");
 * ```
 */
export function createDevicePageApp(options: DevicePageAppOptions): Hono {
  checkUris(options);
  const now = options.now ?? (() => new Date());
  const expectedHost = options.expectedHost.toLowerCase();
  const pagePath = `/device/${options.token}`;
  const statusPath = `${pagePath}/status`;
  const secondsLeft = () => Math.max(0, (options.deadline.getTime() - now().getTime()) / 1000);
  const current = (): DeviceStatus => {
    const status = options.status();
    return status === "waiting" && secondsLeft() <= 0 ? "expired" : status;
  };

  const app = new Hono();
  app.all("*", (c) => {
    const req = c.req.raw;
    const forbidden = () =>
      messagePage(
        403,
        "Forbidden",
        "This page only answers the link printed by authsome in your terminal.",
      );
    if (req.headers.get("host")?.toLowerCase() !== expectedHost) return forbidden();
    const path = new URL(req.url).pathname;
    const isPage = constantTimeEqual(path, pagePath);
    const isStatus = constantTimeEqual(path, statusPath);
    if (!isPage && !isStatus) return forbidden();
    if (req.method !== "GET") {
      return messagePage(405, "Method not allowed", "This page only shows the login status.", {
        provider: options.provider,
        headers: { Allow: "GET" },
      });
    }
    const status = current();
    if (isStatus) {
      return jsonResponse({
        status,
        message: MESSAGES[status],
        seconds_left: Math.floor(secondsLeft()),
      });
    }
    return devicePage(options, status, secondsLeft(), statusPath);
  });
  app.onError(() => messagePage(500, "Something went wrong", "Go back to the terminal."));
  return app;
}

/**
 * Serves {@linkcode createDevicePageApp} on 127.0.0.1 (a fresh port) with a fresh random token.
 * The caller reports progress with `setStatus` and closes it when the login is over; it closes
 * itself 10 s after the code expired in case nobody does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startDevicePage } from "./device_page.ts";
 * const page = startDevicePage({
 *   provider: "GitHub",
 *   user_code: "WDJB-MJHT",
 *   verification_uri: "https://github.com/login/device",
 *   expires_in: 900,
 * });
 * assert.ok(page.url.startsWith("http://127.0.0.1:"));
 * page.setStatus("approved");
 * await page.close();
 * ```
 */
export function startDevicePage(options: DevicePageOptions): DevicePage {
  const now = options.now ?? (() => new Date());
  if (!Number.isFinite(options.expires_in) || options.expires_in <= 0) {
    throw new AuthsomeError(
      "AUTH_FAILED",
      "The provider sent a device code without a valid expires_in",
    );
  }
  checkUris(options);
  const deadline = new Date(now().getTime() + options.expires_in * 1000);
  const token = randomToken();

  let status: DeviceStatus = "waiting";
  let served: DeviceStatus | undefined;
  let onServed: (() => void) | undefined;

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => app.fetch(request),
  );
  const port = server.addr.port;
  const app = createDevicePageApp({
    provider: options.provider,
    user_code: options.user_code,
    verification_uri: options.verification_uri,
    ...(options.verification_uri_complete === undefined
      ? {}
      : { verification_uri_complete: options.verification_uri_complete }),
    deadline,
    token,
    expectedHost: `127.0.0.1:${port}`,
    now,
    status: () => {
      served = status;
      onServed?.();
      return status;
    },
  });

  let closing: Promise<void> | undefined;
  const expiryTimer = setTimeout(
    () => void close(),
    Math.min(options.expires_in * 1000 + EXPIRY_GRACE_MS, 2 ** 31 - 1),
  );
  // Only a safety net: it must not keep the process alive by itself.
  expiryTimer.unref();

  function close(): Promise<void> {
    closing ??= (async () => {
      clearTimeout(expiryTimer);
      // A page that has polled before gets one more poll to learn the final status.
      if (status !== "waiting" && served !== undefined && served !== status) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          onServed = resolve;
          timer = setTimeout(resolve, CLOSE_GRACE_MS);
        });
        clearTimeout(timer);
      }
      await server.shutdown();
    })();
    return closing;
  }

  return {
    url: `http://127.0.0.1:${port}/device/${token}`,
    setStatus(next) {
      status = next;
    },
    close,
  };
}

function checkUris(options: { verification_uri: string; verification_uri_complete?: string }) {
  for (const uri of [options.verification_uri, options.verification_uri_complete]) {
    if (uri !== undefined && !isHttpUrl(uri)) {
      throw new AuthsomeError(
        "AUTH_FAILED",
        "The provider sent a verification URI that is not an http(s) URL",
      );
    }
  }
}

function devicePage(
  options: DevicePageAppOptions,
  status: DeviceStatus,
  seconds: number,
  statusPath: string,
): Response {
  const e = escapeHtml;
  const complete = options.verification_uri_complete === undefined
    ? ""
    : `<p><a class="primary" href="${
      e(options.verification_uri_complete)
    }" target="_blank" rel="noopener noreferrer">Open ${
      e(options.provider)
    } with the code filled in<span class="sr-only"> (opens in a new tab)</span></a></p>\n`;
  const body = `<h1>Log in to ${e(options.provider)}</h1>
<p class="lead">Approve authsome on ${
    e(options.provider)
  } with this one-time code. Check that it matches the code in your terminal.</p>
<ol class="steps">
<li>Open <a href="${e(options.verification_uri)}" target="_blank" rel="noopener noreferrer">${
    e(options.verification_uri)
  }<span class="sr-only"> (opens in a new tab)</span></a></li>
<li>Enter this code and approve:</li>
</ol>
<div class="code-box"><span class="user-code" id="user-code">${
    e(options.user_code)
  }</span><button type="button" class="secondary" data-copy="user-code" hidden><span class="label">Copy</span><span class="sr-only"> the code</span></button></div>
${complete}<p class="status" role="status" data-status="${status}" data-poll="${
    e(statusPath)
  }"><span class="dot" aria-hidden="true"></span><span class="text">${
    e(MESSAGES[status])
  }</span></p>
<div class="meta"><p class="timer"${
    status === "waiting" ? "" : " hidden"
  }>Code expires in <span role="timer" data-seconds-left="${Math.floor(seconds)}">${
    formatTimeLeft(seconds)
  }</span></p></div>`;
  return renderPage({
    status: 200,
    title: `Log in to ${options.provider}`,
    provider: options.provider,
    body,
    connectSelf: true,
    // Without JavaScript the page refreshes itself to follow the status.
    ...(status === "waiting"
      ? { head: `<noscript><meta http-equiv="refresh" content="3"></noscript>\n` }
      : {}),
    script: COMMON_SCRIPT + DEVICE_SCRIPT,
  });
}

/** Polls the status until it is final; after three failed polls it says to check the terminal. */
const DEVICE_SCRIPT = `
(() => {
  const box = document.querySelector("[data-poll]");
  if (!box || box.dataset.status !== "waiting") return;
  const text = box.querySelector(".text");
  const timer = document.querySelector(".timer");
  let failures = 0;
  const show = (status, message) => {
    box.dataset.status = status;
    text.textContent = message;
    if (status !== "waiting" && timer) timer.hidden = true;
  };
  const poll = async () => {
    try {
      const res = await fetch(box.dataset.poll, { cache: "no-store", headers: { accept: "application/json" } });
      if (!res.ok) throw new Error("status " + res.status);
      const body = await res.json();
      failures = 0;
      show(body.status, body.message);
      if (body.status !== "waiting") return;
    } catch {
      failures += 1;
      if (failures >= 3) {
        show("lost", "authsome stopped answering. Check the terminal.");
        return;
      }
    }
    setTimeout(poll, ${POLL_MS});
  };
  setTimeout(poll, ${POLL_MS});
})();
`;
