/**
 * The CLI on a shared PostgreSQL store (a real server, tests/support/postgres.ts): homes are
 * "hosts" that share one database and one master key. They see each other's logins and
 * defaults; 20 processes across 3 homes cause one refresh; a refreshing process killed with
 * SIGKILL frees its lock; a row copied between vaults is refused; bad URLs and a server that
 * stops mid-command give one-line errors without the password.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertCleanError, type CliResult, ROOT, runCli, tempHome } from "./helpers.ts";
import { startAuthServer } from "./oauth/server.ts";
import { acmeDefinition, AUTHORIZATION_URL, deliver, spawnCli } from "./oauth/cli_flow.ts";
import { PG_PASSWORD, startPostgres } from "./support/postgres.ts";
import { openPostgresStore } from "../storage/postgres_store.ts";
import { openVault } from "../storage/vault.ts";
import { openHomeStore } from "../storage/home.ts";
import { createAuthService } from "../mod.ts";
import { importAesKey } from "../storage/crypto.ts";
import { summarizeRecord } from "../service/summary.ts";

const server = await startPostgres({ tls: true });
/** The fleet's master key (the same on every host). */
const MASTER_KEY = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i + 7)));
const OPENAI_KEY = "sk-test7777777777777777777777aaaa";

/** A fresh database and `hosts` homes that use it. */
async function fleet(hosts: number) {
  const database = await server.createDatabase();
  const url = server.url(database);
  const homes = await Promise.all(Array.from({ length: hosts }, () => tempHome()));
  const env = { AUTHSOME_STORE: url, AUTHSOME_MASTER_KEY: MASTER_KEY, BROWSER: "true" };
  return {
    database,
    url,
    homes: homes.map((h) => h.home),
    /** Runs the CLI on host `i`. */
    cli: (i: number, args: string[], stdin?: string, extra: Record<string, string> = {}) =>
      runCli(args, {
        home: homes[i]!.home,
        env: { ...env, ...extra },
        ...(stdin === undefined ? {} : { stdin }),
      }),
    spawn: (i: number, args: string[], extra: Record<string, string> = {}) =>
      spawnCli(args, { home: homes[i]!.home, env: { ...env, ...extra } }),
    async [Symbol.asyncDispose]() {
      await Promise.all(homes.map((h) => h[Symbol.asyncDispose]()));
    },
  };
}

function ok(r: CliResult, what: string) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
}

/** Runs `fn` on vault `default` of the store at `url`, opened the way the CLI opens it. */
async function withVault<T>(url: string, fn: (vault: ReturnType<typeof openVault>) => Promise<T>) {
  const store = openPostgresStore({ url });
  const key = await importAesKey(Uint8Array.from(atob(MASTER_KEY), (c) => c.charCodeAt(0)));
  try {
    return await fn(openVault({
      store,
      name: "default",
      masterKey: () => Promise.resolve({ source: "env" as const, key }),
      summarize: summarizeRecord,
    }));
  } finally {
    await store.close();
  }
}

Deno.test("two hosts on one database see each other's logins and defaults, and keep nothing in their homes", async () => {
  await using f = await fleet(2);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login on host 0");
  const got = await f.cli(1, ["get", "openai", "--field", "api_key", "--show-secret"]);
  ok(got, "get on host 1");
  assert.equal(got.stdout.trim(), OPENAI_KEY);
  ok(
    await f.cli(1, ["login", "openai", "--connection", "work", "--stdin"], `${OPENAI_KEY}2`),
    "second connection on host 1",
  );
  ok(await f.cli(1, ["connections", "set-default", "openai", "work"]), "set-default on host 1");
  const list = await f.cli(0, ["inspect", "openai", "--json"]);
  ok(list, "inspect on host 0");
  const connections = (JSON.parse(list.stdout) as {
    connections: Array<{ connection?: string; name?: string; default: boolean }>;
  }).connections;
  assert.deepEqual(
    connections.map((c) => [c.connection ?? c.name, c.default]),
    [["default", false], ["work", true]],
  );
  const key = await f.cli(0, ["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.equal(key.stdout.trim(), `${OPENAI_KEY}2`, "host 0 uses the default host 1 chose");
  const whoami = await f.cli(0, ["whoami"]);
  assert.match(
    whoami.stdout,
    new RegExp(`store: postgres ${server.urlWithoutPassword(f.database)}`),
  );
  assert.ok(!whoami.stdout.includes(PG_PASSWORD));
  for (const home of f.homes) {
    const names = [...Deno.readDirSync(home)].map((e) => e.name);
    assert.ok(!names.includes("authsome.db"), `no embedded store in ${home}: ${names}`);
  }
  // Only sealed records on the server: no secret, no plaintext JSON.
  const dump = await server.psql(f.database, "SELECT key, nonce, ciphertext FROM authsome.records");
  assert.ok(dump.includes("connection/openai/work"));
  assert.ok(!dump.includes(OPENAI_KEY) && !dump.includes("api_key"), dump);
});

/** Logs host 0 in to `acme` at `auth` (pkce) and registers the provider on every host. */
async function loginAcme(
  f: Awaited<ReturnType<typeof fleet>>,
  auth: Awaited<ReturnType<typeof startAuthServer>>,
) {
  const definition = join(f.homes[0]!, "..", "acme.json");
  await Deno.writeTextFile(definition, JSON.stringify(acmeDefinition(auth)));
  for (let i = 0; i < f.homes.length; i++) {
    ok(await f.cli(i, ["provider", "register", definition]), `register on host ${i}`);
  }
  const login = f.spawn(0, ["login", "acme", "--callback-port", "0"], {
    ACME_CLIENT_ID: auth.confidentialClient.client_id,
    ACME_CLIENT_SECRET: auth.confidentialClient.client_secret,
  });
  const [, url] = await login.waitForStderr(AUTHORIZATION_URL);
  const { callbackUrl } = await auth.approveAuthorization(url!, { login: "alice" });
  await deliver(callbackUrl);
  ok(await login.done(), "login acme");
}

/** Moves the stored expiry of acme/default to one minute from now (inside the refresh window). */
async function expireSoon(url: string): Promise<string> {
  return await withVault(url, (vault) =>
    vault.update(async (tx) => {
      const key = "connection/acme/default";
      const record = await tx.get<{ secrets: { access_token: string } }>(key);
      tx.set(key, { ...record, expires_at: new Date(Date.now() + 60_000).toISOString() });
      return record!.secrets.access_token;
    }));
}

Deno.test("20 processes on 3 hosts wanting a fresh token cause one token request and print one token", async () => {
  await using auth = await startAuthServer({ accessTokenTTL: 3600 });
  await using f = await fleet(3);
  await loginAcme(f, auth);
  const t0 = await expireSoon(f.url);
  await auth.resetStats();
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) => f.cli(i % 3, ["get", "acme", "--field", "access_token", "--show-secret"]),
    ),
  );
  results.forEach((r, i) => ok(r, `process #${i}`));
  const tokens = new Set(results.map((r) => r.stdout.trim()));
  const stats = await auth.stats();
  assert.equal(stats.token_requests.refresh_token, 1, JSON.stringify(stats.token_requests));
  assert.equal(tokens.size, 1, "one token for all");
  assert.ok(!tokens.has(t0), "the refreshed token");
});

Deno.test("kill -9 of the process refreshing on one host frees the lock: another host refreshes", async () => {
  await using auth = await startAuthServer({ accessTokenTTL: 3600 });
  await using f = await fleet(2);
  await loginAcme(f, auth);
  const t0 = await expireSoon(f.url);
  await auth.resetStats();
  await auth.failNext("hold", 1, "token");
  const args = ["get", "acme", "--field", "access_token", "--show-secret"];
  const first = f.spawn(0, args);
  for (let i = 0; (await auth.stats()).held !== 1; i++) {
    assert.ok(i < 300 && !first.exited(), `the refresh reached the server: ${first.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  first.signal("SIGKILL");
  assert.equal((await first.done()).code, 137);
  const next = f.spawn(1, args);
  // A lock that outlived its process would make this one wait for ever.
  const timer = setTimeout(() => next.signal("SIGKILL"), 20_000);
  const second = await next.done();
  clearTimeout(timer);
  ok(second, "the refresh on host 1 after the kill (killed after 20 s of waiting)");
  assert.notEqual(second.stdout.trim(), t0);
  assert.equal((await auth.stats()).token_requests.refresh_token, 2, "the killed one and this one");
  await auth.release();
});

Deno.test("a record copied by the database administrator into another vault is refused (exit 10)", async () => {
  await using f = await fleet(1);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login default");
  ok(
    await f.cli(
      0,
      ["--vault", "other", "login", "openai", "--stdin"],
      "sk-other00000000000000000000",
    ),
    "login other",
  );
  await server.psql(
    f.database,
    `UPDATE authsome.records AS o SET nonce = d.nonce, ciphertext = d.ciphertext
       FROM authsome.records AS d
      WHERE o.vault = 'other' AND d.vault = 'default'
        AND o.key = 'connection/openai/default' AND d.key = o.key`,
  );
  const r = await f.cli(0, [
    "--vault",
    "other",
    "get",
    "openai",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assertCleanError(r, 10, 'connection/openai/default" of vault "other"');
  assert.equal(r.stdout, "");
});

Deno.test("an unreachable server, a wrong password and a newer schema are one-line errors (exit 10) without the password", async () => {
  await using f = await fleet(1);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login");
  const closed = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    return port;
  })();
  const shown = server.urlWithoutPassword(f.database);
  const cases: Array<[Record<string, string>, string]> = [
    [
      { AUTHSOME_STORE: `postgres://authsome:${PG_PASSWORD}@127.0.0.1:${closed}/x` },
      `Cannot reach the store postgres://authsome@127.0.0.1:${closed}/x`,
    ],
    [
      { AUTHSOME_STORE: f.url.replace(PG_PASSWORD, "not-the-password") },
      `The store ${shown} refused the login: password authentication failed`,
    ],
  ];
  for (const [env, message] of cases) {
    for (const args of [["list"], ["login", "openai", "--connection", "x", "--stdin"]]) {
      const r = await f.cli(0, args, OPENAI_KEY, env);
      assertCleanError(r, 10, message);
      assert.ok(!r.stderr.includes(PG_PASSWORD) && !r.stderr.includes("not-the-password"));
    }
  }
  const badScheme = await f.cli(0, ["list"], undefined, { AUTHSOME_STORE: "mysql://u:pw@h/db" });
  assertCleanError(badScheme, 64, "must be a postgres:// URL");
  assert.ok(!badScheme.stderr.includes("pw@"));
  const argvPassword = await f.cli(0, ["--store", f.url, "list"]);
  assertCleanError(argvPassword, 64, "--store must not hold a password");

  await server.psql(
    f.database,
    "UPDATE authsome.meta SET value = '3' WHERE name = 'schema_version'",
  );
  const newer = await f.cli(0, ["get", "openai"]);
  assertCleanError(newer, 10, "its schema version 3 is newer than this authsome reads (2)");
  await server.psql(
    f.database,
    "UPDATE authsome.meta SET value = '2' WHERE name = 'schema_version'",
  );
  ok(await f.cli(0, ["get", "openai"]), "the store is as it was");
});

Deno.test("the server stopped while a refresh waits on the token endpoint: exit 10, nothing half-written, all works after a restart", async () => {
  await using auth = await startAuthServer({ accessTokenTTL: 3600 });
  await using f = await fleet(1);
  await loginAcme(f, auth);
  await expireSoon(f.url);
  const before = await server.psql(
    f.database,
    "SELECT key, ciphertext FROM authsome.records ORDER BY key",
  );
  await auth.failNext("hold", 1, "token");
  const refresh = f.spawn(0, ["get", "acme", "--field", "access_token", "--show-secret"]);
  let restarted = false;
  try {
    for (let i = 0; (await auth.stats()).held !== 1; i++) {
      assert.ok(
        i < 300 && !refresh.exited(),
        `the refresh reached the server: ${refresh.stderr()}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await server.stop();
    await auth.release();
    const r = await refresh.done();
    assertCleanError(r, 10, `store ${server.urlWithoutPassword(f.database)}`);
    assert.ok(!r.stderr.includes(PG_PASSWORD));
    await server.start();
    restarted = true;
  } finally {
    if (!restarted) await server.start().catch(() => {});
  }
  const after = await server.psql(
    f.database,
    "SELECT key, ciphertext FROM authsome.records ORDER BY key",
  );
  assert.equal(after, before, "no record changed");
  ok(await f.cli(0, ["inspect", "acme"]), "inspect after the restart");
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "a write after the restart");
});

Deno.test("store copy moves 10,000 connections from the embedded store to PostgreSQL and back, counted, sealed as they were", async () => {
  await using f = await fleet(1);
  await using back = await tempHome();
  const home = f.homes[0]!;
  const N = 10_000;
  const store = openHomeStore(home);
  const key = await importAesKey(Uint8Array.from(atob(MASTER_KEY), (c) => c.charCodeAt(0)));
  const vault = openVault({
    store,
    name: "default",
    masterKey: () => Promise.resolve({ source: "env" as const, key }),
    summarize: summarizeRecord,
  });
  const now = new Date().toISOString();
  await vault.update((tx) => {
    for (let i = 0; i < N; i++) {
      tx.set(`connection/openai/c${i}`, {
        provider: "openai",
        connection: `c${i}`,
        auth_type: "api_key",
        status: "connected",
        created_at: now,
        obtained_at: now,
        expires_at: null,
        scopes: [],
        base_url: null,
        api_url: ["api.openai.com"],
        token_type: null,
        account: null,
        secrets: { api_key: `${OPENAI_KEY}${i}` },
      });
    }
    tx.set("provider/openai", { default_connection: "c0" });
  });
  const sqliteRecords = (await store.keys("default", "")).length;
  await store.close();
  const embedded = { AUTHSOME_STORE: "" };
  const withPassword = { PGPASSWORD: PG_PASSWORD };
  const to = server.urlWithoutPassword(f.database);

  const there = await f.cli(0, ["store", "copy", "--to", to, "--json"], undefined, {
    ...embedded,
    ...withPassword,
  });
  ok(there, "copy to PostgreSQL");
  const report = JSON.parse(there.stdout);
  assert.equal(report.records, sqliteRecords);
  assert.deepEqual(report.vaults, [{ name: "default", records: sqliteRecords }]);
  assert.equal(report.to, `postgres ${to}`);
  const onPg = await f.cli(0, [
    "get",
    "openai",
    "-c",
    "c9876",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(onPg.stdout.trim(), `${OPENAI_KEY}9876`);
  const count = await server.psql(f.database, "SELECT count(*) FROM authsome.records");
  assert.equal(Number(count), sqliteRecords);

  const again = await f.cli(0, ["store", "copy", "--to", to], undefined, {
    ...embedded,
    ...withPassword,
  });
  assertCleanError(again, 64, 'already has a vault "default"; nothing was copied');

  const home2 = back.home;
  const home2Result = await f.cli(0, ["store", "copy", "--to", home2, "--json"]);
  ok(home2Result, "copy back to an embedded store");
  assert.equal(JSON.parse(home2Result.stdout).records, sqliteRecords);
  const status = await runCli(["store", "status", "--json"], {
    home: home2,
    env: { AUTHSOME_MASTER_KEY: MASTER_KEY },
  });
  ok(status, "status of the copy");
  assert.deepEqual(JSON.parse(status.stdout).vaults, [{ name: "default", records: sqliteRecords }]);
  const onSqlite = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
    home: home2,
    env: { AUTHSOME_MASTER_KEY: MASTER_KEY },
  });
  assert.equal(onSqlite.stdout.trim(), `${OPENAI_KEY}0`, "the default survived both copies");
});

Deno.test("sslmode=verify-full: the server's certificate is checked against sslrootcert and the host name", async () => {
  await using f = await fleet(1);
  const tls = server.tls!;
  const base = `postgres://tls_only@127.0.0.1:${server.port}/${f.database}`;
  const env = (url: string) => ({ AUTHSOME_STORE: url, PGPASSWORD: PG_PASSWORD });
  // The role is refused without TLS, so a login that works went over TLS.
  assertCleanError(
    await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY, env(base)),
    10,
    "refused the login",
  );
  const good = `${base}?sslmode=verify-full&sslrootcert=${tls.caFile}`;
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY, env(good)), "login over TLS");
  const other = `${base}?sslmode=verify-full&sslrootcert=${tls.otherCaFile}`;
  assertCleanError(
    await f.cli(0, ["list"], undefined, env(other)),
    10,
    "Cannot connect securely to the store",
  );
  const wrongName = `postgres://tls_only@localhost:${server.port}/${f.database}` +
    `?sslmode=verify-full&sslrootcert=${tls.caFile}`;
  const r = await f.cli(0, ["list"], undefined, env(wrongName));
  assertCleanError(r, 10, "Cannot connect securely to the store");
  const got = await f.cli(
    0,
    ["get", "openai", "--field", "api_key", "--show-secret"],
    undefined,
    env(good),
  );
  assert.equal(got.stdout.trim(), OPENAI_KEY);
});

Deno.test("a long-lived library handle on one host serves the key another host replaced, at once", async () => {
  await using f = await fleet(2);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login on host 0");
  const auth = await createAuthService({
    home: f.homes[1]!,
    env: { AUTHSOME_STORE: f.url, AUTHSOME_MASTER_KEY: MASTER_KEY },
  });
  try {
    assert.equal(await auth.getSecret("openai", "api_key"), OPENAI_KEY);
    ok(
      await f.cli(0, ["login", "openai", "--force", "--stdin"], `${OPENAI_KEY}new`),
      "host 0 replaces the key",
    );
    assert.equal(await auth.getSecret("openai", "api_key"), `${OPENAI_KEY}new`);
  } finally {
    await auth.close();
  }
});

Deno.test("store log shows the audit entries of every host with its host name; log shows this host's only", async () => {
  await using f = await fleet(2);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login on host 0");
  ok(
    await f.cli(1, ["login", "openai", "--connection", "work", "--stdin"], OPENAI_KEY),
    "login on host 1",
  );
  const shared = await f.cli(1, ["store", "log", "--json"]);
  ok(shared, "store log");
  const entries = (JSON.parse(shared.stdout) as {
    entries: Array<{ host: string; entry: { action: string; connection?: string } }>;
  }).entries.filter((e) => e.entry.action === "login");
  assert.deepEqual(entries.map((e) => e.entry.connection), ["default", "work"]);
  assert.ok(entries.every((e) => e.host === Deno.hostname()), JSON.stringify(entries));
  assert.ok(!shared.stdout.includes(OPENAI_KEY));
  const local = await f.cli(1, ["log", "--json"]);
  const mine =
    (JSON.parse(local.stdout) as { entries: Array<{ action: string; connection?: string }> })
      .entries.filter((e) => e.action === "login");
  assert.deepEqual(mine.map((e) => e.connection), ["work"]);
  const text = await f.cli(0, ["store", "log", "-n", "1"]);
  assert.match(
    text.stdout,
    new RegExp(`host=${Deno.hostname()}  login  openai/work  vault=default  ok`),
  );
  // `log --all-hosts` is the same view, with the log's filters.
  const allHosts = await f.cli(0, ["log", "--all-hosts", "--json", "--connection", "work"]);
  ok(allHosts, "log --all-hosts");
  const work = (JSON.parse(allHosts.stdout) as {
    entries: Array<{ host: string; entry: { action: string; connection?: string } }>;
  }).entries;
  assert.ok(work.length > 0 && work.every((e) => e.entry.connection === "work"));
  assert.ok(work.some((e) => e.entry.action === "login" && e.host === Deno.hostname()));
  const lines = (await f.cli(0, ["log", "--all-hosts"])).stdout.trimEnd().split("\n");
  assert.ok(lines.some((l) => / {2}login {2}openai\/default {2}vault=default {2}ok$/.test(l)));
  assert.ok(!lines.some((l) => / - /.test(l) || l.includes("  -  ")), "no '-' cells");
  const embedded = await f.cli(0, ["store", "log"], undefined, { AUTHSOME_STORE: "" });
  assertCleanError(embedded, 64, "The sqlite store keeps no audit entries of other hosts");
  const embeddedLog = await f.cli(0, ["log", "--all-hosts"], undefined, { AUTHSOME_STORE: "" });
  assertCleanError(embeddedLog, 64, "The sqlite store keeps no audit entries of other hosts");
});

Deno.test("the library under Node 24 and Bun reads the PostgreSQL store the Deno CLI wrote", async () => {
  await using f = await fleet(1);
  ok(await f.cli(0, ["login", "openai", "--stdin"], OPENAI_KEY), "login");
  const program = join(f.homes[0]!, "..", "program.mjs");
  await Deno.writeTextFile(
    program,
    `const { createAuthService } = await import(${JSON.stringify(join(ROOT, "mod.ts"))});
const auth = await createAuthService();
const status = await auth.storeStatus();
console.log(JSON.stringify({ kind: status.kind, key: await auth.getSecret("openai", "api_key") }));
await auth.close();`,
  );
  for (const runtime of ["node", "bun"]) {
    const r = await new Deno.Command(join(ROOT, "node_modules", ".bin", runtime), {
      args: [program],
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/root",
        AUTHSOME_HOME: f.homes[0]!,
        AUTHSOME_STORE: f.url,
        AUTHSOME_MASTER_KEY: MASTER_KEY,
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(r.stderr);
    assert.equal(r.code, 0, `${runtime}: ${stderr}`);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(r.stdout)), {
      kind: "postgres",
      key: OPENAI_KEY,
    });
  }
});

Deno.test("postgres CLI tests: the test server stops", async () => {
  await server[Symbol.asyncDispose]();
});
