/**
 * An agent identity's policy and the decision it makes for one request. Pure functions: the
 * proxy asks {@linkcode checkRequest} before it adds a credential, the service asks
 * {@linkcode grantFor} before it hands one out.
 *
 * @module
 */
import { canonicalPath } from "./routing.ts";

/** What an identity may do with one provider. */
export interface ProviderGrant {
  /** The provider name. */
  provider: string;
  /** The connection it may use; null: the provider's default connection at the time of use. */
  connection: string | null;
  /** Only GET, HEAD and OPTIONS requests. */
  readOnly: boolean;
  /** Path prefixes the requests must stay under (segment-wise); empty: any path. */
  paths: string[];
}

/** An identity's policy. */
export interface IdentityPolicy {
  /** The identity's name. */
  name: string;
  /** ISO time after which nothing is allowed; null: no expiry. */
  expiresAt: string | null;
  /** One grant per provider it may use. */
  grants: ProviderGrant[];
}

/** The outcome of a policy check: allowed, or refused with the rule that refused it. */
export type PolicyVerdict =
  | { allowed: true }
  | { allowed: false; rule: "expired" | "provider" | "read-only" | "path"; message: string };

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The grant of `provider` in `policy`, or undefined when the identity may not use it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grantFor } from "./policy.ts";
 * const policy = {
 *   name: "agent",
 *   expiresAt: null,
 *   grants: [{ provider: "github", connection: "work", readOnly: false, paths: [] }],
 * };
 * assert.equal(grantFor(policy, "github")?.connection, "work");
 * assert.equal(grantFor(policy, "openai"), undefined);
 * ```
 */
export function grantFor(policy: IdentityPolicy, provider: string): ProviderGrant | undefined {
  return policy.grants.find((g) => g.provider === provider);
}

/**
 * Whether the policy has expired at `now`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isExpired } from "./policy.ts";
 * const policy = { name: "a", expiresAt: "2030-01-01T00:00:00.000Z", grants: [] };
 * assert.equal(isExpired(policy, new Date("2029-12-31T23:59:59Z")), false);
 * assert.equal(isExpired(policy, new Date("2030-01-01T00:00:00Z")), true);
 * ```
 */
export function isExpired(policy: IdentityPolicy, now: Date): boolean {
  return policy.expiresAt !== null && Date.parse(policy.expiresAt) <= now.getTime();
}

/**
 * Decides one request of an identity to a provider's API: refused when the identity has expired,
 * may not use the provider, is read-only and the method writes, or the path (canonicalised, dot
 * segments resolved) leaves every allowed prefix. A path with an encoded slash or backslash is
 * refused when prefixes apply, since servers differ in how they decode it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRequest } from "./policy.ts";
 * const policy = {
 *   name: "reader",
 *   expiresAt: null,
 *   grants: [{ provider: "github", connection: null, readOnly: true, paths: ["/repos/acme"] }],
 * };
 * const now = new Date();
 * assert.deepEqual(checkRequest(policy, "github", "GET", "/repos/acme/app", now), { allowed: true });
 * assert.equal(checkRequest(policy, "github", "POST", "/repos/acme/app", now).allowed, false);
 * assert.equal(checkRequest(policy, "github", "GET", "/repos/acme/../other", now).allowed, false);
 * ```
 */
export function checkRequest(
  policy: IdentityPolicy,
  provider: string,
  method: string,
  rawPath: string,
  now: Date,
): PolicyVerdict {
  const who = `identity "${policy.name}"`;
  if (isExpired(policy, now)) {
    return { allowed: false, rule: "expired", message: `${who} expired at ${policy.expiresAt}` };
  }
  const grant = grantFor(policy, provider);
  if (grant === undefined) {
    return { allowed: false, rule: "provider", message: `${who} may not use ${provider}` };
  }
  if (grant.readOnly && !READ_METHODS.has(method.toUpperCase())) {
    return {
      allowed: false,
      rule: "read-only",
      message: `${who} may only read from ${provider} (GET, HEAD, OPTIONS), not ${method}`,
    };
  }
  if (grant.paths.length > 0) {
    const path = canonicalPath(rawPath);
    const encodedSlash = /%2f|%5c/i.test(rawPath.split("?", 1)[0]!);
    const inside = grant.paths.some((prefix) => underPrefix(path, prefix));
    if (encodedSlash || !inside) {
      return {
        allowed: false,
        rule: "path",
        message: `${who} may use ${provider} only under ${grant.paths.join(", ")}`,
      };
    }
  }
  return { allowed: true };
}

/** `path` is `prefix` or below it, segment-wise (`/repos/a` covers `/repos/a/x`, not `/repos/ab`). */
function underPrefix(path: string, prefix: string): boolean {
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" || path === trimmed || path.startsWith(`${trimmed}/`);
}

/**
 * Parses an expiry duration: a whole number followed by `m` (minutes), `h` (hours), `d` (days)
 * or `w` (weeks). Returns milliseconds, or undefined when the text is not such a duration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./policy.ts";
 * assert.equal(parseDuration("90m"), 5_400_000);
 * assert.equal(parseDuration("7d"), 604_800_000);
 * assert.equal(parseDuration("soon"), undefined);
 * ```
 */
export function parseDuration(text: string): number | undefined {
  const match = /^([1-9][0-9]{0,5})([mhdw])$/.exec(text);
  if (match === null) return undefined;
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[match[2] as "m"];
  return Number(match[1]) * unit;
}
