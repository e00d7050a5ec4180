/**
 * `status`: is each connection usable? Every connection record is opened (not just its index
 * summary), so a record that cannot be opened is found; nothing is sent over the network and no
 * secret leaves this module, only whether one is there.
 *
 * @module
 */
import { checkName } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { connectionNames, defaultOf, statusOf } from "./connections.ts";
import { clientKey, connKey, type ServiceContext } from "./context.ts";
import { needsRefresh } from "./tokens.ts";
import type { CheckResult, ConnectionCheck, ConnectionRecord } from "./types.ts";

/**
 * Checks the connections of the vault, of one provider, or one connection (in the order of
 * their record keys). `CONNECTION_NOT_FOUND` (exit 3) when there is nothing to check,
 * `PROVIDER_NOT_FOUND` (4) for an unknown provider without connections.
 *
 * @example
 * ```ts ignore
 * const checks = await checkConnections(ctx, "openai", undefined);
 * const usable = checks.every((c) => c.usable);
 * ```
 */
export async function checkConnections(
  ctx: ServiceContext,
  provider: string | undefined,
  connection: string | undefined,
): Promise<ConnectionCheck[]> {
  if (provider !== undefined) checkName("provider", provider);
  if (connection !== undefined) checkName("connection", connection);
  const prefix = provider === undefined ? "connection/" : `connection/${provider}/`;
  const targets = (await ctx.vault.keys(prefix))
    .map((key) => key.split("/").slice(1) as [string, string])
    .filter(([, c]) => connection === undefined || c === connection);
  if (targets.length === 0) throw await nothingToCheck(ctx, provider, connection);
  const defaults = new Map<string, string | null>();
  const clients = new Map<string, Promise<boolean>>();
  const out: ConnectionCheck[] = [];
  for (const [p, c] of targets) {
    if (!defaults.has(p)) defaults.set(p, await defaultOf(ctx.vault, p).catch(() => null));
    const base = { provider: p, connection: c, default: defaults.get(p) === c };
    let record: ConnectionRecord | undefined;
    try {
      record = await ctx.vault.get<ConnectionRecord>(connKey(p, c));
    } catch (error) {
      if (!(error instanceof AuthsomeError)) throw error;
      out.push({ ...base, ...unreadable(error.message), status: null, expires_at: null });
      continue;
    }
    if (record === undefined) continue; // logged out between listing and reading
    const hasClient = () => {
      let known = clients.get(p);
      if (known === undefined) {
        known = ctx.vault.get(clientKey(p)).then((client) => client !== undefined);
        clients.set(p, known);
      }
      return known;
    };
    let outcome: { result: CheckResult; detail: string };
    try {
      outcome = await judge(ctx, record, hasClient);
    } catch (error) {
      if (!(error instanceof AuthsomeError)) throw error;
      outcome = unreadable(`its OAuth client cannot be read: ${error.message}`);
    }
    out.push({
      ...base,
      ...outcome,
      usable: outcome.result === "ok" || outcome.result === "refresh_due",
      status: statusOf(ctx, record),
      expires_at: record.expires_at,
    });
  }
  return out;
}

function unreadable(detail: string) {
  return { result: "unreadable" as const, usable: false, detail };
}

/** The outcome for one opened record. */
async function judge(
  ctx: ServiceContext,
  record: ConnectionRecord,
  hasClient: () => Promise<boolean>,
): Promise<{ result: CheckResult; detail: string }> {
  const again = `log in again: authsome login ${record.provider}${
    record.connection === "default" ? "" : ` --connection ${record.connection}`
  } --force`;
  const status = statusOf(ctx, record);
  const secret = record.auth_type === "api_key"
    ? record.secrets.api_key
    : record.secrets.access_token;
  if (status === "revoked" || status === "invalid") {
    return { result: "login_required", detail: `${status}; ${again}` };
  }
  if (secret === undefined) {
    return { result: "login_required", detail: `its credential is missing; ${again}` };
  }
  const expires = record.expires_at;
  if (status === "expired") {
    return {
      result: "expired",
      detail: `${expires === null ? "marked expired" : `expired at ${expires}`}; ${again}`,
    };
  }
  if (expires === null) return { result: "ok", detail: "does not expire" };
  if (!needsRefresh(ctx, record)) return { result: "ok", detail: `expires at ${expires}` };
  if (record.secrets.refresh_token !== undefined && await hasClient()) {
    return { result: "refresh_due", detail: `expires at ${expires}; refreshed on next use` };
  }
  if (Date.parse(expires) <= ctx.now().getTime()) {
    return { result: "expired", detail: `expired at ${expires} and cannot be refreshed; ${again}` };
  }
  return { result: "ok", detail: `expires at ${expires} and cannot be refreshed` };
}

/** The error when there is no connection to check. */
async function nothingToCheck(
  ctx: ServiceContext,
  provider: string | undefined,
  connection: string | undefined,
): Promise<AuthsomeError> {
  if (provider === undefined) {
    return new AuthsomeError(
      "CONNECTION_NOT_FOUND",
      `No connections in vault "${ctx.settings.vault}"`,
      {
        hint: "Log in first: authsome login PROVIDER (every provider: authsome list --all)",
      },
    );
  }
  await ctx.registry.get(provider); // exit 4 for a provider that does not exist
  const names = await connectionNames(ctx.vault, provider);
  if (connection === undefined || names.length === 0) {
    return new AuthsomeError("CONNECTION_NOT_FOUND", `No connection for ${provider}`, {
      hint: `Log in first: authsome login ${provider}${
        connection === undefined ? "" : ` --connection ${connection}`
      }`,
    });
  }
  return new AuthsomeError(
    "CONNECTION_NOT_FOUND",
    `No connection "${connection}" for ${provider}`,
    {
      hint: `Known connections: ${names.join(", ")}`,
    },
  );
}
