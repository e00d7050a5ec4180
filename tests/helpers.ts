/**
 * Test helpers: spawn the real CLI (the root `./authsome` launcher) with a temp AUTHSOME_HOME.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";

/** The repository root. */
export const ROOT: string = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** The launcher users run. */
export const LAUNCHER: string = join(ROOT, "authsome");

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface RunOptions {
  /** AUTHSOME_HOME for the run. */
  home: string;
  /** Extra environment variables (merged over a minimal clean environment). */
  env?: Record<string, string>;
  /** Text written to the CLI's stdin (stdin is closed afterwards; /dev/null when absent). */
  stdin?: string;
}

/**
 * The environment every spawned CLI gets: PATH, HOME, AUTHSOME_HOME, NO_COLOR, plus `extra`.
 * The real HOME keeps Deno's module cache warm; AUTHSOME_HOME is what authsome uses.
 */
export function cliEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    AUTHSOME_HOME: home,
    NO_COLOR: "1",
    // Under mutation testing (scripts/mutate.ts) the spawned CLI runs the same mutant.
    ...(mutant === undefined ? {} : { __STRYKER_ACTIVE_MUTANT__: mutant }),
    ...extra,
  };
}

const mutant = Deno.env.get("__STRYKER_ACTIVE_MUTANT__");

/**
 * Runs `./authsome ARGS` as a separate process. The environment is minimal (PATH, HOME,
 * AUTHSOME_HOME, NO_COLOR) plus `env`, so a developer's own variables cannot leak in. HOME stays
 * the real one so Deno's module cache is shared; tests may override it.
 */
export async function runCli(args: string[], options: RunOptions): Promise<CliResult> {
  const command = new Deno.Command(LAUNCHER, {
    args,
    clearEnv: true,
    env: cliEnv(options.home, options.env),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** Creates a fresh temp folder to use as AUTHSOME_HOME (it does not exist yet inside). */
export async function tempHome(): Promise<
  { home: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "authsome-test-" });
  return {
    home: join(dir, "home"),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Every regular file under `dir` with its content (binary-safe as latin1 text). */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        const bytes = await Deno.readFile(p);
        out.set(p, new TextDecoder("latin1").decode(bytes));
      }
    }
  };
  await walk(dir);
  return out;
}

/** SHA-256 of a file, hex; for asserting that a file was left unchanged. */
export async function fileHash(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return new Uint8Array(digest).toHex();
}

/** Asserts the run failed with `code`, one `error:` line, one `hint:` line, no stack trace. */
export function assertCleanError(r: CliResult, code: number, ...contains: string[]): void {
  const context = `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
  assert.equal(r.code, code, context);
  assert.ok(!r.stderr.includes("    at "), `stack trace on stderr:\n${context}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, `expected an error line and a hint line:\n${context}`);
  assert.match(lines[0]!, /^error: \S/, context);
  assert.match(lines[1]!, /^hint: \S/, context);
  for (const text of contains) {
    assert.ok(
      r.stderr.includes(text),
      `stderr should contain ${JSON.stringify(text)}:\n${context}`,
    );
  }
}
