/**
 * The audit log: one JSON line per action in `<home>/audit.log` (0600). Entries name what was
 * done to which connection and how it ended; they never hold a secret.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { ensurePrivateDir, readTextIfExists } from "./files.ts";
import { runtime } from "../runtime/runtime.ts";

/** One audit entry. */
export interface AuditEntry {
  /** ISO-8601 UTC time. */
  time: string;
  /** What was done: `login`, `logout`, `revoke`, `get-secret`, `export`, `set-default`, … */
  action: string;
  /** The vault it was done in. */
  vault: string;
  /** The provider, when the action concerns one. */
  provider?: string;
  /** The connection, when the action concerns one. */
  connection?: string;
  /** The agent identity that acted (`run --as`, or a service created with an identity). */
  identity?: string;
  /** `ok`, or `error` with the error code. */
  outcome: "ok" | "error";
  /** The error code when `outcome` is `error`. */
  error?: string;
  /** Non-secret details: a field name, an export format, a flow. */
  detail?: Record<string, string | number | boolean>;
}

/** The audit log's path. */
export function auditPath(home: string): string {
  return joinPath(home, "audit.log");
}

/**
 * Appends one entry. Lines are written with a single `O_APPEND` write, so entries from parallel
 * processes do not interleave.
 */
export async function appendAudit(home: string, entry: AuditEntry): Promise<void> {
  await ensurePrivateDir(home);
  await runtime.appendFile(
    auditPath(home),
    new TextEncoder().encode(JSON.stringify(entry) + "\n"),
    0o600,
  );
}

/**
 * Reads the last `limit` entries (of one identity, when `filter.identity` is given), oldest first;
 * lines that are not valid JSON are skipped.
 */
export async function readAudit(
  home: string,
  limit: number,
  filter: { identity?: string | undefined } = {},
): Promise<AuditEntry[]> {
  const text = await readTextIfExists(auditPath(home));
  if (text === undefined) return [];
  const entries: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(line) as AuditEntry;
    } catch {
      continue; // a torn or foreign line is not an entry
    }
    if (filter.identity === undefined || entry.identity === filter.identity) entries.push(entry);
  }
  return limit <= 0 ? [] : entries.slice(-limit);
}
