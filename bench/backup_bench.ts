/**
 * Backup and restore: `authsome backup` and `authsome restore` (whole CLI processes) of homes with
 * 10 and N (default 10,000) API-key connections, with the master key and with a passphrase
 * (PBKDF2, 600,000 iterations: a fixed cost of its own), medians of a few rounds.
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/backup_bench.ts [N] [rounds]
 *
 * @module
 */
import { join } from "node:path";
import { createAuthService } from "../mod.ts";

const root = new URL("..", import.meta.url).pathname;
const launcher = join(root, "authsome");
const n = Number(Deno.args[0] ?? 10_000);
const rounds = Number(Deno.args[1] ?? 5);
const PROVIDERS = ["ahrefs", "apollo", "ashby", "beehiiv", "brevo"];
const dir = await Deno.makeTempDir({ prefix: "authsome-backup-bench-" });
const PASSPHRASE = "bench backup passphrase";

async function fill(home: string, count: number): Promise<void> {
  const auth = await createAuthService({ home, env: {} });
  for (let i = 0; i < count; i++) {
    const key = `sk-bench-${String(i).padStart(12, "0")}-abcdefghijklmnop`;
    await auth.login(PROVIDERS[i % PROVIDERS.length]!, {
      connection: `c${i}`,
      readFields: () => Promise.resolve({ api_key: key }),
    });
  }
  await auth.close();
}

async function cli(home: string, args: string[], env: Record<string, string> = {}) {
  const start = performance.now();
  const r = await new Deno.Command(launcher, {
    args,
    env: {
      AUTHSOME_HOME: home,
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...env,
    },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  return performance.now() - start;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: string[] = [];
for (const count of [10, n]) {
  const home = join(dir, `home-${count}`);
  await fill(home, count);
  // A restore target needs the same master key for a master-key backup: copy the key file.
  const times: Record<string, number[]> = {
    backup: [],
    restore: [],
    "backup --passphrase": [],
    "restore --passphrase": [],
  };
  for (let r = 0; r < rounds; r++) {
    const file = join(dir, `b-${count}-${r}.backup`);
    times.backup!.push(await cli(home, ["backup", file]));
    const target = join(dir, `t-${count}-${r}`);
    await Deno.mkdir(target, { mode: 0o700 });
    await Deno.copyFile(join(home, "master.key"), join(target, "master.key"));
    times.restore!.push(await cli(target, ["restore", file]));
    const pfile = join(dir, `p-${count}-${r}.backup`);
    const env = { AUTHSOME_BACKUP_PASSPHRASE: PASSPHRASE };
    times["backup --passphrase"]!.push(await cli(home, ["backup", pfile, "--passphrase"], env));
    times["restore --passphrase"]!.push(
      await cli(join(dir, `q-${count}-${r}`), ["restore", pfile, "--passphrase"], env),
    );
  }
  for (const [what, xs] of Object.entries(times)) {
    rows.push(`| ${what} | ${count} | ${median(xs).toFixed(0)} |`);
  }
}
console.log("| command | connections | median ms |\n| --- | ---: | ---: |\n" + rows.join("\n"));
await Deno.remove(dir, { recursive: true });
