/**
 * Base64 and hex for byte arrays: the built-in `Uint8Array` methods where the runtime has them
 * (Deno, Bun), the same results from `btoa`/`atob` where it has not (Node 24).
 *
 * @module
 */

interface NativeBytes {
  toBase64?(options?: { alphabet?: "base64" | "base64url"; omitPadding?: boolean }): string;
  toHex?(): string;
}

/**
 * `bytes` as base64 (`alphabet: "base64url"` for URL-safe, `omitPadding` without `=`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toBase64 } from "./bytes.ts";
 * assert.equal(toBase64(new Uint8Array([251, 255])), "+/8=");
 * assert.equal(toBase64(new Uint8Array([251, 255]), { alphabet: "base64url", omitPadding: true }), "-_8");
 * ```
 */
export function toBase64(
  bytes: Uint8Array,
  options: { alphabet?: "base64" | "base64url"; omitPadding?: boolean } = {},
): string {
  const native = (bytes as NativeBytes).toBase64;
  if (native !== undefined) return native.call(bytes, options);
  return encodeBase64(bytes, options);
}

/**
 * The bytes of base64 `text` (white space skipped, padding optional); throws a `SyntaxError` on
 * anything else, as `Uint8Array.fromBase64` does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromBase64 } from "./bytes.ts";
 * assert.deepEqual([...fromBase64(" +/8=\n")], [251, 255]);
 * assert.throws(() => fromBase64("no*base64"));
 * ```
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const native = (Uint8Array as { fromBase64?: (text: string) => Uint8Array<ArrayBuffer> })
    .fromBase64;
  if (native !== undefined) return native(text);
  return decodeBase64(text);
}

/**
 * `bytes` as lower-case hex.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toHex } from "./bytes.ts";
 * assert.equal(toHex(new Uint8Array([0, 171])), "00ab");
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  const native = (bytes as NativeBytes).toHex;
  if (native !== undefined) return native.call(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The encoder used where `Uint8Array.prototype.toBase64` is missing (exported for its tests).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBase64 } from "./bytes.ts";
 * assert.equal(encodeBase64(new Uint8Array([104, 105])), "aGk=");
 * ```
 */
export function encodeBase64(
  bytes: Uint8Array,
  options: { alphabet?: "base64" | "base64url"; omitPadding?: boolean } = {},
): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  let text = btoa(binary);
  if (options.alphabet === "base64url") text = text.replaceAll("+", "-").replaceAll("/", "_");
  return options.omitPadding ? text.replace(/=+$/, "") : text;
}

/**
 * The decoder used where `Uint8Array.fromBase64` is missing (exported for its tests): `atob`'s
 * forgiving base64, which skips white space, takes missing padding and refuses other characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBase64 } from "./bytes.ts";
 * assert.deepEqual([...decodeBase64("aGk")], [104, 105]);
 * ```
 */
export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw new SyntaxError("Invalid base64 text");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}
