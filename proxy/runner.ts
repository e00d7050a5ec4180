/**
 * Runs the child program of `authsome run` with inherited stdio, forwards termination signals to
 * it, and maps how it ended to an exit status: its own code, 126 when it cannot be executed, 127
 * when it is not found, 128+N when a signal N killed it.
 *
 * @module
 */

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/** Why a child could not start, for a one-line message. */
export interface SpawnFailure {
  /** 126 (not executable) or 127 (not found). */
  code: 126 | 127;
  /** The program name. */
  program: string;
}

/**
 * Exit status for a finished child: its code, or 128 + the signal number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exitStatusOf } from "./runner.ts";
 * assert.equal(exitStatusOf({ code: 143, signal: "SIGTERM" }), 143);
 * assert.equal(exitStatusOf({ code: 3, signal: null }), 3);
 * ```
 */
export function exitStatusOf(status: { code: number; signal: string | null }): number {
  if (status.signal !== null) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}

/**
 * Spawns `command` with `env` (the environment is replaced, not merged) and inherited stdio, and
 * resolves with its exit status, or with a {@linkcode SpawnFailure} when it could not start.
 * With a `prefix` (e.g. the one that hides the authsome home), `[...prefix, ...command]` is
 * started; the program is looked up in the child's `PATH` first, so that a missing or
 * non-executable program is still reported as such rather than by the prefix's shell.
 */
export async function spawnChild(
  command: string[],
  env: Record<string, string>,
  prefix: string[] = [],
): Promise<number | SpawnFailure> {
  const [program, ...args] = command;
  if (program === undefined) return { code: 127, program: "" };
  if (prefix.length > 0) {
    const missing = await locate(program, env.PATH ?? "");
    if (missing !== undefined) return { code: missing, program };
  }
  const [executable, ...leading] = prefix.length > 0 ? prefix : [program];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(executable!, {
      args: prefix.length > 0 ? [...leading, program, ...args] : args,
      env,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { code: 127, program };
    if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.IsADirectory
    ) {
      return { code: 126, program };
    }
    throw error;
  }
  // Signals sent to authsome (e.g. `kill`, or a terminal's Ctrl-C) go to the child, and authsome
  // stays up to stop the proxy after the child has ended.
  const forward = new Map<Deno.Signal, () => void>();
  for (const signal of FORWARDED) {
    const handler = () => {
      try {
        child.kill(signal);
      } catch {
        // the child has already exited
      }
    };
    forward.set(signal, handler);
    Deno.addSignalListener(signal, handler);
  }
  try {
    return exitStatusOf(await child.status);
  } finally {
    for (const [signal, handler] of forward) Deno.removeSignalListener(signal, handler);
  }
}

/**
 * Why `program` cannot be started from `path` (a `PATH` value), as `execvp` would find it:
 * 127 when there is no such file, 126 when there is one but it is not an executable file;
 * undefined when it can be started.
 */
async function locate(program: string, path: string): Promise<126 | 127 | undefined> {
  const candidates = program.includes("/")
    ? [program]
    : path.split(":").map((dir) => `${dir === "" ? "." : dir}/${program}`);
  let found = false;
  for (const candidate of candidates) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(candidate);
    } catch {
      continue;
    }
    found = true;
    if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return undefined;
  }
  return found ? 126 : 127;
}
