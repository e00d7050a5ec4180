import assert from "node:assert/strict";
import { dotenvLine, formatEnv, shellLine } from "./env_format.ts";

Deno.test("dotenv lines are quoted only when the value needs it", () => {
  const table: Array<[string, string]> = [
    ["sk-abc_123", "K=sk-abc_123"],
    ["https://x.test/a?b=c", "K='https://x.test/a?b=c'"],
    ["with space", "K='with space'"],
    ["$HOME", "K='$HOME'"],
    ["", "K=''"],
    ["it's", `K="it's"`],
    ['a"b\\c$d\ne', 'K="a\\"b\\\\c\\$d\\ne"'],
  ];
  for (const [value, line] of table) assert.equal(dotenvLine("K", value), line, value);
});

Deno.test("shell lines survive eval for any value", async () => {
  const values = ["plain", "it's", "a b", "$HOME `id` $(id)", 'q"uote\\', "line\nbreak", "'''", ""];
  for (const value of values) {
    const script = `${shellLine("V", value)}\nprintf %s "$V"`;
    const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
    assert.equal(new TextDecoder().decode(out.stdout), value, JSON.stringify(value));
  }
});

Deno.test("json format is an object of names to values", () => {
  assert.deepEqual(JSON.parse(formatEnv({ A: "1", B: "x y" }, "json")), { A: "1", B: "x y" });
  assert.equal(formatEnv({}, "env"), "");
  assert.equal(formatEnv({ A: "1", B: "2" }, "shell"), "export A='1'\nexport B='2'\n");
});
