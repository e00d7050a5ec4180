/**
 * Crash safety (`deno task stress crash`): writes of every kind — API-key logins (stdin or the
 * environment), replacing logins, OAuth device logins, token refreshes against a local token
 * endpoint, set-default, logout, identity create and remove — each run as the real CLI and sent
 * SIGKILL at a random moment. After every run the `default` vault must open with the key file
 * written by the first login and hold exactly what the suite expects: the state after the write
 * when it exited 0, the state before or after it when it was killed (never a mix), the state
 * before when it failed. No stray files may be left, the audit log holds whole lines, and the
 * SQLite WAL stays bounded. Then the disk-full check ({@linkcode checkDiskFull}).
 *
 * @module
 */
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
  strayFiles,
  untidyFailure,
  type VaultState,
} from "./process_harness.ts";
import { startTokenServer, type TokenServer } from "./token_server.ts";
import { checkDiskFull } from "./disk_full.ts";

/** Writes per run: 200 at full size, 20 in the `npm test` slice. */
export const CRASH_WRITES = { full: 200, slice: 20 } as const;

/** The largest the SQLite WAL may grow to before it counts as "left to grow" (bytes). */
const WAL_LIMIT = 4 * 1024 * 1024;

/** One write the suite can run: its argv, stdin/env, and the state it leads to. */
interface Write {
  kind: string;
  args: string[];
  stdin?: string;
  env?: Record<string, string>;
  /** The expected state when the write is done; `printed` is its stdout (refresh). */
  after(before: VaultState, printed: string): VaultState;
}

function clone(state: VaultState): VaultState {
  return {
    connections: new Map(state.connections),
    defaults: new Map(state.defaults),
    identities: [...state.identities],
  };
}

function namesOf(state: VaultState, provider: string): string[] {
  return [...state.connections.keys()].filter((key) => key.startsWith(`${provider}/`))
    .map((key) => key.slice(provider.length + 1)).sort();
}

/** A valid-looking, unique OpenAI key. */
function apiKey(n: number): string {
  return `sk-crash${n}_${crypto.randomUUID().replaceAll("-", "")}`;
}

/** The state after a login of `provider/name` with `secret` (the CLI's default rule). */
function loggedIn(
  state: VaultState,
  provider: string,
  name: string,
  secret: string,
  force: boolean,
) {
  const next = clone(state);
  next.connections.set(`${provider}/${name}`, secret);
  const current = next.defaults.get(provider) ?? null;
  if (force || current === null || current === name) next.defaults.set(provider, name);
  return next;
}

/** The state after a logout of `provider/name` (a deleted default moves to "default" or the first). */
function loggedOut(state: VaultState, provider: string, name: string): VaultState {
  const next = clone(state);
  next.connections.delete(`${provider}/${name}`);
  if (next.defaults.get(provider) === name) {
    const rest = namesOf(next, provider);
    const moved = rest.includes("default") ? "default" : rest[0];
    if (moved === undefined) next.defaults.delete(provider);
    else next.defaults.set(provider, moved);
  }
  return next;
}

/** Every kind of write, in the order of one round before it is shuffled. */
const KINDS = [
  "login",
  "login-env",
  "login-force",
  "login-oauth",
  "logout",
  "set-default",
  "refresh",
  "identity",
] as const;

/** Rounds of all kinds in random order, so even the 20 writes of the slice run every kind. */
function kindQueue(): () => string {
  let queue: string[] = [];
  return () => {
    if (queue.length === 0) queue = [...KINDS].sort(() => Math.random() - 0.5);
    return queue.pop()!;
  };
}

/**
 * The write of `kind` that makes sense in `state` (a plain login when the kind needs two
 * connections and there is one). A replacing login and a logout prefer a connection that is not
 * the default and the default respectively: each then changes two records in one commit.
 */
function pickWrite(state: VaultState, n: number, server: TokenServer, wanted: string): Write {
  const openai = namesOf(state, "openai");
  const acme = namesOf(state, "acme");
  const current = state.defaults.get("openai");
  let kind = wanted;
  if ((kind === "login-force" || kind === "logout") && openai.length < 2) kind = "login";
  if (kind === "login-oauth" && acme.length >= 4) kind = "refresh";
  const any = (names: string[]) => names[randomBelow(names.length)]!;
  switch (kind) {
    case "login":
    case "login-env": {
      const key = apiKey(n);
      const name = `c${n}`;
      const after = (s: VaultState) => loggedIn(s, "openai", name, key, false);
      return kind === "login"
        ? { kind, args: ["login", "openai", "-c", name, "--stdin"], stdin: key, after }
        : { kind, args: ["login", "openai", "-c", name], env: { OPENAI_API_KEY: key }, after };
    }
    case "login-force": {
      const key = apiKey(n);
      const name = any(openai.filter((name) => name !== current));
      return {
        kind,
        args: ["login", "openai", "-c", name, "--force", "--stdin"],
        stdin: key,
        after: (s) => loggedIn(s, "openai", name, key, true),
      };
    }
    case "login-oauth": {
      const name = `o${n}`;
      return {
        kind,
        args: ["login", "acme", "-c", name],
        env: ACME_CLIENT,
        // The tokens are the server's newest: the login was its last token grant.
        after: (s) => loggedIn(s, "acme", name, server.newestLogin(), false),
      };
    }
    case "logout": {
      const name = current != null && randomBelow(2) === 0 ? current : any(openai);
      return {
        kind,
        args: ["logout", "openai", "-c", name],
        after: (s) => loggedOut(s, "openai", name),
      };
    }
    case "set-default": {
      const name = any(openai);
      return {
        kind,
        args: ["connections", "set-default", "openai", name],
        after: (s) => {
          const next = clone(s);
          next.defaults.set("openai", name);
          return next;
        },
      };
    }
    case "refresh": {
      const name = any(acme);
      return {
        kind,
        args: ["get", "acme", "-c", name, "--field", "access_token", "--show-secret"],
        after: (s) => {
          const next = clone(s);
          const stored = s.connections.get(`acme/${name}`)!;
          next.connections.set(`acme/${name}`, server.latestTokens(stored.split(" ")[1]!) ?? "");
          return next;
        },
      };
    }
    default: {
      const existing = state.identities;
      if (existing.length > 0 && randomBelow(2) === 0) {
        const name = any(existing);
        return {
          kind: "identity-remove",
          args: ["identity", "remove", name],
          after: (s) => ({ ...clone(s), identities: s.identities.filter((i) => i !== name) }),
        };
      }
      const name = `agent${n}`;
      return {
        kind: "identity-create",
        args: ["identity", "create", name, "--allow", "openai", "--allow", "acme"],
        after: (s) => ({ ...clone(s), identities: [...s.identities, name].sort() }),
      };
    }
  }
}

/** A state as one comparable line. */
function describe(state: VaultState): string {
  const sorted = <T>(map: Map<string, T>) => JSON.stringify([...map].sort());
  return `${sorted(state.connections)} ${sorted(state.defaults)} ${
    JSON.stringify(state.identities)
  }`;
}

/** Reads the vault, or the reason it did not open. */
async function observe(home: string): Promise<VaultState | string> {
  try {
    return await readVault(home);
  } catch (error) {
    return `the vault did not open: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Problems with the files of `home` after a run: stray files, torn audit lines, a big WAL. */
async function fileProblems(home: string, keyFile: string | undefined): Promise<string[]> {
  const problems = (await strayFiles(home)).map((file) => `stray file ${file} left behind`);
  const audit = await Deno.readTextFile(join(home, "audit.log")).catch(() => "");
  const torn = audit.split("\n").filter((line) => line !== "").filter((line) => {
    try {
      JSON.parse(line);
      return false;
    } catch {
      return true;
    }
  });
  if (torn.length > 0) problems.push(`${torn.length} torn line(s) in audit.log`);
  if (!audit.endsWith("\n") && audit !== "") problems.push("audit.log ends mid-line");
  const wal = await Deno.stat(join(home, "authsome.db-wal")).then((s) => s.size, () => 0);
  if (wal > WAL_LIMIT) problems.push(`the WAL grew to ${wal} bytes`);
  if (keyFile !== undefined) {
    const now = await Deno.readTextFile(join(home, "master.key")).catch(() => "missing");
    if (now !== keyFile) problems.push("master.key changed after it was created");
  }
  return problems;
}

/** Runs the crash part: `CRASH_WRITES[size]` killed writes, then the disk-full check. */
export async function runCrash(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const problems: string[] = [];
  const home = join(ctx.scratch, "home");
  await using server = await startTokenServer({ reuse: "grace" });
  await registerAcme(home, server);
  // A first connection of each provider, not killed: "no lost earlier connection" has a subject.
  const seed = apiKey(0);
  for (
    const [args, stdin, env] of [
      [["login", "openai", "-c", "base", "--stdin"], seed, {}],
      [["login", "acme", "-c", "first"], undefined, ACME_CLIENT],
    ] as const
  ) {
    const r = await runAuthsome([...args], { home, env: { ...env }, ...(stdin ? { stdin } : {}) });
    if (r.code !== 0) throw new Error(`seeding failed: ${r.stderr}`);
  }
  const keyFile = await Deno.readTextFile(join(home, "master.key"));
  const seen = await observe(home);
  if (typeof seen === "string") throw new Error(seen);
  let state = seen;

  const writes = CRASH_WRITES[ctx.size];
  /** Typical run time per kind (ms): a random kill lands anywhere in 0–2× of it. */
  const typical = new Map<string, number>([["login-oauth", 1600]]);
  let killed = 0;
  let survived = 0;
  let acknowledged = 0;
  let lost = 0;
  let failed = 0;
  let inFlightApplied = 0;
  const kinds = new Map<string, number>();
  const nextKind = kindQueue();
  for (let n = 1; n <= writes; n++) {
    const write = pickWrite(state, n, server, nextKind());
    const count = (kinds.get(write.kind) ?? 0) + 1;
    kinds.set(write.kind, count);
    // Every other kill of a kind (the first included) is aimed at the commit: 0–2 ms after the
    // store's WAL first grows. The others land at a random moment of the run.
    const aimed = count % 2 === 1;
    const killDelayMs = Math.random() * 2;
    const killAfterMs = randomBelow(Math.round((typical.get(write.kind) ?? 600) * 2));
    const outcome: Outcome = await runAuthsome(write.args, {
      home,
      ...(aimed ? { killWhenGrows: join(home, "authsome.db-wal"), killDelayMs } : { killAfterMs }),
      ...(write.stdin === undefined ? {} : { stdin: write.stdin }),
      ...(write.env === undefined ? {} : { env: write.env }),
    });
    if (!outcome.killed && outcome.code === 0) {
      const before = typical.get(write.kind);
      typical.set(write.kind, before === undefined ? outcome.ms : (before * 3 + outcome.ms) / 4);
    }
    const actual = await observe(home);
    const label = `write ${n} (${write.kind}, ${
      outcome.killed
        ? `killed ${
          aimed ? `${killDelayMs.toFixed(1)} ms after the WAL grew` : `at ${killAfterMs} ms`
        }`
        : `exit ${outcome.code}`
    })`;
    const before = describe(state);
    const after = write.after(state, outcome.stdout.trim());
    const issues = await fileProblems(home, keyFile);
    if (typeof actual === "string") issues.push(actual);
    else if (outcome.killed) {
      killed++;
      const now = describe(actual);
      if (now === describe(after)) inFlightApplied++;
      else if (now !== before) {
        issues.push(`torn state after the kill: ${now} is neither before nor after`);
      }
      if (issues.length === 0) survived++;
    } else if (outcome.code === 0) {
      acknowledged++;
      if (describe(actual) !== describe(after)) {
        if (describe(actual) === before) lost++;
        issues.push(`the acknowledged write is not stored as expected: ${describe(actual)}`);
      }
    } else {
      failed++;
      const untidy = untidyFailure(outcome);
      issues.push(
        `it failed (${outcome.stderr.trim().split("\n")[0]})${untidy ? `, ${untidy}` : ""}`,
      );
    }
    for (const issue of issues) problems.push(`${label}: ${issue}`);
    if (issues.length > 0) ctx.log(`${label}: ${issues.join("; ")}`);
    if (typeof actual !== "string") state = actual;
    if (n % 20 === 0) {
      ctx.log(`${n}/${writes} writes, ${killed} killed, ${problems.length} problems`);
    }
  }

  const diskFull = await checkDiskFull(ctx);
  problems.push(...diskFull.problems);
  return {
    title: "Crash safety",
    figures: [
      ["writes run (each sent SIGKILL at a random moment)", writes],
      ["by kind", [...kinds].sort().map(([kind, count]) => `${kind} ${count}`).join(", ")],
      ["kills survived / attempted (killed while running)", `${survived} / ${killed}`],
      ["killed after the commit, before the exit", inFlightApplied],
      ["writes that exited 0 (acknowledged)", acknowledged],
      ["acknowledged writes lost", lost],
      ["writes that failed without a kill", failed],
      ["refresh tokens presented again after a kill lost the rotated one", server.reuses()],
      ...diskFull.figures,
    ],
    problems,
    seconds: secondsSince(started),
  };
}

/**
 * The crash-safety part of the suite.
 *
 * @example
 * ```ts
 * import { crash } from "./crash.ts";
 * console.log(crash.name); // "crash"
 * ```
 */
export const crash: StressPart = { name: "crash", run: runCrash };
