import assert from "node:assert/strict";
import { childEnv, type ChildEnvInput, PLACEHOLDER, realEnv } from "./child_env.ts";

const PROXY_URL = "http://authsome:run-secret@127.0.0.1:41234";
const SECRETS = {
  OPENAI_API_KEY: "sk-proj-REALOPENAIKEY",
  GITHUB_TOKEN: "gho_REALGITHUBTOKEN",
  GH_TOKEN: "gho_REALGHTOKEN",
  GITHUB_CLIENT_SECRET: "REALCLIENTSECRET",
  MAILCHIMP_API_KEY: "REALMAILCHIMPKEY-us1",
  AUTHSOME_MASTER_KEY: "UkVBTE1BU1RFUktFWVJFQUxNQVNURVJLRVlSRUFMTUFTVEU=",
  AUTHSOME_PASSPHRASE: "real passphrase",
  AUTHSOME_HOME: "/home/me/.authsome-real-home",
};

function input(overrides: Partial<ChildEnvInput> = {}): ChildEnvInput {
  return {
    parent: { PATH: "/usr/bin:/bin", HOME: "/home/me", LANG: "C.UTF-8", ...SECRETS },
    proxyUrl: PROXY_URL,
    caBundlePath: "/tmp/authsome-run-1/ca-bundle.pem",
    caCertPath: "/home/me/.authsome/proxy/ca.pem",
    placeholders: ["OPENAI_API_KEY", "GITHUB_TOKEN", "GH_TOKEN"],
    credentialVars: [
      "OPENAI_API_KEY",
      "GITHUB_TOKEN",
      "GH_TOKEN",
      "GITHUB_CLIENT_ID",
      "GITHUB_CLIENT_SECRET",
      "MAILCHIMP_API_KEY",
    ],
    ...overrides,
  };
}

Deno.test("the child gets every proxy, CA and mode variable", () => {
  const env = childEnv(input());
  const expected: Array<[string, string]> = [
    ["HTTP_PROXY", PROXY_URL],
    ["HTTPS_PROXY", PROXY_URL],
    ["http_proxy", PROXY_URL],
    ["https_proxy", PROXY_URL],
    ["NO_PROXY", "127.0.0.1,localhost,::1"],
    ["no_proxy", "127.0.0.1,localhost,::1"],
    ["AUTHSOME_PROXY_MODE", "true"],
    ["SSL_CERT_FILE", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["REQUESTS_CA_BUNDLE", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["CURL_CA_BUNDLE", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["GIT_SSL_CAINFO", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["DENO_CERT", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["PIP_CERT", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["AWS_CA_BUNDLE", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["HTTPLIB2_CA_CERTS", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "/tmp/authsome-run-1/ca-bundle.pem"],
    ["NODE_EXTRA_CA_CERTS", "/home/me/.authsome/proxy/ca.pem"],
    ["NODE_USE_ENV_PROXY", "1"],
    ["PATH", "/usr/bin:/bin"],
    ["HOME", "/home/me"],
    ["LANG", "C.UTF-8"],
  ];
  for (const [name, value] of expected) assert.equal(env[name], value, name);
});

Deno.test("the child gets placeholders and no credential or master key", () => {
  const env = childEnv(input());
  const table: Array<[string, string | undefined]> = [
    ["OPENAI_API_KEY", PLACEHOLDER],
    ["GITHUB_TOKEN", PLACEHOLDER],
    ["GH_TOKEN", PLACEHOLDER],
    ["GITHUB_CLIENT_SECRET", undefined],
    ["GITHUB_CLIENT_ID", undefined],
    ["MAILCHIMP_API_KEY", undefined],
    ["AUTHSOME_MASTER_KEY", undefined],
    ["AUTHSOME_PASSPHRASE", undefined],
    ["AUTHSOME_HOME", undefined],
  ];
  for (const [name, value] of table) assert.equal(env[name], value, name);
  assert.equal(PLACEHOLDER, "authsome-proxy-managed");
});

Deno.test("no real secret survives anywhere in the child environment", () => {
  const env = childEnv(input());
  const everything = JSON.stringify(env);
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.equal(everything.includes(secret), false, name);
  }
  // Also when the caller forgets the master key variables in credentialVars.
  const bare = childEnv(input({ credentialVars: Object.keys(SECRETS).slice(0, 5) }));
  assert.equal(bare.AUTHSOME_MASTER_KEY, undefined);
  assert.equal(bare.AUTHSOME_PASSPHRASE, undefined);
  assert.equal(bare.AUTHSOME_HOME, undefined);
  for (const secret of Object.values(SECRETS)) {
    assert.equal(JSON.stringify(bare).includes(secret), false, secret);
  }
});

Deno.test("credential names are removed exactly, other variables stay", () => {
  const env = childEnv(input({
    parent: { OPENAI_API_KEY: "sk-1", openai_api_key: "kept", OPENAI_API_KEY_FILE: "/f" },
    placeholders: [],
    credentialVars: ["OPENAI_API_KEY"],
  }));
  assert.equal(env.OPENAI_API_KEY, undefined);
  assert.equal(env.openai_api_key, "kept");
  assert.equal(env.OPENAI_API_KEY_FILE, "/f");
});

Deno.test("a placeholder is set even when the parent had no such variable", () => {
  const env = childEnv(input({ parent: {}, placeholders: ["ANTHROPIC_API_KEY"] }));
  assert.equal(env.ANTHROPIC_API_KEY, PLACEHOLDER);
});

Deno.test("NO_PROXY merges both spellings, keeps order and drops repeats", () => {
  const table: Array<[Record<string, string>, string]> = [
    [{}, "127.0.0.1,localhost,::1"],
    [{ NO_PROXY: "corp.test" }, "corp.test,127.0.0.1,localhost,::1"],
    [{ no_proxy: "corp.test" }, "corp.test,127.0.0.1,localhost,::1"],
    [
      { NO_PROXY: " a.test , b.test,,", no_proxy: "b.test,c.test" },
      "a.test,b.test,c.test,127.0.0.1,localhost,::1",
    ],
    [{ NO_PROXY: "localhost,a.test,127.0.0.1" }, "localhost,a.test,127.0.0.1,::1"],
    [{ NO_PROXY: "LOCALHOST", no_proxy: "A.test,a.TEST" }, "LOCALHOST,A.test,127.0.0.1,::1"],
    [{ NO_PROXY: "", no_proxy: " " }, "127.0.0.1,localhost,::1"],
  ];
  for (const [parent, expected] of table) {
    const env = childEnv(input({ parent }));
    assert.equal(env.NO_PROXY, expected, JSON.stringify(parent));
    assert.equal(env.no_proxy, expected, JSON.stringify(parent));
  }
});

Deno.test("the parent's proxy and CA variables are overwritten, ALL_PROXY is left alone", () => {
  const env = childEnv(input({
    parent: {
      HTTPS_PROXY: "http://corp:3128",
      http_proxy: "http://corp:3128",
      ALL_PROXY: "socks5://corp:1080",
      SSL_CERT_FILE: "/etc/ssl/corp.pem",
      NODE_EXTRA_CA_CERTS: "/etc/ssl/corp.pem",
      AUTHSOME_PROXY_MODE: "false",
      NODE_USE_ENV_PROXY: "0",
    },
  }));
  assert.equal(env.NODE_USE_ENV_PROXY, "1", "a parent's 0 would send Node past the proxy");
  assert.equal(env.HTTPS_PROXY, PROXY_URL);
  assert.equal(env.http_proxy, PROXY_URL);
  assert.equal(env.ALL_PROXY, "socks5://corp:1080");
  assert.equal(env.all_proxy, undefined);
  assert.equal(env.SSL_CERT_FILE, "/tmp/authsome-run-1/ca-bundle.pem");
  assert.equal(env.NODE_EXTRA_CA_CERTS, "/home/me/.authsome/proxy/ca.pem");
  assert.equal(env.AUTHSOME_PROXY_MODE, "true");
});

Deno.test("a placeholder cannot switch the proxy or the CA off", () => {
  const env = childEnv(
    input({ placeholders: ["HTTPS_PROXY", "NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "X_KEY"] }),
  );
  assert.equal(env.HTTPS_PROXY, PROXY_URL);
  assert.equal(env.NODE_USE_ENV_PROXY, "1");
  assert.equal(env.NODE_EXTRA_CA_CERTS, "/home/me/.authsome/proxy/ca.pem");
  assert.equal(env.X_KEY, PLACEHOLDER);
});

Deno.test("a malformed placeholder name is refused", () => {
  for (const name of ["", "A=B", "A B", "A\0B", "1A"]) {
    assert.throws(() => childEnv(input({ placeholders: [name] })), { code: "INVALID_INPUT" }, name);
  }
  assert.throws(() => childEnv(input({ placeholders: ["A=B"] })), {
    message: '"A=B" is not an environment variable name',
    hint: "Fix export.env in the provider definition",
  });
});

Deno.test("the parent object is not modified and odd names stay plain entries", () => {
  const parent: Record<string, string> = { ...SECRETS, PATH: "/bin" };
  Object.defineProperty(parent, "__proto__", { value: "x", enumerable: true });
  const before = JSON.stringify(parent);
  const env = childEnv(input({ parent }));
  assert.equal(JSON.stringify(parent), before);
  assert.equal(Object.getPrototypeOf(env), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(env, "__proto__")?.value, "x");
});

Deno.test("run --env gets the real values and nothing else secret", () => {
  const table: Array<[string, Parameters<typeof realEnv>[0], Record<string, string>]> = [
    [
      "stale parent values are replaced",
      {
        parent: { PATH: "/bin", GH_TOKEN: "old", GITHUB_TOKEN: "old" },
        credentialVars: ["GH_TOKEN", "GITHUB_TOKEN"],
        values: { GITHUB_TOKEN: "gho_new", GH_TOKEN: "gho_new" },
      },
      { PATH: "/bin", GITHUB_TOKEN: "gho_new", GH_TOKEN: "gho_new" },
    ],
    [
      "credentials of other providers are removed",
      {
        parent: { PATH: "/bin", OPENAI_API_KEY: "sk-other", GITHUB_CLIENT_SECRET: "s" },
        credentialVars: ["OPENAI_API_KEY", "GITHUB_CLIENT_SECRET", "GITHUB_TOKEN"],
        values: { GITHUB_TOKEN: "gho_new" },
      },
      { PATH: "/bin", GITHUB_TOKEN: "gho_new" },
    ],
    [
      "the master key and the home are never passed on",
      {
        parent: {
          PATH: "/bin",
          AUTHSOME_MASTER_KEY: "k",
          AUTHSOME_PASSPHRASE: "p",
          AUTHSOME_HOME: "h",
        },
        credentialVars: [],
        values: {
          AUTHSOME_MASTER_KEY: "k2",
          AUTHSOME_PASSPHRASE: "p2",
          AUTHSOME_HOME: "h2",
          X: "1",
        },
      },
      { PATH: "/bin", X: "1" },
    ],
  ];
  for (const [name, args, expected] of table) assert.deepEqual(realEnv(args), expected, name);
});

Deno.test("non-secret values are set as they are, after the placeholders and before the proxy variables", () => {
  const env = childEnv(input({
    placeholders: ["ACME_TOKEN", "ACME_BASE"],
    values: { ACME_BASE: "https://acme.test/api", ACME_API: "api.acme.test", HTTPS_PROXY: "x" },
  }));
  assert.equal(env.ACME_TOKEN, PLACEHOLDER);
  assert.equal(env.ACME_BASE, "https://acme.test/api");
  assert.equal(env.ACME_API, "api.acme.test");
  assert.equal(env.HTTPS_PROXY, PROXY_URL);
  assert.throws(
    () => childEnv(input({ values: { "BAD NAME": "x" } })),
    /"BAD NAME" is not an environment variable name/,
  );
});
