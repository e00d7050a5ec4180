/**
 * The contract every {@linkcode Store} implementation passes (see the guarantees in store.ts).
 * `store_contract_test.ts` runs it over the embedded and the in-memory store; a new
 * implementation adds one line there.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Sealed } from "./crypto.ts";
import type { Store, VaultHeader } from "./store.ts";

/** Opens stores for the contract: `open()` gives a new handle on one shared, initially empty store. */
export interface StoreFixture {
  /** A new handle on the fixture's store (like another process would open it). */
  open(): Store;
  /** Removes what the fixture created. */
  cleanup(): Promise<void>;
}

const sealed = (n: number): Sealed => ({ nonce: `bm9uY2U${n}`, ciphertext: `Y2lwaGVy${n}` });
const header = (name: string, keyId = "k1"): VaultHeader => ({
  name,
  keySource: "env",
  keyId,
  dataKey: { nonce: "bm9uY2U=", ciphertext: `d3JhcHBlZA==${keyId}` },
});

/**
 * Registers the contract tests for one implementation.
 *
 * @example
 * ```ts ignore
 * testStoreContract("memory", () => { const s = createMemoryStore(); return { open: () => s, cleanup: async () => {} }; });
 * ```
 */
export function testStoreContract(kind: string, fixture: () => Promise<StoreFixture>): void {
  const using = (name: string, fn: (f: StoreFixture) => Promise<void>) =>
    Deno.test(`${kind} store: ${name}`, async () => {
      const f = await fixture();
      try {
        await fn(f);
      } finally {
        await f.cleanup();
      }
    });

  using("a new store is empty", async (f) => {
    const store = f.open();
    assert.deepEqual(await store.vaults(), []);
    assert.equal(await store.header("default"), undefined);
    assert.equal(await store.get("default", "provider/openai"), undefined);
    assert.deepEqual(await store.keys("default", ""), []);
    store.close();
  });

  using("a commit is seen by another handle, records keep their bytes", async (f) => {
    const a = f.open();
    await a.transaction((tx) => {
      tx.putHeader(header("default"));
      tx.put("default", "connection/openai/work", sealed(1));
      tx.put("default", "provider/openai", sealed(2));
    });
    const b = f.open();
    assert.deepEqual(await b.vaults(), ["default"]);
    assert.deepEqual(await b.header("default"), header("default"));
    assert.deepEqual(await b.get("default", "connection/openai/work"), sealed(1));
    assert.deepEqual(await b.keys("default", "connection/"), ["connection/openai/work"]);
    a.close();
    b.close();
  });

  using("a transaction that throws commits none of its writes", async (f) => {
    const store = f.open();
    await store.transaction((tx) => {
      tx.putHeader(header("default"));
      tx.put("default", "a", sealed(1));
    });
    await assert.rejects(
      store.transaction(async (tx) => {
        tx.put("default", "a", sealed(9));
        tx.put("default", "b", sealed(9));
        tx.delete("default", "a");
        await Promise.resolve();
        throw new Error("stop");
      }),
      /stop/,
    );
    assert.deepEqual(await store.get("default", "a"), sealed(1));
    assert.equal(await store.get("default", "b"), undefined);
    store.close();
  });

  using("a transaction reads its own writes and deletes", async (f) => {
    const store = f.open();
    await store.transaction(async (tx) => {
      tx.putHeader(header("v"));
      tx.put("v", "x/1", sealed(1));
      tx.put("v", "x/2", sealed(2));
      assert.deepEqual(await tx.header("v"), header("v"));
      assert.deepEqual(await tx.get("v", "x/1"), sealed(1));
      tx.delete("v", "x/1");
      assert.equal(await tx.get("v", "x/1"), undefined);
      assert.deepEqual(await tx.keys("v", "x/"), ["x/2"]);
    });
    assert.deepEqual(await store.keys("v", ""), ["x/2"]);
    store.close();
  });

  using(
    "a transaction's reads combine committed records with its own writes, per vault and prefix",
    async (f) => {
      const store = f.open();
      await store.transaction((tx) => {
        tx.putHeader(header("v"));
        tx.putHeader(header("w"));
        for (const key of ["x/1", "x/3", "y/1"]) tx.put("v", key, sealed(1));
        tx.put("w", "x/9", sealed(9));
      });
      await store.transaction(async (tx) => {
        tx.put("v", "x/0", sealed(0));
        tx.delete("v", "x/3");
        tx.put("w", "x/5", sealed(5));
        tx.put("v", "z/1", sealed(1));
        assert.deepEqual(await tx.keys("v", "x/"), ["x/0", "x/1"]);
        assert.deepEqual(await tx.keys("w", "x/"), ["x/5", "x/9"]);
        assert.deepEqual(await tx.keys("v", ""), ["x/0", "x/1", "y/1", "z/1"]);
        assert.equal(await tx.get("v", "x/3"), undefined, "deleted in this transaction");
        assert.deepEqual(await tx.get("v", "x/1"), sealed(1), "committed before");
        assert.equal(await tx.get("w", "x/0"), undefined, "written to the other vault only");
        assert.equal(await tx.header("none"), undefined, "a vault that does not exist");
      });
      assert.deepEqual(await store.keys("v", ""), ["x/0", "x/1", "y/1", "z/1"]);
      assert.deepEqual(await store.keys("w", ""), ["x/5", "x/9"]);
      assert.equal(await store.header("none"), undefined, "no header for a vault never created");
      // A transaction that throws leaves the handle usable.
      await assert.rejects(store.transaction(() => Promise.reject(new Error("no"))), /no/);
      await store.transaction((tx) => tx.delete("v", "y/1"));
      assert.deepEqual(await store.keys("v", "y/"), []);
      store.close();
    },
  );

  using("keys are listed by prefix, sorted, and only of their vault", async (f) => {
    const store = f.open();
    await store.transaction((tx) => {
      tx.putHeader(header("a"));
      tx.putHeader(header("b"));
      for (
        const key of [
          "connection/z/1",
          "connection/a/2",
          "connection0",
          "provider/a",
          "connection/a/10",
        ]
      ) {
        tx.put("a", key, sealed(1));
      }
      tx.put("b", "connection/b/1", sealed(1));
    });
    assert.deepEqual(await store.keys("a", "connection/"), [
      "connection/a/10",
      "connection/a/2",
      "connection/z/1",
    ]);
    assert.deepEqual(await store.keys("a", "connection/a/"), ["connection/a/10", "connection/a/2"]);
    assert.equal((await store.keys("a", "")).length, 5);
    assert.deepEqual(await store.keys("b", ""), ["connection/b/1"]);
    assert.equal(await store.get("b", "provider/a"), undefined);
    store.close();
  });

  using("a header can be replaced and the records stay", async (f) => {
    const store = f.open();
    await store.transaction((tx) => {
      tx.putHeader(header("v", "k1"));
      tx.put("v", "r", sealed(1));
    });
    await store.transaction((tx) => tx.putHeader(header("v", "k2")));
    assert.equal((await store.header("v"))?.keyId, "k2");
    assert.deepEqual(await store.get("v", "r"), sealed(1));
    store.close();
  });

  using("concurrent read-modify-write transactions on two handles lose no update", async (f) => {
    const a = f.open();
    const b = f.open();
    await a.transaction((tx) => {
      tx.putHeader(header("v"));
      tx.put("v", "n", { nonce: "0", ciphertext: "0" });
    });
    const increment = (store: Store) =>
      store.transaction(async (tx) => {
        const n = Number((await tx.get("v", "n"))!.ciphertext);
        await new Promise((resolve) => setTimeout(resolve, 1));
        tx.put("v", "n", { nonce: "0", ciphertext: String(n + 1) });
      });
    await Promise.all(Array.from({ length: 20 }, (_, i) => increment(i % 2 ? a : b)));
    assert.equal((await a.get("v", "n"))!.ciphertext, "20");
    a.close();
    b.close();
  });

  using("a named lock excludes its name on every handle and no other name", async (f) => {
    const a = f.open();
    const b = f.open();
    const events: string[] = [];
    let waited = false;
    let releaseFirst = () => {};
    const held = new Promise<void>((resolve) => releaseFirst = resolve);
    const first = a.withLock("default/refresh/acme/work", async () => {
      events.push("first in");
      await held;
      events.push("first out");
    });
    // The first holder is in (a server store needs a connection first) before the second asks.
    while (!events.includes("first in")) await new Promise((resolve) => setTimeout(resolve, 10));
    const second = b.withLock("default/refresh/acme/work", () => {
      events.push("second in");
      return Promise.resolve();
    }, { onWait: () => waited = true, noticeAfterMs: 100 });
    // Another name is not blocked by the held lock.
    await b.withLock("default/refresh/acme/other", () => {
      events.push("other");
      return Promise.resolve();
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    releaseFirst();
    await Promise.all([first, second]);
    assert.deepEqual(events, ["first in", "other", "first out", "second in"]);
    assert.equal(waited, true, "the waiting holder was told it waits");
    a.close();
    b.close();
  });

  using(
    "a wait for a held lock says so after noticeAfterMs, gives up after timeoutMs, and the lock stays usable",
    async (f) => {
      const a = f.open();
      const b = f.open();
      let release = () => {};
      const held = new Promise<void>((resolve) => release = resolve);
      const first = a.withLock("default/refresh/acme/work", () => held);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const events: string[] = [];
      const started = performance.now();
      await assert.rejects(
        b.withLock("default/refresh/acme/work", () => {
          events.push("ran");
          return Promise.resolve();
        }, {
          onWait: () => events.push(`told after ${performance.now() - started >= 100}`),
          noticeAfterMs: 100,
          timeoutMs: 300,
          holder: "refreshing acme (work)",
        }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "VAULT_UNAVAILABLE");
          assert.equal(
            error.message,
            "Gave up after 0.3 s waiting for another authsome process that is refreshing acme (work)",
          );
          return true;
        },
      );
      const waited = performance.now() - started;
      assert.ok(waited >= 290 && waited < 2000, `gave up after the timeout (${waited} ms)`);
      assert.deepEqual(events, ["told after true"], "told once, after the notice time; fn not run");
      // A wait that is not told before the lock is free says nothing.
      const quiet: string[] = [];
      const second = b.withLock("default/refresh/acme/work", () => {
        quiet.push("ran");
        return Promise.resolve();
      }, { onWait: () => quiet.push("told"), noticeAfterMs: 5_000, timeoutMs: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      release();
      await Promise.all([first, second]);
      assert.deepEqual(quiet, ["ran"]);
      assert.equal(await b.withLock("default/refresh/acme/work", () => Promise.resolve(7)), 7);
      a.close();
      b.close();
    },
  );

  using("a lock is released when its function throws", async (f) => {
    const store = f.open();
    await assert.rejects(store.withLock("x", () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await store.withLock("x", () => Promise.resolve(1)), 1);
    store.close();
  });
}
