import assert from "node:assert/strict";
import { closest, didYouMean } from "./suggest.ts";

Deno.test("closest: within 2 edits and under half the word; swaps count as one; case ignored", () => {
  assert.equal(closest("githb", ["gitlab", "github"]), "github"); // 1 edit beats 2
  assert.equal(closest("wrok", ["default", "work"]), "work"); // a swap of neighbours
  assert.equal(closest("GitHub", ["github"]), "github");
  assert.equal(closest("wrk", ["work"]), "work");
  assert.equal(closest("ab", ["ac"]), undefined); // a two-letter word needs an exact match
  assert.equal(closest("cat", ["bat", "hat"]), "bat"); // the first at a tie
  assert.equal(closest("personal", ["default", "work"]), undefined);
  assert.equal(closest("x", []), undefined);
});

Deno.test("closest: a very long word is not compared letter by letter", () => {
  const started = performance.now();
  assert.equal(closest("a".repeat(200_000), ["github", "openai"]), undefined);
  assert.ok(performance.now() - started < 100);
});

Deno.test("didYouMean: the phrase before the rest of a hint, or nothing", () => {
  assert.equal(didYouMean("wrok", ["work"]), 'Did you mean "work"? ');
  assert.equal(didYouMean("zzzz", ["work"]), "");
});
