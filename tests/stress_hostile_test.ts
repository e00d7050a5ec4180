/**
 * The `hostile` part of the adversarial suite at its slice size: hostile local clients (no or
 * wrong proxy secret, odd CONNECT targets, smuggling, forged Host, cross-site posts, replays,
 * huge heads, 100 parallel connections, slow-loris) against the proxy, the login form, the
 * OAuth callback and the device page are all refused, none gets a credential, and the
 * legitimate proxy client keeps being served.
 */
import assert from "node:assert/strict";
import { hostilePart } from "../stress/hostile.ts";

Deno.test("hostile slice: every hostile request is refused, nothing injected, the legitimate client served", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-hostile-" });
  try {
    const report = await hostilePart.run({ size: "slice", scratch, log: () => {} });
    assert.deepEqual(report.problems, [], report.problems.join("\n"));
    const figure = (label: string) => report.figures.find(([l]) => l === label)?.[1];
    const sent = Number(figure("hostile requests sent"));
    assert.ok(sent >= 200, `${sent} hostile requests`);
    assert.equal(figure("hostile requests refused"), sent);
    assert.equal(figure("credentials injected into hostile requests"), 0);
    assert.equal(figure("parallel connections / slow-loris connections"), "100 / 10");
    // The refusals are the documented ones, not only dropped connections.
    const statuses = String(figure("refusals by status (0: connection closed)"));
    for (const status of ["400", "403", "404", "405", "407"]) {
      assert.match(statuses, new RegExp(`(^|, )${status}: \\d+`), statuses);
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
