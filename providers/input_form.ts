/**
 * The local browser form: a page on 127.0.0.1 where the user pastes an API key or an OAuth app's
 * client credentials, so a secret never passes through the terminal, argv or an agent's chat.
 * A hono app that takes exactly one valid submission, and a small server that runs it until that
 * submission, a timeout, or a cancel.
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
  messagePage,
  randomToken,
  readBodyLimited,
  renderPage,
} from "./page_style.ts";

/** One input of the form. */
export interface FormField {
  /** The form field name and the key in the submitted values, e.g. `api_key`. */
  name: string;
  /** The visible label, e.g. `API key`. */
  label: string;
  /** A masked input (`type=password`) that is never filled in by the page. */
  secret: boolean;
  /** Whether an empty value is refused. */
  required: boolean;
  /** A regular expression the whole trimmed value must match (`^(?:pattern)$`); empty optional values skip it. */
  pattern?: string;
  /** Help shown under the input, and the error text when the pattern does not match. */
  hint?: string;
  /** A prefilled value; only for fields that are not secret. */
  value?: string;
}

/** A line of the info block, e.g. the exact redirect URI to register with the provider. */
export interface FormInfo {
  /** What the value is, e.g. `Redirect URI to register`. */
  label: string;
  /** The value, shown selectable. */
  value: string;
  /** Show a Copy button (it needs JavaScript; without it the value stays selectable). */
  copy?: boolean;
}

/** What the form asks for. */
export interface FormRequest {
  /** The page heading, e.g. `Log in to OpenAI`. */
  title: string;
  /** The provider's display name, e.g. `OpenAI`. */
  provider: string;
  /** One paragraph under the heading saying what is asked and why. */
  intro?: string;
  /** The inputs, in order; the first gets the focus. */
  fields: FormField[];
  /** Values the user needs while filling the form in. */
  info?: FormInfo[];
  /** The provider's docs page for this step (http or https only). */
  docsUrl?: string;
}

/**
 * A server-side check of the trimmed values: returns messages by field name to show the form again,
 * or undefined to accept. Messages are shown in the page, so they must not contain the values.
 */
export type FormValidator = (
  values: Record<string, string>,
) => Record<string, string> | undefined;

/** Options of {@linkcode createFormApp}. */
export interface FormAppOptions {
  /** What the form asks for. */
  request: FormRequest;
  /** The per-session token that is the last segment of the path `/form/<token>`. */
  token: string;
  /** The value the hidden `csrf` input must carry. */
  csrfToken: string;
  /** The only accepted `Host` header, e.g. `127.0.0.1:41234` (defence against DNS rebinding). */
  expectedHost: string;
  /** After this instant the form answers 410. */
  deadline: Date;
  /** The clock (default: the system clock). */
  now?: () => Date;
  /** Server-side check; return field errors (name → message) to re-show the form, or undefined to accept. */
  validate?: FormValidator;
  /** Receives the trimmed values of the one accepted submission; called at most once. */
  onAccepted: (values: Record<string, string>) => void;
}

/** Options of {@linkcode startFormServer}. */
export interface FormServerOptions {
  /** What the form asks for. */
  request: FormRequest;
  /** Server-side check run after the field checks; see {@linkcode FormValidator}. */
  validate?: FormValidator;
  /** How long to wait for the submission, in milliseconds (default 300000). */
  timeoutMs?: number;
  /** Aborting it closes the server and rejects the wait as cancelled. */
  signal?: AbortSignal;
  /** The clock (default: the system clock). */
  now?: () => Date;
}

/** A running form server. */
export interface FormServer {
  /** The page to open, `http://127.0.0.1:PORT/form/<token>`. */
  url: string;
  /** When the form stops accepting a submission. */
  deadline: Date;
  /**
   * Resolves with the trimmed values of the accepted submission; rejects with `AUTH_FAILED` on
   * timeout, abort or `close()` first. Every call returns the same promise.
   */
  waitForSubmit(): Promise<Record<string, string>>;
  /** Stops listening (idempotent); resolves once the port is free. */
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 300_000;
const MAX_BODY_BYTES = 64 * 1024;
const CSRF_FIELD = "csrf";

interface PreparedField {
  field: FormField;
  /** Server-side full match, with the same (flagless) semantics as `checkApiKey`. */
  matcher: RegExp | undefined;
  /** Whether the browser can use the pattern as an HTML `pattern` (it compiles those with `v`). */
  htmlPattern: boolean;
}

/**
 * The form as a hono app. Every answer carries `Cache-Control: no-store`, a strict
 * Content-Security-Policy (nonce'd inline style and script only, `form-action 'self'`), and
 * refuses framing and referrers. A wrong `Host` or a missing or wrong token is 403; a used form
 * 410 "This form was already used"; after the deadline 410; `GET` shows the form; a `POST`
 * without the right CSRF token is 403; invalid values show the form again with 422 and never
 * echo a submitted value; the first valid `POST` goes to `onAccepted` and shows "This page can
 * be closed".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createFormApp } from "./input_form.ts";
 * const app = createFormApp({
 *   request: { title: "Log in to Acme", provider: "Acme", fields: [{ name: "api_key", label: "API key", secret: true, required: true }] },
 *   token: "t0k3n",
 *   csrfToken: "c5rf",
 *   expectedHost: "127.0.0.1:8000",
 *   deadline: new Date(Date.now() + 60_000),
 *   onAccepted: (values) => assert.deepEqual(Object.keys(values), ["api_key"]),
 * });
 * const res = await app.request("http://127.0.0.1:8000/form/t0k3n", {
 *   method: "POST",
 *   headers: { host: "127.0.0.1:8000", "content-type": "application/x-www-form-urlencoded" },
 *   body: "csrf=c5rf&api_key=ak_123",
 * });
 * assert.equal(res.status, 200);
 * ```
 */
export function createFormApp(options: FormAppOptions): Hono {
  const { request, token, csrfToken, deadline } = options;
  const fields = prepareFields(request);
  const now = options.now ?? (() => new Date());
  const expectedHost = options.expectedHost.toLowerCase();
  const path = `/form/${token}`;
  const provider = request.provider;
  let used = false;

  const forbidden = () =>
    messagePage(
      403,
      "Forbidden",
      "This page only answers the link printed by authsome in your terminal.",
    );
  const gone = () =>
    messagePage(
      410,
      "This form was already used",
      "Go back to the terminal. To enter the details again, run the command again.",
      { provider },
    );
  const expired = () =>
    messagePage(
      410,
      "This form has expired",
      "Time ran out. Run the command again in the terminal to get a new form.",
      { provider },
    );
  const secondsLeft = () => Math.max(0, (deadline.getTime() - now().getTime()) / 1000);

  const app = new Hono();
  app.all("*", async (c) => {
    const req = c.req.raw;
    if (req.headers.get("host")?.toLowerCase() !== expectedHost) return forbidden();
    if (!constantTimeEqual(new URL(req.url).pathname, path)) return forbidden();
    if (used) return gone();
    if (secondsLeft() <= 0) return expired();
    if (req.method === "GET") {
      return formPage(200, { request, fields, path, csrfToken, seconds: secondsLeft() });
    }
    if (req.method !== "POST") {
      return messagePage(405, "Method not allowed", "Open the link printed in the terminal.", {
        provider,
        headers: { Allow: "GET, POST" },
      });
    }
    // A browser names where a POST comes from; only this page may send one.
    const site = req.headers.get("sec-fetch-site");
    if (site !== null && site !== "same-origin") return forbidden();
    const mediaType = (req.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
    if (mediaType !== "application/x-www-form-urlencoded") {
      await req.body?.cancel();
      return messagePage(415, "Unsupported form data", "Submit the form from its page.", {
        provider,
      });
    }
    let body: string | undefined;
    try {
      body = await readBodyLimited(req, MAX_BODY_BYTES);
    } catch (error) {
      // Accepting another submission shuts the server down, which ends bodies still arriving.
      if (used) return gone();
      throw error;
    }
    if (body === undefined) {
      return messagePage(413, "Too much data", "The form data is too large.", { provider });
    }
    const params = new URLSearchParams(body);
    if (!constantTimeEqual(params.get(CSRF_FIELD) ?? "", csrfToken)) return forbidden();
    // Another submission may have been accepted while this body was read.
    if (used) return gone();
    if (secondsLeft() <= 0) return expired();
    const { values, errors } = checkValues(fields, params, options.validate);
    if (errors !== undefined) {
      return formPage(422, { request, fields, path, csrfToken, seconds: secondsLeft(), errors });
    }
    used = true;
    options.onAccepted(values);
    return messagePage(
      200,
      "Received",
      `authsome has what it needs for ${provider}. This page can be closed; go back to the terminal.`,
      { provider },
    );
  });
  app.onError(() =>
    messagePage(500, "Something went wrong", "Nothing was saved. Go back to the terminal.")
  );
  return app;
}

/**
 * Serves {@linkcode createFormApp} on 127.0.0.1 (a fresh port) with a fresh random path token and
 * CSRF token, for one submission. The server closes itself after the accepted submission, on
 * timeout, on abort, or on `close()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startFormServer } from "./input_form.ts";
 * const form = startFormServer({
 *   request: { title: "Log in to Acme", provider: "Acme", fields: [{ name: "api_key", label: "API key", secret: true, required: true }] },
 *   timeoutMs: 1000,
 * });
 * assert.ok(form.url.startsWith("http://127.0.0.1:"));
 * await form.close();
 * await assert.rejects(form.waitForSubmit(), /The login was cancelled/);
 * ```
 */
export function startFormServer(options: FormServerOptions): FormServer {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const now = options.now ?? (() => new Date());
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new AuthsomeError("USAGE", `The form timeout must be a positive number: ${timeoutMs}`);
  }
  // A bad request must fail before a port is opened.
  prepareFields(options.request);
  if (options.signal?.aborted) throw cancelled();

  const token = randomToken();
  const csrfToken = randomToken();
  const deadline = new Date(now().getTime() + timeoutMs);

  let settled = false;
  let resolveWait!: (values: Record<string, string>) => void;
  let rejectWait!: (error: unknown) => void;
  const waiting = new Promise<Record<string, string>>((resolve, reject) => {
    resolveWait = resolve;
    rejectWait = reject;
  });
  // The caller may close without ever waiting; that rejection is not an unhandled one.
  waiting.catch(() => {});

  // `app` needs the bound port (port 0); no request can arrive before it is assigned below.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => app.fetch(request),
  );
  const port = server.addr.port;

  let closing: Promise<void> | undefined;
  const timer = setTimeout(() => {
    void finish(
      new AuthsomeError(
        "AUTH_FAILED",
        `Timed out after ${Math.ceil(timeoutMs / 1000)} s waiting for the browser form`,
        { hint: "Run the command again and submit the form before the time runs out" },
      ),
    );
  }, timeoutMs);
  const onAbort = () => void finish(cancelled());
  options.signal?.addEventListener("abort", onAbort, { once: true });

  function finish(outcome: Record<string, string> | AuthsomeError): Promise<void> {
    if (!settled) {
      settled = true;
      if (outcome instanceof AuthsomeError) rejectWait(outcome);
      else resolveWait(outcome);
    }
    closing ??= (async () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      await server.shutdown();
    })();
    return closing;
  }

  const app = createFormApp({
    request: options.request,
    token,
    csrfToken,
    expectedHost: `127.0.0.1:${port}`,
    deadline,
    now,
    ...(options.validate === undefined ? {} : { validate: options.validate }),
    // The success page is sent before the shutdown completes: shutdown lets it finish.
    onAccepted: (values) => void finish(values),
  });

  return {
    url: `http://127.0.0.1:${port}/form/${token}`,
    deadline,
    waitForSubmit: () => waiting,
    close: () => finish(cancelled()),
  };
}

function cancelled(): AuthsomeError {
  return new AuthsomeError("AUTH_FAILED", "The login was cancelled");
}

function prepareFields(request: FormRequest): PreparedField[] {
  if (request.fields.length === 0) {
    throw new AuthsomeError("INVALID_INPUT", "The browser form needs at least one field");
  }
  if (request.docsUrl !== undefined && !isHttpUrl(request.docsUrl)) {
    throw new AuthsomeError("INVALID_INPUT", "The docs link of the browser form must be http(s)");
  }
  const seen = new Set<string>([CSRF_FIELD]);
  return request.fields.map((field) => {
    if (field.name === "" || seen.has(field.name)) {
      throw new AuthsomeError(
        "INVALID_INPUT",
        `The browser form field name "${field.name}" is empty, reserved or repeated`,
      );
    }
    seen.add(field.name);
    if (field.secret && field.value !== undefined) {
      throw new AuthsomeError(
        "INVALID_INPUT",
        `The secret field "${field.name}" of the browser form cannot be prefilled`,
      );
    }
    if (field.pattern === undefined) return { field, matcher: undefined, htmlPattern: false };
    let matcher: RegExp;
    try {
      matcher = new RegExp(`^(?:${field.pattern})$`);
    } catch (error) {
      throw new AuthsomeError(
        "INVALID_INPUT",
        `The pattern of the browser form field "${field.name}" is not a valid regular expression`,
        { cause: error },
      );
    }
    return { field, matcher, htmlPattern: compilesWithV(field.pattern) };
  });
}

function compilesWithV(pattern: string): boolean {
  try {
    new RegExp(`^(?:${pattern})$`, "v");
    return true;
  } catch {
    return false;
  }
}

function checkValues(
  fields: PreparedField[],
  params: URLSearchParams,
  validate: FormValidator | undefined,
): { values: Record<string, string>; errors: Record<string, string> | undefined } {
  const values: Record<string, string> = {};
  const errors: Record<string, string> = {};
  for (const { field, matcher } of fields) {
    const value = (params.get(field.name) ?? "").trim();
    values[field.name] = value;
    if (value === "") {
      if (field.required) errors[field.name] = `${field.label} is required`;
    } else if (hasControlCharacter(value)) {
      errors[field.name] = `Paste the ${field.label} alone, on one line`;
    } else if (matcher !== undefined && !matcher.test(value)) {
      errors[field.name] = field.hint ?? `This ${field.label} does not have the expected format`;
    }
  }
  if (Object.keys(errors).length > 0) return { values, errors };
  const more = validate?.({ ...values });
  if (more !== undefined && Object.keys(more).length > 0) return { values, errors: more };
  return { values, errors: undefined };
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

interface FormPageInput {
  request: FormRequest;
  fields: PreparedField[];
  path: string;
  csrfToken: string;
  seconds: number;
  errors?: Record<string, string>;
}

function formPage(status: number, input: FormPageInput): Response {
  const { request, fields, errors = {} } = input;
  const e = escapeHtml;
  const names = new Set(fields.map(({ field }) => field.name));
  const focus = fields.find(({ field }) => errors[field.name] !== undefined)?.field.name ??
    fields[0]?.field.name;
  const fieldErrors = Object.keys(errors).filter((name) => names.has(name)).length;
  const otherErrors = Object.entries(errors).filter(([name]) => !names.has(name));
  const banner = status === 422
    ? `<div class="banner" role="alert"><p>${
      fieldErrors > 1
        ? "Please fix the highlighted fields below."
        : fieldErrors === 1
        ? "Please fix the highlighted field below."
        : "Please check what you entered."
    }</p>${otherErrors.map(([, message]) => `<p>${e(message)}</p>`).join("")}</div>\n`
    : "";
  const info = (request.info ?? []).length === 0
    ? ""
    : `<dl class="info">\n${
      (request.info ?? []).map((item, i) =>
        `<dt>${e(item.label)}</dt>\n<dd><code class="value" id="info-${i}">${e(item.value)}</code>${
          item.copy
            ? `<button type="button" class="secondary" data-copy="info-${i}" hidden><span class="label">Copy</span><span class="sr-only"> ${
              e(item.label)
            }</span></button>`
            : ""
        }</dd>`
      ).join("\n")
    }\n</dl>\n`;
  const inputs = fields.map(({ field, htmlPattern }, i) => {
    const id = `field-${i}`;
    const error = errors[field.name];
    // A pattern error is the hint itself: show it once, as the error.
    const hint = error === field.hint ? undefined : field.hint;
    const described = [
      ...(hint === undefined ? [] : [`${id}-hint`]),
      ...(error === undefined ? [] : [`${id}-error`]),
    ];
    const title = field.hint ?? `Enter a valid ${field.label}`;
    const attrs = [
      `id="${id}"`,
      `name="${e(field.name)}"`,
      `type="${field.secret ? "password" : "text"}"`,
      `autocomplete="off"`,
      `autocapitalize="off"`,
      `spellcheck="false"`,
      ...(field.required ? ["required"] : []),
      ...(field.pattern === undefined
        ? []
        : [htmlPattern ? `pattern="${e(field.pattern)}"` : `data-pattern="${e(field.pattern)}"`]),
      ...(field.pattern === undefined ? [] : [`title="${e(title)}"`]),
      // A prefill is the caller's non-secret default, never a submitted value.
      ...(!field.secret && field.value !== undefined ? [`value="${e(field.value)}"`] : []),
      ...(described.length > 0 ? [`aria-describedby="${described.join(" ")}"`] : []),
      ...(error === undefined ? [] : [`aria-invalid="true"`]),
      ...(field.name === focus ? ["autofocus"] : []),
    ];
    return `<div class="field">
<label for="${id}">${e(field.label)}${
      field.required ? "" : ` <span class="optional">(optional)</span>`
    }</label>
<input ${attrs.join(" ")}>
${hint === undefined ? "" : `<p class="hint" id="${id}-hint">${e(hint)}</p>\n`}${
      error === undefined ? "" : `<p class="error" id="${id}-error">${e(error)}</p>\n`
    }</div>`;
  }).join("\n");
  const intro = request.intro ??
    `authsome needs the following to connect ${request.provider}. It goes from this page straight into your encrypted vault.`;
  const docs = request.docsUrl === undefined
    ? ""
    : `<p><a href="${e(request.docsUrl)}" target="_blank" rel="noopener noreferrer">${
      e(request.provider)
    } docs<span class="sr-only"> (opens in a new tab)</span></a> <span aria-hidden="true">↗</span></p>`;
  const body = `<h1>${e(request.title)}</h1>
<p class="lead">${e(intro)}</p>
${banner}${info}<form method="post" action="${e(input.path)}" accept-charset="utf-8" data-form>
<input type="hidden" name="${CSRF_FIELD}" value="${e(input.csrfToken)}">
${inputs}
<p class="banner" id="expired-note" role="alert" hidden>Time is up. Run the command again in the terminal.</p>
<button type="submit" class="primary">Continue</button>
</form>
<div class="meta">${docs}<p class="timer">Time left <span role="timer" data-seconds-left="${
    Math.floor(input.seconds)
  }">${formatTimeLeft(input.seconds)}</span></p></div>`;
  return renderPage({
    status,
    title: request.title,
    provider: request.provider,
    body,
    script: COMMON_SCRIPT + FORM_SCRIPT,
  });
}

/**
 * In-page help: the same full-match check as the server for patterns the browser cannot take as
 * an HTML `pattern`, whitespace trimmed from pasted secrets, and a disabled button once sent or
 * once the time is up.
 */
const FORM_SCRIPT = `
(() => {
  const form = document.querySelector("form[data-form]");
  if (!form) return;
  const submit = form.querySelector("button[type=submit]");
  for (const input of form.querySelectorAll("input[data-pattern]")) {
    const re = new RegExp("^(?:" + input.dataset.pattern + ")$");
    const check = () => input.setCustomValidity(input.value === "" || re.test(input.value) ? "" : input.title);
    input.addEventListener("input", check);
    check();
  }
  for (const input of form.querySelectorAll("input[type=password]")) {
    input.addEventListener("input", () => {
      const trimmed = input.value.trim();
      if (trimmed !== input.value) {
        input.value = trimmed;
        input.dispatchEvent(new Event("input"));
      }
    });
  }
  form.addEventListener("submit", () => {
    submit.disabled = true;
    submit.textContent = "Sending…";
  });
  const onExpired = () => {
    submit.disabled = true;
    document.getElementById("expired-note").hidden = false;
  };
  document.addEventListener("authsome:expired", onExpired);
  if ("expired" in document.documentElement.dataset) onExpired();
})();
`;
