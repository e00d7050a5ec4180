/**
 * Proxy cost: 100 HTTPS requests by one curl process (one keep-alive connection) to a local
 * server, direct vs through the authsome proxy (decrypted and injected) vs tunnelled; and the start
 * cost of `authsome run -- true` against a bare `deno run` of an empty file.
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/proxy_bench.ts [rounds]
 *
 * @module
 */
import { join } from "node:path";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { startProxy } from "../proxy/server.ts";
import { runCli } from "../tests/helpers.ts";

const rounds = Number(Deno.args[0] ?? 7);
const dir = await Deno.makeTempDir({ prefix: "authsome-bench-" });
const upstreamCa = await createCa({ commonName: "bench upstream CA" });
const issuer = createLeafIssuer(upstreamCa);
const leaf = await issuer.issue("api.acme.test");
const upstream = Deno.serve(
  { hostname: "127.0.0.1", port: 0, cert: leaf.certPem, key: leaf.keyPem, onListen() {} },
  () => new Response("ok"),
);
const port = upstream.addr.port;
// A second server for a host the proxy does not decrypt: its own certificate, end to end.
const tunnelLeaf = await issuer.issue("tunnel.acme.test");
const tunnelUpstream = Deno.serve(
  {
    hostname: "127.0.0.1",
    port: 0,
    cert: tunnelLeaf.certPem,
    key: tunnelLeaf.keyPem,
    onListen() {},
  },
  () => new Response("ok"),
);
const proxyCa = await createCa({ commonName: "bench proxy CA" });
const secret = "bench-secret";
const proxy = await startProxy({
  secret,
  ca: proxyCa,
  shouldIntercept: (host) => host === "api.acme.test",
  headersFor: () => Promise.resolve({ authorization: "Bearer bench-token" }),
  resolveUpstream: (_host, p) => ({ host: "127.0.0.1", port: p }),
  upstreamCa: [upstreamCa.certPem],
});
const both = join(dir, "both.pem");
await Deno.writeTextFile(both, upstreamCa.certPem + "\n" + proxyCa.certPem);

async function curl(args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command("curl", { args, stdout: "null", stderr: "piped" }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return performance.now() - start;
}
const urls = (host: string, p = port) =>
  Array.from({ length: 100 }, () => `https://${host}:${p}/v1/x`).flatMap((
    u,
  ) => ["-o", "/dev/null", u]);
const cases: Array<[string, string[]]> = [
  ["direct (no proxy)", [
    "-s",
    "--cacert",
    both,
    "--resolve",
    `api.acme.test:${port}:127.0.0.1`,
    ...urls("api.acme.test"),
  ]],
  ["through the proxy, decrypted + injected", [
    "-s",
    "--cacert",
    both,
    "--proxy",
    `http://authsome:${secret}@127.0.0.1:${proxy.port}`,
    ...urls("api.acme.test"),
  ]],
  ["through the proxy, tunnelled", [
    "-s",
    "--cacert",
    both,
    "--proxy",
    `http://authsome:${secret}@127.0.0.1:${proxy.port}`,
    ...urls("tunnel.acme.test", tunnelUpstream.addr.port),
  ]],
];
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: number[] = [];
for (const [, args] of cases) {
  await curl(args); // warm up (leaf certificate, connections)
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) times.push(await curl(args));
  results.push(median(times));
}

// Start cost of `authsome run` (CA already in the vault after the first run).
const home = join(dir, "home");
await runCli(["login", "openai"], {
  home,
  env: { OPENAI_API_KEY: "sk-bench-000000000000000000000000" },
});
const empty = join(dir, "empty.ts");
await Deno.writeTextFile(empty, "");
const time = async (cmd: string, args: string[]) => {
  const start = performance.now();
  await new Deno.Command(cmd, { args, env: { AUTHSOME_HOME: home }, stdout: "null" }).output();
  return performance.now() - start;
};
const launcher = new URL("../authsome", import.meta.url).pathname;
await time(launcher, ["run", "--", "true"]);
const floor: number[] = [];
const run: number[] = [];
for (let i = 0; i < rounds * 3; i++) {
  floor.push(await time(Deno.execPath(), ["run", "--quiet", empty]));
  run.push(await time(launcher, ["run", "--", "true"]));
}

console.log(`| case | median ms | ratio |`);
console.log(`| --- | ---: | ---: |`);
cases.forEach(([name], i) => {
  console.log(
    `| 100 requests, ${name} | ${results[i]!.toFixed(1)} | ${
      (results[i]! / results[0]!).toFixed(2)
    }× |`,
  );
});
const f = median(floor);
const r = median(run);
console.log(`| deno run empty.ts (floor) | ${f.toFixed(1)} | 1.00× |`);
console.log(`| authsome run -- true | ${r.toFixed(1)} | ${(r / f).toFixed(2)}× the floor |`);
await proxy.close();
await upstream.shutdown();
await tunnelUpstream.shutdown();
await Deno.remove(dir, { recursive: true });
