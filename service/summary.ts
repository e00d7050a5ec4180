/**
 * What the vault's index keeps of each connection: the record without its secret values, so
 * `list`, `inspect` and `connections list` read a provider's index records instead of opening
 * every connection. Nothing that decides where a credential goes is read from the index; the
 * proxy, `get` and `export` open the connection record itself.
 *
 * @module
 */

import type { ConnectionRecord } from "./types.ts";

/**
 * The index entry of a connection record (see docs/STORAGE.md): all of it but the secrets, and
 * but its provider and name, which its index and its place in it say.
 */
export interface ConnectionSummaryRecord
  extends Omit<ConnectionRecord, "secrets" | "provider" | "connection"> {
  /** Names of the secret fields the record holds, e.g. `["access_token", "refresh_token"]`. */
  secret_fields: string[];
}

/** An index entry as stored: fields that are null or empty are left out (it is read 10,000 at a time). */
export type StoredSummary = Partial<ConnectionSummaryRecord>;

/**
 * The `summarize` function of the service's vault: connection records are indexed by provider
 * (`connection/<provider>/<name>`); other records are not indexed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeRecord } from "./summary.ts";
 * const s = summarizeRecord("connection/openai/work", {
 *   status: "connected", expires_at: null, scopes: [], secrets: { api_key: "sk-…" },
 * });
 * assert.deepEqual(s, { status: "connected", secret_fields: ["api_key"] });
 * assert.equal(summarizeRecord("provider/openai", { default_connection: "work" }), undefined);
 * ```
 */
export function summarizeRecord(key: string, value: unknown): StoredSummary | undefined {
  if (!key.startsWith("connection/")) return undefined;
  const { secrets, provider: _provider, connection: _connection, ...rest } =
    value as ConnectionRecord;
  const out: Record<string, unknown> = {};
  for (const [field, v] of Object.entries(rest)) {
    if (v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0)) out[field] = v;
  }
  out.secret_fields = Object.keys(secrets ?? {}).filter((k) =>
    secrets?.[k as keyof ConnectionRecord["secrets"]] !== undefined
  );
  return out as StoredSummary;
}

/**
 * The full summary of a stored (compact) index entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { expandSummary } from "./summary.ts";
 * assert.deepEqual(expandSummary({ status: "connected" }).scopes, []);
 * ```
 */
export function expandSummary(stored: StoredSummary): ConnectionSummaryRecord {
  return {
    auth_type: stored.auth_type ?? "api_key",
    status: stored.status ?? "invalid",
    created_at: stored.created_at ?? "",
    obtained_at: stored.obtained_at ?? "",
    expires_at: stored.expires_at ?? null,
    scopes: stored.scopes ?? [],
    base_url: stored.base_url ?? null,
    api_url: stored.api_url ?? [],
    token_type: stored.token_type ?? null,
    account: stored.account ?? null,
    secret_fields: stored.secret_fields ?? [],
  };
}
