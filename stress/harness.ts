/**
 * What the parts of the adversarial suite share: a seeded random source, a bounded parallel
 * loop, and running one CLI invocation either as a real process (the `./authsome` launcher) or
 * inside a worker that calls `cli.ts`'s `main` (many cases per process, still cut off after the
 * time limit), and the rules every outcome is judged by.
 *
 * @module
 */
import { join } from "node:path";
import { EXIT_CODES } from "../errors.ts";

/** The repository root. */
export const ROOT: string = join(import.meta.dirname ?? ".", "..");
/** The launcher users run. */
export const LAUNCHER: string = join(ROOT, "authsome");

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same cases, so a finding
 * can be replayed.
 *
 * @example
 * ```ts
 * import { Random } from "./harness.ts";
 * const a = new Random(7), b = new Random(7);
 * console.log(a.int(100) === b.int(100)); // true
 * ```
 */
export class Random {
  #state: number;
  /** A source starting at `seed`. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** One element of `list`. */
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}

/**
 * Runs `fn` over `items`, at most `width` at a time; results in the order of `items`.
 *
 * @example
 * ```ts
 * import { parallel } from "./harness.ts";
 * console.log(await parallel([1, 2, 3], 2, (n) => Promise.resolve(n * 2))); // [2, 4, 6]
 * ```
 */
export async function parallel<T, R>(
  items: readonly T[],
  width: number,
  fn: (item: T, index: number, slot: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (slot: number) => {
    while (next < items.length) {
      const index = next++;
      out[index] = await fn(items[index]!, index, slot);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, (_, i) => worker(i)));
  return out;
}

/** One CLI invocation. */
export interface CliCase {
  argv: string[];
  /** The whole environment of the run (nothing is inherited). */
  env: Record<string, string>;
  /** Written to stdin, which is then closed; absent: stdin is empty. */
  stdin?: string;
  /** Working directory (absolute). */
  cwd: string;
}

/** What one invocation did. */
export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
  /** Cut off after the time limit. */
  hung: boolean;
  ms: number;
}

/** The environment a CLI run starts from: PATH, HOME, NO_COLOR and `AUTHSOME_HOME`. */
export function baseEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    NO_COLOR: "1",
    AUTHSOME_HOME: home,
    ...extra,
  };
}

/**
 * Runs `./authsome` as a real process, killed after `limitMs`.
 *
 * @example
 * ```ts ignore
 * import { baseEnv, spawnCli } from "./harness.ts";
 * const r = await spawnCli({ argv: ["version"], env: baseEnv("/tmp/h"), cwd: "/tmp" }, 10_000);
 * ```
 */
export async function spawnCli(c: CliCase, limitMs: number): Promise<CliOutcome> {
  const started = performance.now();
  const child = new Deno.Command(LAUNCHER, {
    args: c.argv,
    clearEnv: true,
    env: c.env,
    cwd: c.cwd,
    stdin: c.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, limitMs);
  if (c.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(c.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  clearTimeout(timer);
  const decoder = new TextDecoder();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
    hung,
    ms: performance.now() - started,
  };
}

/**
 * Runs CLI cases inside one long-lived host process (stress/cli_worker.ts) that calls `main`
 * for each, so most cases pay no process start. A case that overruns the limit is cut off by
 * killing the host (a worker thread cannot be stopped inside a regular expression), which is
 * then replaced. The host has no V8 flags: it behaves as the library does under Deno.
 *
 * @example
 * ```ts ignore
 * import { baseEnv, InProcessCli } from "./harness.ts";
 * const cli = new InProcessCli();
 * const r = await cli.run({ argv: ["version"], env: baseEnv("/tmp/h"), cwd: "/tmp" }, 10_000);
 * await cli.close();
 * ```
 */
export class InProcessCli {
  #host: HostProcess | undefined;

  /** Runs one case (its `cwd` is ignored: the host stands in the scratch folder it starts in). */
  async run(c: CliCase, limitMs: number): Promise<CliOutcome> {
    const host = this.#host ??= startHost(c.cwd);
    const started = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), limitMs);
    });
    const answer = await Promise.race([host.ask(c), timeout]);
    clearTimeout(timer);
    if (answer === undefined) {
      this.#host = undefined;
      await host.kill();
      return { code: -1, stdout: "", stderr: "", hung: true, ms: limitMs };
    }
    return { ...answer, hung: false, ms: performance.now() - started };
  }

  /** Stops the host process. */
  async close(): Promise<void> {
    const host = this.#host;
    this.#host = undefined;
    await host?.kill();
  }
}

interface HostProcess {
  ask(c: CliCase): Promise<{ code: number; stdout: string; stderr: string }>;
  kill(): Promise<void>;
}

/** The marker before each answer line of the host (a `run` child may write to its stdout). */
export const ANSWER_MARK = "\u0001authsome-stress ";

function startHost(cwd: string): HostProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(ROOT, "stress", "cli_worker.ts")],
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let queue = Promise.resolve();
  const readAnswer = async () => {
    for (;;) {
      const at = buffer.indexOf("\n");
      if (at >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        if (line.startsWith(ANSWER_MARK)) return JSON.parse(line.slice(ANSWER_MARK.length));
        continue;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("the stress host process ended");
      buffer += value;
    }
  };
  return {
    ask(c) {
      const next = queue.then(async () => {
        await writer.write(new TextEncoder().encode(JSON.stringify(c) + "\n"));
        return await readAnswer();
      });
      queue = next.then(() => {}, () => {});
      return next;
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await writer.abort().catch(() => {});
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

const DOCUMENTED = new Set([0, ...Object.values(EXIT_CODES)]);

/**
 * The rules every CLI outcome is held to, as the broken rule's kind and a line about it, or
 * undefined when it kept them: no hang, no stack trace, a documented exit code that is not 1
 * (unexpected), and on failure one `error:` line (and at most a `hint:` line after it).
 *
 * @example
 * ```ts
 * import { judge } from "./harness.ts";
 * const ok = { code: 64, stdout: "", stderr: "error: bad\nhint: do this\n", hung: false, ms: 1 };
 * console.log(judge(ok)); // undefined
 * ```
 */
export function judge(
  r: CliOutcome,
  options: JudgeOptions = {},
): { kind: "hang" | "crash" | "exit" | "message"; line: string } | undefined {
  const allowed = options.allowed ?? DOCUMENTED;
  const head = r.stderr.split("\n").slice(0, 3).join(" | ").slice(0, 300);
  if (r.hung) return { kind: "hang", line: "no answer within the time limit" };
  if (/\n\s+at |Uncaught|panicked|RUST_BACKTRACE/.test(r.stderr)) {
    return { kind: "crash", line: `stack trace or crash: ${head}` };
  }
  if (!allowed.has(r.code) || r.code === 1) {
    return { kind: "exit", line: `exit ${r.code}: ${head}` };
  }
  if (r.code === 0 || options.report) return undefined;
  if (options.json) return judgeJsonError(r.stderr, head);
  const lines = r.stderr.trimEnd().split("\n");
  const at = lines.findIndex((line) => line.startsWith("error: "));
  const rest = at < 0 ? [] : lines.slice(at + 1);
  if (
    at < 0 || lines[at]!.length < 10 || rest.length > 1 ||
    (rest[0] ?? "hint: x").slice(0, 6) !== "hint: "
  ) {
    return { kind: "message", line: `not one error line (and a hint): ${head}` };
  }
  if (lines[at]!.length > 600) {
    return { kind: "message", line: `an error line of ${lines[at]!.length} characters` };
  }
  return undefined;
}

/** Options of {@linkcode judge}. */
export interface JudgeOptions {
  /** Exit codes that may occur (default: every documented one). */
  allowed?: ReadonlySet<number>;
  /** The run had `--json`: an error is one JSON line on stderr. */
  json?: boolean;
  /** The command reports (status, doctor): a non-zero exit needs no error line. */
  report?: boolean;
}

/** A `--json` error: its last stderr line is `{"error", "message", "hint"}`. */
function judgeJsonError(
  stderr: string,
  head: string,
): { kind: "message"; line: string } | undefined {
  const last = stderr.trimEnd().split("\n").at(-1) ?? "";
  try {
    const parsed = JSON.parse(last) as { error?: unknown; message?: unknown };
    if (typeof parsed.error === "string" && typeof parsed.message === "string") {
      return parsed.message.includes("\n") || parsed.message.length > 600
        ? { kind: "message", line: `a JSON error message of many lines or characters: ${head}` }
        : undefined;
    }
  } catch { /* judged below */ }
  return { kind: "message", line: `not a JSON error on stderr: ${head}` };
}

/** Counts of what a batch of cases did, per kind of finding. */
export interface Tally {
  cases: number;
  spawned: number;
  hang: number;
  crash: number;
  exit: number;
  message: number;
  value: number;
  /** Mutated stores that still opened and gave a secret back (each compared). */
  opened: number;
}

/** An empty {@linkcode Tally}. */
export function tally(): Tally {
  return { cases: 0, spawned: 0, hang: 0, crash: 0, exit: 0, message: 0, value: 0, opened: 0 };
}

/**
 * Copies a folder tree (files keep their modes).
 *
 * @example
 * ```ts ignore
 * import { copyTree } from "./harness.ts";
 * await copyTree("/tmp/golden", "/tmp/case-1");
 * ```
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    if (entry.isDirectory) await copyTree(source, join(to, entry.name));
    else if (entry.isFile) await Deno.copyFile(source, join(to, entry.name));
  }
}
