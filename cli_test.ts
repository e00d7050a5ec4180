import assert from "node:assert/strict";
import { VERSION } from "./cli.ts";

Deno.test("--version matches the package version in deno.json", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.equal(VERSION, config.version);
});
