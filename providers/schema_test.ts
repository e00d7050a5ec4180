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
