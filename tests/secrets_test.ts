/**
 * End-to-end tests that secrets stay secret: never on disk in clear, never printed by read
 * commands or errors, never in the audit log; private file modes; `doctor` notices loose ones.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { type CliResult, LAUNCHER, readTree, runCli, tempHome } from "./helpers.ts";

type Home = { home: string };
type RunExtra = { env?: Record<string, string>; stdin?: string };

const randomPart = () => crypto.randomUUID().replaceAll("-", "");
const KEY_OPENAI_ENV = `sk-envDefault${randomPart()}`;
const KEY_OPENAI_STDIN = `sk-stdinWork${randomPart()}`;
const KEY_ANTHROPIC = `sk-ant-otherVault${randomPart()}`;
const BAD_KEY = "not-a-key-but-secret-123";
const KEYS = [KEY_OPENAI_ENV, KEY_OPENAI_STDIN, KEY_ANTHROPIC];

/** HOME for the CLI: a sibling of AUTHSOME_HOME, so Deno's own cache stays out of it. */
const userHome = (h: Home) => join(dirname(h.home), "user");

async function cli(h: Home, args: string[], extra: RunExtra = {}): Promise<CliResult> {
  const r = await runCli(args, {
    home: h.home,
    ...extra,
    env: { HOME: userHome(h), ...extra.env },
  });
  assert.ok(!r.stderr.includes("    at "), `stack trace from ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

async function ok(h: Home, args: string[], extra: RunExtra = {}): Promise<CliResult> {
  const r = await cli(h, args, extra);
  assert.equal(r.code, 0, `${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

/** The forms a leaked secret could take: itself, its base64, its random tail. */
function leakForms(secret: string): string[] {
  return [secret, btoa(secret), secret.slice(-16)];
}

function assertNoSecret(text: string, where: string, secrets: string[] = KEYS): void {
  for (const secret of secrets) {
    for (const form of leakForms(secret)) {
      assert.ok(!text.includes(form), `${where} contains the secret ${secret} (as ${form})`);
    }
  }
}

async function assertHomeHasNoSecret(h: Home, secrets: string[] = KEYS): Promise<void> {
  const tree = await readTree(h.home);
  assert.ok(tree.size > 0);
  for (const [path, text] of tree) assertNoSecret(text, path, secrets);
}

/** Two openai connections (env var and --stdin) in the default vault, anthropic in "other". */
async function loginSeveral(h: Home): Promise<void> {
  await ok(h, ["login", "openai"], { env: { OPENAI_API_KEY: KEY_OPENAI_ENV } });
  await ok(h, ["login", "openai", "--connection", "work", "--stdin"], {
    stdin: `${KEY_OPENAI_STDIN}\n`,
  });
  await ok(h, ["login", "anthropic", "--vault", "other"], {
    env: { ANTHROPIC_API_KEY: KEY_ANTHROPIC },
  });
}

interface Entry {
  time: string;
  action: string;
  vault: string;
  provider?: string;
  connection?: string;
  outcome: string;
  error?: string;
  detail?: Record<string, unknown>;
}

async function auditEntries(h: Home): Promise<Entry[]> {
  const r = await ok(h, ["log", "--json", "-n", "1000"]);
  return (JSON.parse(r.stdout) as { entries: Entry[] }).entries;
}

/** Every path under `dir` (itself included) with its permission bits. */
async function modes(dir: string): Promise<Array<[string, number, boolean]>> {
  const out: Array<[string, number, boolean]> = [];
  const walk = async (d: string): Promise<void> => {
    const info = await Deno.lstat(d);
    out.push([d, info.mode! & 0o777, info.isDirectory]);
    if (!info.isDirectory) return;
    for await (const e of Deno.readDir(d)) await walk(join(d, e.name));
  };
  await walk(dir);
  return out;
}

async function assertPrivateModes(home: string): Promise<void> {
  const all = await modes(home);
  assert.ok(all.some(([, , isDir]) => !isDir), "some files exist");
  for (const [path, mode, isDir] of all) {
    const want = isDir ? 0o700 : 0o600;
    assert.equal(mode.toString(8), want.toString(8), `mode of ${path}`);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. No key on disk or in output

Deno.test("no stored key appears in any file under AUTHSOME_HOME", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  await assertHomeHasNoSecret(h);
  // and yet each key is stored: it comes back on demand
  const back = await ok(h, ["get", "openai", "-c", "work", "--field", "api_key", "--show-secret"]);
  assert.equal(back.stdout.trimEnd(), KEY_OPENAI_STDIN);
  const other = await ok(h, [
    "get",
    "anthropic",
    "--vault",
    "other",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(other.stdout.trimEnd(), KEY_ANTHROPIC);
});

Deno.test("read commands never print a key", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const read = (provider: string, connection?: string) => {
    const c = connection === undefined ? [] : ["--connection", connection];
    return [
      ["list"],
      ["list", "--json"],
      ["inspect", provider],
      ["inspect", provider, "--json"],
      ["get", provider, ...c],
      ["get", provider, ...c, "--json"],
      ["get", provider, ...c, "--field", "status"],
      ["whoami"],
      ["whoami", "--json"],
      ["doctor"],
      ["doctor", "--json"],
      ["log"],
      ["log", "--json"],
    ];
  };
  const runs = [
    ...read("openai"),
    ...read("openai", "work"),
    ...read("anthropic").map((args) => [...args, "--vault", "other"]),
  ];
  for (const args of runs) {
    const r = await cli(h, args);
    assert.equal(r.code, 0, `${args.join(" ")} exited ${r.code}\n${r.stderr}`);
    assertNoSecret(r.stdout, `stdout of ${args.join(" ")}`);
    assertNoSecret(r.stderr, `stderr of ${args.join(" ")}`);
  }
  // inspect says which secret fields exist, redacted
  const inspect = await ok(h, ["inspect", "openai"]);
  assert.match(inspect.stdout, /api_key=\*\*\*/);
  assert.match(inspect.stdout, /work/);
});

Deno.test("login status output never echoes the key", async () => {
  await using h = await tempHome();
  for (
    const [args, extra] of [
      [["login", "openai"], { env: { OPENAI_API_KEY: KEY_OPENAI_ENV } }],
      [["login", "openai", "-c", "work", "--stdin", "--json"], { stdin: KEY_OPENAI_STDIN }],
      [["login", "anthropic", "--vault", "other", "--json"], {
        env: { ANTHROPIC_API_KEY: KEY_ANTHROPIC },
      }],
    ] as Array<[string[], RunExtra]>
  ) {
    const r = await ok(h, args, extra);
    assertNoSecret(r.stdout + r.stderr, args.join(" "));
  }
});

Deno.test("the audit log records logins with provider, connection, vault and outcome but no key", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const logins = (await auditEntries(h)).filter((e) => e.action === "login");
  const seen = logins.map((e) => `${e.vault}:${e.provider}/${e.connection}:${e.outcome}`).sort();
  assert.deepEqual(seen, [
    "default:openai/default:ok",
    "default:openai/work:ok",
    "other:anthropic/default:ok",
  ]);
  for (const e of logins) assert.ok(!Number.isNaN(Date.parse(e.time)), "entry has a time");
  const raw = await Deno.readTextFile(join(h.home, "audit.log"));
  assert.ok(raw.includes('"action":"login"'));
  assertNoSecret(raw, "audit.log");
});

Deno.test("a key that does not match the provider's pattern is refused (65) without echoing it", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const r = await cli(h, ["login", "openai", "--connection", "bad"], {
    env: { OPENAI_API_KEY: BAD_KEY },
  });
  assert.equal(r.code, 65, r.stderr);
  assert.match(r.stderr, /hint: .*sk-/);
  assertNoSecret(r.stdout + r.stderr, "failed login output", [BAD_KEY]);

  const json = await cli(h, ["login", "openai", "--connection", "bad", "--json"], {
    env: { OPENAI_API_KEY: BAD_KEY },
  });
  assert.equal(json.code, 65);
  const err = JSON.parse(json.stderr);
  assert.equal(err.error, "INVALID_INPUT");
  assert.match(err.hint, /sk-/);
  assertNoSecret(json.stdout + json.stderr, "failed login --json output", [BAD_KEY]);

  const stdin = await cli(h, ["login", "openai", "--connection", "bad", "--stdin"], {
    stdin: `${BAD_KEY}\n`,
  });
  assert.equal(stdin.code, 65);
  assertNoSecret(stdin.stdout + stdin.stderr, "failed --stdin login output", [BAD_KEY]);

  // nothing was stored, the failure is audited without the value
  const get = await cli(h, ["get", "openai", "--connection", "bad"]);
  assert.equal(get.code, 3);
  const failed = (await auditEntries(h)).filter((e) =>
    e.action === "login" && e.connection === "bad"
  );
  assert.ok(failed.length >= 1);
  for (const e of failed) {
    assert.equal(e.outcome, "error");
    assert.equal(e.error, "INVALID_INPUT");
  }
  await assertHomeHasNoSecret(h, [...KEYS, BAD_KEY]);
});

// ---------------------------------------------------------------------------------------------
// 2. File modes

Deno.test("AUTHSOME_HOME and its folders are 0700 and every file 0600", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  await ok(h, ["get", "openai", "--field", "api_key", "--show-secret"]);
  await ok(h, ["export", "--format", "json"]);
  await ok(h, ["connections", "set-default", "openai", "work"]);
  await ok(h, ["logout", "anthropic", "--vault", "other"]);
  assert.equal(((await Deno.stat(h.home)).mode! & 0o777).toString(8), "700");
  await assertPrivateModes(h.home);
});

Deno.test("files stay private under a permissive umask", async () => {
  await using h = await tempHome();
  const child = new Deno.Command("sh", {
    args: ["-c", 'umask 000; exec "$@"', "sh", LAUNCHER, "login", "openai"],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: userHome(h),
      AUTHSOME_HOME: h.home,
      NO_COLOR: "1",
      OPENAI_API_KEY: KEY_OPENAI_ENV,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  await assertPrivateModes(h.home);
});

Deno.test("an existing AUTHSOME_HOME readable by others is made private on first use", async () => {
  await using h = await tempHome();
  await Deno.mkdir(h.home, { mode: 0o755 });
  await Deno.chmod(h.home, 0o755);
  await ok(h, ["login", "openai"], { env: { OPENAI_API_KEY: KEY_OPENAI_ENV } });
  await assertPrivateModes(h.home);
});

Deno.test("a master key file readable by others is refused", async () => {
  await using h = await tempHome();
  await ok(h, ["login", "openai"], { env: { OPENAI_API_KEY: KEY_OPENAI_ENV } });
  await Deno.chmod(join(h.home, "master.key"), 0o644);
  const r = await cli(h, ["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.equal(r.code, 10, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /master\.key/);
  assertNoSecret(r.stderr, "refusal");
});

// ---------------------------------------------------------------------------------------------
// 3. doctor

Deno.test("doctor passes on a fresh home and on a healthy one", async () => {
  await using h = await tempHome();
  const fresh = await ok(h, ["doctor"]);
  for (const line of fresh.stdout.trimEnd().split("\n")) assert.match(line, /^ok /);

  await loginSeveral(h);
  const healthy = await ok(h, ["doctor"]);
  const lines = healthy.stdout.trimEnd().split("\n");
  assert.ok(lines.length >= 3);
  for (const line of lines) assert.match(line, /^ok /);
  const json = JSON.parse((await ok(h, ["doctor", "--json"])).stdout);
  assert.equal(json.ok, true);
});

Deno.test("doctor fails with a FAIL line when a file is readable by others", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const storeFile = join(h.home, "authsome.db");
  await Deno.chmod(storeFile, 0o644);

  const r = await cli(h, ["doctor"]);
  assert.equal(r.code, 1, "a failed check is exit 1, as documented");
  const fail = r.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
  assert.equal(fail.length, 1, r.stdout);
  assert.match(fail[0]!, /authsome\.db/);
  assert.match(fail[0]!, /644/);

  const json = await cli(h, ["doctor", "--json"]);
  assert.equal(json.code, 1);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.ok, false);
  assert.ok(doc.checks.some((c: { ok: boolean }) => !c.ok));

  await Deno.chmod(storeFile, 0o600);
  await ok(h, ["doctor"]);
});

Deno.test("doctor fails when AUTHSOME_HOME is open to others", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  await Deno.chmod(h.home, 0o755);
  const r = await cli(h, ["doctor"]);
  assert.notEqual(r.code, 0);
  assert.ok(r.stdout.split("\n").some((l) => l.startsWith("FAIL") && l.includes("chmod 700")));
});

// ---------------------------------------------------------------------------------------------
// 4. Secret reads are audited

Deno.test("get --show-secret and export write audit entries without the secret", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const shown = await ok(h, [
    "get",
    "openai",
    "--connection",
    "work",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(shown.stdout.trimEnd(), KEY_OPENAI_STDIN);
  const exported = await ok(h, ["export", "openai", "--format", "shell"]);
  assert.match(exported.stdout, new RegExp(KEY_OPENAI_ENV));
  await ok(h, ["export", "--vault", "other", "--format", "json"]);

  const entries = await auditEntries(h);
  const secretRead = entries.filter((e) => e.action === "get-secret");
  assert.equal(secretRead.length, 1);
  assert.equal(secretRead[0]!.provider, "openai");
  assert.equal(secretRead[0]!.connection, "work");
  assert.equal(secretRead[0]!.vault, "default");
  assert.equal(secretRead[0]!.outcome, "ok");
  assert.equal(secretRead[0]!.detail?.field, "api_key");

  const exports = entries.filter((e) => e.action === "export");
  assert.equal(exports.length, 2);
  assert.equal(exports[0]!.provider, "openai");
  assert.equal(exports[0]!.vault, "default");
  assert.equal(exports[0]!.outcome, "ok");
  assert.equal(exports[0]!.detail?.format, "shell");
  assert.equal(exports[1]!.vault, "other");
  assert.equal(exports[1]!.detail?.format, "json");

  const text = await ok(h, ["log"]);
  assert.match(text.stdout, /get-secret/);
  assert.match(text.stdout, /export/);
  assertNoSecret(text.stdout + text.stderr, "log");
  assertNoSecret(await Deno.readTextFile(join(h.home, "audit.log")), "audit.log");
});

Deno.test("a refused secret read is audited as an error", async () => {
  await using h = await tempHome();
  await loginSeveral(h);
  const r = await cli(h, [
    "get",
    "openai",
    "--connection",
    "nope",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(r.code, 3);
  const last = (await auditEntries(h)).filter((e) => e.action === "get-secret").at(-1);
  assert.ok(last);
  assert.equal(last.outcome, "error");
  assert.equal(last.error, "CONNECTION_NOT_FOUND");
  assert.equal(last.connection, "nope");
});

Deno.test("run's isolation probe gets only PATH, not the caller's key or master key variables", async () => {
  await using h = await tempHome();
  await ok(h, ["login", "openai"], { env: { OPENAI_API_KEY: KEY_OPENAI_ENV } });
  // An `unshare` first on PATH that records the environment it gets, then runs the real one.
  const bin = join(dirname(h.home), "bin");
  const record = join(dirname(h.home), "unshare.env");
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    join(bin, "unshare"),
    `#!/bin/sh\nenv >> '${record}'\necho --- >> '${record}'\nexec /usr/bin/unshare "$@"\n`,
    { mode: 0o755 },
  );
  const shellKey = `sk-callerShell${randomPart()}`;
  await ok(h, ["run", "--", "true"], {
    env: { PATH: `${bin}:${Deno.env.get("PATH")}`, OPENAI_API_KEY: shellKey },
  });
  const seen = await Deno.readTextFile(record);
  assert.ok(seen.includes("PATH="), "the fake unshare ran");
  assertNoSecret(seen, "the environment of run's helper processes", [shellKey, KEY_OPENAI_ENV]);
});
