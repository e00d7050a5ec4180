/**
 * The `canaries` part of the adversarial suite: a whole scenario (API-key login, OAuth login
 * against a local authorization server, refresh, export, `run` with a child, `get`, `list`,
 * `log`, backup) where every secret is a unique canary. While each authsome process runs, its
 * `/proc` argv and environment (and its children's) are sampled; afterwards every output, every
 * sample, every file under `AUTHSOME_HOME` and the temp dir (raw, base64, hex) and the `run`
 * children's environments are searched. A hit is allowed only where a secret is asked for: the
 * stdout of `get --show-secret` and `export`, and the environment of a `run --env` child.
 *
 * @module
 */
import { join } from "node:path";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import { baseEnv, LAUNCHER } from "./harness.ts";
import { type AuthServer, startAuthServer } from "../tests/oauth/server.ts";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  setStoredExpiry,
} from "../tests/oauth/cli_flow.ts";

/** One process seen in `/proc` while an authsome command ran. */
interface ProcSample {
  pid: number;
  cmdline: string;
  environ: string;
  /** The authsome process itself (not one of its children). */
  authsome: boolean;
}

/** One authsome command of the scenario and what it left. */
interface Step {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
  samples: ProcSample[];
  /** The command prints a secret on purpose (get --show-secret, export). */
  reveals: boolean;
  /** The command is `run --env`: its children's environments hold secrets on purpose. */
  realEnv: boolean;
  /** Canaries the caller put in the command's own environment (allowed there only). */
  given: string[];
}

/** A place a canary was found. */
export interface CanaryHit {
  canary: string;
  where: string;
  allowed: boolean;
}

/**
 * Every encoding of `secret` the search looks for: itself, hex (both cases), and base64 and
 * base64url at each of the three byte alignments it can have inside a longer encoded text.
 *
 * @example
 * ```ts
 * import { leakForms } from "./canaries.ts";
 * const forms = leakForms("sk-canary-1234567890");
 * console.log(forms.includes(btoa("sk-canary-1234567890").slice(0, 24))); // true
 * ```
 */
export function leakForms(secret: string): string[] {
  const bytes = new TextEncoder().encode(secret);
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const forms = [secret, hex, hex.toUpperCase()];
  for (let shift = 0; shift < 3; shift++) {
    const padded = new Uint8Array(shift + bytes.length);
    padded.set(bytes, shift);
    const b64 = btoa(String.fromCharCode(...padded));
    // Drop the characters that also depend on the bytes around the secret.
    const start = shift === 0 ? 0 : Math.ceil((shift * 4) / 3) + 1;
    const core = b64.slice(start, Math.floor((padded.length * 4) / 3) - 1);
    forms.push(core, core.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return forms.filter((form) => form.length >= 12);
}

/**
 * The canaries part: `deno task stress canaries`.
 *
 * @example
 * ```ts ignore
 * import { canariesPart } from "./canaries.ts";
 * const report = await canariesPart.run({ size: "slice", scratch: "/tmp/x", log: console.error });
 * ```
 */
export const canariesPart: StressPart = { name: "canaries", run: runCanaries };

async function runCanaries(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const home = join(ctx.scratch, "home");
  const tmp = join(ctx.scratch, "tmp");
  const evidence = join(ctx.scratch, "evidence");
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.mkdir(evidence, { recursive: true });
  const server = await startAuthServer();
  try {
    const scenario = await playScenario(ctx, server, { home, tmp, evidence });
    const hits = await search(scenario, { home, tmp, evidence });
    const outside = hits.filter((hit) => !hit.allowed);
    const samples = scenario.steps.reduce((n, step) => n + step.samples.length, 0);
    return {
      title: "Secret canaries",
      figures: [
        ["authsome commands run", scenario.steps.length],
        ["canaries (unique secrets)", Object.keys(scenario.canaries).length],
        ["/proc samples of argv and environment (authsome and children)", samples],
        ["files searched (raw, base64, hex)", scenario.filesSearched],
        ["hits where a secret is asked for", hits.length - outside.length],
        ["hits outside the allowed places", outside.length],
      ],
      problems: [
        ...scenario.problems,
        ...outside.slice(0, 20).map((hit) => `canary ${hit.canary} found in ${hit.where}`),
      ],
      seconds: secondsSince(started),
    };
  } finally {
    await server.close();
  }
}

interface Places {
  home: string;
  tmp: string;
  evidence: string;
}

interface Scenario {
  steps: Step[];
  /** Name → value of each canary. */
  canaries: Record<string, string>;
  /** Things that went wrong in the scenario itself. */
  problems: string[];
  filesSearched: number;
}

async function playScenario(ctx: StressContext, server: AuthServer, at: Places): Promise<Scenario> {
  const unique = () => crypto.randomUUID().replaceAll("-", "");
  const canaries: Record<string, string> = {
    "openai API key": `sk-canaryOpenai${unique()}`,
    "anthropic API key": `sk-ant-canary${unique()}`,
    "OAuth client secret": server.confidentialClient.client_secret,
  };
  const steps: Step[] = [];
  const problems: string[] = [];
  const env = (extra: Record<string, string> = {}) =>
    baseEnv(at.home, { TMPDIR: at.tmp, BROWSER: "true", ...extra });
  const step = async (
    argv: string[],
    options: { stdin?: string; extra?: Record<string, string>; during?: Watcher } = {},
  ) => {
    const result = await watchedRun(argv, env(options.extra), options.stdin, options.during);
    const reveals = argv.includes("--show-secret") || argv[0] === "export";
    const given = Object.keys(canaries).filter((name) =>
      Object.values(options.extra ?? {}).includes(canaries[name]!)
    );
    steps.push({
      argv,
      ...result,
      reveals,
      realEnv: argv[0] === "run" && argv.includes("--env"),
      given,
    });
    if (result.code !== 0) {
      problems.push(
        `scenario step "${argv.join(" ")}" exited ${result.code}: ${result.stderr.split("\n")[0]}`,
      );
    }
    return result;
  };

  await step(["login", "openai", "--stdin"], { stdin: canaries["openai API key"]! });
  await step(["login", "anthropic", "--stdin"], { stdin: canaries["anthropic API key"]! });
  const masterKey = (await Deno.readTextFile(join(at.home, "master.key"))).trim();
  canaries["master key"] = masterKey;

  const definition = join(at.evidence, "acme.json");
  await Deno.writeTextFile(definition, JSON.stringify(acmeDefinition(server)));
  await step(["provider", "register", definition]);
  await step(["login", "acme", "--callback-port", "0", "--stdin"], {
    stdin: canaries["OAuth client secret"]!,
    extra: { ACME_CLIENT_ID: server.confidentialClient.client_id },
    during: async (stderr) => {
      const match = await waitFor(stderr, AUTHORIZATION_URL);
      const { callbackUrl } = await server.approveAuthorization(match[1]!, { login: "canary" });
      await deliver(callbackUrl);
    },
  });
  const token = async (field: string) =>
    (await step(["get", "acme", "--field", field, "--show-secret"])).stdout.trim();
  canaries["OAuth access token"] = await token("access_token");
  canaries["OAuth refresh token"] = await token("refresh_token");

  // A refresh: the token is made to look expired, and the next read rotates both tokens.
  await setStoredExpiry(at.home, "acme", "default", new Date(Date.now() - 1000));
  await step(["export", "acme", "--format", "json"]);
  canaries["refreshed access token"] = await token("access_token");
  canaries["rotated refresh token"] = await token("refresh_token");
  if (canaries["refreshed access token"] === canaries["OAuth access token"]) {
    problems.push("the expired access token was not refreshed");
  }

  const probe = (file: string) =>
    `cat /proc/self/environ > ${join(at.evidence, file)}; env | grep -c . > /dev/null; sleep 0.3`;
  // The caller's shell holds a key of its own: the proxied child must get the placeholder.
  canaries["API key in the caller's environment"] = `sk-canaryShell${unique()}`;
  await step(["run", "--", "sh", "-c", probe("proxy-child.env")], {
    extra: { OPENAI_API_KEY: canaries["API key in the caller's environment"]! },
  });
  await step(["run", "--env", "--", "sh", "-c", probe("env-child.env")]);
  for (
    const argv of [
      ["get", "openai"],
      ["get", "acme", "--json"],
      ["export", "openai", "--format", "shell"],
      ["export", "--format", "env"],
      ["list", "--json"],
      ["inspect", "acme"],
      ["status"],
      ["log", "-n", "200"],
      ["log", "--json", "-n", "200"],
      ["whoami"],
      ["backup", join(at.tmp, "authsome.backup")],
      ["get", "openai", "--field", "api_key"],
      ["export", "openai", "--format", "nope"],
    ]
  ) {
    if (ctx.size === "slice" && argv[0] === "inspect") continue;
    await step(argv);
  }
  // The last two fail on purpose (a secret field without --show-secret, an unknown format).
  for (const failing of steps.slice(-2)) {
    problems.splice(problems.findIndex((p) => p.includes(failing.argv.join(" "))), 1);
    if (failing.code === 0) problems.push(`"${failing.argv.join(" ")}" should have failed`);
  }
  ctx.log(`canaries: ${steps.length} commands, ${Object.keys(canaries).length} canaries`);
  return { steps, canaries, problems, filesSearched: 0 };
}

async function search(scenario: Scenario, at: Places): Promise<CanaryHit[]> {
  const hits: CanaryHit[] = [];
  const look = (text: string, where: string, allowed: (name: string) => boolean) => {
    for (const [name, value] of Object.entries(scenario.canaries)) {
      if (leakForms(value).some((form) => text.includes(form))) {
        hits.push({ canary: name, where, allowed: allowed(name) });
      }
    }
  };
  const never = () => false;
  for (const step of scenario.steps) {
    const label = `authsome ${step.argv.join(" ")}`.slice(0, 80);
    look(step.stdout, `stdout of ${label}`, (name) => step.reveals && name !== "master key");
    look(step.stderr, `stderr of ${label}`, never);
    for (const sample of step.samples) {
      const who = sample.authsome
        ? `${label} (pid ${sample.pid})`
        : `a child (pid ${sample.pid}: ${
          sample.cmdline.replaceAll("\n", " ").slice(0, 40)
        }) of ${label}`;
      look(sample.cmdline, `argv of ${who}`, never);
      look(
        sample.environ,
        `environment of ${who}`,
        (name) =>
          (sample.authsome && step.given.includes(name)) ||
          (step.realEnv && !sample.authsome && name !== "master key"),
      );
    }
  }
  let files = 0;
  for (const root of [at.home, at.tmp]) {
    for await (const [path, text] of walk(root)) {
      files++;
      look(text, path, (name) => name === "master key" && path === join(at.home, "master.key"));
    }
  }
  scenario.filesSearched = files;
  const proxyChild = await Deno.readTextFile(join(at.evidence, "proxy-child.env")).catch(() => "");
  const envChild = await Deno.readTextFile(join(at.evidence, "env-child.env")).catch(() => "");
  look(proxyChild, "the environment of a `run` (proxy) child", never);
  look(envChild, "the environment of a `run --env` child", (name) => name !== "master key");
  if (!envChild.includes(scenario.canaries["openai API key"]!)) {
    scenario.problems.push("the `run --env` child did not get the API key it asked for");
  }
  if (!proxyChild.includes("authsome-proxy-managed")) {
    scenario.problems.push("the `run` child did not get the placeholder for the API key");
  }
  return hits;
}

async function* walk(dir: string): AsyncGenerator<[string, string]> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) {
      yield [path, new TextDecoder("latin1").decode(await Deno.readFile(path))];
    }
  }
}

/** Called while the command runs, with a view of its stderr so far. */
type Watcher = (stderr: () => string) => Promise<void>;

async function waitFor(stderr: () => string, pattern: RegExp): Promise<RegExpMatchArray> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const match = pattern.exec(stderr());
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Runs `./authsome ARGV`, sampling `/proc` every 10 ms for it and its descendants: their
 * argv and environment.
 */
async function watchedRun(
  argv: string[],
  env: Record<string, string>,
  stdin: string | undefined,
  during: Watcher | undefined,
): Promise<Omit<Step, "argv" | "reveals" | "realEnv" | "given">> {
  const child = new Deno.Command(LAUNCHER, {
    args: argv,
    clearEnv: true,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const samples = new Map<string, ProcSample>();
  let running = true;
  const sampler = (async () => {
    while (running) {
      const own = readProc(child.pid, true);
      for (const pid of descendants(child.pid)) {
        // A child between fork and exec is still authsome's own image (same argv, same
        // environment); only what it runs after exec is a child of its own.
        const sample = pid === child.pid
          ? own
          : readProc(pid, own !== undefined && readCmdline(pid) === own.cmdline);
        if (sample) samples.set(`${pid}\0${sample.cmdline}\0${sample.environ}`, sample);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  let stderrText = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderrText += chunk;
    }
  })();
  const stdoutText = new Response(child.stdout).text();
  const watcher = during?.(() => stderrText).catch((error) => {
    stderrText += `\n(stress watcher: ${error instanceof Error ? error.message : error})`;
    child.kill();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const { code } = await child.status;
  clearTimeout(timer);
  running = false;
  await Promise.all([sampler, stderrDone, watcher]);
  return { code, stdout: await stdoutText, stderr: stderrText, samples: [...samples.values()] };
}

/** `root` and every process below it, from the parent pids in /proc/PID/stat. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(Number(entry.name), ppid);
    } catch { /* gone */ }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  }
  return out;
}

function readCmdline(pid: number): string | undefined {
  try {
    return new TextDecoder("latin1").decode(Deno.readFileSync(`/proc/${pid}/cmdline`))
      .replaceAll("\0", "\n");
  } catch {
    return undefined;
  }
}

function readProc(pid: number, authsome: boolean): ProcSample | undefined {
  try {
    const read = (file: string) =>
      new TextDecoder("latin1").decode(Deno.readFileSync(`/proc/${pid}/${file}`)).replaceAll(
        "\0",
        "\n",
      );
    return { pid, cmdline: read("cmdline"), environ: read("environ"), authsome };
  } catch {
    return undefined;
  }
}
