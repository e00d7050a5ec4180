/**
 * The `npm test` slice of the key-handling part of the adversarial suite (stress/keys.ts): shared
 * key files, malformed and wrong master keys, and sealed records copied into another slot, vault
 * or home, each through the real CLI. The full run (50 wrong keys) is `deno task stress keys`.
 */
import assert from "node:assert/strict";
import { runKeys } from "../stress/keys.ts";

Deno.test("keys slice: shared key files, malformed and wrong keys, and copied records are all refused with exit 10 and no secret", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-keys-" });
  try {
    const report = await runKeys({ size: "slice", scratch, log: () => {} });
    const figures = new Map(report.figures);
    assert.deepEqual(report.problems, [], JSON.stringify(report, null, 2));
    assert.deepEqual(
      [...figures].filter(([label]) => label.endsWith("refused / tried")),
      [
        ["key file others may read: refused / tried", "4 / 4"],
        ["wrong-length AUTHSOME_MASTER_KEY: refused / tried", "8 / 8"],
        ["another AUTHSOME_MASTER_KEY: refused / tried", "6 / 6"],
        ["another home's key file: refused / tried", "3 / 3"],
        ["a record copied elsewhere: refused / tried", "5 / 5"],
      ],
    );
    assert.equal(
      figures.get("a record copied elsewhere: the error"),
      'error: Cannot open record "connection/openai/b" of vault "default": the key does not match or the data was changed',
    );
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});
