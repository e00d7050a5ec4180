/**
 * The PostgreSQL store against the embedded one, on a real local server (the tests' helper:
 * initdb in a temp folder, 127.0.0.1, fsync off): `get`, `login` and `list` as whole CLI
 * processes with 10 connections in each store (ratios); `get` and `login` with 10 against N
 * (default 100,000) connections in PostgreSQL; token reads per second from 8 parallel library
 * handles in one process, in each store. Round-robin, medians.
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/postgres_bench.ts [N] [rounds]
 *
 * @module
 */
import { join } from "node:path";
import { createAuthService } from "../mod.ts";
import { openHomeStore } from "../storage/home.ts";
import { openVault } from "../storage/vault.ts";
import { importAesKey } from "../storage/crypto.ts";
import { summarizeRecord } from "../service/summary.ts";
import { startPostgres } from "../tests/support/postgres.ts";

const root = new URL("..", import.meta.url).pathname;
const launcher = join(root, "authsome");
const n = Number(Deno.args[0] ?? 100_000);
const rounds = Number(Deno.args[1] ?? 11);
const PROVIDERS = ["ahrefs", "apollo", "ashby", "beehiiv", "brevo"];
const MASTER_KEY = btoa(String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i)));
const dir = await Deno.makeTempDir({ prefix: "authsome-pgbench-" });
await using pg = await startPostgres();

/** Writes `count` API-key connections straight through the vault, 5,000 per transaction. */
async function fill(home: string, store: string | undefined, count: number) {
  const s = openHomeStore(home, { storeUrl: store });
  const key = await importAesKey(Uint8Array.from(atob(MASTER_KEY), (c) => c.charCodeAt(0)));
  const vault = openVault({
    store: s,
    name: "default",
    masterKey: () => Promise.resolve({ source: "env" as const, key }),
    summarize: summarizeRecord,
  });
  const now = new Date().toISOString();
  for (let start = 0; start < count; start += 5_000) {
    await vault.update((tx) => {
      for (let i = start; i < Math.min(count, start + 5_000); i++) {
        const provider = PROVIDERS[i % PROVIDERS.length]!;
        tx.set(`connection/${provider}/c${i}`, {
          provider,
          connection: `c${i}`,
          auth_type: "api_key",
          status: "connected",
          created_at: now,
          obtained_at: now,
          expires_at: null,
          scopes: [],
          base_url: null,
          api_url: [],
          token_type: null,
          account: null,
          secrets: { api_key: `sk-bench-${String(i).padStart(12, "0")}-abcdefghijklmnop` },
        });
        if (i < PROVIDERS.length) tx.set(`provider/${provider}`, { default_connection: `c${i}` });
      }
    });
  }
  await s.close();
}

const homes = {
  sqlite: { home: join(dir, "sqlite"), store: undefined as string | undefined },
  pgSmall: { home: join(dir, "pg-small"), store: pg.url(await pg.createDatabase()) },
  pgLarge: { home: join(dir, "pg-large"), store: pg.url(await pg.createDatabase()) },
};
await fill(homes.sqlite.home, undefined, 10);
await fill(homes.pgSmall.home, homes.pgSmall.store, 10);
let t = performance.now();
await fill(homes.pgLarge.home, homes.pgLarge.store, n);
console.log(
  `${n} connections written to PostgreSQL through the vault in ${
    ((performance.now() - t) / 1000).toFixed(1)
  } s`,
);

let fresh = 0;
async function cli(which: keyof typeof homes, args: string[], stdin?: string): Promise<number> {
  const { home, store } = homes[which];
  const start = performance.now();
  const child = new Deno.Command(launcher, {
    args,
    env: {
      AUTHSOME_HOME: home,
      AUTHSOME_MASTER_KEY: MASTER_KEY,
      ...(store === undefined ? {} : { AUTHSOME_STORE: store }),
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
    },
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

const get = (w: keyof typeof homes) => cli(w, ["get", "ahrefs", "--connection", "c5"]);
const login = (w: keyof typeof homes) =>
  cli(w, ["login", "brevo", "--connection", `new${fresh++}`, "--stdin"], "sk-bench-new-0123456789");
const list = (w: keyof typeof homes) => cli(w, ["list"]);
const cases: Array<
  [string, (w: keyof typeof homes) => Promise<number>, Array<keyof typeof homes>]
> = [
  ["get ahrefs --connection c5", get, ["sqlite", "pgSmall", "pgLarge"]],
  ["login brevo --connection NEW --stdin", login, ["sqlite", "pgSmall", "pgLarge"]],
  ["list", list, ["sqlite", "pgSmall"]],
];
for (const [, fn, where] of cases) for (const w of where) await fn(w); // warm up
const times = new Map<string, number[]>();
for (let i = 0; i < rounds; i++) {
  for (const [name, fn, where] of cases) {
    for (const w of where) {
      const k = `${name}|${w}`;
      times.set(k, [...(times.get(k) ?? []), await fn(w)]);
    }
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const m = (name: string, w: string) => median(times.get(`${name}|${w}`) ?? [NaN]);
console.log(
  `\n| command | SQLite, 10, ms | PostgreSQL, 10, ms | PG/SQLite | PostgreSQL, ${n}, ms | ${n}/10 |`,
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [name] of cases) {
  const a = m(name, "sqlite");
  const b = m(name, "pgSmall");
  const c = m(name, "pgLarge");
  console.log(
    `| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)}× | ${
      Number.isNaN(c) ? "-" : c.toFixed(1)
    } | ${Number.isNaN(c) ? "-" : `${(c / b).toFixed(2)}×`} |`,
  );
}

/** Token reads per second from 8 library handles reading in parallel for `ms`. */
async function readsPerSecond(which: keyof typeof homes, ms: number): Promise<number> {
  const { home, store } = homes[which];
  const handles = await Promise.all(
    Array.from({ length: 8 }, () =>
      createAuthService({
        home,
        env: { AUTHSOME_MASTER_KEY: MASTER_KEY, ...(store ? { AUTHSOME_STORE: store } : {}) },
      })),
  );
  await Promise.all(handles.map((h) => h.getAccessToken("ahrefs", { connection: "c5" })));
  const end = performance.now() + ms;
  let reads = 0;
  const start = performance.now();
  await Promise.all(handles.map(async (h) => {
    while (performance.now() < end) {
      await h.getAccessToken("ahrefs", { connection: "c5" });
      reads++;
    }
  }));
  const rate = reads / ((performance.now() - start) / 1000);
  await Promise.all(handles.map((h) => h.close()));
  return rate;
}
t = performance.now();
const sqliteRate = await readsPerSecond("sqlite", 3_000);
const pgRate = await readsPerSecond("pgSmall", 3_000);
console.log(
  `\ntoken reads per second, 8 library handles in one process, 3 s: SQLite ${
    sqliteRate.toFixed(0)
  }, PostgreSQL ${pgRate.toFixed(0)} (${(pgRate / sqliteRate).toFixed(2)}×)`,
);
await Deno.remove(dir, { recursive: true });
