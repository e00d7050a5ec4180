/**
 * Concurrency (`deno task stress concurrency`): many workers (50 at full size) each run the real
 * CLI back to back for a while (10 s) on one vault — reads, API-key logins, logouts of their own
 * logins, set-default and OAuth refreshes against a local token endpoint that rotates refresh
 * tokens and counts every reuse. Afterwards every login that exited 0 and was not logged out is
 * there with its own key and nothing else is, each provider with connections has exactly one
 * default, no refresh token was spent twice and each stored refresh token is the newest issued.
 * Then two held locks: a refresh held at the token endpoint and the store's write lock held by
 * another connection — the waiting process says what it waits for and gives up with exit 10
 * after `AUTHSOME_LOCK_TIMEOUT`.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import {
  ACME_CLIENT,
  type Outcome,
  randomBelow,
  readVault,
  registerAcme,
  runAuthsome,
  untidyFailure,
} from "./process_harness.ts";
import { startTokenServer, type TokenServer } from "./token_server.ts";

/** Workers and seconds: 50 for 10 s at full size, 12 for 3 s in the `npm test` slice. */
export const CONCURRENCY = {
  full: { workers: 50, seconds: 10, oauth: 4 },
  slice: { workers: 12, seconds: 3, oauth: 2 },
} as const;

/** The connections read and made default but never logged out. */
const STABLE = ["s0", "s1", "s2"];

function apiKey(label: string): string {
  return `sk-conc_${label}_${crypto.randomUUID().replaceAll("-", "")}`;
}

/** What the workers did, for the checks afterwards. */
interface Ledger {
  /** Connection → key, for every login that exited 0. */
  loggedIn: Map<string, string>;
  /** Logins that did not exit 0. */
  failedLogins: Set<string>;
  /** Connections a logout that exited 0 removed. */
  loggedOut: Set<string>;
  /** Acknowledged logins no worker has logged out or claimed for a logout yet. */
  pool: string[];
  /** Operations run, per kind. */
  ops: Map<string, number>;
  problems: string[];
}

/** Runs one worker's operations until `deadline` (performance.now() ms). */
async function worker(
  id: number,
  home: string,
  deadline: number,
  oauth: string[],
  stableKeys: Map<string, string>,
  server: TokenServer,
  ledger: Ledger,
): Promise<void> {
  const own = ledger.pool;
  for (let j = 0; performance.now() < deadline; j++) {
    const roll = randomBelow(100);
    const kind = roll < 25
      ? "read"
      : roll < 45
      ? "login"
      : roll < 60 && own.length > 0
      ? "logout"
      : roll < 75
      ? "set-default"
      : "refresh";
    ledger.ops.set(kind, (ledger.ops.get(kind) ?? 0) + 1);
    const fail = (r: Outcome, what: string) => {
      const untidy = untidyFailure(r);
      ledger.problems.push(
        `${what} exited ${r.code}${untidy ? ` (${untidy})` : ""}: ${
          r.stderr.trim().split("\n").filter((l) => l.startsWith("error")).join(" ") ||
          r.stderr.trim()
        }`,
      );
    };
    if (kind === "read") {
      const name = STABLE[randomBelow(STABLE.length)]!;
      const r = await runAuthsome(
        ["get", "openai", "-c", name, "--field", "api_key", "--show-secret"],
        { home },
      );
      if (r.code !== 0) fail(r, `get openai -c ${name}`);
      else if (r.stdout.trim() !== stableKeys.get(name)) {
        ledger.problems.push(`get openai -c ${name} printed another key`);
      }
    } else if (kind === "login") {
      const name = `w${id}-${j}`;
      const key = apiKey(name);
      const r = await runAuthsome(["login", "openai", "-c", name, "--stdin"], { home, stdin: key });
      if (r.code === 0) {
        ledger.loggedIn.set(name, key);
        own.push(name);
      } else {
        ledger.failedLogins.add(name);
        fail(r, `login openai -c ${name}`);
      }
    } else if (kind === "logout") {
      const name = own.splice(randomBelow(own.length), 1)[0]!;
      const r = await runAuthsome(["logout", "openai", "-c", name], { home });
      if (r.code === 0) ledger.loggedOut.add(name);
      else fail(r, `logout openai -c ${name}`);
    } else if (kind === "set-default") {
      const name = STABLE[randomBelow(STABLE.length)]!;
      const r = await runAuthsome(["connections", "set-default", "openai", name], { home });
      if (r.code !== 0) fail(r, `connections set-default openai ${name}`);
    } else {
      const name = oauth[randomBelow(oauth.length)]!;
      const r = await runAuthsome(
        ["get", "acme", "-c", name, "--field", "access_token", "--show-secret"],
        { home },
      );
      if (r.code !== 0) fail(r, `get acme -c ${name} (a refresh)`);
      else if (!server.issuedAccess(r.stdout.trim())) {
        ledger.problems.push(`get acme -c ${name} printed a token the server never issued`);
      }
    }
  }
}

/** Checks the vault against the ledger; returns the inconsistencies. */
async function checkVault(
  home: string,
  ledger: Ledger,
  stableKeys: Map<string, string>,
  oauth: string[],
  server: TokenServer,
): Promise<string[]> {
  const problems: string[] = [];
  const state = await readVault(home);
  const expected = new Map<string, string>();
  for (const [name, key] of stableKeys) expected.set(`openai/${name}`, key);
  for (const [name, key] of ledger.loggedIn) {
    if (!ledger.loggedOut.has(name)) expected.set(`openai/${name}`, key);
  }
  for (const [name, value] of state.connections) {
    if (name.startsWith("acme/")) continue;
    const want = expected.get(name);
    if (want === undefined) {
      const why = ledger.failedLogins.has(name.slice(7)) ? "its login failed" : "it was logged out";
      problems.push(`${name} is stored but ${why}`);
    } else if (want !== value) problems.push(`${name} holds another key`);
  }
  for (const name of expected.keys()) {
    if (!state.connections.has(name)) problems.push(`${name} was acknowledged but is missing`);
  }
  for (const name of oauth) {
    const stored = state.connections.get(`acme/${name}`);
    if (stored === undefined) problems.push(`acme/${name} is missing`);
    else if (server.latestTokens(stored.split(" ")[1]!) !== stored) {
      problems.push(`acme/${name} does not hold the newest tokens the server issued`);
    }
  }
  // Exactly one default per provider with connections, as `list --json` shows it.
  const list = await runAuthsome(["list", "--json"], { home });
  const doc = JSON.parse(list.stdout) as {
    providers: Array<{ name: string; connections: Array<{ name: string; default: boolean }> }>;
  };
  for (const provider of doc.providers) {
    if (provider.connections.length === 0) continue;
    const defaults = provider.connections.filter((c) => c.default).length;
    if (defaults !== 1) problems.push(`${provider.name} has ${defaults} default connections`);
  }
  return problems;
}

/** A held lock: the process that waits says so and gives up with exit 10. */
interface HeldLockResult {
  figure: string;
  problems: string[];
}

function judgeWait(what: string, r: Outcome, waiting: string, limitS: number): HeldLockResult {
  const problems: string[] = [];
  const lines = r.stderr.trimEnd().split("\n");
  if (r.code !== 10) problems.push(`${what}: exit ${r.code}, not 10: ${r.stderr.trim()}`);
  if (lines[0] !== waiting) problems.push(`${what}: no "${waiting}" notice: ${r.stderr.trim()}`);
  if (
    !new RegExp(`^error: .*\\b${limitS} s\\b`).test(lines[1] ?? "") ||
    !/^hint: /.test(lines[2] ?? "") || lines.length !== 3
  ) {
    problems.push(`${what}: not one error line and one hint: ${r.stderr.trim()}`);
  }
  if (r.ms < limitS * 1000 || r.ms > limitS * 1000 + 15_000) {
    problems.push(`${what}: gave up after ${Math.round(r.ms)} ms, not about ${limitS} s`);
  }
  return { figure: `exit ${r.code} after ${(r.ms / 1000).toFixed(1)} s`, problems };
}

/** A refresh held at the token endpoint; a second refresh of the connection waits and gives up. */
async function heldRefresh(
  home: string,
  server: TokenServer,
  name: string,
): Promise<HeldLockResult> {
  const args = ["get", "acme", "-c", name, "--field", "access_token", "--show-secret"];
  const arrived = server.hold();
  const first = runAuthsome(args, { home });
  await arrived;
  const second = await runAuthsome(args, { home, env: { AUTHSOME_LOCK_TIMEOUT: "1.5" } });
  server.release();
  const held = await first;
  const result = judgeWait(
    "a refresh waiting for a held refresh",
    second,
    `Waiting for another authsome process that is refreshing acme (${name})…`,
    1.5,
  );
  if (held.code !== 0) result.problems.push(`the held refresh failed: ${held.stderr.trim()}`);
  return result;
}

/** The store's write lock held by another connection; a login waits and gives up, storing nothing. */
async function heldStore(home: string): Promise<HeldLockResult> {
  const path = join(home, "authsome.db");
  const db = new DatabaseSync(path);
  let r: Outcome;
  try {
    db.exec("BEGIN IMMEDIATE");
    r = await runAuthsome(["login", "openai", "-c", "blocked", "--stdin"], {
      home,
      stdin: apiKey("blocked"),
      env: { AUTHSOME_LOCK_TIMEOUT: "1.5" },
    });
  } finally {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
  }
  const result = judgeWait(
    "a login waiting for the store's write lock",
    r,
    `Waiting for another authsome process that is writing the store (${path})…`,
    1.5,
  );
  if ((await readVault(home)).connections.has("openai/blocked")) {
    result.problems.push("the login that gave up stored its connection");
  }
  return result;
}

/** Runs the concurrency part at `ctx.size`. */
export async function runConcurrency(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const size = CONCURRENCY[ctx.size];
  const home = join(ctx.scratch, "home");
  await using server = await startTokenServer({ reuse: "refuse" });
  await registerAcme(home, server);
  const problems: string[] = [];

  // The stable connections first (one process: it creates the key), then the OAuth logins at once.
  const stableKeys = new Map(STABLE.map((name) => [name, apiKey(name)]));
  for (const [name, key] of stableKeys) {
    const r = await runAuthsome(["login", "openai", "-c", name, "--stdin"], { home, stdin: key });
    if (r.code !== 0) throw new Error(`seeding ${name} failed: ${r.stderr}`);
  }
  const oauth = Array.from({ length: size.oauth }, (_, i) => `r${i}`);
  const logins = await Promise.all(
    oauth.map((name) => runAuthsome(["login", "acme", "-c", name], { home, env: ACME_CLIENT })),
  );
  for (const r of logins) if (r.code !== 0) throw new Error(`seeding acme failed: ${r.stderr}`);

  const ledger: Ledger = {
    loggedIn: new Map(),
    failedLogins: new Set(),
    loggedOut: new Set(),
    ops: new Map(),
    problems: [],
    pool: [],
  };
  // Logins for the workers to log out from the start, made at once with the OAuth logins.
  const disposable = Array.from({ length: Math.ceil(size.workers / 4) }, (_, i) => `d${i}`);
  const seeded = await Promise.all(
    disposable.map(async (name) => {
      const key = apiKey(name);
      const r = await runAuthsome(["login", "openai", "-c", name, "--stdin"], { home, stdin: key });
      return { name, key, r };
    }).concat(),
  );
  for (const { name, key, r } of seeded) {
    if (r.code !== 0) throw new Error(`seeding ${name} failed: ${r.stderr}`);
    ledger.loggedIn.set(name, key);
    ledger.pool.push(name);
  }
  const runStarted = performance.now();
  const deadline = runStarted + size.seconds * 1000;
  await Promise.all(
    Array.from(
      { length: size.workers },
      (_, id) => worker(id, home, deadline, oauth, stableKeys, server, ledger),
    ),
  );
  const runSeconds = secondsSince(runStarted);
  problems.push(...ledger.problems);
  const inconsistencies = await checkVault(home, ledger, stableKeys, oauth, server);
  problems.push(...inconsistencies);
  if (server.reuses() > 0) {
    problems.push(`${server.reuses()} refresh token(s) spent twice`);
  }
  ctx.log(
    `${[...ledger.ops.values()].reduce((a, b) => a + b, 0)} processes, ${problems.length} problems`,
  );

  const refresh = await heldRefresh(home, server, oauth[0]!);
  const store = await heldStore(home);
  problems.push(...refresh.problems, ...store.problems);
  const total = [...ledger.ops.values()].reduce((a, b) => a + b, 0);
  return {
    title: "Concurrency",
    figures: [
      ["workers running the CLI back to back on one vault", size.workers],
      [
        "seconds new processes were started for (until the last one ended)",
        `${size.seconds} (${runSeconds})`,
      ],
      ["processes run", total],
      ["by kind", [...ledger.ops].sort().map(([kind, count]) => `${kind} ${count}`).join(", ")],
      [
        "logins acknowledged / logged out again",
        `${ledger.loggedIn.size} / ${ledger.loggedOut.size}`,
      ],
      ["refreshes answered by the token endpoint", server.refreshes()],
      ["refresh tokens spent twice", server.reuses()],
      ["processes that failed", ledger.problems.length],
      ["inconsistencies in the vault afterwards", inconsistencies.length],
      ["held refresh lock: the waiting process", refresh.figure],
      ["held store write lock: the waiting login", store.figure],
    ],
    problems,
    seconds: secondsSince(started),
  };
}

/**
 * The concurrency part of the suite.
 *
 * @example
 * ```ts
 * import { concurrency } from "./concurrency.ts";
 * console.log(concurrency.name); // "concurrency"
 * ```
 */
export const concurrency: StressPart = { name: "concurrency", run: runConcurrency };
