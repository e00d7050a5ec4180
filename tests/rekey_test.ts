/**
 * `rekey` through the real CLI: between every key source (file → file → passphrase → file →
 * env → env (--records) → file) every connection reads back the same and the old key is refused
 * (exit 10); --records gives new data keys; refusals change nothing; and `kill -9` during rekeys
 * of a home with many connections leaves, every round, a store that opens with exactly one key
 * and holds every record. `AUTHSOME_REKEY_ROUNDS` and `AUTHSOME_REKEY_CONNECTIONS` scale the
 * crash test (default 20 rounds, 200 connections).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { createAuthService } from "../mod.ts";
import { assertCleanError, LAUNCHER, readTree, runCli, tempHome } from "./helpers.ts";
import { cliEnv } from "./helpers.ts";

const KEYS = {
  openai: "sk-rekey111111111111111111111111111111",
  work: "sk-rekey222222222222222222222222222222",
  resend: "re_rekey_3333333333333",
};
const P1 = "first rekey passphrase";
const K1 = new Uint8Array(32).fill(11).toBase64();
const K2 = new Uint8Array(32).fill(22).toBase64();

async function filledHome(home: string): Promise<void> {
  const cli = (args: string[], stdin: string) => runCli(args, { home, stdin });
  assert.equal((await cli(["login", "openai", "--stdin"], KEYS.openai)).code, 0);
  assert.equal((await cli(["login", "openai", "-c", "work", "--stdin"], KEYS.work)).code, 0);
  assert.equal((await cli(["--vault", "team", "login", "resend", "--stdin"], KEYS.resend)).code, 0);
}

/** What a user reads: each connection's secret (`get --show-secret`) and metadata. */
async function view(home: string, env: Record<string, string> = {}): Promise<string[]> {
  const out: string[] = [];
  for (
    const [vault, provider, connection] of [
      ["default", "openai", "default"],
      ["default", "openai", "work"],
      ["team", "resend", "default"],
    ]
  ) {
    const base = ["--vault", vault!, "get", provider!, "-c", connection!];
    const meta = await runCli([...base, "--json"], { home, env });
    const secret = await runCli([...base, "--field", "api_key", "--show-secret"], { home, env });
    assert.equal(meta.code, 0, meta.stderr);
    assert.equal(secret.code, 0, secret.stderr);
    out.push(meta.stdout, secret.stdout);
  }
  return out;
}

/** The key in a key file, as AUTHSOME_MASTER_KEY would give it. */
async function keyOfFile(home: string): Promise<string> {
  return JSON.parse(await Deno.readTextFile(join(home, "master.key"))).key;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** The old key opens nothing: a read with it fails with exit 10. */
async function refused(
  home: string,
  env: Record<string, string>,
  probe = ["get", "openai", "--field", "api_key", "--show-secret"],
): Promise<void> {
  const r = await runCli(probe, { home, env });
  assertCleanError(r, 10, "Cannot open vault");
}

function headers(home: string): Array<{ name: string; key_id: string; data_key: string }> {
  const db = new DatabaseSync(join(home, "authsome.db"), { readOnly: true });
  try {
    return db.prepare("SELECT name, key_id, data_key FROM vaults ORDER BY name").all() as Array<
      { name: string; key_id: string; data_key: string }
    >;
  } finally {
    db.close();
  }
}

function records(home: string): Map<string, string> {
  const db = new DatabaseSync(join(home, "authsome.db"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT vault, key, ciphertext FROM records").all() as Array<
      { vault: string; key: string; ciphertext: string }
    >;
    return new Map(rows.map((r) => [`${r.vault}/${r.key}`, r.ciphertext]));
  } finally {
    db.close();
  }
}

Deno.test("rekey between every key source: the same connections, and the old key opens nothing", async () => {
  await using t = await tempHome();
  const home = t.home;
  await filledHome(home);
  const expected = await view(home);
  const oldFileKey = await keyOfFile(home);

  // file → file: a new key file; the old key is refused.
  const same = await runCli(["rekey"], { home });
  assert.equal(same.code, 0, same.stderr);
  assert.equal(
    same.stderr,
    "Rekeyed 2 vault(s): the master key now comes from the key file; the data keys were wrapped " +
      "again. The old key opens nothing now.\n" +
      `Next: Back up the new key file ${home}/master.key: copies of the old one open nothing now.\n`,
  );
  const fileKey = await keyOfFile(home);
  assert.notEqual(fileKey, oldFileKey);
  assert.equal((await Deno.stat(join(home, "master.key"))).mode! & 0o777, 0o600);
  assert.deepEqual(await view(home), expected);
  await refused(home, { AUTHSOME_MASTER_KEY: oldFileKey });

  // file → passphrase: the key file goes; without the passphrase the home says what to set.
  const toPass = await runCli(["rekey", "--to", "passphrase", "--json"], {
    home,
    env: { AUTHSOME_NEW_PASSPHRASE: P1 },
  });
  assert.equal(toPass.code, 0, toPass.stderr);
  assert.deepEqual(JSON.parse(toPass.stdout), {
    status: "rekeyed",
    from: "file",
    to: "passphrase",
    vaults: ["default", "team"],
    records_resealed: 0,
    key_file: null,
    next_steps: ["Set AUTHSOME_PASSPHRASE to the new passphrase", "Unset AUTHSOME_NEW_PASSPHRASE"],
  });
  assert.equal(await exists(join(home, "master.key")), false);
  assert.equal(await exists(join(home, "rekey.next")), false);
  const withP1 = { AUTHSOME_PASSPHRASE: P1 };
  assert.deepEqual(await view(home, withP1), expected);
  await refused(home, { AUTHSOME_MASTER_KEY: fileKey });
  assertCleanError(
    await runCli(["get", "openai"], { home }),
    10,
    "sealed with a passphrase (passphrase.json), not the key file",
    "Set AUTHSOME_PASSPHRASE",
  );
  assert.equal(await exists(join(home, "master.key")), false, "no key file started beside it");
  const oldParams = await Deno.readTextFile(join(home, "passphrase.json"));

  // passphrase → file: the parameters go; the passphrase is refused with what to unset.
  const toFile = await runCli(["rekey", "--to", "file"], { home, env: withP1 });
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.match(toFile.stderr, /\(before: AUTHSOME_PASSPHRASE\)/);
  assert.match(toFile.stderr, /^Next: Unset AUTHSOME_PASSPHRASE\.$/m);
  assert.equal(await exists(join(home, "passphrase.json")), false);
  assert.deepEqual(await view(home), expected);
  assertCleanError(
    await runCli(["get", "openai"], { home, env: withP1 }),
    10,
    "sealed with the key file master.key, not a passphrase",
    "Unset AUTHSOME_PASSPHRASE",
  );
  await Deno.writeTextFile(join(home, "passphrase.json"), oldParams); // the old passphrase key
  await refused(home, withP1);
  await Deno.remove(join(home, "passphrase.json"));
  const fileKey2 = await keyOfFile(home);

  // file → env: the key file goes; the new key comes from AUTHSOME_NEW_MASTER_KEY.
  const toEnv = await runCli(["rekey", "--to", "env"], {
    home,
    env: { AUTHSOME_NEW_MASTER_KEY: K1 },
  });
  assert.equal(toEnv.code, 0, toEnv.stderr);
  assert.match(
    toEnv.stderr,
    /^Next: Set AUTHSOME_MASTER_KEY to the value of AUTHSOME_NEW_MASTER_KEY\.$/m,
  );
  assert.match(toEnv.stderr, /^Next: Unset AUTHSOME_NEW_MASTER_KEY\.$/m);
  assert.equal(await exists(join(home, "master.key")), false);
  assert.deepEqual(await view(home, { AUTHSOME_MASTER_KEY: K1 }), expected);
  await refused(home, { AUTHSOME_MASTER_KEY: fileKey2 });

  // env → env with --records: new data keys, every record sealed again.
  const before = { headers: headers(home), records: records(home) };
  const envEnv = await runCli(["rekey", "--records"], {
    home,
    env: { AUTHSOME_MASTER_KEY: K1, AUTHSOME_NEW_MASTER_KEY: K2 },
  });
  assert.equal(envEnv.code, 0, envEnv.stderr);
  assert.match(envEnv.stderr, /; 8 record\(s\) sealed again under new data keys\./);
  const after = { headers: headers(home), records: records(home) };
  assert.deepEqual([...after.records.keys()].sort(), [...before.records.keys()].sort());
  for (const [key, ciphertext] of after.records) {
    assert.notEqual(ciphertext, before.records.get(key));
  }
  for (const [i, h] of after.headers.entries()) {
    assert.notEqual(h.key_id, before.headers[i]!.key_id);
  }
  assert.deepEqual(await view(home, { AUTHSOME_MASTER_KEY: K2 }), expected);
  await refused(home, { AUTHSOME_MASTER_KEY: K1 });

  // env → file: a new key file; the env key is refused.
  const envFile = await runCli(["rekey", "--to", "file"], {
    home,
    env: { AUTHSOME_MASTER_KEY: K2 },
  });
  assert.equal(envFile.code, 0, envFile.stderr);
  assert.match(envFile.stderr, /^Next: Unset AUTHSOME_MASTER_KEY\.$/m);
  const plain = { headers: headers(home), records: records(home) };
  assert.deepEqual(await view(home), expected);
  await refused(home, { AUTHSOME_MASTER_KEY: K2 });

  // Without --records only the headers change: same key ids, same record bytes.
  assert.equal((await runCli(["rekey"], { home })).code, 0);
  assert.deepEqual(records(home), plain.records);
  assert.deepEqual(headers(home).map((h) => h.key_id), plain.headers.map((h) => h.key_id));
  assert.notDeepEqual(headers(home).map((h) => h.data_key), plain.headers.map((h) => h.data_key));

  const audit = (await Deno.readTextFile(join(home, "audit.log"))).trim().split("\n")
    .map((line) => JSON.parse(line)).filter((e) => e.action === "rekey");
  assert.deepEqual(audit.map((e) => [e.detail, e.outcome]), [
    [{ from: "file", to: "file", records: false }, "ok"],
    [{ from: "file", to: "passphrase", records: false }, "ok"],
    [{ from: "passphrase", to: "file", records: false }, "ok"],
    [{ from: "file", to: "env", records: false }, "ok"],
    [{ from: "env", to: "env", records: true }, "ok"],
    [{ from: "env", to: "file", records: false }, "ok"],
    [{ from: "file", to: "file", records: false }, "ok"],
  ]);
  const log = await Deno.readTextFile(join(home, "audit.log"));
  for (const secret of [P1, K1, K2, fileKey, fileKey2]) assert.ok(!log.includes(secret));
});

Deno.test("rekey refuses what it could not keep, and a key that does not open the vaults: nothing changes", async () => {
  await using t = await tempHome();
  const home = t.home;
  assertCleanError(
    await runCli(["rekey"], { home }),
    3,
    "There is no vault to rekey",
    "first login",
  );
  await filledHome(home);
  const withoutAudit = async () => {
    const tree = await readTree(home);
    tree.delete(join(home, "audit.log"));
    return tree;
  };
  const before = await withoutAudit();
  const cases: Array<[string[], Record<string, string>, number, string, string]> = [
    [
      ["--to", "env"],
      {},
      64,
      "needs the new key in AUTHSOME_NEW_MASTER_KEY",
      "openssl rand -base64 32",
    ],
    [
      ["--to", "env"],
      { AUTHSOME_NEW_MASTER_KEY: "c2hvcnQ=" },
      65,
      "is not the base64 of 32 bytes",
      "openssl",
    ],
    [["--to", "passphrase"], {}, 64, "there is no terminal to type it", "AUTHSOME_NEW_PASSPHRASE"],
    [["--to", "passphrase"], { AUTHSOME_NEW_PASSPHRASE: "short" }, 65, "shorter than 8", "longer"],
    [
      [],
      { AUTHSOME_MASTER_KEY: K1 },
      64,
      "needs the new key in AUTHSOME_NEW_MASTER_KEY",
      "openssl",
    ],
    [["--to", "keyring"], {}, 64, 'Unknown key source "keyring"', "--to env"],
    [["--to", "file"], { AUTHSOME_MASTER_KEY: K1 }, 10, "Cannot open vault", "whoami"],
    [
      [],
      { AUTHSOME_MASTER_KEY: K1, AUTHSOME_NEW_MASTER_KEY: K1 },
      65,
      "is the key in use",
      "openssl",
    ],
  ];
  for (const [args, env, code, message, hint] of cases) {
    assertCleanError(await runCli(["rekey", ...args], { home, env }), code, message, hint);
    assert.deepEqual(await withoutAudit(), before, `${args.join(" ")}: the home changed`);
  }
  assert.equal(
    (await runCli(["rekey", "--to", "passphrase"], {
      home,
      env: { AUTHSOME_NEW_PASSPHRASE: P1 },
    })).code,
    0,
  );
  assertCleanError(
    await runCli(["rekey"], {
      home,
      env: { AUTHSOME_PASSPHRASE: P1, AUTHSOME_NEW_PASSPHRASE: P1 },
    }),
    65,
    "The new passphrase is the one in use",
    "another",
  );
});

const ROUNDS = Number(Deno.env.get("AUTHSOME_REKEY_ROUNDS") ?? 20);
/** Rounds of the test that moves between the key file and a passphrase (PBKDF2 makes them slower). */
const SWITCH_ROUNDS = Math.max(2, Math.round(ROUNDS / 3));
const CONNECTIONS = Number(Deno.env.get("AUTHSOME_REKEY_CONNECTIONS") ?? 200);
const PROVIDERS = ["ahrefs", "apollo", "ashby", "beehiiv", "brevo"];
const secretOf = (i: number) => `sk-crash-${String(i).padStart(8, "0")}-abcdefghijklmnop`;

/** Logs in {@linkcode CONNECTIONS} connections through the library (key file source). */
async function fillConnections(home: string): Promise<void> {
  const auth = await createAuthService({ home, env: {} });
  for (let i = 0; i < CONNECTIONS; i++) {
    await auth.login(PROVIDERS[i % PROVIDERS.length]!, {
      connection: `c${i}`,
      readFields: () => Promise.resolve({ api_key: secretOf(i) }),
    });
  }
  await auth.close();
}

/** `status --json` opens every connection record: all of them there and readable. */
async function assertAllReadable(home: string, env: Record<string, string>, round: number) {
  const status = await runCli(["status", "--json"], { home, env });
  assert.equal(status.code, 0, `round ${round}: ${status.stderr}`);
  const checks = JSON.parse(status.stdout).connections as Array<{ result: string }>;
  assert.equal(checks.length, CONNECTIONS, `round ${round}: records lost`);
  assert.ok(checks.every((c) => c.result === "ok"), `round ${round}: an unreadable record`);
}

/** Runs `rekey` and kills it with SIGKILL after `delayMs` (it may finish first). */
async function rekeyKilled(
  home: string,
  args: string[],
  delayMs: number,
  env: Record<string, string> = {},
): Promise<boolean> {
  const child = new Deno.Command(LAUNCHER, {
    args: ["rekey", ...args],
    env: cliEnv(home, env),
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // It finished in the same instant.
    }
  }, delayMs);
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  clearTimeout(timer);
  if (status.signal !== "SIGKILL") assert.equal(status.code, 0, stderr);
  return status.signal === "SIGKILL";
}

Deno.test(`kill -9 during rekey, ${ROUNDS} rounds with ${CONNECTIONS} connections: one key opens every record`, async () => {
  await using t = await tempHome();
  const home = t.home;
  await fillConnections(home);
  // How long an uncut rekey takes here, so that the kills fall all over it (after the start-up).
  const uncut: number[] = [];
  for (const args of [["--records"], [], ["--records"]]) {
    const start = performance.now();
    assert.equal(await rekeyKilled(home, args, 60_000), false);
    uncut.push(performance.now() - start);
  }
  const span = uncut.sort((a, b) => a - b)[1]!;
  const tally = { killed: 0, old: 0, new: 0, finishedByNext: 0, discardedByNext: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const oldKey = await keyOfFile(home);
    const args = round % 2 === 0 ? [] : ["--records"];
    if (await rekeyKilled(home, args, span * (0.3 + 0.8 * Math.random()))) tally.killed++;
    // What the killed process left: the side file holds the new key when it got that far.
    const pending = await Deno.readTextFile(join(home, "rekey.next")).catch(() => undefined);
    const pendingKey = pending === undefined
      ? undefined
      : JSON.parse(JSON.parse(pending).write.text).key as string;

    // The next command settles the rekey and opens every connection record.
    const status = await runCli(["status", "--json"], { home });
    assert.equal(status.code, 0, `round ${round}: ${status.stderr}`);
    const checks = JSON.parse(status.stdout).connections as Array<{ result: string }>;
    assert.equal(checks.length, CONNECTIONS, `round ${round}: records lost`);
    assert.ok(checks.every((c) => c.result === "ok"), `round ${round}: an unreadable record`);
    assert.equal(await exists(join(home, "rekey.next")), false, `round ${round}: side file left`);
    const i = Math.floor(Math.random() * CONNECTIONS);
    const get = await runCli(
      [
        "get",
        PROVIDERS[i % PROVIDERS.length]!,
        "-c",
        `c${i}`,
        "--field",
        "api_key",
        "--show-secret",
      ],
      { home },
    );
    assert.equal(get.stdout, `${secretOf(i)}\n`, `round ${round}: ${get.stderr}`);

    // Exactly one key opens it: the other one is refused.
    const probe = ["get", "ahrefs", "-c", "c0", "--field", "api_key", "--show-secret"];
    const nowKey = await keyOfFile(home);
    if (nowKey === oldKey) {
      tally.old++;
      if (pendingKey !== undefined) {
        tally.discardedByNext++;
        await refused(home, { AUTHSOME_MASTER_KEY: pendingKey }, probe);
      }
    } else {
      tally.new++;
      if (pendingKey !== undefined) {
        tally.finishedByNext++;
        assert.equal(nowKey, pendingKey, `round ${round}: not the key of the side file`);
      }
      await refused(home, { AUTHSOME_MASTER_KEY: oldKey }, probe);
    }
  }
  console.log(`rekey kill rounds: ${JSON.stringify(tally)}, uncut rekey ${span.toFixed(0)} ms`);
  assert.equal(tally.old + tally.new, ROUNDS);
});

Deno.test("the next command settles what a killed rekey left: committed → the new key, not committed → the old", async () => {
  await using t = await tempHome();
  const home = t.home;
  await filledHome(home);
  const expected = await view(home);
  const oldKeyFile = await Deno.readTextFile(join(home, "master.key"));
  assert.equal((await runCli(["rekey"], { home })).code, 0);
  const newKeyFile = await Deno.readTextFile(join(home, "master.key"));
  const db = new DatabaseSync(join(home, "authsome.db"), { readOnly: true });
  const { data_key_nonce: nonce } = db.prepare(
    "SELECT data_key_nonce FROM vaults WHERE name = 'default'",
  ).get() as { data_key_nonce: string };
  db.close();
  const sideFile = (commitNonce: string, text: string) =>
    JSON.stringify({
      version: 1,
      from: "file",
      to: "file",
      write: { file: "master.key", text },
      remove: [],
      commit: { vault: "default", nonce: commitNonce },
    });

  // Killed after the commit: the headers are new, the old key file is still in place.
  await Deno.writeTextFile(join(home, "master.key"), oldKeyFile, { mode: 0o600 });
  await Deno.writeTextFile(join(home, "rekey.next"), sideFile(nonce, newKeyFile), { mode: 0o600 });
  assert.deepEqual(await view(home), expected);
  assert.equal(await Deno.readTextFile(join(home, "master.key")), newKeyFile);
  assert.equal(await exists(join(home, "rekey.next")), false);

  // Killed before the commit: the side file names a header that never committed (and a key
  // that opens nothing).
  const unused = oldKeyFile.replace(/"key": "[^"]+"/, `"key": "${K1}"`);
  await Deno.writeTextFile(join(home, "rekey.next"), sideFile("AAAAAAAAAAAAAAAA", unused), {
    mode: 0o600,
  });
  assert.deepEqual(await view(home), expected);
  assert.equal(await Deno.readTextFile(join(home, "master.key")), newKeyFile);
  assert.equal(await exists(join(home, "rekey.next")), false);
});

Deno.test(`kill -9 while moving between the key file and a passphrase, ${SWITCH_ROUNDS} rounds: one source, one key`, async () => {
  await using t = await tempHome();
  const home = t.home;
  await fillConnections(home);
  const probe = ["get", "ahrefs", "-c", "c0", "--field", "api_key", "--show-secret"];
  const withP1 = { AUTHSOME_PASSPHRASE: P1 };
  const uncut: number[] = [];
  for (
    const [args, env] of [[["--to", "passphrase"], { AUTHSOME_NEW_PASSPHRASE: P1 }], [[
      "--to",
      "file",
    ], withP1], [["--to", "passphrase"], { AUTHSOME_NEW_PASSPHRASE: P1 }]] as const
  ) {
    const start = performance.now();
    assert.equal(await rekeyKilled(home, [...args], 60_000, env), false);
    uncut.push(performance.now() - start);
  }
  const span = uncut.sort((a, b) => a - b)[1]!;
  const tally = { killed: 0, moved: 0, stayed: 0 };
  for (let round = 0; round < SWITCH_ROUNDS; round++) {
    const wasPassphrase = await exists(join(home, "passphrase.json"));
    const old = await Deno.readTextFile(
      join(home, wasPassphrase ? "passphrase.json" : "master.key"),
    );
    const [args, env] = wasPassphrase
      ? [["--to", "file"], withP1]
      : [["--to", "passphrase"], { AUTHSOME_NEW_PASSPHRASE: P1 }];
    if (await rekeyKilled(home, args, span * (0.3 + 0.8 * Math.random()), env)) tally.killed++;

    // Any command that loads the key settles first, even one run with the wrong source.
    await runCli(["status"], { home });
    assert.equal(await exists(join(home, "rekey.next")), false, `round ${round}: side file left`);
    const isPassphrase = await exists(join(home, "passphrase.json"));
    assert.notEqual(
      isPassphrase,
      await exists(join(home, "master.key")),
      `round ${round}: exactly one of master.key and passphrase.json`,
    );
    await assertAllReadable(home, isPassphrase ? withP1 : {}, round);
    if (isPassphrase === wasPassphrase) {
      tally.stayed++;
      continue;
    }
    tally.moved++;
    // The old source's key is refused.
    if (wasPassphrase) {
      await Deno.writeTextFile(join(home, "passphrase.json"), old);
      await refused(home, withP1, probe);
      await Deno.remove(join(home, "passphrase.json"));
    } else {
      await refused(home, { AUTHSOME_MASTER_KEY: JSON.parse(old).key }, probe);
    }
  }
  console.log(`key-source kill rounds: ${JSON.stringify(tally)}, uncut ${span.toFixed(0)} ms`);
});
