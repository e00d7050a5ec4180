import assert from "node:assert/strict";
import { MAX_PATTERN_LENGTH, unsafePatternReason } from "./safe_pattern.ts";

const SAFE = [
  "^sk-[A-Za-z0-9_-]{20,}$",
  "^(sk|rk)_(live|test)_[A-Za-z0-9]{10,}$",
  "^AIza[0-9A-Za-z_-]{35}$",
  "^[a-z0-9-]+\\.githubusercontent\\.com$",
  "^([a-z0-9-]+\\.)+googleapis\\.com$",
  "^(ab)+$",
  "^(?:x-)?[a-z]+$",
  "^(a+)?$",
  "^(a+){1}$",
  "^(a+){0,1}$",
  "^[(]+[)]*$",
  "^\\(a+\\)+$",
  "^a{2,}b{3}$",
];

const UNSAFE: Array<[string, RegExp]> = [
  ["^(a+)+$", /repeated group/],
  ["^(a*)*$", /repeated group/],
  ["^(a|a)*$", /repeated group/],
  ["^(a|aa)+$", /repeated group/],
  ["^((a+))+$", /repeated group/],
  ["^(?:[a-z]+-?)+$", /repeated group/],
  ["^([a-z]+\\.?)*$", /repeated group/],
  ["^([a-z.]+\\.)+$", /repeated group/],
  ["^(a+){2,}$", /repeated group/],
  ["^(a+){1,5}$", /repeated group/],
  ["^(a+)+?$", /repeated group/],
  ["^(\\w+\\s?)*$", /repeated group/],
  ["^(a+)\\1$", /back-reference/],
  ["^(?<x>a+)\\k<x>$", /back-reference/],
  ["a".repeat(MAX_PATTERN_LENGTH + 1), /longer than 1024/],
];

Deno.test("patterns without nested repetition, alternation under repetition or back-references are safe", () => {
  for (const pattern of SAFE) assert.equal(unsafePatternReason(pattern), undefined, pattern);
});

Deno.test("patterns that can backtrack catastrophically are refused with the reason", () => {
  for (const [pattern, reason] of UNSAFE) {
    assert.match(unsafePatternReason(pattern) ?? "(accepted)", reason, pattern.slice(0, 40));
  }
});
