/**
 * Test access to a home's store file (`<home>/authsome.db`) below the service: read its rows,
 * change one as an attacker with write access would, and take a digest that changes when any
 * stored value does. Uses `node:sqlite` directly, never the product's code.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";

/** The store file of `home`. */
export function storePath(home: string): string {
  return join(home, "authsome.db");
}

/** One sealed record row. */
export interface StoredRow {
  vault: string;
  key: string;
  nonce: string;
  ciphertext: string;
}

function withDb<T>(home: string, fn: (db: DatabaseSync) => T, readOnly = false): T {
  const db = new DatabaseSync(storePath(home), { readOnly });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    return fn(db);
  } finally {
    db.close();
  }
}

/** Whether the store file exists (it is created by the first write, never by a read). */
export function storeExists(home: string): boolean {
  try {
    return Deno.statSync(storePath(home)).isFile;
  } catch {
    return false;
  }
}

/** Whether vault `name` exists in the store (false when there is no store file). */
export function vaultExists(home: string, name = "default"): boolean {
  return storedVaults(home).some((v) => v.name === name);
}

/** Every record row of `vault` (all vaults when omitted), sorted by vault and key. */
export function storedRows(home: string, vault?: string): StoredRow[] {
  if (!storeExists(home)) return [];
  const rows = withDb(
    home,
    (db) =>
      db.prepare("SELECT vault, key, nonce, ciphertext FROM records ORDER BY vault, key").all(),
    true,
  );
  return rows.map((r) => ({ ...r }) as unknown as StoredRow)
    .filter((r) => vault === undefined || r.vault === vault);
}

/** The vault headers: name, key source, key id and wrapped data key. */
export function storedVaults(home: string): Array<Record<string, string>> {
  if (!storeExists(home)) return [];
  const rows = withDb(home, (db) => db.prepare("SELECT * FROM vaults ORDER BY name").all(), true);
  return rows.map((r) => ({ ...r }) as Record<string, string>);
}

/**
 * A digest of everything stored (headers and records, by value; "absent" without a store
 * file), to prove that a failed command changed nothing. Values, not file bytes: SQLite may
 * rewrite pages (a checkpoint) without changing any data.
 */
export async function storeDigest(home: string): Promise<string> {
  if (!storeExists(home)) return "absent";
  const text = JSON.stringify({ vaults: storedVaults(home), records: storedRows(home) });
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return new Uint8Array(digest).toHex();
}

/** Replaces columns of one record row, as someone with write access to the file could. */
export function tamperRow(
  home: string,
  vault: string,
  key: string,
  change: Partial<Pick<StoredRow, "key" | "nonce" | "ciphertext">>,
): void {
  withDb(home, (db) => {
    const row = db.prepare("SELECT * FROM records WHERE vault = ? AND key = ?").get(vault, key);
    if (row === undefined) throw new Error(`no record ${vault}/${key}`);
    const next = { ...row, ...change } as unknown as StoredRow;
    db.prepare("UPDATE records SET key = ?, nonce = ?, ciphertext = ? WHERE vault = ? AND key = ?")
      .run(next.key, next.nonce, next.ciphertext, vault, key);
  });
}

/** Inserts a row (e.g. a copy of another record's sealed bytes under a new key). */
export function insertRow(home: string, row: StoredRow): void {
  withDb(home, (db) => {
    db.prepare("INSERT INTO records (vault, key, nonce, ciphertext) VALUES (?, ?, ?, ?)")
      .run(row.vault, row.key, row.nonce, row.ciphertext);
  });
}

/** Replaces the wrapped data key (or other header columns) of `vault`. */
export function tamperHeader(home: string, vault: string, change: Record<string, string>): void {
  withDb(home, (db) => {
    for (const [column, value] of Object.entries(change)) {
      db.prepare(`UPDATE vaults SET ${column} = ? WHERE name = ?`).run(value, vault);
    }
  });
}

/** Flips one base64 character in the middle of `text` (stays valid base64). */
export function flipBase64(text: string): string {
  const i = Math.floor(text.length / 2);
  return text.slice(0, i) + (text[i] === "A" ? "B" : "A") + text.slice(i + 1);
}

/** Sets `PRAGMA user_version` (the store format version). */
export function setFormatVersion(home: string, version: number): void {
  withDb(home, (db) => db.exec(`PRAGMA user_version = ${version}`));
}
