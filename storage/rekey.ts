/**
 * Changing the master key of a store, crash-safe (docs/STORAGE.md, "Rekey").
 *
 * One store transaction rewrites the header of every vault: its data key, unwrapped with the old
 * master key, is wrapped again with the new one (with `records`, every vault also gets a new data
 * key and each record is sealed again under it). Key material that must outlive the process (a
 * new key file, new passphrase parameters) is first written to the side file `rekey.next`, inside
 * the transaction and before its commit; after the commit it is moved to its place and the old
 * source's file removed. A process killed at any moment leaves either the old headers (the side
 * file is stale) or the new ones (the side file holds what is still to be moved): the next
 * process that loads the master key calls {@linkcode settlePendingRekey}, which tells the two
 * apart by the nonce of one new wrapped data key recorded in the side file, and finishes or
 * discards it. No state needs both keys.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { runtime } from "../runtime/runtime.ts";
import { toHex } from "../runtime/bytes.ts";
import { openSealed, randomBytes, seal } from "./crypto.ts";
import { readTextIfExists, writeFileAtomic } from "./files.ts";
import type { KeySource, MasterKey } from "./master_key.ts";
import type { LockOptions, Store, StoreTransaction, VaultHeader } from "./store.ts";
import { dataKeyAad, keySourceMismatch, recordAad } from "./vault.ts";
import { importAesKey } from "./crypto.ts";

/** The side file of a rekey in progress, in the home folder. */
export const PENDING_REKEY_FILE = "rekey.next";
/** The name of the store lock a rekey and a settling process hold. */
export const REKEY_LOCK = "rekey";

/** What the side file holds: what to do once the header transaction has committed. */
export interface PendingRekey {
  /** Always 1. */
  version: 1;
  /** The key source before the rekey. */
  from: KeySource;
  /** The key source after it. */
  to: KeySource;
  /** A file of the new source to write (its whole text), when the new source keeps one. */
  write?: { file: string; text: string } | undefined;
  /** Files of the old source (names in the home folder) to remove. */
  remove: string[];
  /** The vault whose header, once committed, carries the nonce `nonce` (base64). */
  commit: { vault: string; nonce: string };
}

/** Options of {@linkcode rekeyStore}. */
export interface RekeyStoreOptions {
  /** The vaults to rekey (all of the store's). */
  vaults: string[];
  /** The master key now in use. */
  from: MasterKey;
  /** The new master key. */
  to: MasterKey;
  /** Also give every vault a new data key and seal every record again. */
  records: boolean;
  /**
   * Called inside the transaction, after every write and before the commit, with the nonce of
   * the first vault's new wrapped data key (write the side file here).
   */
  beforeCommit: (commit: { vault: string; nonce: string }) => Promise<void>;
}

/**
 * Rewrites the headers (and with `records`, the records) of `vaults` in one transaction. Any
 * header or record that does not open with `from` stops it before anything is written.
 * Returns how many records were sealed again (0 without `records`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * import { importAesKey, randomBytes } from "./crypto.ts";
 * import { openVault } from "./vault.ts";
 * import { rekeyStore } from "./rekey.ts";
 * const store = createMemoryStore();
 * import type { MasterKey } from "./master_key.ts";
 * const from: MasterKey = { source: "env", key: await importAesKey(randomBytes(32)) };
 * const to: MasterKey = { source: "file", key: await importAesKey(randomBytes(32)) };
 * const vault = (key: MasterKey) => openVault({ store, name: "v", masterKey: () => Promise.resolve(key) });
 * await vault(from).update((tx) => tx.set("provider/openai", { default_connection: "work" }));
 * await rekeyStore(store, { vaults: ["v"], from, to, records: true, beforeCommit: () => Promise.resolve() });
 * assert.deepEqual(await vault(to).get("provider/openai"), { default_connection: "work" });
 * await assert.rejects(vault(from).get("provider/openai"));
 * ```
 */
export async function rekeyStore(store: Store, options: RekeyStoreOptions): Promise<number> {
  return await store.transaction(async (tx) => {
    let resealed = 0;
    let commit: { vault: string; nonce: string } | undefined;
    for (const name of options.vaults) {
      const header = await tx.header(name);
      if (header === undefined) continue;
      const dataKey = await unwrap(header, options.from);
      let next: VaultHeader;
      if (options.records) {
        const raw = randomBytes(32);
        const keyId = toHex(randomBytes(8));
        const newKey = await importAesKey(raw);
        const oldKey = await importAesKey(dataKey);
        for (const key of await tx.keys(name, "")) {
          resealed += await resealRecord(tx, { name, key, oldKey, newKey, header, keyId });
        }
        next = {
          name,
          keySource: options.to.source,
          keyId,
          dataKey: await seal(options.to.key, raw, dataKeyAad(name, keyId)),
        };
      } else {
        next = {
          ...header,
          keySource: options.to.source,
          dataKey: await seal(options.to.key, dataKey, dataKeyAad(name, header.keyId)),
        };
      }
      tx.putHeader(next);
      commit ??= { vault: name, nonce: next.dataKey.nonce };
    }
    if (commit === undefined) {
      throw new AuthsomeError("VAULT_NOT_FOUND", "There is no vault to rekey", {
        hint: "The first login creates the master key from the source in use",
      });
    }
    await options.beforeCommit(commit);
    return resealed;
  });
}

/** The raw data key of `header`, unwrapped with `master`. */
async function unwrap(header: VaultHeader, master: MasterKey): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await openSealed(
      master.key,
      header.dataKey,
      dataKeyAad(header.name, header.keyId),
      `vault "${header.name}"`,
    );
  } catch (error) {
    if (error instanceof AuthsomeError && master.source !== header.keySource) {
      throw keySourceMismatch(header.name, header.keySource, master.source);
    }
    throw error;
  }
}

async function resealRecord(
  tx: StoreTransaction,
  r: {
    name: string;
    key: string;
    oldKey: CryptoKey;
    newKey: CryptoKey;
    header: VaultHeader;
    keyId: string;
  },
): Promise<number> {
  const sealed = await tx.get(r.name, r.key);
  if (sealed === undefined) return 0;
  const plain = await openSealed(
    r.oldKey,
    sealed,
    recordAad(r.name, r.header.keyId, r.key),
    `record "${r.key}" of vault "${r.name}"`,
  );
  tx.put(r.name, r.key, await seal(r.newKey, plain, recordAad(r.name, r.keyId, r.key)));
  return 1;
}

/**
 * Writes the side file of a rekey (0600, atomically, flushed), before its transaction commits.
 *
 * @example
 * ```ts ignore
 * await writePendingRekey(home, { version: 1, from: "file", to: "file", write, remove: [], commit });
 * ```
 */
export async function writePendingRekey(home: string, pending: PendingRekey): Promise<void> {
  await writeFileAtomic(
    joinPath(home, PENDING_REKEY_FILE),
    JSON.stringify(pending, null, 2) + "\n",
  );
}

/**
 * Moves the new key material of a committed rekey to its place, removes the old source's files,
 * then the side file. Repeating it after a crash is harmless.
 *
 * @example
 * ```ts ignore
 * await finishRekey(home, pending);
 * ```
 */
export async function finishRekey(home: string, pending: PendingRekey): Promise<void> {
  if (pending.write !== undefined) {
    await writeFileAtomic(joinPath(home, pending.write.file), pending.write.text);
  }
  for (const file of pending.remove) await removeIfExists(joinPath(home, file));
  await removeIfExists(joinPath(home, PENDING_REKEY_FILE));
}

/** What {@linkcode settlePendingRekey} found. */
export type SettleOutcome = "none" | "finished" | "discarded";

/**
 * Settles a rekey that a killed process left behind, before the master key is loaded: when the
 * side file exists (one `stat` otherwise), under the rekey lock, a committed rekey is finished
 * and an uncommitted one's side file is removed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * import { settlePendingRekey } from "./rekey.ts";
 * assert.equal(await settlePendingRekey(await Deno.makeTempDir(), createMemoryStore()), "none");
 * ```
 */
export async function settlePendingRekey(
  home: string,
  store: Store,
  lockOptions?: LockOptions,
): Promise<SettleOutcome> {
  if (!await exists(joinPath(home, PENDING_REKEY_FILE))) return "none";
  return await store.withLock(REKEY_LOCK, () => settleLocked(home, store), lockOptions);
}

/**
 * {@linkcode settlePendingRekey} for a caller that holds the rekey lock already.
 *
 * @example
 * ```ts ignore
 * await store.withLock(REKEY_LOCK, async () => { await settleLocked(home, store); … });
 * ```
 */
export async function settleLocked(home: string, store: Store): Promise<SettleOutcome> {
  const path = joinPath(home, PENDING_REKEY_FILE);
  const text = await readTextIfExists(path);
  if (text === undefined) return "none";
  let pending: PendingRekey;
  try {
    pending = JSON.parse(text) as PendingRekey;
    if (pending.version !== 1 || typeof pending.commit?.nonce !== "string") throw new Error();
  } catch {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `The rekey file ${path} is damaged`, {
      hint: "It holds the new key of an interrupted rekey: keep a copy and report it",
    });
  }
  const header = await store.header(pending.commit.vault);
  if (header?.dataKey.nonce === pending.commit.nonce) {
    await finishRekey(home, pending);
    return "finished";
  }
  await removeIfExists(path);
  return "discarded";
}

async function exists(path: string): Promise<boolean> {
  try {
    await runtime.stat(path);
    return true;
  } catch (error) {
    if (runtime.failure(error) === "not-found") return false;
    throw error;
  }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await runtime.remove(path);
  } catch (error) {
    if (runtime.failure(error) !== "not-found") throw error;
  }
}
