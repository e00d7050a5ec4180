/**
 * Test access to a home's store file (`<home>/authsome.db`) below the service: read its rows,
 * change one as an attacker with write access would, and take a digest that changes when any
 * byte of the stored data does. Uses `node:sqlite` directly, never the product's code.
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

function withDb<T>(home: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(storePath(home));
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    return fn(db);
  } finally {
    db.close();
  }
}

/** Every record row of `vault` (all vaults when omitted), sorted by vault and key. */
export function storedRows(home: string, vault?: string): StoredRow[] {
  return withDb(
    home,
    (db) =>
      db.prepare("SELECT vault, key, nonce, ciphertext FROM records ORDER BY vault, key").all()
        .map((r) => ({ ...r }) as unknown as StoredRow)
        .filter((r) => vault === undefined || r.vault === vault),
  );
}

/** The vault headers: name, key source, key id and wrapped data key. */
export function storedVaults(home: string): Array<Record<string, string>> {
  return withDb(
    home,
    (db) =>
      db.prepare("SELECT * FROM vaults ORDER BY name").all().map((r) =>
        ({ ...r }) as Record<string, string>
      ),
  );
}

/**
 * A digest of everything stored (headers and records, by value), to prove that a failed
 * command changed nothing. Also hashes the raw file bytes' absence/presence of rows only, so a
 * checkpoint that rewrites pages without changing data does not count as a change.
 */
export async function storeDigest(home: string): Promise<string> {
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

/** Replaces the wrapped data key (or other header columns) of `vault`. */
export function tamperHeader(home: string, vault: string, change: Record<string, string>): void {
  withDb(home, (db) => {
    for (const [column, value] of Object.entries(change)) {
      db.prepare(`UPDATE vaults SET ${column} = ? WHERE name = ?`).run(value, vault);
    }
  });
}

/** Copies the sealed bytes of record `from` over record `to` (both must exist) of `vault`. */
export function copyRow(home: string, vault: string, from: string, to: string): void {
  const source = storedRows(home, vault).find((r) => r.key === from);
  if (source === undefined) throw new Error(`no record ${vault}/${from}`);
  tamperRow(home, vault, to, { nonce: source.nonce, ciphertext: source.ciphertext });
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
