import assert from "node:assert/strict";
import { parseDotenv } from "./dotenv.ts";

const values = (text: string) =>
  Object.fromEntries([...parseDotenv(text).entries].map(([k, e]) => [k, e.value]));

Deno.test("dotenv: comments, blank lines, export, spaces around = and inline comments", () => {
  assert.deepEqual(
    values("# a comment\n\nA=1\nexport B=two\n  C = three  \nD=four # note\nE=a#b\nF=\n"),
    { A: "1", B: "two", C: "three", D: "four", E: "a#b", F: "" },
  );
});

Deno.test("dotenv: single quotes are literal, double quotes take escapes", () => {
  assert.deepEqual(
    values(`A='x\\ny $HOME'\nB="x\\ny\\t\\"q\\" \\\\ \\z"\nC="# not a comment" # one\n`),
    {
      A: "x\\ny $HOME",
      B: 'x\ny\t"q" \\ \\z',
      C: "# not a comment",
    },
  );
});

Deno.test("dotenv: a quoted value goes on over lines; its entry names the first line", () => {
  const file = parseDotenv("A=1\nKEY=\"-----BEGIN-----\nabc\n-----END-----\"\nB=2\r\nC='x\ny'\n");
  assert.deepEqual(file.entries.get("KEY"), {
    value: "-----BEGIN-----\nabc\n-----END-----",
    line: 2,
  });
  assert.deepEqual(file.entries.get("B"), { value: "2", line: 5 });
  assert.deepEqual(file.entries.get("C"), { value: "x\ny", line: 6 });
  assert.deepEqual(file.problems, []);
});

Deno.test("dotenv: a later line wins; a BOM is ignored", () => {
  const file = parseDotenv("\uFEFFA=1\nA=2\n");
  assert.deepEqual(file.entries.get("A"), { value: "2", line: 2 });
});

Deno.test("dotenv: lines that cannot be read are reported by number and skipped, values never", () => {
  const file = parseDotenv(
    "OK=1\nno equals sign\n1BAD=x\nexport\nA=\"unterminated\nB='x' tail\n=value\n",
  );
  assert.deepEqual(values("OK=1\nno equals sign\n"), { OK: "1" });
  assert.deepEqual(file.problems, [
    { line: 2, reason: "expected NAME=value" },
    { line: 3, reason: "expected NAME=value" },
    { line: 4, reason: "expected NAME=value" },
    { line: 5, reason: 'the " quote is never closed' },
  ]);
  assert.deepEqual([...file.entries.keys()], ["OK"]);
  const tail = parseDotenv("B='x' tail\n=value\n");
  assert.deepEqual(tail.problems, [
    { line: 1, reason: "text after the closing quote" },
    { line: 2, reason: "expected NAME=value" },
  ]);
});
