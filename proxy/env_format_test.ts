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

Deno.test("every character a double-quoted dotenv value escapes, and the exact text of each format", () => {
  assert.equal(dotenvLine("K", "it's `id`\r\n$X"), 'K="it\'s \\`id\\`\\r\\n\\$X"');
  assert.equal(dotenvLine("K", "a\rb"), 'K="a\\rb"');
  assert.equal(formatEnv({ A: "1", B: "x y" }, "json"), '{\n  "A": "1",\n  "B": "x y"\n}\n');
  assert.equal(formatEnv({}, "json"), "{}\n");
  assert.equal(formatEnv({ A: "1", B: "x y" }, "env"), "A=1\nB='x y'\n");
  assert.equal(formatEnv({}, "shell"), "");
});
