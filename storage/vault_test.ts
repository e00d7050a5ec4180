import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { importAesKey, randomBytes } from "./crypto.ts";
import type { MasterKey } from "./master_key.ts";
import { createMemoryStore } from "./memory_store.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import type { Store } from "./store.ts";
import { INDEX_BUCKETS, indexKeyOf, keySourceName, openVault, type Vault } from "./vault.ts";

async function masterKey(source: MasterKey["source"] = "env"): Promise<MasterKey> {
  return { source, key: await importAesKey(randomBytes(32)) };
}

const summarize = (key: string, value: unknown) =>
  key.startsWith("connection/") ? { status: (value as { status?: string }).status } : undefined;

interface Fixture {
  store: Store;
  open(name?: string, master?: MasterKey): Vault;
}

const kinds: Array<[string, (fn: (f: Fixture) => Promise<void>) => Promise<void>]> = [
  ["memory", async (fn) => {
    const store = createMemoryStore();
    const master = await masterKey();
    await fn({
      store,
      open: (name = "default", m = master) =>
        openVault({ store, name, masterKey: () => Promise.resolve(m), summarize }),
    });
  }],
  ["sqlite", async (fn) => {
    const dir = await Deno.makeTempDir();
    const store = openSqliteStore({ path: `${dir}/authsome.db`, lockDir: `${dir}/locks` });
    const master = await masterKey();
    try {
      await fn({
        store,
        open: (name = "default", m = master) =>
          openVault({ store, name, masterKey: () => Promise.resolve(m), summarize }),
      });
    } finally {
      store.close();
      await Deno.remove(dir, { recursive: true });
    }
  }],
];

const isVaultError = (text: string) => (e: unknown) =>
  e instanceof AuthsomeError && e.exitCode === 10 && e.message.includes(text);

for (const [kind, using] of kinds) {
  Deno.test(`${kind} vault: an empty vault reads as empty and does not exist`, () =>
    using(async ({ open }) => {
      const vault = open();
      assert.deepEqual(await vault.keys(), []);
      assert.equal(await vault.get("connection/a/b"), undefined);
      assert.equal(await vault.exists(), false);
      assert.deepEqual(await vault.summaries("connection/a"), new Map());
    }));

  Deno.test(`${kind} vault: committed changes are seen by a reopened vault`, () =>
    using(async ({ open }) => {
      await open().update((tx) => {
        tx.set("connection/openai/default", { status: "connected", n: 1 });
        tx.set("provider/openai", { default_connection: "default" });
      });
      const again = open();
      assert.deepEqual(await again.get("connection/openai/default"), { status: "connected", n: 1 });
      assert.deepEqual(await again.keys("connection/"), ["connection/openai/default"]);
      assert.equal(await again.exists(), true);
    }));

  Deno.test(`${kind} vault: a failing transaction commits nothing`, () =>
    using(async ({ open }) => {
      const vault = open();
      await vault.update((tx) => tx.set("connection/a/one", { status: "connected" }));
      await assert.rejects(
        vault.update((tx) => {
          tx.set("connection/a/two", { status: "connected" });
          tx.delete("connection/a/one");
          throw new Error("stop");
        }),
        /stop/,
      );
      assert.deepEqual(await vault.keys(), ["connection/a/one", indexKeyOf("connection/a/one")]);
      assert.deepEqual([...(await vault.summaries("connection/a")).keys()], ["one"]);
    }));

  Deno.test(`${kind} vault: summaries follow every set and delete, in the same commit`, () =>
    using(async ({ open }) => {
      const vault = open();
      await vault.update((tx) => {
        for (let i = 0; i < 40; i++) tx.set(`connection/p/c${i}`, { status: "connected", i });
        tx.set("connection/q/x", { status: "expired" });
        tx.set("provider/p", { default_connection: "c0" });
      });
      await vault.update((tx) => {
        tx.set("connection/p/c3", { status: "revoked" });
        tx.delete("connection/p/c4");
      });
      const p = await vault.summaries<{ status: string }>("connection/p");
      assert.equal(p.size, 39);
      assert.equal(p.get("c3")?.status, "revoked");
      assert.equal(p.has("c4"), false);
      assert.deepEqual([...p.keys()], [...p.keys()].sort());
      assert.deepEqual([...(await vault.summaries("connection/q")).entries()], [["x", {
        status: "expired",
      }]]);
      // Spread over buckets, so one login does not re-seal the whole provider's index.
      const buckets = await vault.keys("index/connection/p/");
      assert.ok(buckets.length > 1 && buckets.length <= INDEX_BUCKETS, buckets.join());
      await vault.update(async (tx) => {
        for (const key of await tx.keys("connection/p/")) tx.delete(key);
      });
      assert.deepEqual(await vault.keys("index/connection/p/"), [], "empty indexes are removed");
    }));

  Deno.test(`${kind} vault: two vaults in one store never see each other's records`, () =>
    using(async ({ open }) => {
      await open("a").update((tx) => tx.set("connection/p/c", { status: "connected", v: "a" }));
      await open("b").update((tx) => tx.set("connection/p/c", { status: "connected", v: "b" }));
      assert.deepEqual(await open("a").get("connection/p/c"), { status: "connected", v: "a" });
      assert.deepEqual(await open("b").get("connection/p/c"), { status: "connected", v: "b" });
    }));

  Deno.test(`${kind} vault: a changed byte, a moved record or a foreign record does not open`, () =>
    using(async ({ store, open }) => {
      await open("a").update((tx) => {
        tx.set("connection/p/one", { status: "connected", secrets: { api_key: "k1" } });
        tx.set("connection/p/two", { status: "connected", secrets: { api_key: "k2" } });
      });
      await open("b").update((tx) => tx.set("connection/p/one", { status: "connected" }));
      const one = (await store.get("a", "connection/p/one"))!;
      const two = (await store.get("a", "connection/p/two"))!;
      const flipped = Uint8Array.fromBase64(one.ciphertext);
      flipped[3]! ^= 1;
      const cases: Array<[string, string, { nonce: string; ciphertext: string }]> = [
        ["a", "connection/p/one", { ...one, ciphertext: flipped.toBase64() }],
        ["a", "connection/p/one", two], // record moved to another key
        ["b", "connection/p/one", one], // record copied to another vault
      ];
      for (const [vault, key, sealed] of cases) {
        const original = (await store.get(vault, key))!;
        await store.transaction((tx) => tx.put(vault, key, sealed));
        await assert.rejects(
          open(vault).get(key),
          isVaultError("the key does not match or the data was changed"),
        );
        await store.transaction((tx) => tx.put(vault, key, original));
      }
      // A tampered index makes listing fail too, rather than show what an attacker wrote.
      const indexKey = indexKeyOf("connection/p/one");
      const index = (await store.get("a", indexKey))!;
      await store.transaction(async (tx) =>
        tx.put("a", indexKey, {
          ...index,
          nonce: (await store.get("a", "connection/p/two"))!.nonce,
        })
      );
      await assert.rejects(open("a").summaries("connection/p"), isVaultError("does not match"));
    }));

  Deno.test(`${kind} vault: the wrong master key is refused, naming the key source`, () =>
    using(async ({ open }) => {
      await open("v").update((tx) => tx.set("k/1", 1));
      await assert.rejects(
        open("v", await masterKey("env")).get("k/1"),
        isVaultError("the key does not match"),
      );
      await assert.rejects(
        open("v", await masterKey("file")).get("k/1"),
        isVaultError(
          "sealed with a key from AUTHSOME_MASTER_KEY, but the current key comes from the key file",
        ),
      );
    }));

  Deno.test(`${kind} vault: a long-lived handle sees writes made through another handle`, () =>
    using(async ({ open }) => {
      const reader = open();
      await reader.get("connection/openai/default");
      await open().update((tx) => tx.set("connection/openai/default", { v: 1 }));
      assert.deepEqual(await reader.get("connection/openai/default"), { v: 1 });
      await open().update((tx) => tx.set("connection/openai/default", { v: 2 }));
      assert.deepEqual(await reader.get("connection/openai/default"), { v: 2 });
      assert.deepEqual(await reader.summaries("connection/openai"), new Map([["default", {}]]));
    }));
}

Deno.test("index buckets are FNV-1a of the member name, mod 16 (the documented layout)", () => {
  assert.equal(indexKeyOf("connection/openai/work"), "index/connection/openai/0");
  assert.equal(indexKeyOf("connection/openai/default"), "index/connection/openai/e");
  assert.equal(indexKeyOf("connection/ahrefs/c5"), "index/connection/ahrefs/5");
  assert.equal(indexKeyOf("connection/x/a"), "index/connection/x/c");
});

Deno.test("a transaction's keys() shows its own sets and deletes, sorted; only summarized records are indexed", async () => {
  const store = createMemoryStore();
  const master = await masterKey();
  const vault = openVault({
    store,
    name: "v",
    masterKey: () => Promise.resolve(master),
    summarize,
  });
  await vault.update((tx) => {
    tx.set("connection/p/b", { status: "connected" });
    tx.set("connection/p/d", { status: "connected" });
  });
  await vault.update(async (tx) => {
    tx.set("connection/p/c", { status: "connected" });
    tx.set("connection/p/a", { status: "connected" });
    tx.delete("connection/p/d");
    tx.set("other/x", 1);
    assert.deepEqual(await tx.keys("connection/p/"), [
      "connection/p/a",
      "connection/p/b",
      "connection/p/c",
    ]);
    assert.equal(await tx.get("connection/p/d"), undefined);
  });
  assert.deepEqual([...(await vault.summaries("connection/p")).keys()], ["a", "b", "c"]);
  assert.deepEqual(await vault.keys("index/other"), [], "not summarized, not indexed");
  assert.deepEqual(await vault.keys("index/index"), [], "no index of an index");
});

Deno.test("a failed prepare step (e.g. a migration) is tried again on the next use", async () => {
  const store = createMemoryStore();
  const master = await masterKey();
  let calls = 0;
  const vault = openVault({
    store,
    name: "v",
    masterKey: () => Promise.resolve(master),
    prepare: () => ++calls === 1 ? Promise.reject(new Error("not yet")) : Promise.resolve(),
  });
  await assert.rejects(vault.get("k/1"), /not yet/);
  assert.equal(await vault.get("k/1"), undefined);
  await vault.keys();
  assert.equal(calls, 2, "prepared once it succeeded");
});

// ---- each rule of the vault, one by one ------------------------------------------------------

/** A memory store and a vault "v" over it whose master key records each `create` it was asked for. */
async function recordingVault() {
  const store = createMemoryStore();
  const master = await masterKey();
  const asked: boolean[] = [];
  const vault = openVault({
    store,
    name: "v",
    masterKey: (create) => {
      asked.push(create);
      return Promise.resolve(master);
    },
    summarize,
  });
  return { store, master, asked, vault };
}

Deno.test("the master key is asked for with create only when a vault is created, and unwrapped once", async () => {
  const { asked, vault } = await recordingVault();
  assert.equal(await vault.get("connection/p/a"), undefined);
  await vault.update(() => {});
  assert.deepEqual(asked, [], "reading or an empty update of a missing vault needs no key");
  assert.equal(await vault.exists(), false, "an update without changes creates nothing");
  await vault.update((tx) => tx.set("connection/p/a", { status: "connected" }));
  assert.deepEqual(asked, [true, false], "created, then its data key unwrapped");
  for (let i = 0; i < 3; i++) await vault.get("connection/p/a");
  await vault.update((tx) => tx.set("connection/p/b", { status: "connected" }));
  assert.deepEqual(asked, [true, false], "the data key is unwrapped once");
});

Deno.test("a data key that failed to unwrap is tried again, not remembered", async () => {
  const store = createMemoryStore();
  const master = await masterKey();
  await openVault({ store, name: "v", masterKey: () => Promise.resolve(master) })
    .update((tx) => tx.set("k/1", 1));
  let available = false;
  const vault = openVault({
    store,
    name: "v",
    masterKey: () => available ? Promise.resolve(master) : Promise.reject(new Error("locked")),
  });
  await assert.rejects(vault.get("k/1"), /locked/);
  available = true;
  assert.equal(await vault.get("k/1"), 1);
});

Deno.test("a vault replaced under an open handle (restored from a backup) is read with its new key", async () => {
  const master = await masterKey();
  const first = createMemoryStore();
  const second = createMemoryStore();
  for (const [store, value] of [[first, "old"], [second, "new"]] as const) {
    await openVault({ store, name: "v", masterKey: () => Promise.resolve(master) })
      .update((tx) => tx.set("k/1", value));
  }
  let current: Store = first;
  const switching = new Proxy({} as Store, {
    get: (_, prop) => {
      const value = (current as unknown as Record<string | symbol, unknown>)[prop];
      return typeof value === "function" ? value.bind(current) : value;
    },
  });
  const vault = openVault({
    store: switching,
    name: "v",
    masterKey: () => Promise.resolve(master),
  });
  assert.equal(await vault.get("k/1"), "old");
  current = second;
  assert.equal(await vault.get("k/1"), "new");
});

Deno.test("records without a header are refused (exit 10), not read with some other key", async () => {
  const { store, vault } = await recordingVault();
  await vault.update((tx) => tx.set("k/1", 1));
  const headless: Store = Object.assign(Object.create(store), {
    header: () => Promise.resolve(undefined),
  });
  const broken = openVault({ store: headless, name: "v", masterKey: () => masterKey() });
  await assert.rejects(broken.get("k/1"), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(e.exitCode, 10);
    assert.equal(e.message, 'Vault "v" has records but no header');
    assert.match(e.hint ?? "", /restore it from a backup/);
    return true;
  });
});

Deno.test("inside an update, get sees stored records and the update's own writes; a deleted record is gone", async () => {
  const { vault } = await recordingVault();
  await vault.update((tx) => tx.set("connection/p/a", { status: "connected" }));
  await vault.update(async (tx) => {
    assert.deepEqual(await tx.get("connection/p/a"), { status: "connected" });
    tx.set("connection/p/a", { status: "expired" });
    assert.deepEqual(await tx.get("connection/p/a"), { status: "expired" });
    tx.delete("connection/p/a");
    assert.equal(await tx.get("connection/p/a"), undefined);
  });
  assert.equal(await vault.get("connection/p/a"), undefined);
  assert.deepEqual(await vault.keys(), [], "the record and its index bucket are gone");
});

Deno.test("only records in a collection are indexed; a record that stops having a summary leaves its bucket", async () => {
  const store = createMemoryStore();
  const master = await masterKey();
  const vault = openVault({
    store,
    name: "v",
    masterKey: () => Promise.resolve(master),
    summarize: (key, value) => (value as { hidden?: boolean }).hidden ? undefined : { key, value },
  });
  await vault.update((tx) => {
    tx.set("top", { a: 1 });
    tx.set("index/x/0", { a: 1 });
    tx.set("c/one", { a: 1 });
  });
  assert.deepEqual(await vault.keys(), ["c/one", indexKeyOf("c/one"), "index/x/0", "top"]);
  assert.deepEqual([...(await vault.summaries("c")).keys()], ["one"]);
  await vault.update((tx) => tx.set("c/one", { hidden: true }));
  assert.deepEqual(await vault.summaries("c"), new Map());
  assert.deepEqual(await vault.keys("index/c/"), [], "an empty bucket is removed");
});

Deno.test("locks are per vault and per name: another name or vault is not blocked", async () => {
  const store = createMemoryStore();
  const master = await masterKey();
  const open = (name: string) =>
    openVault({ store, name, masterKey: () => Promise.resolve(master) });
  const [a, b] = [open("a"), open("b")];
  const inner = await a.withLock(
    "refresh",
    () => a.withLock("other", () => b.withLock("refresh", () => Promise.resolve("inner"))),
  );
  assert.equal(inner, "inner");
});

Deno.test("what a person reads when a vault cannot be opened names the vault and the key source", async () => {
  const store = createMemoryStore();
  const fileKey = await masterKey("file");
  await openVault({ store, name: "work", masterKey: () => Promise.resolve(fileKey) })
    .update((tx) => tx.set("k/1", 1));
  const sameSource = openVault({ store, name: "work", masterKey: () => masterKey("file") });
  await assert.rejects(
    sameSource.get("k/1"),
    isVaultError('Cannot open vault "work": the key does not match'),
  );
  const otherSource = openVault({ store, name: "work", masterKey: () => masterKey("env") });
  await assert.rejects(otherSource.get("k/1"), (e: unknown) => {
    assert.ok(e instanceof AuthsomeError);
    assert.equal(
      e.message,
      'Cannot open vault "work": it was sealed with a key from the key file, but the current key comes from AUTHSOME_MASTER_KEY',
    );
    assert.equal(
      e.hint,
      "Provide the same master key that created the vault (see authsome whoami)",
    );
    return true;
  });
  assert.deepEqual(
    (["env", "passphrase", "file"] as const).map(keySourceName),
    ["AUTHSOME_MASTER_KEY", "AUTHSOME_PASSPHRASE", "the key file"],
  );
});

Deno.test("a record moved to another key is refused naming that record and its vault", async () => {
  const { store, vault } = await recordingVault();
  await vault.update((tx) => {
    tx.set("k/1", "one");
    tx.set("k/2", "two");
  });
  const moved = await store.get("v", "k/1");
  await store.transaction((tx) => tx.put("v", "k/2", moved!));
  await assert.rejects(
    vault.get("k/2"),
    isVaultError('Cannot open record "k/2" of vault "v": the key does not match'),
  );
  assert.equal(await vault.get("k/1"), "one");
});
