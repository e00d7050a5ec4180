/**
 * The `fuzz` part of the adversarial suite at its slice size (60 cases per kind): mutated
 * provider files, mutated stores and random argv never crash, hang, leave the documented exit
 * codes or print more than one error line, and a mutated store never reads back another value.
 */
import assert from "node:assert/strict";
import { fuzzPart } from "../stress/fuzz.ts";

Deno.test("fuzz slice: 60 mutated provider files, 60 mutated stores and 60 random argv break no rule", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-fuzz-" });
  try {
    const report = await fuzzPart.run({ size: "slice", scratch, log: () => {} });
    assert.deepEqual(report.problems, [], report.problems.join("\n"));
    const figure = (label: string) => report.figures.find(([l]) => l === label)?.[1];
    for (const kind of ["provider files", "stores", "argv"]) {
      // One case in five runs as a real process, and every case of a command that only runs as
      // one (mcp, run) does too.
      const [cases, real] = String(figure(`${kind}: cases (real processes)`)).match(/\d+/g)!
        .map(Number);
      assert.equal(cases, 60, kind);
      assert.ok(real! >= 12 && real! < 60, `${kind}: ${real} real processes`);
      assert.equal(figure(`${kind}: crashes / hangs > 10 s`), "0 / 0", kind);
      assert.equal(figure(`${kind}: wrong exit codes / bad messages`), "0 / 0", kind);
    }
    // Some mutated stores still open; each secret they gave back was compared with the original.
    const [opened, other] = String(
      figure("stores: secrets read back from a mutated store / other than the original"),
    ).split(" / ").map(Number);
    assert.ok(opened! > 0, "no mutated store was read back: the value rule was not exercised");
    assert.equal(other, 0);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
