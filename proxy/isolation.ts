/**
 * Hiding the authsome home from the program `authsome run` starts. On Linux the child is started
 * in a mount namespace of its own (`unshare`), where an empty, read-only file system is mounted
 * over the home: the vault and the key file beside it cannot be read, while the proxy, in the
 * parent, keeps using them. Root can use mount namespaces directly; another user needs
 * unprivileged user namespaces (`unshare --map-current-user`), which some systems switch off.
 *
 * @module
 */

/** How the child will be started: behind a command prefix that hides the home, or as it is. */
export type Isolation =
  | { kind: "hidden"; prefix: string[] }
  | { kind: "unavailable"; reason: string };

/**
 * The script run inside the new mount namespace: mount an empty read-only tmpfs over the home
 * (`$1`), then replace itself with the command. Nothing of the command is interpreted by the shell.
 */
const HIDE_SCRIPT =
  'mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=0555 authsome-hidden "$1" || exit 125; ' +
  'shift; exec "$@"';

/** The unshare flags for this user: root needs no user namespace. */
function unshareFlags(uid: number | null): string[] {
  return uid === 0 ? ["--mount"] : ["--map-current-user", "--mount"];
}

/**
 * The command prefix that starts a program with `home` hidden: `[...prefix, program, ...args]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hidingPrefix } from "./isolation.ts";
 * const prefix = hidingPrefix("/root/.authsome", 0);
 * assert.deepEqual(prefix.slice(0, 3), ["unshare", "--mount", "--"]);
 * assert.equal(prefix.at(-1), "/root/.authsome");
 * ```
 */
export function hidingPrefix(home: string, uid: number | null): string[] {
  return ["unshare", ...unshareFlags(uid), "--", "/bin/sh", "-c", HIDE_SCRIPT, "sh", home];
}

/**
 * Whether the home can be hidden from a child here, found by trying it once with `true` as the
 * command (a few milliseconds). Never throws.
 *
 * @example
 * ```ts ignore
 * const isolation = await probeIsolation("/root/.authsome", Deno.cwd());
 * if (isolation.kind === "unavailable") console.error(isolation.reason);
 * ```
 */
export async function probeIsolation(home: string, cwd: string): Promise<Isolation> {
  if (Deno.build.os !== "linux") {
    return { kind: "unavailable", reason: "hiding the home needs Linux mount namespaces" };
  }
  if (isInside(cwd, home)) {
    return {
      kind: "unavailable",
      reason: "the current folder is inside the authsome home, which would be hidden",
    };
  }
  const prefix = hidingPrefix(home, Deno.uid());
  try {
    const { code } = await new Deno.Command(prefix[0]!, {
      args: [...prefix.slice(1), "true"],
      // Only PATH: authsome's own environment may hold secrets (the caller's API key
      // variables, AUTHSOME_MASTER_KEY), and a helper process has no use for them.
      clearEnv: true,
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (code === 0) return { kind: "hidden", prefix };
    return {
      kind: "unavailable",
      reason: Deno.uid() === 0
        ? "this system does not allow a private mount namespace"
        : "this system does not allow unprivileged user namespaces",
    };
  } catch {
    return { kind: "unavailable", reason: "unshare (util-linux) is not installed" };
  }
}

/** Is `path` the folder `dir` or inside it? Both absolute. */
function isInside(path: string, dir: string): boolean {
  const trimmed = dir.replace(/\/+$/, "");
  return path === trimmed || path.startsWith(`${trimmed}/`);
}
