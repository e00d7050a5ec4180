/**
 * A {@linkcode Store} on a shared PostgreSQL server (`AUTHSOME_STORE=postgres://…`), so several
 * hosts use the same vaults. The server holds what the embedded store holds: sealed records and
 * wrapped data keys; the master key stays on each host. Driver: npm `pg` (node-postgres), which
 * reads libpq's connection URLs (`sslmode=verify-full`, `sslrootcert`), `PGPASSWORD` and
 * `~/.pgpass`, and works the same under Deno, Node and Bun.
 *
 * - Tables live in the schema `authsome` (docs/STORAGE.md), created by the first write and
 *   upgraded step by step, each time in one transaction under an advisory lock, so hosts starting
 *   at once do not race. A schema newer than this code is refused (exit 10).
 * - A transaction is an SQL transaction that first takes one transaction-scoped advisory lock
 *   shared by every writer (like SQLite's single writer): its reads see the latest commit, and
 *   nothing commits between them and its commit. Its writes are sent together before `COMMIT`.
 * - A named lock ({@linkcode Store.withLock}, e.g. one refresh) is a session advisory lock held on
 *   a connection of its own: other hosts wait for it, and it ends with the session when the
 *   process dies or its connection drops.
 * - Every read asks the server, so a change made on another host is seen at once.
 *
 * @module
 */
// @ts-types="@types/pg"
import type { Client, ClientConfig, Pool, PoolClient, QueryResultRow } from "pg";
import { AuthsomeError } from "../errors.ts";
import type { Sealed } from "./crypto.ts";
import type { KeySource } from "./master_key.ts";
import type {
  LockOptions,
  SharedAuditEntry,
  Store,
  StoreReader,
  StoreTransaction,
  VaultHeader,
} from "./store.ts";
import { compareKeys, lockTimeoutError, NOTICE_AFTER_MS } from "./store.ts";

/** The schema version this code reads and writes (`authsome.meta`, `schema_version`). */
export const PG_SCHEMA_VERSION = 2;
/** How long a write waits for another host's write before giving up (`lock_timeout`). */
export const PG_WRITE_WAIT_MS = 15_000;
/** How often a held named lock is tried again. */
const PG_LOCK_POLL_MS = 50;
/** How long connecting may take before the server counts as unreachable. */
export const PG_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The steps from each schema version to the next: `MIGRATIONS[n]` goes from version `n` to
 * `n + 1`, in one transaction. The schema `authsome` itself is created before the first step
 * unless an administrator created it (`CREATE SCHEMA` needs `CREATE` on the database even when
 * the schema exists).
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE authsome.meta (
    name text PRIMARY KEY,
    value text NOT NULL
  );
  CREATE TABLE authsome.vaults (
    name text COLLATE "C" PRIMARY KEY,
    key_source text NOT NULL,
    key_id text NOT NULL,
    data_key_nonce text NOT NULL,
    data_key text NOT NULL
  );
  CREATE TABLE authsome.records (
    vault text COLLATE "C" NOT NULL REFERENCES authsome.vaults (name),
    key text COLLATE "C" NOT NULL,
    nonce text NOT NULL,
    ciphertext text NOT NULL,
    PRIMARY KEY (vault, key)
  );
  INSERT INTO authsome.meta (name, value) VALUES ('schema_version', '0');`,
  `CREATE TABLE authsome.audit (
    id bigserial PRIMARY KEY,
    host text NOT NULL,
    entry jsonb NOT NULL
  );`,
];

/** Advisory lock names (hashed by the server with `hashtextextended`). */
const SCHEMA_LOCK = "authsome/schema";
const WRITE_LOCK = "authsome/write";
const lockKey = (name: string) => `authsome/lock/${name}`;

/** Options of {@linkcode openPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host[:port]/database[?sslmode=verify-full&sslrootcert=…]`. */
  url: string;
  /** How long a write waits for another host's write; default {@linkcode PG_WRITE_WAIT_MS}. */
  writeWaitMs?: number;
}

type PgModule = typeof import("pg");

/**
 * Opens a store on a PostgreSQL server. Nothing connects until first use; a database without
 * the `authsome` schema reads as empty, and the first write creates it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openPostgresStore } from "./postgres_store.ts";
 * const store = openPostgresStore({ url: "postgres://ada:s3cret@db.internal:5432/authsome" });
 * assert.equal(store.location, "postgres://ada@db.internal:5432/authsome"); // no password
 * await store.close();
 * ```
 */
export function openPostgresStore(options: PostgresStoreOptions): Store {
  const location = redactUrl(options.url);
  const password = passwordOf(options.url);
  const writeWaitMs = options.writeWaitMs ?? PG_WRITE_WAIT_MS;
  const fail = (error: unknown) => pgError(location, password, error);
  const config: ClientConfig = {
    connectionString: options.url,
    connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS,
    application_name: "authsome",
    keepAlive: true,
  };
  let pg: Promise<PgModule> | undefined;
  let pool: Pool | undefined;
  let closing: Promise<void> | undefined;
  /** Set once the schema was found at this code's version. */
  let schemaReady = false;

  const driver = () => pg ??= import("pg").then((m) => (m.default ?? m) as PgModule);
  const getPool = async (): Promise<Pool> => {
    if (closing !== undefined) throw new Error("The store is closed");
    if (pool !== undefined) return pool;
    const { Pool } = await driver();
    if (pool !== undefined) return pool;
    pool = new Pool({ ...config, max: 4, idleTimeoutMillis: 5_000, allowExitOnIdle: true });
    // An idle connection the server closes must not crash the process; the next query reconnects.
    pool.on("error", () => {});
    return pool;
  };

  const query = async <R extends QueryResultRow>(
    text: string,
    values: unknown[] = [],
    on?: PoolClient,
  ): Promise<R[]> => {
    try {
      return (await (on ?? await getPool()).query<R>(text, values)).rows;
    } catch (error) {
      throw fail(error);
    }
  };

  /**
   * Whether the schema is there (at this version): an older one is upgraded first, an absent one
   * created only with `create`. A newer version is refused.
   */
  const ensureSchema = async (create: boolean): Promise<boolean> => {
    if (schemaReady) return true;
    const version = await schemaVersion((text) => query(text));
    if (version === PG_SCHEMA_VERSION) return schemaReady = true;
    if (version > PG_SCHEMA_VERSION) throw newerSchema(location, version);
    // An absent schema is created by the first write; an older one is upgraded at once.
    if (version === 0 && !create) return false;
    const client = await connectPooled();
    let broken: unknown;
    try {
      // The lock is taken before the transaction starts, so the transaction sees (and its
      // catalog lookups know) a schema that another host created while this one waited.
      await query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [SCHEMA_LOCK], client);
      try {
        await query("BEGIN", [], client);
        let now = await schemaVersionInTransaction((text) => query(text, [], client));
        if (now > PG_SCHEMA_VERSION) throw newerSchema(location, now);
        if (now === 0) {
          const [schema] = await query<{ present: boolean }>(
            "SELECT to_regnamespace('authsome') IS NOT NULL AS present",
            [],
            client,
          );
          if (schema?.present !== true) await query("CREATE SCHEMA authsome", [], client);
        }
        for (; now < PG_SCHEMA_VERSION; now++) {
          await query(MIGRATIONS[now]!, [], client);
          await query(
            "UPDATE authsome.meta SET value = $1 WHERE name = 'schema_version'",
            [String(now + 1)],
            client,
          );
        }
        await query("COMMIT", [], client);
        return schemaReady = true;
      } catch (error) {
        broken = await rollback(client, error);
        throw error;
      } finally {
        await query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [SCHEMA_LOCK], client)
          .catch((error) => broken ??= error);
      }
    } finally {
      client.release(broken as Error | undefined);
    }
  };

  const connectPooled = async (): Promise<PoolClient> => {
    try {
      return await (await getPool()).connect();
    } catch (error) {
      throw fail(error);
    }
  };

  const reader: StoreReader = {
    async header(name) {
      if (!await ensureSchema(false)) return undefined;
      return readHeader(query, name);
    },
    async get(vault, key) {
      if (!await ensureSchema(false)) return undefined;
      return readRecord(query, vault, key);
    },
    async keys(vault, prefix) {
      if (!await ensureSchema(false)) return [];
      return readKeys(query, vault, prefix);
    },
  };

  return {
    kind: "postgres",
    location,
    ...reader,
    async vaults() {
      if (!await ensureSchema(false)) return [];
      const rows = await query<{ name: string }>(
        "SELECT name FROM authsome.vaults ORDER BY name",
      );
      return rows.map((row) => row.name).sort(compareKeys);
    },
    async transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T): Promise<T> {
      await ensureSchema(true);
      const client = await connectPooled();
      let broken: unknown;
      try {
        const on = <R extends QueryResultRow>(text: string, values: unknown[] = []) =>
          query<R>(text, values, client);
        await on("BEGIN");
        await on(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(writeWaitMs))}`);
        await on("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [WRITE_LOCK]);
        const result = await runTransaction(on, fn);
        await on("COMMIT");
        return result;
      } catch (error) {
        broken = await rollback(client, error);
        throw busyOr(error, location, writeWaitMs);
      } finally {
        client.release(broken as Error | undefined);
      }
    },
    async appendAudit(entry: object) {
      await ensureSchema(true);
      const { hostname } = await import("node:os");
      await query("INSERT INTO authsome.audit (host, entry) VALUES ($1, $2)", [
        hostname(),
        JSON.stringify(entry),
      ]);
    },
    async readAudit(limit: number): Promise<SharedAuditEntry[]> {
      if (limit <= 0 || !await ensureSchema(false)) return [];
      const rows = await query<{ host: string; entry: Record<string, unknown> }>(
        "SELECT host, entry FROM authsome.audit ORDER BY id DESC LIMIT $1",
        [limit],
      );
      return rows.reverse().map((row) => ({ host: row.host, entry: row.entry }));
    },
    async withLock<T>(name: string, fn: () => Promise<T>, lockOptions: LockOptions = {}) {
      const { Client } = await driver();
      const client: Client = new Client(config);
      // A dropped connection ends the session, and with it the lock; nothing to do here.
      client.on("error", () => {});
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => {});
        throw fail(error);
      }
      try {
        const key = lockKey(name);
        const attempt = async () =>
          (await query<{ held: boolean }>(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS held",
            [key],
            client as unknown as PoolClient,
          ))[0]?.held === true;
        // Polled like the embedded store's lock, so a wait can be told and given up.
        if (!await attempt()) {
          const started = performance.now();
          const noticeAfter = lockOptions.noticeAfterMs ?? NOTICE_AFTER_MS;
          let told = false;
          for (;;) {
            const waited = performance.now() - started;
            if (lockOptions.timeoutMs !== undefined && waited >= lockOptions.timeoutMs) {
              throw lockTimeoutError(lockOptions, `the advisory lock "${name}" of ${location}`);
            }
            if (!told && waited >= noticeAfter) {
              told = true;
              lockOptions.onWait?.();
            }
            await new Promise((resolve) => setTimeout(resolve, PG_LOCK_POLL_MS));
            if (await attempt()) break;
          }
        }
        return await fn();
      } finally {
        // Ending the session releases its advisory locks.
        await client.end().catch(() => {});
      }
    },
    close() {
      return closing ??= (pool?.end() ?? Promise.resolve()).catch(() => {});
    },
  };
}

type Query = <R extends QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

/**
 * The same inside a transaction, where a failed statement would abort it: asks the catalog
 * first.
 */
async function schemaVersionInTransaction(query: Query): Promise<number> {
  const [present] = await query<{ present: boolean }>(
    "SELECT to_regclass('authsome.meta') IS NOT NULL AS present",
  );
  return present?.present === true ? await schemaVersion(query) : 0;
}

/**
 * The schema version in the database; 0 when there is no `authsome` schema (or table) yet. One
 * round trip when the schema is there.
 */
async function schemaVersion(query: Query): Promise<number> {
  try {
    const [row] = await query<{ value: string }>(
      "SELECT value FROM authsome.meta WHERE name = 'schema_version'",
    );
    return Number(row?.value ?? 0);
  } catch (error) {
    // 3F000: no schema authsome; 42P01: no table authsome.meta.
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === "3F000" || code === "42P01") return 0;
    throw error;
  }
}

function newerSchema(location: string, version: number): AuthsomeError {
  return new AuthsomeError(
    "VAULT_UNAVAILABLE",
    `Cannot use the store ${location}: its schema version ${version} is newer than this authsome reads (${PG_SCHEMA_VERSION})`,
    { hint: "Upgrade authsome on this host; the store was left as it is" },
  );
}

/** Rolls back after `error`; returns the error when the connection is broken (so it is dropped). */
async function rollback(client: PoolClient, error: unknown): Promise<unknown> {
  try {
    await client.query("ROLLBACK");
    return undefined;
  } catch {
    return error instanceof Error ? error : new Error(String(error));
  }
}

async function readHeader(query: Query, name: string): Promise<VaultHeader | undefined> {
  const [row] = await query<
    { key_source: string; key_id: string; data_key_nonce: string; data_key: string }
  >(
    "SELECT key_source, key_id, data_key_nonce, data_key FROM authsome.vaults WHERE name = $1",
    [name],
  );
  if (row === undefined) return undefined;
  return {
    name,
    keySource: row.key_source as KeySource,
    keyId: row.key_id,
    dataKey: { nonce: row.data_key_nonce, ciphertext: row.data_key },
  };
}

async function readRecord(query: Query, vault: string, key: string): Promise<Sealed | undefined> {
  const [row] = await query<{ nonce: string; ciphertext: string }>(
    "SELECT nonce, ciphertext FROM authsome.records WHERE vault = $1 AND key = $2",
    [vault, key],
  );
  return row === undefined ? undefined : { nonce: row.nonce, ciphertext: row.ciphertext };
}

async function readKeys(query: Query, vault: string, prefix: string): Promise<string[]> {
  // The columns sort bytewise (COLLATE "C"), so a prefix is a range of the primary key.
  const rows = prefix === ""
    ? await query<{ key: string }>("SELECT key FROM authsome.records WHERE vault = $1", [vault])
    : await query<{ key: string }>(
      "SELECT key FROM authsome.records WHERE vault = $1 AND key >= $2 AND key < $3",
      [vault, prefix, prefixEnd(prefix)],
    );
  return rows.map((row) => row.key).filter((key) => key.startsWith(prefix)).sort(compareKeys);
}

/** The smallest string greater than every string that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

/**
 * Runs `fn` over a transaction whose writes are kept until it resolves, then sent in three
 * statements (headers, deletions, records), so other code never reads them uncommitted.
 */
async function runTransaction<T>(
  query: Query,
  fn: (tx: StoreTransaction) => Promise<T> | T,
): Promise<T> {
  const pending = new Map<string, { vault: string; key: string; sealed: Sealed | null }>();
  const headers = new Map<string, VaultHeader>();
  const slot = (vault: string, key: string) => `${vault}\u0000${key}`;
  const tx: StoreTransaction = {
    header: async (name) => headers.get(name) ?? await readHeader(query, name),
    async get(vault, key) {
      const own = pending.get(slot(vault, key));
      if (own !== undefined) return own.sealed === null ? undefined : { ...own.sealed };
      return await readRecord(query, vault, key);
    },
    async keys(vault, prefix) {
      const all = new Set(await readKeys(query, vault, prefix));
      for (const { vault: v, key, sealed } of pending.values()) {
        if (v !== vault || !key.startsWith(prefix)) continue;
        if (sealed === null) all.delete(key);
        else all.add(key);
      }
      return [...all].sort(compareKeys);
    },
    putHeader: (header) => void headers.set(header.name, structuredClone(header)),
    put: (vault, key, sealed) =>
      void pending.set(slot(vault, key), { vault, key, sealed: { ...sealed } }),
    delete: (vault, key) => void pending.set(slot(vault, key), { vault, key, sealed: null }),
  };
  const result = await fn(tx);
  if (headers.size > 0) {
    const list = [...headers.values()];
    await query(
      `INSERT INTO authsome.vaults (name, key_source, key_id, data_key_nonce, data_key)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
       ON CONFLICT (name) DO UPDATE SET key_source = excluded.key_source,
         key_id = excluded.key_id, data_key_nonce = excluded.data_key_nonce,
         data_key = excluded.data_key`,
      [
        list.map((h) => h.name),
        list.map((h) => h.keySource),
        list.map((h) => h.keyId),
        list.map((h) => h.dataKey.nonce),
        list.map((h) => h.dataKey.ciphertext),
      ],
    );
  }
  const changes = [...pending.values()];
  const deletes = changes.filter((c) => c.sealed === null);
  const puts = changes.filter((c) => c.sealed !== null);
  if (deletes.length > 0) {
    await query(
      `DELETE FROM authsome.records r USING unnest($1::text[], $2::text[]) AS d (vault, key)
       WHERE r.vault = d.vault AND r.key = d.key`,
      [deletes.map((c) => c.vault), deletes.map((c) => c.key)],
    );
  }
  if (puts.length > 0) {
    await query(
      `INSERT INTO authsome.records (vault, key, nonce, ciphertext)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
       ON CONFLICT (vault, key) DO UPDATE SET nonce = excluded.nonce,
         ciphertext = excluded.ciphertext`,
      [
        puts.map((c) => c.vault),
        puts.map((c) => c.key),
        puts.map((c) => c.sealed!.nonce),
        puts.map((c) => c.sealed!.ciphertext),
      ],
    );
  }
  return result;
}

/**
 * The URL as it may be shown: without the password (in the user part or a `password`
 * parameter). A string that is not a URL is shown as `postgres://…`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./postgres_store.ts";
 * assert.equal(
 *   redactUrl("postgres://ada:s3cret@db:5432/authsome?sslmode=verify-full"),
 *   "postgres://ada@db:5432/authsome?sslmode=verify-full",
 * );
 * assert.equal(
 *   redactUrl("postgres://db/authsome?password=s3cret&sslrootcert=/etc/ca.pem"),
 *   "postgres://db/authsome?sslrootcert=/etc/ca.pem",
 * );
 * ```
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "postgres://…";
  }
  parsed.password = "";
  // The query is kept as written (not re-encoded), less any password parameter.
  const query = parsed.search.slice(1).split("&")
    .filter((part) => part !== "" && !/^password=/i.test(part));
  parsed.search = "";
  return parsed.toString() + (query.length > 0 ? `?${query.join("&")}` : "");
}

/** The password in the URL (decoded), or undefined. */
function passwordOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    const password = parsed.password === ""
      ? parsed.searchParams.get("password") ?? ""
      : decodeURIComponent(parsed.password);
    return password === "" ? undefined : password;
  } catch {
    return undefined;
  }
}

/**
 * Checks that `url` is a PostgreSQL URL (`postgres://` or `postgresql://`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPostgresUrl } from "./postgres_store.ts";
 * assert.equal(isPostgresUrl("postgresql://db/authsome"), true);
 * assert.equal(isPostgresUrl("/var/lib/authsome.db"), false);
 * ```
 */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** SQLSTATE codes and driver texts that get a message of their own. */
const LOST = ["57P01", "57P02", "57P03", "08000", "08003", "08006", "ECONNRESET", "EPIPE"];
const UNREACHABLE = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"];
const LOGIN = ["28P01", "28000"];

function busyOr(error: unknown, location: string, waitMs: number): unknown {
  if ((error as { cause?: { code?: string } })?.cause?.code === "55P03") {
    return new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `The store ${location} is busy: another authsome process kept writing for ${waitMs / 1000} s`,
      { hint: "Try again; if it persists, look for a hung authsome process", cause: error },
    );
  }
  return error;
}

/** Maps a driver or server failure to a one-line `VAULT_UNAVAILABLE`, without the password. */
function pgError(location: string, password: string | undefined, error: unknown): AuthsomeError {
  if (error instanceof AuthsomeError) return error;
  const code = String((error as { code?: unknown })?.code ?? "");
  const raw = error instanceof Error ? error.message : String(error);
  let detail = (raw.split("\n")[0] ?? "").trim() || "unknown failure";
  if (password !== undefined) detail = detail.replaceAll(password, "***");
  const failure = (message: string, hint: string) =>
    new AuthsomeError("VAULT_UNAVAILABLE", message, { cause: error, hint });
  if (UNREACHABLE.includes(code) || /timeout expired|connect ECONNREFUSED/i.test(detail)) {
    return failure(
      `Cannot reach the store ${location}: ${detail}`,
      "Check that the PostgreSQL server runs and that AUTHSOME_STORE names it; nothing was changed",
    );
  }
  if (LOGIN.includes(code) || /client password must be a string/.test(detail)) {
    return failure(
      `The store ${location} refused the login: ${
        /client password must be a string/.test(detail) ? "no password was given" : detail
      }`,
      "Check the user and password (in AUTHSOME_STORE, PGPASSWORD or ~/.pgpass)",
    );
  }
  if (code === "3D000") {
    return failure(
      `Cannot use the store ${location}: ${detail}`,
      "Create the database first (createdb), or name an existing one in AUTHSOME_STORE",
    );
  }
  if (code === "42501") {
    return failure(
      `Cannot use the store ${location}: ${detail}`,
      "Grant the user CREATE on the database (for the schema authsome) or use another user",
    );
  }
  if (LOST.includes(code) || /Connection terminated|connection.*(closed|ended)/i.test(detail)) {
    return failure(
      `Lost the connection to the store ${location}: ${detail}`,
      "Nothing was written in part; run the command again once the server is back",
    );
  }
  if (/SSL|certificate|altnames/i.test(detail)) {
    return failure(
      `Cannot connect securely to the store ${location}: ${detail}`,
      "Check sslmode and sslrootcert in AUTHSOME_STORE, and the server's certificate",
    );
  }
  return failure(
    `The store ${location} failed: ${detail}`,
    "Check the PostgreSQL server's log; nothing was written in part",
  );
}
