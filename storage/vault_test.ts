import assert from "node:assert/strict";
import { join } from "node:path";
import { AuthsomeError } from "../errors.ts";
import { importAesKey, randomBytes } from "./crypto.ts";
import type { MasterKey } from "./master_key.ts";
import { createMemoryVault, openFileVault, parseVaultFile, type Vault } from "./vault.ts";

const GOLDEN_KEY = new Uint8Array(Array.from({ length: 32 }, (_, i) => i));

async function keyOf(raw: Uint8Array<ArrayBuffer>): Promise<MasterKey> {
  return { source: "env", key: await importAesKey(raw) };
}

async function withFileVault(fn: (open: () => Vault, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const master = await keyOf(randomBytes(32));
    await fn(
      () => openFileVault({ home: dir, name: "default", masterKey: () => Promise.resolve(master) }),
      dir,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// One contract, two implementations (memory and file), as aws-vault does for its keyrings.
const implementations: Array<
  [string, (fn: (open: () => Vault) => Promise<void>) => Promise<void>]
> = [
  ["memory", async (fn) => {
    const vault = createMemoryVault("default");
    await fn(() => vault);
  }],
  ["file", (fn) => withFileVault((open) => fn(open))],
];

for (const [kind, using] of implementations) {
  Deno.test(`${kind} vault: an empty vault reads as empty and does not exist`, () =>
    using(async (open) => {
      const vault = open();
      assert.deepEqual(await vault.keys(), []);
      assert.equal(await vault.get("connection/a/b"), undefined);
      assert.equal(await vault.exists(), false);
    }));

  Deno.test(`${kind} vault: committed changes are seen by a reopened vault`, () =>
    using(async (open) => {
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
    using(async (open) => {
      await open().update((tx) => tx.set("a", 1));
      await assert.rejects(
        open().update((tx) => {
          tx.set("a", 2);
          tx.set("b", 3);
          throw new Error("boom");
        }),
      );
      const v = open();
      assert.equal(await v.get("a"), 1);
      assert.equal(await v.get("b"), undefined);
    }));

  Deno.test(`${kind} vault: a transaction sees its own writes and deletes`, () =>
    using(async (open) => {
      await open().update((tx) => tx.set("x/1", "one"));
      await open().update(async (tx) => {
        tx.set("x/2", "two");
        tx.delete("x/1");
        assert.deepEqual(await tx.keys("x/"), ["x/2"]);
        assert.equal(await tx.get("x/1"), undefined);
      });
      assert.deepEqual(await open().keys("x/"), ["x/2"]);
    }));

  Deno.test(`${kind} vault: values are copies, not shared references`, () =>
    using(async (open) => {
      const value = { list: [1] };
      await open().update((tx) => tx.set("k", value));
      value.list.push(2);
      const read = await open().get<{ list: number[] }>("k");
      assert.deepEqual(read, { list: [1] });
    }));

  Deno.test(`${kind} vault: parallel updates in one process lose nothing`, () =>
    using(async (open) => {
      const vault = open();
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          vault.update(async (tx) => {
            const n = (await tx.get<number>("count")) ?? 0;
            tx.set("count", n + 1);
            tx.set(`item/${i}`, i);
          })),
      );
      assert.equal(await open().get("count"), 10);
      assert.equal((await open().keys("item/")).length, 10);
    }));
}

Deno.test("file vault: records are sealed, with a fresh nonce per write", () =>
  withFileVault(async (open, dir) => {
    await open().update((tx) => tx.set("connection/openai/default", { api_key: "sk-plain-123" }));
    const first = await Deno.readTextFile(join(dir, "vaults", "default.json"));
    assert.ok(!first.includes("sk-plain-123"));
    await open().update((tx) => tx.set("connection/openai/default", { api_key: "sk-plain-123" }));
    const second = await Deno.readTextFile(join(dir, "vaults", "default.json"));
    const nonce = (t: string) => JSON.parse(t).records["connection/openai/default"].nonce;
    assert.notEqual(nonce(first), nonce(second));
  }));

Deno.test("file vault: a record moved to another name does not open", () =>
  withFileVault(async (open, dir) => {
    await open().update((tx) => tx.set("connection/openai/default", { api_key: "k" }));
    const path = join(dir, "vaults", "default.json");
    const doc = JSON.parse(await Deno.readTextFile(path));
    doc.records["connection/openai/stolen"] = doc.records["connection/openai/default"];
    await Deno.writeTextFile(path, JSON.stringify(doc));
    await assert.rejects(
      open().get("connection/openai/stolen"),
      (e: unknown) => e instanceof AuthsomeError && e.code === "VAULT_UNAVAILABLE",
    );
  }));

Deno.test("file vault: the wrong master key is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await keyOf(randomBytes(32));
    const b = await keyOf(randomBytes(32));
    await openFileVault({ home: dir, name: "v", masterKey: () => Promise.resolve(a) })
      .update((tx) => tx.set("k", 1));
    const wrong = openFileVault({ home: dir, name: "v", masterKey: () => Promise.resolve(b) });
    await assert.rejects(
      wrong.get("k"),
      (e: unknown) =>
        e instanceof AuthsomeError && e.code === "VAULT_UNAVAILABLE" &&
        e.message.includes("the key does not match"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vault file: damaged, foreign and future files are refused with a reason", () => {
  const cases: Array<[string, string]> = [
    ['{"format": "authsome-vault", "ver', "not valid JSON"],
    ['{"format": "other"}', "not an authsome vault"],
    ['{"format": "authsome-vault", "version": 99}', "format version 99 is not supported"],
    [
      '{"format": "authsome-vault", "version": 1, "vault": "work"}',
      'belongs to vault "work"',
    ],
  ];
  for (const [text, reason] of cases) {
    assert.throws(
      () => parseVaultFile(text, "default"),
      (e: unknown) => e instanceof AuthsomeError && e.exitCode === 10 && e.message.includes(reason),
      reason,
    );
  }
});

// The golden fixture was written by `./authsome login` with AUTHSOME_MASTER_KEY = bytes 0..31.
// If this test breaks, the on-disk format changed: bump the version and document it.
Deno.test("golden vault v1 decrypts to the known records", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "vaults"));
    await Deno.copyFile(
      new URL("../tests/fixtures/golden_vault_v1.json", import.meta.url),
      join(dir, "vaults", "default.json"),
    );
    const master = await keyOf(GOLDEN_KEY);
    const vault = openFileVault({
      home: dir,
      name: "default",
      masterKey: () => Promise.resolve(master),
    });
    assert.deepEqual(await vault.keys(), [
      "connection/openai/default",
      "connection/openai/work",
      "connection/resend/default",
      "provider/openai",
      "provider/resend",
    ]);
    const work = await vault.get<Record<string, unknown>>("connection/openai/work");
    assert.equal(work?.provider, "openai");
    assert.equal(work?.connection, "work");
    assert.equal(work?.status, "connected");
    assert.deepEqual(work?.secrets, { api_key: "sk-golden-work-11111111111111111111" });
    assert.deepEqual(await vault.get("provider/openai"), { default_connection: "default" });
    const resend = await vault.get<{ secrets: unknown }>("connection/resend/default");
    assert.deepEqual(resend?.secrets, { api_key: "re_golden_key" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file vault: a long-lived handle sees writes made by another process", () =>
  withFileVault(async (open) => {
    const reader = open();
    await open().update((tx) => tx.set("connection/openai/default", { v: 1 }));
    assert.deepEqual(await reader.get("connection/openai/default"), { v: 1 });
    await open().update((tx) => tx.set("connection/openai/default", { v: 2 }));
    assert.deepEqual(await reader.get("connection/openai/default"), { v: 2 });
    assert.deepEqual(await reader.keys("connection/"), ["connection/openai/default"]);
  }));
