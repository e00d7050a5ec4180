/**
 * The version-1 vault file (`vaults/<name>.json`, one JSON document per vault) — read only, to
 * migrate it into the store on first use. Migration opens every record with the old format's
 * associated data, writes them all (re-sealed in the current format) in one store transaction,
 * and only then removes the old file: a process killed midway leaves the old file, which the
 * next run migrates again.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { importAesKey, openSealed, type Sealed } from "./crypto.ts";
import { readTextIfExists, withFileLock } from "./files.ts";
import { runtime } from "../runtime/runtime.ts";
import type { KeySource, MasterKey } from "./master_key.ts";
import { keySourceMismatch, type Vault } from "./vault.ts";

/** The name of the version-1 file format. */
export const VAULT_FORMAT = "authsome-vault";

/** The JSON document stored in `vaults/<name>.json`. */
export interface VaultFileV1 {
  format: typeof VAULT_FORMAT;
  version: 1;
  vault: string;
  key_source: KeySource;
  data_key: Sealed;
  records: Record<string, Sealed>;
}

/** Path of a version-1 vault file under the home folder. */
export function vaultPathV1(home: string, name: string): string {
  return joinPath(home, "vaults", `${name}.json`);
}

/** The names of the version-1 vault files still in `home`, sorted. */
export async function listVaultsV1(home: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for (const entry of await runtime.readDir(joinPath(home, "vaults"))) {
      if (entry.isFile && entry.name.endsWith(".json")) names.push(entry.name.slice(0, -5));
    }
  } catch (error) {
    if (runtime.failure(error) !== "not-found") throw error;
  }
  return names.sort();
}

/**
 * Moves version-1 vault `vault.name` of `home` into `vault`'s store, when its file exists.
 * Idempotent and safe to run from several processes at once. `vault` must be opened without a
 * `prepare` step that calls this function.
 *
 * @example
 * ```ts ignore
 * await migrateVaultV1(home, vault, masterKey);
 * ```
 */
export async function migrateVaultV1(
  home: string,
  vault: Vault,
  masterKey: (create: boolean) => Promise<MasterKey>,
): Promise<void> {
  const path = vaultPathV1(home, vault.name);
  if (await readTextIfExists(path) === undefined) return;
  // The old format's writers held this lock; holding it keeps one from writing mid-migration.
  await withFileLock(joinPath(home, "vaults", `${vault.name}.lock`), async () => {
    const text = await readTextIfExists(path);
    if (text === undefined) return;
    const records = await openVaultFileV1(text, vault.name, await masterKey(false));
    await vault.update(async (tx) => {
      // A run killed after the commit but before the removal finds the records already moved:
      // what the store holds wins, and nothing of the file is lost.
      const present = new Set(await tx.keys());
      for (const [key, value] of records) if (!present.has(key)) tx.set(key, value);
    });
    await runtime.remove(path);
  });
  await runtime.remove(joinPath(home, "vaults", `${vault.name}.lock`)).catch(() => {});
}

/** Opens every record of a version-1 file; any problem is `VAULT_UNAVAILABLE` (exit 10). */
export async function openVaultFileV1(
  text: string,
  name: string,
  master: MasterKey,
): Promise<Map<string, unknown>> {
  const file = parseVaultFile(text, name);
  const raw = await openSealed(
    master.key,
    file.data_key,
    `${VAULT_FORMAT}/v1/data-key/${name}`,
    `vault "${name}"`,
  ).catch((error: unknown) => {
    if (error instanceof AuthsomeError && master.source !== file.key_source) {
      throw keySourceMismatch(name, file.key_source, master.source);
    }
    throw error;
  });
  const key = await importAesKey(raw);
  const decoder = new TextDecoder();
  const out = new Map<string, unknown>();
  for (const [recordKey, sealed] of Object.entries(file.records)) {
    const aad = `${VAULT_FORMAT}/v1/record/${name}/${recordKey}`;
    const bytes = await openSealed(key, sealed, aad, `record "${recordKey}"`);
    out.set(recordKey, JSON.parse(decoder.decode(bytes)));
  }
  return out;
}

/** Parses and checks a version-1 file; every problem is `VAULT_UNAVAILABLE` with a reason. */
export function parseVaultFile(text: string, name: string): VaultFileV1 {
  const fail = (reason: string, hint = "Restore the vault file from a backup"): never => {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `Cannot open vault "${name}": ${reason}`, {
      hint,
    });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail("the file is not valid JSON (truncated or damaged)");
  }
  if (!isObject(doc) || doc.format !== VAULT_FORMAT) {
    return fail("the file is not an authsome vault");
  }
  if (doc.version !== 1) {
    return fail(
      `format version ${JSON.stringify(doc.version)} is not supported (this authsome reads 1)`,
      "Use the authsome version that wrote this vault, or a newer one",
    );
  }
  if (doc.vault !== name) {
    return fail(`the file belongs to vault ${JSON.stringify(doc.vault)}`);
  }
  if (doc.key_source !== "env" && doc.key_source !== "passphrase" && doc.key_source !== "file") {
    return fail("the key source field is damaged");
  }
  if (!isSealed(doc.data_key)) return fail("the wrapped data key is damaged");
  const records = doc.records;
  if (!isObject(records) || !Object.values(records).every(isSealed)) {
    return fail("a record is damaged");
  }
  return doc as unknown as VaultFileV1;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSealed(value: unknown): value is Sealed {
  return isObject(value) && typeof value.nonce === "string" &&
    typeof value.ciphertext === "string" && Object.keys(value).length === 2;
}
