/**
 * Proxy speed, side by side in one run: curl against a local HTTPS upstream (its own process)
 * directly, through mitmdump (injecting the same header with a three-line addon), through the
 * proxy of a real `authsome run` (real routing, credential from the vault, upstream trusted through
 * NODE_EXTRA_CA_CERTS), and through `bench/proxy_minimal.ts` (the least a proxy of this design
 * does in Deno, as a yardstick). Every client trusts one CA file holding all three CAs.
 *
 * - (a) latency: one curl process, 400 sequential requests over one keep-alive connection; the
 *   median and p95 of curl's per-request `time_total` (the first request, which connects, is
 *   left out), and what each proxy adds to the direct median;
 * - (b) throughput: 3,000 requests over 8 keep-alive connections (8 curl processes, 375 each), at
 *   once; req/s = 3,000 / wall time from the first spawn to the last exit;
 * - (c) SSE: a fresh curl process, time from its spawn to the first event on its stdout (five
 *   per round);
 * - (d) `authsome run -- true` wall time against a bare `deno run` of an empty file.
 *
 * (a)–(c) are run `rounds` times, the cases interleaved, and the medians reported. Every response
 * is checked: the upstream answers 401 unless it got the real key.
 *
 * Needs `curl`, `unshare` (the run re-executes itself in a private mount namespace whose
 * /etc/hosts maps api.acme.test to 127.0.0.1, as tests/run_test.ts does) and `mitmdump`
 * (`apt-get install mitmproxy`; without it that column is left out). Everything listens on
 * 127.0.0.1.
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/proxy_bench.ts [rounds]
 *
 * With `AUTHSOME_BENCH_CPU_PROF=DIR` the `authsome run` process (started from source) writes a
 * V8 CPU profile into DIR when it ends (open it in Chrome's DevTools, Performance panel).
 *
 * @module
 */
import { join } from "node:path";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { runCli } from "../tests/helpers.ts";
import { reenterWithHost } from "./namespace.ts";

const HOST = "api.acme.test";
const KEY = "acme-bench-key-0000000000000000";
const PLACEHOLDER = "authsome-proxy-managed";
const SEQUENTIAL = 400;
const CONNECTIONS = 8;
const PER_CONNECTION = 375;
const SSE_PER_ROUND = 5;
const rounds = Number(Deno.args[0] ?? 3);
const deno = Deno.execPath();
const here = new URL(".", import.meta.url).pathname;
const launcher = new URL("../authsome", import.meta.url).pathname;

// Re-run inside a mount namespace of our own, with the host in its /etc/hosts.
await reenterWithHost(import.meta.url, HOST, ["AUTHSOME_BENCH_ONLY", "AUTHSOME_BENCH_CPU_PROF"]);

const dir = await Deno.makeTempDir({ prefix: "authsome-bench-" });
const file = (name: string) => join(dir, name);
const decoder = new TextDecoder();
const stoppers: Array<() => Promise<void>> = [];

/** Starts a helper process that prints `{"port":N}` first and stops when its stdin closes. */
async function helper(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ port: number; pid: number }> {
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "--quiet", ...args],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} ended before it listened`);
    text += decoder.decode(value);
  }
  reader.releaseLock();
  stoppers.push(async () => {
    await child.stdin.close();
    await child.stdout.cancel();
    await child.status;
  });
  const { port } = JSON.parse(text.split("\n", 1)[0]!) as { port: number };
  return { port, pid: child.pid };
}

// The upstream: its own CA and a leaf for api.acme.test.
const upstreamCa = await createCa({ commonName: "bench upstream CA" });
const upstreamLeaf = await createLeafIssuer(upstreamCa).issue(HOST);
await Deno.writeTextFile(file("upstream-ca.pem"), upstreamCa.certPem);
await Deno.writeTextFile(file("upstream.pem"), upstreamLeaf.certPem);
await Deno.writeTextFile(file("upstream.key"), upstreamLeaf.keyPem);
const { port: upstreamPort } = await helper(
  [join(here, "proxy_upstream.ts"), file("upstream.pem"), file("upstream.key")],
  { BENCH_KEY: KEY },
);
const url = (path: string) => `https://${HOST}:${upstreamPort}${path}`;

// authsome: a real `authsome run` whose child only reports its environment and waits.
const home = file("home");
const definition = {
  name: "acme",
  display_name: "Acme",
  auth_type: "api_key",
  api_url: HOST,
  api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
};
await Deno.writeTextFile(file("acme.json"), JSON.stringify(definition));
for (
  const [args, env] of [
    [["provider", "register", file("acme.json")], {}],
    [["login", "acme"], { ACME_API_KEY: KEY }],
  ] as const
) {
  const out = await runCli([...args], { home, env });
  if (out.code !== 0) throw new Error(`authsome ${args.join(" ")}: ${out.stderr}`);
}
const runEnv = { AUTHSOME_HOME: home, NODE_EXTRA_CA_CERTS: file("upstream-ca.pem") };
const reported = file("run-env.json");
// With AUTHSOME_BENCH_CPU_PROF=DIR, the run's process writes a V8 CPU profile there (from source).
const profileDir = Deno.env.get("AUTHSOME_BENCH_CPU_PROF");
const cli = new URL("../cli.ts", import.meta.url).pathname;
const config = new URL("../deno.json", import.meta.url).pathname;
const run = new Deno.Command(profileDir ? deno : launcher, {
  args: [
    ...(profileDir
      ? [
        "run",
        "-A",
        "--quiet",
        `--cpu-prof`,
        `--cpu-prof-dir=${profileDir}`,
        "--config",
        config,
        cli,
      ]
      : []),
    "run",
    "--",
    deno,
    "eval",
    `Deno.writeTextFileSync(${JSON.stringify(reported)}, JSON.stringify(Deno.env.toObject()));` +
    "setTimeout(() => {}, 600_000);",
  ],
  env: runEnv,
  stdin: "null",
  stdout: "null",
  stderr: "null",
}).spawn();
stoppers.push(async () => {
  run.kill("SIGTERM");
  await run.status;
});
let childEnv: Record<string, string> | undefined;
for (let i = 0; i < 200 && childEnv === undefined; i++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  childEnv = await Deno.readTextFile(reported).then(JSON.parse, () => undefined);
}
if (childEnv?.HTTPS_PROXY === undefined) throw new Error("authsome run did not start its child");
const authsomeCa = await Deno.readTextFile(childEnv.NODE_EXTRA_CA_CERTS!);

// The yardstick.
await Deno.writeTextFile(file("minimal-ca.json"), JSON.stringify(await createCa()));
const minimal = await helper([
  join(here, "proxy_minimal.ts"),
  file("minimal-ca.json"),
  file("upstream-ca.pem"),
  HOST,
  "x-acme-key",
  KEY,
]);
const minimalCa = (JSON.parse(await Deno.readTextFile(file("minimal-ca.json"))) as {
  certPem: string;
}).certPem;

// mitmdump, when installed: its own CA in a confdir of this run, the header set by an addon.
let mitmdump: { port: number; ca: string; pid: number } | undefined;
try {
  await Deno.writeTextFile(
    file("addon.py"),
    `def request(flow):\n    if flow.request.pretty_host == "${HOST}":\n` +
      `        flow.request.headers["x-acme-key"] = "${KEY}"\n`,
  );
  const child = new Deno.Command("mitmdump", {
    args: [
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      "0",
      "--set",
      `confdir=${file("mitmproxy")}`,
      "--set",
      `ssl_verify_upstream_trusted_ca=${file("upstream-ca.pem")}`,
      "--set",
      "flow_detail=0",
      "-s",
      file("addon.py"),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  stoppers.push(async () => {
    child.kill("SIGTERM");
    await child.status;
  });
  // It logs one line per connection (never per request); the rest of its output is drained.
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await lines.read();
    if (done) throw new Error("mitmdump ended before it listened");
    text += value;
    const match = /listening at [^\s]*:(\d+)/.exec(text);
    if (match) port = Number(match[1]);
  }
  void (async () => {
    while (!(await lines.read()).done) { /* drained */ }
  })();
  mitmdump = {
    port,
    ca: await Deno.readTextFile(file("mitmproxy/mitmproxy-ca-cert.pem")),
    pid: child.pid,
  };
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
  console.error("mitmdump is not installed (apt-get install mitmproxy): its column is left out");
}

await Deno.writeTextFile(
  file("clients-ca.pem"),
  [upstreamCa.certPem, authsomeCa, minimalCa, mitmdump?.ca ?? ""].join("\n"),
);

interface Case {
  name: string;
  /** curl arguments that route a request through this case's proxy (and the key header). */
  args: string[];
  /** The proxy's process, whose CPU time is read around the throughput run. */
  pid?: number;
}
const common = ["-s", "--http1.1", "--cacert", file("clients-ca.pem")];
// AUTHSOME_BENCH_ONLY="authsome run,minimal pipe-through" keeps those cases (and direct).
const only = (Deno.env.get("AUTHSOME_BENCH_ONLY") || undefined)?.split(",").map((n) => n.trim());
const cases: Case[] = ([
  { name: "direct", args: ["-H", `x-acme-key: ${KEY}`] },
  ...(mitmdump
    ? [{
      name: "mitmdump",
      args: ["--proxy", `http://127.0.0.1:${mitmdump.port}`, "-H", `x-acme-key: ${PLACEHOLDER}`],
      pid: mitmdump.pid,
    }]
    : []),
  {
    name: "authsome run",
    args: ["--proxy", childEnv.HTTPS_PROXY, "-H", `x-acme-key: ${PLACEHOLDER}`],
    // The launcher execs Deno, so the run's process is the one spawned.
    pid: run.pid,
  },
  {
    name: "minimal pipe-through",
    args: ["--proxy", `http://127.0.0.1:${minimal.port}`, "-H", `x-acme-key: ${PLACEHOLDER}`],
    pid: minimal.pid,
  },
] as Case[]).filter((c) => !only || c.name === "direct" || only.includes(c.name));

/** One curl process making `count` requests in a row on one connection: per request, ms. */
async function sequence(c: Case, count: number): Promise<number[]> {
  const urls = Array.from({ length: count }, () => ["-o", "/dev/null", url("/v1/x")]).flat();
  const out = await new Deno.Command("curl", {
    args: [...common, ...c.args, "-w", "%{http_code} %{time_total}\n", ...urls],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = decoder.decode(out.stdout).trim().split("\n");
  if (out.code !== 0 || lines.length !== count || lines.some((l) => !l.startsWith("200 "))) {
    throw new Error(`${c.name}: curl failed: ${decoder.decode(out.stderr)} ${lines.slice(0, 3)}`);
  }
  return lines.map((l) => Number(l.split(" ")[1]) * 1000);
}

/**
 * 8 curl processes at once, 375 requests each: requests per second, and the proxy's CPU time
 * per request in µs (user + system, from /proc; it depends far less on the machine's load).
 */
async function throughput(c: Case): Promise<{ rps: number; cpu: number }> {
  const cpuBefore = cpuMs(c.pid);
  const start = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS }, () => sequence(c, PER_CONNECTION)));
  const rps = (CONNECTIONS * PER_CONNECTION) / ((performance.now() - start) / 1000);
  return { rps, cpu: 1000 * (cpuMs(c.pid) - cpuBefore) / (CONNECTIONS * PER_CONNECTION) };
}

/** A process's CPU time so far (user + system), ms; NaN without a pid. */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  // Fields 14 and 15 after the parenthesised command name, in clock ticks (100 per second).
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** A fresh curl process reading the event stream: ms from its spawn to the first event. */
async function firstEvent(c: Case): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command("curl", {
    args: [...common, "-N", ...c.args, url("/sse")],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let text = "";
  let at: number | undefined;
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk);
    if (text.includes("data: event 0")) {
      at = performance.now() - start;
      break;
    }
  }
  try {
    child.kill("SIGTERM");
  } catch {
    // it had already ended (mitmdump sends the whole stream at once)
  }
  await child.status;
  if (at === undefined) throw new Error(`${c.name}: no event: ${text.slice(0, 100)}`);
  return at;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

const results = new Map(
  cases.map((c) => [c.name, { med: [0], p95: [0], rps: [0], cpu: [0], sse: [0] }]),
);
for (const r of results.values()) for (const xs of Object.values(r)) xs.length = 0;
for (const c of cases) await sequence(c, 50); // warm-up: connections, JIT, the proxy's pools
for (let round = 0; round < rounds; round++) {
  for (const c of cases) {
    const r = results.get(c.name)!;
    const times = (await sequence(c, SEQUENTIAL)).slice(1);
    r.med.push(median(times));
    r.p95.push(p95(times));
    const { rps, cpu } = await throughput(c);
    r.rps.push(rps);
    r.cpu.push(cpu);
    for (let i = 0; i < SSE_PER_ROUND; i++) r.sse.push(await firstEvent(c));
  }
}

// (d) the start cost of `authsome run`, against the floor of any Deno program.
await Deno.writeTextFile(file("empty.ts"), "");
const wall = async (cmd: string, args: string[]) => {
  const start = performance.now();
  const { code } = await new Deno.Command(cmd, {
    args,
    env: runEnv,
    stdout: "null",
    stderr: "null",
  })
    .output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}`);
  return performance.now() - start;
};
await wall(launcher, ["run", "--", "true"]);
const floor: number[] = [];
const runTrue: number[] = [];
for (let i = 0; i < Math.max(11, rounds * 5); i++) {
  floor.push(await wall(deno, ["run", "--quiet", file("empty.ts")]));
  runTrue.push(await wall(launcher, ["run", "--", "true"]));
}

for (const stop of stoppers.reverse()) await stop();
await Deno.remove(dir, { recursive: true });

const direct = results.get("direct")!;
const mitm = results.get("mitmdump");
const ms = (x: number) => x.toFixed(2);
console.log(`${rounds} rounds, medians; ${new Date().toISOString()}; load ${loadavg()}\n`);
console.log(
  "| case | latency median ms | p95 ms | added per request ms | req/s, 8 connections | " +
    "× mitmdump | % of direct | proxy CPU µs per request | SSE first event ms |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const c of cases) {
  const r = results.get(c.name)!;
  const rps = median(r.rps);
  console.log(
    `| ${c.name} | ${ms(median(r.med))} | ${ms(median(r.p95))} | ${
      c.name === "direct" ? "" : `+${ms(median(r.med) - median(direct.med))}`
    } | ${rps.toFixed(0)} | ${mitm ? `${(rps / median(mitm.rps)).toFixed(2)}×` : "n/a"} | ${
      (100 * rps / median(direct.rps)).toFixed(0)
    } % | ${c.pid === undefined ? "" : median(r.cpu).toFixed(0)} | ${median(r.sse).toFixed(1)} |`,
  );
}
console.log(`\n| command | median ms | ratio |\n| --- | ---: | ---: |`);
console.log(`| deno run empty.ts (floor) | ${median(floor).toFixed(1)} | 1.00× |`);
console.log(
  `| authsome run -- true | ${median(runTrue).toFixed(1)} | ${
    (median(runTrue) / median(floor)).toFixed(2)
  }× the floor |`,
);

function loadavg(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}
