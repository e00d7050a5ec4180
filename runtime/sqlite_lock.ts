/**
 * An exclusive file lock every runtime can take and see: an SQLite `BEGIN EXCLUSIVE` on the lock
 * file (`node:sqlite` is built into Deno, Node and Bun). The kernel releases it when the process
 * dies, and Deno and Node processes on the same home exclude each other. Node and Bun have no
 * `flock`, and Deno's would not exclude them.
 *
 * @module
 */
import type { HeldLock } from "./runtime.ts";

const BUSY = /database is locked|SQLITE_BUSY/;

/**
 * Takes the lock on `path` (an empty or SQLite file; created if needed, then given mode 0600 with
 * `chmod`), or returns undefined at once when another connection, in this process or another,
 * holds it. Nothing else may open the file: closing any descriptor of it would drop this
 * process's locks on it (POSIX), which is why the file is created by SQLite itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trySqliteLock } from "./sqlite_lock.ts";
 * const path = `${await Deno.makeTempDir()}/x.lock`;
 * const held = await trySqliteLock(path, Deno.chmod);
 * assert.equal(await trySqliteLock(path, Deno.chmod), undefined);
 * held?.release();
 * (await trySqliteLock(path, Deno.chmod))?.release();
 * ```
 */
export async function trySqliteLock(
  path: string,
  chmod: (path: string, mode: number) => Promise<void>,
): Promise<HeldLock | undefined> {
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(path, { timeout: 0 });
  try {
    // Nothing is ever written to the lock file, so its journal can live in memory; on disk,
    // SQLite would leave a `-journal` file beside the lock whenever a holder is killed (and
    // `journal_mode = OFF` is not taken for an empty file: it stays "delete").
    db.exec("PRAGMA journal_mode = MEMORY");
    db.exec("BEGIN EXCLUSIVE");
  } catch (error) {
    db.close();
    if (error instanceof Error && BUSY.test(error.message)) return undefined;
    throw error;
  }
  let released = false;
  const held = {
    release() {
      if (released) return;
      released = true;
      try {
        db.exec("ROLLBACK");
      } finally {
        db.close();
      }
    },
  };
  try {
    await chmod(path, 0o600);
  } catch (error) {
    held.release();
    throw error;
  }
  return held;
}
