/**
 * The one context every capability module works over: settings, environment, clock, `fetch`,
 * the provider registry, the store and the current vault, and the master-key loader. Built once
 * by `createAuthService`; capability modules are plain functions taking it first.
 *
 * @module
 */
import { type EnvSource, joinPath, resolveSettings, type Settings } from "../config.ts";
import { AuthsomeError, type ErrorCode } from "../errors.ts";
import { createRegistry, type Registry } from "../providers/registry.ts";
import { runtime } from "../runtime/runtime.ts";
import { appendAudit, type AuditEntry } from "../storage/audit.ts";
import { openHomeStore, openHomeVault, STORE_FILE } from "../storage/home.ts";
import { loadMasterKey, type MasterKey, type MasterKeyOptions } from "../storage/master_key.ts";
import { settlePendingRekey } from "../storage/rekey.ts";
import { BUSY_TIMEOUT_MS } from "../storage/sqlite_store.ts";
import type { LockOptions, Store } from "../storage/store.ts";
import type { Vault } from "../storage/vault.ts";
import { summarizeRecord } from "./summary.ts";
import type { AuthServiceOptions } from "./types.ts";

/** What the capability modules share. */
export interface ServiceContext {
  /** Home, vault name and key settings. */
  readonly settings: Settings;
  /** Where settings and provider variables are read. */
  readonly env: EnvSource;
  /** The clock. */
  readonly now: () => Date;
  /** `fetch` for every network call (OAuth). */
  readonly fetch: typeof fetch;
  /** Provider definitions, bundled and the user's. */
  readonly registry: Registry;
  /** Where the vaults live. */
  readonly store: Store;
  /** The current vault (connections index included). */
  readonly vault: Vault;
  /** The master-key settings (for `whoami` and `doctor`). */
  readonly keyOptions: MasterKeyOptions;
  /** Loads the master key once; `create` allows creating the key file. */
  readonly masterKey: (create: boolean) => Promise<MasterKey>;
  /** The agent identity the service acts as, when created with one. */
  readonly identity: string | undefined;
  /** Tells the user something while an operation goes on (a wait); never a secret. */
  readonly notice: (message: string) => void;
  /**
   * The options of a wait for a connection's lock held by another process that is doing
   * `holder` (e.g. `refreshing acme (work)`): a notice after 1 s, and exit 10 after
   * {@linkcode REFRESH_LOCK_TIMEOUT_MS} (or `AUTHSOME_LOCK_TIMEOUT`).
   */
  readonly lockWait: (holder: string) => LockOptions;
}

/**
 * How long a process waits for another one's refresh of the same connection before giving up
 * (exit 10): twice the 30 s timeout of the token request the other one is waiting for.
 */
export const REFRESH_LOCK_TIMEOUT_MS = 60_000;

/** Audit fields a caller gives; time, action, vault and outcome are added. */
export type AuditFields = Omit<AuditEntry, "time" | "action" | "vault" | "outcome">;

/**
 * Builds the context from the service options. Nothing is read or opened yet.
 *
 * @example
 * ```ts ignore
 * const ctx = createContext({ home: "/tmp/h", env: {} });
 * await ctx.vault.get("provider/openai");
 * ```
 */
export function createContext(options: AuthServiceOptions): ServiceContext {
  const envOption = options.env;
  const env: EnvSource = envOption === undefined
    ? { get: (name) => runtime.env(name) }
    : typeof (envOption as EnvSource).get === "function"
    ? envOption as EnvSource
    : { get: (name) => (envOption as Record<string, string | undefined>)[name] };
  const settings = resolveSettings(env, {
    home: options.home,
    vault: options.vault,
    store: options.store,
  });
  const keyOptions: MasterKeyOptions = {
    home: settings.home,
    masterKey: settings.masterKey,
    passphrase: settings.passphrase,
  };
  const notice = options.onNotice ?? (() => {});
  const storePath = joinPath(settings.home, STORE_FILE);
  const store = openHomeStore(settings.home, {
    storeUrl: settings.store,
    busyTimeoutMs: settings.lockTimeoutMs ?? BUSY_TIMEOUT_MS,
    onWait: () =>
      notice(`Waiting for another authsome process that is writing the store (${storePath})…`),
  });
  const lockWait = (holder: string): LockOptions => ({
    holder,
    timeoutMs: settings.lockTimeoutMs ?? REFRESH_LOCK_TIMEOUT_MS,
    onWait: () => notice(`Waiting for another authsome process that is ${holder}…`),
  });
  let loaded: Promise<MasterKey> | undefined;
  const masterKey = (create: boolean) => {
    if (loaded === undefined) {
      // A rekey killed half-way is settled first (one stat when there is none).
      const attempt = settlePendingRekey(settings.home, store, lockWait("changing the master key"))
        .then(() => loadMasterKey(keyOptions, { create }));
      loaded = attempt;
      attempt.catch(() => {
        if (loaded === attempt) loaded = undefined;
      });
    }
    return loaded;
  };
  return {
    settings,
    env,
    now: options.now ?? (() => new Date()),
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    registry: createRegistry({ home: settings.home }),
    store,
    vault: openHomeVault({
      home: settings.home,
      store,
      name: settings.vault,
      masterKey,
      summarize: summarizeRecord,
    }),
    keyOptions,
    masterKey,
    identity: options.identity,
    notice,
    lockWait,
  };
}

/**
 * Vault `name` of the context's home and store: the context's own vault when it is the one in
 * use, else one opened the same way (for commands that go over every vault: backup, rekey).
 *
 * @example
 * ```ts ignore
 * for (const name of await listHomeVaults(ctx.settings.home, ctx.store)) {
 *   await vaultNamed(ctx, name).keys();
 * }
 * ```
 */
export function vaultNamed(ctx: ServiceContext, name: string): Vault {
  return name === ctx.settings.vault ? ctx.vault : openHomeVault({
    home: ctx.settings.home,
    store: ctx.store,
    name,
    masterKey: ctx.masterKey,
    summarize: summarizeRecord,
  });
}

/**
 * Runs `fn` and writes one audit entry for its outcome (the error code on failure; never a
 * secret, since audit fields are names and flags only).
 *
 * @example
 * ```ts ignore
 * await audited(ctx, "logout", { provider: "openai" }, () => deleteIt());
 * ```
 */
export async function audited<T>(
  ctx: ServiceContext,
  action: string,
  fields: AuditFields,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    const result = await fn();
    await audit(ctx, action, fields);
    return result;
  } catch (error) {
    await audit(ctx, action, fields, error).catch(() => {});
    throw error;
  }
}

async function audit(
  ctx: ServiceContext,
  action: string,
  fields: AuditFields,
  error?: unknown,
): Promise<void> {
  const entry: AuditEntry = {
    time: ctx.now().toISOString(),
    action,
    vault: ctx.settings.vault,
    ...(ctx.identity !== undefined ? { identity: ctx.identity } : {}),
    ...fields,
    outcome: error === undefined ? "ok" : "error",
  };
  if (error !== undefined) {
    entry.error = error instanceof AuthsomeError ? error.code : "UNEXPECTED" satisfies ErrorCode;
  }
  await appendAudit(ctx.settings.home, entry);
  // A shared store also keeps the fleet's trail; the local log above has the entry either way.
  await ctx.store.appendAudit?.(entry).catch(() => {});
}

/** The record key of a connection. */
export const connKey = (provider: string, connection: string): string =>
  `connection/${provider}/${connection}`;
/** The record key of a provider's settings (its default connection). */
export const providerKey = (provider: string): string => `provider/${provider}`;
/** The name of the lock a refresh (or rename) of a connection holds. */
export const refreshLockName = (provider: string, connection: string): string =>
  `refresh/${provider}/${connection}`;
/** The record key of a provider's OAuth client credentials. */
export const clientKey = (provider: string): string => `client/${provider}`;
