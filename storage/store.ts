/**
 * The `Store` interface: where vaults live, as sealed records. It knows nothing of encryption or
 * of what a record means; `vault.ts` seals and opens records on top of it. The embedded default
 * is SQLite (`sqlite_store.ts`); `memory_store.ts` keeps everything in memory. A server-backed
 * store (PostgreSQL) implements the same interface and passes the same contract suite
 * (`store_contract.ts`), without touching flows, proxy or CLI.
 *
 * What every implementation guarantees:
 *
 * 1. **Atomic multi-record commits.** {@linkcode Store.transaction} applies all of its writes or
 *    none of them, and transactions of all processes sharing the store are serializable: a
 *    transaction's reads see the committed state plus its own writes, and no other write
 *    commits between them and its commit.
 * 2. **Durability.** A transaction that resolved is on disk: a process killed with SIGKILL at
 *    any moment leaves a store that opens with every transaction that resolved, and no trace of
 *    one that did not.
 * 3. **Visibility.** Reads outside a transaction see the latest committed state, including
 *    commits by other processes, so a long-lived handle never serves a stale record.
 * 4. **Named locks.** {@linkcode Store.withLock} holds a lock that excludes every other holder of
 *    the same name in any process sharing the store, and no other name. It is released when the
 *    function settles or the process dies. An OAuth refresh holds the connection's lock across
 *    its network round trip, so N processes cause one token request while other connections are
 *    read and written freely. Never start a transaction's function by waiting for a lock: locks
 *    are taken outside transactions.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { Sealed } from "./crypto.ts";
import type { KeySource } from "./master_key.ts";

/** A vault's header: its data key, wrapped by the master key. */
export interface VaultHeader {
  /** The vault's name. */
  name: string;
  /** Which master-key source wrapped the data key (used only to explain a mismatch). */
  keySource: KeySource;
  /** Random identifier of the data key, bound into every record's associated data. */
  keyId: string;
  /** The data key sealed with the master key. */
  dataKey: Sealed;
}

/** Reads of committed state (or, inside a transaction, committed state plus its writes). */
export interface StoreReader {
  /** The header of vault `name`, or undefined when the vault does not exist. */
  header(name: string): Promise<VaultHeader | undefined>;
  /** The sealed record at `key` of `vault`, or undefined. */
  get(vault: string, key: string): Promise<Sealed | undefined>;
  /** The record keys of `vault` that start with `prefix`, sorted by code unit. */
  keys(vault: string, prefix: string): Promise<string[]>;
}

/** The writes a transaction may make; they take effect when its function resolves. */
export interface StoreTransaction extends StoreReader {
  /** Creates vault `header.name`, or replaces its header (the records stay). */
  putHeader(header: VaultHeader): void;
  /** Stores `sealed` at `key` of `vault` (which must exist by commit time). */
  put(vault: string, key: string, sealed: Sealed): void;
  /** Removes the record at `key` of `vault`; no error when it is absent. */
  delete(vault: string, key: string): void;
}

/** After how long a process that waits for another (a lock, a write) says so: 1 s. */
export const NOTICE_AFTER_MS = 1000;

/** An audit entry kept by a shared store. */
export interface SharedAuditEntry {
  /** The name of the host that wrote it (`os.hostname()`). */
  host: string;
  /** The entry as the host wrote it to its own audit log. */
  entry: Record<string, unknown>;
}

/** Options of {@linkcode Store.withLock}. */
export interface LockOptions {
  /**
   * Called once when the lock is held by someone else and the caller has waited
   * `noticeAfterMs` for it (e.g. to tell the user what it waits for).
   */
  onWait?: (() => void) | undefined;
  /** How long to wait before calling `onWait`; default {@linkcode NOTICE_AFTER_MS}. */
  noticeAfterMs?: number | undefined;
  /**
   * Give up after waiting this long, with `VAULT_UNAVAILABLE` (exit 10) and `fn` not run;
   * default: wait until the lock is free.
   */
  timeoutMs?: number | undefined;
  /** What the other holder is doing, for the message when giving up: `refreshing acme (work)`. */
  holder?: string | undefined;
}

/**
 * The error of a wait for a lock that ran out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockTimeoutError } from "./store.ts";
 * const e = lockTimeoutError({ timeoutMs: 60_000, holder: "refreshing acme (work)" });
 * assert.equal(e.message, "Gave up after 60 s waiting for another authsome process that is refreshing acme (work)");
 * assert.equal(e.exitCode, 10);
 * ```
 */
export function lockTimeoutError(options: LockOptions, path?: string): AuthsomeError {
  return new AuthsomeError(
    "VAULT_UNAVAILABLE",
    `Gave up after ${(options.timeoutMs ?? 0) / 1000} s waiting for another authsome process ${
      options.holder === undefined ? "holding a lock" : `that is ${options.holder}`
    }`,
    {
      hint: `Try again; if it persists, look for a hung authsome process${
        path === undefined ? "" : ` (it holds ${path})`
      }`,
    },
  );
}

/** Where vaults live. See the module documentation for the guarantees. */
export interface Store extends StoreReader {
  /** `sqlite`, `memory`, … — for `whoami` and `doctor`. */
  readonly kind: string;
  /** A human description of where the data is (a file path; never a password). */
  readonly location: string;
  /** The names of every vault, sorted. */
  vaults(): Promise<string[]>;
  /** Runs `fn` as one atomic, serializable transaction; its writes commit when it resolves. */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T): Promise<T>;
  /**
   * A store shared by several hosts (PostgreSQL) also keeps every host's audit entries, with
   * the host's name: appends one (the entry holds names and flags only, never a secret).
   */
  appendAudit?(entry: object): Promise<void>;
  /** The last `limit` shared audit entries, oldest first, each with the host that wrote it. */
  readAudit?(limit: number): Promise<SharedAuditEntry[]>;
  /** Runs `fn` while holding the named lock (see guarantee 4). */
  withLock<T>(name: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
  /**
   * Releases the store's resources; the handle is unusable afterwards. A server store returns a
   * promise that resolves when its connections are closed.
   */
  close(): void | Promise<void>;
}

/** Compares two record keys by code unit, the order `keys()` returns. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
