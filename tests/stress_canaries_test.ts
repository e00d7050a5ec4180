/**
 * The `canaries` part of the adversarial suite at its slice size: every secret of a scenario
 * (API-key and OAuth logins, refresh, export, run, get, list, log, backup) is a unique canary,
 * and none is found outside the places that ask for it.
 */
import assert from "node:assert/strict";
import { canariesPart, leakForms } from "../stress/canaries.ts";

Deno.test("canaries slice: no secret outside get --show-secret, export and run --env", async () => {
  const scratch = await Deno.makeTempDir({ prefix: "authsome-stress-canaries-" });
  try {
    const report = await canariesPart.run({ size: "slice", scratch, log: () => {} });
    assert.deepEqual(report.problems, [], report.problems.join("\n"));
    const figure = (label: string) => report.figures.find(([l]) => l === label)?.[1];
    assert.equal(figure("hits outside the allowed places"), 0);
    // The search is live: the secrets were found where they were asked for...
    assert.ok(Number(figure("hits where a secret is asked for")) >= 8);
    // ...and the processes were seen while they ran, children included.
    assert.ok(
      Number(figure("/proc samples of argv and environment (authsome and children)")) >= 20,
    );
    assert.ok(Number(figure("files searched (raw, base64, hex)")) >= 4);
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("a canary is found raw, in hex, and in base64 at any alignment inside a longer text", () => {
  const secret = "sk-canary-0123456789abcdef";
  const [raw, hex] = leakForms(secret);
  assert.equal(raw, secret);
  assert.equal(hex, "736b2d63616e6172792d30313233343536373839616263646566");
  for (const prefix of ["", "x", "xy", "xyz"]) {
    const encoded = btoa(`${prefix}${secret}!`);
    assert.ok(leakForms(secret).some((form) => encoded.includes(form)), `prefix ${prefix}`);
    const url = encoded.replaceAll("+", "-").replaceAll("/", "_");
    assert.ok(leakForms(secret).some((form) => url.includes(form)), `base64url, prefix ${prefix}`);
  }
});
