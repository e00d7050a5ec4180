/**
 * A vault: an isolated set of records (connections, client credentials, provider settings),
 * each sealed on its own with the vault's data key, which is itself wrapped by the master key.
 * Records live in a {@linkcode Store}; this module seals and opens them. The format is in
 * docs/STORAGE.md.
 *
 * Listing does not open every record: a vault made with a `summarize` function keeps, for each
 * collection of records (`connection/openai/…`), sealed index records holding a non-secret
 * summary of each member, written in the same transaction as the record itself. Reading the
 * summaries of 2,000 connections opens 16 index records instead of 2,000 connections.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { importAesKey, openSealed, randomBytes, seal, type Sealed } from "./crypto.ts";
import type { KeySource, MasterKey } from "./master_key.ts";
import type { LockOptions, Store, StoreReader, VaultHeader } from "./store.ts";
import { compareKeys } from "./store.ts";
import { toHex } from "../runtime/bytes.ts";

/** Read access to a vault's records. Record keys look like `connection/github/work`. */
export interface VaultReader {
  /** The record at `key`, or undefined. */
  get<T>(key: string): Promise<T | undefined>;
  /** Every record key starting with `prefix`, sorted. */
  keys(prefix?: string): Promise<string[]>;
}

/** Changes made inside {@linkcode Vault.update}. */
export interface VaultTransaction extends VaultReader {
  /** Stores `value` at `key`. */
  set(key: string, value: unknown): void;
  /** Removes `key`; no error when it is absent. */
  delete(key: string): void;
}

/**
 * A vault. Reads see the last committed state (also other processes' commits);
 * {@linkcode Vault.update} runs its function as one atomic transaction of the store.
 */
export interface Vault extends VaultReader {
  /** The vault's name. */
  readonly name: string;
  /** Runs a read-modify-write transaction: all of its changes commit, or none. */
  update<T>(fn: (tx: VaultTransaction) => Promise<T> | T): Promise<T>;
  /** Whether the vault has been written at least once. */
  exists(): Promise<boolean>;
  /**
   * The summaries of the members of `collection` (e.g. `connection/openai`), by member name,
   * sorted; read from the index records, without opening the members.
   */
  summaries<T>(collection: string): Promise<Map<string, T>>;
  /** Runs `fn` holding this vault's lock `name` (e.g. one per connection for a refresh). */
  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
}

/** Options of {@linkcode openVault}. */
export interface VaultOptions {
  /** Where the records live. */
  store: Store;
  /** The vault name (already validated). */
  name: string;
  /** Loads the master key; `create` is true when a write may need to create the key. */
  masterKey: (create: boolean) => Promise<MasterKey>;
  /**
   * The non-secret summary kept in the collection index for the record at `key`, or undefined
   * for records that are not indexed. Must answer the same way for every key of a collection.
   */
  summarize?: (key: string, value: unknown) => unknown;
  /** Runs once before the first use (e.g. to migrate an older format into the store). */
  prepare?: () => Promise<void>;
}

/** Prefix of the index records; they are not records of their own collection. */
export const INDEX_PREFIX = "index/";
/** How many index records a collection is spread over, so a write re-seals a sixteenth. */
export const INDEX_BUCKETS = 16;

/** Associated data binding a wrapped data key to its vault and key identifier. */
export function dataKeyAad(vault: string, keyId: string): string {
  return `authsome/v2/data-key/${vault}/${keyId}`;
}

/** Associated data binding a sealed record to its vault, data key and record key. */
export function recordAad(vault: string, keyId: string, key: string): string {
  return `authsome/v2/record/${vault}/${keyId}/${key}`;
}

/** The index record holding the summary of the record at `key`. */
export function indexKeyOf(key: string): string {
  const slash = key.lastIndexOf("/");
  return `${INDEX_PREFIX}${key.slice(0, slash)}/${bucketOf(key.slice(slash + 1))}`;
}

/** FNV-1a of `name`, as one of {@linkcode INDEX_BUCKETS} hex digits. */
function bucketOf(name: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % INDEX_BUCKETS).toString(16);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Opens vault `name` in `store`. Nothing is read until first use; a vault that does not exist
 * reads as empty and is created (with a fresh data key) by its first write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * import { importAesKey, randomBytes } from "./crypto.ts";
 * import { openVault } from "./vault.ts";
 * const master = { source: "env" as const, key: await importAesKey(randomBytes(32)) };
 * const vault = openVault({ store: createMemoryStore(), name: "default", masterKey: () => Promise.resolve(master) });
 * await vault.update((tx) => tx.set("connection/openai/default", { status: "connected" }));
 * assert.deepEqual(await vault.keys("connection/"), ["connection/openai/default"]);
 * ```
 */
export function openVault(options: VaultOptions): Vault {
  const { store, name } = options;
  const keys = new Map<string, Promise<CryptoKey>>();
  const indexCache = new Map<string, { ciphertext: string; value: Record<string, unknown> }>();
  let prepared: Promise<void> | undefined;
  const ready = () => {
    if (prepared === undefined && options.prepare !== undefined) {
      // No second attempt starts while this one is pending, so a failure can simply clear it.
      prepared = options.prepare();
      prepared.catch(() => prepared = undefined);
    }
    return prepared;
  };

  /** The data key of `header`, unwrapped once per distinct wrapped key. */
  const dataKeyOf = (header: VaultHeader): Promise<CryptoKey> => {
    const id = `${header.keyId}:${header.dataKey.ciphertext}`;
    let key = keys.get(id);
    if (key === undefined) {
      key = unwrapDataKey(options, header);
      keys.set(id, key);
      key.catch(() => keys.delete(id));
    }
    return key;
  };

  /** Opens the record `key`, read from `reader` as `sealed`, with the vault's current header. */
  const openRecord = async <T>(reader: StoreReader, key: string, sealed: Sealed): Promise<T> => {
    const header = await reader.header(name);
    if (header === undefined) {
      throw new AuthsomeError("VAULT_UNAVAILABLE", `Vault "${name}" has records but no header`, {
        hint: "The store was changed outside authsome; restore it from a backup",
      });
    }
    const bytes = await openSealed(
      await dataKeyOf(header),
      sealed,
      recordAad(name, header.keyId, key),
      `record "${key}" of vault "${name}"`,
    );
    return JSON.parse(decoder.decode(bytes)) as T;
  };

  const read = async <T>(reader: StoreReader, key: string): Promise<T | undefined> => {
    const sealed = await reader.get(name, key);
    return sealed === undefined ? undefined : await openRecord<T>(reader, key, sealed);
  };

  const readIndex = async (reader: StoreReader, key: string) => {
    const sealed = await reader.get(name, key);
    if (sealed === undefined) return {};
    const cached = indexCache.get(key);
    // Stryker disable next-line ConditionalExpression: a cache of opened index buckets; only speed differs.
    if (cached?.ciphertext === sealed.ciphertext) return cached.value;
    const value = await openRecord<Record<string, unknown>>(reader, key, sealed);
    // Stryker disable next-line ObjectLiteral: the same cache.
    indexCache.set(key, { ciphertext: sealed.ciphertext, value });
    return value;
  };

  return {
    name,
    async get<T>(key: string) {
      await ready();
      return await read<T>(store, key);
    },
    async keys(prefix = "") {
      await ready();
      return await store.keys(name, prefix);
    },
    async exists() {
      await ready();
      return await store.header(name) !== undefined;
    },
    async summaries<T>(collection: string) {
      await ready();
      const keys = await store.keys(name, `${INDEX_PREFIX}${collection}/`);
      const buckets = await Promise.all(keys.map((key) => read<Record<string, T>>(store, key)));
      const members = buckets.flatMap((bucket) => Object.entries(bucket ?? {}));
      return new Map(members.sort(([a], [b]) => compareKeys(a, b)));
    },
    withLock(lockName, fn, lockOptions) {
      return store.withLock(`${name}/${lockName}`, fn, lockOptions);
    },
    async update<T>(fn: (tx: VaultTransaction) => Promise<T> | T): Promise<T> {
      await ready();
      return await store.transaction(async (stx) => {
        const changes = new Map<string, unknown>();
        const tx: VaultTransaction = {
          get: async <U>(key: string) =>
            changes.has(key) ? clone(changes.get(key)) as U | undefined : await read<U>(stx, key),
          keys: async (prefix = "") => {
            const all = new Set(await stx.keys(name, prefix));
            for (const [key, value] of changes) {
              if (!key.startsWith(prefix)) continue;
              if (value === undefined) all.delete(key);
              else all.add(key);
            }
            return [...all].sort(compareKeys);
          },
          set: (key, value) => void changes.set(key, clone(value)),
          delete: (key) => void changes.set(key, undefined),
        };
        const result = await fn(tx);
        if (changes.size === 0) return result;
        let header = await stx.header(name);
        if (header === undefined) {
          header = await newHeader(options);
          stx.putHeader(header);
        }
        const key = await dataKeyOf(header);
        const sealTo = async (recordKey: string, value: unknown) =>
          stx.put(
            name,
            recordKey,
            await seal(
              key,
              encoder.encode(JSON.stringify(value)),
              recordAad(name, header.keyId, recordKey),
            ),
          );
        for (const [recordKey, value] of changes) {
          if (value === undefined) stx.delete(name, recordKey);
          else await sealTo(recordKey, value);
        }
        for (
          const [indexKey, index] of await indexChanges(options, changes, (k) => readIndex(stx, k))
        ) {
          if (Object.keys(index).length === 0) stx.delete(name, indexKey);
          else await sealTo(indexKey, index);
        }
        return result;
      });
    },
  };
}

/** The index records that `changes` touch, with their new contents. */
async function indexChanges(
  options: VaultOptions,
  changes: Map<string, unknown>,
  readIndex: (key: string) => Promise<Record<string, unknown>>,
): Promise<Map<string, Record<string, unknown>>> {
  const out = new Map<string, Record<string, unknown>>();
  if (options.summarize === undefined) return out;
  for (const [key, value] of changes) {
    if (key.startsWith(INDEX_PREFIX) || !key.includes("/")) continue;
    // A deleted record, or one that no longer has a summary, leaves its bucket.
    const summary = value === undefined ? undefined : options.summarize(key, value);
    const indexKey = indexKeyOf(key);
    let index = out.get(indexKey);
    if (index === undefined) {
      index = { ...await readIndex(indexKey) };
      out.set(indexKey, index);
    }
    const member = key.slice(key.lastIndexOf("/") + 1);
    if (summary === undefined) delete index[member];
    else index[member] = summary;
  }
  return out;
}

async function newHeader(options: VaultOptions): Promise<VaultHeader> {
  const master = await options.masterKey(true);
  const keyId = toHex(randomBytes(8));
  return {
    name: options.name,
    keySource: master.source,
    keyId,
    dataKey: await seal(master.key, randomBytes(32), dataKeyAad(options.name, keyId)),
  };
}

async function unwrapDataKey(options: VaultOptions, header: VaultHeader): Promise<CryptoKey> {
  const master = await options.masterKey(false);
  const raw = await openSealed(
    master.key,
    header.dataKey,
    dataKeyAad(options.name, header.keyId),
    `vault "${options.name}"`,
  ).catch((error: unknown) => {
    if (error instanceof AuthsomeError && master.source !== header.keySource) {
      throw keySourceMismatch(options.name, header.keySource, master.source);
    }
    throw error;
  });
  return await importAesKey(raw);
}

/** The error for a vault sealed with a key from another source than the current one. */
export function keySourceMismatch(vault: string, sealedWith: KeySource, now: KeySource) {
  return new AuthsomeError(
    "VAULT_UNAVAILABLE",
    `Cannot open vault "${vault}": it was sealed with a key from ${
      keySourceName(sealedWith)
    }, but the current key comes from ${keySourceName(now)}`,
    { hint: "Provide the same master key that created the vault (see authsome whoami)" },
  );
}

/** The variable or file a key source stands for, as shown to people. */
export function keySourceName(source: KeySource): string {
  return source === "env"
    ? "AUTHSOME_MASTER_KEY"
    : source === "passphrase"
    ? "AUTHSOME_PASSPHRASE"
    : "the key file";
}

function clone<T>(value: T): T {
  return structuredClone(value);
}
