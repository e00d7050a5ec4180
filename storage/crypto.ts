/**
 * AES-256-GCM sealing over WebCrypto, with associated data that binds a ciphertext to where it
 * belongs, and PBKDF2-SHA-256 for passphrases.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { fromBase64, toBase64 } from "../runtime/bytes.ts";

/** A sealed value as stored on disk: base64 nonce and base64 ciphertext with its 16-byte tag. */
export interface Sealed {
  /** Base64 of the 96-bit nonce, fresh for every write. */
  nonce: string;
  /** Base64 of the AES-256-GCM ciphertext followed by its tag. */
  ciphertext: string;
}

const encoder = new TextEncoder();

/** Returns `length` random bytes from the platform's CSPRNG. */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** Imports 32 raw bytes as an AES-256-GCM key that can only encrypt and decrypt. */
export function importAesKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  if (raw.length !== 32) throw new RangeError("An AES-256 key has 32 bytes");
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/**
 * Encrypts `plaintext` under `key` with a fresh nonce; `aad` is authenticated but not stored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { importAesKey, openSealed, randomBytes, seal } from "./crypto.ts";
 * const key = await importAesKey(randomBytes(32));
 * const box = await seal(key, new TextEncoder().encode("hi"), "vault:default");
 * const back = await openSealed(key, box, "vault:default");
 * assert.equal(new TextDecoder().decode(back), "hi");
 * ```
 */
export async function seal(
  key: CryptoKey,
  plaintext: Uint8Array<ArrayBuffer>,
  aad: string,
): Promise<Sealed> {
  const nonce = randomBytes(12);
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: encoder.encode(aad) },
    key,
    plaintext,
  );
  return { nonce: toBase64(nonce), ciphertext: toBase64(new Uint8Array(ciphertext)) };
}

/**
 * Decrypts a {@linkcode Sealed} value. A wrong key, a changed byte, or a different `aad` all fail
 * with `VAULT_UNAVAILABLE` and the given description of what could not be opened.
 */
export async function openSealed(
  key: CryptoKey,
  sealed: Sealed,
  aad: string,
  what = "a record",
): Promise<Uint8Array<ArrayBuffer>> {
  let nonce: Uint8Array<ArrayBuffer>;
  let data: Uint8Array<ArrayBuffer>;
  try {
    nonce = fromBase64(sealed.nonce);
    data = fromBase64(sealed.ciphertext);
  } catch (cause) {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `Cannot open ${what}: it is not valid base64`, {
      cause,
      hint: "The vault file was changed outside authsome; restore it from a backup",
    });
  }
  if (nonce.length !== 12 || data.length < 16) {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `Cannot open ${what}: it is truncated`, {
      hint: "The vault file was changed outside authsome; restore it from a backup",
    });
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: encoder.encode(aad) },
      key,
      data,
    );
    return new Uint8Array(plain);
  } catch (cause) {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `Cannot open ${what}: the key does not match or the data was changed`,
      { cause, hint: "Check the master key source (authsome whoami) or restore the vault file" },
    );
  }
}

/** Minimum PBKDF2 iteration count accepted for passphrases. */
export const MIN_PBKDF2_ITERATIONS = 600_000;

/** Derives 32 key bytes from a passphrase with PBKDF2-SHA-256. */
export async function deriveFromPassphrase(
  passphrase: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey(
    "raw",
    encoder.encode(passphrase),
    "PBKDF2",
    // Stryker disable next-line BooleanLiteral: equivalent; the base key never leaves this function.
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    256,
  );
  return new Uint8Array(bits);
}
