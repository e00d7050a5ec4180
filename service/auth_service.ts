/**
 * The composition root: `createAuthService` builds one {@linkcode ServiceContext} and binds the
 * capability modules to it. Each operation lives in the module named after it:
 * connections.ts (list, set-default, rename, logout), status.ts (checks), login.ts,
 * tokens.ts (refresh, headers, secrets, export), revoke.ts, run_session.ts, provider_files.ts,
 * identities.ts, doctor.ts (whoami, doctor). A service created with an identity checks its policy before each operation.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { readAudit } from "../storage/audit.ts";
import { listHomeVaults } from "../storage/home.ts";
import {
  defaultOf,
  listConnections,
  listProviders,
  logout,
  renameConnection,
  setDefaultConnection,
} from "./connections.ts";
import { createContext } from "./context.ts";
import { doctor, whoami } from "./doctor.ts";
import { copyStoreTo, fleetAuditLog, getStoreStatus } from "./store_admin.ts";
import {
  allowedConnection,
  createIdentity,
  getIdentity,
  listIdentities,
  refuseChangeAsIdentity,
  removeIdentity,
} from "./identities.ts";
import { login } from "./login.ts";
import { registerProvider, removeProvider } from "./provider_files.ts";
import { revoke } from "./revoke.ts";
import { checkConnections } from "./status.ts";
import { run } from "./run_session.ts";
import { importScanned, scanCredentials } from "./scan.ts";
import { backupHome, restoreHome } from "./backup.ts";
import { rekeyHome } from "./rekey.ts";
import {
  exportValues,
  getAccessToken,
  getAuthHeaders,
  getConnection,
  getSecret,
} from "./tokens.ts";
import type { AuthService, AuthServiceOptions } from "./types.ts";

/**
 * Creates the auth service. Nothing is read until an operation needs it.
 *
 * @example
 * ```ts ignore
 * import { createAuthService } from "@authsome/cli";
 * const auth = await createAuthService();
 * const token = await auth.getAccessToken("github", { connection: "work" });
 * await auth.close();
 * ```
 */
export function createAuthService(options: AuthServiceOptions = {}): Promise<AuthService> {
  const ctx = createContext(options);
  /** Runs a change to the vault, refused for an identity. */
  const change = <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      refuseChangeAsIdentity(ctx);
    } catch (error) {
      return Promise.reject(error);
    }
    return fn();
  };
  const credential = (provider: string, connection: string | undefined) =>
    allowedConnection(ctx, provider, connection, "credential");
  const service: AuthService = {
    settings: ctx.settings,
    login: (provider, opts) => change(() => login(ctx, provider, opts)),
    loginMcp: (url, opts) =>
      change(async () => (await import("./mcp_login.ts")).loginMcp(ctx, url, opts)),
    logout: (provider, opts = {}) => change(() => logout(ctx, provider, opts.connection)),
    revoke: (provider, opts) => change(() => revoke(ctx, provider, opts)),
    getConnection: async (provider, opts = {}) =>
      getConnection(
        ctx,
        provider,
        await allowedConnection(ctx, provider, opts.connection, "metadata"),
      ),
    getSecret: async (provider, field, opts = {}) =>
      getSecret(ctx, provider, field, await credential(provider, opts.connection)),
    getAccessToken: async (provider, opts = {}) =>
      getAccessToken(ctx, provider, await credential(provider, opts.connection)),
    getAuthHeaders: async (provider, opts = {}) =>
      getAuthHeaders(ctx, provider, await credential(provider, opts.connection)),
    listProviders: () => listProviders(ctx),
    listConnections: (provider) => listConnections(ctx, provider),
    getProvider: (name) => ctx.registry.get(name),
    setDefaultConnection: (provider, name) =>
      change(() => setDefaultConnection(ctx, provider, name)),
    renameConnection: (provider, from, to) =>
      change(() => renameConnection(ctx, provider, from, to)),
    checkConnections: async (provider, opts = {}) => {
      if (ctx.identity !== undefined) {
        if (provider === undefined) {
          throw new AuthsomeError("NOT_ALLOWED", "An identity checks one provider at a time", {
            hint: "Name the provider: authsome status PROVIDER",
          });
        }
        // A grant of a provider alone is a grant of its default connection.
        const connection = await allowedConnection(ctx, provider, opts.connection, "metadata") ??
          await defaultOf(ctx.vault, provider) ?? undefined;
        return checkConnections(ctx, provider, connection);
      }
      return checkConnections(ctx, provider, opts.connection);
    },
    export: async (provider, opts = {}) => {
      if (provider === undefined && ctx.identity !== undefined) {
        throw new AuthsomeError("NOT_ALLOWED", "An identity exports one provider at a time", {
          hint: "Name the provider: authsome export PROVIDER",
        });
      }
      const connection = provider === undefined
        ? opts.connection
        : await credential(provider, opts.connection);
      return exportValues(ctx, provider, { ...opts, connection });
    },
    registerProvider: (definition, opts) => change(() => registerProvider(ctx, definition, opts)),
    removeProvider: (name) => change(() => removeProvider(ctx, name)),
    importPython: (opts) =>
      change(async () => (await import("./import_python.ts")).importPython(ctx, opts)),
    run: (command, opts = {}) => run(ctx, command, { ...opts, as: opts.as ?? ctx.identity }),
    serveMcp: async (opts = {}) =>
      (await import("../mcp/stdio.ts")).serveStdio(ctx, { ...opts, as: opts.as ?? ctx.identity }),
    whoami: () => whoami(ctx),
    vaults: async () => ({
      current: ctx.settings.vault,
      exists: await ctx.vault.exists(),
      all: await listHomeVaults(ctx.settings.home, ctx.store),
    }),
    doctor: () => doctor(ctx),
    scan: (opts) => scanCredentials(ctx, opts),
    importScanned: (opts) => importScanned(ctx, opts),
    backup: (opts) => backupHome(ctx, opts),
    restore: (opts) => restoreHome(ctx, opts),
    storeStatus: () => getStoreStatus(ctx),
    copyStore: (to) => change(() => copyStoreTo(ctx, to)),
    fleetAuditLog: (limit = 50) => fleetAuditLog(ctx, limit),
    rekey: (opts = {}) => rekeyHome(ctx, opts),
    auditLog: (limit = 50, filter = {}) => readAudit(ctx.settings.home, limit, filter),
    createIdentity: (name, spec) => change(() => createIdentity(ctx, name, spec)),
    listIdentities: () => listIdentities(ctx),
    getIdentity: (name) => getIdentity(ctx, name),
    removeIdentity: (name) => change(() => removeIdentity(ctx, name)),
    close: () => Promise.resolve(ctx.store.close()),
  };
  return Promise.resolve(service);
}
