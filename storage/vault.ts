/**
 * A vault: an isolated set of records (connections, client credentials, provider settings),
 * each sealed with the vault's own data key, which is itself wrapped by the master key.
 * The on-disk format is documented in docs/STORAGE.md.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { importAesKey, openSealed, randomBytes, seal, type Sealed } from "./crypto.ts";
import { ensurePrivateDir, readTextIfExists, withFileLock, writeFileAtomic } from "./files.ts";
import type { KeySource, MasterKey } from "./master_key.ts";

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
 * A vault. Reads see the last committed state; {@linkcode Vault.update} runs its function on a
 * fresh copy under a cross-process lock and commits its changes atomically, or none of them.
 */
export interface Vault extends VaultReader {
  /** The vault's name. */
  readonly name: string;
  /** Runs a read-modify-write transaction. */
  update<T>(fn: (tx: VaultTransaction) => Promise<T> | T): Promise<T>;
  /** Whether the vault has been written at least once. */
  exists(): Promise<boolean>;
}

/** The name of the on-disk format and the only version this code reads and writes. */
export const VAULT_FORMAT = "authsome-vault";
/** Current on-disk format version. */
export const VAULT_VERSION = 1;

/** The JSON document stored in `vaults/<name>.json`. */
export interface VaultFileV1 {
  format: typeof VAULT_FORMAT;
  version: typeof VAULT_VERSION;
  vault: string;
  key_source: KeySource;
  data_key: Sealed;
  records: Record<string, Sealed>;
}

/** Associated data binding a wrapped data key to its vault. */
export function dataKeyAad(vault: string): string {
  return `${VAULT_FORMAT}/v${VAULT_VERSION}/data-key/${vault}`;
}

/** Associated data binding a sealed record to its vault and record key. */
export function recordAad(vault: string, key: string): string {
  return `${VAULT_FORMAT}/v${VAULT_VERSION}/record/${vault}/${key}`;
}

/** Path of a vault's file under the home folder. */
export function vaultPath(home: string, name: string): string {
  return joinPath(home, "vaults", `${name}.json`);
}

/** Options of {@linkcode openFileVault}. */
export interface FileVaultOptions {
  /** The home folder. */
  home: string;
  /** The vault name (already validated). */
  name: string;
  /** Loads the master key; `create` is true when a write may need to create the key. */
  masterKey: (create: boolean) => Promise<MasterKey>;
}

/**
 * Opens a vault stored in `<home>/vaults/<name>.json`. Nothing is read until first use; a vault
 * that does not exist yet reads as empty and is created by the first write.
 */
export function openFileVault(options: FileVaultOptions): Vault {
  const path = vaultPath(options.home, options.name);
  const lockPath = joinPath(options.home, "vaults", `${options.name}.lock`);
  let snapshot: Promise<Snapshot> | undefined;
  let seen = "";
  // Reads reuse the decrypted snapshot while the file is the same one (another process's write
  // renames a new file into place, which changes the inode), so a long-lived library user sees
  // logins and refreshes made by other processes.
  const current = async () => {
    const identity = await fileIdentity(path);
    if (snapshot === undefined || identity !== seen) {
      seen = identity;
      snapshot = loadSnapshot(path, options);
      snapshot.catch(() => {
        seen = "";
      });
    }
    return await snapshot;
  };
  return {
    name: options.name,
    async get<T>(key: string) {
      return (await current()).get<T>(key);
    },
    async keys(prefix = "") {
      return (await current()).keys(prefix);
    },
    async exists() {
      return (await current()).file !== undefined;
    },
    async update<T>(fn: (tx: VaultTransaction) => Promise<T> | T): Promise<T> {
      await ensurePrivateDir(joinPath(options.home, "vaults"));
      return await withFileLock(lockPath, async () => {
        const fresh = await loadSnapshot(path, options);
        const changes = new Map<string, unknown>();
        const result = await fn(transaction(fresh, changes));
        if (changes.size > 0) {
          const next = await fresh.commit(changes);
          await writeFileAtomic(path, JSON.stringify(next.file, null, 2) + "\n");
          snapshot = Promise.resolve(next);
        } else {
          snapshot = Promise.resolve(fresh);
        }
        seen = await fileIdentity(path);
        return result;
      });
    },
  };
}

/** Inode, size and modification time of the vault file, or "" when it does not exist. */
async function fileIdentity(path: string): Promise<string> {
  try {
    const info = await Deno.stat(path);
    return `${info.ino}:${info.size}:${info.mtime?.getTime()}`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

interface Snapshot extends VaultReader {
  file: VaultFileV1 | undefined;
  commit(changes: Map<string, unknown>): Promise<Snapshot>;
}

async function loadSnapshot(path: string, options: FileVaultOptions): Promise<Snapshot> {
  const text = await readTextIfExists(path);
  if (text === undefined) return makeSnapshot(options, undefined, undefined);
  const file = parseVaultFile(text, options.name);
  const master = await options.masterKey(false);
  const raw = await openSealed(
    master.key,
    file.data_key,
    dataKeyAad(options.name),
    `vault "${options.name}"`,
  ).catch((error: unknown) => {
    if (error instanceof AuthsomeError && master.source !== file.key_source) {
      throw new AuthsomeError(
        "VAULT_UNAVAILABLE",
        `Cannot open vault "${options.name}": it was sealed with a key from ${
          sourceName(file.key_source)
        }, but the current key comes from ${sourceName(master.source)}`,
        { hint: "Provide the same master key that created the vault (see authsome whoami)" },
      );
    }
    throw error;
  });
  const snapshot = makeSnapshot(options, file, await importAesKey(raw));
  // Open every record now: a tampered record (or a record renamed inside the file) makes the
  // whole vault refuse to open, instead of surfacing later or being silently written over.
  await Promise.all(Object.keys(file.records).map((key) => snapshot.get(key)));
  return snapshot;
}

function sourceName(source: KeySource): string {
  return source === "env"
    ? "AUTHSOME_MASTER_KEY"
    : source === "passphrase"
    ? "AUTHSOME_PASSPHRASE"
    : "the key file";
}

function makeSnapshot(
  options: FileVaultOptions,
  file: VaultFileV1 | undefined,
  dataKey: CryptoKey | undefined,
): Snapshot {
  const decoded = new Map<string, Promise<unknown>>();
  const decoder = new TextDecoder();
  return {
    file,
    get<T>(key: string): Promise<T | undefined> {
      const sealed = file?.records[key];
      if (sealed === undefined || dataKey === undefined) return Promise.resolve(undefined);
      let value = decoded.get(key);
      if (value === undefined) {
        value = openSealed(dataKey, sealed, recordAad(options.name, key), `record "${key}"`)
          .then((bytes) => JSON.parse(decoder.decode(bytes)) as unknown);
        decoded.set(key, value);
      }
      return value.then((v) => clone(v) as T);
    },
    keys(prefix = "") {
      const all = Object.keys(file?.records ?? {}).filter((k) => k.startsWith(prefix));
      return Promise.resolve(all.sort());
    },
    async commit(changes) {
      let key = dataKey;
      let next: VaultFileV1;
      if (file === undefined || key === undefined) {
        const master = await options.masterKey(true);
        const raw = randomBytes(32);
        key = await importAesKey(raw);
        next = {
          format: VAULT_FORMAT,
          version: VAULT_VERSION,
          vault: options.name,
          key_source: master.source,
          data_key: await seal(master.key, raw, dataKeyAad(options.name)),
          records: {},
        };
      } else {
        next = { ...file, records: { ...file.records } };
      }
      const encoder = new TextEncoder();
      for (const [recordKey, value] of changes) {
        if (value === undefined) {
          delete next.records[recordKey];
        } else {
          next.records[recordKey] = await seal(
            key,
            encoder.encode(JSON.stringify(value)),
            recordAad(options.name, recordKey),
          );
        }
      }
      next.records = Object.fromEntries(
        Object.entries(next.records).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
      );
      return makeSnapshot(options, next, key);
    },
  };
}

/** Parses and checks a vault file; every problem is `VAULT_UNAVAILABLE` with a one-line reason. */
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
  if (doc.version !== VAULT_VERSION) {
    return fail(
      `format version ${
        JSON.stringify(doc.version)
      } is not supported (this authsome reads ${VAULT_VERSION})`,
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

/** A transaction view: pending `changes` over a committed `base`. */
function transaction(
  base: VaultReader,
  changes: Map<string, unknown>,
): VaultTransaction {
  return {
    get: async <U>(key: string) =>
      changes.has(key) ? clone(changes.get(key)) as U | undefined : await base.get<U>(key),
    keys: async (prefix = "") => {
      const all = new Set(await base.keys(prefix));
      for (const [key, value] of changes) {
        if (!key.startsWith(prefix)) continue;
        if (value === undefined) all.delete(key);
        else all.add(key);
      }
      return [...all].sort();
    },
    set: (key, value) => void changes.set(key, clone(value)),
    delete: (key) => void changes.set(key, undefined),
  };
}

function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

/**
 * A vault kept in memory, with the same contract as the file vault; for tests and embedding.
 *
 * @example
 * ```ts
 * import { createMemoryVault } from "./vault.ts";
 * const vault = createMemoryVault("default");
 * await vault.update((tx) => tx.set("connection/openai/default", { status: "connected" }));
 * console.log(await vault.keys("connection/")); // ["connection/openai/default"]
 * ```
 */
export function createMemoryVault(name: string): Vault {
  const records = new Map<string, unknown>();
  let queue: Promise<unknown> = Promise.resolve();
  let written = false;
  const reader: VaultReader = {
    get: <T>(key: string) => Promise.resolve(clone(records.get(key)) as T),
    keys: (prefix = "") =>
      Promise.resolve([...records.keys()].filter((k) => k.startsWith(prefix)).sort()),
  };
  return {
    name,
    ...reader,
    exists: () => Promise.resolve(written),
    update<T>(fn: (tx: VaultTransaction) => Promise<T> | T): Promise<T> {
      const run = queue.then(async () => {
        const changes = new Map<string, unknown>();
        const result = await fn(transaction(reader, changes));
        for (const [key, value] of changes) {
          if (value === undefined) records.delete(key);
          else records.set(key, value);
        }
        if (changes.size > 0) written = true;
        return result;
      });
      queue = run.catch(() => {});
      return run;
    },
  };
}
