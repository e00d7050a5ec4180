import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { deriveFromPassphrase, importAesKey, openSealed, randomBytes, seal } from "./crypto.ts";

const vaultError = (text: string) => (e: unknown) =>
  e instanceof AuthsomeError && e.exitCode === 10 && e.message.includes(text) &&
  (e.hint ?? "") !== "";

Deno.test("PBKDF2-SHA-256 matches the RFC 7914 test vector (passwd / salt / 1 iteration)", async () => {
  const key = await deriveFromPassphrase("passwd", new TextEncoder().encode("salt"), 1);
  assert.equal(key.toHex(), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
});

Deno.test("an AES key has 32 bytes and cannot be exported", async () => {
  assert.throws(() => importAesKey(randomBytes(16)), /An AES-256 key has 32 bytes/);
  const key = await importAesKey(randomBytes(32));
  await assert.rejects(crypto.subtle.exportKey("raw", key));
});

Deno.test("sealing: a round trip, an empty plaintext (tag only), and each way to fail with its reason", async () => {
  const key = await importAesKey(randomBytes(32));
  const box = await seal(key, new TextEncoder().encode("secret"), "aad-1");
  assert.equal(new TextDecoder().decode(await openSealed(key, box, "aad-1")), "secret");
  const empty = await seal(key, new Uint8Array(0), "aad-1");
  assert.equal(Uint8Array.fromBase64(empty.ciphertext).length, 16);
  assert.equal((await openSealed(key, empty, "aad-1")).length, 0);

  await assert.rejects(
    openSealed(key, box, "aad-2", "record x"),
    vaultError("Cannot open record x: the key does not match"),
  );
  const other = await importAesKey(randomBytes(32));
  await assert.rejects(
    openSealed(other, box, "aad-1"),
    vaultError("Cannot open a record: the key does not match or the data was changed"),
  );
  await assert.rejects(
    openSealed(key, { ...box, nonce: "not base64!" }, "aad-1", "record x"),
    vaultError("Cannot open record x: it is not valid base64"),
  );
  const shortNonce = randomBytes(11).toBase64();
  await assert.rejects(
    openSealed(key, { ...box, nonce: shortNonce }, "aad-1", "record x"),
    vaultError("Cannot open record x: it is truncated"),
  );
  const shortData = randomBytes(15).toBase64();
  await assert.rejects(
    openSealed(key, { ...box, ciphertext: shortData }, "aad-1"),
    vaultError("it is truncated"),
  );
  // Two seals of the same plaintext never share a nonce.
  const again = await seal(key, new TextEncoder().encode("secret"), "aad-1");
  assert.notEqual(again.nonce, box.nonce);
  assert.equal(Uint8Array.fromBase64(box.nonce).length, 12);
});
