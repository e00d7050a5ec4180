import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { apiKeyHeaders, checkApiKey } from "./api_key.ts";

const openai = {
  display_name: "OpenAI",
  api_key: {
    header_name: "Authorization",
    header_prefix: "Bearer",
    key_pattern: "^sk-[A-Za-z0-9_-]{20,}$",
    key_pattern_hint: "OpenAI API keys start with sk-",
  },
};

Deno.test("a pasted key is trimmed and must fully match the provider's pattern", () => {
  assert.equal(checkApiKey(openai, "  sk-abcdefghijklmnopqrstu\n"), "sk-abcdefghijklmnopqrstu");
  for (const bad of ["sk-short", "xsk-abcdefghijklmnopqrstu", "sk-abcdefghijklmnopqrstu!", ""]) {
    assert.throws(
      () => checkApiKey(openai, bad),
      (e: unknown) =>
        e instanceof AuthsomeError && e.exitCode === 65 &&
        (bad === "" || !e.message.includes(bad)) &&
        (bad === "" || e.hint === "OpenAI API keys start with sk-"),
    );
  }
});

Deno.test("a key with a line break inside is refused", () => {
  assert.throws(() => checkApiKey({ display_name: "X" }, "abc\ndef"), /line break/);
});

Deno.test("the auth header uses the prefix, or the raw key when there is none", () => {
  const table: Array<[string, string | null, Record<string, string>]> = [
    ["Authorization", "Bearer", { Authorization: "Bearer k" }],
    ["Authorization", "Token", { Authorization: "Token k" }],
    ["x-api-key", null, { "x-api-key": "k" }],
    ["api-key", "", { "api-key": "k" }],
  ];
  for (const [header_name, header_prefix, expected] of table) {
    assert.deepEqual(apiKeyHeaders({ header_name, header_prefix }, "k"), expected);
  }
});
