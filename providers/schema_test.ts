import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { fillBaseUrl, parseProvider } from "./schema.ts";

const bundledDir = new URL("./bundled/", import.meta.url);
const bundled: Array<[string, unknown]> = [];
for (const entry of Deno.readDirSync(bundledDir)) {
  if (!entry.name.endsWith(".json")) continue;
  bundled.push([entry.name, JSON.parse(Deno.readTextFileSync(new URL(entry.name, bundledDir)))]);
}
bundled.sort(([a], [b]) => a < b ? -1 : 1);

Deno.test("every bundled provider file is valid and named after its provider", () => {
  assert.ok(bundled.length >= 52, `only ${bundled.length} bundled providers`);
  const names = new Set<string>();
  for (const [file, doc] of bundled) {
    const def = parseProvider(doc, `bundled/${file}`);
    assert.equal(`${def.name}.json`, file);
    assert.ok(!names.has(def.name), `duplicate ${def.name}`);
    names.add(def.name);
    assert.ok(def.api_url.length > 0, `${file} has no api_url: the proxy could not route it`);
    assert.ok(Object.keys(def.export.env).length > 0, `${file} exports nothing`);
  }
  for (
    const required of [
      "openai",
      "github",
      "google",
      "anthropic",
      "gemini",
      "groq",
      "mistral",
      "openrouter",
      "perplexity",
      "stripe",
      "tavily",
    ]
  ) assert.ok(names.has(required), `missing bundled provider ${required}`);
});

Deno.test("bundled OAuth providers never export refresh tokens and use https endpoints", () => {
  for (const [file, doc] of bundled) {
    const def = parseProvider(doc, file);
    if (def.oauth === undefined) continue;
    for (const url of [def.oauth.authorization_url, def.oauth.token_url]) {
      assert.match(fillBaseUrl(url, def.oauth.base_url ?? "https://example.test"), /^https:\/\//);
    }
  }
});

const base = {
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  api_url: "api.acme.test",
  oauth: { authorization_url: "https://acme.test/authorize", token_url: "https://acme.test/token" },
};

const bad: Array<[string, Record<string, unknown>, string]> = [
  [
    "an http resource off loopback",
    { oauth: { ...base.oauth, resource: "http://mcp.acme.test/mcp" } },
    "oauth.resource: must be an https URL",
  ],
  [
    "a resource with a fragment",
    { oauth: { ...base.oauth, resource: "https://mcp.acme.test/mcp#x" } },
    "oauth.resource: must be an https URL without a fragment (RFC 8707)",
  ],
  [
    "http token endpoint",
    { oauth: { ...base.oauth, token_url: "http://acme.test/t" } },
    "oauth.token_url: must be an https URL",
  ],
  ["missing display_name", { display_name: undefined }, "display_name: is required"],
  ["unknown auth_type", { auth_type: "saml" }, "auth_type: must be one of oauth2, api_key"],
  [
    "flow of another auth type",
    { flow: "api_key" },
    "flow: must be one of pkce, device_code, dcr_pkce",
  ],
  ["upper-case name", { name: "Acme" }, "name: must be 1-64 lower-case"],
  ["unknown top-level field", { api_urls: "x" }, "api_urls: is not a known field"],
  [
    "unknown oauth field",
    { oauth: { ...base.oauth, tokn_url: "https://x" } },
    "oauth.tokn_url: is not a known field",
  ],
  ["bad api_url host", { api_url: "not a host" }, "api_url: must be a host name"],
  [
    "bad api_url regex",
    { api_url: ["ok.test", "regex:("] },
    "api_url[1]: is not a valid regular expression",
  ],
  [
    "refresh token export",
    { export: { env: { refresh_token: "X" } } },
    "export.env.refresh_token: cannot be exported",
  ],
  [
    "lower-case env name",
    { export: { env: { access_token: "acme_token" } } },
    "export.env.access_token: must be an environment variable name",
  ],
  [
    "device flow without endpoint",
    { flow: "device_code" },
    "oauth.device_authorization_url: is required",
  ],
  ["oauth2 without oauth", { oauth: undefined }, "oauth: is required when auth_type is oauth2"],
  [
    "credentials in a URL",
    { oauth: { ...base.oauth, token_url: "https://u:p@acme.test/t" } },
    "must not contain a user name",
  ],
  ["schema version 2", { schema_version: 2 }, "schema_version: must be 1"],
];

for (const [what, change, message] of bad) {
  Deno.test(`provider validation reports the path of the first bad field: ${what}`, () => {
    const doc: Record<string, unknown> = { ...base, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete doc[k];
    assert.throws(
      () => parseProvider(doc, "acme.json"),
      (e: unknown) =>
        e instanceof AuthsomeError && e.exitCode === 65 &&
        e.message.startsWith("acme.json: ") && e.message.includes(message),
      `expected "${message}"`,
    );
  });
}

Deno.test("api-key provider defaults: Authorization Bearer header and NAME_API_KEY export", () => {
  const def = parseProvider(
    { name: "my-tool", display_name: "My Tool", auth_type: "api_key", api_url: "api.my.test" },
    "my-tool.json",
  );
  assert.equal(def.flow, "api_key");
  assert.deepEqual(def.api_key, { header_name: "Authorization", header_prefix: "Bearer" });
  assert.deepEqual(def.export.env, { api_key: ["MY_TOOL_API_KEY"] });
});

Deno.test("http endpoints are accepted only on loopback hosts", () => {
  const local = parseProvider({
    ...base,
    oauth: { authorization_url: "http://127.0.0.1:9/a", token_url: "http://localhost:9/t" },
  }, "acme.json");
  assert.equal(local.oauth?.token_url, "http://localhost:9/t");
});

Deno.test("{base_url} is filled without a trailing slash, and required when used", () => {
  assert.equal(
    fillBaseUrl("{base_url}/login", "https://ghe.example/"),
    "https://ghe.example/login",
  );
  assert.throws(() => fillBaseUrl("{base_url}/login", undefined), /base URL/);
});

// -----------------------------------------------------------------------------------------------
// Provider files of the Python original (shared/reference/authsome-reference.md §2)

/** A provider file as the original writes it (OLD bundled shape). */
const pythonFile = () => ({
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  flow: "pkce",
  host_url: "api.acme.test",
  docs: "https://acme.test/docs",
  oauth: {
    authorization_url: "https://acme.test/authorize",
    token_url: "https://acme.test/token",
    revocation_url: null,
    device_authorization_url: null,
    scopes: ["read"],
    pkce: true,
    supports_device_flow: false,
    supports_dcr: false,
    registration_endpoint: null,
    base_url: null,
  },
  export: { env: { access_token: "ACME_ACCESS_TOKEN", refresh_token: "ACME_REFRESH_TOKEN" } },
  metadata: {},
});

const legacy: Array<{
  field: string;
  change: (doc: Record<string, unknown>) => void;
  check: (def: ReturnType<typeof parseProvider>) => void;
  ignored: string[];
}> = [
  {
    field: "host_url → api_url",
    change: (d) => void (d.host_url = "https://api.acme.test/v2"),
    check: (def) => assert.deepEqual(def.api_url, ["https://api.acme.test/v2"]),
    ignored: [],
  },
  {
    field: "docs_url → docs",
    change: (d) => {
      delete d.docs;
      d.docs_url = "https://acme.test/setup";
    },
    check: (def) => assert.equal(def.docs, "https://acme.test/setup"),
    ignored: [],
  },
  {
    field: "registration.registration_endpoint → oauth.registration_endpoint",
    change: (d) => void (d.registration = { registration_endpoint: "https://acme.test/register" }),
    check: (def) => assert.equal(def.oauth?.registration_endpoint, "https://acme.test/register"),
    ignored: [],
  },
  {
    field: "oauth.registration_endpoint (the original's first place)",
    change: (d) =>
      void ((d.oauth as Record<string, unknown>).registration_endpoint = "https://acme.test/reg"),
    check: (def) => assert.equal(def.oauth?.registration_endpoint, "https://acme.test/reg"),
    ignored: [],
  },
  {
    field: "oauth.pkce",
    change: (d) => void ((d.oauth as Record<string, unknown>).pkce = false),
    check: (def) => assert.equal(def.flow, "pkce"),
    ignored: [],
  },
  {
    field: "oauth.supports_device_code",
    change: (d) => void ((d.oauth as Record<string, unknown>).supports_device_code = true),
    check: (def) => assert.equal(def.oauth?.device_authorization_url, undefined),
    ignored: ["oauth.supports_device_code"],
  },
  {
    field: "type and logo",
    change: (d) => {
      d.type = "app";
      d.logo = "https://acme.test/logo.svg";
    },
    check: (def) => assert.equal(def.display_name, "Acme"),
    ignored: ["type", "logo"],
  },
  {
    field: "description",
    change: (d) => void (d.description = "Acme's API"),
    check: (def) => assert.equal(def.description, "Acme's API"),
    ignored: [],
  },
  {
    field: "metadata",
    change: (d) => void (d.metadata = { category: "dev" }),
    check: (def) => assert.equal(def.name, "acme"),
    ignored: [],
  },
  {
    field: "flat export map (NEW)",
    change: (d) => void (d.export = { ACME_TOKEN: "ACCESS_TOKEN", ACME_URL: "API_URL" }),
    check: (def) =>
      assert.deepEqual(def.export.env, { access_token: ["ACME_TOKEN"], api_url: ["ACME_URL"] }),
    ignored: [],
  },
  {
    field: "nulls for optional fields",
    change: (d) => {
      d.description = null;
      d.logo = null;
      d.docs = null;
    },
    check: (def) => assert.equal(def.docs, undefined),
    ignored: [],
  },
];

for (const { field, change, check, ignored } of legacy) {
  Deno.test(`a provider file of the Python original registers as is: ${field}`, () => {
    const doc: Record<string, unknown> = pythonFile();
    change(doc);
    const dropped: Array<{ path: string; instead: string }> = [];
    const def = parseProvider(doc, "acme.json", dropped);
    check(def);
    // Always ignored in the base file: pkce, supports_device_flow, supports_dcr, export.env.refresh_token.
    const base = ["oauth.pkce", "oauth.supports_device_flow", "oauth.supports_dcr"];
    assert.deepEqual(
      dropped.map((f) => f.path).sort(),
      [
        ...base,
        ...ignored,
        ...(field.startsWith("flat") ? [] : ["export.env.refresh_token"]),
      ].sort(),
    );
    assert.deepEqual(def.api_url.length > 0, true);
    assert.equal(def.export.env.access_token !== undefined, true, "exports the access token");
    assert.ok(dropped.every((f) => f.instead.length > 0), "each says what replaces it");
  });
}

Deno.test("the legacy notice is one line naming every ignored field and what replaces it", async () => {
  const { legacyNotice } = await import("./legacy.ts");
  const dropped: Array<{ path: string; instead: string }> = [];
  parseProvider(pythonFile(), "acme.json", dropped);
  const line = legacyNotice("acme.json", dropped)!;
  assert.equal(line.includes("\n"), false);
  assert.match(line, /^acme\.json: ignored fields of the Python authsome format: /);
  assert.match(line, /oauth\.pkce \(PKCE \(S256\) is always used\)/);
  assert.match(line, /export\.env\.refresh_token \(refresh tokens never leave the vault\)/);
});

const stillBad: Array<[string, (d: Record<string, unknown>) => void, string]> = [
  ["unknown top-level field", (d) => void (d.colour = "red"), "colour: is not a known field"],
  [
    "unknown oauth field next to legacy ones",
    (d) => void ((d.oauth as Record<string, unknown>).pkce_method = "S256"),
    "oauth.pkce_method: is not a known field",
  ],
  [
    "unknown registration field",
    (d) => void (d.registration = { registration_endpoint: "https://acme.test/r", x: 1 }),
    "registration.x: is not a known field",
  ],
  [
    "host_url and api_url both given",
    (d) => void (d.api_url = "api.acme.test"),
    "host_url: is not a known field",
  ],
  ["browser auth type", (d) => void (d.auth_type = "browser"), "auth_type: must be one of"],
  [
    "an issuer with a query",
    (d) => void ((d.oauth as Record<string, unknown>).issuer = "https://acme.test/?x=1"),
    "oauth.issuer: must be a URL without query or fragment",
  ],
];

for (const [what, change, message] of stillBad) {
  Deno.test(`a Python-format file still fails with the JSON path of an unknown field: ${what}`, () => {
    const doc: Record<string, unknown> = pythonFile();
    change(doc);
    assert.throws(
      () => parseProvider(doc, "acme.json"),
      (e: unknown) =>
        e instanceof AuthsomeError && e.exitCode === 65 && e.message.includes(message),
      `expected "${message}"`,
    );
  });
}

Deno.test("oauth.issuer is kept as written (a path, a trailing slash)", () => {
  for (const issuer of ["https://acme.okta.test/oauth2/default", "https://acme.auth0.test/"]) {
    const def = parseProvider({ ...base, oauth: { ...base.oauth, issuer } }, "acme.json");
    assert.equal(def.oauth?.issuer, issuer);
  }
});

Deno.test("oauth.resource (RFC 8707) is kept as written", () => {
  const resource = "https://mcp.acme.test/mcp";
  const def = parseProvider({ ...base, oauth: { ...base.oauth, resource } }, "acme.json");
  assert.equal(def.oauth?.resource, resource);
});
