/**
 * `scan` through the real CLI: fixture dotenv files (quotes, `export`, multi-line values, broken
 * lines), the environment overriding them, every status, no value ever printed, and `--import`
 * with and without a terminal, refusing the placeholder of `run`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileHash, LAUNCHER, readTree, ROOT, runCli, tempHome } from "./helpers.ts";
import { storePath } from "./support/store_file.ts";

const STORED_OPENAI = "sk-stored1111111111111111111111111111";
const FILE_OPENAI = "sk-infile2222222222222222222222222222";
const STORED_MISTRAL = "mistral-stored-key-0123456789";
const FILE_RESEND = "re_from_dotenv_file_4567";
const ENV_RESEND = "re_from_the_environment_8910";
const LOCAL_GROQ = "gsk_localoverrideabcdefghij12";
const SECRETS = [STORED_OPENAI, FILE_OPENAI, STORED_MISTRAL, FILE_RESEND, ENV_RESEND, LOCAL_GROQ];

/** A project folder with dotenv files in the formats people write. */
async function project(dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, ".env"),
    [
      "# API keys",
      `OPENAI_API_KEY="${FILE_OPENAI}"`,
      `export RESEND_API_KEY=${FILE_RESEND} # the team key`,
      "this line is broken",
      `MISTRAL_API_KEY='${STORED_MISTRAL}'`,
      'CERT="-----BEGIN-----',
      "abc",
      '-----END-----"',
      "GROQ_API_KEY=gsk_overridden_later",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(join(dir, ".env.local"), `GROQ_API_KEY=${LOCAL_GROQ}\n`);
  return dir;
}

function assertNoSecret(text: string, where: string) {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${where} shows a secret`);
}

Deno.test("scan: every status, the environment over the files, no value printed", async () => {
  await using h = await tempHome();
  const dir = await project(join(h.home, "..", "project"));
  const cli = (args: string[], env: Record<string, string> = {}, stdin?: string) =>
    runCli(args, { home: h.home, env, ...(stdin === undefined ? {} : { stdin }) });
  assert.equal((await cli(["login", "openai", "--stdin"], {}, STORED_OPENAI)).code, 0);
  assert.equal((await cli(["login", "mistral", "--stdin"], {}, STORED_MISTRAL)).code, 0);
  assert.equal((await cli(["login", "brevo", "--stdin"], {}, "brevo-only-in-vault-1")).code, 0);

  const env = { RESEND_API_KEY: ENV_RESEND };
  const json = await cli(["scan", dir, "--json"], env);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(report.files, [".env", ".env.local"]);
  assert.deepEqual(report.problems, [{ file: ".env", line: 4, reason: "expected NAME=value" }]);
  const by = Object.fromEntries(
    report.findings.map((f: { provider: string }) => [f.provider, f]),
  );
  assert.equal(by.openai.status, "differs");
  assert.equal(by.openai.source, ".env:2");
  assert.match(by.openai.fingerprints.found, /^sha256:[0-9a-f]{8}$/);
  assert.notEqual(by.openai.fingerprints.found, by.openai.fingerprints.stored.default);
  assert.equal(by.mistral.status, "matches");
  assert.equal(by.mistral.matched, "default");
  assert.equal(by.resend.status, "only-environment");
  assert.equal(by.resend.source, "environment", "the environment wins over .env");
  assert.equal(by.groq.status, "only-environment");
  assert.equal(by.groq.source, ".env.local:1", ".env.local wins over .env");
  assert.equal(by.brevo.status, "only-authsome");
  assert.equal(by.ahrefs.status, "neither");
  assert.equal(by.github, undefined, "OAuth providers are not scanned");
  assertNoSecret(json.stdout + json.stderr, "scan --json");

  const human = await cli(["scan", dir], env);
  assert.equal(human.code, 0, human.stderr);
  const lines = human.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^PROVIDER +VARIABLE +STATUS +FOUND IN +IN AUTHSOME$/);
  assert.ok(
    lines.some((l) =>
      /^openai +OPENAI_API_KEY +differs +\.env:2 +default sha256:[0-9a-f]{8}; found sha256:[0-9a-f]{8}$/
        .test(l)
    ),
    human.stdout,
  );
  assert.ok(
    lines.some((l) => /^resend +RESEND_API_KEY +only in the environment +environment *$/.test(l)),
    human.stdout,
  );
  assert.ok(
    lines.some((l) =>
      /^mistral +MISTRAL_API_KEY +matches +\.env:5 +default \(the same key\)$/.test(l)
    ),
  );
  assert.ok(lines.some((l) => /^brevo +BREVO_API_KEY +only in authsome +default$/.test(l)));
  assert.ok(!lines.some((l) => l.startsWith("ahrefs")), "neither is only counted");
  assert.match(human.stderr, /^warning: \.env:4: expected NAME=value \(line skipped\)$/m);
  assert.match(
    human.stderr,
    /\d+ other API-key providers in neither\. Import what is missing or different: authsome scan --import/,
  );
  assertNoSecret(human.stdout + human.stderr, "scan");
});

Deno.test("scan --import: --yes needed without a terminal; imports with its source, refuses the placeholder", async () => {
  await using h = await tempHome();
  const dir = await project(join(h.home, "..", "project"));
  await Deno.writeTextFile(
    join(dir, ".env.production"),
    "ANTHROPIC_API_KEY=authsome-proxy-managed\n",
  );
  const cli = (args: string[], env: Record<string, string> = {}, stdin?: string) =>
    runCli(args, { home: h.home, env, ...(stdin === undefined ? {} : { stdin }) });
  assert.equal((await cli(["login", "openai", "--stdin"], {}, STORED_OPENAI)).code, 0);
  const before = await fileHash(storePath(h.home));

  const refused = await cli(["scan", dir, "--import"]);
  assert.equal(refused.code, 64);
  assert.deepEqual(refused.stderr.trimEnd().split("\n").slice(-2), [
    "error: scan --import would store 5 key(s) (anthropic, groq, mistral, openai, resend)",
    "hint: Add --yes to confirm: authsome scan --import --yes",
  ]);
  assert.equal(await fileHash(storePath(h.home)), before, "nothing stored without --yes");

  const env = { RESEND_API_KEY: ENV_RESEND };
  const r = await cli(["scan", dir, "--import", "--yes"], env);
  assert.equal(r.code, 65, "a refused key makes the exit 65");
  assert.match(r.stderr, /^Imported openai \(imported\) from \.env:2\.$/m);
  assert.match(r.stderr, /^Imported resend \(default\) from environment\.$/m);
  assert.match(r.stderr, /^Imported groq \(default\) from \.env\.local:1\.$/m);
  assert.match(r.stderr, /^Imported mistral \(default\) from \.env:5\.$/m);
  assert.match(
    r.stderr,
    /^Refused anthropic: The API key for Anthropic is the placeholder of 'authsome run'$/m,
  );
  assert.match(
    r.stderr,
    /^Remove the imported keys from \.env, \.env\.local \(authsome never edits them\)/m,
  );
  assertNoSecret(r.stdout + r.stderr, "scan --import");

  const got = await cli(["get", "openai", "-c", "imported", "--field", "api_key", "--show-secret"]);
  assert.equal(got.stdout.trim(), FILE_OPENAI);
  const original = await cli(["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.equal(original.stdout.trim(), STORED_OPENAI, "the existing default is kept");
  const resend = await cli(["export", "resend"]);
  assert.equal(resend.stdout.trim(), `RESEND_API_KEY=${ENV_RESEND}`);

  // Audited with the source, never the value; nothing left to import afterwards.
  const log = await Deno.readTextFile(join(h.home, "audit.log"));
  const imports = log.trim().split("\n").map((l) => JSON.parse(l)).filter((e) =>
    e.action === "import"
  );
  assert.deepEqual(
    imports.map((e) => [e.provider, e.connection, e.detail.source, e.outcome]).sort(),
    [
      ["anthropic", "default", ".env.production:1", "error"],
      ["groq", "default", ".env.local:1", "ok"],
      ["mistral", "default", ".env:5", "ok"],
      ["openai", "imported", ".env:2", "ok"],
      ["resend", "default", "environment", "ok"],
    ],
  );
  for (const [path, text] of await readTree(h.home)) assertNoSecret(text, path);
  const again = await cli(["scan", dir, "--import", "--yes", "--json"], env);
  const report = JSON.parse(again.stdout);
  assert.deepEqual(
    report.imports.map((i: { provider: string; outcome: string }) => [i.provider, i.outcome]),
    [["anthropic", "refused"]],
  );
});

Deno.test("scan --import asks first at a terminal: no imports nothing, yes imports", async () => {
  await using h = await tempHome();
  const dir = await project(join(h.home, "..", "project"));
  const atTerminal = async (answer: string) => {
    const spec = {
      argv: [LAUNCHER, "scan", dir, "--import"],
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: Deno.env.get("HOME") ?? "/root",
        AUTHSOME_HOME: h.home,
        NO_COLOR: "1",
      },
      wait_for: "[y/N]",
      type: [answer],
    };
    const out = await new Deno.Command("python3", {
      args: [join(ROOT, "tests/support/pty_run.py"), JSON.stringify(spec)],
      stdout: "piped",
    }).output();
    return JSON.parse(new TextDecoder().decode(out.stdout)) as { output: string; code: number };
  };
  const no = await atTerminal("n\r");
  assert.equal(no.code, 0, no.output);
  assert.match(
    no.output,
    /Import 4 key\(s\) \(groq, mistral, openai, resend\) into the vault\? \[y\/N\]/,
  );
  assert.match(no.output, /Nothing was imported\./);
  const list = await runCli(["list", "--json"], { home: h.home });
  assert.ok(
    JSON.parse(list.stdout).providers.every((p: { connections: unknown[] }) =>
      p.connections.length === 0
    ),
  );
  const yes = await atTerminal("y\r");
  assert.equal(yes.code, 0, yes.output);
  assert.match(yes.output, /Imported openai \(default\) from \.env:2\./);
  assertNoSecret(yes.output, "the terminal");
});
