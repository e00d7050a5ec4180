/**
 * Help as gh gives it, and did-you-mean for provider, connection and subcommand names, through
 * the real CLI with a temp AUTHSOME_HOME.
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { assertCleanError, type CliResult, runCli, tempHome } from "./helpers.ts";
import { storeDigest } from "./support/store_file.ts";

const KEY_WORK = "sk-work11112222eeeeFFFFggggHHHH33";

type Home = { home: string };

/** Runs the CLI (HOME beside AUTHSOME_HOME), never with a stack trace. */
async function cli(h: Home, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const r = await runCli(args, {
    home: h.home,
    env: { HOME: join(dirname(h.home), "user"), ...env },
  });
  assert.ok(!r.stderr.includes("    at "), `stack trace from ${args.join(" ")}:\n${r.stderr}`);
  return r;
}

async function ok(h: Home, args: string[], env: Record<string, string> = {}) {
  const r = await cli(h, args, env);
  assert.equal(r.code, 0, `${args.join(" ")} exited ${r.code}\n${r.stderr}`);
  return r;
}

/** The lines of `text` from the one equal to `heading` up to the next blank line. */
function section(text: string, heading: string): string[] {
  const lines = text.split("\n");
  const start = lines.indexOf(heading);
  assert.ok(start !== -1, `no "${heading}" in:\n${text}`);
  const end = lines.indexOf("", start);
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

Deno.test("get --help: summary, usage, each flag with its short form and default, examples, exit codes, global flags", async () => {
  await using h = await tempHome();
  const r = await ok(h, ["get", "--help"]);
  assert.ok(
    r.stdout.startsWith(
      "Show a connection's metadata, or one field\n\n" +
        "Usage: authsome get PROVIDER [--connection NAME] [--field FIELD [--show-secret]]\n",
    ),
    r.stdout,
  );
  assert.deepEqual(section(r.stdout, "Options:"), [
    "  -c, --connection NAME  The connection to use (default: the provider's default connection)",
    "      --field FIELD      Print only this field's value",
    "      --show-secret      Print the secret field named by --field (the raw value alone)",
  ]);
  assert.deepEqual(section(r.stdout, "Examples:"), [
    "  authsome get openai",
    "  authsome get openai -c work --json",
    "  authsome get github --field access_token --show-secret",
  ]);
  const codes = section(r.stdout, "Exit codes:");
  assert.ok(codes.includes("  3    no such connection (the hint lists them)"), codes.join("\n"));
  assert.ok(codes.some((l) => /^ {2}4 {4}unknown provider/.test(l)), codes.join("\n"));
  const globals = section(r.stdout, "Global options:").join("\n");
  for (const flag of ["--json", "-q, --quiet", "--no-color", "--vault NAME", "-h, --help"]) {
    assert.ok(globals.includes(flag), `${flag} in\n${globals}`);
  }
  // The same text whichever way help is asked for, and -h is --help.
  assert.equal((await ok(h, ["help", "get"])).stdout, r.stdout);
  assert.equal((await ok(h, ["get", "-h"])).stdout, r.stdout);
  assert.equal((await ok(h, ["get", "openai", "-c", "work", "--help"])).stdout, r.stdout);
});

Deno.test("the help of login, export, revoke, log and run lists the allowed values, short forms and their own meaning of a flag", async () => {
  await using h = await tempHome();
  const login = (await ok(h, ["login", "--help"])).stdout;
  assert.match(
    login,
    /\n {6}--flow FLOW +The login flow: \{pkce\|device_code\|dcr_pkce\|api_key\} \(default: the\n\s+provider's\)\n/,
  );
  assert.match(
    login,
    /\n {2}-c, --connection NAME +The name to store the connection under \(default: "default"\)\n/,
  );
  assert.match(login, /\n {6}--timeout S +Seconds to wait .*\(default:\n\s+300\)\n/);
  assert.match(login, /\n {2}6 {4}the connection exists already \(add --force to replace it\)\n/);

  const exportHelp = (await ok(h, ["export", "--help"])).stdout;
  assert.match(
    exportHelp,
    /\n {6}--format FORMAT +The output format: \{env\|shell\|json\} \(default: env; json with --json\)\n/,
  );
  assert.match(exportHelp, /\n {2}eval "\$\(authsome export openai --format shell\)"\n/);

  const revoke = (await ok(h, ["revoke", "--help"])).stdout;
  assert.match(
    revoke,
    /\n {2}-y, --yes +Revoke every connection without asking \(required without a terminal\)\n/,
  );
  assert.match(
    revoke,
    /\n {2}64 {3}every connection would go, without a terminal to ask and without --yes\n/,
  );

  const log = (await ok(h, ["log", "--help"])).stdout;
  assert.match(log, /\n {2}-n N +How many entries \(default: 50\)\n/);

  const run = (await ok(h, ["run", "--help"])).stdout;
  assert.match(
    run,
    /\n {2}-c, --connection PROVIDER=NAME\n +Use this connection of PROVIDER instead of its default \(repeatable\)\n/,
  );
  assert.match(run, /\n {2}127 {2}the command was not found\n/);
});

Deno.test("identity and provider help list their subcommands; the overview groups the commands", async () => {
  await using h = await tempHome();
  const identity = (await ok(h, ["identity", "--help"])).stdout;
  const subs = section(identity, "Subcommands:").join("\n");
  assert.match(subs, /^ {2}create NAME --allow P\[\/C\]\.\.\. /);
  assert.match(subs, /\n {2}list {9}List the identities\n/);
  assert.match(subs, /\n {2}show NAME {4}Show an identity's policy and key fingerprint\n/);
  assert.match(subs, /\n {2}remove NAME {2}Delete an identity$/);
  // `identity create --help` is the group's help too.
  assert.equal((await ok(h, ["identity", "create", "--help"])).stdout, identity);

  const provider = (await ok(h, ["provider", "--help"])).stdout;
  assert.deepEqual(
    section(provider, "Subcommands:").map((l) => l.trim().split(/ {2,}/)[0]),
    ["list", "inspect PROVIDER", "register FILE [--force]", "remove PROVIDER", "again)"],
  );

  const top = (await ok(h, ["--help"])).stdout;
  assert.match(
    top,
    /\nConnections:\n {2}login +Log in to a provider \(or a remote MCP server\) and store the connection\n/,
  );
  assert.match(top, /\nAgent identities:\n {2}identity +Manage agent identities/);
  assert.match(top, /\nProviders:\n {2}provider +Manage provider definitions\n/);
  assert.match(
    top,
    /\n {2}--json {2}--quiet \(-q\) {2}--no-color {2}--vault NAME {2}--store URL {2}--help \(-h\) {2}--version \(-v\)\n/,
  );
  assert.match(top, /\nEnvironment:\n {2}AUTHSOME_HOME +Home folder/);
});

Deno.test("help never opens the home: it works where the home cannot even be created, and creates nothing", async () => {
  await using h = await tempHome();
  const file = join(dirname(h.home), "not-a-folder");
  await Deno.writeTextFile(file, "");
  const broken = { home: join(file, "home") };
  const env = { HOME: join(dirname(h.home), "user") };
  for (const args of [["--help"], ["get", "--help"], ["help", "run"], ["identity", "--help"]]) {
    const r = await ok(broken, args, env);
    assert.match(r.stdout, /Usage: authsome/);
    assert.equal(r.stderr, "");
  }
  // A real command there fails, so the help above did not get that far.
  assertCleanError(await cli(broken, ["get", "openai"], env), 10);
  await ok(h, ["login", "--help"]);
  assert.equal(await Deno.stat(h.home).then(() => true, () => false), false);
});

Deno.test("a mistyped provider gets exit 4 and the nearest name; a mistyped connection exit 3, the nearest name and the list; nothing changes", async () => {
  await using h = await tempHome();
  await ok(h, ["login", "openai", "--connection", "work"], { OPENAI_API_KEY: KEY_WORK });
  const before = await storeDigest(h.home);

  const provider = await cli(h, ["get", "githb"]);
  assert.equal(provider.code, 4);
  assert.equal(
    provider.stderr,
    'error: Unknown provider "githb"\n' +
      'hint: Did you mean "github"? See the providers with: authsome provider list\n',
  );
  assert.equal(provider.stdout, "");
  const json = await cli(h, ["get", "githb", "--json"]);
  assert.equal(json.code, 4);
  assert.deepEqual(JSON.parse(json.stderr), {
    error: "PROVIDER_NOT_FOUND",
    message: 'Unknown provider "githb"',
    hint: 'Did you mean "github"? See the providers with: authsome provider list',
  });
  // Case is forgiven in the suggestion; a name like nothing gets none.
  assertCleanError(await cli(h, ["export", "OpenAI"]), 4, 'Did you mean "openai"?');
  const far = await cli(h, ["inspect", "frobnicate"]);
  assertCleanError(far, 4, "hint: See the providers with: authsome provider list\n");
  for (
    const args of [
      ["login", "opnai"],
      ["logout", "opnai"],
      ["revoke", "opnai", "--yes"],
      ["connections", "set-default", "opnai", "work"],
      ["run", "--connection", "opnai=work", "--", "true"],
      ["identity", "create", "agent", "--allow", "opnai"],
    ]
  ) {
    assertCleanError(await cli(h, args, { OPENAI_API_KEY: KEY_WORK }), 4, 'Did you mean "openai"?');
  }

  const connection = await cli(h, ["get", "openai", "-c", "wrok"]);
  assert.equal(connection.code, 3);
  assert.equal(
    connection.stderr,
    'error: No connection "wrok" for openai\n' +
      'hint: Did you mean "work"? Known connections: work\n',
  );
  const none = await cli(h, ["get", "openai", "-c", "personal"]);
  assert.equal(none.code, 3);
  assert.equal(
    none.stderr,
    'error: No connection "personal" for openai\nhint: Known connections: work\n',
  );
  for (
    const args of [
      ["export", "openai", "--connection", "wokr"],
      ["logout", "openai", "-c", "wrok"],
      ["revoke", "openai", "-c", "wrk"],
      ["connections", "set-default", "openai", "wrok"],
      ["run", "--connection", "openai=wor", "--", "true"],
    ]
  ) {
    assertCleanError(await cli(h, args), 3, 'hint: Did you mean "work"? Known connections: work\n');
  }
  assert.equal(await storeDigest(h.home), before);
});

Deno.test("a mistyped subcommand or flag value gets exit 64 and the nearest one", async () => {
  await using h = await tempHome();
  const cases: Array<[string[], string]> = [
    [
      ["identity", "lsit"],
      'error: Unknown subcommand "identity lsit"\n' +
      'hint: Did you mean "identity list"? Run: authsome identity --help\n',
    ],
    [
      ["provider", "regster", "x.json"],
      'error: Unknown subcommand "provider regster"\n' +
      'hint: Did you mean "provider register"? Run: authsome provider --help\n',
    ],
    [
      ["provider", "frobnicate"],
      'error: Unknown subcommand "provider frobnicate"\n' +
      "hint: The subcommands: list, inspect, register, remove. Run: authsome provider --help\n",
    ],
    [
      ["export", "openai", "--format", "shel"],
      "error: --format must be one of env, shell, json\nhint: Did you mean --format shell?\n",
    ],
    [
      ["login", "github", "--flow", "device-code"],
      "error: --flow must be one of pkce, device_code, dcr_pkce, api_key\n" +
      "hint: Did you mean --flow device_code?\n",
    ],
  ];
  for (const [args, stderr] of cases) {
    const r = await cli(h, args);
    assert.equal(r.code, 64, args.join(" "));
    assert.equal(r.stderr, stderr, args.join(" "));
  }
  // Nothing was created by a mistyped command.
  assert.equal(await Deno.stat(h.home).then(() => true, () => false), false);
});

Deno.test("a mistyped identity gets exit 3 and the nearest name, in show, remove and run --as", async () => {
  await using h = await tempHome();
  await ok(h, ["login", "openai"], { OPENAI_API_KEY: KEY_WORK });
  await ok(h, ["identity", "create", "agent", "--allow", "openai"]);
  const before = await storeDigest(h.home);
  for (const args of [["identity", "show", "agnt"], ["identity", "remove", "agnet"]]) {
    const r = await cli(h, args);
    assert.equal(r.code, 3, args.join(" "));
    assert.equal(
      r.stderr,
      `error: No identity "${args[2]}"\nhint: Did you mean "agent"? Run: authsome identity list\n`,
    );
  }
  assertCleanError(await cli(h, ["run", "--as", "agnt", "--", "true"]), 3, 'Did you mean "agent"?');
  assertCleanError(
    await cli(h, ["identity", "show", "someone"]),
    3,
    "hint: Run: authsome identity list\n",
  );
  assert.equal(await storeDigest(h.home), before);
});

Deno.test("completion offers the subcommands and flag values that help lists", async () => {
  await using h = await tempHome();
  const offered = async (...words: string[]) =>
    (await ok(h, ["__complete", ...words])).stdout.trim().split("\n");
  assert.deepEqual(await offered("provider", ""), ["inspect", "list", "register", "remove"]);
  assert.deepEqual(await offered("identity", ""), ["create", "list", "remove", "show"]);
  assert.deepEqual(await offered("login", "github", "--flow", ""), [
    "api_key",
    "dcr_pkce",
    "device_code",
    "pkce",
  ]);
  assert.deepEqual(await offered("export", "--format", "s"), ["shell"]);
});
