/**
 * End-to-end: `authsome import python` against a home folder of the Python original, written by
 * tests/support/python_home.py (Python's sqlite3 in WAL mode, AES-256-GCM from `cryptography`)
 * as shared/reference/authsome-reference.md §4 describes it. The imported connections are then
 * used through `get`, `export` and `run` (the proxy injecting into a real HTTPS request).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { type CliResult, LAUNCHER, readTree, ROOT, runCli, tempHome } from "./helpers.ts";
import { storeDigest, vaultExists } from "./support/store_file.ts";

const GENERATOR = join(ROOT, "tests", "support", "python_home.py");

const SECRETS = {
  acmeDefault: "acme-access-default-0123456789",
  acmeDefaultRefresh: "acme-refresh-default-0123456789",
  acmeWork: "acme-access-work-9876543210",
  acmeWorkRefresh: "acme-refresh-work-9876543210",
  acmeClientSecret: "acme-client-secret-abcdef",
  openai: "sk-imported0123456789abcdefghij",
  github: "gho_importedGithubToken0123456789",
  githubRefresh: "ghr_importedGithubRefresh0123456789",
};

/** A custom provider file as the original writes it (OLD field names, nulls, pkce). */
const ACME_PROVIDER = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  flow: "pkce",
  host_url: "api.acme.test",
  docs: "https://acme.test/docs",
  oauth: {
    authorization_url: "https://acme.test/oauth/authorize",
    token_url: "https://acme.test/oauth/token",
    revocation_url: null,
    device_authorization_url: null,
    scopes: ["read", "write"],
    pkce: true,
    supports_device_flow: false,
    supports_dcr: false,
    base_url: null,
  },
  export: { env: { access_token: "ACME_ACCESS_TOKEN", refresh_token: "ACME_REFRESH_TOKEN" } },
  metadata: {},
};

const P = "profile:default";
const future = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString().replace("Z", "+00:00");
const past = "2026-05-01T10:00:00+00:00";

function oauthRecord(provider: string, name: string, access: string, refresh: string) {
  return {
    schema_version: 2,
    provider,
    profile: "default",
    connection_name: name,
    auth_type: "oauth2",
    status: "connected",
    base_url: null,
    host_url: "evil.example", // ignored: the definition decides where a credential may go
    scopes: ["read", "write"],
    access_token: access,
    refresh_token: refresh,
    token_type: "Bearer",
    expires_at: future,
    obtained_at: past,
    api_key: null,
    account: { id: null, label: null },
    metadata: {},
  };
}

/** The records of the original's profile `default`, by kv key. */
function records(): Record<string, unknown> {
  return {
    [`${P}:acme:connection:default`]: oauthRecord(
      "acme",
      "default",
      SECRETS.acmeDefault,
      SECRETS.acmeDefaultRefresh,
    ),
    [`${P}:acme:connection:work`]: {
      ...oauthRecord("acme", "work", SECRETS.acmeWork, SECRETS.acmeWorkRefresh),
      account: { id: "u-7", label: "ada@acme.test" },
    },
    [`${P}:acme:metadata`]: {
      default_connection: "work",
      connection_names: ["default", "work"],
      last_used_connection: "work",
      metadata: {},
    },
    [`${P}:acme:state`]: { last_refresh_at: null, last_refresh_error: null, metadata: {} },
    [`${P}:acme:client`]: {
      client_id: "acme-client-id",
      client_secret: SECRETS.acmeClientSecret,
      base_url: null,
      host_url: null,
      scopes: ["read", "write"],
      metadata: {},
    },
    [`${P}:openai:connection:default`]: {
      schema_version: 2,
      provider: "openai",
      profile: "default",
      connection_name: "default",
      auth_type: "api_key",
      status: "connected",
      base_url: null,
      host_url: "api.openai.com",
      scopes: [],
      access_token: null,
      refresh_token: null,
      token_type: null,
      expires_at: null,
      obtained_at: past,
      api_key: SECRETS.openai,
      account: { id: null, label: null },
      metadata: {},
    },
    [`${P}:openai:metadata`]: { default_connection: "default", connection_names: ["default"] },
    [`${P}:github:connection:default`]: oauthRecord(
      "github",
      "default",
      SECRETS.github,
      SECRETS.githubRefresh,
    ),
    [`${P}:github:connection:old`]: { schema_version: 1, provider: "github", access_token: "x" },
    [`${P}:nosuch:connection:default`]: oauthRecord("nosuch", "default", "n-token-1", "n-r"),
    [`${P}:openai:connection:Bad:Name`]: { ...oauthRecord("openai", "Bad:Name", "a", "b") },
  };
}

interface SourceHome {
  dir: string;
  key: string;
}

/** Writes an original's home with the generator; `mode` keyring leaves master.key out. */
async function writeSource(
  dir: string,
  options: { mode?: "local_key" | "keyring"; raw?: Record<string, string> } = {},
): Promise<SourceHome> {
  const key = crypto.getRandomValues(new Uint8Array(32)).toBase64();
  const spec = {
    mode: options.mode ?? "local_key",
    key,
    profiles: { default: records() },
    raw: { default: options.raw ?? {} },
    providers: { acme: ACME_PROVIDER },
  };
  const child = new Deno.Command("python3", {
    args: [GENERATOR, dir],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(spec)));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return { dir, key };
}

/** SHA-256 of every file under `dir`, by path: the source must come out byte for byte the same. */
async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for await (const entry of Deno.readDir(d)) {
      const path = join(d, entry.name);
      if (entry.isDirectory) await walk(path);
      else {
        const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
        out[path] = new Uint8Array(digest).toHex();
      }
    }
  };
  await walk(dir);
  return out;
}

function noSecret(text: string, where: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(secret), `${where} shows the ${name} secret`);
  }
}

interface Item {
  kind: string;
  provider: string;
  connection?: string;
  outcome: string;
  reason?: string;
}

const row = (items: Item[], kind: string, provider: string, connection?: string) =>
  items.find((i) => i.kind === kind && i.provider === provider && i.connection === connection);

Deno.test("import python brings connections, defaults, the client and a custom provider over; the source stays byte for byte the same; they work through get, export and run --env", async () => {
  await using tmp = await tempHome();
  const source = await writeSource(join(tmp.home, "..", "python-home"));
  const before = await hashTree(source.dir);
  const home = tmp.home;

  const text = await runCli(["import", "python", source.dir], { home });
  assert.equal(text.code, 0, text.stderr);
  noSecret(text.stdout + text.stderr, "import output");
  assert.match(
    text.stderr,
    /^Imported 4 connection\(s\), 1 client\(s\) and 1 provider\(s\) from .*python-home \(profile default, key from master\.key\) into vault "default"; 3 skipped, 0 already here\.$/m,
  );
  assert.match(text.stdout, /^connection\s+acme\s+work\s+imported: oauth2, with a refresh token$/m);
  assert.match(
    text.stdout,
    /^connection\s+nosuch\s+default\s+skipped: authsome has no provider "nosuch"$/m,
  );
  assert.deepEqual(await hashTree(source.dir), before, "the source is unchanged, no file added");

  // Idempotent: a second run imports nothing and changes nothing.
  const digest = await storeDigest(home);
  const again = await runCli(["import", "python", source.dir, "--json"], { home });
  assert.equal(again.code, 0, again.stderr);
  const items = (JSON.parse(again.stdout) as { items: Item[] }).items;
  assert.deepEqual(items.filter((i) => i.outcome === "imported" || i.outcome === "replaced"), []);
  assert.equal(row(items, "connection", "acme", "work")?.outcome, "exists");
  assert.equal(row(items, "provider", "acme")?.outcome, "exists");
  assert.equal(await storeDigest(home), digest, "the second run changed nothing");
  assert.equal(
    row(items, "connection", "github", "old")?.reason,
    "uses the original's old v1 record format",
  );
  assert.equal(
    row(items, "connection", "openai", "Bad:Name")?.reason,
    "its name is not a valid connection name here",
  );

  // The imported connections work: get, export, run --env.
  const acme = JSON.parse((await runCli(["get", "acme", "--json"], { home })).stdout);
  assert.equal(acme.connection, "work", "the original's default connection is the default");
  assert.equal(acme.status, "connected");
  assert.deepEqual(acme.account, { id: "u-7", label: "ada@acme.test" });
  assert.deepEqual(acme.api_url, ["api.acme.test"], "hosts from the definition, not the record");
  const token = await runCli(
    ["get", "acme", "-c", "default", "--field", "refresh_token", "--show-secret"],
    { home },
  );
  assert.equal(token.stdout.trim(), SECRETS.acmeDefaultRefresh);
  const exported = await runCli(["export", "--format", "json"], { home });
  assert.equal(exported.code, 0, exported.stderr);
  const vars = JSON.parse(exported.stdout);
  assert.equal(vars.ACME_ACCESS_TOKEN, SECRETS.acmeWork);
  assert.equal(vars.OPENAI_API_KEY, SECRETS.openai);
  assert.equal(
    vars.ACME_REFRESH_TOKEN,
    undefined,
    "the original's refresh-token export is dropped",
  );
  const run = await runCli(
    ["run", "--env", "--", "sh", "-c", 'printf "%s|%s" "$OPENAI_API_KEY" "$GITHUB_TOKEN"'],
    { home },
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `${SECRETS.openai}|${SECRETS.github}`);
  const inspect = await runCli(["provider", "inspect", "acme", "--json"], { home });
  assert.equal(JSON.parse(inspect.stdout).origin, "user");

  // No secret in any file of the new home in plaintext.
  for (const [path, content] of await readTree(home)) noSecret(content, path);

  // --force replaces what is here.
  const forced = await runCli(["import", "python", source.dir, "--force", "--json"], { home });
  assert.equal(forced.code, 0, forced.stderr);
  const forcedItems = (JSON.parse(forced.stdout) as { items: Item[] }).items;
  assert.equal(row(forcedItems, "connection", "acme", "work")?.outcome, "replaced");
  assert.equal(row(forcedItems, "client", "acme")?.outcome, "replaced");
  assert.equal(row(forcedItems, "provider", "acme")?.outcome, "replaced");
  assert.deepEqual(await hashTree(source.dir), before, "the source is unchanged after --force");
});

Deno.test("run behind the proxy sends an imported OAuth connection's token to the provider's host", async () => {
  await using tmp = await tempHome();
  const dir = join(tmp.home, "..");
  const source = await writeSource(join(dir, "python-home"));
  const home = tmp.home;
  assert.equal((await runCli(["import", "python", source.dir], { home })).code, 0);

  const ca = await createCa({ commonName: "upstream test CA for api.acme.test" });
  const leaf = await createLeafIssuer(ca).issue("api.acme.test");
  const seen: string[] = [];
  await using _server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: leaf.certPem, key: leaf.keyPem, onListen() {} },
    (req) => {
      seen.push(req.headers.get("authorization") ?? "");
      return new Response("ok");
    },
  );
  const caFile = join(dir, "upstream-ca.pem");
  await Deno.writeTextFile(caFile, ca.certPem);
  const hosts = join(dir, "hosts");
  await Deno.writeTextFile(
    hosts,
    (await Deno.readTextFile("/etc/hosts")) + "\n127.0.0.1 api.acme.test\n",
  );
  const port = _server.addr.port;
  const out = await new Deno.Command("unshare", {
    args: [
      "-m",
      "sh",
      "-c",
      'mount --bind "$0" /etc/hosts && exec "$@"',
      hosts,
      LAUNCHER,
      "run",
      "--",
      "curl",
      "-sS",
      `https://api.acme.test:${port}/v1/me`,
    ],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      AUTHSOME_HOME: home,
      NO_COLOR: "1",
      NODE_EXTRA_CA_CERTS: caFile,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result: CliResult = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, "ok");
  assert.deepEqual(seen, [`Bearer ${SECRETS.acmeWork}`]);
});

Deno.test("a key kept in the OS keyring is named as unsupported (10) with the hint to export it; exported, the import works", async () => {
  await using tmp = await tempHome();
  const source = await writeSource(join(tmp.home, "..", "python-home"), { mode: "keyring" });
  const home = tmp.home;
  const r = await runCli(["import", "python", source.dir], { home });
  assert.equal(r.code, 10, r.stderr);
  assert.deepEqual(r.stderr.trimEnd().split("\n"), [
    `error: ${source.dir} keeps its master key in the OS keyring (encryption mode "keyring"), ` +
    "which authsome does not read",
    "hint: Export the original's key (base64) to AUTHSOME_PYTHON_MASTER_KEY, or " +
    "AUTHSOME_MASTER_KEY as the original reads it, and run again",
  ]);
  assert.equal(vaultExists(home), false);
  const ok = await runCli(["import", "python", source.dir], {
    home,
    env: { AUTHSOME_PYTHON_MASTER_KEY: source.key },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /key from AUTHSOME_PYTHON_MASTER_KEY/);
  noSecret(ok.stdout + ok.stderr, "import output");
  assert.ok(!(ok.stdout + ok.stderr).includes(source.key), "the key is not shown");
});

Deno.test("a wrong key (10), a folder that is not the original's home (65): one error line, nothing stored; an undecryptable record is skipped by name", async () => {
  await using tmp = await tempHome();
  const source = await writeSource(join(tmp.home, "..", "python-home"), {
    raw: { [`${P}:groq:connection:default`]: "bm90LWEtbm9uY2U=.Z2FyYmFnZQ==" },
  });
  const home = tmp.home;
  const wrong = crypto.getRandomValues(new Uint8Array(32)).toBase64();
  await Deno.writeTextFile(
    join(source.dir, "master.key.good"),
    await Deno.readTextFile(join(source.dir, "master.key")),
  );
  await Deno.writeTextFile(
    join(source.dir, "master.key"),
    JSON.stringify({ version: 1, key: wrong }),
  );
  const bad = await runCli(["import", "python", source.dir], { home });
  assert.equal(bad.code, 10, bad.stderr);
  assert.match(bad.stderr, /^error: No record of .*store\.db opens with the master key\nhint: /);
  assert.equal(vaultExists(home), false);

  const notHome = await runCli(["import", "python", tmp.home + "-nothing"], { home });
  assert.equal(notHome.code, 65, notHome.stderr);
  assert.match(
    notHome.stderr,
    /^error: .* has no store of the Python authsome for profile "default"/,
  );
  assert.equal(notHome.stderr.trimEnd().split("\n").length, 2);

  await Deno.rename(join(source.dir, "master.key.good"), join(source.dir, "master.key"));
  const ok = await runCli(["import", "python", source.dir, "--json"], { home });
  assert.equal(ok.code, 0, ok.stderr);
  const items = (JSON.parse(ok.stdout) as { items: Item[] }).items;
  assert.deepEqual(row(items, "connection", "groq", "default"), {
    kind: "connection",
    provider: "groq",
    connection: "default",
    outcome: "skipped",
    reason: "cannot be decrypted with the master key",
  });
});
