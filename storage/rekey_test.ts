/**
 * The rekey mechanism against a real SQLite store and real files: the two states a killed rekey
 * can leave behind (side file written, transaction committed or not) are settled by the next
 * process to the one key that opens the store; a settle without a side file is one `stat`; a
 * key that does not open a header or a record stops the transaction before anything is written.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { importAesKey, randomBytes } from "./crypto.ts";
import { openHomeStore } from "./home.ts";
import { keyFileText, loadMasterKey, type MasterKey } from "./master_key.ts";
import {
  finishRekey,
  PENDING_REKEY_FILE,
  type PendingRekey,
  rekeyStore,
  settlePendingRekey,
  writePendingRekey,
} from "./rekey.ts";
import type { Store } from "./store.ts";
import { openVault } from "./vault.ts";

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

interface Home extends AsyncDisposable {
  home: string;
  store: Store;
  old: MasterKey;
}

/** A home with a key file and two vaults of two records each, sealed with that key. */
async function homeWithVaults(): Promise<Home> {
  const dir = await Deno.makeTempDir({ prefix: "authsome-rekey-" });
  const home = join(dir, "home");
  const store = openHomeStore(home);
  const old = await loadMasterKey({ home }, { create: true });
  for (const name of ["default", "team"]) {
    await openVault({ store, name, masterKey: () => Promise.resolve(old) }).update((tx) => {
      tx.set("connection/openai/default", { secrets: { api_key: `sk-${name}` } });
      tx.set("provider/openai", { default_connection: "default" });
    });
  }
  return {
    home,
    store,
    old,
    async [Symbol.asyncDispose]() {
      store.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function read(store: Store, master: MasterKey, name = "default") {
  return await openVault({ store, name, masterKey: () => Promise.resolve(master) })
    .get<{ secrets: { api_key: string } }>("connection/openai/default");
}

/** A new file key and the side file that would keep it. */
async function newFileKey(): Promise<{ master: MasterKey; text: string }> {
  const raw = randomBytes(32);
  return { master: { source: "file", key: await importAesKey(raw) }, text: keyFileText(raw) };
}

Deno.test("killed after the commit: the next process moves the new key in place; the old key opens nothing", async () => {
  await using h = await homeWithVaults();
  const next = await newFileKey();
  await Deno.writeTextFile(join(h.home, "stale.json"), "{}");
  let pending: PendingRekey | undefined;
  const resealed = await rekeyStore(h.store, {
    vaults: ["default", "team"],
    from: h.old,
    to: next.master,
    records: false,
    beforeCommit: async (commit) => {
      assert.equal(commit.vault, "default");
      pending = {
        version: 1,
        from: "file",
        to: "file",
        write: { file: "master.key", text: next.text },
        remove: ["stale.json"],
        commit,
      };
      await writePendingRekey(h.home, pending);
    },
  });
  assert.equal(resealed, 0);
  // Killed here: the headers are new, the key file is the old one, the side file is there.
  assert.equal((await Deno.stat(join(h.home, PENDING_REKEY_FILE))).mode! & 0o777, 0o600);
  assert.equal(await settlePendingRekey(h.home, h.store), "finished");
  assert.equal(await Deno.readTextFile(join(h.home, "master.key")), next.text);
  assert.equal(await exists(join(h.home, "stale.json")), false);
  assert.equal(await exists(join(h.home, PENDING_REKEY_FILE)), false);
  const now = await loadMasterKey({ home: h.home }, { create: false });
  assert.deepEqual(await read(h.store, now, "team"), { secrets: { api_key: "sk-team" } });
  await assert.rejects(read(h.store, h.old), /Cannot open vault "default"/);
  // Settling again (a second process, or a crash inside the first settle) changes nothing.
  await writePendingRekey(h.home, pending!);
  assert.equal(await settlePendingRekey(h.home, h.store), "finished");
  assert.equal(await Deno.readTextFile(join(h.home, "master.key")), next.text);
});

Deno.test("killed before the commit: the next process removes the side file and keeps the old key", async () => {
  await using h = await homeWithVaults();
  const next = await newFileKey();
  const keyFile = await Deno.readTextFile(join(h.home, "master.key"));
  await assert.rejects(
    rekeyStore(h.store, {
      vaults: ["default", "team"],
      from: h.old,
      to: next.master,
      records: true,
      beforeCommit: async (commit) => {
        await writePendingRekey(h.home, {
          version: 1,
          from: "file",
          to: "file",
          write: { file: "master.key", text: next.text },
          remove: [],
          commit,
        });
        throw new Error("killed"); // the transaction never commits
      },
    }),
    /killed/,
  );
  assert.equal(await settlePendingRekey(h.home, h.store), "discarded");
  assert.equal(await exists(join(h.home, PENDING_REKEY_FILE)), false);
  assert.equal(await Deno.readTextFile(join(h.home, "master.key")), keyFile);
  assert.deepEqual(await read(h.store, h.old), { secrets: { api_key: "sk-default" } });
  await assert.rejects(read(h.store, next.master), /Cannot open vault "default"/);
});

Deno.test("without a side file, settling is one stat: no lock is taken", async () => {
  await using h = await homeWithVaults();
  await Deno.remove(join(h.home, "locks"), { recursive: true }).catch(() => {});
  assert.equal(await settlePendingRekey(h.home, h.store), "none");
  assert.equal(await exists(join(h.home, "locks")), false);
});

Deno.test("a damaged side file is refused with exit 10 and kept", async () => {
  await using h = await homeWithVaults();
  const path = join(h.home, PENDING_REKEY_FILE);
  for (const text of ["{", JSON.stringify({ version: 2 }), JSON.stringify({ version: 1 })]) {
    await Deno.writeTextFile(path, text);
    await assert.rejects(settlePendingRekey(h.home, h.store), (e: unknown) => {
      assert.ok(e instanceof AuthsomeError);
      assert.equal(e.exitCode, 10);
      assert.equal(e.message, `The rekey file ${path} is damaged`);
      return true;
    });
    assert.equal(await Deno.readTextFile(path), text);
  }
});

Deno.test("--records: new data keys; a key or a record that does not open stops it before any write", async () => {
  await using h = await homeWithVaults();
  const next = await newFileKey();
  const headersBefore = await Promise.all(["default", "team"].map((v) => h.store.header(v)));
  let called = 0;
  const beforeCommit = () => {
    called++;
    return Promise.resolve();
  };
  const wrong: MasterKey = { source: "env", key: next.master.key };
  await assert.rejects(
    rekeyStore(h.store, {
      vaults: ["default"],
      from: wrong,
      to: next.master,
      records: false,
      beforeCommit,
    }),
    /sealed with a key from the key file, but the current key comes from AUTHSOME_MASTER_KEY/,
  );
  // A changed record byte in the second vault: the first vault's rewrite is not kept either.
  const sealed = (await h.store.get("team", "provider/openai"))!;
  const c = sealed.ciphertext;
  const flipped = { ...sealed, ciphertext: `${c[0] === "A" ? "B" : "A"}${c.slice(1)}` };
  await h.store.transaction((tx) => tx.put("team", "provider/openai", flipped));
  await assert.rejects(
    rekeyStore(h.store, {
      vaults: ["default", "team"],
      from: h.old,
      to: next.master,
      records: true,
      beforeCommit,
    }),
    /Cannot open record "provider\/openai" of vault "team"/,
  );
  assert.equal(called, 0);
  assert.deepEqual(
    await Promise.all(["default", "team"].map((v) => h.store.header(v))),
    headersBefore,
  );
  await h.store.transaction((tx) => tx.put("team", "provider/openai", sealed));
  assert.equal(
    await rekeyStore(h.store, {
      vaults: ["default", "team", "none"],
      from: h.old,
      to: next.master,
      records: true,
      beforeCommit,
    }),
    4,
  );
  const after = await Promise.all(["default", "team"].map((v) => h.store.header(v)));
  after.forEach((header, i) => {
    assert.notEqual(header!.keyId, headersBefore[i]!.keyId);
    assert.equal(header!.keySource, "file");
  });
  assert.deepEqual(await read(h.store, next.master, "team"), { secrets: { api_key: "sk-team" } });
  await assert.rejects(
    rekeyStore(h.store, {
      vaults: ["none"],
      from: h.old,
      to: next.master,
      records: false,
      beforeCommit,
    }),
    /There is no vault to rekey/,
  );
});

Deno.test("finishRekey can be repeated: what is gone stays gone", async () => {
  await using h = await homeWithVaults();
  const next = await newFileKey();
  const pending: PendingRekey = {
    version: 1,
    from: "passphrase",
    to: "file",
    write: { file: "master.key", text: next.text },
    remove: ["passphrase.json"],
    commit: { vault: "default", nonce: "x" },
  };
  await finishRekey(h.home, pending);
  await finishRekey(h.home, pending);
  assert.equal(await Deno.readTextFile(join(h.home, "master.key")), next.text);
});
