/**
 * End-to-end tests: many CLI processes writing the same vault at once lose nothing.
 */
import assert from "node:assert/strict";
import { readTree, runCli, tempHome } from "./helpers.ts";
import { storedRows, storedVaults } from "./support/store_file.ts";

const N = 20;

/** A distinct, valid OpenAI-looking key for process `i`. */
function keyFor(i: number): string {
  return `sk-parallel_${String(i).padStart(2, "0")}_${crypto.randomUUID().replaceAll("-", "")}`;
}

interface ListDoc {
  vault: string;
  providers: Array<{
    name: string;
    state: string;
    connections: Array<{ name: string; status: string; default: boolean }>;
  }>;
}

Deno.test("20 logins started at once into a fresh home all succeed and none is lost", async () => {
  await using h = await tempHome();
  const keys = Array.from({ length: N }, (_, i) => keyFor(i));
  const names = keys.map((_, i) => `conn-${String(i).padStart(2, "0")}`);

  const results = await Promise.all(
    names.map((name, i) =>
      runCli(["login", "openai", "--connection", name], {
        home: h.home,
        env: { OPENAI_API_KEY: keys[i]! },
      })
    ),
  );
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, `login ${names[i]} exited ${r.code}: ${r.stderr}`);
    assert.ok(!r.stderr.includes("    at "), r.stderr);
  }

  // One master key, created once: every process sealed with the key now on disk, so all opens.
  const tree = await readTree(h.home);
  const files = [...tree.keys()].map((p) => p.slice(h.home.length + 1)).sort();
  assert.ok(files.includes("master.key"), files.join(", "));
  assert.ok(files.includes("authsome.db"), files.join(", "));
  assert.deepEqual(
    files.filter((f) => f.includes(".tmp")),
    [],
    "no temp files are left behind",
  );
  assert.deepEqual(storedVaults(h.home).map((v) => [v.name, v.key_source]), [["default", "file"]]);
  assert.equal(
    storedRows(h.home, "default").filter((r) => r.key.startsWith("connection/openai/")).length,
    N,
  );

  const list = await runCli(["list", "--json"], { home: h.home });
  assert.equal(list.code, 0, list.stderr);
  const openai = (JSON.parse(list.stdout) as ListDoc).providers.find((p) => p.name === "openai")!;
  assert.equal(openai.state, "connected");
  assert.deepEqual(openai.connections.map((c) => c.name).sort(), names);
  for (const c of openai.connections) assert.equal(c.status, "connected", c.name);
  const defaults = openai.connections.filter((c) => c.default);
  assert.equal(defaults.length, 1, `exactly one default: ${JSON.stringify(defaults)}`);

  const secrets = await Promise.all(
    names.map((name) =>
      runCli(["get", "openai", "--connection", name, "--field", "api_key", "--show-secret"], {
        home: h.home,
      })
    ),
  );
  for (const [i, r] of secrets.entries()) {
    assert.equal(r.code, 0, `get ${names[i]}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), keys[i], `${names[i]} holds its own key`);
  }

  // The default connection is one of them and `get` without --connection resolves to it.
  const def = await runCli(["get", "openai", "--json"], { home: h.home });
  assert.equal(def.code, 0, def.stderr);
  const info = JSON.parse(def.stdout) as { connection: string; default: boolean };
  assert.equal(info.connection, defaults[0]!.name);
  assert.equal(info.default, true);
});
