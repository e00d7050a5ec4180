/**
 * Provider files written for the Python original of authsome: its fields are renamed to ours
 * (`host_url` → `api_url`, `docs_url` → `docs`, `registration.registration_endpoint` →
 * `oauth.registration_endpoint`, a flat `export` map → `export.env`), and the fields it only
 * displays or never enforced are dropped with a note of what replaces them. Anything else is left
 * in place, so an unknown field still fails validation with its JSON path.
 *
 * @module
 */

/** A field of the original's format that authsome reads but does not use. */
export interface IgnoredField {
  /** JSON path, e.g. `oauth.pkce`. */
  path: string;
  /** What authsome does instead, e.g. `PKCE (S256) is always used`. */
  instead: string;
}

/** The result of {@linkcode upgradeLegacyFields}. */
export interface UpgradedDocument {
  /** The document in authsome's format (a copy; the input is not changed). */
  document: unknown;
  /** The fields dropped, in document order. */
  ignored: IgnoredField[];
}

/** Ignored top-level fields and what replaces them. */
const IGNORED_TOP: Record<string, string> = {
  type: "not used by authsome",
  logo: "not used by authsome",
};
/** Ignored `oauth` fields and what replaces them. */
const IGNORED_OAUTH: Record<string, string> = {
  pkce: "PKCE (S256) is always used",
  supports_device_flow: "the device_code flow works when oauth.device_authorization_url is set",
  supports_device_code: "the device_code flow works when oauth.device_authorization_url is set",
  supports_dcr: "dcr_pkce uses oauth.registration_endpoint or finds the endpoint by discovery",
};
/** Optional fields the original writes as `null` for "not set". */
const NULLABLE_TOP = [
  "docs",
  "docs_url",
  "host_url",
  "description",
  "logo",
  "type",
  "oauth",
  "api_key",
];
const NULLABLE_OAUTH = [
  "base_url",
  "registration_endpoint",
  "revocation_url",
  "device_authorization_url",
  "scopes",
];
/** Values of the original's flat export map (`{"GH_TOKEN": "ACCESS_TOKEN"}`). */
const FLAT_EXPORT = ["ACCESS_TOKEN", "API_TOKEN", "BASE_URL", "API_URL"];

/**
 * Maps the fields of the Python original's provider format to authsome's. A document without
 * any of them comes back unchanged (structurally) with nothing ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { upgradeLegacyFields } from "./legacy.ts";
 * const { document, ignored } = upgradeLegacyFields({
 *   name: "acme",
 *   host_url: "api.acme.test",
 *   oauth: { authorization_url: "https://acme.test/a", token_url: "https://acme.test/t", pkce: true },
 * });
 * assert.equal((document as { api_url: string }).api_url, "api.acme.test");
 * assert.deepEqual(ignored.map((f) => f.path), ["oauth.pkce"]);
 * ```
 */
export function upgradeLegacyFields(input: unknown): UpgradedDocument {
  const ignored: IgnoredField[] = [];
  if (!isObject(input)) return { document: input, ignored };
  const doc: Record<string, unknown> = { ...input };
  // A file with one of the original's own fields is one of its files.
  const original =
    ["host_url", "docs_url", "registration", ...Object.keys(IGNORED_TOP)].some((k) => k in doc) ||
    (isObject(doc.oauth) && Object.keys(IGNORED_OAUTH).some((k) => k in (doc.oauth as object)));
  for (const key of NULLABLE_TOP) if (doc[key] === null) delete doc[key];
  rename(doc, "host_url", "api_url");
  rename(doc, "docs_url", "docs");
  for (const [key, instead] of Object.entries(IGNORED_TOP)) {
    if (key in doc) {
      delete doc[key];
      ignored.push({ path: key, instead });
    }
  }
  if (isObject(doc.oauth)) {
    const oauth: Record<string, unknown> = { ...doc.oauth };
    for (const key of NULLABLE_OAUTH) if (oauth[key] === null) delete oauth[key];
    for (const [key, instead] of Object.entries(IGNORED_OAUTH)) {
      if (key in oauth) {
        delete oauth[key];
        ignored.push({ path: `oauth.${key}`, instead });
      }
    }
    doc.oauth = oauth;
  }
  if (isObject(doc.api_key)) {
    const apiKey: Record<string, unknown> = { ...doc.api_key };
    for (const key of ["env_var", "key_pattern", "key_pattern_hint"]) {
      if (apiKey[key] === null) delete apiKey[key];
    }
    doc.api_key = apiKey;
  }
  if (isObject(doc.registration)) {
    const registration: Record<string, unknown> = { ...doc.registration };
    const endpoint = registration.registration_endpoint;
    if (endpoint !== undefined && isObject(doc.oauth) && !("registration_endpoint" in doc.oauth)) {
      if (endpoint !== null) doc.oauth = { ...doc.oauth, registration_endpoint: endpoint };
      delete registration.registration_endpoint;
    }
    // Anything left stays under `registration` and fails validation with its path.
    if (Object.keys(registration).length === 0) delete doc.registration;
    else doc.registration = registration;
  } else if (doc.registration === null) delete doc.registration;
  if (isObject(doc.export)) {
    doc.export = upgradeExport(doc.export, doc.auth_type, original, ignored);
  }
  return { document: doc, ignored };
}

/**
 * The one-line notice for the ignored fields of `source`, or undefined when there are none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { legacyNotice } from "./legacy.ts";
 * assert.equal(
 *   legacyNotice("acme.json", [{ path: "logo", instead: "not used by authsome" }]),
 *   "acme.json: ignored fields of the Python authsome format: logo (not used by authsome)",
 * );
 * ```
 */
export function legacyNotice(source: string, ignored: readonly IgnoredField[]): string | undefined {
  if (ignored.length === 0) return undefined;
  const list = ignored.map((f) => `${f.path} (${f.instead})`).join(", ");
  return `${source}: ignored fields of the Python authsome format: ${list}`;
}

/**
 * A flat map becomes `env`; in a file of the original, `export.env.refresh_token` is dropped
 * (refresh tokens never leave the vault).
 */
function upgradeExport(
  value: Record<string, unknown>,
  authType: unknown,
  original: boolean,
  ignored: IgnoredField[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  const token = authType === "api_key" ? "api_key" : "access_token";
  const fieldOf = (symbol: string) =>
    symbol === "BASE_URL" ? "base_url" : symbol === "API_URL" ? "api_url" : token;
  const flat = Object.keys(out).filter((k) => k !== "env" && typeof out[k] === "string");
  if (flat.length > 0 && flat.every((k) => FLAT_EXPORT.includes(out[k] as string))) {
    const env: Record<string, string[]> = isObject(out.env)
      ? { ...(out.env as Record<string, string[]>) }
      : {};
    for (const variable of flat) {
      const field = fieldOf(out[variable] as string);
      const list = env[field];
      env[field] = Array.isArray(list)
        ? [...list, variable]
        : typeof list === "string"
        ? [list, variable]
        : [variable];
      delete out[variable];
    }
    out.env = env;
  }
  // Our own format refuses it (schema.ts); the original's bundled files all map it.
  if ((original || flat.length > 0) && isObject(out.env) && "refresh_token" in out.env) {
    const env: Record<string, unknown> = { ...out.env };
    delete env.refresh_token;
    out.env = env;
    ignored.push({
      path: "export.env.refresh_token",
      instead: "refresh tokens never leave the vault",
    });
  }
  return out;
}

function rename(doc: Record<string, unknown>, from: string, to: string): void {
  if (!(from in doc)) return;
  // Both given: the old name is left in place and fails validation as an unknown field.
  if (to in doc) return;
  doc[to] = doc[from];
  delete doc[from];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
