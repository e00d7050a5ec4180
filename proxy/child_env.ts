/**
 * The environment of the program `authsome run` starts. Pure functions, no I/O: the parent's
 * environment goes in, the child's comes out, credential variables removed first.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";

/**
 * The value of every credential variable in a proxied child: the proxy adds the real header, so
 * the program only needs the variable to be set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PLACEHOLDER } from "./child_env.ts";
 * assert.equal(PLACEHOLDER, "authsome-proxy-managed");
 * ```
 */
export const PLACEHOLDER = "authsome-proxy-managed";

/**
 * Inputs of {@linkcode childEnv}.
 *
 * @example
 * ```ts
 * import type { ChildEnvInput } from "./child_env.ts";
 * const input: ChildEnvInput = {
 *   parent: { PATH: "/usr/bin", OPENAI_API_KEY: "sk-real" },
 *   proxyUrl: "http://authsome:s3cret@127.0.0.1:41234",
 *   caBundlePath: "/tmp/authsome-run/bundle.pem",
 *   caCertPath: "/home/me/.authsome/proxy/ca.pem",
 *   placeholders: ["OPENAI_API_KEY"],
 *   credentialVars: ["OPENAI_API_KEY"],
 * };
 * ```
 */
export interface ChildEnvInput {
  /** The parent's environment. */
  parent: Record<string, string>;
  /** The proxy URL; it carries the per-run secret the proxy requires (`Proxy-Authorization`). */
  proxyUrl: string;
  /** System CAs plus the authsome CA (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, …). */
  caBundlePath: string;
  /** The authsome CA alone (`NODE_EXTRA_CA_CERTS`, which Node adds to its own CAs). */
  caCertPath: string;
  /** Variable names of every provider with a stored connection (`export.env`); set to the placeholder. */
  placeholders: string[];
  /**
   * Non-secret values of the routed connections' `export.env` (a base URL, an API URL), set as
   * they are, after the placeholders and before the proxy and CA variables.
   */
  values?: Record<string, string>;
  /** Variable names that could carry real credentials; removed before anything is set. */
  credentialVars: string[];
}

/**
 * Never passed to a child, whatever the caller lists: the key sources open the whole vault, and
 * the home tells it where the vault is.
 */
const MASTER_VARS = ["AUTHSOME_MASTER_KEY", "AUTHSOME_PASSPHRASE", "AUTHSOME_HOME"];
const PROXY_VARS = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const NO_PROXY_VARS = ["NO_PROXY", "no_proxy"];
const LOOPBACK_NO_PROXY = ["127.0.0.1", "localhost", "::1"];
const CA_BUNDLE_VARS = [
  "SSL_CERT_FILE",
  "REQUESTS_CA_BUNDLE",
  "CURL_CA_BUNDLE",
  "GIT_SSL_CAINFO",
  "DENO_CERT",
  "PIP_CERT",
  "AWS_CA_BUNDLE",
  "HTTPLIB2_CA_CERTS",
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment of a proxied child: the parent's, without credential variables or the master
 * key, with placeholders for the connected providers' secret variables and the non-secret values
 * as they are, the proxy variables (both
 * cases; `ALL_PROXY` is left as it was), `NO_PROXY`/`no_proxy` = the parent's entries of both
 * plus loopback (order kept, de-duplicated case-insensitively), `AUTHSOME_PROXY_MODE=true`,
 * `NODE_USE_ENV_PROXY=1` (so Node's `fetch` and `https` use the proxy), and the CA variables. Placeholders are set before the proxy and CA variables, so a provider file
 * naming one of those cannot switch the proxy off. The parent object is not modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { childEnv } from "./child_env.ts";
 * const env = childEnv({
 *   parent: { PATH: "/usr/bin", OPENAI_API_KEY: "sk-real", NO_PROXY: "corp.test" },
 *   proxyUrl: "http://authsome:s3cret@127.0.0.1:41234",
 *   caBundlePath: "/tmp/bundle.pem",
 *   caCertPath: "/tmp/ca.pem",
 *   placeholders: ["OPENAI_API_KEY"],
 *   credentialVars: ["OPENAI_API_KEY"],
 * });
 * assert.equal(env.OPENAI_API_KEY, "authsome-proxy-managed");
 * assert.equal(env.HTTPS_PROXY, "http://authsome:s3cret@127.0.0.1:41234");
 * assert.equal(env.NO_PROXY, "corp.test,127.0.0.1,localhost,::1");
 * assert.equal(env.NODE_EXTRA_CA_CERTS, "/tmp/ca.pem");
 * assert.equal(env.NODE_USE_ENV_PROXY, "1");
 * assert.equal(env.PATH, "/usr/bin");
 * ```
 */
export function childEnv(input: ChildEnvInput): Record<string, string> {
  const env = withoutCredentials(input.parent, input.credentialVars);
  for (const name of input.placeholders) env.set(checkedName(name), PLACEHOLDER);
  for (const [name, value] of Object.entries(input.values ?? {})) env.set(checkedName(name), value);
  for (const name of PROXY_VARS) env.set(name, input.proxyUrl);
  const noProxy = mergeNoProxy(
    NO_PROXY_VARS.map((name) => input.parent[name] ?? ""),
    LOOPBACK_NO_PROXY,
  );
  for (const name of NO_PROXY_VARS) env.set(name, noProxy);
  env.set("AUTHSOME_PROXY_MODE", "true");
  for (const name of CA_BUNDLE_VARS) env.set(name, input.caBundlePath);
  env.set("NODE_EXTRA_CA_CERTS", input.caCertPath);
  // Node (from 22.21 and 24.5) sends fetch and http/https through HTTPS_PROXY only with this.
  env.set("NODE_USE_ENV_PROXY", "1");
  return Object.fromEntries(env);
}

/**
 * The environment of a `run --env` child: the parent's, without credential variables or the
 * master key, then the real values set (`AUTHSOME_MASTER_KEY` and `AUTHSOME_PASSPHRASE` among
 * them are dropped). The parent object is not modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realEnv } from "./child_env.ts";
 * const env = realEnv({
 *   parent: { PATH: "/usr/bin", GH_TOKEN: "stale", AUTHSOME_PASSPHRASE: "pw" },
 *   credentialVars: ["GH_TOKEN", "GITHUB_TOKEN"],
 *   values: { GITHUB_TOKEN: "gho_fresh" },
 * });
 * assert.deepEqual(env, { PATH: "/usr/bin", GITHUB_TOKEN: "gho_fresh" });
 * ```
 */
export function realEnv(
  input: {
    parent: Record<string, string>;
    credentialVars: string[];
    values: Record<string, string>;
  },
): Record<string, string> {
  const env = withoutCredentials(input.parent, input.credentialVars);
  for (const [name, value] of Object.entries(input.values)) {
    if (!MASTER_VARS.includes(name)) env.set(checkedName(name), value);
  }
  return Object.fromEntries(env);
}

/** A copy of the parent (a Map, so a name like `__proto__` stays a plain entry) minus credentials. */
function withoutCredentials(
  parent: Record<string, string>,
  credentialVars: string[],
): Map<string, string> {
  const env = new Map(Object.entries(parent));
  for (const name of [...credentialVars, ...MASTER_VARS]) env.delete(name);
  return env;
}

/** Names come from validated provider files; anything else is a bug, not something to spawn. */
function checkedName(name: string): string {
  if (!ENV_NAME.test(name)) {
    throw new AuthsomeError("INVALID_INPUT", `"${name}" is not an environment variable name`, {
      hint: "Fix export.env in the provider definition",
    });
  }
  return name;
}

/** Comma-separated lists joined in order, entries trimmed, empties and repeats dropped. */
function mergeNoProxy(lists: string[], extra: string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const entry of [...lists.flatMap((list) => list.split(",")), ...extra]) {
    const trimmed = entry.trim();
    // Stryker disable next-line MethodExpression: equivalent; any one case folding is a fine key.
    const key = trimmed.toLowerCase();
    if (trimmed === "" || seen.has(key)) continue;
    seen.add(key);
    out.push(trimmed);
  }
  return out.join(",");
}
