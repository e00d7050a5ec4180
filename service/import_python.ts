/**
 * `import python`: copies the connections, default connections, OAuth client credentials and
 * custom provider files of a home folder of the Python original of authsome into the current
 * vault, sealed authsome's way. Layout and formats: shared/reference/authsome-reference.md §4.
 *
 * The source is only read: its `store.db` (and `store.db-wal`, when there is one) is copied to a
 * private temporary folder and the copy opened read-only, so not even SQLite's shared-memory file
 * appears next to the original. Every vault change happens in one transaction: the import is
 * stored whole or not at all. Custom provider files are registered first, as user providers.
 *
 * @module
 */
import { checkName, joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { legacyNotice } from "../providers/legacy.ts";
import type { IgnoredField } from "../providers/legacy.ts";
import { fillBaseUrl, parseProvider, type ProviderDefinition } from "../providers/schema.ts";
import { fromBase64 } from "../runtime/bytes.ts";
import { runtime } from "../runtime/runtime.ts";
import { audited, clientKey, connKey, providerKey, type ServiceContext } from "./context.ts";
import type { ClientRecord, ConnectionRecord, ConnectionStatus, ProviderState } from "./types.ts";

/** Options of {@linkcode importPython}. */
export interface PythonImportOptions {
  /** The original's home folder (its `~/.authsome`). */
  source: string;
  /** The profile to read (default: `default_profile` of its config.json, else `default`). */
  profile?: string | undefined;
  /** Replace connections, clients and providers that exist here already. */
  force?: boolean | undefined;
}

/** What happened to one thing found in the source. */
export interface ImportItem {
  /** A custom provider file, a connection, a client record, or a provider's default connection. */
  kind: "provider" | "connection" | "client" | "default";
  /** The provider. */
  provider: string;
  /** The connection (kinds `connection` and `default`). */
  connection?: string;
  /** `imported`; `replaced` (with force); `exists` (kept, already here); `skipped` (cannot be mapped). */
  outcome: "imported" | "replaced" | "exists" | "skipped";
  /** Why it was skipped, or a note (never a secret). */
  reason?: string;
}

/** The result of {@linkcode importPython}. */
export interface PythonImportReport {
  /** The source home folder. */
  source: string;
  /** The profile read. */
  profile: string;
  /** Where the source's master key came from. */
  key_source: "master.key" | "AUTHSOME_PYTHON_MASTER_KEY" | "AUTHSOME_MASTER_KEY";
  /** The vault written to. */
  vault: string;
  /** One entry per provider file, connection, client and default, in that order. */
  items: ImportItem[];
}

/** The variable that holds the original's key when it is not in its master.key. */
export const PYTHON_KEY_VARIABLES = ["AUTHSOME_PYTHON_MASTER_KEY", "AUTHSOME_MASTER_KEY"] as const;

/**
 * Imports the original's home `options.source` into the current vault (audited as `import`).
 *
 * @example
 * ```ts ignore
 * const report = await importPython(ctx, { source: "/home/me/.authsome" });
 * for (const item of report.items) console.log(item.kind, item.provider, item.outcome);
 * ```
 */
export async function importPython(
  ctx: ServiceContext,
  options: PythonImportOptions,
): Promise<PythonImportReport> {
  const source = options.source.replace(/\/+$/, "") || "/";
  return await audited(ctx, "import", { detail: { from: "python" } }, async () => {
    const config = await readConfig(source);
    const profile = options.profile ?? stringOr(config.default_profile, "default");
    const storePath = joinPath(source, "profiles", profile, "store.db");
    if (!await isFile(storePath)) {
      throw new AuthsomeError(
        "INVALID_INPUT",
        `${source} has no store of the Python authsome for profile "${profile}" (${storePath})`,
        {
          hint: `Name the original's home (default ~/.authsome): authsome import python HOME` +
            ((await profilesOf(source)).length > 0
              ? `; its profiles: ${(await profilesOf(source)).join(", ")} (--profile NAME)`
              : ""),
        },
      );
    }
    const { key, source: keySource } = await sourceKey(ctx, source, config);
    const rows = await readRows(storePath);
    const records = await decryptRows(rows, key, storePath);
    const report: PythonImportReport = {
      source,
      profile,
      key_source: keySource,
      vault: ctx.settings.vault,
      items: [],
    };
    report.items.push(...await importProviders(ctx, source, options.force === true));
    report.items.push(...await importRecords(ctx, records, options.force === true));
    return report;
  });
}

// ---- the source --------------------------------------------------------------------------------

async function readConfig(source: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await runtime.readTextFile(joinPath(source, "config.json"));
  } catch (error) {
    if (runtime.failure(error) === "not-found") return {};
    throw unreadable(joinPath(source, "config.json"), error);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    return isObject(parsed) ? parsed : {};
  } catch {
    throw new AuthsomeError("INVALID_INPUT", `${source}/config.json is not valid JSON`, {
      hint: "Check that this is the home folder of the Python authsome",
    });
  }
}

async function profilesOf(source: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for (const entry of await runtime.readDir(joinPath(source, "profiles"))) {
      if (entry.isDirectory) names.push(entry.name);
    }
  } catch { /* no profiles folder */ }
  return names.sort();
}

/**
 * The original's master key: its master.key file (mode `local_key`, the default), or a variable
 * (mode `keyring`, whose key only the OS keyring holds, or when the file is missing).
 */
async function sourceKey(
  ctx: ServiceContext,
  source: string,
  config: Record<string, unknown>,
): Promise<{ key: CryptoKey; source: PythonImportReport["key_source"] }> {
  const encryption = isObject(config.encryption) ? config.encryption : {};
  const mode = stringOr(encryption.mode, "local_key");
  let fromEnv: { name: (typeof PYTHON_KEY_VARIABLES)[number]; value: string } | undefined;
  for (const name of PYTHON_KEY_VARIABLES) {
    const value = ctx.env.get(name);
    if (value !== undefined && value.trim() !== "") {
      fromEnv = { name, value: value.trim() };
      break;
    }
  }
  const exportHint = "Export the original's key (base64) to AUTHSOME_PYTHON_MASTER_KEY, or " +
    "AUTHSOME_MASTER_KEY as the original reads it, and run again";
  const keyFile = joinPath(source, "master.key");
  let fileText: string | undefined;
  if (mode !== "keyring") {
    try {
      fileText = await runtime.readTextFile(keyFile);
    } catch (error) {
      if (runtime.failure(error) !== "not-found") throw unreadable(keyFile, error);
    }
  }
  if (fileText !== undefined && (fromEnv === undefined || mode === "local_key")) {
    let raw: unknown;
    try {
      raw = (JSON.parse(fileText) as { key?: unknown }).key;
    } catch {
      raw = undefined;
    }
    return { key: await aesKey(raw, keyFile), source: "master.key" };
  }
  if (fromEnv !== undefined) {
    return { key: await aesKey(fromEnv.value, fromEnv.name), source: fromEnv.name };
  }
  if (mode === "keyring") {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `${source} keeps its master key in the OS keyring (encryption mode "keyring"), which ` +
        "authsome does not read",
      { hint: exportHint },
    );
  }
  throw new AuthsomeError("VAULT_UNAVAILABLE", `${source} has no master.key`, {
    hint: exportHint,
  });
}

async function aesKey(value: unknown, where: string): Promise<CryptoKey> {
  let raw: Uint8Array<ArrayBuffer> | undefined;
  try {
    raw = typeof value === "string" ? fromBase64(value) : undefined;
  } catch {
    raw = undefined;
  }
  if (raw === undefined || raw.length !== 32) {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `${where} does not hold a base64 32-byte key`, {
      hint: "Use the key of the Python authsome (base64 of 32 bytes)",
    });
  }
  return await crypto.subtle.importKey("raw", raw, "AES-GCM", false, [
    "decrypt",
  ]);
}

/** The kv rows, read from a private copy of the store (and its WAL) opened read-only. */
async function readRows(storePath: string): Promise<Array<{ key: string; value: string }>> {
  // The runtime module has no temporary folders or copies; node:fs has them on every runtime.
  const fs = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await fs.mkdtemp(joinPath(tmpdir(), "authsome-import-"));
  try {
    await runtime.chmod(dir, 0o700);
    const copy = joinPath(dir, "store.db");
    await fs.copyFile(storePath, copy);
    if (await isFile(`${storePath}-wal`)) await fs.copyFile(`${storePath}-wal`, `${copy}-wal`);
    const { DatabaseSync } = await import("node:sqlite");
    let db: InstanceType<typeof DatabaseSync> | undefined;
    try {
      db = new DatabaseSync(copy, { readOnly: true });
      const rows = db.prepare("SELECT key, value FROM kv ORDER BY key").all();
      return rows.map((row) => ({ key: String(row.key), value: String(row.value) }));
    } catch (cause) {
      throw new AuthsomeError(
        "INVALID_INPUT",
        `${storePath} is not a store of the Python authsome (no readable kv table)`,
        { hint: "Check the path; the store is profiles/<profile>/store.db", cause },
      );
    } finally {
      db?.close();
    }
  } finally {
    await runtime.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** One decrypted record of the source, by its key. */
interface SourceRecord {
  key: string;
  value: unknown;
}

/**
 * Opens every `base64(nonce).base64(ciphertext||tag)` value (AES-256-GCM, no associated data).
 * None opening means the wrong key (exit 10); one that does not open among others is skipped.
 */
async function decryptRows(
  rows: Array<{ key: string; value: string }>,
  key: CryptoKey,
  storePath: string,
): Promise<Array<SourceRecord | { key: string; error: string }>> {
  const out: Array<SourceRecord | { key: string; error: string }> = [];
  let opened = 0;
  for (const row of rows) {
    if (row.key.endsWith("__index__")) continue;
    const [nonce, sealed, extra] = row.value.split(".");
    try {
      if (nonce === undefined || sealed === undefined || extra !== undefined) throw new Error();
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64(nonce) },
        key,
        fromBase64(sealed),
      );
      out.push({ key: row.key, value: JSON.parse(new TextDecoder().decode(plain)) });
      opened += 1;
    } catch {
      out.push({ key: row.key, error: "cannot be decrypted with the master key" });
    }
  }
  if (opened === 0 && out.length > 0) {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `No record of ${storePath} opens with the master key`,
      { hint: "Use the key of this Python authsome home (its master.key or the exported key)" },
    );
  }
  return out;
}

// ---- providers -------------------------------------------------------------------------------

/** The original's custom provider files (`providers/<name>.json`), registered as user providers. */
async function importProviders(
  ctx: ServiceContext,
  source: string,
  force: boolean,
): Promise<ImportItem[]> {
  const dir = joinPath(source, "providers");
  const files: string[] = [];
  try {
    for (const entry of await runtime.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) files.push(entry.name);
    }
  } catch (error) {
    if (runtime.failure(error) === "not-found") return [];
    throw unreadable(dir, error);
  }
  const items: ImportItem[] = [];
  for (const file of files.sort()) {
    const name = file.slice(0, -".json".length);
    const item = (outcome: ImportItem["outcome"], reason?: string): ImportItem =>
      reason === undefined
        ? { kind: "provider", provider: name, outcome }
        : { kind: "provider", provider: name, outcome, reason };
    let doc: unknown;
    try {
      doc = JSON.parse(await runtime.readTextFile(joinPath(dir, file)));
    } catch {
      items.push(item("skipped", "not valid JSON"));
      continue;
    }
    const ignored: IgnoredField[] = [];
    let def: ProviderDefinition;
    try {
      def = parseProvider(doc, `providers/${file}`, ignored);
    } catch (error) {
      items.push(item("skipped", error instanceof Error ? error.message : String(error)));
      continue;
    }
    if (def.name !== name) {
      items.push(item("skipped", `its name is "${def.name}", not ${name}`));
      continue;
    }
    const existing = await ctx.registry.get(name).catch(() => undefined);
    if (existing !== undefined && !force) {
      items.push(item("exists", `authsome's ${existing.origin} definition is kept`));
      continue;
    }
    await ctx.registry.register(doc, `providers/${file}`, { force: true });
    const notice = legacyNotice(`providers/${file}`, ignored);
    items.push(item(existing === undefined ? "imported" : "replaced", notice));
  }
  return items;
}

// ---- records ---------------------------------------------------------------------------------

/** A source key split: `profile:P:PROVIDER:connection:NAME`, `…:client`, `…:metadata`, … */
function parseKey(
  key: string,
): { provider: string; kind: string; name: string } | undefined {
  const parts = key.split(":");
  if ((parts[0] === "profile" || parts[0] === "vault") && parts.length >= 4) {
    return { provider: parts[2]!, kind: parts[3]!, name: parts.slice(4).join(":") };
  }
  if (parts[0] === "server" && parts.length === 3 && parts[2] === "client") {
    return { provider: parts[1]!, kind: "client", name: "" };
  }
  return undefined;
}

async function importRecords(
  ctx: ServiceContext,
  records: Array<SourceRecord | { key: string; error: string }>,
  force: boolean,
): Promise<ImportItem[]> {
  const connections: ImportItem[] = [];
  const clients: ImportItem[] = [];
  const defaults: ImportItem[] = [];
  const definitions = new Map<string, ProviderDefinition | string>();
  const definition = async (provider: string) => {
    if (!definitions.has(provider)) {
      const found = await ctx.registry.get(provider).then(
        (p) => p.definition,
        (error) =>
          error instanceof AuthsomeError && error.code === "PROVIDER_NOT_FOUND"
            ? `authsome has no provider "${provider}"`
            : `its provider definition cannot be used (${(error as Error).message})`,
      );
      definitions.set(provider, found);
    }
    return definitions.get(provider)!;
  };
  const parsed = records.map((r) => ({ record: r, at: parseKey(r.key) }));
  // Definitions are looked up before the transaction: it holds the store's write lock.
  for (const { at } of parsed) if (at !== undefined) await definition(at.provider);

  await ctx.vault.update(async (tx) => {
    for (const { record, at } of parsed) {
      if (at === undefined) continue; // state, indexes and anything else hold no credential
      const def = definitions.get(at.provider)!;
      if (at.kind === "connection") {
        const item: ImportItem = {
          kind: "connection",
          provider: at.provider,
          connection: at.name,
          outcome: "skipped",
        };
        connections.push(item);
        if ("error" in record) {
          item.reason = record.error;
          continue;
        }
        if (typeof def === "string") {
          item.reason = def;
          continue;
        }
        const mapped = mapConnection(record.value, def, at.name, ctx.now());
        if (typeof mapped === "string") {
          item.reason = mapped;
          continue;
        }
        const key = connKey(def.name, mapped.connection);
        const previous = await tx.get<ConnectionRecord>(key);
        if (previous !== undefined && !force) {
          item.outcome = "exists";
          item.reason = "already in the vault (--force replaces it)";
          continue;
        }
        tx.set(
          key,
          previous === undefined ? mapped : { ...mapped, created_at: previous.created_at },
        );
        item.outcome = previous === undefined ? "imported" : "replaced";
        item.reason = describe(mapped);
      } else if (at.kind === "client") {
        const item: ImportItem = { kind: "client", provider: at.provider, outcome: "skipped" };
        clients.push(item);
        if ("error" in record) {
          item.reason = record.error;
          continue;
        }
        if (typeof def === "string") {
          item.reason = def;
          continue;
        }
        const client = mapClient(record.value);
        if (typeof client === "string") {
          item.reason = client;
          continue;
        }
        const previous = await tx.get<ClientRecord>(clientKey(def.name));
        if (previous !== undefined && !force) {
          item.outcome = "exists";
          item.reason = "already in the vault (--force replaces it)";
          continue;
        }
        tx.set(clientKey(def.name), client);
        item.outcome = previous === undefined ? "imported" : "replaced";
        item.reason = client.client_secret === undefined ? "public client" : "with its secret";
      }
    }
    // Defaults last: the connection they name must be here by now.
    for (const { record, at } of parsed) {
      if (
        at?.kind !== "metadata" || "error" in record ||
        typeof definitions.get(at.provider) === "string"
      ) continue;
      const meta = isObject(record.value) ? record.value : {};
      const name = meta.default_connection;
      if (typeof name !== "string") continue;
      const item: ImportItem = {
        kind: "default",
        provider: at.provider,
        connection: name,
        outcome: "skipped",
      };
      defaults.push(item);
      if (await tx.get(connKey(at.provider, name)) === undefined) {
        item.reason = "that connection was not imported";
        continue;
      }
      const state = await tx.get<ProviderState>(providerKey(at.provider));
      const current = state?.default_connection ?? null;
      if (current === name) {
        item.outcome = "exists";
        continue;
      }
      if (current !== null && await tx.get(connKey(at.provider, current)) !== undefined && !force) {
        item.outcome = "exists";
        item.reason = `the default here stays ${current} (--force replaces it)`;
        continue;
      }
      tx.set(providerKey(at.provider), { ...state, default_connection: name });
      item.outcome = current === null ? "imported" : "replaced";
    }
    // A provider with imported connections and no default gets its first one, as login does.
    for (const item of connections) {
      if (item.outcome !== "imported" && item.outcome !== "replaced") continue;
      const state = await tx.get<ProviderState>(providerKey(item.provider));
      if (state?.default_connection == null) {
        tx.set(providerKey(item.provider), { ...state, default_connection: item.connection! });
      }
    }
  });
  return [...connections, ...clients, ...defaults];
}

const STATUSES: ConnectionStatus[] = ["connected", "expired", "revoked", "invalid"];

/**
 * A connection record of the original (schema_version 2) as authsome's, or why it cannot be.
 * The hosts the credential may go to come from authsome's definition (with the record's base
 * URL), not from the record.
 */
function mapConnection(
  value: unknown,
  def: ProviderDefinition,
  name: string,
  now: Date,
): ConnectionRecord | string {
  if (!isObject(value)) return "is not a connection record";
  if (typeof value.schema_version === "number" && value.schema_version < 2) {
    return "uses the original's old v1 record format";
  }
  let connection: string;
  try {
    connection = checkName("connection", stringOr(value.connection_name, name));
  } catch {
    return "its name is not a valid connection name here";
  }
  if (value.auth_type !== def.auth_type) {
    return `is ${String(value.auth_type)} there but ${def.name} is ${def.auth_type} here`;
  }
  const status = STATUSES.find((s) => s === value.status);
  if (status === undefined) return `has status ${String(value.status)}`;
  const secrets: ConnectionRecord["secrets"] = {};
  if (def.auth_type === "api_key") {
    if (!nonEmpty(value.api_key)) return "has no API key";
    secrets.api_key = value.api_key;
  } else {
    if (!nonEmpty(value.access_token)) return "has no access token";
    secrets.access_token = value.access_token;
    if (nonEmpty(value.refresh_token)) secrets.refresh_token = value.refresh_token;
  }
  const baseUrl = nonEmpty(value.base_url) ? value.base_url : null;
  let apiUrl: string[];
  try {
    apiUrl = def.api_url.map((u) => fillBaseUrl(u, baseUrl ?? def.oauth?.base_url));
  } catch {
    apiUrl = [];
  }
  const obtained = isoOr(value.obtained_at, now.toISOString());
  const account = isObject(value.account) &&
      (nonEmpty(value.account.id) || nonEmpty(value.account.label))
    ? {
      id: nonEmpty(value.account.id) ? value.account.id : null,
      label: nonEmpty(value.account.label) ? value.account.label : null,
    }
    : null;
  return {
    provider: def.name,
    connection,
    auth_type: def.auth_type,
    status,
    created_at: obtained,
    obtained_at: obtained,
    expires_at: value.expires_at == null ? null : isoOr(value.expires_at, null),
    scopes: Array.isArray(value.scopes) ? value.scopes.filter(nonEmpty) : [],
    base_url: baseUrl,
    api_url: apiUrl,
    token_type: def.auth_type === "api_key"
      ? null
      : nonEmpty(value.token_type)
      ? value.token_type
      : "Bearer",
    account,
    secrets,
  };
}

function mapClient(value: unknown): ClientRecord | string {
  if (!isObject(value)) return "is not a client record";
  if (!nonEmpty(value.client_id)) return "has no client_id";
  const client: ClientRecord = { client_id: value.client_id, source: "input" };
  if (nonEmpty(value.client_secret)) client.client_secret = value.client_secret;
  if (nonEmpty(value.base_url)) client.base_url = value.base_url;
  return client;
}

/** What was imported, without a secret: `oauth2, with a refresh token, expired`. */
function describe(record: ConnectionRecord): string {
  const parts: string[] = [record.auth_type];
  if (record.secrets.refresh_token !== undefined) parts.push("with a refresh token");
  if (record.status !== "connected") parts.push(record.status);
  return parts.join(", ");
}

// ---- small helpers ---------------------------------------------------------------------------

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.trim() !== "";
}

function stringOr(value: unknown, fallback: string): string {
  return nonEmpty(value) ? value : fallback;
}

function isoOr<T extends string | null>(value: unknown, fallback: T): string | T {
  if (typeof value !== "string") return fallback;
  const time = Date.parse(value);
  return Number.isNaN(time) ? fallback : new Date(time).toISOString();
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await runtime.stat(path)).isFile;
  } catch {
    return false;
  }
}

function unreadable(path: string, cause: unknown): AuthsomeError {
  return new AuthsomeError("INVALID_INPUT", `Cannot read ${path}`, {
    hint: "Check the path and its permissions",
    cause,
  });
}
