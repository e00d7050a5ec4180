import assert from "node:assert/strict";
import { decodeBase64, encodeBase64, fromBase64, toBase64, toHex } from "./bytes.ts";

// The fallbacks (used on Node 24) must give exactly what the built-in methods give here.
Deno.test("the base64 fallbacks agree with the built-in methods", () => {
  for (const length of [0, 1, 2, 3, 4, 31, 32, 33, 70_000]) {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
    for (const alphabet of ["base64", "base64url"] as const) {
      for (const omitPadding of [false, true]) {
        const options = { alphabet, omitPadding };
        assert.equal(encodeBase64(bytes, options), bytes.toBase64(options));
        assert.equal(toBase64(bytes, options), bytes.toBase64(options));
      }
    }
    const text = bytes.toBase64();
    assert.deepEqual(decodeBase64(text), Uint8Array.fromBase64(text));
    assert.deepEqual(fromBase64(text), Uint8Array.fromBase64(text));
    assert.equal(toHex(bytes), bytes.toHex());
  }
});

Deno.test("the base64 fallback refuses what the built-in refuses", () => {
  for (const bad of ["a", "ab*c", "abc==", "a=bc", "=", "ab=c"]) {
    assert.throws(() => Uint8Array.fromBase64(bad), SyntaxError, bad);
    assert.throws(() => decodeBase64(bad), SyntaxError, bad);
  }
  for (const good of ["", " YWJj\n", "YWI", "YWI=", "YQ==", "YQ"]) {
    assert.deepEqual(decodeBase64(good), Uint8Array.fromBase64(good), good);
  }
});
