/**
 * OAuth refresh cost, against a real authorization server (oidc-provider on 127.0.0.1):
 * `get --field access_token --show-secret` with a fresh token, with a token due for refresh, and
 * 20 processes at once wanting a refresh (one token request expected).
 *
 * Run: node_modules/@deno/linux-x64-glibc/deno run -A bench/refresh_bench.ts [rounds]
 *
 * @module
 */
import { join } from "node:path";
import {
  acmeDefinition,
  AUTHORIZATION_URL,
  deliver,
  setStoredExpiry,
  spawnCli,
} from "../tests/oauth/cli_flow.ts";
import { startAuthServer } from "../tests/oauth/server.ts";
import { runCli } from "../tests/helpers.ts";

const rounds = Number(Deno.args[0] ?? 11);
await using server = await startAuthServer({ accessTokenTTL: 3600 });
const dir = await Deno.makeTempDir({ prefix: "authsome-bench-" });
const home = join(dir, "home");
const env = {
  ACME_CLIENT_ID: server.confidentialClient.client_id,
  ACME_CLIENT_SECRET: server.confidentialClient.client_secret!,
  BROWSER: "true",
};
const def = acmeDefinition(server);
await Deno.writeTextFile(join(dir, "acme.json"), JSON.stringify(def));
await runCli(["provider", "register", join(dir, "acme.json")], { home });
const login = spawnCli(["login", "acme", "--callback-port", "0"], { home, env });
const [, url] = await login.waitForStderr(AUTHORIZATION_URL);
await deliver((await server.approveAuthorization(url!, { login: "alice" })).callbackUrl);
if ((await login.done()).code !== 0) throw new Error("login failed");

const get = ["get", "acme", "--field", "access_token", "--show-secret"];
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await runCli(get, { home });
const plain: number[] = [];
const refreshing: number[] = [];
for (let i = 0; i < rounds; i++) {
  plain.push(await timed(() => runCli(get, { home })));
  await setStoredExpiry(home, "acme", "default", new Date(Date.now() + 60_000));
  refreshing.push(await timed(() => runCli(get, { home })));
}
await setStoredExpiry(home, "acme", "default", new Date(Date.now() + 60_000));
await server.resetStats();
const race = await timed(() =>
  Promise.all(Array.from({ length: 20 }, () => runCli(get, { home })))
);
const refreshes = (await server.stats()).token_requests.refresh_token ?? 0;

const a = median(plain);
const b = median(refreshing);
console.log(`| case | median ms | ratio |`);
console.log(`| --- | ---: | ---: |`);
console.log(`| get, token fresh (${rounds} runs) | ${a.toFixed(1)} | 1.00× |`);
console.log(
  `| get, token due: one refresh (${rounds} runs) | ${b.toFixed(1)} | ${(b / a).toFixed(2)}× |`,
);
console.log(
  `| 20 gets at once, token due (wall) | ${race.toFixed(1)} | ${
    (race / a).toFixed(2)
  }× one get; ${refreshes} token request(s) |`,
);
await Deno.remove(dir, { recursive: true });
