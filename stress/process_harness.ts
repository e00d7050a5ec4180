/**
 * What the parts of the adversarial suite share: running the real CLI (`./authsome`) as a process
 * (optionally killed with SIGKILL after a delay), the `acme` OAuth provider served by
 * {@linkcode startTokenServer}, and reading a home's `default` vault through the library the way
 * the CLI opens it, to compare the stored state with what the suite expects.
 *
 * @module
 */
import { join } from "node:path";
import { cliEnv, LAUNCHER } from "../tests/helpers.ts";
import { openHomeStore, openHomeVault } from "../storage/home.ts";
import { loadMasterKey } from "../storage/master_key.ts";
import { summarizeRecord } from "../service/summary.ts";
import type { TokenServer } from "./token_server.ts";

/** How one CLI run ended. */
export interface Outcome {
  /** Exit status (137-like codes are not used: see `killed`). */
  code: number;
  /** True when the suite killed it with SIGKILL before it exited. */
  killed: boolean;
  stdout: string;
  stderr: string;
  /** Wall time of the run, ms. */
  ms: number;
}

/** Options of {@linkcode runAuthsome}. */
export interface RunAuthsome {
  /** AUTHSOME_HOME. */
  home: string;
  /** Variables over the minimal clean environment of `tests/helpers.ts`. */
  env?: Record<string, string>;
  /** Written to stdin, which is then closed (stdin is /dev/null when absent). */
  stdin?: string;
  /** SIGKILL the process this many ms after it started, when it still runs. */
  killAfterMs?: number;
  /**
   * SIGKILL the process as soon as this file has grown past its size at the start (checked every
   * 50 µs by a worker, stress/kill_watch.ts): aimed at the moment a write reaches the store, e.g.
   * its SQLite WAL.
   */
  killWhenGrows?: string;
  /** With `killWhenGrows`: wait this long after the growth, ms (fractions allowed). */
  killDelayMs?: number;
  /** Extra argv before `./authsome` (e.g. `unshare -m …`); the launcher is appended. */
  wrapper?: string[];
}

/**
 * Runs `./authsome ARGS` as its own process and reports how it ended.
 *
 * @example
 * ```ts
 * import { runAuthsome } from "./process_harness.ts";
 * const home = await Deno.makeTempDir();
 * const r = await runAuthsome(["--version"], { home });
 * console.log(r.code, r.killed); // 0 false
 * await Deno.remove(home, { recursive: true });
 * ```
 */
export async function runAuthsome(args: string[], options: RunAuthsome): Promise<Outcome> {
  const started = performance.now();
  const [program, ...rest] = [...(options.wrapper ?? []), LAUNCHER, ...args];
  const child = new Deno.Command(program!, {
    args: rest,
    clearEnv: true,
    env: cliEnv(options.home, options.env),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  let exited = false;
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => {
    if (exited) return;
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone meanwhile */ }
  }, options.killAfterMs);
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const watcher = options.killWhenGrows === undefined ? undefined : new Worker(
    new URL("./kill_watch.ts", import.meta.url),
    { type: "module" },
  );
  const watched = new Promise<void>((resolve) => {
    if (watcher === undefined) return resolve();
    watcher.onmessage = (event: MessageEvent<boolean>) => {
      if (event.data) killed = true;
      resolve();
    };
    const delayMs = options.killDelayMs ?? 0;
    watcher.postMessage({ pid: child.pid, path: options.killWhenGrows, flag, delayMs });
  });
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const [status, stdout, stderr] = await Promise.all([
    child.status.finally(() => exited = true),
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  clearTimeout(timer);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
  await watched;
  watcher?.terminate();
  return {
    code: status.code,
    killed: killed && status.signal === "SIGKILL",
    stdout,
    stderr,
    ms: performance.now() - started,
  };
}

/** Why an outcome is not a clean failure (one `error:` line and one `hint:` line), or undefined. */
export function untidyFailure(outcome: Outcome): string | undefined {
  if (outcome.killed || outcome.code === 0) return undefined;
  if (outcome.stderr.includes("    at ")) return "a stack trace on stderr";
  const lines = outcome.stderr.trimEnd().split("\n").filter((line) => !/^Waiting for /.test(line));
  const error = lines.filter((line) => line.startsWith("error: "));
  if (error.length !== 1) return `${error.length} error lines`;
  if (!DOCUMENTED_EXIT_CODES.has(outcome.code)) return `undocumented exit code ${outcome.code}`;
  return undefined;
}

/** The exit codes errors.ts documents. */
export const DOCUMENTED_EXIT_CODES: ReadonlySet<number> = new Set([
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  10,
  64,
  65,
  125,
  126,
  127,
]);

/** The `acme` provider definition served by `server` (device-code flow, rotating refresh tokens). */
export function acmeProvider(server: TokenServer): Record<string, unknown> {
  return {
    name: "acme",
    display_name: "Acme",
    auth_type: "oauth2",
    flow: "device_code",
    api_url: "api.acme.test",
    oauth: {
      authorization_url: `${server.origin}/auth`,
      token_url: server.tokenUrl,
      device_authorization_url: server.deviceUrl,
      scopes: ["read"],
      client: { client_id_env: "ACME_CLIENT_ID", client_secret_env: "ACME_CLIENT_SECRET" },
    },
  };
}

/** The client credentials `login acme` reads from the environment. */
export const ACME_CLIENT: Record<string, string> = {
  ACME_CLIENT_ID: "stress-client",
  ACME_CLIENT_SECRET: "stress-client-secret",
};

/** Registers `acme` in `home` with the real CLI; throws when that fails. */
export async function registerAcme(home: string, server: TokenServer): Promise<void> {
  const file = join(home, "..", "acme.json");
  await Deno.mkdir(join(home, ".."), { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(acmeProvider(server)));
  const r = await runAuthsome(["provider", "register", file], { home });
  if (r.code !== 0) throw new Error(`provider register failed: ${r.stderr}`);
}

/** What a vault holds, as the suite compares it. */
export interface VaultState {
  /** `provider/connection` → the API key, or the access and refresh tokens. */
  connections: Map<string, string>;
  /** provider → its default connection (only providers with a provider record). */
  defaults: Map<string, string | null>;
  /** The names of the identities. */
  identities: string[];
}

/**
 * Reads the `default` vault of `home` through the library (as the CLI opens it; the key from
 * `masterKey` or the key file). Throws when the vault does not open or a record does not.
 */
export async function readVault(home: string, masterKey?: string): Promise<VaultState> {
  const store = openHomeStore(home);
  try {
    const vault = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: (create) => loadMasterKey({ home, masterKey }, { create }),
      summarize: summarizeRecord,
    });
    const connections = new Map<string, string>();
    for (const key of await vault.keys("connection/")) {
      const record = await vault.get<{ secrets: Record<string, string> }>(key);
      if (record === undefined) throw new Error(`${key} is listed but does not open`);
      const { api_key, access_token, refresh_token } = record.secrets;
      connections.set(
        key.slice("connection/".length),
        api_key ?? `${access_token ?? ""} ${refresh_token ?? ""}`,
      );
    }
    const defaults = new Map<string, string | null>();
    for (const key of await vault.keys("provider/")) {
      const state = await vault.get<{ default_connection?: string | null }>(key);
      defaults.set(key.slice("provider/".length), state?.default_connection ?? null);
    }
    const identities = (await vault.keys("identity/")).map((key) => key.slice(9)).sort();
    return { connections, defaults, identities };
  } finally {
    store.close();
  }
}

/** Files in `home` (top level and `locks/`) that are not the store, the key or the audit log. */
export async function strayFiles(home: string): Promise<string[]> {
  const stray: string[] = [];
  const expected = /^(authsome\.db(-wal|-shm)?|master\.key|audit\.log|locks|providers)$/;
  for await (const entry of Deno.readDir(home)) {
    if (!expected.test(entry.name)) stray.push(entry.name);
  }
  try {
    for await (const entry of Deno.readDir(join(home, "locks"))) {
      if (!entry.name.endsWith(".lock")) stray.push(`locks/${entry.name}`);
    }
  } catch { /* no locks folder yet */ }
  return stray;
}

/** A random integer in [0, n). */
export function randomBelow(n: number): number {
  return Math.floor(Math.random() * n);
}
