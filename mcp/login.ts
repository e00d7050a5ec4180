/**
 * The `request_login` tool: starts a login for the human, the way `authsome login` does it — the
 * local browser form for an API key (or an OAuth app's client details), the provider's page for
 * an OAuth login, the code and URL of a device-code login — and waits for the outcome while
 * reporting progress. The secret goes from the human to the vault; the agent only ever sees where
 * to send the human and how it ended.
 *
 * A login outlives the tool call that started it (up to {@linkcode LOGIN_LIMIT_SECONDS}): a call
 * that stops waiting earlier returns `waiting` with the page or code, and the next call for the
 * same connection waits for that same login instead of starting another.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { login } from "../service/login.ts";
import { connKey, type ServiceContext } from "../service/context.ts";
import { checkConnections } from "../service/status.ts";
import type { ConnectionRecord, InputRequest, LoginResult } from "../service/types.ts";
import { runtime } from "../runtime/runtime.ts";
import { type CallFacts, connectionFor, type McpAccess } from "./access.ts";

/** How long a started login waits for the human (the form, the browser or the device code). */
export const LOGIN_LIMIT_SECONDS = 300;
/** How often progress is reported while a call waits. */
export const PROGRESS_EVERY_MS = 5_000;

/** What the agent asks for. */
export interface LoginInput {
  provider: string;
  connection?: string | undefined;
  scopes?: string[] | undefined;
  /** How long this call waits for the outcome, in seconds (default and limit: 300). */
  wait_seconds?: number | undefined;
}

/** Where the human has to go: the form, the provider's page, or a device code. */
export type LoginPrompt =
  | { kind: "form"; url: string; asks: string }
  | { kind: "browser"; url: string }
  | {
    kind: "device_code";
    url: string;
    code: string;
    url_with_code?: string;
    expires_in: number;
  };

/** What the agent gets back. */
export interface LoginOutcome {
  /** `logged_in`, `already_logged_in`, or `waiting` (the human has not finished yet). */
  status: "logged_in" | "already_logged_in" | "waiting";
  provider: string;
  connection: string;
  /** Whether the connection is now the provider's default. */
  default?: boolean;
  /** Who the credential belongs to, where the provider says. */
  account?: string | null;
  /** Where the human has to go, while waiting. */
  prompt?: LoginPrompt;
  /** One sentence for the agent (and what to tell the human). */
  message: string;
}

/** A login under way. */
interface Pending {
  done: Promise<LoginResult>;
  prompt: LoginPrompt | undefined;
  /** Resolves when the prompt changes. */
  changed: Promise<void>;
  abort: AbortController;
}

/** What the tool keeps for the session. */
export interface LoginSession {
  ctx: ServiceContext;
  access: McpAccess;
  /** Opens a URL in the human's browser when one can be opened (never fails). */
  openUrl: (url: string) => void;
  /** Logins under way, by `provider/connection`. */
  pending: Map<string, Pending>;
}

/**
 * Runs one `request_login`; `facts` gets the connection and the outcome for the audit entry.
 * `progress` is told (about every 5 s, and when the prompt appears)
 * what the login waits for. Rejects with an {@linkcode AuthsomeError} when the login fails or
 * times out (nothing stored), or a refusal when the identity may not use the provider.
 *
 * @example
 * ```ts ignore
 * const outcome = await requestLogin(session, { provider: "openai" }, {}, (m) => console.error(m));
 * ```
 */
export async function requestLogin(
  session: LoginSession,
  input: LoginInput,
  facts: CallFacts,
  progress: (message: string, elapsedSeconds: number) => void,
  signal?: AbortSignal,
): Promise<LoginOutcome> {
  const { ctx, access } = session;
  const { provider } = input;
  const def = (await ctx.registry.get(provider)).definition;
  const connection = input.connection ??
    await connectionFor(ctx, access, provider, undefined) ?? "default";
  facts.connection = connection;
  // With an identity, the connection it may use (refused otherwise, naming the rule).
  await connectionFor(ctx, access, provider, connection);
  const base = { provider, connection };
  const key = `${provider}/${connection}`;
  let pending = session.pending.get(key);
  if (pending === undefined) {
    const existing = await checkConnections(ctx, provider, connection).then(
      ([check]) => check,
      () => undefined,
    );
    const record = existing === undefined
      ? undefined
      : await ctx.vault.get<ConnectionRecord>(connKey(provider, connection));
    const scopesHeld = (input.scopes ?? []).every((s) => record?.scopes.includes(s) === true);
    if (existing?.usable && scopesHeld) {
      facts.login = "already_logged_in";
      return {
        status: "already_logged_in",
        ...base,
        default: existing.default,
        message: `${def.display_name} (${connection}) is logged in already (${existing.detail})`,
      };
    }
    pending = startLogin(session, provider, connection, existing !== undefined, input.scopes);
    session.pending.set(key, pending);
    const started = pending;
    // A finished login's outcome waits for the call that asks next (at most the login's limit).
    const forget = () => {
      const timer = setTimeout(() => {
        if (session.pending.get(key) === started) session.pending.delete(key);
      }, LOGIN_LIMIT_SECONDS * 1000);
      runtime.unrefTimer(timer);
    };
    started.done.then(forget, forget);
  }
  const waitMs = Math.min(input.wait_seconds ?? LOGIN_LIMIT_SECONDS, LOGIN_LIMIT_SECONDS) * 1000;
  const began = Date.now();
  const deadline = began + waitMs;
  const current = pending;
  let reported: LoginPrompt | undefined;
  const report = () => {
    const elapsed = Math.round((Date.now() - began) / 1000);
    progress(
      current.prompt === undefined
        ? `Starting the ${def.display_name} login…`
        : `Waiting for the human: ${tellHuman(current.prompt)}`,
      elapsed,
    );
    reported = current.prompt;
  };
  report();
  const finished = current.done.then((r) => ({ result: r }), (error) => ({ error }));
  const cancelled = new Promise<"cancelled">((resolve) => {
    if (signal?.aborted) resolve("cancelled");
    signal?.addEventListener("abort", () => resolve("cancelled"), { once: true });
  });
  while (true) {
    // Past the wait only until the human has somewhere to go: at most 30 s more.
    const due = (current.prompt === undefined ? deadline + 30_000 : deadline) - Date.now();
    if (due <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = new Promise<"tick">((resolve) => {
      timer = setTimeout(() => resolve("tick"), Math.min(due, PROGRESS_EVERY_MS));
    });
    const outcome = await Promise.race([
      finished,
      tick,
      cancelled,
      current.changed.then(() => "changed" as const),
    ]);
    clearTimeout(timer);
    if (outcome === "cancelled") break;
    if (outcome === "tick" || outcome === "changed") {
      if (outcome === "tick" || current.prompt !== reported) report();
      if (outcome === "tick" && current.prompt !== undefined && Date.now() >= deadline) break;
      continue;
    }
    // The outcome is told once; the next call starts afresh.
    if (session.pending.get(key) === current) session.pending.delete(key);
    if ("error" in outcome) throw outcome.error;
    const r = outcome.result;
    facts.login = "logged_in";
    return {
      status: "logged_in",
      ...base,
      default: r.default,
      account: r.account,
      message: `Logged in to ${def.display_name} (${connection})` +
        (r.account ? ` as ${r.account}` : "") + (r.default ? ", the default connection" : ""),
    };
  }
  facts.login = "waiting";
  return {
    status: "waiting",
    ...base,
    ...(current.prompt !== undefined ? { prompt: current.prompt } : {}),
    message: current.prompt === undefined
      ? `The ${def.display_name} login is starting; call request_login again to wait for it`
      : `Ask the human to ${tellHuman(current.prompt)}, then call request_login again with ` +
        "the same provider and connection to wait for the outcome",
  };
}

/**
 * Ends every login under way (the session closes) and resolves once they have ended: their
 * pages and callback ports are closed, their failed `login` audit entries written, nothing stored.
 *
 * @example
 * ```ts ignore
 * await abortLogins(session);
 * ```
 */
export async function abortLogins(session: LoginSession): Promise<void> {
  const pending = [...session.pending.values()];
  for (const login of pending) login.abort.abort();
  // Each step of a login honours the abort; the bound keeps a stuck request from holding the close.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<void>((resolve) => timer = setTimeout(resolve, ABORT_WAIT_MS));
  await Promise.race([Promise.allSettled(pending.map((login) => login.done)), bound]);
  clearTimeout(timer);
}

/** How long closing the session waits for its aborted logins to end. */
const ABORT_WAIT_MS = 5_000;

/** What to tell the human, in one line. */
function tellHuman(prompt: LoginPrompt): string {
  if (prompt.kind === "form") return `open ${prompt.url} and enter the ${prompt.asks} there`;
  if (prompt.kind === "browser") return `open ${prompt.url} and log in`;
  return `open ${prompt.url} and enter the code ${prompt.code}`;
}

/** Starts the login; its prompt is filled in when the form, page or code is ready. */
function startLogin(
  session: LoginSession,
  provider: string,
  connection: string,
  replace: boolean,
  scopes: string[] | undefined,
): Pending {
  const abort = new AbortController();
  let signalChange!: () => void;
  const pending: Pending = {
    done: Promise.resolve() as unknown as Promise<LoginResult>,
    prompt: undefined,
    changed: new Promise((resolve) => signalChange = resolve),
    abort,
  };
  const show = (prompt: LoginPrompt, open: string) => {
    pending.prompt = prompt;
    const resolve = signalChange;
    pending.changed = new Promise((r) => signalChange = r);
    resolve();
    session.openUrl(open);
  };
  pending.done = login(session.ctx, provider, {
    connection,
    force: replace,
    ...(scopes !== undefined && scopes.length > 0 ? { scopes } : {}),
    // The human types the key into the form; a variable of the agent's environment is not used.
    explicitInput: true,
    timeoutSeconds: LOGIN_LIMIT_SECONDS,
    signal: abort.signal,
    readFields: (request) => readInForm(request, abort.signal, show),
    onAuthorizationUrl: (url) => show({ kind: "browser", url }, url),
    onDeviceCode: (d) =>
      show({
        kind: "device_code",
        url: d.verification_uri,
        code: d.user_code,
        ...(d.verification_uri_complete ? { url_with_code: d.verification_uri_complete } : {}),
        expires_in: d.expires_in,
      }, d.verification_uri_complete ?? d.verification_uri),
  });
  pending.done.catch(() => {}); // awaited by the calls; never an unhandled rejection
  return pending;
}

/** Serves the local browser form for `request` and waits for its one submission. */
async function readInForm(
  request: InputRequest,
  signal: AbortSignal,
  show: (prompt: LoginPrompt, open: string) => void,
): Promise<Record<string, string>> {
  const { startFormServer } = await import("../providers/input_form.ts");
  const { validate, envVars: _envVars, ...formRequest } = request;
  const form = startFormServer({
    request: formRequest,
    timeoutMs: LOGIN_LIMIT_SECONDS * 1000,
    signal,
    ...(validate ? { validate } : {}),
  });
  const asks = request.fields.filter((f) => f.value === undefined)
    .map((f) => f.label.toLowerCase()).join(" and ");
  show({ kind: "form", url: form.url, asks }, form.url);
  try {
    return await form.waitForSubmit();
  } catch (error) {
    throw error instanceof AuthsomeError ? error : new AuthsomeError("AUTH_FAILED", String(error));
  } finally {
    await form.close();
  }
}
