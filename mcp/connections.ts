/**
 * The `list_connections` tool: the connections the session may use, with what `authsome status`
 * computes of each (ok, expired, refresh_due, login_required), their scopes, expiry and hosts.
 * Never a secret: only what the status check and the record's metadata say.
 *
 * @module
 */
import { connectionNames, defaultOf } from "../service/connections.ts";
import { connKey, type ServiceContext } from "../service/context.ts";
import { checkConnections } from "../service/status.ts";
import type { CheckResult, ConnectionRecord } from "../service/types.ts";
import { checkPolicyAlive, type McpAccess } from "./access.ts";

/** One line of `list_connections`. */
export interface ListedConnection {
  /** The provider, e.g. `github`. */
  provider: string;
  /** The connection name; null for an allowed provider nobody has logged in to yet. */
  connection: string | null;
  /** Whether it is the provider's default connection (the one used when none is named). */
  default: boolean;
  /** `ok`, `refresh_due` (usable, refreshed on next use), `expired` or `login_required`. */
  status: "ok" | "refresh_due" | "expired" | "login_required";
  /** Why, and what to do, in one line. */
  detail: string;
  /** OAuth scopes granted; empty for API keys. */
  scopes: string[];
  /** When the credential expires (ISO-8601 UTC); null when it does not. */
  expires_at: string | null;
  /** Where `http_request` may send this connection's credential: hosts, URL prefixes, `regex:`. */
  hosts: string[];
  /** `api_key` or `oauth2`. */
  auth_type: string | null;
}

/**
 * The connections the session may use, sorted by provider then connection. Without an identity:
 * every connection of the vault. With one: the connections its grants allow, plus a
 * `login_required` line for an allowed provider without a connection (so the agent knows it can
 * ask for a login).
 *
 * @example
 * ```ts ignore
 * const lines = await listConnectionsTool(ctx, access);
 * ```
 */
export async function listConnectionsTool(
  ctx: ServiceContext,
  access: McpAccess,
): Promise<ListedConnection[]> {
  const { policy } = access;
  const keys = (await ctx.vault.keys("connection/")).map((k) => k.split("/").slice(1));
  const targets: Array<[string, string | null]> = [];
  if (policy === undefined) {
    for (const [p, c] of keys) targets.push([p!, c!]);
  } else {
    checkPolicyAlive(ctx, policy);
    for (const grant of policy.grants) {
      const names = await connectionNames(ctx.vault, grant.provider);
      const allowed = grant.connection ?? access.chosen[grant.provider] ??
        await defaultOf(ctx.vault, grant.provider);
      const usable = names.filter((n) => n === allowed);
      if (usable.length === 0) targets.push([grant.provider, allowed]);
      for (const name of usable) targets.push([grant.provider, name]);
    }
  }
  const out: ListedConnection[] = [];
  for (const [provider, connection] of targets) {
    out.push(await describe(ctx, provider, connection));
  }
  out.sort((a, b) =>
    a.provider.localeCompare(b.provider) || (a.connection ?? "").localeCompare(b.connection ?? "")
  );
  return out;
}

/** One line: the status check of a stored connection, or `login_required` for a missing one. */
async function describe(
  ctx: ServiceContext,
  provider: string,
  connection: string | null,
): Promise<ListedConnection> {
  const record = connection === null
    ? undefined
    : await ctx.vault.get<ConnectionRecord>(connKey(provider, connection)).catch(() => undefined);
  if (connection === null || record === undefined) {
    const hosts = await ctx.registry.get(provider).then(
      (p) => p.definition.api_url.map(hostOf),
      () => [],
    );
    return {
      provider,
      connection,
      default: false,
      status: "login_required",
      detail: "no connection yet; ask the human to log in with request_login",
      scopes: [],
      expires_at: null,
      hosts,
      auth_type: null,
    };
  }
  const [check] = await checkConnections(ctx, provider, connection);
  return {
    provider,
    connection,
    default: check?.default ?? false,
    status: statusWord(check?.result ?? "login_required"),
    detail: check?.detail ?? "",
    scopes: [...record.scopes],
    expires_at: record.expires_at,
    hosts: record.api_url.map(hostOf),
    auth_type: record.auth_type,
  };
}

/** The four words of the tool (a record that cannot be opened needs a new login too). */
function statusWord(result: CheckResult): ListedConnection["status"] {
  return result === "unreadable" ? "login_required" : result;
}

/** An api_url target as the agent reads it: `api.example.com`, `api.example.com/v4`, `regex:…`. */
function hostOf(target: string): string {
  return target.replace(/^https:\/\//i, "").replace(/\/+$/, "");
}
