/**
 * End-to-end tests: bundled provider definitions, registering custom ones, overriding and
 * restoring bundled ones.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { assertCleanError, type CliResult, runCli, tempHome } from "./helpers.ts";

const ACME = {
  name: "acme",
  display_name: "Acme Cloud",
  auth_type: "api_key",
  flow: "api_key",
  api_url: "api.acme.test",
  api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
};

function ok(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

async function writeJson(home: string, file: string, doc: unknown): Promise<string> {
  const path = join(dirname(home), file);
  await Deno.writeTextFile(path, JSON.stringify(doc, null, 2));
  return path;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

interface ProviderRow {
  name: string;
  display_name: string;
  auth_type: string;
  flow: string;
  origin: string;
}

Deno.test("provider list shows the bundled providers", async () => {
  await using h = await tempHome();
  const r = await runCli(["provider", "list", "--json"], { home: h.home });
  ok(r, "provider list --json");
  const rows = (JSON.parse(r.stdout) as { providers: ProviderRow[] }).providers;
  assert.ok(rows.length >= 52, `only ${rows.length} providers`);
  const byName = new Map(rows.map((p) => [p.name, p]));
  for (const name of ["openai", "github", "anthropic"]) {
    assert.equal(byName.get(name)?.origin, "bundled", name);
  }
  assert.equal(byName.get("openai")!.auth_type, "api_key");
  assert.equal(byName.get("github")!.auth_type, "oauth2");

  const text = await runCli(["provider", "list"], { home: h.home });
  ok(text, "provider list");
  for (const name of ["openai", "github", "anthropic"]) {
    assert.match(text.stdout, new RegExp(`^${name}\\s+`, "m"));
  }
  assert.ok(!await exists(join(h.home, "authsome.db")), "listing providers creates no store");
});

Deno.test("provider inspect openai prints the bundled definition", async () => {
  await using h = await tempHome();
  const r = await runCli(["provider", "inspect", "openai"], { home: h.home });
  ok(r, "provider inspect openai");
  const def = JSON.parse(r.stdout) as {
    name: string;
    display_name: string;
    auth_type: string;
    flow: string;
    api_url: string[];
    api_key: { header_name: string; header_prefix: string; env_var: string; key_pattern: string };
    export: { env: Record<string, string[]> };
  };
  assert.equal(def.name, "openai");
  assert.equal(def.display_name, "OpenAI");
  assert.equal(def.auth_type, "api_key");
  assert.equal(def.flow, "api_key");
  assert.deepEqual(def.api_url, ["api.openai.com"]);
  assert.equal(def.api_key.header_name, "Authorization");
  assert.equal(def.api_key.header_prefix, "Bearer");
  assert.equal(def.api_key.env_var, "OPENAI_API_KEY");
  assert.equal(def.api_key.key_pattern, "^sk-[A-Za-z0-9_-]{20,}$");
  assert.deepEqual(def.export.env.api_key, ["OPENAI_API_KEY"]);

  const json = await runCli(["provider", "inspect", "openai", "--json"], { home: h.home });
  ok(json, "provider inspect openai --json");
  assert.equal((JSON.parse(json.stdout) as { origin: string }).origin, "bundled");

  assertCleanError(await runCli(["provider", "inspect", "nope"], { home: h.home }), 4, "nope");
});

Deno.test("a registered API-key provider can be listed, logged in to and exported", async () => {
  await using h = await tempHome();
  const file = await writeJson(h.home, "acme.json", ACME);

  const reg = await runCli(["provider", "register", file], { home: h.home });
  ok(reg, "provider register");
  assert.ok(await exists(join(h.home, "providers", "acme.json")));

  const inspect = await runCli(["provider", "inspect", "acme", "--json"], { home: h.home });
  ok(inspect, "provider inspect acme");
  const def = JSON.parse(inspect.stdout) as {
    origin: string;
    api_url: string[];
    api_key: { header_name: string; header_prefix: string | null; env_var: string };
    export: { env: Record<string, string[]> };
  };
  assert.equal(def.origin, "user");
  assert.deepEqual(def.api_url, ["api.acme.test"]);
  assert.equal(def.api_key.header_name, "x-acme-key");
  assert.equal(def.api_key.header_prefix, null);
  assert.equal(def.api_key.env_var, "ACME_API_KEY");
  assert.deepEqual(def.export.env.api_key, ["ACME_API_KEY"]);

  const before = await runCli(["list", "--json"], { home: h.home });
  ok(before, "list");
  const listed = (JSON.parse(before.stdout) as {
    providers: Array<{ name: string; display_name: string; state: string; origin: string }>;
  }).providers.find((p) => p.name === "acme");
  assert.equal(listed?.display_name, "Acme Cloud");
  assert.equal(listed?.state, "available");

  const key = "acme-secret-0123456789";
  const login = await runCli(["login", "acme"], { home: h.home, env: { ACME_API_KEY: key } });
  ok(login, "login acme");
  assert.ok(!login.stdout.includes(key) && !login.stderr.includes(key), "the key is not printed");

  const after = await runCli(["list", "--json"], { home: h.home });
  ok(after, "list");
  const acme = (JSON.parse(after.stdout) as {
    providers: Array<{ name: string; state: string; connections: Array<{ name: string }> }>;
  }).providers.find((p) => p.name === "acme")!;
  assert.equal(acme.state, "connected");
  assert.deepEqual(acme.connections.map((c) => c.name), ["default"]);

  const exported = await runCli(["export", "acme"], { home: h.home });
  ok(exported, "export acme");
  assert.equal(exported.stdout.trim(), `ACME_API_KEY=${key}`);
  const shell = await runCli(["export", "acme", "--format", "shell"], { home: h.home });
  ok(shell, "export acme --format shell");
  assert.equal(shell.stdout.trim(), `export ACME_API_KEY='${key}'`);
});

Deno.test("registering a provider name again needs --force (exit 7)", async () => {
  await using h = await tempHome();
  const file = await writeJson(h.home, "acme.json", ACME);
  ok(await runCli(["provider", "register", file], { home: h.home }), "first register");

  const changed = await writeJson(h.home, "acme-v2.json", { ...ACME, display_name: "Acme v2" });
  const again = await runCli(["provider", "register", changed], { home: h.home });
  assertCleanError(again, 7, "acme", "--force");
  const kept = await runCli(["provider", "inspect", "acme"], { home: h.home });
  assert.equal((JSON.parse(kept.stdout) as { display_name: string }).display_name, "Acme Cloud");

  ok(await runCli(["provider", "register", changed, "--force"], { home: h.home }), "--force");
  const replaced = await runCli(["provider", "inspect", "acme"], { home: h.home });
  assert.equal((JSON.parse(replaced.stdout) as { display_name: string }).display_name, "Acme v2");
});

Deno.test("a user file overrides a bundled provider and provider remove restores the bundled one", async () => {
  await using h = await tempHome();
  const custom = {
    schema_version: 1,
    name: "openai",
    display_name: "OpenAI (company proxy)",
    auth_type: "api_key",
    flow: "api_key",
    api_url: "openai.proxy.example.com",
    api_key: {
      header_name: "Authorization",
      header_prefix: "Bearer",
      env_var: "COMPANY_OPENAI_KEY",
    },
  };
  const file = await writeJson(h.home, "openai.json", custom);

  const refused = await runCli(["provider", "register", file], { home: h.home });
  assertCleanError(refused, 7, "openai", "--force");
  assert.ok(!await exists(join(h.home, "providers", "openai.json")));

  ok(await runCli(["provider", "register", file, "--force"], { home: h.home }), "--force");
  const inspect = await runCli(["provider", "inspect", "openai", "--json"], { home: h.home });
  ok(inspect, "inspect");
  const def = JSON.parse(inspect.stdout) as {
    display_name: string;
    origin: string;
    api_url: string[];
  };
  assert.equal(def.display_name, "OpenAI (company proxy)");
  assert.equal(def.origin, "user");
  assert.deepEqual(def.api_url, ["openai.proxy.example.com"]);

  const list = await runCli(["provider", "list", "--json"], { home: h.home });
  ok(list, "provider list");
  const rows = (JSON.parse(list.stdout) as { providers: ProviderRow[] }).providers;
  assert.equal(rows.filter((p) => p.name === "openai").length, 1, "listed once");
  assert.equal(rows.find((p) => p.name === "openai")!.origin, "user");

  // The override is what login and export use: its env var (the default export name) and no
  // key pattern.
  const key = "company-key-without-sk-prefix";
  const login = await runCli(["login", "openai"], {
    home: h.home,
    env: { COMPANY_OPENAI_KEY: key },
  });
  ok(login, "login openai with the override");
  const exported = await runCli(["export", "openai"], { home: h.home });
  ok(exported, "export");
  assert.equal(exported.stdout.trim(), `COMPANY_OPENAI_KEY=${key}`);

  ok(await runCli(["provider", "remove", "openai"], { home: h.home }), "provider remove openai");
  assert.ok(!await exists(join(h.home, "providers", "openai.json")));
  const restored = await runCli(["provider", "inspect", "openai", "--json"], { home: h.home });
  ok(restored, "inspect after remove");
  const back = JSON.parse(restored.stdout) as { display_name: string; origin: string };
  assert.equal(back.display_name, "OpenAI");
  assert.equal(back.origin, "bundled");
});

Deno.test("provider remove refuses a bundled provider and an unknown one (exit 4)", async () => {
  await using h = await tempHome();
  assertCleanError(await runCli(["provider", "remove", "github"], { home: h.home }), 4, "github");
  assertCleanError(await runCli(["provider", "remove", "nope"], { home: h.home }), 4, "nope");
  const gh = await runCli(["provider", "inspect", "github"], { home: h.home });
  ok(gh, "github is still there");
});

Deno.test("an OAuth2 login nobody completes times out (exit 2) and stores nothing", async () => {
  await using h = await tempHome();
  const r = await runCli(["login", "github", "--callback-port", "0", "--timeout", "1"], {
    home: h.home,
    // BROWSER=true: nothing is opened and no request leaves the machine.
    env: { GITHUB_CLIENT_ID: "client-id", GITHUB_CLIENT_SECRET: "client-secret", BROWSER: "true" },
  });
  assert.equal(r.code, 2, `exit ${r.code}\nstderr: ${r.stderr}`);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
  assert.match(r.stderr, /https:\/\/github\.com\/login\/oauth\/authorize\?/);
  assert.match(r.stderr, /^error: Timed out/m);
  assert.ok(!r.stderr.includes("client-secret"), "the client secret was printed");
  assert.ok(!await exists(join(h.home, "authsome.db")), "no vault was written");
  const get = await runCli(["get", "github"], { home: h.home });
  assert.equal(get.code, 3, get.stderr);
});

Deno.test("--flow api_key for an OAuth2 provider is a usage error", async () => {
  await using h = await tempHome();
  const r = await runCli(["login", "github", "--flow", "api_key"], { home: h.home });
  assert.equal(r.code, 64, r.stderr);
  assert.match(r.stderr, /^error: --flow api_key does not fit GitHub/);
});

/** An API-key provider file exactly as the Python original writes one (OLD fields, nulls). */
const PYTHON_API_KEY_FILE = {
  schema_version: 1,
  name: "acme-legacy",
  display_name: "Acme (Python format)",
  auth_type: "api_key",
  flow: "api_key",
  host_url: "api.acme.test",
  docs_url: "https://acme.test/keys",
  type: "app",
  logo: "https://acme.test/logo.svg",
  description: "Acme's API",
  api_key: {
    header_name: "x-acme-key",
    header_prefix: "",
    env_var: "ACME_LEGACY_API_KEY",
    key_pattern: null,
  },
  export: { env: { api_key: "ACME_LEGACY_API_KEY" } },
  metadata: { category: "test" },
};

Deno.test("a provider file of the Python original registers as is with one notice line, and its connections work", async () => {
  await using h = await tempHome();
  const doc = structuredClone(PYTHON_API_KEY_FILE) as Record<string, unknown>;
  const file = await writeJson(h.home, "acme-legacy.json", doc);
  const r = await runCli(["provider", "register", file], { home: h.home });
  ok(r, "provider register (Python format)");
  const notices = r.stderr.split("\n").filter((l) => l.startsWith("notice: "));
  assert.deepEqual(notices, [
    `notice: ${file}: ignored fields of the Python authsome format: type (not used by authsome), ` +
    "logo (not used by authsome)",
  ]);
  const inspect = await runCli(["provider", "inspect", "acme-legacy"], { home: h.home });
  ok(inspect, "provider inspect");
  const def = JSON.parse(inspect.stdout);
  assert.deepEqual(def.api_url, ["api.acme.test"]);
  assert.equal(def.docs, "https://acme.test/keys");
  assert.equal(def.api_key.header_prefix, null);

  // Loading it again (every command) prints no notice: it was named once, at register.
  const key = "ak-12345678abc";
  const login = await runCli(["login", "acme-legacy"], {
    home: h.home,
    env: { ACME_LEGACY_API_KEY: key },
  });
  ok(login, "login acme-legacy");
  assert.ok(!login.stderr.includes("notice:"), login.stderr);
  const exported = await runCli(["export", "acme-legacy"], { home: h.home });
  ok(exported, "export acme-legacy");
  assert.equal(exported.stdout.trim(), `ACME_LEGACY_API_KEY=${key}`);

  const bad = { ...PYTHON_API_KEY_FILE, name: "acme-bad", api_key: { header_nme: "x" } };
  const badFile = await writeJson(h.home, "acme-bad.json", bad);
  const refused = await runCli(["provider", "register", badFile], { home: h.home });
  assertCleanError(refused, 65, "api_key.header_nme: is not a known field");
});
