/**
 * What you have and whether it works, through the real `./authsome` process: `list` (your
 * connections, then a count of the rest) and `list --all`, `connections list|rename`, `status`,
 * no `-` standing in for a missing value, and a wait for another process's write or refresh
 * that says what it waits for after a second and gives up with exit 10.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { assertCleanError, type CliResult, runCli, tempHome } from "./helpers.ts";
import { acmeDefinition, spawnCli, storedRecord, withStoredVault } from "./oauth/cli_flow.ts";
import { storeDigest, storePath, tamperRow } from "./support/store_file.ts";

const KEY = "sk-listing1111aaaaBBBBccccDDDD2222";
const KEY_WORK = "sk-listwork3333eeeeFFFFggggHHHH44";
const ACCESS = "acme-access-token-0123456789abcdef";
const REFRESH = "acme-refresh-token-fedcba9876543210";
const CLIENT_SECRET = "acme-client-secret-55555555";

type Home = { home: string };

function cli(h: Home, args: string[], env: Record<string, string> = {}, stdin?: string) {
  return runCli(args, {
    home: h.home,
    env: { HOME: join(dirname(h.home), "user"), ...env },
    ...(stdin === undefined ? {} : { stdin }),
  });
}

async function ok(h: Home, args: string[], env: Record<string, string> = {}, stdin?: string) {
  const r = await cli(h, args, env, stdin);
  assert.equal(r.code, 0, `${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

async function login(h: Home, key: string, ...args: string[]) {
  await ok(h, ["login", "openai", "--stdin", ...args], {}, key);
}

async function providerCount(h: Home): Promise<number> {
  return JSON.parse((await ok(h, ["list", "--json"])).stdout).providers.length;
}

/** Registers the `acme` OAuth provider, whose endpoints nothing listens on (never contacted). */
async function registerAcme(h: Home) {
  const file = join(dirname(h.home), "acme.json");
  await Deno.writeTextFile(file, JSON.stringify(acmeDefinition({ issuer: "http://127.0.0.1:9" })));
  await ok(h, ["provider", "register", file]);
}

/** Writes OAuth connections of acme (and its client) the way the CLI stores them. */
async function storeAcme(
  h: Home,
  connections: Array<{ name: string; expiresInMs: number; refresh: boolean }>,
  client = true,
) {
  await withStoredVault(h.home, (vault) =>
    vault.update(async (tx) => {
      for (const c of connections) {
        tx.set(`connection/acme/${c.name}`, {
          provider: "acme",
          connection: c.name,
          auth_type: "oauth2",
          status: "connected",
          created_at: "2026-01-01T00:00:00.000Z",
          obtained_at: "2026-01-01T00:00:00.000Z",
          expires_at: new Date(Date.now() + c.expiresInMs).toISOString(),
          scopes: ["read", "write"],
          base_url: null,
          api_url: ["api.acme.test"],
          token_type: "Bearer",
          account: { id: "42", label: "alice" },
          secrets: { access_token: ACCESS, ...(c.refresh ? { refresh_token: REFRESH } : {}) },
        });
      }
      if (await tx.get("provider/acme") === undefined) {
        tx.set("provider/acme", { default_connection: connections[0]!.name });
      }
      if (client) {
        tx.set("client/acme", {
          client_id: "acme-client",
          client_secret: CLIENT_SECRET,
          source: "env",
        });
      }
    }));
}

function noSecret(r: CliResult, what: string) {
  for (const secret of [KEY, KEY_WORK, ACCESS, REFRESH, CLIENT_SECRET]) {
    assert.ok(!(r.stdout + r.stderr).includes(secret), `${what} shows no secret`);
  }
}

// ---------------------------------------------------------------------------------------------
// list

Deno.test("list on an empty vault prints nothing on stdout and says how to log in, exit 0", async () => {
  await using h = await tempHome();
  const total = await providerCount(h);
  const r = await ok(h, ["list"]);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    `No connections in vault "default" yet. Log in with: authsome login PROVIDER ` +
      `(${total} providers: authsome list --all)\n`,
  );
  assert.equal((await ok(h, ["list", "--quiet"])).stderr, "");
});

Deno.test("list shows one row per connection, then a count of the providers without one; --all shows every provider without '-'", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await login(h, KEY_WORK, "--connection", "work");
  const total = await providerCount(h);

  const r = await ok(h, ["list"]);
  assert.equal(
    r.stdout,
    "PROVIDER  AUTH     CONNECTION  DEFAULT  STATUS     EXPIRES\n" +
      "openai    api_key  default     yes      connected  never\n" +
      "openai    api_key  work        no       connected  never\n",
  );
  assert.equal(r.stderr, `${total - 1} more providers without a connection: authsome list --all\n`);

  const all = await ok(h, ["list", "--all"]);
  const lines = all.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1 + total + 1, "a header, every provider, openai twice");
  assert.match(lines[0]!, /^PROVIDER +AUTH +STATE +CONNECTION +DEFAULT +STATUS +EXPIRES$/);
  assert.ok(
    lines.some((l) => /^anthropic +api_key +available$/.test(l)),
    "a provider without a connection: its connection cells are empty",
  );
  assert.ok(lines.some((l) => /^openai +api_key +connected +work +no +connected +never$/.test(l)));
  for (const line of lines) {
    assert.ok(!/(^|\s)-(\s|$)/.test(line), `no '-' cell: ${line}`);
    assert.equal(line, line.trimEnd(), "no trailing blanks");
  }
  assert.equal(all.stderr, `Vault "default": ${total} providers, 1 with a connection\n`);

  // --json stays the whole document, with or without --all.
  const doc = JSON.parse((await ok(h, ["list", "--json"])).stdout);
  assert.equal(doc.vault, "default");
  assert.equal(doc.providers.length, total);
  const openai = doc.providers.find((p: { name: string }) => p.name === "openai");
  assert.deepEqual(openai.connections, [
    { name: "default", status: "connected", default: true, expires_at: null },
    { name: "work", status: "connected", default: false, expires_at: null },
  ]);
  assert.equal(
    (await ok(h, ["list", "--all", "--json"])).stdout,
    JSON.stringify(doc, null, 2) + "\n",
  );
});

Deno.test("get and inspect say 'none' or 'never' where a value is missing, and --field of a missing value prints nothing", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  const get = await ok(h, ["get", "openai"]);
  assert.match(get.stdout, /^expires_at: never$/m);
  assert.match(get.stdout, /^scopes: none$/m);
  assert.match(get.stdout, /^base_url: none$/m);
  assert.ok(!/: -$/m.test(get.stdout), get.stdout);
  assert.equal((await ok(h, ["get", "openai", "--field", "base_url"])).stdout, "");
  const inspect = await ok(h, ["inspect", "openai"]);
  assert.match(
    inspect.stdout,
    /^ {2}default \(default\): connected, expires never, scopes none, secrets api_key=\*\*\*$/m,
  );
});

// ---------------------------------------------------------------------------------------------
// connections list / rename

Deno.test("connections list shows every connection, or one provider's", async () => {
  await using h = await tempHome();
  const empty = await ok(h, ["connections", "list"]);
  assert.equal(empty.stdout, "");
  assert.equal(
    empty.stderr,
    'No connections in vault "default" yet. Log in with: authsome login PROVIDER\n',
  );
  await login(h, KEY);
  await login(h, KEY_WORK, "--connection", "work");
  const r = await ok(h, ["connections", "list"]);
  assert.equal(
    r.stdout,
    "PROVIDER  AUTH     CONNECTION  DEFAULT  STATUS     EXPIRES\n" +
      "openai    api_key  default     yes      connected  never\n" +
      "openai    api_key  work        no       connected  never\n",
  );
  assert.equal((await ok(h, ["connections", "list", "openai"])).stdout, r.stdout);
  const json = JSON.parse((await ok(h, ["connections", "list", "openai", "--json"])).stdout);
  assert.deepEqual(json.connections.map((c: { connection: string }) => c.connection), [
    "default",
    "work",
  ]);
  assert.equal(json.connections[0].default, true);
  const other = await ok(h, ["connections", "list", "github"]);
  assert.equal(other.stdout, "");
  assert.equal(
    other.stderr,
    'No github connections in vault "default" yet. Log in with: authsome login github\n',
  );
  assertCleanError(await cli(h, ["connections", "list", "nosuch"]), 4, "nosuch");
  // Completion offers the subcommands, then the provider, then its connections.
  const complete = async (...words: string[]) =>
    (await ok(h, ["__complete", ...words])).stdout.trim().split("\n");
  assert.deepEqual(await complete("connections", ""), ["list", "rename", "set-default"]);
  assert.deepEqual(await complete("connections", "rename", "opena"), ["openai"]);
  assert.deepEqual(await complete("connections", "rename", "openai", ""), ["default", "work"]);
  assert.deepEqual(await complete("status", "opena"), ["openai"]);
  assertCleanError(
    await cli(h, ["connections", "lsit"]),
    64,
    'Unknown subcommand "connections lsit"',
  );
});

Deno.test("connections rename keeps the key and the default, re-seals under the new name, is audited", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await login(h, KEY_WORK, "--connection", "work");
  const r = await ok(h, ["connections", "rename", "openai", "default", "main"]);
  assert.equal(r.stdout, "");
  assert.equal(
    r.stderr,
    'Renamed the openai connection "default" to "main" (still the default).\n',
  );
  const key = await ok(h, ["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.equal(key.stdout, `${KEY}\n`, "the default is the renamed connection, its key kept");
  const main = JSON.parse((await ok(h, ["get", "openai", "-c", "main", "--json"])).stdout);
  assert.equal(main.connection, "main");
  assert.equal(main.default, true);
  assertCleanError(
    await cli(h, ["get", "openai", "-c", "default"]),
    3,
    'No connection "default" for openai',
    "Known connections: main, work",
  );
  const listed = await ok(h, ["connections", "list"]);
  assert.match(listed.stdout, /^openai +api_key +main +yes +connected +never$/m);
  assert.ok(!/ default /.test(listed.stdout), "the old name is gone from the index");

  const renamed = await ok(h, ["connections", "rename", "openai", "work", "job", "--json"]);
  assert.deepEqual(JSON.parse(renamed.stdout), {
    status: "ok",
    provider: "openai",
    connection: "job",
    previous: "work",
    default: false,
    identities: [],
  });
  const work = await ok(h, ["get", "openai", "-c", "job", "--field", "api_key", "--show-secret"]);
  assert.equal(work.stdout, `${KEY_WORK}\n`);

  const audit = (await Deno.readTextFile(join(h.home, "audit.log"))).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((e) => e.action === "rename");
  assert.deepEqual(
    audit.map((e) => [e.provider, e.connection, e.detail?.to, e.outcome]),
    [["openai", "default", "main", "ok"], ["openai", "work", "job", "ok"]],
  );
});

Deno.test("connections rename refuses an existing NEW (6), an unknown OLD (3), an invalid name (64), and changes nothing", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await login(h, KEY_WORK, "--connection", "work");
  const before = await storeDigest(h.home);
  const exists = await cli(h, ["connections", "rename", "openai", "work", "default"]);
  assertCleanError(exists, 6);
  assert.equal(
    exists.stderr,
    'error: The openai connection "default" exists already\n' +
      "hint: Pick another name, or remove it first: authsome logout openai -c default\n",
  );
  const json = await cli(h, ["connections", "rename", "openai", "work", "default", "--json"]);
  assert.equal(json.code, 6);
  assert.equal(JSON.parse(json.stderr).error, "CONNECTION_EXISTS");
  const unknown = await cli(h, ["connections", "rename", "openai", "nope", "x"]);
  assertCleanError(unknown, 3);
  assert.equal(
    unknown.stderr,
    'error: No connection "nope" for openai\nhint: Known connections: default, work\n',
  );
  for (
    const args of [["openai", "work", "Bad Name"], ["openai", "-", "x"], [
      "openai",
      "work",
      "x".repeat(65),
    ]]
  ) {
    assertCleanError(
      await cli(h, ["connections", "rename", ...args]),
      64,
      "Invalid connection name",
    );
  }
  assertCleanError(
    await cli(h, ["connections", "rename", "openai", "work"]),
    64,
    "Usage: authsome connections rename PROVIDER OLD NEW",
  );
  assert.equal(await storeDigest(h.home), before, "the store is unchanged");
  const audit = (await Deno.readTextFile(join(h.home, "audit.log"))).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((e) => e.action === "rename");
  assert.deepEqual(audit.map((e) => e.error), [
    "CONNECTION_EXISTS",
    "CONNECTION_EXISTS",
    "CONNECTION_NOT_FOUND",
  ]);
});

Deno.test("connections rename of an OAuth connection keeps tokens, scopes, expiry and client; an identity naming it follows it", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await registerAcme(h);
  await storeAcme(h, [{ name: "work", expiresInMs: 3_600_000, refresh: true }]);
  const before = await storedRecord<Record<string, unknown>>(h.home, "connection/acme/work");
  const client = await storedRecord(h.home, "client/acme");
  await ok(h, ["identity", "create", "agent", "--allow", "acme/work", "--allow", "openai"]);

  const r = await ok(h, ["connections", "rename", "acme", "work", "team"]);
  assert.equal(
    r.stderr,
    'Renamed the acme connection "work" to "team" (still the default).\n' +
      'The identity "agent" now allows acme/team.\n',
  );
  assert.deepEqual(await storedRecord(h.home, "connection/acme/team"), {
    ...before,
    connection: "team",
  });
  assert.equal(await storedRecord(h.home, "connection/acme/work"), undefined);
  assert.deepEqual(await storedRecord(h.home, "client/acme"), client);
  const identity = JSON.parse((await ok(h, ["identity", "show", "agent", "--json"])).stdout);
  assert.deepEqual(
    identity.allow.map((
      a: { provider: string; connection: string | null },
    ) => [a.provider, a.connection]),
    [["acme", "team"], ["openai", null]],
  );
  noSecret(r, "rename");
});

// ---------------------------------------------------------------------------------------------
// status

Deno.test("status: every connection usable is exit 0; refresh due is usable; expired is exit 5; no secret shown", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  const good = await ok(h, ["status"]);
  assert.equal(
    good.stdout,
    "PROVIDER  CONNECTION  DEFAULT  RESULT  DETAIL\n" +
      "openai    default     yes      ok      does not expire\n",
  );
  assert.equal(good.stderr, "All 1 connections are usable.\n");

  await registerAcme(h);
  await storeAcme(h, [
    { name: "due", expiresInMs: 60_000, refresh: true },
    { name: "fine", expiresInMs: 3_600_000, refresh: true },
  ]);
  const due = await ok(h, ["status", "acme"]);
  assert.match(
    due.stdout,
    /^acme +due +yes +refresh_due +expires at \S+Z; refreshed on next use$/m,
  );
  assert.match(due.stdout, /^acme +fine +no +ok +expires at \S+Z$/m);

  await storeAcme(h, [{ name: "old", expiresInMs: -3_600_000, refresh: false }]);
  const r = await cli(h, ["status"]);
  assert.equal(r.code, 5, r.stderr);
  assert.match(
    r.stdout,
    /^acme +old +no +expired +expired at \S+Z; log in again: authsome login acme --connection old --force$/m,
  );
  assert.equal(r.stderr, "1 of 4 connections are not usable (exit 5).\n");
  noSecret(r, "status");

  const one = await cli(h, ["status", "acme", "--connection", "fine", "--json"]);
  assert.equal(one.code, 0, one.stderr);
  const doc = JSON.parse(one.stdout);
  assert.equal(doc.usable, true);
  assert.deepEqual(
    doc.connections.map((
      c: { connection: string; result: string; usable: boolean; status: string },
    ) => [c.connection, c.result, c.usable, c.status]),
    [["fine", "ok", true, "connected"]],
  );
  const all = JSON.parse((await cli(h, ["status", "--json"])).stdout);
  assert.equal(all.usable, false);
  assert.deepEqual(
    all.connections.map((c: { provider: string; connection: string; result: string }) =>
      `${c.provider}/${c.connection}=${c.result}`
    ),
    ["acme/due=refresh_due", "acme/fine=ok", "acme/old=expired", "openai/default=ok"],
  );
  noSecret(one, "status --json");

  // Nothing was refreshed or changed: status makes no network call and writes nothing.
  const digest = await storeDigest(h.home);
  await cli(h, ["status"]);
  assert.equal(await storeDigest(h.home), digest);
});

Deno.test("status: a record that cannot be opened is exit 10 (unreadable), the others still checked", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await login(h, KEY_WORK, "--connection", "work");
  tamperRow(h.home, "default", "connection/openai/work", { nonce: "AAAAAAAAAAAAAAAA" });
  const r = await cli(h, ["status"]);
  assert.equal(r.code, 10, r.stderr);
  assert.match(r.stdout, /^openai +default +yes +ok +does not expire$/m);
  assert.match(r.stdout, /^openai +work +no +unreadable +\S.*$/m);
  assert.equal(r.stderr, "1 of 2 connections are not usable (exit 10).\n");
  const json = JSON.parse((await cli(h, ["status", "--json"])).stdout);
  assert.deepEqual(json.connections[1].status, null);
  assert.equal(json.connections[1].result, "unreadable");
});

Deno.test("status: nothing to check is exit 3, an unknown provider 4, --connection without a provider 64", async () => {
  await using h = await tempHome();
  assertCleanError(await cli(h, ["status"]), 3, 'No connections in vault "default"');
  assertCleanError(await cli(h, ["status", "nosuch"]), 4, "nosuch");
  assertCleanError(
    await cli(h, ["status", "--connection", "work"]),
    64,
    "--connection needs a provider",
  );
  await login(h, KEY);
  const missing = await cli(h, ["status", "openai", "-c", "work"]);
  assertCleanError(missing, 3);
  assert.equal(
    missing.stderr,
    'error: No connection "work" for openai\nhint: Known connections: default\n',
  );
  assertCleanError(
    await cli(h, ["status", "github"]),
    3,
    "No connection for github",
    "authsome login github",
  );
});

// ---------------------------------------------------------------------------------------------
// A held lock

/** A python3 process holding `what` until its stdin closes; resolves once it holds it. */
async function holder(script: string, ...args: string[]) {
  const child = new Deno.Command("python3", {
    args: ["-c", `${script}\nprint("held", flush=True)\nimport sys\nsys.stdin.read()`, ...args],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  assert.equal((await reader.read()).value?.trim(), "held");
  return {
    async [Symbol.asyncDispose]() {
      await child.stdin.close().catch(() => {});
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
    },
  };
}

/** Spawns the CLI and records when `pattern` first shows on stderr, in ms after the spawn. */
async function timed(h: Home, args: string[], env: Record<string, string>, pattern: RegExp) {
  const started = performance.now();
  const proc = spawnCli(args, {
    home: h.home,
    env: { HOME: join(dirname(h.home), "user"), ...env },
  });
  const seen = await proc.waitForStderr(pattern, 10_000).then(() => performance.now() - started);
  const stillRunning = !proc.exited();
  const result = await proc.done();
  return { seen, stillRunning, result, total: performance.now() - started };
}

Deno.test("a write waiting for another process's write says so after a second and gives up with exit 10 after AUTHSOME_LOCK_TIMEOUT", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  const before = await storeDigest(h.home);
  const path = storePath(h.home);
  {
    await using _ = await holder(
      `import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute("BEGIN IMMEDIATE")`,
      path,
    );
    const waiting = `Waiting for another authsome process that is writing the store (${path})…`;
    const r = await timed(
      h,
      ["connections", "rename", "openai", "default", "main"],
      { AUTHSOME_LOCK_TIMEOUT: "3" },
      new RegExp(waiting.replace(/[.()…]/g, "\\$&")),
    );
    assert.ok(r.seen >= 1000, `the notice comes after a second of waiting (${r.seen} ms)`);
    assert.ok(r.stillRunning, "the notice comes while it waits");
    assert.equal(r.result.code, 10, r.result.stderr);
    assert.equal(
      r.result.stderr,
      `${waiting}\n` +
        `error: The store ${path} is busy: another authsome process kept it locked for 3 s\n` +
        "hint: Try again; if it persists, look for a hung authsome process\n",
    );
    assert.ok(r.total >= 3000 && r.total < 9000, `gave up after about 3 s (${r.total} ms)`);
    assert.equal(await storeDigest(h.home), before, "nothing was written");
    // --quiet hides the notice (like every note), not the error.
    const quiet = await cli(h, ["--quiet", "logout", "openai"], { AUTHSOME_LOCK_TIMEOUT: "1.5" });
    assertCleanError(quiet, 10, "kept it locked for 1.5 s");
  }
  // Once the other process is done, the same command goes through.
  await ok(h, ["connections", "rename", "openai", "default", "main"]);
  assertCleanError(
    await cli(h, ["list"], { AUTHSOME_LOCK_TIMEOUT: "soon" }),
    64,
    "AUTHSOME_LOCK_TIMEOUT",
  );
});

Deno.test("a refresh waiting for another process's refresh of the connection says so after a second and gives up with exit 10", async () => {
  await using h = await tempHome();
  await login(h, KEY);
  await registerAcme(h);
  await storeAcme(h, [{ name: "work", expiresInMs: 60_000, refresh: true }]);
  const before = await storeDigest(h.home);
  const lock = join(h.home, "locks", "default%2Frefresh%2Facme%2Fwork.lock");
  await Deno.mkdir(dirname(lock), { recursive: true, mode: 0o700 });
  {
    await using _ = await holder(
      // The lock is an SQLite lock (runtime/sqlite_lock.ts), as Deno, Node and Bun all take it.
      `import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute("BEGIN EXCLUSIVE")`,
      lock,
    );
    const waiting = "Waiting for another authsome process that is refreshing acme (work)…";
    const r = await timed(
      h,
      ["get", "acme", "--connection", "work", "--field", "access_token", "--show-secret"],
      { AUTHSOME_LOCK_TIMEOUT: "3" },
      new RegExp(waiting.replace(/[.()…]/g, "\\$&")),
    );
    assert.ok(r.seen >= 1000, `the notice comes after a second of waiting (${r.seen} ms)`);
    assert.ok(r.stillRunning);
    assert.equal(r.result.code, 10, r.result.stderr);
    assert.equal(r.result.stdout, "");
    assert.equal(
      r.result.stderr,
      `${waiting}\n` +
        "error: Gave up after 3 s waiting for another authsome process that is refreshing acme (work)\n" +
        `hint: Try again; if it persists, look for a hung authsome process (it holds ${lock})\n`,
    );
    assert.ok(r.total >= 3000 && r.total < 9000, `gave up after about 3 s (${r.total} ms)`);
    // A rename of the connection waits for the same lock.
    const rename = await cli(h, ["connections", "rename", "acme", "work", "team"], {
      AUTHSOME_LOCK_TIMEOUT: "1.2",
    });
    assert.equal(rename.code, 10, rename.stderr);
    assert.match(
      rename.stderr,
      /^Waiting for another authsome process that is refreshing acme \(work\)…$/m,
    );
    assert.equal(await storeDigest(h.home), before, "nothing was written");
  }
});
