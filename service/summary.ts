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

/**
 * The `summarize` function of the service's vault: connection records are indexed by provider
 * (`connection/<provider>/<name>`); other records are not indexed.
 *
 * @example
 * ```ts
 * import { summarizeRecord } from "./summary.ts";
 * const s = summarizeRecord("connection/openai/work", { status: "connected", secrets: { api_key: "sk-…" } });
 * console.log(s); // { status: "connected", secret_fields: ["api_key"] }
 * console.log(summarizeRecord("provider/openai", { default_connection: "work" })); // undefined
 * ```
 */
export function summarizeRecord(key: string, value: unknown): ConnectionSummaryRecord | undefined {
  if (!key.startsWith("connection/")) return undefined;
  const { secrets, provider: _provider, connection: _connection, ...rest } =
    value as ConnectionRecord;
  const secretFields = Object.keys(secrets ?? {}).filter((k) =>
    secrets?.[k as keyof ConnectionRecord["secrets"]] !== undefined
  );
  return { ...rest, secret_fields: secretFields };
}
