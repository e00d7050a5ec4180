/**
 * `backup` and `restore` through the real CLI: a passphrase backup restores into a fresh home
 * with byte-equal `get` results; a damaged, changed or foreign file, or the wrong key, changes
 * nothing; `--merge` keeps what is there; no secret is readable in the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertCleanError, readTree, ROOT, runCli, tempHome } from "./helpers.ts";

const KEYS = {
  openai: "sk-backup1111111111111111111111111111",
  work: "sk-backup2222222222222222222222222222",
  resend: "re_backup_3333333333333",
};
const PASSPHRASE = "correct horse battery";
const ACME = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "api_key",
  flow: "api_key",
  api_url: "api.acme.test",
  api_key: { env_var: "ACME_KEY" },
  export: { env: { api_key: "ACME_KEY" } },
};

async function filledHome(home: string): Promise<void> {
  const cli = (args: string[], stdin: string) => runCli(args, { home, stdin });
  assert.equal((await cli(["login", "openai", "--stdin"], KEYS.openai)).code, 0);
  assert.equal((await cli(["login", "openai", "-c", "work", "--stdin"], KEYS.work)).code, 0);
  assert.equal((await cli(["--vault", "team", "login", "resend", "--stdin"], KEYS.resend)).code, 0);
  const file = join(home, "..", "acme.json");
  await Deno.writeTextFile(file, JSON.stringify(ACME));
  assert.equal((await runCli(["provider", "register", file], { home })).code, 0);
  assert.equal((await cli(["login", "acme", "--stdin"], "acme-key-4444")).code, 0);
  assert.equal((await runCli(["connections", "set-default", "openai", "work"], { home })).code, 0);
}

/** What a user sees of a home: every connection's metadata and secret. */
async function view(home: string): Promise<string[]> {
  const out: string[] = [];
  for (
    const [vault, provider, connection] of [
      ["default", "openai", "default"],
      ["default", "openai", "work"],
      ["default", "acme", "default"],
      ["team", "resend", "default"],
    ]
  ) {
    const base = ["--vault", vault!, "get", provider!, "-c", connection!];
    const meta = await runCli([...base, "--json"], { home });
    const secret = await runCli([...base, "--field", "api_key", "--show-secret"], { home });
    out.push(meta.stdout, secret.stdout, String(meta.code), String(secret.code));
  }
  out.push((await runCli(["get", "openai", "--json"], { home })).stdout); // the default
  return out;
}

Deno.test("a passphrase backup restores into a fresh home: the same connections, defaults and providers", async () => {
  await using from = await tempHome();
  await using to = await tempHome();
  await filledHome(from.home);
  const file = join(from.home, "..", "authsome.backup");
  const env = { AUTHSOME_BACKUP_PASSPHRASE: PASSPHRASE };
  const made = await runCli(["backup", file, "--passphrase"], { home: from.home, env });
  assert.equal(made.code, 0, made.stderr);
  assert.equal(
    made.stderr,
    `Wrote ${file}: 2 vault(s), 7 record(s), 1 provider file(s), sealed with the backup passphrase.\n`,
  );
  assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
  const text = await Deno.readTextFile(file);
  for (const secret of [...Object.values(KEYS), "acme-key-4444", "openai", "work", "acme"]) {
    assert.ok(!text.includes(secret), `the file shows ${secret}`);
  }
  const again = await runCli(["backup", file, "--passphrase"], { home: from.home, env });
  assertCleanError(again, 6, "exists already", "--force");

  const restored = await runCli(["restore", file, "--passphrase"], { home: to.home, env });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stderr, /^Restored 5 of 5 record\(s\) into vault "default"\.$/m);
  assert.match(restored.stderr, /^Restored 2 of 2 record\(s\) into vault "team"\.$/m);
  assert.match(restored.stderr, /^Created the master key .*master\.key: back it up/m);
  assert.deepEqual(await view(to.home), await view(from.home));

  // The fresh home now holds the vaults: a second restore is refused, --merge changes nothing.
  const twice = await runCli(["restore", file, "--passphrase"], { home: to.home, env });
  assertCleanError(twice, 6, "already holds the vaults default, team", "--merge");
  const merged = await runCli(["restore", file, "--passphrase", "--merge"], { home: to.home, env });
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stderr, /Restored 0 of 5 record\(s\) into vault "default"/);
});

Deno.test("restore checks the whole file first: damage, changes, foreign files and the wrong key change nothing", async () => {
  await using from = await tempHome();
  await using to = await tempHome();
  const masterA = { AUTHSOME_MASTER_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(7))) };
  const masterB = { AUTHSOME_MASTER_KEY: btoa(String.fromCharCode(...new Uint8Array(32).fill(9))) };
  assert.equal(
    (await runCli(["login", "openai", "--stdin"], {
      home: from.home,
      env: masterA,
      stdin: KEYS.openai,
    }))
      .code,
    0,
  );
  const file = join(from.home, "..", "key.backup");
  assert.equal((await runCli(["backup", file], { home: from.home, env: masterA })).code, 0);
  assert.equal(
    (await runCli(["login", "resend", "--stdin"], {
      home: to.home,
      env: masterB,
      stdin: KEYS.resend,
    }))
      .code,
    0,
  );
  const withoutAudit = async () => {
    const tree = await readTree(to.home);
    tree.delete(join(to.home, "audit.log"));
    return tree;
  };
  const before = await withoutAudit();
  const restore = (path: string, env = masterB, extra: string[] = []) =>
    runCli(["restore", path, "--merge", ...extra], { home: to.home, env });

  assertCleanError(await restore(file), 10, "the master key is not the one it was made with");
  const doc = JSON.parse(await Deno.readTextFile(file));
  const variants: Array<[string, string, string]> = [
    ["flipped", flip(doc), "it was changed"],
    ["truncated", JSON.stringify(doc).slice(0, 200), "it is not JSON"],
    ["foreign", JSON.stringify({ hello: "world" }), "it has no authsome backup header"],
    [
      "future",
      JSON.stringify({ ...doc, version: 2 }),
      "it is version 2, this authsome reads version 1",
    ],
  ];
  for (const [name, text, message] of variants) {
    const path = join(to.home, "..", `${name}.backup`);
    await Deno.writeTextFile(path, text);
    assertCleanError(await restore(path, masterA), 10, message);
  }
  assertCleanError(await restore(join(to.home, "..", "none.backup")), 64, "No file");
  const noPassphrase = await runCli(["restore", file, "--passphrase"], {
    home: to.home,
    env: masterB,
  });
  assertCleanError(noPassphrase, 64, "there is no terminal", "AUTHSOME_BACKUP_PASSPHRASE");
  assert.deepEqual(await withoutAudit(), before, "the home is unchanged (but for the audit log)");
  const audit = (await Deno.readTextFile(join(to.home, "audit.log"))).trim().split("\n")
    .map((l) => JSON.parse(l)).filter((e) => e.action === "restore");
  assert.equal(
    audit.length,
    6,
    "each refused restore is audited (the missing passphrase stops earlier)",
  );
  assert.ok(audit.every((e) => e.outcome === "error"));

  // The same key opens it: --merge adds what is missing and keeps what is there.
  const merged = await restore(file, masterA);
  assert.equal(merged.code, 10, "the home itself is sealed with key B");
  const sameKey = await tempHome();
  try {
    assert.equal(
      (await runCli(["login", "openai", "--stdin"], {
        home: sameKey.home,
        env: masterA,
        stdin: "sk-other0000000000000000000000000000",
      }))
        .code,
      0,
    );
    const r = await runCli(["restore", file, "--merge"], { home: sameKey.home, env: masterA });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /Kept default\/connection\/openai\/default: the home holds another value\./,
    );
    const kept = await runCli(["get", "openai", "--field", "api_key", "--show-secret"], {
      home: sameKey.home,
      env: masterA,
    });
    assert.equal(kept.stdout.trim(), "sk-other0000000000000000000000000000");
  } finally {
    await sameKey[Symbol.asyncDispose]();
  }
});

Deno.test("the golden backup of docs/STORAGE.md restores", async () => {
  await using h = await tempHome();
  const r = await runCli(
    ["restore", join(ROOT, "tests/fixtures/golden.backup"), "--passphrase"],
    { home: h.home, env: { AUTHSOME_BACKUP_PASSPHRASE: "golden backup passphrase" } },
  );
  assert.equal(r.code, 0, r.stderr);
  const key = await runCli(["get", "openai", "-c", "work", "--field", "api_key", "--show-secret"], {
    home: h.home,
  });
  assert.equal(key.stdout.trim(), "sk-golden0000000000000000000000000000");
  const def = await runCli(["get", "openai", "--json"], { home: h.home });
  assert.equal(JSON.parse(def.stdout).connection, "work");
});

/** The backup with one byte of its sealed payload changed. */
function flip(doc: { payload: { ciphertext: string } }): string {
  const bytes = Uint8Array.from(atob(doc.payload.ciphertext), (c) => c.charCodeAt(0));
  bytes[10]! ^= 1;
  return JSON.stringify({
    ...doc,
    payload: { ...doc.payload, ciphertext: btoa(String.fromCharCode(...bytes)) },
  });
}
