/**
 * The storage of one home folder: its store (`<home>/authsome.db`, locks in `<home>/locks/`)
 * and its vaults, with version-1 vault files migrated on first use.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import type { MasterKey } from "./master_key.ts";
import { openPostgresStore } from "./postgres_store.ts";
import { openSqliteStore, type SqliteStoreOptions } from "./sqlite_store.ts";
import type { Store } from "./store.ts";
import { openVault, type Vault } from "./vault.ts";
import { listVaultsV1, migrateVaultV1 } from "./vault_v1.ts";

/** The store's file name under the home folder. */
export const STORE_FILE = "authsome.db";

/**
 * Opens the store of `home`: the shared PostgreSQL store at `options.storeUrl` when given, else
 * the embedded store in the home folder (nothing is read, created or connected until first use);
 * the other `options` say how a write to the embedded store waits for another process's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openHomeStore } from "./home.ts";
 * const store = openHomeStore(await Deno.makeTempDir());
 * assert.equal(store.kind, "sqlite");
 * store.close();
 * ```
 */
export function openHomeStore(
  home: string,
  options: Omit<SqliteStoreOptions, "path" | "lockDir"> & { storeUrl?: string | undefined } = {},
): Store {
  const { storeUrl, ...sqlite } = options;
  if (storeUrl !== undefined) return openPostgresStore({ url: storeUrl });
  return openSqliteStore({
    ...sqlite,
    path: joinPath(home, STORE_FILE),
    lockDir: joinPath(home, "locks"),
  });
}

/** Options of {@linkcode openHomeVault}. */
export interface HomeVaultOptions {
  /** The home folder (for version-1 files to migrate). */
  home: string;
  /** The store of the home. */
  store: Store;
  /** The vault name (already validated). */
  name: string;
  /** Loads the master key; `create` is true when a write may need to create the key. */
  masterKey: (create: boolean) => Promise<MasterKey>;
  /** See {@linkcode VaultOptions.summarize}. */
  summarize?: (key: string, value: unknown) => unknown;
}

/**
 * Opens vault `name`; a version-1 file of that vault is moved into the store before first use.
 *
 * @example
 * ```ts ignore
 * const vault = openHomeVault({ home, store, name: "default", masterKey });
 * await vault.get("provider/openai");
 * ```
 */
export function openHomeVault(options: HomeVaultOptions): Vault {
  const base = { store: options.store, name: options.name, masterKey: options.masterKey };
  const vaultOptions = options.summarize === undefined
    ? base
    : { ...base, summarize: options.summarize };
  const plain = openVault(vaultOptions);
  return openVault({
    ...vaultOptions,
    prepare: () => migrateVaultV1(options.home, plain, options.masterKey),
  });
}

/** Every vault of the home: those in the store and those still in version-1 files. */
export async function listHomeVaults(home: string, store: Store): Promise<string[]> {
  const names = new Set([...await store.vaults(), ...await listVaultsV1(home)]);
  return [...names].sort();
}
