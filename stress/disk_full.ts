/**
 * Disk full, part of crash safety: a small tmpfs mounted in a private mount namespace
 * (`unshare -m`, root only) holds AUTHSOME_HOME; once the tmpfs is filled, every write must either
 * succeed whole or fail with one `error:` line, a hint and a documented exit code, leaving the
 * previous state intact (a first login into an empty home leaves no half-written key file); once
 * space is freed, writes work again.
 *
 * Run as a module it is the process inside the namespace: `deno run -A stress/disk_full.ts DIR`
 * mounts the tmpfs on DIR, runs the checks and prints `{ figures, problems }` as JSON.
 *
 * @module
 */
import { join } from "node:path";
import type { StressContext, StressFigure } from "./part.ts";
import {
  type Outcome,
  readVault,
  runAuthsome,
  strayFiles,
  untidyFailure,
  type VaultState,
} from "./process_harness.ts";

/** What the disk-full check found. */
export interface DiskFullResult {
  figures: StressFigure[];
  problems: string[];
}

/**
 * Runs the disk-full check in a new mount namespace; without root (no `unshare -m`) it reports
 * that it was skipped, as a figure, not a problem.
 *
 * @example
 * ```ts ignore
 * import { checkDiskFull } from "./disk_full.ts";
 * const scratch = await Deno.makeTempDir();
 * const result = await checkDiskFull({ size: "slice", scratch, log: console.error });
 * console.log(result.problems); // []
 * ```
 */
export async function checkDiskFull(ctx: StressContext): Promise<DiskFullResult> {
  const dir = join(ctx.scratch, "tmpfs");
  await Deno.mkdir(dir, { recursive: true });
  const child = await new Deno.Command("unshare", {
    args: [
      "-m",
      "--propagation",
      "private",
      Deno.execPath(),
      "run",
      "-A",
      "--quiet",
      import.meta.filename!,
      dir,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((error) => ({
    code: -1,
    stdout: new Uint8Array(),
    stderr: new TextEncoder().encode(String(error)),
  }));
  const out = new TextDecoder().decode(child.stdout);
  if (child.code !== 0) {
    const why = new TextDecoder().decode(child.stderr).trim().split("\n")[0];
    if (Deno.uid() !== 0) {
      return {
        figures: [["disk full", `skipped: needs root for unshare -m (${why})`]],
        problems: [],
      };
    }
    return { figures: [], problems: [`disk full: the check did not run: ${why}`] };
  }
  return JSON.parse(out) as DiskFullResult;
}

function sameState(a: VaultState, b: VaultState): boolean {
  const text = (s: VaultState) =>
    JSON.stringify([[...s.connections].sort(), [...s.defaults].sort(), s.identities]);
  return text(a) === text(b);
}

/** Fills the file system of `dir` to the last byte. */
async function fill(dir: string): Promise<void> {
  const file = await Deno.open(join(dir, "filler"), { write: true, create: true, append: true });
  try {
    for (const size of [1 << 20, 1 << 16, 1 << 12, 1 << 8, 1]) {
      const chunk = new Uint8Array(size);
      for (;;) {
        try {
          const written = await file.write(chunk);
          if (written < size) break;
        } catch {
          break;
        }
      }
    }
  } finally {
    file.close();
  }
}

/** The checks, inside the namespace with the tmpfs mounted on `dir`. */
async function inside(dir: string): Promise<DiskFullResult> {
  const problems: string[] = [];
  const home = join(dir, "home");
  const fresh = join(dir, "fresh");
  const key = (n: number) => `sk-diskfull${n}_${crypto.randomUUID().replaceAll("-", "")}`;
  const cli = (args: string[], stdin?: string, at = home) =>
    runAuthsome(args, { home: at, ...(stdin === undefined ? {} : { stdin }) });
  for (
    const [args, stdin] of [[["login", "openai", "-c", "base", "--stdin"], key(0)], [[
      "identity",
      "create",
      "agent",
      "--allow",
      "openai",
    ]]] as const
  ) {
    const r = await cli([...args], stdin);
    if (r.code !== 0) return { figures: [], problems: [`disk full: seeding failed: ${r.stderr}`] };
  }
  const before = await readVault(home);
  // Room set aside, freed for a moment after each write to read the vault (a read needs a few
  // KB for SQLite's shared-memory file), then taken again.
  const reserve = join(dir, "reserve");
  const setAside = async () => {
    await Deno.writeFile(reserve, new Uint8Array(256 * 1024)).catch(() => {});
    await fill(dir);
  };
  await setAside();

  const writes: Array<[string[], string | undefined]> = [
    [["login", "openai", "-c", "second", "--stdin"], key(1)],
    [["login", "openai", "-c", "big", "--stdin"], key(2) + "x".repeat(60_000)],
    [["login", "openai", "-c", "base", "--force", "--stdin"], key(3)],
    [["identity", "create", "second", "--allow", "openai"], undefined],
    [["connections", "set-default", "openai", "base"], undefined],
    [["logout", "openai", "-c", "base"], undefined],
  ];
  let refused = 0;
  let succeeded = 0;
  const messages = new Set<string>();
  let state = before;
  const judge = async (
    what: string,
    r: Outcome,
    at: string,
    expectedBefore: VaultState | undefined,
  ) => {
    const untidy = untidyFailure(r);
    if (untidy !== undefined) problems.push(`disk full: ${what}: ${untidy}: ${r.stderr.trim()}`);
    if (r.code !== 0) {
      refused++;
      const line = r.stderr.trim().split("\n")[0]!;
      messages.add(`exit ${r.code}: ${line.replace(dir, "TMPFS")}`);
      if (!line.includes("the disk is full")) {
        problems.push(`disk full: ${what}: the error does not say the disk is full: ${line}`);
      }
    } else succeeded++;
    const stray = await strayFiles(at).catch(() => []);
    if (stray.length > 0) problems.push(`disk full: ${what}: stray files ${stray.join(", ")}`);
    if (expectedBefore === undefined) return;
    await Deno.remove(reserve);
    try {
      const now = await readVault(at);
      if (r.code !== 0 && !sameState(now, expectedBefore)) {
        problems.push(`disk full: ${what} failed but changed the vault`);
      }
      state = now;
    } catch (error) {
      problems.push(`disk full: ${what}: the vault no longer opens: ${String(error)}`);
    }
    await setAside();
  };
  for (const [args, stdin] of writes) {
    await judge(args.join(" "), await cli(args, stdin), home, state);
  }
  // A reader still works on a full disk.
  const read = await cli(["get", "openai", "--field", "api_key", "--show-secret"]);
  if (read.code !== 0 && untidyFailure(read) !== undefined) {
    problems.push(`disk full: get: ${untidyFailure(read)}: ${read.stderr.trim()}`);
  }
  // A first login into an empty home: no key file or store half written.
  const first = await cli(["login", "openai", "--stdin"], key(4), fresh);
  await judge("a first login into an empty home", first, fresh, undefined);
  let freshProblems = false;
  await Deno.remove(reserve);
  if (first.code !== 0) {
    await Deno.remove(join(dir, "filler"));
    const again = await cli(["login", "openai", "--stdin"], key(5), fresh);
    if (again.code !== 0) {
      freshProblems = true;
      problems.push(
        `disk full: after freeing space a first login into that home failed: ${again.stderr.trim()}`,
      );
    }
  } else await Deno.remove(join(dir, "filler"));

  // Space is back: the vault works and holds what it held.
  const after = await cli(["login", "openai", "-c", "later", "--stdin"], key(6));
  if (after.code !== 0) {
    problems.push(`disk full: a write after freeing space failed: ${after.stderr.trim()}`);
  }
  const final = await readVault(home).catch(() => undefined);
  if (final === undefined) problems.push("disk full: the vault does not open after freeing space");
  else {
    const expected = new Map(state.connections);
    for (const [name, value] of final.connections) {
      if (name !== "openai/later" && expected.get(name) !== value) {
        problems.push(`disk full: ${name} changed after the disk was freed`);
      }
    }
  }
  return {
    figures: [
      ["disk full: writes tried on a full tmpfs", writes.length + 1],
      ["disk full: refused with a clean error / went through", `${refused} / ${succeeded}`],
      ["disk full: the messages", [...messages].join("; ") || "none"],
      [
        "disk full: home usable after freeing space",
        freshProblems || final === undefined ? "no" : "yes",
      ],
    ],
    problems,
  };
}

if (import.meta.main) {
  const dir = Deno.args[0]!;
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dir],
  }).output();
  if (mount.code !== 0) {
    console.error(new TextDecoder().decode(mount.stderr).trim());
    Deno.exit(1);
  }
  console.log(JSON.stringify(await inside(dir)));
}
