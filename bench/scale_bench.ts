/**
 * Scale: the cost of `get`, `login` and `list` with 10 and with N (default 10,000) connections
 * (N/5 per provider over five API-key providers), as whole CLI processes, round-robin, medians;
 * and N logins through the library in one process (capped at 120 s).
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/scale_bench.ts [N] [rounds]
 *
 * @module
 */
import { join } from "node:path";
import { createAuthService } from "../mod.ts";

const root = new URL("..", import.meta.url).pathname;
const launcher = join(root, "authsome");
const n = Number(Deno.args[0] ?? 10_000);
const rounds = Number(Deno.args[1] ?? 11);
// API-key providers without a key pattern, so any test key is accepted.
const PROVIDERS = ["ahrefs", "apollo", "ashby", "beehiiv", "brevo"];
const dir = await Deno.makeTempDir({ prefix: "authsome-scale-" });

/** Logs in `count` connections through the library; returns how many were done and seconds. */
async function fill(home: string, count: number, capMs: number) {
  const auth = await createAuthService({ home, env: {} });
  const start = performance.now();
  let done = 0;
  for (; done < count && performance.now() - start < capMs; done++) {
    const key = `sk-scale-${String(done).padStart(12, "0")}-abcdefghijklmnop`;
    await auth.login(PROVIDERS[done % PROVIDERS.length]!, {
      connection: `c${done}`,
      readFields: () => Promise.resolve({ api_key: key }),
    });
  }
  const seconds = (performance.now() - start) / 1000;
  await auth.close();
  return { done, seconds };
}

const small = join(dir, "small");
const large = join(dir, "large");
await fill(small, 10, 120_000);
const filled = await fill(large, n, 120_000);
console.log(
  `${filled.done} of ${n} logins through the library in one process: ${
    filled.seconds.toFixed(1)
  } s`,
);

let fresh = 0;
async function cli(home: string, args: string[], stdin?: string): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command(launcher, {
    args,
    env: { AUTHSOME_HOME: home, NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const ms = performance.now() - start;
  if (out.code !== 0) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

const cases: Array<[string, (home: string) => Promise<number>]> = [
  ["get ahrefs --connection c5", (home) => cli(home, ["get", "ahrefs", "--connection", "c5"])],
  [
    "login brevo --connection NEW --stdin",
    (home) =>
      cli(
        home,
        ["login", "brevo", "--connection", `new${fresh++}`, "--stdin"],
        "sk-scale-new-key-0123456789",
      ),
  ],
  ["list", (home) => cli(home, ["list"])],
];
for (const [, fn] of cases) await fn(small), await fn(large); // warm caches
const times = cases.map(() => ({ small: [] as number[], large: [] as number[] }));
for (let i = 0; i < rounds; i++) {
  for (const [k, [, fn]] of cases.entries()) {
    times[k]!.small.push(await fn(small));
    times[k]!.large.push(await fn(large));
  }
}
const median = (t: number[]) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
console.log(`| command | 10 connections, ms | ${filled.done} connections, ms | ratio |`);
console.log("| --- | ---: | ---: | ---: |");
for (const [k, [name]] of cases.entries()) {
  const a = median(times[k]!.small);
  const b = median(times[k]!.large);
  console.log(`| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)}× |`);
}
await Deno.remove(dir, { recursive: true });
