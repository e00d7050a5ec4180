/**
 * A home made by the previous CLI (vaults as `vaults/<name>.json`, format 1) keeps working:
 * the real CLI migrates each vault into the store the first time it is used.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCli, tempHome } from "./helpers.ts";
import { storedVaults, storePath } from "./support/store_file.ts";

const FIXTURE = new URL("./fixtures/home_v1/", import.meta.url);

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("a home made by the previous CLI is migrated on first use: keys, defaults and both vaults survive, the old files go", async () => {
  await using h = await tempHome();
  await Deno.mkdir(join(h.home, "vaults"), { recursive: true, mode: 0o700 });
  for (const file of ["master.key", "vaults/default.json", "vaults/team.json"]) {
    await Deno.copyFile(new URL(file, FIXTURE), join(h.home, file));
    await Deno.chmod(join(h.home, file), 0o600);
  }
  const cli = (args: string[]) => runCli(args, { home: h.home });

  const work = await cli(["get", "openai", "--field", "api_key", "--show-secret"]);
  assert.equal(work.code, 0, work.stderr);
  assert.equal(work.stdout.trim(), "sk-test2222222222222222222222bbbb", "work was the default");
  assert.equal(await exists(join(h.home, "vaults", "default.json")), false, "migrated and removed");
  assert.equal(await exists(join(h.home, "vaults", "team.json")), true, "only the vault in use");
  assert.equal((await Deno.stat(storePath(h.home))).mode! & 0o777, 0o600);

  const list = await cli(["list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const openai = (JSON.parse(list.stdout) as {
    providers: Array<{ name: string; connections: Array<{ name: string; default: boolean }> }>;
  }).providers.find((p) => p.name === "openai")!;
  assert.deepEqual(openai.connections.map((c) => [c.name, c.default]), [
    ["default", false],
    ["work", true],
  ]);
  const first = await cli([
    "get",
    "openai",
    "--connection",
    "default",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(first.stdout.trim(), "sk-test1111111111111111111111aaaa");

  const ci = await cli([
    "--vault",
    "team",
    "get",
    "anthropic",
    "--connection",
    "ci",
    "--field",
    "api_key",
    "--show-secret",
  ]);
  assert.equal(ci.code, 0, ci.stderr);
  assert.equal(ci.stdout.trim(), "sk-ant-test4444444444444444444dddd");
  assert.equal(await exists(join(h.home, "vaults", "team.json")), false);
  assert.deepEqual(storedVaults(h.home).map((v) => v.name), ["default", "team"]);

  // New writes land in the store, next to the migrated records.
  const login = await runCli(["login", "openai", "--connection", "third", "--stdin"], {
    home: h.home,
    stdin: "sk-test3333333333333333333333cccc",
  });
  assert.equal(login.code, 0, login.stderr);
  const who = JSON.parse((await cli(["whoami", "--json"])).stdout);
  assert.equal(who.store, "sqlite");
  assert.equal(who.store_location, storePath(h.home));
  const doctor = await cli(["doctor"]);
  assert.equal(doctor.code, 0, doctor.stdout + doctor.stderr);
});

Deno.test("a damaged v1 vault file stops with exit 10 and is left as it was", async () => {
  await using h = await tempHome();
  await Deno.mkdir(join(h.home, "vaults"), { recursive: true, mode: 0o700 });
  await Deno.copyFile(new URL("master.key", FIXTURE), join(h.home, "master.key"));
  await Deno.chmod(join(h.home, "master.key"), 0o600);
  const text = await Deno.readTextFile(new URL("vaults/default.json", FIXTURE));
  const damaged = text.slice(0, Math.floor(text.length / 2));
  await Deno.writeTextFile(join(h.home, "vaults", "default.json"), damaged, { mode: 0o600 });
  const r = await runCli(["get", "openai"], { home: h.home });
  assert.equal(r.code, 10, r.stderr);
  assert.match(r.stderr, /^error: .*not valid JSON/m);
  assert.ok(!r.stderr.includes("    at "), r.stderr);
  assert.equal(await Deno.readTextFile(join(h.home, "vaults", "default.json")), damaged);
  assert.deepEqual(storedVaults(h.home), []);
});
