/**
 * The embedded {@linkcode Store}: one SQLite database per home (`<home>/authsome.db`) through the
 * built-in `node:sqlite`, in WAL mode (readers never wait for a writer) with `synchronous=FULL`
 * (a commit is on disk before it is acknowledged) and a busy timeout. Named locks are SQLite
 * locks on files in `<home>/locks/` (runtime/sqlite_lock.ts: Deno, Node and Bun processes exclude
 * each other), released by the kernel when a process dies.
 *
 * The database is created by the first write; until then every read answers "empty", so read
 * commands on a new home leave no file behind. The format is in docs/STORAGE.md.
 *
 * @module
 */
import { statfsSync } from "node:fs";
import { dirname } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { AuthsomeError } from "../errors.ts";
import type { Sealed } from "./crypto.ts";
import { ensurePrivateDir } from "./files.ts";
import type { KeySource } from "./master_key.ts";
import type { LockOptions, Store, StoreReader, StoreTransaction, VaultHeader } from "./store.ts";
import { compareKeys, lockTimeoutError, NOTICE_AFTER_MS } from "./store.ts";
import { runtime } from "../runtime/runtime.ts";

/** `PRAGMA application_id` of an authsome store ("auth" in ASCII). */
export const STORE_APPLICATION_ID = 0x61757468;
/** `PRAGMA user_version`: the store format version this code reads and writes. */
export const STORE_FORMAT_VERSION = 2;
/** How long a write waits for another process's write to finish before giving up. */
export const BUSY_TIMEOUT_MS = 15_000;
/**
 * SQLite's own (synchronous) wait for the database lock, per attempt. A write that finds the
 * database locked tries again every slice until {@linkcode BUSY_TIMEOUT_MS}, and between slices
 * this process runs on: it can say what it waits for.
 */
export const BUSY_SLICE_MS = 100;

const SCHEMA = `
CREATE TABLE vaults (
  name TEXT PRIMARY KEY NOT NULL,
  key_source TEXT NOT NULL,
  key_id TEXT NOT NULL,
  data_key_nonce TEXT NOT NULL,
  data_key TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
  vault TEXT NOT NULL REFERENCES vaults(name),
  key TEXT NOT NULL,
  nonce TEXT NOT NULL,
  ciphertext TEXT NOT NULL,
  PRIMARY KEY (vault, key)
) WITHOUT ROWID;
PRAGMA application_id = ${STORE_APPLICATION_ID};
PRAGMA user_version = ${STORE_FORMAT_VERSION};
`;

/**
 * The tail of the write transactions of each database file in this process (see
 * `transaction`). Empty until a write, and emptied again when the writes settle.
 */
const writeQueues = new Map<string, Promise<void>>();

/** Options of {@linkcode openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file, e.g. `<home>/authsome.db`. */
  path: string;
  /** Folder of the lock files of {@linkcode Store.withLock}, e.g. `<home>/locks`. */
  lockDir: string;
  /** How long a write waits for another process's write; default {@linkcode BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number | undefined;
  /** Called once when a write has waited `noticeAfterMs` for another process's write. */
  onWait?: (() => void) | undefined;
  /** How long a write waits before `onWait` is called; default {@linkcode NOTICE_AFTER_MS}. */
  noticeAfterMs?: number | undefined;
}

interface Connection {
  db: DatabaseSync;
  statements: Partial<Record<keyof typeof SQL, StatementSync>>;
  /** How long to wait for another process's lock, in all (and for the message when it runs out). */
  busyMs: number;
  /** Called once after `noticeMs` of waiting for the write lock. */
  onWait: (() => void) | undefined;
  noticeMs: number;
}

/**
 * Opens the embedded store. Nothing is opened until first use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openSqliteStore } from "./sqlite_store.ts";
 * const home = await Deno.makeTempDir();
 * const store = openSqliteStore({ path: `${home}/authsome.db`, lockDir: `${home}/locks` });
 * assert.deepEqual(await store.vaults(), []); // and no file was created
 * store.close();
 * ```
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  let connection: Connection | undefined;
  let closed = false;

  /** The open database; undefined when it does not exist yet and `create` is false. */
  const open = async (create: boolean): Promise<Connection | undefined> => {
    if (closed) throw new Error("The store is closed");
    if (connection !== undefined) return connection;
    const present = await exists(options.path);
    if (!create && !present) return undefined;
    if (connection !== undefined) return connection;
    connection = await connect(options.path, !present, {
      busyMs: options.busyTimeoutMs ?? BUSY_TIMEOUT_MS,
      onWait: options.onWait,
      noticeMs: options.noticeAfterMs ?? NOTICE_AFTER_MS,
    });
    return connection;
  };

  const reader: StoreReader = {
    async header(name) {
      const c = await open(false);
      return c === undefined ? undefined : await untilFree(c, () => readHeader(c, name));
    },
    async get(vault, key) {
      const c = await open(false);
      return c === undefined ? undefined : await untilFree(c, () => readRecord(c, vault, key));
    },
    async keys(vault, prefix) {
      const c = await open(false);
      return c === undefined ? [] : await untilFree(c, () => readKeys(c, vault, prefix));
    },
  };

  return {
    kind: "sqlite",
    location: options.path,
    ...reader,
    async vaults() {
      const c = await open(false);
      if (c === undefined) return [];
      return await untilFree(
        c,
        () => run(c, () => sql(c, "vaults").all().map((row) => String(row.name))),
      );
    },
    transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T): Promise<T> {
      // One queue per database file for the whole process: a second handle's `BEGIN IMMEDIATE`
      // would otherwise wait synchronously for a lock that this thread itself holds.
      const queue = writeQueues.get(options.path) ?? Promise.resolve();
      const result = queue.then(async () => runTransaction(await open(true) as Connection, fn));
      const settled = result.then(() => {}, () => {});
      writeQueues.set(options.path, settled);
      settled.then(() => {
        if (writeQueues.get(options.path) === settled) writeQueues.delete(options.path);
      });
      return result;
    },
    async withLock<T>(name: string, fn: () => Promise<T>, lockOptions?: LockOptions) {
      return await withNamedLock(options.lockDir, name, fn, lockOptions);
    },
    close() {
      closed = true;
      connection?.db.close();
      connection = undefined;
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await runtime.stat(path)).size > 0;
  } catch (error) {
    if (runtime.failure(error) === "not-found") return false;
    throw storeError(path, error);
  }
}

/** Opens (with `create`: creating, 0600) and checks the database, creating the schema if new. */
async function connect(
  path: string,
  create: boolean,
  waiting: Pick<Connection, "busyMs" | "onWait" | "noticeMs">,
): Promise<Connection> {
  const busyMs = waiting.busyMs;
  if (create) {
    await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")) || "/");
    try {
      // Create the file with private permissions before SQLite does (it would use the umask);
      // its -wal and -shm files copy the database file's permissions.
      await runtime.touch(path, 0o600);
      // An empty file found in its place keeps its mode otherwise.
      await runtime.chmod(path, 0o600);
    } catch (error) {
      throw storeError(path, error);
    }
  }
  const { DatabaseSync } = await import("node:sqlite");
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${Math.min(BUSY_SLICE_MS, busyMs)}`);
    db.exec("PRAGMA synchronous = FULL");
    const c: Connection = { db, statements: {}, ...waiting };
    await untilFree(c, () => {
      try {
        checkFormat(c.db, path);
      } catch (error) {
        if (c.db.isTransaction) c.db.exec("ROLLBACK");
        throw error;
      }
    });
    return c;
  } catch (error) {
    db?.close();
    throw storeError(path, error, busyMs);
  }
}

/**
 * Runs `fn` (which takes SQLite locks), again and again while the database is locked by another
 * process — each attempt waits at most {@linkcode BUSY_SLICE_MS} inside SQLite, and this
 * process's other work runs between attempts — until {@linkcode Connection.busyMs} has passed,
 * then fails with exit 10. `notify`: the wait is for the write lock, said once after
 * {@linkcode Connection.noticeMs}.
 */
async function untilFree<T>(c: Connection, fn: () => T, notify = false): Promise<T> {
  const started = performance.now();
  let told = false;
  for (;;) {
    try {
      return fn();
    } catch (error) {
      if (!isBusy(error)) throw error;
      const waited = performance.now() - started;
      if (waited >= c.busyMs) throw storeError(c.db.location() ?? "the store", error, c.busyMs);
      if (notify && !told && waited >= c.noticeMs) {
        told = true;
        c.onWait?.();
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** Whether `error` (or the failure an AuthsomeError wraps) is SQLite's "database is locked". */
function isBusy(error: unknown): boolean {
  const raw = error instanceof AuthsomeError ? error.cause : error;
  return raw instanceof Error && raw.message.includes(SQLITE_BUSY);
}

function checkFormat(db: DatabaseSync, path: string): void {
  const row = db.prepare(
    "SELECT user_version, application_id FROM pragma_user_version(), pragma_application_id()",
  ).get()!;
  const version = Number(row.user_version);
  const app = Number(row.application_id);
  if (version === STORE_FORMAT_VERSION && app === STORE_APPLICATION_ID) {
    // Also for a restored copy that is not in WAL mode; a no-op when it is.
    db.exec("PRAGMA journal_mode = WAL");
    return;
  }
  if (version === 0 && app === 0) {
    // On an error the caller closes the database, which rolls the transaction back.
    db.exec("BEGIN IMMEDIATE");
    // Another process may have created the schema while this one waited for the lock.
    const now = Number(db.prepare("PRAGMA user_version").get()!.user_version);
    // Stryker disable next-line ConditionalExpression: only a second process creating the store in
    // the same instant reaches it, and a test cannot hold this thread inside its synchronous wait.
    if (now === 0) db.exec(SCHEMA);
    db.exec("COMMIT");
    return checkFormat(db, path);
  }
  if (app !== STORE_APPLICATION_ID) {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `Cannot open the store ${path}: it is not an authsome store`,
      {
        hint: "Move the file away, or point AUTHSOME_HOME at another folder",
      },
    );
  }
  throw new AuthsomeError(
    "VAULT_UNAVAILABLE",
    `Cannot open the store ${path}: format version ${version} is not supported (this authsome reads ${STORE_FORMAT_VERSION})`,
    { hint: "Use the authsome version that wrote this store, or a newer one" },
  );
}

const SQL = {
  header: "SELECT key_source, key_id, data_key_nonce, data_key FROM vaults WHERE name = ?",
  get: "SELECT nonce, ciphertext FROM records WHERE vault = ? AND key = ?",
  keysAll: "SELECT key FROM records WHERE vault = ? ORDER BY key",
  keysRange: "SELECT key FROM records WHERE vault = ? AND key >= ? AND key < ? ORDER BY key",
  vaults: "SELECT name FROM vaults ORDER BY name",
  putHeader:
    "INSERT INTO vaults (name, key_source, key_id, data_key_nonce, data_key) VALUES (?, ?, ?, ?, ?) " +
    "ON CONFLICT (name) DO UPDATE SET key_source = excluded.key_source, key_id = excluded.key_id, " +
    "data_key_nonce = excluded.data_key_nonce, data_key = excluded.data_key",
  put: "INSERT INTO records (vault, key, nonce, ciphertext) VALUES (?, ?, ?, ?) " +
    "ON CONFLICT (vault, key) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
  delete: "DELETE FROM records WHERE vault = ? AND key = ?",
} as const;

/** A prepared statement of {@linkcode SQL}, prepared on first use (a `get` needs two). */
function sql(c: Connection, name: keyof typeof SQL): StatementSync {
  return c.statements[name] ??= c.db.prepare(SQL[name]);
}

function run<T>(c: Connection, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw storeError(c.db.location() ?? "the store", error, c.busyMs);
  }
}

function readHeader(c: Connection, name: string): VaultHeader | undefined {
  const row = run(c, () => sql(c, "header").get(name));
  if (row === undefined) return undefined;
  return {
    name,
    keySource: String(row.key_source) as KeySource,
    keyId: String(row.key_id),
    dataKey: { nonce: String(row.data_key_nonce), ciphertext: String(row.data_key) },
  };
}

function readRecord(c: Connection, vault: string, key: string): Sealed | undefined {
  const row = run(c, () => sql(c, "get").get(vault, key));
  return row === undefined
    ? undefined
    : { nonce: String(row.nonce), ciphertext: String(row.ciphertext) };
}

function readKeys(c: Connection, vault: string, prefix: string): string[] {
  const rows = run(
    c,
    () =>
      prefix === ""
        ? sql(c, "keysAll").all(vault)
        : sql(c, "keysRange").all(vault, prefix, prefixEnd(prefix)),
  );
  return rows.map((row) => String(row.key));
}

/** The smallest string greater than every string that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

type Change =
  | { kind: "header"; header: VaultHeader }
  | { kind: "put"; vault: string; key: string; sealed: Sealed }
  | { kind: "delete"; vault: string; key: string };

/**
 * `BEGIN IMMEDIATE` takes the database's write lock at once (waiting up to the busy timeout for
 * another process), so reads inside the transaction see the latest commit and nothing commits
 * between them and this commit. Writes are buffered and applied in one synchronous step just
 * before `COMMIT`, so other code of this process never reads them uncommitted.
 */
async function runTransaction<T>(
  c: Connection,
  fn: (tx: StoreTransaction) => Promise<T> | T,
): Promise<T> {
  await untilFree(c, () => run(c, () => c.db.exec("BEGIN IMMEDIATE")), true);
  const changes: Change[] = [];
  const pending = new Map<string, Sealed | null>();
  const headers = new Map<string, VaultHeader>();
  const slot = (vault: string, key: string) => `${vault}\u0000${key}`;
  const tx: StoreTransaction = {
    header: (name) => Promise.resolve(headers.get(name) ?? readHeader(c, name)),
    get(vault, key) {
      const own = pending.get(slot(vault, key));
      return Promise.resolve(own === null ? undefined : own ?? readRecord(c, vault, key));
    },
    keys(vault, prefix) {
      const all = new Set(readKeys(c, vault, prefix));
      for (const [at, sealed] of pending) {
        const [v, key] = at.split("\u0000") as [string, string];
        if (v !== vault || !key.startsWith(prefix)) continue;
        if (sealed === null) all.delete(key);
        else all.add(key);
      }
      return Promise.resolve([...all].sort(compareKeys));
    },
    putHeader(header) {
      headers.set(header.name, structuredClone(header));
      changes.push({ kind: "header", header: structuredClone(header) });
    },
    put(vault, key, sealed) {
      pending.set(slot(vault, key), { ...sealed });
      changes.push({ kind: "put", vault, key, sealed: { ...sealed } });
    },
    delete(vault, key) {
      pending.set(slot(vault, key), null);
      changes.push({ kind: "delete", vault, key });
    },
  };
  try {
    const result = await fn(tx);
    run(c, () => {
      for (const change of changes) apply(c, change);
      c.db.exec("COMMIT");
    });
    return result;
  } catch (error) {
    if (c.db.isTransaction) c.db.exec("ROLLBACK");
    throw error;
  }
}

function apply(c: Connection, change: Change): void {
  switch (change.kind) {
    case "header": {
      const h = change.header;
      sql(c, "putHeader").run(h.name, h.keySource, h.keyId, h.dataKey.nonce, h.dataKey.ciphertext);
      return;
    }
    case "put":
      sql(c, "put").run(change.vault, change.key, change.sealed.nonce, change.sealed.ciphertext);
      return;
    case "delete":
      sql(c, "delete").run(change.vault, change.key);
  }
}

/**
 * Holds the exclusive lock on `<lockDir>/<name>.lock` (an SQLite lock, see runtime/sqlite_lock.ts,
 * so Deno, Node and Bun processes exclude each other) while `fn` runs; while another process
 * holds it, says so after `noticeAfterMs` and gives up after `timeoutMs` (see
 * {@linkcode LockOptions}).
 */
async function withNamedLock<T>(
  lockDir: string,
  name: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  await ensurePrivateDir(lockDir);
  const path = `${lockDir}/${encodeURIComponent(name)}.lock`;
  const attempt = async () => {
    try {
      return await runtime.tryLock(path);
    } catch (error) {
      throw storeError(path, error);
    }
  };
  // A non-blocking try, polled: a blocking wait could not be given up or reported.
  let held = await attempt();
  if (held === undefined) {
    const started = performance.now();
    const noticeAfter = options.noticeAfterMs ?? NOTICE_AFTER_MS;
    let told = false;
    while (held === undefined) {
      const waited = performance.now() - started;
      if (options.timeoutMs !== undefined && waited >= options.timeoutMs) {
        throw lockTimeoutError(options, path);
      }
      if (!told && waited >= noticeAfter) {
        told = true;
        options.onWait?.();
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
      held = await attempt();
    }
  }
  try {
    return await fn();
  } finally {
    held.release();
  }
}

/** How often a held named lock is tried again. */
const LOCK_POLL_MS = 25;

/**
 * SQLite's own texts (`sqlite3_errstr`) of the failures that get a message of their own; the same
 * under Deno and Node, which report them as the error message.
 */
const SQLITE_BUSY = "database is locked";
const SQLITE_CORRUPT = "database disk image is malformed";
const SQLITE_NOTADB = "file is not a database";
const SQLITE_FULL = "database or disk is full";
const SQLITE_IOERR = "disk I/O error";

/**
 * Whether the file system holding `path` has less than 64 KB left for this user. On a full disk
 * SQLite cannot even make its shared-memory file (`-shm`), so a read fails too, with the plain
 * "disk I/O error" that this tells apart from a failing disk.
 */
function diskFull(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize < 65_536;
  } catch {
    return false;
  }
}

/** Maps a file-system or SQLite failure to a one-line `VAULT_UNAVAILABLE`. */
function storeError(path: string, error: unknown, busyMs = BUSY_TIMEOUT_MS): AuthsomeError {
  if (error instanceof AuthsomeError) return error;
  const detail = error instanceof Error ? error.message.split("\n")[0]! : String(error);
  const failure = (message: string, hint: string) =>
    new AuthsomeError("VAULT_UNAVAILABLE", message, { cause: error, hint });
  const known = [SQLITE_BUSY, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_FULL].find((text) =>
    detail.includes(text)
  );
  if (detail.includes(SQLITE_IOERR) && diskFull(path)) {
    return failure(
      `Cannot use the store ${path}: the disk is full`,
      "Free some space and try again; nothing was changed",
    );
  }
  switch (known) {
    case SQLITE_BUSY:
      return failure(
        `The store ${path} is busy: another authsome process kept it locked for ${busyMs / 1000} s`,
        "Try again; if it persists, look for a hung authsome process",
      );
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return failure(
        `Cannot open the store ${path}: the file is damaged (${detail})`,
        "Restore the file from a backup",
      );
    case SQLITE_FULL:
      return failure(
        `Cannot write the store ${path}: the disk is full`,
        "Free some space and try again; nothing was changed",
      );
    default:
      return failure(
        `Cannot use the store ${path}: ${detail}`,
        "Check that AUTHSOME_HOME points to a folder you own",
      );
  }
}
