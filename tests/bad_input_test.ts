/**
 * End-to-end tests: bad input of every kind (provider files, names, keys, master keys, a damaged
 * or tampered store) gives one clear error line, the documented exit code, no stack trace, and
 * leaves the store exactly as it was.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { assertCleanError, fileHash, runCli, tempHome } from "./helpers.ts";
import {
  flipBase64,
  insertRow,
  setFormatVersion,
  storeDigest,
  storedRows,
  storedVaults,
  storePath,
  tamperHeader,
  tamperRow,
  vaultExists,
} from "./support/store_file.ts";

const KEY = "sk-test_default_0123456789abcdefghij";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function loginOpenai(
  home: string,
  env: Record<string, string> = {},
  connection?: string,
): Promise<void> {
  const args = ["login", "openai", ...(connection ? ["--connection", connection] : [])];
  const r = await runCli(args, { home, env: { OPENAI_API_KEY: KEY, ...env } });
  assert.equal(r.code, 0, r.stderr);
}

function randomKey(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64();
}

// ---------------------------------------------------------------------------------------------
// Provider files
// ---------------------------------------------------------------------------------------------

Deno.test("a malformed user provider file: inspect names the file (65), list still works and warns", async () => {
  await using h = await tempHome();
  await Deno.mkdir(join(h.home, "providers"), { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(join(h.home, "providers", "acme.json"), '{"name": "acme", ');

  const inspect = await runCli(["provider", "inspect", "acme"], { home: h.home });
  assertCleanError(inspect, 65, "acme.json");

  const list = await runCli(["list", "--all"], { home: h.home });
  assert.equal(list.code, 0, list.stderr);
  assert.ok(!list.stderr.includes("    at "), list.stderr);
  assert.match(list.stderr, /warning: .*acme\.json/);
  assert.match(list.stdout, /^openai\s/m, "the bundled providers are still listed");

  const listJson = await runCli(["list", "--json"], { home: h.home });
  assert.equal(listJson.code, 0, listJson.stderr);
  const names = (JSON.parse(listJson.stdout) as { providers: { name: string }[] }).providers
    .map((p) => p.name);
  assert.ok(names.includes("openai"));
  assert.ok(!names.includes("acme"), "the broken file is skipped");
  assert.match(listJson.stderr, /acme\.json/);
});

const VALID_API_KEY_PROVIDER = {
  name: "acme",
  display_name: "Acme",
  auth_type: "api_key",
  flow: "api_key",
  api_url: "api.acme.test",
  api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
};

const VALID_OAUTH_PROVIDER = {
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  flow: "pkce",
  api_url: "api.acme.test",
  oauth: {
    authorization_url: "https://auth.acme.test/authorize",
    token_url: "https://auth.acme.test/token",
    scopes: ["read"],
  },
};

const INVALID_DEFINITIONS: Array<{ what: string; doc: unknown; path: string; reason?: string }> = [
  {
    what: "an http (non-loopback) token_url",
    doc: {
      ...VALID_OAUTH_PROVIDER,
      oauth: { ...VALID_OAUTH_PROVIDER.oauth, token_url: "http://auth.acme.test/token" },
    },
    path: "oauth.token_url",
    reason: "oauth.token_url: must be an https URL",
  },
  {
    what: "a missing display_name",
    doc: { ...VALID_API_KEY_PROVIDER, display_name: undefined },
    path: "display_name",
  },
  {
    what: "an unknown auth_type",
    doc: { ...VALID_API_KEY_PROVIDER, auth_type: "magic" },
    path: "auth_type",
  },
  {
    what: "a flow that auth_type does not allow",
    doc: { ...VALID_API_KEY_PROVIDER, flow: "pkce" },
    path: "flow",
  },
  {
    what: "a key_pattern that is not a regular expression",
    doc: {
      ...VALID_API_KEY_PROVIDER,
      api_key: { ...VALID_API_KEY_PROVIDER.api_key, key_pattern: "^(ak_[a-z]+$" },
    },
    path: "api_key.key_pattern",
  },
  {
    what: "an exported refresh token",
    doc: {
      ...VALID_OAUTH_PROVIDER,
      export: { env: { access_token: "ACME_TOKEN", refresh_token: "ACME_REFRESH_TOKEN" } },
    },
    path: "export.env.refresh_token",
  },
  {
    what: "an unknown top-level field",
    doc: { ...VALID_API_KEY_PROVIDER, colour: "blue" },
    path: "colour",
  },
  {
    what: "a name with upper-case letters",
    doc: { ...VALID_API_KEY_PROVIDER, name: "Acme" },
    path: "name",
  },
];

Deno.test("provider register refuses an invalid definition with exit 65 and the JSON path of the bad field", async (t) => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  const before = await storeDigest(h.home);
  const dir = dirname(h.home);

  // The valid bases are accepted, so each failure below is caused by its one change.
  for (const [i, doc] of [VALID_API_KEY_PROVIDER, VALID_OAUTH_PROVIDER].entries()) {
    const file = join(dir, `valid-${i}.json`);
    await Deno.writeTextFile(file, JSON.stringify(doc));
    const r = await runCli(["provider", "register", file, "--force"], { home: h.home });
    assert.equal(r.code, 0, r.stderr);
    const removed = await runCli(["provider", "remove", "acme"], { home: h.home });
    assert.equal(removed.code, 0, removed.stderr);
  }

  for (const [i, c] of INVALID_DEFINITIONS.entries()) {
    await t.step(`${c.what} is refused naming ${c.path}`, async () => {
      const file = join(dir, `bad-${i}.json`);
      await Deno.writeTextFile(file, JSON.stringify(c.doc));
      const r = await runCli(["provider", "register", file], { home: h.home });
      assertCleanError(r, 65, `bad-${i}.json`, `${c.path}:`, ...(c.reason ? [c.reason] : []));
      assert.ok(!await exists(join(h.home, "providers", "acme.json")), "nothing was installed");
      assert.ok(!await exists(join(h.home, "providers", "Acme.json")), "nothing was installed");
      assert.equal(await storeDigest(h.home), before, "the store is unchanged");
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Names and keys
// ---------------------------------------------------------------------------------------------

Deno.test("a bad connection name is a usage error (64) and stores nothing", async () => {
  await using h = await tempHome();
  const fresh = await runCli(["login", "openai", "--connection", "Work Account"], {
    home: h.home,
    env: { OPENAI_API_KEY: KEY },
  });
  assertCleanError(fresh, 64, "Work Account");
  assert.ok(!vaultExists(h.home), "no vault was created");

  await loginOpenai(h.home);
  const before = await storeDigest(h.home);
  for (const name of ["Work", "../etc", "a/b", "-x", "x".repeat(65)]) {
    const r = await runCli(["login", "openai", `--connection=${name}`], {
      home: h.home,
      env: { OPENAI_API_KEY: KEY },
    });
    assertCleanError(r, 64);
    assert.equal(await storeDigest(h.home), before, `vault unchanged after ${name}`);
  }
  const list = await runCli(["list", "--json"], { home: h.home });
  assert.equal(list.code, 0, list.stderr);
  const openai = (JSON.parse(list.stdout) as {
    providers: { name: string; connections: { name: string }[] }[];
  }).providers.find((p) => p.name === "openai")!;
  assert.deepEqual(openai.connections.map((c) => c.name), ["default"]);
});

Deno.test("an API key that does not match the provider's pattern is refused (65) with its hint and nothing is stored", async () => {
  await using h = await tempHome();
  const r = await runCli(["login", "openai"], {
    home: h.home,
    env: { OPENAI_API_KEY: "not-a-key" },
  });
  assertCleanError(r, 65, 'OpenAI API keys start with "sk-"');
  assert.ok(!r.stderr.includes("not-a-key"), "the rejected key is not echoed");
  assert.ok(!vaultExists(h.home), "no vault was created");
  const get = await runCli(["get", "openai"], { home: h.home });
  assertCleanError(get, 3);

  const viaStdin = await runCli(["login", "openai", "--stdin"], {
    home: h.home,
    stdin: "not-a-key\n",
  });
  assertCleanError(viaStdin, 65, 'OpenAI API keys start with "sk-"');
  assert.ok(!vaultExists(h.home), "no vault was created");
});

// ---------------------------------------------------------------------------------------------
// Master keys
// ---------------------------------------------------------------------------------------------

Deno.test("a different AUTHSOME_MASTER_KEY cannot open the vault (10) and leaves it unchanged", async () => {
  await using h = await tempHome();
  const right = randomKey();
  await loginOpenai(h.home, { AUTHSOME_MASTER_KEY: right });
  const before = await storeDigest(h.home);
  const wrong = { AUTHSOME_MASTER_KEY: randomKey() };

  assertCleanError(await runCli(["list"], { home: h.home, env: wrong }), 10);
  assertCleanError(await runCli(["get", "openai"], { home: h.home, env: wrong }), 10);
  assertCleanError(
    await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
      home: h.home,
      env: wrong,
    }),
    10,
  );
  const login = await runCli(["login", "openai", "--connection", "other"], {
    home: h.home,
    env: { ...wrong, OPENAI_API_KEY: KEY },
  });
  assertCleanError(login, 10);
  assert.equal(await storeDigest(h.home), before);

  const ok = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
    home: h.home,
    env: { AUTHSOME_MASTER_KEY: right },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), KEY);
});

Deno.test("an AUTHSOME_MASTER_KEY that is not base64 of 32 bytes is refused (10) with a hint", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home, { AUTHSOME_MASTER_KEY: randomKey() });
  const before = await storeDigest(h.home);
  const badKeys = [
    crypto.getRandomValues(new Uint8Array(16)).toBase64(),
    crypto.getRandomValues(new Uint8Array(33)).toBase64(),
    "not base64 at all!",
  ];
  for (const bad of badKeys) {
    const r = await runCli(["get", "openai"], { home: h.home, env: { AUTHSOME_MASTER_KEY: bad } });
    assertCleanError(r, 10, "AUTHSOME_MASTER_KEY");
    assert.ok(!r.stderr.includes(bad), "the key is not echoed");
  }
  assert.equal(await storeDigest(h.home), before);

  // On a fresh home too: nothing gets created with an unusable key.
  await using fresh = await tempHome();
  const login = await runCli(["login", "openai"], {
    home: fresh.home,
    env: { OPENAI_API_KEY: KEY, AUTHSOME_MASTER_KEY: badKeys[0]! },
  });
  assertCleanError(login, 10, "AUTHSOME_MASTER_KEY");
  assert.ok(!vaultExists(fresh.home), "no vault was created");
});

Deno.test("a wrong AUTHSOME_PASSPHRASE cannot open the vault (10) and leaves it unchanged", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home, { AUTHSOME_PASSPHRASE: "correct horse battery staple" });
  const before = await storeDigest(h.home);
  const r = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
    home: h.home,
    env: { AUTHSOME_PASSPHRASE: "correct horse battery stapler" },
  });
  assertCleanError(r, 10);
  assert.equal(r.stdout, "");
  assert.equal(await storeDigest(h.home), before);

  const right = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
    home: h.home,
    env: { AUTHSOME_PASSPHRASE: "correct horse battery staple" },
  });
  assert.equal(right.code, 0, right.stderr);
  assert.equal(right.stdout.trim(), KEY);
});

Deno.test("a key file readable by others is refused (10) with a chmod 600 hint", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  const before = await storeDigest(h.home);
  await Deno.chmod(join(h.home, "master.key"), 0o644);
  const r = await runCli(["get", "openai"], { home: h.home });
  assertCleanError(r, 10, "chmod 600");
  const login = await runCli(["login", "openai", "--connection", "other"], {
    home: h.home,
    env: { OPENAI_API_KEY: KEY },
  });
  assertCleanError(login, 10, "chmod 600");
  assert.equal(await storeDigest(h.home), before);
  assert.equal((await Deno.stat(join(h.home, "master.key"))).mode! & 0o777, 0o644);
});

// ---------------------------------------------------------------------------------------------
// Damaged vault files
// ---------------------------------------------------------------------------------------------

/** A home with openai/default and openai/work logged in (default: `default`). */
async function twoConnections(home: string): Promise<void> {
  await loginOpenai(home);
  await loginOpenai(home, {}, "work");
}

const openaiRow = (home: string, key: string) =>
  storedRows(home, "default").find((r) => r.key === key)!;

Deno.test("a flipped character in a connection's ciphertext: that connection refuses (10) everywhere it is used, the store is never rewritten, others still work", async () => {
  await using h = await tempHome();
  await twoConnections(h.home);
  const row = openaiRow(h.home, "connection/openai/default");
  tamperRow(h.home, "default", row.key, { ciphertext: flipBase64(row.ciphertext) });
  const written = await storeDigest(h.home);
  const opts = { home: h.home };

  assertCleanError(
    await runCli(["get", "openai"], opts),
    10,
    "does not match or the data was changed",
  );
  const secret = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], opts);
  assertCleanError(secret, 10);
  assert.equal(secret.stdout, "");
  assertCleanError(await runCli(["export", "openai"], opts), 10);
  const env = { OPENAI_API_KEY: "sk-test_replacement_0123456789abcdef" };
  assertCleanError(await runCli(["login", "openai"], { ...opts, env }), 10);
  assertCleanError(await runCli(["login", "openai", "--force"], { ...opts, env }), 10);
  assert.equal(await storeDigest(h.home), written, "nothing rewrote the store");

  // Records are sealed one by one: the other connection, and listing (from the sealed index),
  // do not depend on the damaged record.
  const work = await runCli([
    "get",
    "openai",
    "--connection",
    "work",
    "--field",
    "api_key",
    "--show-secret",
  ], opts);
  assert.equal(work.code, 0, work.stderr);
  assert.equal(work.stdout.trim(), KEY);
  const list = await runCli(["list", "--json"], opts);
  assert.equal(list.code, 0, list.stderr);
});

Deno.test("a flipped character in a provider's index: list and inspect refuse (10) rather than show it", async () => {
  await using h = await tempHome();
  await twoConnections(h.home);
  const index = storedRows(h.home, "default").find((r) =>
    r.key.startsWith("index/connection/openai/")
  )!;
  tamperRow(h.home, "default", index.key, { ciphertext: flipBase64(index.ciphertext) });
  const written = await storeDigest(h.home);
  assertCleanError(await runCli(["list"], { home: h.home }), 10);
  assertCleanError(await runCli(["inspect", "openai"], { home: h.home }), 10);
  assert.equal(await storeDigest(h.home), written);
});

Deno.test("a flipped character in the wrapped data key: get, list and login refuse the vault (10) and never rewrite it", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  const [header] = storedVaults(h.home);
  tamperHeader(h.home, "default", { data_key: flipBase64(header!.data_key!) });
  const written = await storeDigest(h.home);
  const opts = { home: h.home };
  assertCleanError(await runCli(["get", "openai"], opts), 10);
  assertCleanError(await runCli(["list"], opts), 10);
  const env = { OPENAI_API_KEY: "sk-test_replacement_0123456789abcdef" };
  assertCleanError(await runCli(["login", "openai", "--connection", "new"], { ...opts, env }), 10);
  assertCleanError(await runCli(["login", "openai", "--force"], { ...opts, env }), 10);
  assert.equal(await storeDigest(h.home), written, "login did not overwrite the vault");
});

Deno.test("a record renamed in the store (connection/openai/default -> .../defaulu) does not open (10) under its new name", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  tamperRow(h.home, "default", "connection/openai/default", { key: "connection/openai/defaulu" });
  const written = await storeDigest(h.home);
  const opts = { home: h.home };
  const secret = await runCli(
    ["get", "openai", "--connection", "defaulu", "--field", "api_key", "--show-secret"],
    opts,
  );
  assertCleanError(secret, 10);
  assert.ok(!secret.stdout.includes(KEY));
  const exported = await runCli(["export", "openai", "--connection", "defaulu"], opts);
  assertCleanError(exported, 10);
  assert.ok(!exported.stdout.includes(KEY));
  assert.equal(await storeDigest(h.home), written);
});

Deno.test("a truncated store file cannot be opened (10) and is left as it is", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  await loginOpenai(h.home, {}, "work");
  const bytes = await Deno.readFile(storePath(h.home));
  await Deno.writeFile(storePath(h.home), bytes.slice(0, Math.floor(bytes.length / 2)));
  const written = await fileHash(storePath(h.home));
  assertCleanError(await runCli(["get", "openai"], { home: h.home }), 10, "damaged");
  assertCleanError(await runCli(["list"], { home: h.home }), 10);
  assertCleanError(
    await runCli(["login", "openai", "--force"], { home: h.home, env: { OPENAI_API_KEY: KEY } }),
    10,
  );
  assert.equal(await fileHash(storePath(h.home)), written);
});

Deno.test("a store of an unknown format version is refused (10) naming the version", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  setFormatVersion(h.home, 99);
  const written = await fileHash(storePath(h.home));
  const get = await runCli(["get", "openai"], { home: h.home });
  assertCleanError(get, 10, "99");
  assert.match(get.stderr, /^error: .*version 99/m);
  assertCleanError(await runCli(["list"], { home: h.home }), 10, "99");
  assertCleanError(
    await runCli(["login", "openai", "--force"], { home: h.home, env: { OPENAI_API_KEY: KEY } }),
    10,
  );
  assert.equal(await fileHash(storePath(h.home)), written);
});

Deno.test("a record copied under another connection name does not open (10)", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  insertRow(h.home, {
    ...openaiRow(h.home, "connection/openai/default"),
    key: "connection/openai/copy",
  });
  const written = await storeDigest(h.home);

  const r = await runCli(["get", "openai", "--connection", "copy"], { home: h.home });
  assertCleanError(r, 10);
  const secret = await runCli(
    ["get", "openai", "--connection", "copy", "--field", "api_key", "--show-secret"],
    { home: h.home },
  );
  assertCleanError(secret, 10);
  assert.ok(!secret.stdout.includes(KEY), "the copied secret is not revealed");
  const exported = await runCli(["export", "openai", "--connection", "copy"], { home: h.home });
  assertCleanError(exported, 10);
  assert.ok(!exported.stdout.includes(KEY), "the copied secret is not exported");
  assert.equal(await storeDigest(h.home), written);
});

Deno.test("a record copied into another vault of the store does not open there (10)", async () => {
  await using h = await tempHome();
  await loginOpenai(h.home);
  await loginOpenai(h.home, { AUTHSOME_VAULT: "team" }, "ci");
  insertRow(h.home, { ...openaiRow(h.home, "connection/openai/default"), vault: "team" });
  const written = await storeDigest(h.home);
  const r = await runCli(
    [
      "--vault",
      "team",
      "get",
      "openai",
      "--connection",
      "default",
      "--field",
      "api_key",
      "--show-secret",
    ],
    { home: h.home },
  );
  assertCleanError(r, 10);
  assert.ok(!r.stdout.includes(KEY), "the foreign secret is not revealed");
  assert.equal(await storeDigest(h.home), written);
  const own = await runCli(["--vault", "team", "get", "openai", "--connection", "ci"], {
    home: h.home,
  });
  assert.equal(own.code, 0, own.stderr);
});

Deno.test("the passphrase's PBKDF2 parameters are stored (SHA-256, >= 600,000 iterations, 16-byte salt) and used", async () => {
  await using h = await tempHome();
  const env = { AUTHSOME_PASSPHRASE: "correct horse battery staple" };
  await loginOpenai(h.home, env);
  const file = join(h.home, "passphrase.json");
  const text = await Deno.readTextFile(file);
  const params = JSON.parse(text);
  assert.equal(params.kdf, "PBKDF2-SHA-256");
  assert.ok(params.iterations >= 600_000, `iterations ${params.iterations}`);
  assert.equal(Uint8Array.fromBase64(params.salt).length, 16);
  assert.ok(!text.includes(env.AUTHSOME_PASSPHRASE), "no passphrase in the file");
  const get = ["get", "openai", "--field", "api_key", "--show-secret"];
  // Another iteration count or salt derives another key: the stored ones are what is used.
  for (
    const changed of [{ ...params, iterations: params.iterations + 1 }, {
      ...params,
      salt: crypto.getRandomValues(new Uint8Array(16)).toBase64(),
    }]
  ) {
    await Deno.writeTextFile(file, JSON.stringify(changed));
    assertCleanError(await runCli(get, { home: h.home, env }), 10);
  }
  await Deno.writeTextFile(file, JSON.stringify({ ...params, iterations: 100_000 }));
  assertCleanError(await runCli(get, { home: h.home, env }), 10, "invalid");
  await Deno.writeTextFile(file, text);
  const ok = await runCli(get, { home: h.home, env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), KEY);
});

Deno.test("a provider file that starts with a UTF-8 byte order mark is read, by register and from the providers folder", async () => {
  await using h = await tempHome();
  const file = join(h.home, "..", "acme.json");
  await Deno.writeTextFile(file, "\ufeff" + JSON.stringify(VALID_API_KEY_PROVIDER, null, 2));
  const register = await runCli(["provider", "register", file], { home: h.home });
  assert.equal(register.code, 0, register.stderr);
  const inspect = await runCli(["provider", "inspect", "acme"], { home: h.home });
  assert.equal(inspect.code, 0, inspect.stderr);
  await Deno.writeTextFile(
    join(h.home, "providers", "acme.json"),
    "\ufeff" + JSON.stringify({ ...VALID_API_KEY_PROVIDER, display_name: "Acme BOM" }),
  );
  const again = await runCli(["provider", "inspect", "acme"], { home: h.home });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /Acme BOM/);
});
