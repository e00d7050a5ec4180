/**
 * The composition root: `createAuthService` builds one {@linkcode ServiceContext} and binds the
 * capability modules to it. Each operation lives in the module named after it:
 * connections.ts (list, set-default, logout), login.ts, tokens.ts (refresh, headers, secrets,
 * export), revoke.ts, run_session.ts, provider_files.ts, doctor.ts (whoami, doctor).
 *
 * @module
 */
import { readAudit } from "../storage/audit.ts";
import { listConnections, listProviders, logout, setDefaultConnection } from "./connections.ts";
import { createContext } from "./context.ts";
import { doctor, whoami } from "./doctor.ts";
import { login } from "./login.ts";
import { registerProvider, removeProvider } from "./provider_files.ts";
import { revoke } from "./revoke.ts";
import { run } from "./run_session.ts";
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
  const service: AuthService = {
    settings: ctx.settings,
    login: (provider, opts) => login(ctx, provider, opts),
    logout: (provider, opts = {}) => logout(ctx, provider, opts.connection),
    revoke: (provider, opts) => revoke(ctx, provider, opts),
    getConnection: (provider, opts = {}) => getConnection(ctx, provider, opts.connection),
    getSecret: (provider, field, opts = {}) => getSecret(ctx, provider, field, opts.connection),
    getAccessToken: (provider, opts = {}) => getAccessToken(ctx, provider, opts.connection),
    getAuthHeaders: (provider, opts = {}) => getAuthHeaders(ctx, provider, opts.connection),
    listProviders: () => listProviders(ctx),
    listConnections: (provider) => listConnections(ctx, provider),
    getProvider: (name) => ctx.registry.get(name),
    setDefaultConnection: (provider, name) => setDefaultConnection(ctx, provider, name),
    export: (provider, opts) => exportValues(ctx, provider, opts),
    registerProvider: (definition, opts) => registerProvider(ctx, definition, opts),
    removeProvider: (name) => removeProvider(ctx, name),
    run: (command, opts) => run(ctx, command, opts),
    whoami: () => whoami(ctx),
    doctor: () => doctor(ctx),
    auditLog: (limit = 50) => readAudit(ctx.settings.home, limit),
    close: () => Promise.resolve(ctx.store.close()),
  };
  return Promise.resolve(service);
}
