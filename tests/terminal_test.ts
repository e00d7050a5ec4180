import assert from "node:assert/strict";
import { join } from "node:path";
import { LAUNCHER, readTree, ROOT, runCli, tempHome } from "./helpers.ts";

/** Runs the CLI on a real pseudo-terminal and types `keys` once the prompt shows. */
async function atTerminal(
  home: string,
  args: string[],
  keys: string[],
  env: Record<string, string> = { NO_COLOR: "1" },
  waitFor = "(input hidden)",
) {
  const spec = {
    argv: [LAUNCHER, ...args],
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      AUTHSOME_HOME: home,
      ...env,
    },
    wait_for: keys.length > 0 ? waitFor : "",
    type: keys,
  };
  const out = await new Deno.Command("python3", {
    args: [join(ROOT, "tests/support/pty_run.py"), JSON.stringify(spec)],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)) as { output: string; code: number };
}

Deno.test("login in a terminal asks for the key without echoing it, and stores it", async () => {
  await using h = await tempHome();
  const key = "re_typed_at_the_terminal_4821";
  const r = await atTerminal(h.home, ["login", "resend"], [
    key.slice(0, 10),
    key.slice(10) + "x\x7f",
    "\r",
  ]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /Resend API key \(input hidden\):/);
  assert.ok(!r.output.includes(key.slice(4)), "the typed key was echoed");
  const shown = await runCli(["get", "resend", "--field", "api_key", "--show-secret"], {
    home: h.home,
  });
  assert.equal(shown.stdout, key + "\n", "backspace should have removed the extra x");
});

Deno.test("Ctrl-C at the key prompt cancels the login (exit 2) and stores nothing", async () => {
  await using h = await tempHome();
  const r = await atTerminal(h.home, ["login", "resend"], ["re_half_typed", "\x03"]);
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /error: Cancelled/);
  const files = await readTree(h.home).catch(() => new Map<string, string>());
  assert.ok(
    ![...files.keys()].some((p) => p.endsWith("authsome.db")),
    "a vault was written",
  );
  assert.equal((await runCli(["get", "resend"], { home: h.home })).code, 3);
});

Deno.test("errors are coloured on a terminal, and NO_COLOR or --no-color turns the colour off", async () => {
  await using h = await tempHome();
  const escape = "\x1b[";
  const colored = await atTerminal(h.home, ["get", "resend"], [], {});
  assert.equal(colored.code, 3, colored.output);
  assert.ok(colored.output.includes("\x1b[31merror\x1b[0m"), JSON.stringify(colored.output));
  const byEnv = await atTerminal(h.home, ["get", "resend"], [], { NO_COLOR: "1" });
  assert.equal(byEnv.code, 3, byEnv.output);
  assert.match(byEnv.output, /error: /);
  assert.ok(!byEnv.output.includes(escape), JSON.stringify(byEnv.output));
  const byFlag = await atTerminal(h.home, ["get", "resend", "--no-color"], [], {});
  assert.equal(byFlag.code, 3, byFlag.output);
  assert.match(byFlag.output, /error: /);
  assert.ok(!byFlag.output.includes(escape), JSON.stringify(byFlag.output));
  // An empty NO_COLOR does not count (no-color.org): the colour stays.
  const empty = await atTerminal(h.home, ["get", "resend"], [], { NO_COLOR: "" });
  assert.ok(empty.output.includes("\x1b[31merror\x1b[0m"), JSON.stringify(empty.output));
});

Deno.test("FORCE_COLOR or CLICOLOR_FORCE colours errors without a terminal; NO_COLOR still wins", async () => {
  await using h = await tempHome();
  const red = "\x1b[31merror\x1b[0m";
  for (const env of [{ FORCE_COLOR: "1" }, { CLICOLOR_FORCE: "1" }]) {
    const r = await runCli(["get", "resend"], { home: h.home, env: { ...env, NO_COLOR: "" } });
    assert.equal(r.code, 3);
    assert.ok(r.stderr.startsWith(red), JSON.stringify(r.stderr));
  }
  for (
    const env of [{ FORCE_COLOR: "0" }, { FORCE_COLOR: "" }, { FORCE_COLOR: "1", NO_COLOR: "1" }]
  ) {
    const r = await runCli(["get", "resend"], { home: h.home, env: { NO_COLOR: "", ...env } });
    assert.ok(
      r.stderr.startsWith("error: "),
      `${JSON.stringify(env)}: ${JSON.stringify(r.stderr)}`,
    );
  }
});

Deno.test("revoke of every connection asks first at a terminal: no keeps everything, yes deletes", async () => {
  await using h = await tempHome();
  const login = await runCli(["login", "resend", "--stdin"], {
    home: h.home,
    stdin: "re_kept_key_0001",
  });
  assert.equal(login.code, 0, login.stderr);
  const no = await atTerminal(h.home, ["revoke", "resend"], ["n\r"], { NO_COLOR: "1" }, "[y/N]");
  assert.equal(no.code, 0, no.output);
  assert.match(
    no.output,
    /Revoke and delete every resend connection \(default\) and its client credentials\? \[y\/N\]/,
  );
  assert.match(no.output, /Nothing was revoked\./);
  assert.equal((await runCli(["get", "resend"], { home: h.home })).code, 0);
  const yes = await atTerminal(h.home, ["revoke", "resend"], ["y\r"], { NO_COLOR: "1" }, "[y/N]");
  assert.equal(yes.code, 0, yes.output);
  assert.match(yes.output, /Deleted resend here: default\./);
  assert.equal((await runCli(["get", "resend"], { home: h.home })).code, 3);
});

Deno.test("rekey --to passphrase at a terminal asks twice without echo; two different ones change nothing", async () => {
  await using h = await tempHome();
  const key = "re_rekey_terminal_7777777";
  assert.equal(
    (await runCli(["login", "resend", "--stdin"], { home: h.home, stdin: key })).code,
    0,
  );
  const keyFile = await Deno.readTextFile(join(h.home, "master.key"));
  const differ = await atTerminal(
    h.home,
    ["rekey", "--to", "passphrase"],
    [
      "typed passphrase one\r",
      "typed passphrase two\r",
    ],
    { NO_COLOR: "1" },
    "New passphrase: ",
  );
  assert.equal(differ.code, 64, differ.output);
  assert.match(differ.output, /error: The two passphrases differ/);
  assert.equal(await Deno.readTextFile(join(h.home, "master.key")), keyFile);

  const typed = "typed rekey passphrase";
  const r = await atTerminal(
    h.home,
    ["rekey", "--to", "passphrase"],
    [
      typed + "\r",
      typed + "\r",
    ],
    { NO_COLOR: "1" },
    "New passphrase: ",
  );
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /New passphrase: .*Again: /s);
  assert.ok(!r.output.includes("typed rekey"), "the typed passphrase was echoed");
  assert.match(r.output, /Next: Set AUTHSOME_PASSPHRASE to the new passphrase\./);
  assert.ok(!r.output.includes("AUTHSOME_NEW_PASSPHRASE"), "nothing to unset: it was typed");
  const shown = await runCli(["get", "resend", "--field", "api_key", "--show-secret"], {
    home: h.home,
    env: { AUTHSOME_PASSPHRASE: typed },
  });
  assert.equal(shown.stdout, key + "\n", shown.stderr);
});
