/**
 * The `npm test` slice of the crash-safety part of the adversarial suite (stress/crash.ts): 20
 * writes of every kind, each run as the real CLI and sent SIGKILL at a random moment, then the
 * disk-full check on a small tmpfs. The full 200 run with `deno task stress crash`.
 */
import assert from "node:assert/strict";
import { runCrash } from "../stress/crash.ts";

Deno.test("crash slice: 20 killed writes lose nothing acknowledged and tear nothing; a full disk is a clean exit 10", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-crash-" });
  try {
    const report = await runCrash({ size: "slice", scratch, log: () => {} });
    const figures = new Map(report.figures);
    const context = JSON.stringify(report, null, 2);
    assert.deepEqual(report.problems, [], context);
    assert.equal(figures.get("writes run (each sent SIGKILL at a random moment)"), 20);
    const [survived, killed] = String(
      figures.get("kills survived / attempted (killed while running)"),
    )
      .split(" / ").map(Number);
    assert.ok(killed! > 0, `some writes were killed while running: ${context}`);
    assert.equal(survived, killed, context);
    assert.equal(figures.get("acknowledged writes lost"), 0, context);
    if (Deno.uid() === 0) {
      assert.match(
        String(figures.get("disk full: refused with a clean error / went through")),
        /^7 \/ 0$/,
      );
      assert.equal(
        figures.get("disk full: the messages"),
        "exit 10: error: Cannot use the store TMPFS/home/authsome.db: the disk is full; " +
          "exit 10: error: Cannot write the store TMPFS/fresh/authsome.db: the disk is full",
      );
      assert.equal(figures.get("disk full: home usable after freeing space"), "yes");
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
