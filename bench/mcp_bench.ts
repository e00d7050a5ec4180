/**
 * `authsome mcp` figures (issue 15, docs/BENCHMARKS.md):
 *
 * (a) start → ready: a fresh `./authsome mcp` process (the launcher users run) spawned by the
 *     SDK's stdio client, until its `initialize` answer, and until its first `list_connections`
 *     answer; medians and p95 over ROUNDS starts, against `deno run` of an empty file (the floor
 *     of any Deno process) measured the same way, interleaved.
 * (b) `http_request` overhead: REQUESTS sequential GETs through one running `authsome mcp`
 *     (tool call → credential injected → upstream → the answer back over stdio) against direct
 *     `fetch` GETs of the same upstream with the key set by hand, interleaved one by one in the
 *     same run; medians, p95 and the difference of the medians.
 *
 * The upstream is `bench/proxy_upstream.ts` in its own process (HTTPS on 127.0.0.1; 401 unless it
 * got the real key, so every answer checks the injection). The bench re-runs itself in a private
 * mount namespace whose /etc/hosts maps api.acme.test to 127.0.0.1 (needs `unshare`).
 *
 * Run: `./scripts/deno run -A bench/mcp_bench.ts [ROUNDS=15] [REQUESTS=300]`
 *
 * @module
 */
import { join } from "node:path";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { runCli } from "../tests/helpers.ts";
import { reenterWithHost } from "./namespace.ts";

const HOST = "api.acme.test";
const KEY = "acme-bench-secret-0123456789";
const rounds = Number(Deno.args[0] ?? 15);
const requests = Number(Deno.args[1] ?? 300);
const deno = Deno.execPath();
const here = new URL(".", import.meta.url).pathname;
const launcher = new URL("../authsome", import.meta.url).pathname;

// Re-run inside a mount namespace of our own, with the host in its /etc/hosts.
await reenterWithHost(import.meta.url, HOST);

const dir = await Deno.makeTempDir({ prefix: "authsome-mcp-bench-" });
const file = (name: string) => join(dir, name);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.95))]!;
const ms = (x: number) => x.toFixed(1);

// The upstream, in its own process.
const ca = await createCa({ commonName: "mcp bench upstream CA" });
const leaf = await createLeafIssuer(ca).issue(HOST);
await Deno.writeTextFile(file("ca.pem"), ca.certPem);
await Deno.writeTextFile(file("leaf.pem"), leaf.certPem);
await Deno.writeTextFile(file("leaf.key"), leaf.keyPem);
const upstream = new Deno.Command(deno, {
  args: [
    "run",
    "-A",
    "--quiet",
    join(here, "proxy_upstream.ts"),
    file("leaf.pem"),
    file("leaf.key"),
  ],
  env: { BENCH_KEY: KEY },
  stdin: "piped",
  stdout: "piped",
}).spawn();
const reader = upstream.stdout.getReader();
let first = "";
while (!first.includes("\n")) first += new TextDecoder().decode((await reader.read()).value);
reader.releaseLock();
const { port } = JSON.parse(first) as { port: number };
const url = `https://${HOST}:${port}/v1/models`;

// A home with acme logged in.
const home = file("home");
await Deno.writeTextFile(
  file("acme.json"),
  JSON.stringify({
    name: "acme",
    display_name: "Acme",
    auth_type: "api_key",
    api_url: HOST,
    api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
  }),
);
for (
  const [args, env] of [
    [["provider", "register", file("acme.json")], {}],
    [["login", "acme"], { ACME_API_KEY: KEY }],
  ] as const
) {
  const out = await runCli([...args], { home, env });
  if (out.code !== 0) throw new Error(`authsome ${args.join(" ")}: ${out.stderr}`);
}
// The launcher's pre-built CLI, as users get it after their first run.
await new Deno.Command(deno, {
  args: ["run", "-A", new URL("../scripts/build_bundle.ts", import.meta.url).pathname],
}).output();

const env = {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: Deno.env.get("HOME") ?? "/root",
  AUTHSOME_HOME: home,
  NODE_EXTRA_CA_CERTS: file("ca.pem"),
};

/** One `authsome mcp` start: ms to the initialize answer and to the first list_connections. */
async function start(): Promise<{ ready: number; listed: number; client: Client }> {
  const t0 = performance.now();
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(
    new StdioClientTransport({ command: launcher, args: ["mcp"], env, stderr: "ignore" }),
  );
  const ready = performance.now() - t0;
  const result = await client.callTool({ name: "list_connections", arguments: {} });
  if (result.isError) throw new Error(JSON.stringify(result));
  return { ready, listed: performance.now() - t0, client };
}

/** `deno run` of an empty file, to the end of the process (the floor of any Deno CLI). */
async function floor(): Promise<number> {
  await Deno.writeTextFile(file("empty.ts"), "");
  const t0 = performance.now();
  await new Deno.Command(deno, { args: ["run", "--quiet", file("empty.ts")] }).output();
  return performance.now() - t0;
}

await (await start()).client.close(); // warm the caches once
const ready: number[] = [];
const listed: number[] = [];
const empty: number[] = [];
for (let i = 0; i < rounds; i++) {
  const s = await start();
  ready.push(s.ready);
  listed.push(s.listed);
  await s.client.close();
  empty.push(await floor());
}

// (b) one running server, interleaved with direct fetches.
const { client } = await start();
const http = Deno.createHttpClient({ caCerts: [ca.certPem] });
const viaMcp: number[] = [];
const direct: number[] = [];
for (let i = 0; i < requests + 20; i++) {
  let t0 = performance.now();
  const res = await fetch(url, { headers: { "x-acme-key": KEY }, client: http });
  if (res.status !== 200) throw new Error(`direct: ${res.status}`);
  await res.text();
  const d = performance.now() - t0;
  t0 = performance.now();
  const result = await client.callTool({
    name: "http_request",
    arguments: { provider: "acme", method: "GET", url },
  });
  const m = performance.now() - t0;
  const status = JSON.parse((result.content as Array<{ text: string }>)[0]!.text).status;
  if (status !== 200) throw new Error(`mcp: ${JSON.stringify(result)}`);
  if (i >= 20) { // the first 20 of each warm up
    direct.push(d);
    viaMcp.push(m);
  }
}
await client.close();
http.close();
await upstream.stdin.close();
await upstream.stdout.cancel();
await upstream.status;
await Deno.remove(dir, { recursive: true });

console.log(`\n(a) start → ready, ${rounds} starts (medians, p95), ms`);
console.log("| process | median | p95 |\n| --- | ---: | ---: |");
console.log(
  `| \`deno run\` of an empty file (to its exit) | ${ms(median(empty))} | ${ms(p95(empty))} |`,
);
console.log(`| \`authsome mcp\`: initialize answered | ${ms(median(ready))} | ${ms(p95(ready))} |`);
console.log(
  `| \`authsome mcp\`: first list_connections answered | ${ms(median(listed))} | ${
    ms(p95(listed))
  } |`,
);
console.log(`\n(b) ${requests} GETs each, interleaved, ms`);
console.log("| path | median | p95 |\n| --- | ---: | ---: |");
console.log(`| direct fetch (key set by hand) | ${ms(median(direct))} | ${ms(p95(direct))} |`);
console.log(`| http_request through authsome mcp | ${ms(median(viaMcp))} | ${ms(p95(viaMcp))} |`);
console.log(`| overhead (difference of the medians) | ${ms(median(viaMcp) - median(direct))} | |`);
