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
  /**
   * `ok`, or `error` with the error code. A request of a `run` child (action `proxy`): what the
   * proxy did with it — `injected`, `passed`, `tunnelled`, `denied` or `error`.
   */
  outcome: "ok" | "error" | "injected" | "passed" | "tunnelled" | "denied";
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

/** Which entries {@linkcode readAudit} returns: those matching every field given. */
export interface AuditFilter {
  /** Only this agent identity's entries. */
  identity?: string | undefined;
  /** Only entries about this provider. */
  provider?: string | undefined;
  /** Only entries about a connection of this name. */
  connection?: string | undefined;
}

/**
 * A batch of audit entries written together: {@linkcode AuditBatch.add} only queues (no I/O),
 * the queue is appended with one write every `everyMs` (default 1000) while it holds entries, and
 * {@linkcode AuditBatch.close} writes what is left. Nothing is synced to disk per entry, so a run
 * of 10,000 proxied requests costs a handful of writes, not 10,000.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openAuditBatch, readAudit } from "./audit.ts";
 * const home = await Deno.makeTempDir();
 * const batch = openAuditBatch(home);
 * batch.add({ time: new Date().toISOString(), action: "proxy", vault: "default", outcome: "tunnelled" });
 * await batch.close();
 * assert.equal((await readAudit(home, 10))[0]?.outcome, "tunnelled");
 * await Deno.remove(home, { recursive: true });
 * ```
 */
export function openAuditBatch(home: string, options: { everyMs?: number } = {}): AuditBatch {
  let queue: string[] = [];
  let writing: Promise<void> = Promise.resolve();
  const flush = () => {
    if (queue.length === 0) return writing;
    const text = queue.join("");
    queue = [];
    writing = writing.then(() => appendText(home, text)).catch(() => {
      // A full disk must not stop the child's requests; the entries of this batch are lost.
    });
    return writing;
  };
  const timer = setInterval(flush, options.everyMs ?? 1000);
  // The timer never keeps the process alive; close() writes the rest.
  runtime.unrefTimer(timer);
  return {
    add(entry) {
      queue.push(JSON.stringify(entry) + "\n");
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}

/** A queue of audit entries, see {@linkcode openAuditBatch}. */
export interface AuditBatch {
  /** Queues one entry; never waits and never throws. */
  add(entry: AuditEntry): void;
  /** Stops the timer and writes what is queued. */
  close(): Promise<void>;
}

/** Appends `text` (whole lines) with `O_APPEND` writes. */
async function appendText(home: string, text: string): Promise<void> {
  await ensurePrivateDir(home);
  await runtime.appendFile(auditPath(home), new TextEncoder().encode(text), 0o600);
}

/**
 * Reads the last `limit` entries matching `filter` (identity, provider, connection), oldest first;
 * lines that are not valid JSON are skipped.
 */
export async function readAudit(
  home: string,
  limit: number,
  filter: AuditFilter = {},
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
    if (filter.identity !== undefined && entry.identity !== filter.identity) continue;
    if (filter.provider !== undefined && entry.provider !== filter.provider) continue;
    if (filter.connection !== undefined && entry.connection !== filter.connection) continue;
    entries.push(entry);
  }
  return limit <= 0 ? [] : entries.slice(-limit);
}
