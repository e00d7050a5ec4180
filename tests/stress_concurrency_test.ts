/**
 * The `npm test` slice of the concurrency part of the adversarial suite (stress/concurrency.ts):
 * 12 workers running the real CLI on one vault for 3 s (reads, logins, logouts, set-default,
 * refreshes against a rotating token endpoint), then a held refresh and a held store lock. The
 * full 50 workers for 10 s run with `deno task stress concurrency`.
 */
import assert from "node:assert/strict";
import { runConcurrency } from "../stress/concurrency.ts";

Deno.test("concurrency slice: 12 workers on one vault lose no acknowledged login, keep one default, spend no refresh token twice; a held lock is waited for, then exit 10", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-concurrency-" });
  try {
    const report = await runConcurrency({ size: "slice", scratch, log: () => {} });
    const figures = new Map(report.figures);
    const context = JSON.stringify(report, null, 2);
    assert.deepEqual(report.problems, [], context);
    assert.ok(Number(figures.get("processes run")) >= 12, context);
    assert.equal(figures.get("refresh tokens spent twice"), 0, context);
    assert.equal(figures.get("inconsistencies in the vault afterwards"), 0, context);
    assert.match(String(figures.get("held refresh lock: the waiting process")), /^exit 10 after /);
    assert.match(
      String(figures.get("held store write lock: the waiting login")),
      /^exit 10 after /,
    );
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
