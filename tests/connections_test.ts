/**
 * End-to-end tests of named connections, defaults, export, vaults and the CLI's usage errors,
 * through the real `./authsome` process with a temp AUTHSOME_HOME.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { type CliResult, readTree, ROOT, runCli, tempHome } from "./helpers.ts";
import { storeDigest, vaultExists } from "./support/store_file.ts";

const KEY_DEFAULT = "sk-default0000aaaaBBBBccccDDDD1111";
const KEY_WORK = "sk-work11112222eeeeFFFFggggHHHH33";
const KEY_WORK_NEW = "sk-worknew9999zzzzYYYYxxxxWWWW77";
const KEY_PERSONAL = "sk-personal5555mmmmNNNNooooPPPP55";
const KEY_RESEND = "re_plainResendKey_123456";

type Home = { home: string };
type RunExtra = { env?: Record<string, string>; stdin?: string };

/**
 * Runs the CLI and checks that, whatever happened, no stack trace was printed. HOME is a sibling
 * of AUTHSOME_HOME (runCli would set it to AUTHSOME_HOME, where Deno then puts its own cache).
 */
async function cli(h: Home, args: string[], extra: RunExtra = {}): Promise<CliResult> {
  const env = { HOME: join(dirname(h.home), "user"), ...extra.env };
  const r = await runCli(args, { home: h.home, ...extra, env });
  assert.ok(
    !r.stderr.includes("    at "),
    `stack trace on stderr of ${args.join(" ")}:\n${r.stderr}`,
  );
  assert.ok(
    !r.stdout.includes("    at "),
    `stack trace on stdout of ${args.join(" ")}:\n${r.stdout}`,
  );
  return r;
}

/** Runs the CLI and requires exit 0. */
async function ok(h: Home, args: string[], extra: RunExtra = {}): Promise<CliResult> {
  const r = await cli(h, args, extra);
  assert.equal(r.code, 0, `${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

/** Runs the CLI and requires exit `code`. */
async function fails(h: Home, code: number, args: string[], extra: RunExtra = {}) {
  const r = await cli(h, args, extra);
  assert.equal(
    r.code,
    code,
    `${args.join(" ")}: expected exit ${code}, got ${r.code}\n${r.stderr}`,
  );
  return r;
}

/** Logs in to openai with `key` from OPENAI_API_KEY. */
function loginOpenai(h: Home, key: string, ...args: string[]): Promise<CliResult> {
  return ok(h, ["login", "openai", ...args], { env: { OPENAI_API_KEY: key } });
}

/** The raw secret printed by `get P --field api_key --show-secret`. */
async function secretOf(h: Home, provider: string, ...args: string[]): Promise<string> {
  const r = await ok(h, ["get", provider, "--field", "api_key", "--show-secret", ...args]);
  return r.stdout.replace(/\n$/, "");
}

interface ListedConnection {
  name: string;
  status: string;
  default: boolean;
  expires_at: string | null;
}
interface ListedProvider {
  name: string;
  display_name: string;
  auth_type: string;
  state: string;
  connections: ListedConnection[];
}
interface ListDoc {
  vault: string;
  providers: ListedProvider[];
}

async function listJson(h: Home, ...args: string[]): Promise<ListDoc> {
  return JSON.parse((await ok(h, ["list", "--json", ...args])).stdout) as ListDoc;
}

function providerIn(doc: ListDoc, name: string): ListedProvider {
  const p = doc.providers.find((x) => x.name === name);
  assert.ok(p, `provider ${name} is not listed`);
  return p;
}

/** `{connection name: default flag}` of a provider in `list --json`. */
async function defaultFlags(h: Home, provider: string, ...args: string[]) {
  const p = providerIn(await listJson(h, ...args), provider);
  return Object.fromEntries(p.connections.map((c) => [c.name, c.default]));
}

async function getJson(h: Home, ...args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse((await ok(h, ["get", ...args, "--json"])).stdout);
}

/** Runs `sh -c script` with `input` on stdin, in an environment whose HOME must not leak in. */
async function sh(script: string, input: string): Promise<string> {
  const child = new Deno.Command("sh", {
    args: ["-c", script],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: "/expanded-home" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `sh failed: ${stderr}`);
  assert.equal(stderr, "");
  return new TextDecoder().decode(out.stdout);
}

async function treeIfAny(home: string): Promise<Map<string, string>> {
  try {
    return await readTree(home);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return new Map();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// 1. The seed scenario: several connections of one provider

Deno.test("a second connection is stored beside the default and read with --connection", async () => {
  await using h = await tempHome();
  const first = await loginOpenai(h, KEY_DEFAULT);
  assert.match(first.stderr, /default/);
  await loginOpenai(h, KEY_WORK, "--connection", "work");

  const work = await getJson(h, "openai", "--connection", "work");
  assert.equal(work.provider, "openai");
  assert.equal(work.connection, "work");
  assert.equal(work.default, false);
  assert.equal(work.status, "connected");

  const def = await getJson(h, "openai");
  assert.equal(def.connection, "default");
  assert.equal(def.default, true);

  const status = await ok(h, ["get", "openai", "--field", "status"]);
  assert.equal(status.stdout, "connected\n");
  const workStatus = await ok(h, ["get", "openai", "--connection", "work", "--field", "status"]);
  assert.equal(workStatus.stdout, "connected\n");
});

Deno.test("get --field api_key --show-secret prints each connection's raw key alone", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");

  const def = await ok(h, ["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.match(def.stdout, new RegExp(`^${KEY_DEFAULT}\\n?$`));
  assert.equal(def.stderr, "");
  const work = await ok(h, [
    "get",
    "openai",
    "--connection",
    "work",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.match(work.stdout, new RegExp(`^${KEY_WORK}\\n?$`));
  assert.equal(work.stderr, "");
});

Deno.test("get of a secret field without --show-secret refuses and prints no secret", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  const r = await fails(h, 64, ["get", "openai", "--field", "api_key"]);
  assert.match(r.stderr, /--show-secret/);
  assert.ok(!r.stdout.includes(KEY_DEFAULT) && !r.stderr.includes(KEY_DEFAULT));
  await fails(h, 64, ["get", "openai", "--show-secret"]);
});

Deno.test("export --connection work --format env prints the work connection's key", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const work = await ok(h, ["export", "openai", "--connection", "work", "--format", "env"]);
  assert.equal(work.stdout, `OPENAI_API_KEY=${KEY_WORK}\n`);
  const def = await ok(h, ["export", "openai", "--format", "env"]);
  assert.equal(def.stdout, `OPENAI_API_KEY=${KEY_DEFAULT}\n`);
});

Deno.test("logging in to an existing connection without --force exits 6, hints at --force and keeps the key", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const before = await storeDigest(h.home);

  const r = await fails(h, 6, ["login", "openai", "--connection", "work"], {
    env: { OPENAI_API_KEY: KEY_WORK_NEW },
  });
  assert.match(r.stderr, /--force/);
  assert.ok(!r.stderr.includes(KEY_WORK_NEW));

  const json = await fails(h, 6, ["login", "openai", "--connection", "work", "--json"], {
    env: { OPENAI_API_KEY: KEY_WORK_NEW },
  });
  const err = JSON.parse(json.stderr);
  assert.equal(err.error, "CONNECTION_EXISTS");
  assert.match(err.hint, /--force/);

  const again = await fails(h, 6, ["login", "openai"], { env: { OPENAI_API_KEY: KEY_WORK_NEW } });
  assert.match(again.stderr, /--force/);

  assert.equal(await storeDigest(h.home), before);
  assert.equal(await secretOf(h, "openai", "--connection", "work"), KEY_WORK);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
});

Deno.test("login --force makes the connection the default", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true, work: false });

  await loginOpenai(h, KEY_WORK_NEW, "--connection", "work", "--force");

  const got = await getJson(h, "openai");
  assert.equal(got.connection, "work");
  assert.equal(got.default, true);
  assert.equal(await secretOf(h, "openai"), KEY_WORK_NEW);
  assert.equal(await secretOf(h, "openai", "--connection", "work"), KEY_WORK_NEW);
  assert.equal((await ok(h, ["export", "openai"])).stdout, `OPENAI_API_KEY=${KEY_WORK_NEW}\n`);
  assert.deepEqual(await defaultFlags(h, "openai"), { default: false, work: true });
  // the former default is still there and readable
  assert.equal(await secretOf(h, "openai", "--connection", "default"), KEY_DEFAULT);
});

Deno.test("connections set-default switches the default back", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  await loginOpenai(h, KEY_WORK_NEW, "--connection", "work", "--force");
  assert.equal((await getJson(h, "openai")).connection, "work");

  await ok(h, ["connections", "set-default", "openai", "default"]);
  const got = await getJson(h, "openai");
  assert.equal(got.connection, "default");
  assert.equal(got.default, true);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true, work: false });
  assert.equal((await getJson(h, "openai", "--connection", "work")).default, false);
});

Deno.test("connections set-default to an unknown connection exits 3 and keeps the default", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const r = await fails(h, 3, ["connections", "set-default", "openai", "nope"]);
  assert.match(r.stderr, /default/);
  assert.match(r.stderr, /work/);
  assert.equal((await getJson(h, "openai")).connection, "default");
  await fails(h, 64, ["connections", "frobnicate", "openai", "work"]);
});

Deno.test("logout of a non-default connection leaves the default intact and readable", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  await ok(h, ["logout", "openai", "--connection", "work"]);

  await fails(h, 3, ["get", "openai", "--connection", "work"]);
  const got = await getJson(h, "openai");
  assert.equal(got.connection, "default");
  assert.equal(got.default, true);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true });
});

Deno.test("logging out the default moves the default to the remaining connection", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");

  const out = await ok(h, ["logout", "openai"]);
  assert.match(out.stderr, /work/);
  const got = await getJson(h, "openai");
  assert.equal(got.connection, "work");
  assert.equal(got.default, true);
  assert.equal(await secretOf(h, "openai"), KEY_WORK);
  assert.deepEqual(await defaultFlags(h, "openai"), { work: true });

  await ok(h, ["logout", "openai"]);
  const none = await fails(h, 3, ["get", "openai"]);
  assert.match(none.stderr, /login openai/);
  assert.equal(providerIn(await listJson(h), "openai").state, "available");
  await fails(h, 3, ["logout", "openai"]);
});

Deno.test("logging out the default prefers the connection named default among several", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  await loginOpenai(h, KEY_PERSONAL, "--connection", "personal");
  await ok(h, ["connections", "set-default", "openai", "work"]);
  await ok(h, ["logout", "openai"]);
  assert.equal((await getJson(h, "openai")).connection, "default");
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true, personal: false });
});

// ---------------------------------------------------------------------------------------------
// 2. JSON shapes

Deno.test("list --json has the vault and every provider with its state and connections", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const doc = await listJson(h);

  assert.equal(doc.vault, "default");
  assert.ok(Array.isArray(doc.providers));
  assert.ok(doc.providers.length >= 2);
  for (const p of doc.providers) {
    for (const key of ["name", "display_name", "auth_type", "state", "connections"]) {
      assert.ok(key in p, `provider ${p.name} lacks ${key}`);
    }
    assert.equal(typeof p.name, "string");
    assert.equal(typeof p.display_name, "string");
    assert.equal(typeof p.auth_type, "string");
    assert.ok(Array.isArray(p.connections));
    if (p.name !== "openai") {
      assert.equal(p.state, "available", `${p.name} state`);
      assert.deepEqual(p.connections, []);
    }
  }
  const openai = providerIn(doc, "openai");
  assert.equal(openai.display_name, "OpenAI");
  assert.equal(openai.auth_type, "api_key");
  assert.equal(openai.state, "connected");
  const byName = new Map(openai.connections.map((c) => [c.name, c]));
  assert.deepEqual([...byName.keys()].sort(), ["default", "work"]);
  for (const c of openai.connections) {
    for (const key of ["name", "status", "default", "expires_at"]) {
      assert.ok(key in c, `connection ${c.name} lacks ${key}`);
    }
    assert.equal(c.status, "connected");
    assert.equal(c.expires_at, null);
  }
  assert.equal(byName.get("default")!.default, true);
  assert.equal(byName.get("work")!.default, false);
  assert.ok(!JSON.stringify(doc).includes(KEY_DEFAULT));
});

Deno.test("get --json has the documented metadata fields and no secret", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  const r = await ok(h, ["get", "openai", "--json"]);
  const doc = JSON.parse(r.stdout);
  for (
    const key of [
      "provider",
      "connection",
      "default",
      "status",
      "auth_type",
      "scopes",
      "expires_at",
      "obtained_at",
      "base_url",
    ]
  ) {
    assert.ok(key in doc, `get --json lacks ${key}`);
  }
  assert.equal(doc.provider, "openai");
  assert.equal(doc.connection, "default");
  assert.equal(doc.default, true);
  assert.equal(doc.status, "connected");
  assert.equal(doc.auth_type, "api_key");
  assert.deepEqual(doc.scopes, []);
  assert.equal(doc.expires_at, null);
  assert.equal(typeof doc.obtained_at, "string");
  assert.ok(!Number.isNaN(Date.parse(doc.obtained_at)), "obtained_at is a date");
  assert.equal(doc.base_url, null);
  assert.ok(!r.stdout.includes(KEY_DEFAULT));
});

Deno.test("export --format json prints an object of environment variables", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const def = await ok(h, ["export", "openai", "--format", "json"]);
  assert.deepEqual(JSON.parse(def.stdout), { OPENAI_API_KEY: KEY_DEFAULT });
  const work = await ok(h, ["export", "openai", "--connection", "work", "--format", "json"]);
  assert.deepEqual(JSON.parse(work.stdout), { OPENAI_API_KEY: KEY_WORK });
  const shell = await ok(h, ["export", "openai", "--format", "shell"]);
  assert.equal(shell.stdout, `export OPENAI_API_KEY='${KEY_DEFAULT}'\n`);
  await fails(h, 64, ["export", "openai", "--format", "yaml"]);
});

// ---------------------------------------------------------------------------------------------
// 3. export quoting

const AWKWARD_KEYS = [
  `re_it's a $HOME key\\with "quotes" and \`ticks\``,
  "re_plain but spaced $HOME \\ key",
  KEY_RESEND,
];

Deno.test("a key with quotes, spaces, $ and backslashes round-trips through --stdin and get", async () => {
  await using h = await tempHome();
  for (const [i, key] of AWKWARD_KEYS.entries()) {
    const force = i === 0 ? [] : ["--force"];
    await ok(h, ["login", "resend", "--stdin", ...force], { stdin: `${key}\n` });
    assert.equal(await secretOf(h, "resend"), key);
  }
});

Deno.test("export --format shell evaluated by sh gives back the exact key", async () => {
  await using h = await tempHome();
  for (const [i, key] of AWKWARD_KEYS.entries()) {
    const force = i === 0 ? [] : ["--force"];
    await ok(h, ["login", "resend", "--stdin", ...force], { stdin: `${key}\n` });
    const r = await ok(h, ["export", "resend", "--format", "shell"]);
    assert.match(r.stdout, /^export RESEND_API_KEY=/);
    const value = await sh('eval "$(cat)"; printf %s "$RESEND_API_KEY"', r.stdout);
    assert.equal(value, key);
  }
});

Deno.test("export --format env sourced by sh with set -a gives back the exact key", async () => {
  await using h = await tempHome();
  for (const [i, key] of AWKWARD_KEYS.entries()) {
    const force = i === 0 ? [] : ["--force"];
    await ok(h, ["login", "resend", "--stdin", ...force], { stdin: `${key}\n` });
    const r = await ok(h, ["export", "resend", "--format", "env"]);
    assert.match(r.stdout, /^RESEND_API_KEY=/);
    assert.equal(r.stdout.split("\n").length, 2, "one line");
    const value = await sh('set -a; . /dev/stdin; printf %s "$RESEND_API_KEY"', r.stdout);
    assert.equal(value, key);
  }
  // a value made of safe characters is written bare
  const plain = await ok(h, ["export", "resend", "--format", "env"]);
  assert.equal(plain.stdout, `RESEND_API_KEY=${KEY_RESEND}\n`);
});

// ---------------------------------------------------------------------------------------------
// 4. export of every default connection

Deno.test("export with no provider exports every provider's default connection", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  await ok(h, ["login", "resend", "--stdin"], { stdin: KEY_RESEND });

  const json = await ok(h, ["export", "--format", "json"]);
  assert.deepEqual(JSON.parse(json.stdout), {
    OPENAI_API_KEY: KEY_DEFAULT,
    RESEND_API_KEY: KEY_RESEND,
  });
  const env = await ok(h, ["export"]);
  assert.deepEqual(env.stdout.trimEnd().split("\n").sort(), [
    `OPENAI_API_KEY=${KEY_DEFAULT}`,
    `RESEND_API_KEY=${KEY_RESEND}`,
  ]);
  const shell = await ok(h, ["export", "--format", "shell"]);
  const both = await sh(
    'eval "$(cat)"; printf "%s|%s" "$OPENAI_API_KEY" "$RESEND_API_KEY"',
    shell.stdout,
  );
  assert.equal(both, `${KEY_DEFAULT}|${KEY_RESEND}`);

  // --connection means one provider's connection: it needs the provider
  await fails(h, 64, ["export", "--connection", "work"]);

  await ok(h, ["connections", "set-default", "openai", "work"]);
  const after = await ok(h, ["export", "--format", "json"]);
  assert.deepEqual(JSON.parse(after.stdout), {
    OPENAI_API_KEY: KEY_WORK,
    RESEND_API_KEY: KEY_RESEND,
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Vaults

Deno.test("a vault sees only its own connections, by --vault or AUTHSOME_VAULT", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--vault", "work");
  await ok(h, ["login", "resend", "--stdin"], {
    stdin: KEY_RESEND,
    env: { AUTHSOME_VAULT: "work" },
  });

  const work = await listJson(h, "--vault", "work");
  assert.equal(work.vault, "work");
  assert.deepEqual(providerIn(work, "openai").connections.map((c) => c.name), ["default"]);
  assert.equal(providerIn(work, "resend").state, "connected");
  assert.equal(await secretOf(h, "openai", "--vault", "work"), KEY_WORK);
  assert.equal(await secretOf(h, "resend", "--vault", "work"), KEY_RESEND);

  const viaEnv = await ok(h, ["list", "--json"], { env: { AUTHSOME_VAULT: "work" } });
  assert.deepEqual(JSON.parse(viaEnv.stdout), work);
  const envSecret = await ok(h, ["get", "openai", "--field", "api_key", "--show-secret"], {
    env: { AUTHSOME_VAULT: "work" },
  });
  assert.equal(envSecret.stdout.trimEnd(), KEY_WORK);

  const def = await listJson(h);
  assert.equal(def.vault, "default");
  assert.equal(providerIn(def, "resend").state, "available");
  assert.deepEqual(providerIn(def, "resend").connections, []);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
  await fails(h, 3, ["get", "resend"]);
  assert.deepEqual(JSON.parse((await ok(h, ["export", "--format", "json"])).stdout), {
    OPENAI_API_KEY: KEY_DEFAULT,
  });
  assert.deepEqual(
    JSON.parse((await ok(h, ["export", "--format", "json", "--vault", "work"])).stdout),
    { OPENAI_API_KEY: KEY_WORK, RESEND_API_KEY: KEY_RESEND },
  );

  // the flag wins over the environment variable
  const flag = await ok(h, [
    "get",
    "openai",
    "--field",
    "api_key",
    "--show-secret",
    "--vault",
    "default",
  ], {
    env: { AUTHSOME_VAULT: "work" },
  });
  assert.equal(flag.stdout.trimEnd(), KEY_DEFAULT);

  // logging out in one vault leaves the other untouched
  await ok(h, ["logout", "openai", "--vault", "work"]);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
  await fails(h, 3, ["get", "openai", "--vault", "work"]);
});

Deno.test("global flags work before and after the command", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_WORK, "--vault", "work");
  await loginOpenai(h, KEY_DEFAULT);

  const before = await ok(h, ["--vault", "work", "list"]);
  const after = await ok(h, ["list", "--vault", "work"]);
  assert.equal(before.stdout, after.stdout);
  assert.match(before.stdout, /openai/);

  const jsonBefore = await ok(h, ["--json", "--vault", "work", "get", "openai"]);
  const jsonAfter = await ok(h, ["get", "openai", "--vault", "work", "--json"]);
  assert.equal(jsonBefore.stdout, jsonAfter.stdout);
  assert.equal(JSON.parse(jsonBefore.stdout).connection, "default");

  const secret = await ok(h, [
    "--vault",
    "work",
    "get",
    "openai",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(secret.stdout.trimEnd(), KEY_WORK);

  const quiet = await ok(h, ["--quiet", "logout", "openai", "--vault", "work"]);
  assert.equal(quiet.stderr, "");
  await fails(h, 3, ["--vault", "work", "get", "openai"]);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
});

Deno.test("an invalid vault name is a usage error", async () => {
  await using h = await tempHome();
  await fails(h, 64, ["list", "--vault", "Bad Vault"]);
  await fails(h, 64, ["list"], { env: { AUTHSOME_VAULT: "../escape" } });
});

// ---------------------------------------------------------------------------------------------
// 6. Usage errors and help

const COMMAND_NAMES = [
  "login",
  "logout",
  "revoke",
  "get",
  "export",
  "list",
  "inspect",
  "connections",
  "provider",
  "whoami",
  "doctor",
  "log",
];

Deno.test("an unknown command exits 64 with a hint", async () => {
  await using h = await tempHome();
  const r = await fails(h, 64, ["frobnicate"]);
  assert.match(r.stderr, /frobnicate/);
  assert.match(r.stderr, /--help/);
  assert.equal(r.stdout, "");
  // Names of Object.prototype members are unknown commands too, not a crash.
  for (const name of ["toString", "constructor", "hasOwnProperty", "__proto__"]) {
    const proto = await fails(h, 64, [name]);
    assert.match(proto.stderr, /^error: Unknown command/m, name);
  }
});

Deno.test("an unknown option exits 64", async () => {
  await using h = await tempHome();
  const r = await fails(h, 64, ["list", "--bogus"]);
  assert.match(r.stderr, /bogus/);
  // an option that exists but belongs to another command
  await fails(h, 64, ["list", "--connection", "work"]);
  await fails(h, 64, ["logout", "openai", "--force"]);
});

Deno.test("--help on every command exits 0 and prints its usage", async () => {
  await using h = await tempHome();
  const top = await ok(h, ["--help"]);
  assert.match(top.stdout, /Usage:/);
  for (const name of COMMAND_NAMES) {
    assert.match(top.stdout, new RegExp(`\\b${name}\\b`), `--help lists ${name}`);
    const r = await ok(h, [name, "--help"]);
    assert.match(r.stdout, /Usage:/, `${name} --help`);
    assert.match(r.stdout, new RegExp(`authsome ${name}\\b`), `${name} --help`);
    const after = await ok(h, ["--help", name]);
    assert.equal(after.stdout, r.stdout);
  }
  // --help wins even when arguments are missing or wrong
  const getHelp = await ok(h, ["get", "--help"]);
  assert.match(getHelp.stdout, /--show-secret/);
  await ok(h, ["connections", "set-default", "--help"]);
  // nothing was created by asking for help
  assert.equal((await treeIfAny(h.home)).size, 0);
});

Deno.test("--version prints the package version", async () => {
  await using h = await tempHome();
  const version = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).version;
  const r = await ok(h, ["--version"]);
  assert.equal(r.stdout.trim(), `authsome ${version}`);
  const json = await ok(h, ["--version", "--json"]);
  assert.equal(JSON.parse(json.stdout).version, version);
});

Deno.test("a missing or extra argument exits 64 with the command's usage", async () => {
  await using h = await tempHome();
  for (
    const args of [
      ["login"],
      ["get"],
      ["logout"],
      ["revoke"],
      ["inspect"],
      ["connections", "set-default", "openai"],
      ["get", "openai", "extra"],
      ["list", "extra"],
    ]
  ) {
    const r = await fails(h, 64, args);
    assert.match(r.stderr, /Usage: authsome|--help/, args.join(" "));
  }
});

Deno.test("a bad connection name exits 64 and stores nothing", async () => {
  await using h = await tempHome();
  const fresh = await fails(h, 64, ["login", "openai", "--connection", "Bad Name"], {
    env: { OPENAI_API_KEY: KEY_WORK },
  });
  assert.match(fresh.stderr, /Bad Name/);
  for (const [path, text] of await treeIfAny(h.home)) {
    assert.ok(!text.includes(KEY_WORK), `key in ${path}`);
  }
  assert.ok(!vaultExists(h.home), "no vault was written");

  await loginOpenai(h, KEY_DEFAULT);
  const before = await storeDigest(h.home);
  for (const name of ["Bad Name", "../escape", "-dash", "x".repeat(65)]) {
    await fails(h, 64, ["login", "openai", "--connection", name, "--force"], {
      env: { OPENAI_API_KEY: KEY_WORK },
    });
  }
  assert.equal(await storeDigest(h.home), before);
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true });
  await fails(h, 64, ["get", "openai", "--connection", "Bad Name"]);
  await fails(h, 64, ["connections", "set-default", "openai", "Bad Name"]);
});

Deno.test("an unknown provider exits 4", async () => {
  await using h = await tempHome();
  const login = await fails(h, 4, ["login", "nosuchprovider"], {
    env: { OPENAI_API_KEY: KEY_DEFAULT },
  });
  assert.match(login.stderr, /nosuchprovider/);
  await fails(h, 4, ["get", "nosuchprovider"]);
  await fails(h, 4, ["export", "nosuchprovider"]);
  await fails(h, 4, ["inspect", "nosuchprovider"]);
  const json = await fails(h, 4, ["get", "nosuchprovider", "--json"]);
  assert.equal(JSON.parse(json.stderr).error, "PROVIDER_NOT_FOUND");
});

Deno.test("get of a missing connection exits 3 with a hint listing the known connections", async () => {
  await using h = await tempHome();
  const none = await fails(h, 3, ["get", "openai"]);
  assert.match(none.stderr, /hint: .*login openai/);

  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const r = await fails(h, 3, ["get", "openai", "--connection", "personal"]);
  assert.match(r.stderr, /personal/);
  const hint = r.stderr.split("\n").find((l) => l.startsWith("hint:"));
  assert.ok(hint, `no hint line in ${r.stderr}`);
  assert.match(hint, /default/);
  assert.match(hint, /work/);
  assert.equal(r.stdout, "");

  const json = await fails(h, 3, ["get", "openai", "--connection", "personal", "--json"]);
  assert.equal(json.stdout, "");
  const err = JSON.parse(json.stderr);
  assert.deepEqual(Object.keys(err).sort(), ["error", "hint", "message"]);
  assert.equal(err.error, "CONNECTION_NOT_FOUND");
  assert.match(err.message, /personal/);
  assert.match(err.hint, /default/);
  assert.match(err.hint, /work/);

  await fails(h, 3, ["export", "openai", "--connection", "personal"]);
  await fails(h, 3, [
    "get",
    "openai",
    "--connection",
    "personal",
    "--field",
    "api_key",
    "--show-secret",
  ]);
});

// ---------------------------------------------------------------------------------------------
// 7. revoke

Deno.test("revoke of an api-key provider clears every connection", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  await ok(h, ["login", "resend", "--stdin"], { stdin: KEY_RESEND });

  await ok(h, ["revoke", "openai", "--yes"]);
  await fails(h, 3, ["get", "openai"]);
  await fails(h, 3, ["get", "openai", "--connection", "work"]);
  await fails(h, 3, ["get", "openai", "--connection", "default"]);
  const openai = providerIn(await listJson(h), "openai");
  assert.equal(openai.state, "available");
  assert.deepEqual(openai.connections, []);
  // other providers are untouched
  assert.equal(await secretOf(h, "resend"), KEY_RESEND);
  // a fresh login works again and becomes the default
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  assert.equal((await getJson(h, "openai")).connection, "work");
});

Deno.test("revoke --connection clears only that connection", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");

  await ok(h, ["revoke", "openai", "--connection", "work"]);
  await fails(h, 3, ["get", "openai", "--connection", "work"]);
  const got = await getJson(h, "openai");
  assert.equal(got.connection, "default");
  assert.equal(got.default, true);
  assert.equal(await secretOf(h, "openai"), KEY_DEFAULT);
  assert.deepEqual(await defaultFlags(h, "openai"), { default: true });
});

Deno.test("an explicit --stdin wins over the provider's variable, and the success line names where the key came from", async () => {
  await using h = await tempHome();
  const fromStdin = await runCli(["login", "openai", "--connection", "prec", "--stdin"], {
    home: h.home,
    stdin: KEY_WORK,
    env: { OPENAI_API_KEY: KEY_PERSONAL },
  });
  assert.equal(fromStdin.code, 0, fromStdin.stderr);
  // The first login also creates the key file, and says so once.
  assert.equal(
    fromStdin.stderr,
    "Logged in to openai (prec) from stdin, the default connection.\n" +
      `Created the master key ${h.home}/master.key: back it up somewhere safe; without it the ` +
      "vaults cannot be opened.\n",
  );
  const stored = await runCli([
    "get",
    "openai",
    "-c",
    "prec",
    "--field",
    "api_key",
    "--show-secret",
  ], {
    home: h.home,
  });
  assert.equal(stored.stdout, `${KEY_WORK}\n`);
  const fromEnv = await runCli(["login", "openai", "--connection", "env"], {
    home: h.home,
    env: { OPENAI_API_KEY: KEY_PERSONAL },
  });
  assert.equal(fromEnv.stderr, "Logged in to openai (env) from OPENAI_API_KEY.\n");
  const json = await runCli(["login", "resend", "--stdin", "--json"], {
    home: h.home,
    stdin: KEY_RESEND,
  });
  assert.equal(JSON.parse(json.stdout).source, "input");
});

Deno.test("the placeholder of 'authsome run' is never stored as a key, whatever the provider (65)", async () => {
  await using h = await tempHome();
  for (const provider of ["resend", "openai"]) {
    const r = await runCli(["login", provider, "--stdin"], {
      home: h.home,
      stdin: "authsome-proxy-managed",
    });
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, /^error: The API key for \w+ is the placeholder of 'authsome run'\n/);
    assert.match(r.stderr, /\nhint: Give the real key, outside 'authsome run'\n$/);
  }
  // From the variable too (as inside a run child whose login was not refused, e.g. an old CLI).
  const fromEnv = await runCli(["login", "resend"], {
    home: h.home,
    env: { RESEND_API_KEY: "authsome-proxy-managed" },
  });
  assert.equal(fromEnv.code, 65, fromEnv.stderr);
  assert.equal((await runCli(["get", "resend"], { home: h.home })).code, 3, "nothing stored");
});

Deno.test("a mistyped vault is an error (exit 3, the vaults listed) for reads and run, and is never created; login creates one", async () => {
  await using h = await tempHome();
  assert.equal(
    (await runCli(["login", "resend", "--stdin"], { home: h.home, stdin: KEY_RESEND })).code,
    0,
  );
  const before = await storeDigest(h.home);
  const hint = "hint: The vaults: default. A vault is created by logging in: " +
    "authsome --vault clinets login PROVIDER\n";
  for (
    const args of [
      ["--vault", "clinets", "export"],
      ["--vault", "clinets", "list"],
      ["--vault", "clinets", "get", "resend"],
      ["--vault", "clinets", "run", "--", "true"],
      ["--vault", "clinets", "identity", "list"],
    ]
  ) {
    const r = await runCli(args, { home: h.home });
    assert.equal(r.code, 3, args.join(" "));
    assert.equal(r.stderr, `error: No vault "clinets"\n${hint}`, args.join(" "));
    assert.equal(r.stdout, "");
  }
  const viaEnv = await runCli(["export"], { home: h.home, env: { AUTHSOME_VAULT: "clinets" } });
  assert.equal(viaEnv.code, 3);
  assert.equal(await storeDigest(h.home), before, "the store was written");
  assert.equal(vaultExists(h.home, "clinets"), false);
  // The default vault, even named, is never an error; login creates a named one.
  assert.equal((await runCli(["--vault", "default", "list"], { home: h.home })).code, 0);
  const created = await runCli(["--vault", "clients", "login", "resend", "--stdin"], {
    home: h.home,
    stdin: KEY_RESEND,
  });
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await runCli(["--vault", "clients", "list"], { home: h.home })).code, 0);
});

Deno.test("revoke of an API key says it was deleted here only and where to revoke it; revoking everything needs --yes without a terminal", async () => {
  await using h = await tempHome();
  const env = { OPENAI_API_KEY: KEY_DEFAULT };
  assert.equal((await runCli(["login", "openai"], { home: h.home, env })).code, 0);
  assert.equal(
    (await runCli(["login", "openai", "-c", "work", "--stdin"], { home: h.home, stdin: KEY_WORK }))
      .code,
    0,
  );
  const before = await storeDigest(h.home);
  const unconfirmed = await runCli(["revoke", "openai"], { home: h.home });
  assert.equal(unconfirmed.code, 64);
  assert.equal(
    unconfirmed.stderr,
    "error: revoke openai without --connection deletes every openai connection (default, work) " +
      "and its client credentials\n" +
      "hint: Add --yes to confirm, or name one: authsome revoke openai --connection NAME\n",
  );
  assert.equal(await storeDigest(h.home), before, "something was deleted without --yes");
  const one = await runCli(["revoke", "openai", "--connection", "work", "--json"], {
    home: h.home,
  });
  assert.equal(one.code, 0, one.stderr);
  const result = JSON.parse(one.stdout);
  assert.equal(result.status, "deleted");
  assert.equal(result.remote, false);
  assert.deepEqual(result.connections, ["work"]);
  assert.match(result.docs, /^https:\/\//);
  const all = await runCli(["revoke", "openai", "--yes"], { home: h.home });
  assert.equal(all.code, 0, all.stderr);
  assert.equal(
    all.stderr,
    "Deleted openai here: default. An API key cannot be revoked by authsome: it stays valid " +
      `until you revoke it at openai (${result.docs}).\n`,
  );
  assert.equal((await runCli(["get", "openai"], { home: h.home })).code, 3);
});

Deno.test("help and version the usual ways; a near miss gets a did-you-mean", async () => {
  await using h = await tempHome();
  const top = await ok(h, ["--help"]);
  assert.equal((await ok(h, [])).stdout, top.stdout, "authsome alone");
  assert.equal((await ok(h, ["help"])).stdout, top.stdout, "authsome help");
  assert.equal((await ok(h, ["help", "get"])).stdout, (await ok(h, ["get", "--help"])).stdout);
  const version = (await ok(h, ["--version"])).stdout;
  assert.equal((await ok(h, ["version"])).stdout, version);
  assert.equal((await ok(h, ["-v"])).stdout, version);
  const cases: Array<[string[], string]> = [
    [["lsit"], 'error: Unknown command "lsit"\nhint: Did you mean "list"? Run: authsome --help\n'],
    [
      ["help", "lgoin"],
      'error: Unknown command "lgoin"\nhint: Did you mean "login"? Run: authsome --help\n',
    ],
    [
      ["get", "openai", "--feild", "x"],
      "error: Unknown option --feild\nhint: Did you mean --field? Run: authsome --help\n",
    ],
    [
      ["logout", "openai", "--forec"],
      "error: Unknown option --forec\nhint: Did you mean --force? Run: authsome --help\n",
    ],
    [
      ["get", "openai", "--force"],
      'error: --force is not an option of "get"\nhint: Run: authsome get --help\n',
    ],
    [
      ["login", "openai", "--connectoin=x", "--stdn"],
      "error: Unknown option --connectoin\nhint: Did you mean --connection? Run: authsome --help\n",
    ],
    [
      ["frobnicate"],
      'error: Unknown command "frobnicate"\nhint: Run: authsome --help to see the commands\n',
    ],
  ];
  for (const [args, stderr] of cases) {
    const r = await fails(h, 64, args);
    assert.equal(r.stderr, stderr, args.join(" "));
  }
  assert.equal((await treeIfAny(h.home)).size, 0);
});

Deno.test("shell completion: the bash script completes commands, options, providers and the vault's connection names", async () => {
  await using h = await tempHome();
  await loginOpenai(h, KEY_DEFAULT);
  await loginOpenai(h, KEY_WORK, "--connection", "work");
  const script = await ok(h, ["completion", "bash"]);
  const file = join(dirname(h.home), "completion.bash");
  await Deno.writeTextFile(file, script.stdout);
  /** What bash's completion function offers for `authsome WORDS…` (the last word is completed). */
  const offered = async (...words: string[]) => {
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `source "$0"; complete -p authsome >/dev/null || exit 9; COMP_WORDS=(authsome ${quoted}); ` +
        `COMP_CWORD=${words.length}; _authsome; printf '%s\\n' "\${COMPREPLY[@]}"`,
        file,
      ],
      env: {
        PATH: `${ROOT}:${Deno.env.get("PATH")}`,
        AUTHSOME_HOME: h.home,
        HOME: dirname(h.home),
      },
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    return new TextDecoder().decode(out.stdout).trim().split("\n").filter((l) => l !== "");
  };
  assert.deepEqual(await offered("lo"), ["log", "login", "logout"]);
  assert.deepEqual(await offered("get", "openr"), ["openrouter"]);
  assert.deepEqual(await offered("get", "openai", "--connection", ""), ["default", "work"]);
  assert.deepEqual(await offered("get", "openai", "--sh"), ["--show-secret"]);
  assert.deepEqual(await offered("export", "openai", "--format", ""), ["env", "json", "shell"]);
  assert.deepEqual(await offered("identity", ""), ["create", "list", "remove", "show"]);
  assert.deepEqual(await offered("completion", "z"), ["zsh"]);
  for (const shell of ["zsh", "fish"]) {
    assert.match((await ok(h, ["completion", shell])).stdout, /authsome __complete/);
  }
  const bad = await fails(h, 64, ["completion", "tcsh"]);
  assert.match(bad.stderr, /completion must be one of bash, zsh, fish/);
  // No secret in any candidate list.
  const all = await ok(h, ["__complete", "get", "openai", "-c", ""]);
  assert.ok(!all.stdout.includes(KEY_DEFAULT) && !all.stdout.includes(KEY_WORK));
});
