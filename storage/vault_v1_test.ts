import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { importAesKey } from "./crypto.ts";
import { listHomeVaults, openHomeStore, openHomeVault } from "./home.ts";
import { loadMasterKey, type MasterKey } from "./master_key.ts";
import { parseVaultFile } from "./vault_v1.ts";

const GOLDEN_KEY = new Uint8Array(Array.from({ length: 32 }, (_, i) => i));
const fixture = (name: string) => new URL(`../tests/fixtures/${name}`, import.meta.url);

async function golden(): Promise<MasterKey> {
  return { source: "env", key: await importAesKey(GOLDEN_KEY) };
}

/** A home holding the golden v1 file as vault "default". */
async function goldenHome(): Promise<string> {
  const home = await Deno.makeTempDir();
  await Deno.mkdir(join(home, "vaults"));
  await Deno.copyFile(fixture("golden_vault_v1.json"), join(home, "vaults", "default.json"));
  return home;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

// The golden fixture was written by `./authsome login` (format 1) with AUTHSOME_MASTER_KEY =
// bytes 0..31. Format 1 is only read now, to migrate it; this pins that it still is.
Deno.test("golden vault v1 is migrated into the store with every record, then removed", async () => {
  const home = await goldenHome();
  const store = openHomeStore(home);
  try {
    const master = await golden();
    const vault = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(master),
    });
    assert.deepEqual(await vault.keys("connection/"), [
      "connection/openai/default",
      "connection/openai/work",
      "connection/resend/default",
    ]);
    const work = await vault.get<Record<string, unknown>>("connection/openai/work");
    assert.equal(work?.provider, "openai");
    assert.equal(work?.connection, "work");
    assert.equal(work?.status, "connected");
    assert.deepEqual(work?.secrets, { api_key: "sk-golden-work-11111111111111111111" });
    assert.deepEqual(await vault.get("provider/openai"), { default_connection: "default" });
    const resend = await vault.get<{ secrets: unknown }>("connection/resend/default");
    assert.deepEqual(resend?.secrets, { api_key: "re_golden_key" });
    assert.equal(await exists(join(home, "vaults", "default.json")), false, "old file removed");
    assert.deepEqual(await listHomeVaults(home, store), ["default"]);
  } finally {
    store.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a damaged v1 file or the wrong key stops the migration and leaves the file as it was", async () => {
  const home = await goldenHome();
  const path = join(home, "vaults", "default.json");
  const original = await Deno.readTextFile(path);
  const doc = JSON.parse(original);
  const record = doc.records["connection/openai/work"];
  record.ciphertext = record.ciphertext.slice(0, 10) + (record.ciphertext[10] === "A" ? "B" : "A") +
    record.ciphertext.slice(11);
  const damaged = JSON.stringify(doc);
  await Deno.writeTextFile(path, damaged);
  const store = openHomeStore(home);
  try {
    const master = await golden();
    const vault = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(master),
    });
    await assert.rejects(
      vault.get("provider/openai"),
      (e: unknown) => e instanceof AuthsomeError && e.exitCode === 10,
    );
    assert.equal(await Deno.readTextFile(path), damaged, "the file is untouched");
    assert.deepEqual(await store.vaults(), [], "nothing half-migrated");
    await Deno.writeTextFile(path, original);
    const other = { source: "file" as const, key: await importAesKey(new Uint8Array(32)) };
    const wrong = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(other),
    });
    await assert.rejects(
      wrong.keys(),
      (e: unknown) =>
        e instanceof AuthsomeError &&
        e.message.includes("sealed with a key from AUTHSOME_MASTER_KEY"),
    );
    assert.equal(await Deno.readTextFile(path), original);
  } finally {
    store.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a migration interrupted after its commit finishes on the next run without loss", async () => {
  const home = await goldenHome();
  const path = join(home, "vaults", "default.json");
  const saved = await Deno.readTextFile(path);
  const master = await golden();
  let store = openHomeStore(home);
  try {
    // First run: migrated and a connection added; then the old file "comes back", as if the
    // process had been killed between the commit and the removal.
    const vault = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(master),
    });
    await vault.update((tx) => tx.set("connection/openai/new", { status: "connected" }));
    await vault.update((tx) => tx.set("provider/openai", { default_connection: "new" }));
    store.close();
    await Deno.writeTextFile(path, saved);
    store = openHomeStore(home);
    const again = openHomeVault({
      home,
      store,
      name: "default",
      masterKey: () => Promise.resolve(master),
    });
    assert.deepEqual(
      await again.get("provider/openai"),
      { default_connection: "new" },
      "the store wins",
    );
    assert.equal((await again.keys("connection/")).length, 4);
    assert.equal(await exists(path), false);
  } finally {
    store.close();
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("a home made by the previous CLI (two vaults, key file) migrates each vault on first use", async () => {
  const home = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(home, "vaults"), { recursive: true });
    for (const file of ["master.key", "vaults/default.json", "vaults/team.json"]) {
      await Deno.copyFile(fixture(`home_v1/${file}`), join(home, file));
      await Deno.chmod(join(home, file), 0o600);
    }
    const store = openHomeStore(home);
    const masterKey = () => loadMasterKey({ home }, { create: false });
    try {
      assert.deepEqual(await listHomeVaults(home, store), ["default", "team"]);
      const team = openHomeVault({ home, store, name: "team", masterKey });
      const ci = await team.get<{ secrets: { api_key: string } }>("connection/anthropic/ci");
      assert.equal(ci?.secrets.api_key, "sk-ant-test4444444444444444444dddd");
      assert.equal(await exists(join(home, "vaults", "team.json")), false);
      assert.equal(await exists(join(home, "vaults", "default.json")), true, "only when used");
      const vault = openHomeVault({ home, store, name: "default", masterKey });
      assert.deepEqual(await vault.get("provider/openai"), { default_connection: "work" });
      assert.ok((await vault.keys("proxy/")).includes("proxy/ca"));
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("v1 file: damaged, foreign and future files are refused with a reason", () => {
  const cases: Array<[string, string]> = [
    ['{"format": "authsome-vault", "ver', "not valid JSON"],
    ['{"format": "other"}', "not an authsome vault"],
    ['{"format": "authsome-vault", "version": 99}', "format version 99 is not supported"],
    ['{"format": "authsome-vault", "version": 1, "vault": "work"}', 'belongs to vault "work"'],
  ];
  for (const [text, reason] of cases) {
    assert.throws(
      () => parseVaultFile(text, "default"),
      (e: unknown) => e instanceof AuthsomeError && e.exitCode === 10 && e.message.includes(reason),
      reason,
    );
  }
});
