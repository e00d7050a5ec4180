import assert from "node:assert/strict";
import { VERSION } from "./cli.ts";

Deno.test("--version matches the package version in deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.equal(VERSION, config.version);
});

Deno.test("argv parsing: long, short, = values, flags anywhere, and -- ends options", async () => {
  const { parseArgv } = await import("./cli.ts");
  const r = parseArgv(["--vault", "w", "get", "openai", "-c", "work", "--field=status", "--json"]);
  assert.deepEqual(r.positionals, ["get", "openai"]);
  assert.deepEqual(r.values, { vault: "w", connection: "work", field: "status", json: true });
  assert.deepEqual(parseArgv(["x", "--", "--json", "-c"]).positionals, ["x", "--json", "-c"]);
});

Deno.test("argv parsing: unknown options, missing values and valued flags are usage errors", async () => {
  const { parseArgv } = await import("./cli.ts");
  for (const argv of [["--nope"], ["-z"], ["--connection"], ["--json=1"]]) {
    assert.throws(
      () => parseArgv(argv),
      (e: unknown) => (e as { exitCode?: number }).exitCode === 64,
    );
  }
});
