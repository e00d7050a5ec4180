/**
 * File primitives for the home folder: private folders, atomic private writes, and a
 * cross-process lock.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { runtime } from "../runtime/runtime.ts";

/** Creates `path` (and parents) as a folder only the owner can use, and tightens it if it exists. */
export async function ensurePrivateDir(path: string): Promise<void> {
  try {
    await runtime.mkdir(path, 0o700);
    const info = await runtime.stat(path);
    if (info.mode !== null && (info.mode & 0o077) !== 0) await runtime.chmod(path, 0o700);
  } catch (cause) {
    throw ioError(`Cannot create the folder ${path}`, cause);
  }
}

/** Reads a text file, or returns undefined when it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await runtime.readTextFile(path);
  } catch (cause) {
    if (runtime.failure(cause) === "not-found") return undefined;
    throw ioError(`Cannot read ${path}`, cause);
  }
}

/**
 * Replaces `path` with `data` atomically: a private temp file beside it is written, flushed to
 * disk and renamed over the target, so readers see the old or the new file, never half of one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    await runtime.writeNewFile(tmp, bytes, 0o600);
    await runtime.rename(tmp, path);
  } catch (cause) {
    await runtime.remove(tmp).catch(() => {});
    throw ioError(`Cannot write ${path}`, cause);
  }
}

/**
 * Creates `path` with `data` only if it does not exist yet, atomically across processes.
 * Returns false when another process created it first.
 */
export async function createFileExclusive(path: string, data: string): Promise<boolean> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await writeFileAtomic(tmp, data);
  try {
    await runtime.link(tmp, path);
    return true;
  } catch (cause) {
    if (runtime.failure(cause) === "exists") return false;
    throw ioError(`Cannot create ${path}`, cause);
  } finally {
    await runtime.remove(tmp).catch(() => {});
  }
}

/**
 * Runs `fn` while holding an exclusive advisory lock on `lockPath` (created 0600 if needed).
 * Other authsome processes wait for it, so read-modify-write sequences do not interleave.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  await ensurePrivateDir(lockPath.slice(0, lockPath.lastIndexOf("/")) || "/");
  let held;
  try {
    held = await runtime.flock(lockPath);
  } catch (cause) {
    throw ioError(`Cannot open the lock file ${lockPath}`, cause);
  }
  try {
    return await fn();
  } finally {
    held.release();
  }
}

function ioError(message: string, cause: unknown): AuthsomeError {
  if (cause instanceof AuthsomeError) return cause;
  const reason = runtime.failure(cause) === "denied"
    ? "permission denied"
    : cause instanceof Error
    ? cause.message.split("\n")[0]
    : String(cause);
  return new AuthsomeError("VAULT_UNAVAILABLE", `${message}: ${reason}`, {
    cause,
    hint: "Check that AUTHSOME_HOME points to a folder you own",
  });
}
