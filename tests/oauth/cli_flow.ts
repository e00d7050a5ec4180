/**
 * Helpers for end-to-end OAuth login tests: spawn `./authsome login …` and read its stderr while
 * it runs (the authorization URL, the device user code), play the browser's redirect to the
 * loopback callback, probe whether a port still listens, and read a stored record straight from
 * the vault file (to learn a token without going through a command that could refresh it).
 *
 * @module
 */
import { cliEnv, type CliResult, LAUNCHER } from "../helpers.ts";
import type { AuthServer } from "./server.ts";
import { loadMasterKey } from "../../storage/master_key.ts";
import { openHomeStore, openHomeVault } from "../../storage/home.ts";
import type { Vault } from "../../storage/vault.ts";
import { summarizeRecord } from "../../service/summary.ts";

/** Options of {@linkcode spawnCli}. */
export interface SpawnOptions {
  /** AUTHSOME_HOME for the run. */
  home: string;
  /** Extra environment variables over the minimal clean one (BROWSER=true is always set). */
  env?: Record<string, string>;
  /**
   * A hosts file: the CLI then runs in a private mount namespace where it is /etc/hosts
   * (`unshare -m`), so test host names resolve to 127.0.0.1 without touching the machine's.
   */
  hosts?: string;
}

/** The program and arguments that run `./authsome ARGS`, inside `hosts` when given. */
export function cliCommand(args: string[], hosts?: string): [string, string[]] {
  if (hosts === undefined) return [LAUNCHER, args];
  const script = 'mount --bind "$0" /etc/hosts && exec "$@"';
  return ["unshare", ["-m", "sh", "-c", script, hosts, LAUNCHER, ...args]];
}

/** A CLI process that is still running. */
export interface CliProcess {
  /** Resolves with the first match of `pattern` in stderr; rejects when the process ends first. */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Waits for the exit and returns the whole output. */
  done(): Promise<CliResult>;
  /** Whether the process has exited. */
  exited(): boolean;
  /** Sends `sig` when the process still runs. */
  signal(sig: Deno.Signal): void;
  /** Sends SIGTERM when the process still runs. */
  kill(): void;
}

/**
 * Spawns `./authsome ARGS` with a minimal environment (PATH, HOME, AUTHSOME_HOME, NO_COLOR,
 * BROWSER=true so no browser opens) plus `env`; stdin is /dev/null (no TTY: nothing is prompted).
 */
export function spawnCli(args: string[], options: SpawnOptions): CliProcess {
  const [program, argv] = cliCommand(args, options.hosts);
  const child = new Deno.Command(program, {
    args: argv,
    clearEnv: true,
    env: cliEnv(options.home, { BROWSER: "true", ...options.env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  let stderrText = "";
  let ended = false;
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stderrText += chunk;
        notify();
      },
    }),
  ).catch(() => {}).finally(() => {
    ended = true;
    notify();
  });
  const stdoutDone = new Response(child.stdout).text();

  let result: Promise<CliResult> | undefined;
  const done = () =>
    result ??= (async () => {
      const [status, stdout] = await Promise.all([child.status, stdoutDone, stderrDone]);
      return { code: status.code, stdout, stderr: stderrText };
    })();

  const signal = (sig: Deno.Signal) => {
    if (exited) return;
    try {
      child.kill(sig);
    } catch { /* already gone */ }
  };

  return {
    waitForStderr(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = stderrText.match(pattern);
          if (match) {
            cleanup();
            resolve(match);
          } else if (ended) {
            cleanup();
            reject(new Error(`the CLI ended before printing ${pattern}; stderr:\n${stderrText}`));
          }
        };
        const cleanup = () => {
          listeners.delete(check);
          clearTimeout(timer);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms:\n${stderrText}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    stderr: () => stderrText,
    done,
    exited: () => exited,
    signal,
    kill: () => signal("SIGTERM"),
  };
}

/** The authorization URL a pkce login prints (stderr up to "Waiting for the browser"). */
export const AUTHORIZATION_URL = /(https?:\/\/\S+\/auth\?\S+)[\s\S]*Waiting for the browser/;

/** The user code a device-code login prints. */
export const USER_CODE = /enter the code:\s+(\S+)\s/;

/** The loopback port of the `redirect_uri` inside an authorization URL. */
export function redirectPort(authorizationUrl: string): number {
  const redirect = new URL(authorizationUrl).searchParams.get("redirect_uri");
  if (redirect === null) throw new Error(`no redirect_uri in ${authorizationUrl}`);
  return Number(new URL(redirect).port);
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export async function portAccepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return false;
    throw error;
  }
}

/** What delivering a callback URL produced: an HTTP answer, or a refused connection. */
export interface Delivery {
  /** True when nothing listened (status 0, text empty). */
  refused: boolean;
  /** The HTTP status. */
  status: number;
  /** The page. */
  text: string;
}

/** Requests the callback URL as the browser would after the redirect (GET, no redirects). */
export async function deliver(callbackUrl: string): Promise<Delivery> {
  try {
    const res = await fetch(callbackUrl, { redirect: "manual" });
    return { refused: false, status: res.status, text: await res.text() };
  } catch (error) {
    if (error instanceof TypeError) {
      // Deno's fetch wraps the refused connection.
      return { refused: true, status: 0, text: "" };
    }
    throw error;
  }
}

/**
 * Reads one record of the `default` vault straight from the vault file (read-only, never
 * writes), e.g. `connection/acme/default` or `client/acme`; undefined when absent.
 */
export async function storedRecord<T = Record<string, unknown>>(
  home: string,
  key: string,
): Promise<T | undefined> {
  return await withStoredVault(home, (vault) => vault.get<T>(key));
}

/** What the test server's protected resource said about an access token. */
export interface WhoamiAnswer {
  /** 200 for a valid token, 401 otherwise. */
  status: number;
  /** The token's subject, client and scope (200 only). */
  body: { sub?: string; client_id?: string; scope?: string; error?: string };
}

/** Calls the test server's protected resource (`/__test/whoami`) with `token`. */
export async function whoami(issuer: string, token: string): Promise<WhoamiAnswer> {
  const res = await fetch(`${issuer}/__test/whoami`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: await res.json() };
}

/**
 * Moves the stored expiry of connection `provider/connection` (default vault), the way the
 * CLI writes records: through the vault, under its lock. Used to make a long-lived token "need
 * a refresh" without waiting.
 */
export async function setStoredExpiry(
  home: string,
  provider: string,
  connection: string,
  expiresAt: Date,
): Promise<void> {
  const key = `connection/${provider}/${connection}`;
  await withStoredVault(home, (vault) =>
    vault.update(async (tx) => {
      const record = await tx.get<Record<string, unknown>>(key);
      if (record === undefined) throw new Error(`${key} is not stored`);
      tx.set(key, { ...record, expires_at: expiresAt.toISOString() });
    }));
}

/**
 * Runs `fn` on the `default` vault of `home`, opened the way the CLI opens it (same store,
 * same index of connections), and closes the store afterwards.
 */
export async function withStoredVault<T>(
  home: string,
  fn: (vault: Vault) => Promise<T>,
): Promise<T> {
  const store = openHomeStore(home);
  try {
    return await fn(openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => loadMasterKey({ home }, { create: false }),
      summarize: summarizeRecord,
    }));
  } finally {
    store.close();
  }
}

/** The `acme` provider definition (pkce, confidential client from ACME_CLIENT_*) of the test server. */
export function acmeDefinition(
  /** Where the endpoints are: the server's origin (or, from tests that pass only it, issuer). */
  server: { origin: string } | Pick<AuthServer, "issuer">,
  overrides: Record<string, unknown> = {},
) {
  const base = "origin" in server ? server.origin : server.issuer;
  return {
    name: "acme",
    display_name: "Acme",
    auth_type: "oauth2",
    flow: "pkce",
    api_url: "api.acme.test",
    oauth: {
      authorization_url: `${base}/auth`,
      token_url: `${base}/token`,
      revocation_url: `${base}/token/revocation`,
      device_authorization_url: `${base}/device/auth`,
      scopes: ["openid", "read", "write"],
      client: { client_id_env: "ACME_CLIENT_ID", client_secret_env: "ACME_CLIENT_SECRET" },
    },
    ...overrides,
  };
}
