/**
 * The api_key flow: checking a pasted key against the provider's pattern, and the header that
 * carries it.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { ApiKeyConfig, ProviderDefinition } from "./schema.ts";

/**
 * Trims a key and checks it against `api_key.key_pattern` (a full match). The message never
 * contains the key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkApiKey } from "./api_key.ts";
 * const def = { display_name: "Acme", api_key: { header_name: "Authorization", header_prefix: "Bearer", key_pattern: "^ak_[a-z]+$" } };
 * assert.equal(checkApiKey(def, " ak_abc\n"), "ak_abc");
 * ```
 */
export function checkApiKey(
  def: Pick<ProviderDefinition, "display_name" | "api_key">,
  raw: string,
): string {
  const key = raw.trim();
  if (key === "") {
    throw new AuthsomeError("INVALID_INPUT", `The API key for ${def.display_name} is empty`, {
      hint: "Paste the whole key",
    });
  }
  if (/[\r\n\0]/.test(key)) {
    throw new AuthsomeError(
      "INVALID_INPUT",
      `The API key for ${def.display_name} contains a line break`,
      { hint: "Paste the key alone, on one line" },
    );
  }
  if (key === PROXY_PLACEHOLDER) {
    // What every credential variable holds inside `authsome run`: never a real key.
    throw new AuthsomeError(
      "INVALID_INPUT",
      `The API key for ${def.display_name} is the placeholder of 'authsome run'`,
      { hint: "Give the real key, outside 'authsome run'" },
    );
  }
  const pattern = def.api_key?.key_pattern;
  if (pattern !== undefined && !fullMatch(pattern, key)) {
    throw new AuthsomeError(
      "INVALID_INPUT",
      `The API key does not match the ${def.display_name} key format`,
      {
        hint: def.api_key?.key_pattern_hint ??
          `API key for ${def.display_name} doesn't match the expected format`,
      },
    );
  }
  return key;
}

/** The value `authsome run` gives credential variables (proxy/child_env.ts's PLACEHOLDER). */
const PROXY_PLACEHOLDER = "authsome-proxy-managed";

function fullMatch(pattern: string, value: string): boolean {
  const match = new RegExp(pattern).exec(value);
  return match !== null && match.index === 0 && match[0].length === value.length;
}

/**
 * The header that carries an API key: `{header_name: "<prefix> <key>"}`, or the raw key when the
 * prefix is null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { apiKeyHeaders } from "./api_key.ts";
 * assert.deepEqual(apiKeyHeaders({ header_name: "x-api-key", header_prefix: null }, "k1"), {
 *   "x-api-key": "k1",
 * });
 * ```
 */
export function apiKeyHeaders(config: ApiKeyConfig, key: string): Record<string, string> {
  const prefix = config.header_prefix;
  return { [config.header_name]: prefix === null || prefix === "" ? key : `${prefix} ${key}` };
}
