/**
 * `rekey` with 10 and with N (default 10,000) connections: whole CLI processes (key file → new
 * key file), round-robin, medians; without `--records` (only the vault headers are rewritten, so
 * the time should not grow with N) and with it (every record sealed again). `get` is measured in
 * the same rounds as the floor of a CLI process that opens the store.
 *
 * Run: ./scripts/deno run -A bench/rekey_bench.ts [N] [rounds]
 *
 * @module
 */
import { join } from "node:path";
import { createAuthService } from "../mod.ts";

const root = new URL("..", import.meta.url).pathname;
const launcher = join(root, "authsome");
const n = Number(Deno.args[0] ?? 10_000);
const rounds = Number(Deno.args[1] ?? 7);
// API-key providers without a key pattern, so any test key is accepted.
const PROVIDERS = ["ahrefs", "apollo", "ashby", "beehiiv", "brevo"];
const dir = await Deno.makeTempDir({ prefix: "authsome-rekey-bench-" });

async function fill(home: string, count: number): Promise<number> {
  const auth = await createAuthService({ home, env: {} });
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const key = `sk-rekey-${String(i).padStart(12, "0")}-abcdefghijklmnop`;
    await auth.login(PROVIDERS[i % PROVIDERS.length]!, {
      connection: `c${i}`,
      readFields: () => Promise.resolve({ api_key: key }),
    });
  }
  await auth.close();
  return (performance.now() - start) / 1000;
}

async function cli(home: string, args: string[]): Promise<number> {
  const start = performance.now();
  const { code, stderr } = await new Deno.Command(launcher, {
    args,
    env: { AUTHSOME_HOME: home, NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - start;
  if (code !== 0) throw new Error(`${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const homes = { small: join(dir, "small"), large: join(dir, "large") };
await fill(homes.small, 10);
console.log(`filled ${n} connections in ${(await fill(homes.large, n)).toFixed(1)} s`);

const cases: Array<[string, string[]]> = [
  ["get ahrefs --connection c5", ["get", "ahrefs", "--connection", "c5"]],
  ["rekey", ["rekey"]],
  ["rekey --records", ["rekey", "--records"]],
];
const times = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const [name, args] of cases) {
    for (const [size, home] of Object.entries(homes)) {
      const key = `${name}|${size}`;
      times.set(key, [...times.get(key) ?? [], await cli(home, args)]);
    }
  }
}
console.log(`| command | 10 connections, ms | ${n} connections, ms | ratio |`);
console.log("| --- | ---: | ---: | ---: |");
for (const [name] of cases) {
  const small = median(times.get(`${name}|small`)!);
  const large = median(times.get(`${name}|large`)!);
  console.log(
    `| ${name} | ${small.toFixed(1)} | ${large.toFixed(1)} | ${(large / small).toFixed(2)}× |`,
  );
}
await Deno.remove(dir, { recursive: true });
