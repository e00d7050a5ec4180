/**
 * The shared shell of authsome's local pages (the browser form and the device-code page): the
 * HTML frame, its stylesheet and script, the security headers, and the small helpers both servers
 * use to check a request (random tokens, constant-time comparison, escaping).
 *
 * @module
 */
import { toBase64 } from "../runtime/bytes.ts";

/** What every local page and JSON answer carries, next to its Content-Security-Policy. */
const FIXED_HEADERS: Readonly<Record<string, string>> = {
  "Cache-Control": "no-store",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/**
 * A fresh random value of 32 bytes in base64url (256 bits): a session token, a CSRF token or a
 * CSP nonce.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomToken } from "./page_style.ts";
 * assert.equal(randomToken().length, 43);
 * ```
 */
export function randomToken(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(32)), {
    alphabet: "base64url",
    omitPadding: true,
  });
}

/**
 * Compares a received value `a` with the expected secret `b` in time that depends only on the
 * length of `b`, never on where they first differ, so a local client cannot guess a token byte
 * by byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constantTimeEqual } from "./page_style.ts";
 * assert.deepEqual([constantTimeEqual("abc", "abc"), constantTimeEqual("abc", "abd")], [true, false]);
 * ```
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = new TextEncoder().encode(a);
  const right = new TextEncoder().encode(b);
  // Walks the expected value (`b`) whatever `a` is, so only its length shows in the time taken.
  let diff = left.length ^ right.length;
  for (let i = 0; i < right.length; i++) diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

/**
 * Escapes text for HTML content and quoted attribute values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeHtml } from "./page_style.ts";
 * assert.equal(escapeHtml(`<a href="x">`), "&#60;a href=&#34;x&#34;&#62;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/**
 * Whether a URL is absolute http(s), the only kind a local page may link to (a provider could
 * otherwise send `javascript:`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHttpUrl } from "./page_style.ts";
 * assert.deepEqual([isHttpUrl("https://example.com/device"), isHttpUrl("javascript:alert(1)")], [true, false]);
 * ```
 */
export function isHttpUrl(url: string): boolean {
  try {
    const protocol = new URL(url).protocol;
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}

/**
 * The time left as `m:ss` (`h:mm:ss` from one hour), never negative.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimeLeft } from "./page_style.ts";
 * assert.equal(formatTimeLeft(299), "4:59");
 * ```
 */
export function formatTimeLeft(seconds: number): string {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** Options of {@linkcode securityHeaders}. */
export interface SecurityHeaderOptions {
  /** The per-response nonce that lets the page's one `<style>` and `<script>` run. */
  nonce: string;
  /** Allow `fetch` to this origin (the device page polls its status). */
  connectSelf?: boolean;
  /** Defaults to `text/html; charset=utf-8`. */
  contentType?: string;
}

/**
 * The headers of every answer of a local page: not cached, not framed, no referrer, no sniffing,
 * and a Content-Security-Policy that allows nothing but the nonce'd inline style and script
 * (plus `connect-src 'self'` when asked) and posts only to itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { securityHeaders } from "./page_style.ts";
 * assert.equal(securityHeaders({ nonce: "n1" })["Cache-Control"], "no-store");
 * ```
 */
export function securityHeaders(options: SecurityHeaderOptions): Record<string, string> {
  const csp = [
    "default-src 'none'",
    `style-src 'nonce-${options.nonce}'`,
    `script-src 'nonce-${options.nonce}'`,
    ...(options.connectSelf ? ["connect-src 'self'"] : []),
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
  return {
    "Content-Type": options.contentType ?? "text/html; charset=utf-8",
    "Content-Security-Policy": csp,
    ...FIXED_HEADERS,
  };
}

/** Options of {@linkcode renderPage}. */
export interface PageOptions {
  /** HTTP status of the answer. */
  status: number;
  /** The document title (plain text; escaped here). */
  title: string;
  /** The provider shown in the page's header line (plain text), when there is one. */
  provider?: string;
  /** The `<main>` content, already HTML (the caller escapes what it puts in). */
  body: string;
  /** Extra `<head>` HTML, e.g. a `<noscript>` refresh. */
  head?: string;
  /** Inline script source to run with the page's nonce; none when absent. */
  script?: string;
  /** Allow `fetch` to this origin. */
  connectSelf?: boolean;
  /** More response headers (e.g. `Allow`). */
  headers?: Record<string, string>;
}

/**
 * Renders a page in the shared shell and wraps it in a `Response` with the security headers and a
 * fresh nonce.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderPage } from "./page_style.ts";
 * const res = renderPage({ status: 200, title: "Done", body: "<h1>Done</h1>" });
 * assert.equal(res.headers.get("x-frame-options"), "DENY");
 * ```
 */
export function renderPage(options: PageOptions): Response {
  const nonce = randomToken();
  const provider = options.provider === undefined
    ? ""
    : `<p class="brand"><span class="mark" aria-hidden="true">${
      escapeHtml(monogram(options.provider))
    }</span><span>${escapeHtml(options.provider)}</span><span class="via">via authsome</span></p>`;
  const script = options.script === undefined
    ? ""
    : `<script nonce="${nonce}">${options.script}</script>\n`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="robots" content="noindex">
<title>${escapeHtml(options.title)} · authsome</title>
<style nonce="${nonce}">${STYLE}</style>
${options.head ?? ""}</head>
<body>
<main class="card">
${provider}${options.body}
</main>
<p class="foot">Served by authsome on this computer only (127.0.0.1).</p>
${script}</body>
</html>
`;
  return new Response(html, {
    status: options.status,
    headers: {
      ...securityHeaders({ nonce, connectSelf: options.connectSelf ?? false }),
      ...options.headers,
    },
  });
}

/** Options of {@linkcode messagePage}. */
export interface MessagePageOptions {
  /** The provider shown in the header line. */
  provider?: string;
  /** More response headers (e.g. `Allow`). */
  headers?: Record<string, string>;
}

/**
 * A page with a heading and one paragraph, for refusals and final answers. Statuses below 300
 * get a check mark, others a warning sign.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { messagePage } from "./page_style.ts";
 * assert.equal(messagePage(403, "Forbidden", "Open the link from the terminal").status, 403);
 * ```
 */
export function messagePage(
  status: number,
  title: string,
  text: string,
  options: MessagePageOptions = {},
): Response {
  const tone = status < 300 ? "ok" : "bad";
  return renderPage({
    status,
    title,
    ...(options.provider === undefined ? {} : { provider: options.provider }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    body: `<div class="result ${tone}"><span class="icon" aria-hidden="true">${
      tone === "ok" ? "✓" : "!"
    }</span>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(text)}</p></div>`,
  });
}

/**
 * A JSON answer with the same security headers as the pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonResponse } from "./page_style.ts";
 * assert.equal(jsonResponse({ status: "waiting" }).headers.get("content-type"), "application/json; charset=utf-8");
 * ```
 */
export function jsonResponse(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: securityHeaders({
      nonce: randomToken(),
      contentType: "application/json; charset=utf-8",
    }),
  });
}

/**
 * Reads a request body as text, refusing more than `maxBytes` (a local page has no reason to
 * receive more). Returns undefined when the body is too large.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBodyLimited } from "./page_style.ts";
 * const text = await readBodyLimited(new Request("http://x/", { method: "POST", body: "a=1" }), 100);
 * assert.equal(text, "a=1");
 * ```
 */
export async function readBodyLimited(
  request: Request,
  maxBytes: number,
): Promise<string | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await request.body?.cancel();
    return undefined;
  }
  if (request.body === null) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(all);
}

function monogram(provider: string): string {
  return [...provider.trim()][0]?.toUpperCase() ?? "?";
}

/**
 * The page script shared by both pages: it ticks down `[data-seconds-left]` and reveals the Copy
 * buttons (hidden without JavaScript, where the value stays selectable); a button's visible text
 * is its `.label` child. Runs under the nonce.
 */
export const COMMON_SCRIPT = `
(() => {
  const timer = document.querySelector("[data-seconds-left]");
  if (timer) {
    const end = Date.now() + Number(timer.dataset.secondsLeft) * 1000;
    const show = (s) => {
      const m = Math.floor(s / 60), r = String(s % 60).padStart(2, "0");
      timer.textContent = m >= 60 ? Math.floor(m / 60) + ":" + String(m % 60).padStart(2, "0") + ":" + r : m + ":" + r;
    };
    const tick = () => {
      const s = Math.max(0, Math.round((end - Date.now()) / 1000));
      show(s);
      timer.closest(".timer")?.classList.toggle("low", s < 60);
      if (s === 0) {
        // Also as a mark, for a page script that starts listening after this (a page loaded
        // in its last half second expires on the first tick).
        document.documentElement.dataset.expired = "";
        document.dispatchEvent(new Event("authsome:expired"));
        return;
      }
      setTimeout(tick, 500);
    };
    tick();
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    const label = button.querySelector(".label") ?? button;
    const idle = label.textContent;
    button.addEventListener("click", async () => {
      const target = document.getElementById(button.dataset.copy);
      if (!target) return;
      try {
        await navigator.clipboard.writeText(target.textContent);
        label.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(target);
        const selection = getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        label.textContent = "Selected, copy it";
      }
      setTimeout(() => { label.textContent = idle; }, 2000);
    });
  }
})();
`;

/** The stylesheet of the local pages: system fonts, light and dark, visible focus, small screens. */
const STYLE = `
:root{color-scheme:light dark;--bg:#f3f4f7;--card:#fff;--text:#1a1d23;--muted:#5b6472;--line:#d5d9e0;
--field:#fff;--accent:#2457d6;--accent-text:#fff;--accent-hover:#1c47b3;--ring:#2457d6;--soft:#eef2fb;
--error:#b42318;--error-bg:#fdeceb;--ok:#16794c;--ok-bg:#e7f6ee;--warn:#9a5b00;--code-bg:#f1f3f6;
--shadow:0 1px 2px rgb(16 24 40 / .05),0 8px 24px rgb(16 24 40 / .08)}
@media (prefers-color-scheme:dark){:root{--bg:#0d0f13;--card:#161a21;--text:#e8eaee;--muted:#9aa3b2;
--line:#2c323d;--field:#0f1217;--accent:#5b8cff;--accent-text:#0b1020;--accent-hover:#7ea4ff;--ring:#8fb0ff;
--soft:#1b2230;--error:#ff8a80;--error-bg:#2a1517;--ok:#5fd49a;--ok-bg:#11261c;--warn:#f0b45b;
--code-bg:#0f1217;--shadow:0 1px 2px rgb(0 0 0 / .4),0 8px 24px rgb(0 0 0 / .35)}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;background:var(--bg);color:var(--text);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
display:flex;flex-direction:column;align-items:center;padding:clamp(1rem,6vh,4rem) 1rem 2rem}
.card{width:100%;max-width:30rem;background:var(--card);border:1px solid var(--line);border-radius:14px;
box-shadow:var(--shadow);padding:clamp(1.25rem,5vw,2rem)}
.brand{display:flex;align-items:center;gap:.6rem;margin:0 0 1.25rem;font-weight:600}
.mark{display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:9px;background:var(--accent);
color:var(--accent-text);font-weight:700}
.via{margin-left:auto;font-weight:400;font-size:.8rem;color:var(--muted)}
h1{font-size:1.45rem;line-height:1.25;margin:0 0 .5rem;letter-spacing:-.01em}
p{margin:0 0 1rem}
.lead{color:var(--muted)}
a{color:var(--accent);text-underline-offset:2px}
a:hover{color:var(--accent-hover)}
:focus-visible{outline:3px solid var(--ring);outline-offset:2px}
.banner{border-radius:10px;padding:.7rem .9rem;margin:0 0 1rem;background:var(--error-bg);color:var(--error);
border:1px solid currentColor;font-weight:500}
.banner p{margin:0}
.banner p+p{margin-top:.3rem}
.field{margin:0 0 1.1rem}
label{display:block;font-weight:600;margin:0 0 .35rem}
.optional{font-weight:400;color:var(--muted);font-size:.9rem}
input[type=text],input[type=password]{display:block;width:100%;font:inherit;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
font-size:.95rem;color:var(--text);background:var(--field);border:1px solid var(--line);border-radius:9px;
padding:.65rem .75rem;transition:border-color .15s,box-shadow .15s}
input:focus{outline:none;border-color:var(--ring);box-shadow:0 0 0 3px color-mix(in srgb,var(--ring) 30%,transparent)}
input[aria-invalid=true]{border-color:var(--error)}
input[aria-invalid=true]:focus{box-shadow:0 0 0 3px color-mix(in srgb,var(--error) 30%,transparent)}
.hint{font-size:.875rem;color:var(--muted);margin:.4rem 0 0}
.error{font-size:.875rem;color:var(--error);margin:.4rem 0 0;font-weight:500}
.info{margin:0 0 1.2rem;padding:.8rem .9rem;border-radius:10px;background:var(--soft);border:1px solid var(--line)}
.info dt{font-size:.85rem;font-weight:600;color:var(--muted);margin:0 0 .3rem}
.info dd{margin:0 0 .6rem;display:flex;gap:.5rem;align-items:flex-start}
.info dd:last-child{margin-bottom:0}
code,.value{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9rem}
.value{flex:1;min-width:0;overflow-wrap:anywhere;user-select:all;background:var(--code-bg);border:1px solid var(--line);
border-radius:7px;padding:.35rem .5rem}
button{font:inherit;cursor:pointer;border-radius:9px}
.primary{display:block;width:100%;border:1px solid transparent;border-radius:9px;background:var(--accent);color:var(--accent-text);
font-weight:600;padding:.7rem 1rem;text-align:center;text-decoration:none}
.primary:hover{background:var(--accent-hover);color:var(--accent-text)}
.primary:disabled{opacity:.6;cursor:default}
.secondary{border:1px solid var(--line);background:var(--card);color:var(--text);padding:.3rem .7rem;
font-size:.85rem;font-weight:500;white-space:nowrap}
.secondary:hover{border-color:var(--accent)}
.meta{display:flex;flex-wrap:wrap;gap:.5rem 1rem;justify-content:space-between;align-items:center;
margin:1.1rem 0 0;font-size:.875rem;color:var(--muted)}
.meta p{margin:0}
.meta:has(> .timer[hidden]:only-child){display:none}
.timer{font-variant-numeric:tabular-nums}
.timer.low{color:var(--warn);font-weight:600}
.code-box{display:flex;gap:.75rem;align-items:center;justify-content:space-between;flex-wrap:wrap;
margin:0 0 1.1rem;padding:.9rem 1rem;border-radius:12px;background:var(--soft);border:1px solid var(--line)}
.user-code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:clamp(1.7rem,8vw,2.4rem);
font-weight:700;letter-spacing:.12em;user-select:all;overflow-wrap:anywhere}
ol.steps{padding-left:1.3rem;margin:0 0 1rem;overflow-wrap:anywhere}
ol.steps li{margin:0 0 .4rem}
.status{display:flex;gap:.6rem;align-items:center;margin:1rem 0 0;padding:.7rem .9rem;border-radius:10px;
background:var(--soft);font-weight:500}
.status .dot{flex:none;width:.7rem;height:.7rem;border-radius:50%;background:var(--muted)}
.status[data-status=waiting] .dot{background:var(--accent);animation:pulse 1.4s ease-in-out infinite}
.status[data-status=approved]{background:var(--ok-bg);color:var(--ok)}
.status[data-status=approved] .dot{background:var(--ok)}
.status[data-status=denied],.status[data-status=expired],.status[data-status=lost]{background:var(--error-bg);color:var(--error)}
.status[data-status=denied] .dot,.status[data-status=expired] .dot,.status[data-status=lost] .dot{background:var(--error)}
@keyframes pulse{50%{opacity:.3}}
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}
.result{text-align:center;padding:.5rem 0}
.result .icon{display:inline-grid;place-items:center;width:3rem;height:3rem;border-radius:50%;font-size:1.5rem;
font-weight:700;margin:0 0 .8rem}
.result.ok .icon{background:var(--ok-bg);color:var(--ok)}
.result.bad .icon{background:var(--error-bg);color:var(--error)}
.result p{color:var(--muted);margin:0}
.foot{font-size:.8rem;color:var(--muted);margin:1rem 0 0;text-align:center}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
`;
