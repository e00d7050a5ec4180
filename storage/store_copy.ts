/**
 * Moving vaults between stores (`authsome store copy`) and a store's health (`store status`),
 * through the {@linkcode Store} interface only. A copy moves sealed records and wrapped data
 * keys byte for byte: nothing is decrypted, and since a record's associated data names its
 * vault, data key and record key (not the store), every record opens in the copy.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { Sealed } from "./crypto.ts";
import type { Store, VaultHeader } from "./store.ts";

/** How many records of one vault a copy moved. */
export interface CopiedVault {
  /** The vault's name. */
  name: string;
  /** Its records, counted again in the destination after the commit. */
  records: number;
}

/** What {@linkcode copyStore} did. */
export interface CopyReport {
  /** Every vault copied. */
  vaults: CopiedVault[];
  /** The records of every vault. */
  records: number;
}

/**
 * Copies every vault of `from` into `to` in one transaction of `to`, then counts the records
 * of each vault in `to` again (and compares the headers). The source is read inside a
 * transaction of its own, so the copy is one consistent state. Refused, before anything is
 * written, when `to` already has a vault of the same name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * import { copyStore } from "./store_copy.ts";
 * const from = createMemoryStore();
 * await from.transaction((tx) => {
 *   tx.putHeader({ name: "default", keySource: "env", keyId: "k1", dataKey: { nonce: "bg==", ciphertext: "Yw==" } });
 *   tx.put("default", "provider/openai", { nonce: "bm9uY2U=", ciphertext: "c2VhbGVk" });
 * });
 * const to = createMemoryStore();
 * assert.deepEqual(await copyStore(from, to), { vaults: [{ name: "default", records: 1 }], records: 1 });
 * assert.deepEqual(await to.get("default", "provider/openai"), { nonce: "bm9uY2U=", ciphertext: "c2VhbGVk" });
 * ```
 */
export async function copyStore(from: Store, to: Store): Promise<CopyReport> {
  // An empty source is not opened for writing (which would create it).
  if ((await from.vaults()).length === 0) return { vaults: [], records: 0 };
  const taken = new Set(await to.vaults());
  const snapshot = await from.transaction(async (tx) => {
    const vaults: Array<{ header: VaultHeader; records: Array<[string, Sealed]> }> = [];
    for (const name of await from.vaults()) {
      if (taken.has(name)) throw clash(name, to);
      const header = await tx.header(name);
      if (header === undefined) continue;
      const records: Array<[string, Sealed]> = [];
      for (const key of await tx.keys(name, "")) {
        const sealed = await tx.get(name, key);
        if (sealed !== undefined) records.push([key, sealed]);
      }
      vaults.push({ header, records });
    }
    return vaults;
  });
  await to.transaction(async (tx) => {
    for (const { header, records } of snapshot) {
      // Another process may have created the vault since it was checked above.
      if (await tx.header(header.name) !== undefined) throw clash(header.name, to);
      tx.putHeader(header);
      for (const [key, sealed] of records) tx.put(header.name, key, sealed);
    }
  });
  const vaults: CopiedVault[] = [];
  for (const { header, records } of snapshot) {
    const copied = await to.keys(header.name, "");
    const copiedHeader = await to.header(header.name);
    const sameKeys = copied.length === records.length &&
      copied.every((key, i) => key === records[i]![0]);
    if (!sameKeys || JSON.stringify(copiedHeader) !== JSON.stringify(header)) {
      throw new AuthsomeError(
        "VAULT_UNAVAILABLE",
        `The copy of vault "${header.name}" in ${to.location} has ${copied.length} records, expected ${records.length}`,
        {
          hint: "Another process changed the destination during the copy; check it and copy again",
        },
      );
    }
    vaults.push({ name: header.name, records: copied.length });
  }
  return { vaults, records: vaults.reduce((n, v) => n + v.records, 0) };
}

function clash(name: string, to: Store): AuthsomeError {
  return new AuthsomeError(
    "USAGE",
    `The destination ${to.location} already has a vault "${name}"; nothing was copied`,
    { hint: "Copy into a store without these vaults (a new database or home folder)" },
  );
}

/** A store's health, for `authsome store status` and `doctor`. */
export interface StoreStatus {
  /** `sqlite` or `postgres`. */
  kind: string;
  /** The file or the URL without its password. */
  location: string;
  /** Every vault with its record count. */
  vaults: CopiedVault[];
  /** How long listing the vaults and counting their records took, in milliseconds. */
  elapsed_ms: number;
}

/**
 * Reads the store's vaults and counts their records (opens nothing sealed); a store that cannot
 * be read throws its one-line error (exit 10).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMemoryStore } from "./memory_store.ts";
 * import { storeStatus } from "./store_copy.ts";
 * const status = await storeStatus(createMemoryStore());
 * assert.deepEqual([status.kind, status.vaults], ["memory", []]);
 * ```
 */
export async function storeStatus(store: Store): Promise<StoreStatus> {
  const start = performance.now();
  const vaults: CopiedVault[] = [];
  for (const name of await store.vaults()) {
    vaults.push({ name, records: (await store.keys(name, "")).length });
  }
  return {
    kind: store.kind,
    location: store.location,
    vaults,
    elapsed_ms: Math.round((performance.now() - start) * 10) / 10,
  };
}
