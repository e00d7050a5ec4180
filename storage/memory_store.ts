/**
 * A {@linkcode Store} kept in memory, with the same contract as the embedded one (within one
 * process): for tests and for embedding authsome where nothing may touch the disk.
 *
 * @module
 */
import type { Sealed } from "./crypto.ts";
import type { LockOptions, Store, StoreReader, StoreTransaction, VaultHeader } from "./store.ts";
import { compareKeys, lockTimeoutError, NOTICE_AFTER_MS } from "./store.ts";

/**
 * Creates an empty in-memory store.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * const store = createMemoryStore();
 * await store.transaction(async (tx) => {
 *   tx.putHeader({ name: "default", keySource: "env", keyId: "k1", dataKey: { nonce: "", ciphertext: "" } });
 *   tx.put("default", "provider/openai", { nonce: "bm9uY2U=", ciphertext: "c2VhbGVk" });
 * });
 * assert.deepEqual(await store.keys("default", "provider/"), ["provider/openai"]);
 * ```
 */
export function createMemoryStore(): Store {
  const headers = new Map<string, VaultHeader>();
  const records = new Map<string, Map<string, Sealed>>();
  const locks = new Map<string, Promise<unknown>>();
  let queue: Promise<unknown> = Promise.resolve();

  const committed: StoreReader = {
    header: (name) => Promise.resolve(copy(headers.get(name))),
    get: (vault, key) => Promise.resolve(copy(records.get(vault)?.get(key))),
    keys: (vault, prefix) =>
      Promise.resolve(
        [...(records.get(vault)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort(
          compareKeys,
        ),
      ),
  };

  const transaction = async <T>(fn: (tx: StoreTransaction) => Promise<T> | T): Promise<T> => {
    const newHeaders = new Map<string, VaultHeader>();
    const pending = new Map<string, Map<string, Sealed | null>>();
    const pendingOf = (vault: string) => {
      let map = pending.get(vault);
      if (map === undefined) pending.set(vault, map = new Map());
      return map;
    };
    const tx: StoreTransaction = {
      header: (name) => Promise.resolve(copy(newHeaders.get(name) ?? headers.get(name))),
      async get(vault, key) {
        const own = pending.get(vault)?.get(key);
        return own === null ? undefined : copy(own) ?? await committed.get(vault, key);
      },
      async keys(vault, prefix) {
        const all = new Set(await committed.keys(vault, prefix));
        for (const [key, sealed] of pending.get(vault) ?? []) {
          if (!key.startsWith(prefix)) continue;
          if (sealed === null) all.delete(key);
          else all.add(key);
        }
        return [...all].sort(compareKeys);
      },
      putHeader: (header) => void newHeaders.set(header.name, structuredClone(header)),
      put: (vault, key, sealed) => void pendingOf(vault).set(key, { ...sealed }),
      delete: (vault, key) => void pendingOf(vault).set(key, null),
    };
    const result = await fn(tx);
    for (const vault of pending.keys()) {
      if (!headers.has(vault) && !newHeaders.has(vault)) {
        throw new Error(`Vault "${vault}" does not exist`);
      }
    }
    for (const [name, header] of newHeaders) headers.set(name, header);
    for (const [vault, changes] of pending) {
      let map = records.get(vault);
      if (map === undefined) records.set(vault, map = new Map());
      for (const [key, sealed] of changes) {
        if (sealed === null) map.delete(key);
        else map.set(key, sealed);
      }
    }
    return result;
  };

  return {
    kind: "memory",
    location: "memory",
    ...committed,
    vaults: () => Promise.resolve([...headers.keys()].sort(compareKeys)),
    transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T): Promise<T> {
      const result = queue.then(() => transaction(fn));
      queue = result.catch(() => {});
      return result;
    },
    async withLock<T>(name: string, fn: () => Promise<T>, options: LockOptions = {}) {
      const previous = locks.get(name);
      let release = () => {};
      const mine = new Promise<void>((resolve) => release = resolve);
      const chained = (previous ?? Promise.resolve()).then(() => mine);
      locks.set(name, chained);
      try {
        if (previous !== undefined) await waitFor(previous, options);
        return await fn();
      } finally {
        // Given up or done: the next waiter goes on once the holder before this one is done.
        release();
        if (locks.get(name) === chained) locks.delete(name);
      }
    },
    close() {},
  };
}

/** Waits for `held` to settle: `onWait` after `noticeAfterMs`, giving up after `timeoutMs`. */
async function waitFor(held: Promise<unknown>, options: LockOptions): Promise<void> {
  const timers: ReturnType<typeof setTimeout>[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      held.then(() => resolve(), () => resolve());
      timers.push(setTimeout(() => options.onWait?.(), options.noticeAfterMs ?? NOTICE_AFTER_MS));
      if (options.timeoutMs !== undefined) {
        timers.push(setTimeout(() => reject(lockTimeoutError(options)), options.timeoutMs));
      }
    });
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

function copy<T>(value: T | undefined): T | undefined {
  return value === undefined ? undefined : structuredClone(value);
}
