/**
 * The master-key sources against real files in a temp home: which source wins, what the key file
 * and the passphrase parameters look like when created, and every way they are refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import {
  deriveFromPassphrase,
  importAesKey,
  MIN_PBKDF2_ITERATIONS,
  openSealed,
  randomBytes,
  seal,
} from "./crypto.ts";
import {
  describeKeySource,
  KEY_FILE,
  keyFileText,
  loadMasterKey,
  type MasterKey,
  PASSPHRASE_FILE,
  passphraseParamsText,
} from "./master_key.ts";

/** A fresh, not yet existing home folder inside a temp dir that is removed afterwards. */
async function tempHome(): Promise<{ home: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "authsome-master-key-" });
  return {
    home: join(dir, "home"),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Rejects with exit 10 and exactly `message`, with `hint` in the hint. */
function vaultError(message: string, hint: string) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, String(e));
    assert.equal(e.exitCode, 10);
    assert.equal(e.message, message);
    assert.ok((e.hint ?? "").includes(hint), `hint: ${e.hint}`);
    return true;
  };
}

/** Whether two keys are the same key: one opens what the other sealed. */
async function sameKey(a: CryptoKey, b: CryptoKey): Promise<boolean> {
  const box = await seal(a, new TextEncoder().encode("probe"), "aad");
  return await openSealed(b, box, "aad").then(() => true, () => false);
}

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("describeKeySource names the source that wins: the variable, then a passphrase, then the file", () => {
  const home = "/home/ada/.authsome";
  assert.deepEqual(describeKeySource({ home, masterKey: "x", passphrase: "p" }), {
    source: "env",
    detail: "environment variable AUTHSOME_MASTER_KEY",
  });
  assert.deepEqual(describeKeySource({ home, passphrase: "p" }), {
    source: "passphrase",
    detail: `passphrase from AUTHSOME_PASSPHRASE (PBKDF2-SHA-256, ${home}/passphrase.json)`,
  });
  assert.deepEqual(describeKeySource({ home }), {
    source: "file",
    detail: `key file ${home}/master.key`,
  });
});

Deno.test("AUTHSOME_MASTER_KEY is used as given (whitespace trimmed) and wins over a passphrase and the file", async () => {
  await using h = await tempHome();
  const raw = randomBytes(32);
  const loaded = await loadMasterKey(
    { home: h.home, masterKey: ` ${raw.toBase64()}\n`, passphrase: "ignored" },
    { create: true },
  );
  assert.equal(loaded.source, "env");
  assert.ok(await sameKey(loaded.key, await importAesKey(raw)));
  assert.equal(loaded.key.extractable, false);
  await assert.rejects(Deno.stat(h.home), Deno.errors.NotFound, "nothing is written");

  const hint = "openssl rand -base64 32";
  const message = "AUTHSOME_MASTER_KEY is not the base64 of 32 bytes";
  for (const bad of [randomBytes(16).toBase64(), randomBytes(33).toBase64(), "not base64!", ""]) {
    await assert.rejects(
      loadMasterKey({ home: h.home, masterKey: bad }, { create: true }),
      vaultError(message, hint),
      JSON.stringify(bad),
    );
  }
});

Deno.test("the key file: refused when missing without create; created private once, then the same key", async () => {
  await using h = await tempHome();
  const path = join(h.home, KEY_FILE);
  await assert.rejects(
    loadMasterKey({ home: h.home }, { create: false }),
    vaultError(`The key file ${path} is missing`, "Restore master.key from a backup"),
  );
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);

  // Two processes creating it at once end up with one key.
  const [a, b] = await Promise.all([
    loadMasterKey({ home: h.home }, { create: true }),
    loadMasterKey({ home: h.home }, { create: true }),
  ]);
  assert.equal(a.source, "file");
  assert.ok(await sameKey(a.key, b.key));
  assert.equal(await mode(h.home), 0o700);
  assert.equal(await mode(path), 0o600);
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("}\n"), "the file ends with a newline");
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc), ["version", "algorithm", "key", "note"]);
  assert.equal(doc.version, 1);
  assert.equal(doc.algorithm, "AES-256-GCM");
  assert.equal(Uint8Array.fromBase64(doc.key).length, 32);
  assert.match(doc.note, /keep this file private and backed up/);
  assert.ok(await sameKey(a.key, await importAesKey(Uint8Array.fromBase64(doc.key))));
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(h.home))).map((e) => e.name),
    [KEY_FILE],
    "no temporary file is left",
  );

  const again: MasterKey = await loadMasterKey({ home: h.home }, { create: false });
  assert.ok(await sameKey(a.key, again.key), "the stored key is read back");
  assert.equal(again.key.extractable, false);
});

Deno.test("a key file readable by others is refused with its mode and the chmod to run", async () => {
  await using h = await tempHome();
  const path = join(h.home, KEY_FILE);
  await loadMasterKey({ home: h.home }, { create: true });
  for (const [bits, shown] of [[0o644, "644"], [0o640, "640"], [0o604, "604"]] as const) {
    await Deno.chmod(path, bits);
    await assert.rejects(
      loadMasterKey({ home: h.home }, { create: false }),
      vaultError(
        `Refusing to use ${path}: it is readable by other users (mode ${shown})`,
        `Run: chmod 600 ${path}`,
      ),
    );
  }
  await Deno.chmod(path, 0o400);
  assert.equal((await loadMasterKey({ home: h.home }, { create: false })).source, "file");
});

Deno.test("a damaged key file is refused, whatever is wrong with it", async () => {
  await using h = await tempHome();
  const path = join(h.home, KEY_FILE);
  await Deno.mkdir(h.home, { mode: 0o700 });
  const key = randomBytes(32).toBase64();
  const bodies = [
    "not json",
    JSON.stringify({ version: 2, key }),
    JSON.stringify({ key }),
    JSON.stringify({ version: 1, key: 42 }),
    JSON.stringify({ version: 1, key: randomBytes(16).toBase64() }),
    JSON.stringify({ version: 1, key: "not base64!" }),
  ];
  for (const body of bodies) {
    await Deno.writeTextFile(path, body, { mode: 0o600 });
    await assert.rejects(
      loadMasterKey({ home: h.home }, { create: true }),
      vaultError(`The key file ${path} is damaged`, "Restore master.key from a backup"),
      body,
    );
  }
  await Deno.writeTextFile(path, JSON.stringify({ version: 1, key }));
  const good = await loadMasterKey({ home: h.home }, { create: false });
  assert.ok(await sameKey(good.key, await importAesKey(Uint8Array.fromBase64(key))));
});

Deno.test("a passphrase: parameters created once (600,000 iterations, 16-byte salt) and the stored ones used", async () => {
  await using h = await tempHome();
  const path = join(h.home, PASSPHRASE_FILE);
  const hint = `Restore ${PASSPHRASE_FILE} from a backup`;
  await assert.rejects(
    loadMasterKey({ home: h.home, passphrase: "correct horse" }, { create: false }),
    vaultError(`The passphrase parameters ${path} are missing`, hint),
  );
  const first = await loadMasterKey({ home: h.home, passphrase: "correct horse" }, {
    create: true,
  });
  assert.equal(first.source, "passphrase");
  assert.equal(await mode(h.home), 0o700);
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("}\n"), "the file ends with a newline");
  const doc = JSON.parse(text);
  assert.deepEqual(Object.keys(doc), ["version", "kdf", "iterations", "salt"]);
  assert.equal(doc.version, 1);
  assert.equal(doc.kdf, "PBKDF2-SHA-256");
  assert.equal(doc.iterations, 600_000);
  assert.equal(MIN_PBKDF2_ITERATIONS, 600_000);
  const salt = Uint8Array.fromBase64(doc.salt);
  assert.equal(salt.length, 16);
  const expected = await importAesKey(await deriveFromPassphrase("correct horse", salt, 600_000));
  assert.ok(await sameKey(first.key, expected), "PBKDF2 of the passphrase with the stored salt");
  assert.equal(first.key.extractable, false);
  await assert.rejects(Deno.stat(join(h.home, KEY_FILE)), Deno.errors.NotFound);

  // A higher stored count is used as stored; another passphrase gives another key.
  await Deno.writeTextFile(path, JSON.stringify({ ...doc, iterations: 600_001 }));
  const raised = await loadMasterKey({ home: h.home, passphrase: "correct horse" }, {
    create: false,
  });
  const at601 = await importAesKey(await deriveFromPassphrase("correct horse", salt, 600_001));
  assert.ok(await sameKey(raised.key, at601));
  assert.equal(await sameKey(raised.key, expected), false);
  const other = await loadMasterKey({ home: h.home, passphrase: "wrong horse" }, {
    create: false,
  });
  assert.equal(await sameKey(other.key, at601), false);
});

Deno.test("passphrase parameters that are weak or damaged are refused, never replaced", async () => {
  await using h = await tempHome();
  const path = join(h.home, PASSPHRASE_FILE);
  await Deno.mkdir(h.home, { mode: 0o700 });
  const salt = randomBytes(16).toBase64();
  const good = { version: 1, kdf: "PBKDF2-SHA-256", iterations: 600_000, salt };
  const bodies = [
    "not json",
    JSON.stringify({ ...good, version: 2 }),
    JSON.stringify({ ...good, iterations: 599_999 }),
    JSON.stringify({ ...good, iterations: 600_000.5 }),
    JSON.stringify({ ...good, iterations: "600000" }),
    JSON.stringify({ ...good, salt: randomBytes(15).toBase64() }),
    JSON.stringify({ ...good, salt: 7 }),
    JSON.stringify({ ...good, salt: "not base64!" }),
  ];
  for (const body of bodies) {
    await Deno.writeTextFile(path, body);
    await assert.rejects(
      loadMasterKey({ home: h.home, passphrase: "p" }, { create: true }),
      vaultError(
        `The passphrase parameters in ${path} are invalid`,
        "it holds the salt and iteration count",
      ),
      body,
    );
    assert.equal(await Deno.readTextFile(path), body, "left as it was");
  }
});

Deno.test("a passphrase set for a home sealed with its key file says so, and what to unset", async () => {
  await using h = await tempHome();
  await loadMasterKey({ home: h.home }, { create: true });
  await assert.rejects(
    loadMasterKey({ home: h.home, passphrase: "correct horse" }, { create: false }),
    vaultError(
      `The vaults in ${h.home} are sealed with the key file master.key, not a passphrase`,
      "Unset AUTHSOME_PASSPHRASE to use the key file",
    ),
  );
  // Nor is a passphrase started beside the key file by a command that may create the key.
  await assert.rejects(
    loadMasterKey({ home: h.home, passphrase: "correct horse" }, { create: true }),
    vaultError(
      `The vaults in ${h.home} are sealed with the key file master.key, not a passphrase`,
      "Unset AUTHSOME_PASSPHRASE to use the key file",
    ),
  );
  assert.equal(await Deno.stat(join(h.home, PASSPHRASE_FILE)).then(() => true, () => false), false);
});

Deno.test("a home sealed with a passphrase, used without it, says so and starts no key file", async () => {
  await using h = await tempHome();
  await loadMasterKey({ home: h.home, passphrase: "correct horse" }, { create: true });
  for (const create of [false, true]) {
    await assert.rejects(
      loadMasterKey({ home: h.home }, { create }),
      vaultError(
        `The vaults in ${h.home} are sealed with a passphrase (passphrase.json), not the key file`,
        "Set AUTHSOME_PASSPHRASE to the passphrase",
      ),
    );
  }
  assert.equal(await Deno.stat(join(h.home, KEY_FILE)).then(() => true, () => false), false);
});

Deno.test("keyFileText and passphraseParamsText write the formats that loadMasterKey reads", async () => {
  await using h = await tempHome();
  await Deno.mkdir(h.home, { recursive: true });
  const raw = randomBytes(32);
  assert.deepEqual(JSON.parse(keyFileText(raw)), {
    version: 1,
    algorithm: "AES-256-GCM",
    key: raw.toBase64(),
    note:
      "authsome master key: keep this file private and backed up; without it the vaults are lost",
  });
  assert.ok(keyFileText(raw).endsWith("}\n"));
  await Deno.writeTextFile(join(h.home, KEY_FILE), keyFileText(raw), { mode: 0o600 });
  const loaded = await loadMasterKey({ home: h.home }, { create: false });
  assert.ok(await sameKey(loaded.key, await importAesKey(raw)));
  await Deno.remove(join(h.home, KEY_FILE));
  const salt = randomBytes(16);
  const text = passphraseParamsText(salt, MIN_PBKDF2_ITERATIONS + 1);
  assert.equal(
    text,
    `{\n  "version": 1,\n  "kdf": "PBKDF2-SHA-256",\n  "iterations": 600001,\n  "salt": "${salt.toBase64()}"\n}\n`,
  );
  await Deno.writeTextFile(join(h.home, PASSPHRASE_FILE), text);
  const derived = await loadMasterKey({ home: h.home, passphrase: "p" }, { create: false });
  const expected = await deriveFromPassphrase("p", salt, MIN_PBKDF2_ITERATIONS + 1);
  assert.ok(await sameKey(derived.key, await importAesKey(expected)));
});
