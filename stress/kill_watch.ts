/**
 * A worker that kills a process the moment a file grows: it checks the file's size every 50 µs
 * (a timer in the main thread fires every millisecond at best, too late to land between two
 * commits of one command) and sends SIGKILL on the first growth, or a set delay after it. The main thread stops it by
 * setting the first cell of the shared flag to 1.
 *
 * Message in: `{ pid, path, flag, delayMs }` (flag: an Int32Array over a SharedArrayBuffer). Message out:
 * `true` when it killed, `false` when it was stopped first.
 *
 * @module
 */

/** What the worker is told to watch. */
export interface KillWatch {
  /** The process to kill. */
  pid: number;
  /** The file whose growth triggers the kill. */
  path: string;
  /** `[0]` set to 1 by the main thread: stop watching. */
  flag: Int32Array;
  /** Wait this long after the growth before the kill, in ms (fractions allowed; default 0). */
  delayMs?: number;
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Watches `path` until it grows (then kills `pid` after `delayMs`: true) or `flag[0]` becomes 1
 * (false).
 *
 * @example
 * ```ts
 * import { watchAndKill } from "./kill_watch.ts";
 * const flag = new Int32Array(new SharedArrayBuffer(4));
 * flag[0] = 1; // already told to stop
 * console.log(watchAndKill({ pid: 0, path: "/nonexistent", flag })); // false
 * ```
 */
export function watchAndKill(watch: KillWatch): boolean {
  const start = sizeOf(watch.path);
  while (Atomics.load(watch.flag, 0) === 0) {
    if (sizeOf(watch.path) > start) {
      const until = performance.now() + (watch.delayMs ?? 0);
      while (performance.now() < until) Atomics.wait(watch.flag, 0, 0, 0.05);
      try {
        Deno.kill(watch.pid, "SIGKILL");
      } catch { /* exited meanwhile */ }
      return true;
    }
    Atomics.wait(watch.flag, 0, 0, 0.05);
  }
  return false;
}

// In a worker: one watch per message.
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<KillWatch>) => void) | null;
  postMessage?: (message: unknown) => void;
  WorkerGlobalScope?: unknown;
};
if (scope.WorkerGlobalScope !== undefined) {
  scope.onmessage = (event) => scope.postMessage!(watchAndKill(event.data));
}
