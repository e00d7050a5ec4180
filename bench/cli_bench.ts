/**
 * CLI latency: median wall time of whole processes, as a user meets them, and the ratio to a bare
 * `deno run` of a one-line script measured in the same run (the floor no Deno CLI can beat).
 * The cases run round-robin, so a slow moment of the machine hits every case alike. The last
 * row runs `cli.ts` from source (what the launcher does when a source is newer than the bundle).
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/cli_bench.ts [rounds]
 *
 * @module
 */
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();
const rounds = Number(Deno.args[0] ?? 15);
const dir = await Deno.makeTempDir({ prefix: "authsome-bench-" });
const home = join(dir, "home");
const empty = join(dir, "empty.ts");
await Deno.writeTextFile(empty, "console.log(1);\n");
const env = { AUTHSOME_HOME: home, NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };

async function run(cmd: string, args: string[], extraEnv: Record<string, string> = {}) {
  const start = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    env: { ...env, ...extraEnv },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - start;
  if (out.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return ms;
}

const launcher = join(root, "authsome");
// A vault with three connections, so reads decrypt real records.
for (const c of ["default", "work", "personal"]) {
  await run(launcher, ["login", "openai", "--connection", c], {
    OPENAI_API_KEY: `sk-bench-${c}-000000000000000000000`,
  });
}

const cases: Array<[string, string, string[]]> = [
  ["deno run empty.ts (floor)", deno, ["run", "--quiet", empty]],
  ["authsome --version", launcher, ["--version"]],
  ["authsome get openai", launcher, ["get", "openai"]],
  ["authsome export openai --connection work", launcher, [
    "export",
    "openai",
    "--connection",
    "work",
  ]],
  ["authsome list (52 providers)", launcher, ["list"]],
  ["authsome get openai, from source (no bundle)", deno, [
    "run",
    "--quiet",
    "--no-prompt",
    "--config",
    join(root, "deno.json"),
    "-A",
    join(root, "cli.ts"),
    "get",
    "openai",
  ]],
];

for (const [, cmd, args] of cases) await run(cmd, args); // warm the module and code caches
const times: number[][] = cases.map(() => []);
for (let i = 0; i < rounds; i++) {
  for (const [k, [, cmd, args]] of cases.entries()) times[k]!.push(await run(cmd, args));
}
const medians = times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
const floor = medians[0]!;
console.log(`| command | median ms (${rounds} runs) | ratio to bare deno run |`);
console.log("| --- | ---: | ---: |");
cases.forEach(([name], i) => {
  console.log(`| ${name} | ${medians[i]!.toFixed(1)} | ${(medians[i]! / floor).toFixed(2)}× |`);
});
await Deno.remove(dir, { recursive: true });
