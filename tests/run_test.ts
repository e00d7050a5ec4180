/**
 * `authsome run` end to end: the real CLI runs real clients (curl, Python requests, Deno fetch)
 * behind its proxy against a local HTTPS server. The provider host api.acme.test is mapped to
 * 127.0.0.1 inside a private mount namespace (`unshare -m` + a bind-mounted /etc/hosts), so the
 * machine's own /etc/hosts is never touched and no traffic leaves loopback.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createAuthService } from "../mod.ts";
import { AuthsomeError } from "../errors.ts";
import { createCa, createLeafIssuer } from "../proxy/certs.ts";
import { LAUNCHER, readTree, runCli, tempHome } from "./helpers.ts";
import { flipBase64, storedRows, tamperRow } from "./support/store_file.ts";

const KEY = "acme-real-secret-0123456789";
const WORK_KEY = "acme-work-secret-9876543210";

interface Upstream {
  port: number;
  caFile: string;
  seen: Array<{ path: string; headers: Record<string, string> }>;
  close(): Promise<void>;
}

/** An HTTPS server for `host` (default api.acme.test) on 127.0.0.1 that echoes what it received. */
async function startUpstream(dir: string, host = "api.acme.test"): Promise<Upstream> {
  const ca = await createCa({ commonName: `upstream test CA for ${host}` });
  const leaf = await createLeafIssuer(ca).issue(host);
  const seen: Upstream["seen"] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: leaf.certPem, key: leaf.keyPem, onListen() {} },
    (req) => {
      const headers = Object.fromEntries(req.headers);
      const path = new URL(req.url).pathname;
      seen.push({ path, headers });
      return Response.json({ path, headers });
    },
  );
  const caFile = join(dir, `upstream-ca-${host}.pem`);
  await Deno.writeTextFile(caFile, ca.certPem);
  return { port: server.addr.port, caFile, seen, close: () => server.shutdown() };
}

interface Fixture {
  home: string;
  dir: string;
  upstream: Upstream;
  hosts: string;
  /** Runs `./authsome ARGS` in the namespace where api.acme.test is 127.0.0.1. */
  run(
    args: string[],
    env?: Record<string, string>,
    cwd?: string,
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  [Symbol.asyncDispose](): Promise<void>;
}

async function fixture(): Promise<Fixture> {
  const tmp = await tempHome();
  const dir = join(tmp.home, "..");
  const upstream = await startUpstream(dir);
  const hosts = join(dir, "hosts");
  await Deno.writeTextFile(
    hosts,
    (await Deno.readTextFile("/etc/hosts")) + "\n127.0.0.1 api.acme.test\n",
  );
  const definition = {
    name: "acme",
    display_name: "Acme",
    auth_type: "api_key",
    api_url: "api.acme.test",
    api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "ACME_API_KEY" },
  };
  await Deno.writeTextFile(join(dir, "acme.json"), JSON.stringify(definition));
  const home = tmp.home;
  assert.equal((await runCli(["provider", "register", join(dir, "acme.json")], { home })).code, 0);
  assert.equal(
    (await runCli(["login", "acme"], { home, env: { ACME_API_KEY: KEY } })).code,
    0,
  );
  assert.equal(
    (await runCli(["login", "acme", "-c", "work"], { home, env: { ACME_API_KEY: WORK_KEY } })).code,
    0,
  );
  return {
    home,
    dir,
    upstream,
    hosts,
    async run(args, env = {}, cwd) {
      const script = 'mount --bind "$0" /etc/hosts && exec "$@"';
      const out = await new Deno.Command("unshare", {
        args: ["-m", "sh", "-c", script, hosts, LAUNCHER, ...args],
        ...(cwd ? { cwd } : {}),
        clearEnv: true,
        env: {
          PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
          HOME: Deno.env.get("HOME") ?? "/root",
          AUTHSOME_HOME: home,
          NO_COLOR: "1",
          // The proxy verifies upstream TLS; the test server's CA is trusted the way Node does it.
          NODE_EXTRA_CA_CERTS: upstream.caFile,
          ...env,
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
    },
    async [Symbol.asyncDispose]() {
      await upstream.close();
      await tmp[Symbol.asyncDispose]();
    },
  };
}

function noSecret(text: string, what: string) {
  assert.ok(!text.includes(KEY) && !text.includes(WORK_KEY), `${what} holds a real key:\n${text}`);
}

Deno.test("run: curl's request gets the real header from the proxy while curl holds a placeholder", async () => {
  await using f = await fixture();
  const url = `https://api.acme.test:${f.upstream.port}/v1/things?x=1`;
  const r = await f.run([
    "run",
    "--",
    "sh",
    "-c",
    'curl -sS -H "x-acme-key: $ACME_API_KEY" "$0"; echo; echo "child sees: $ACME_API_KEY"',
    url,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const seen = f.upstream.seen.at(-1)!;
  assert.equal(seen.path, "/v1/things");
  assert.equal(seen.headers["x-acme-key"], KEY, "the upstream got the real key");
  assert.match(r.stdout, /child sees: authsome-proxy-managed/);
  assert.ok(!("proxy-authorization" in seen.headers), "the proxy secret is not forwarded");
});

Deno.test("run: Python requests and Deno fetch get the header injected too", async () => {
  await using f = await fixture();
  const url = `https://api.acme.test:${f.upstream.port}/v1/py`;
  const py = await f.run([
    "run",
    "--",
    "python3",
    "-c",
    "import requests,sys; r = requests.get(sys.argv[1]); print(r.status_code)",
    url,
  ]);
  assert.equal(py.code, 0, py.stderr);
  assert.match(py.stdout, /200/);
  assert.equal(f.upstream.seen.at(-1)!.headers["x-acme-key"], KEY);

  const deno = await f.run([
    "run",
    "--",
    Deno.execPath(),
    "eval",
    "const r = await fetch(Deno.args[0]); console.log(r.status);",
    url.replace("/v1/py", "/v1/deno"),
  ]);
  assert.equal(deno.code, 0, deno.stderr);
  assert.equal(f.upstream.seen.at(-1)!.path, "/v1/deno");
  assert.equal(f.upstream.seen.at(-1)!.headers["x-acme-key"], KEY);
});

Deno.test("run --connection acme=work injects that connection's key", async () => {
  await using f = await fixture();
  const url = `https://api.acme.test:${f.upstream.port}/v1/work`;
  const r = await f.run(["run", "--connection", "acme=work", "--", "curl", "-sS", url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(f.upstream.seen.at(-1)!.headers["x-acme-key"], WORK_KEY);
});

Deno.test("run: the child's environment holds placeholders, proxy and CA variables, never a secret", async () => {
  await using f = await fixture();
  const r = await f.run(["run", "--", "env"], {
    ACME_API_KEY: "leaked-from-parent",
    // A provider authsome holds no connection for: the user's own variable passes through.
    GROQ_API_KEY: "users-own-groq-key",
  });
  assert.equal(r.code, 0, r.stderr);
  const env = Object.fromEntries(
    r.stdout.trim().split("\n").map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assert.equal(env.ACME_API_KEY, "authsome-proxy-managed", "the parent's value is replaced");
  assert.equal(env.GROQ_API_KEY, "users-own-groq-key", "unmanaged variables are left alone");
  assert.match(env.HTTPS_PROXY ?? "", /^http:\/\/authsome:[^@]+@127\.0\.0\.1:\d+$/);
  assert.match(env.NO_PROXY ?? "", /127\.0\.0\.1/);
  assert.equal(env.AUTHSOME_PROXY_MODE, "true");
  for (
    const name of [
      "SSL_CERT_FILE",
      "REQUESTS_CA_BUNDLE",
      "CURL_CA_BUNDLE",
      "DENO_CERT",
      "GIT_SSL_CAINFO",
    ]
  ) {
    assert.ok(env[name]?.endsWith("ca-bundle.pem"), `${name}=${env[name]}`);
  }
  noSecret(r.stdout, "the child's environment");
  noSecret(r.stderr, "stderr");
  for (const [path, text] of await readTree(f.home)) noSecret(text, path);
});

Deno.test("run --env passes the real value instead, and no proxy", async () => {
  await using f = await fixture();
  const r = await f.run([
    "run",
    "--env",
    "--",
    "sh",
    "-c",
    'printf "%s|%s" "$ACME_API_KEY" "$HTTPS_PROXY"',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${KEY}|`);
});

Deno.test("run exits with the command's status: its code, 127 not found, 126 not executable, 128+N on a signal", async () => {
  await using f = await fixture();
  assert.equal((await f.run(["run", "--", "sh", "-c", "exit 7"])).code, 7);
  const missing = await f.run(["run", "--", "no-such-command-xyz"]);
  assert.equal(missing.code, 127, missing.stderr);
  assert.match(missing.stderr, /^error: Command not found: no-such-command-xyz$/m);
  const file = join(f.dir, "not-executable.sh");
  await Deno.writeTextFile(file, "echo hi\n");
  await Deno.chmod(file, 0o644);
  assert.equal((await f.run(["run", "--", file])).code, 126);
  assert.equal((await f.run(["run", "--", "sh", "-c", "kill -TERM $$"])).code, 143);
});

/** Maps `names` to 127.0.0.1 in the fixture's private hosts file. */
async function addHosts(f: Fixture, ...names: string[]): Promise<void> {
  const extra = names.map((n) => `127.0.0.1 ${n}\n`).join("");
  await Deno.writeTextFile(f.hosts, (await Deno.readTextFile(f.hosts)) + extra);
}

/** curl through `run`, trusting only `caFile`: prints the HTTP status, or fails on TLS. */
function curlArgs(caFile: string, url: string): string[] {
  return [
    "run",
    "--",
    "curl",
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "--cacert",
    caFile,
    url,
  ];
}

Deno.test("run: a host without a credential is tunnelled, so the client sees the upstream's own certificate and no header is added", async () => {
  await using f = await fixture();
  const other = await startUpstream(f.dir, "other.acme.test");
  try {
    await addHosts(f, "other.acme.test");
    // curl trusts only the upstream's CA: it succeeds only if the TLS session is the upstream's
    // own, end to end; a certificate from authsome's CA (interception) would fail.
    const r = await f.run(
      curlArgs(other.caFile, `https://other.acme.test:${other.port}/v1/tunnel`),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "200");
    const seen = other.seen.find((s) => s.path === "/v1/tunnel")!;
    assert.ok(seen !== undefined, "the request reached the upstream");
    assert.equal(seen.headers["x-acme-key"], undefined, "no credential for another host");
    // The routed host, by contrast, is intercepted: the same curl, trusting only the upstream's
    // CA, refuses authsome's certificate.
    const routed = await f.run(
      curlArgs(f.upstream.caFile, `https://api.acme.test:${f.upstream.port}/v1/x`),
    );
    assert.notEqual(routed.code, 0, "the provider host is decrypted by the proxy");
    assert.match(routed.stderr, /certificate/i);
  } finally {
    await other.close();
  }
});

Deno.test("run: look-alike hosts (a suffix, a prefix, a subdomain of another domain) get no credential", async () => {
  await using f = await fixture();
  for (const host of ["evilapi.acme.test", "api.acme.test.evil.test", "xapi.acme.test"]) {
    const lookAlike = await startUpstream(f.dir, host);
    try {
      await addHosts(f, host);
      const r = await f.run(
        curlArgs(lookAlike.caFile, `https://${host}:${lookAlike.port}/v1/look`),
      );
      assert.equal(r.code, 0, `${host}: ${r.stderr}`);
      assert.equal(r.stdout, "200");
      const seen = lookAlike.seen.find((s) => s.path === "/v1/look")!;
      assert.equal(seen.headers["x-acme-key"], undefined, `${host} got the credential`);
      noSecret(JSON.stringify(seen.headers), host);
    } finally {
      await lookAlike.close();
    }
  }
});

Deno.test("run: an upstream whose certificate is not trusted gets 502 and never the credential", async () => {
  await using f = await fixture();
  // Without NODE_EXTRA_CA_CERTS the proxy trusts only the built-in roots, not the upstream's CA.
  const r = await f.run(
    [
      "run",
      "--",
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `https://api.acme.test:${f.upstream.port}/v1/untrusted`,
    ],
    { NODE_EXTRA_CA_CERTS: "" },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "502");
  assert.ok(
    !f.upstream.seen.some((s) => s.path === "/v1/untrusted"),
    "no request reached the untrusted upstream",
  );
});

Deno.test("run: a proxy that cannot start exits 125 with one error line, the command never runs", async () => {
  await using f = await fixture();
  // The per-run folder of the CA files the child trusts cannot be made: TMPDIR is a file.
  const notAFolder = join(f.dir, "tmp-is-a-file");
  await Deno.writeTextFile(notAFolder, "a file where the folder should be");
  const marker = join(f.dir, "ran");
  const r = await f.run(["run", "--", "touch", marker], { TMPDIR: notAFolder });
  assert.equal(r.code, 125, r.stderr);
  assert.equal(
    r.stderr,
    "error: The proxy could not start: no temporary folder\n" +
      "hint: Check TMPDIR, or use 'authsome run --env'\n",
  );
  assert.ok(!r.stderr.includes("    at "), r.stderr);
  assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
});

Deno.test("run: an api_url with {base_url} follows the --base-url given at login, and only its path gets the key", async () => {
  await using f = await fixture();
  const host = "git.acme.test";
  const selfHosted = await startUpstream(f.dir, host);
  try {
    await addHosts(f, host);
    const definition = {
      name: "gitacme",
      display_name: "Self-hosted Acme",
      auth_type: "api_key",
      api_url: "{base_url}/api",
      api_key: { header_name: "x-acme-key", header_prefix: null, env_var: "GITACME_TOKEN" },
    };
    const file = join(f.dir, "gitacme.json");
    await Deno.writeTextFile(file, JSON.stringify(definition));
    assert.equal((await runCli(["provider", "register", file], { home: f.home })).code, 0);
    const base = `https://${host}:${selfHosted.port}/`;
    const login = await runCli(["login", "gitacme", "--base-url", base, "--stdin"], {
      home: f.home,
      stdin: WORK_KEY,
    });
    assert.equal(login.code, 0, login.stderr);
    const shown = await runCli(["get", "gitacme", "--field", "api_url"], { home: f.home });
    assert.equal(shown.stdout.trim(), `https://${host}:${selfHosted.port}/api`);

    const script =
      'curl -sSf -o /dev/null "$0/api/v4/user" && curl -sSf -o /dev/null "$0/web/login"';
    const r = await f.run(["run", "--", "sh", "-c", script, base.slice(0, -1)], {
      NODE_EXTRA_CA_CERTS: selfHosted.caFile,
    });
    assert.equal(r.code, 0, r.stderr);
    const byPath = Object.fromEntries(selfHosted.seen.map((s) => [s.path, s.headers]));
    assert.equal(byPath["/api/v4/user"]?.["x-acme-key"], WORK_KEY, "under {base_url}/api");
    assert.equal(byPath["/web/login"]?.["x-acme-key"], undefined, "outside {base_url}/api");
  } finally {
    await selfHosted.close();
  }
});

Deno.test("run: the command cannot get at a secret — the home is hidden, the revealing commands are refused, its environment holds no key", async () => {
  await using f = await fixture();
  const script = [
    'echo "files=$(find "$0" -type f 2>/dev/null | wc -l)"',
    'cat "$0/master.key" 2>/dev/null; echo "cat=$?"',
    'touch "$0/x" 2>/dev/null; echo "touch=$?"',
    'echo "home=${AUTHSOME_HOME-unset} key=${AUTHSOME_MASTER_KEY-unset} pass=${AUTHSOME_PASSPHRASE-unset}"',
    '"$1" get acme --field api_key --show-secret; echo "get=$?"',
    '"$1" export acme; echo "export=$?"',
    '"$1" run --env -- true; echo "run-env=$?"',
    'printf "%s" "$ACME_API_KEY" | "$1" login acme --connection other --stdin; echo "login=$?"',
    "env",
  ].join("\n");
  // The key given in the environment (it wins over the key file) must not reach the command.
  const masterKey = JSON.parse(await Deno.readTextFile(join(f.home, "master.key"))).key;
  const r = await f.run(["run", "--", "sh", "-c", script, f.home, LAUNCHER], {
    AUTHSOME_MASTER_KEY: masterKey,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^files=0$/m);
  assert.match(r.stdout, /^cat=1$/m);
  assert.match(r.stdout, /^touch=1$/m);
  assert.match(r.stdout, /^home=unset key=unset pass=unset$/m);
  for (const step of ["get", "export", "run-env", "login"]) {
    assert.match(r.stdout, new RegExp(`^${step}=4$`, "m"), step);
  }
  for (const refused of ["get --show-secret", "export", "run --env", "login"]) {
    assert.ok(
      r.stderr.includes(`error: "authsome ${refused}" is refused inside 'authsome run'\n`),
      r.stderr,
    );
  }
  assert.ok(!r.stderr.includes("warning"), r.stderr);
  noSecret(r.stdout + r.stderr, "the command's output");
  assert.ok(!r.stdout.includes(masterKey), "the master key reached the command");
  // Nothing was stored by the refused login.
  const list = await runCli(["list", "--json"], { home: f.home });
  assert.ok(!list.stdout.includes('"other"'), list.stdout);

  // --no-isolate: the same command can read the key file (so the hiding above is what stops it).
  const open = await f.run(["run", "--no-isolate", "--", "sh", "-c", script, f.home, LAUNCHER]);
  assert.equal(open.code, 0, open.stderr);
  assert.match(open.stdout, /^cat=0$/m);
  assert.doesNotMatch(open.stdout, /^files=0$/m);
});

Deno.test("run: where the home cannot be hidden, one warning says so and the command still runs", async () => {
  await using f = await fixture();
  const inside = join(f.home, "work");
  await Deno.mkdir(inside);
  const r = await f.run(
    ["run", "--", "sh", "-c", 'cat "$0/master.key" >/dev/null; echo "cat=$?"', f.home],
    {},
    inside,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stderr,
    `warning: the command can read the authsome home ${f.home} ` +
      "(the current folder is inside the authsome home, which would be hidden)\n",
  );
  assert.equal(r.stdout, "cat=0\n");
  // --no-isolate is a choice: no warning.
  const chosen = await f.run(["run", "--no-isolate", "--", "true"], {}, inside);
  assert.equal(chosen.code, 0, chosen.stderr);
  assert.equal(chosen.stderr, "");
});

const BETA_KEY = "beta-real-secret-5555555555";
const GAMMA_KEY = "gamma-real-secret-7777777777";

/** Registers an API-key provider for `host` and logs in its default connection with `key`. */
async function apiKeyProvider(f: Fixture, name: string, host: string, key: string) {
  const envVar = `${name.toUpperCase()}_API_KEY`;
  const file = join(f.dir, `${name}.json`);
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      name,
      display_name: name,
      auth_type: "api_key",
      api_url: host,
      api_key: { header_name: "x-api-key", header_prefix: null, env_var: envVar },
    }),
  );
  assert.equal((await runCli(["provider", "register", file], { home: f.home })).code, 0);
  const login = await runCli(["login", name], { home: f.home, env: { [envVar]: key } });
  assert.equal(login.code, 0, login.stderr);
}

Deno.test("run --as: each identity gets only what its policy allows — injected, refused with 403 and never forwarded, or tunnelled", async () => {
  await using f = await fixture();
  const beta = await startUpstream(f.dir, "api.beta.test");
  const gamma = await startUpstream(f.dir, "api.gamma.test");
  try {
    await addHosts(f, "api.beta.test", "api.gamma.test");
    await apiKeyProvider(f, "beta", "api.beta.test", BETA_KEY);
    await apiKeyProvider(f, "gamma", "api.gamma.test", GAMMA_KEY);
    const trusted = join(f.dir, "upstream-cas.pem");
    await Deno.writeTextFile(
      trusted,
      [f.upstream.caFile, beta.caFile, gamma.caFile].map((p) => Deno.readTextFileSync(p)).join(""),
    );
    const env = { NODE_EXTRA_CA_CERTS: trusted };
    const create = (args: string[]) => runCli(["identity", "create", ...args], { home: f.home });
    const a = await create([
      "agent-a",
      "--allow",
      "acme/work",
      "--allow",
      "beta",
      "--read-only",
      "beta",
      "--path",
      "beta=/v1",
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal((await create(["agent-b", "--allow", "gamma"])).code, 0);

    // One curl per line: "<status> <body>" for each request; the gamma host is tunnelled, so
    // its request is made trusting gamma's own CA.
    const script = [
      'curl -sS -w "|%{http_code}\\n" -H "x-acme-key: $ACME_API_KEY" "https://api.acme.test:$0/v1/a"',
      'curl -sS -w "|%{http_code}\\n" "https://api.beta.test:$1/v1/list"',
      'curl -sS -w "|%{http_code}\\n" -X POST -d x=1 "https://api.beta.test:$1/v1/items"',
      'curl -sS -w "|%{http_code}\\n" "https://api.beta.test:$1/v1/../admin"',
      'curl -sS -w "|%{http_code}\\n" --cacert "$3" "https://api.gamma.test:$2/v1/g"',
      'echo "gamma var: ${GAMMA_API_KEY-unset}"',
    ].join("\n");
    const ports = [f.upstream.port, beta.port, gamma.port].map(String);
    const r = await f.run([
      "run",
      "--as",
      "agent-a",
      "--",
      "sh",
      "-c",
      script,
      ...ports,
      gamma.caFile,
    ], env);
    assert.equal(r.code, 0, r.stderr);
    // Each answer is "<body>|<status>"; bodies may end with a newline of their own.
    const lines = r.stdout.split(/(?<=\|\d{3})\n/).map((l) => l.replace(/\n\|/, "|").trim());
    assert.equal(lines.length, 6, r.stdout);
    // acme: the pinned connection "work", not the default.
    assert.match(lines[0]!, /\|200$/);
    assert.equal(f.upstream.seen.at(-1)!.headers["x-acme-key"], WORK_KEY);
    // beta: a read under /v1 is injected; a write and a path outside /v1 are refused.
    assert.match(lines[1]!, /\|200$/);
    assert.equal(beta.seen.length, 1);
    assert.equal(beta.seen[0]!.headers["x-api-key"], BETA_KEY);
    const refusal = (line: string) => JSON.parse(line.replace(/\|403$/, ""));
    assert.match(lines[2]!, /\|403$/);
    assert.deepEqual(refusal(lines[2]!), {
      error: "authsome_policy",
      identity: "agent-a",
      provider: "beta",
      rule: "read-only",
      message: 'identity "agent-a" may only read from beta (GET, HEAD, OPTIONS), not POST',
    });
    assert.equal(refusal(lines[3]!).rule, "path");
    assert.equal(beta.seen.length, 1, "a refused request reached the upstream");
    // gamma: not allowed, so tunnelled — it reached its upstream with no credential.
    assert.match(lines[4]!, /\|200$/);
    assert.equal(gamma.seen.at(-1)!.headers["x-api-key"], undefined);
    assert.equal(lines[5], "gamma var: unset");

    // agent-b: gamma injected; acme tunnelled (curl trusting only the authsome CA fails).
    const rb = await f.run([
      "run",
      "--as",
      "agent-b",
      "--",
      "sh",
      "-c",
      'curl -sS -o /dev/null -w "%{http_code}\\n" "https://api.gamma.test:$0/v1/g"; ' +
      'curl -sS -o /dev/null "https://api.acme.test:$1/v1/a"; echo "acme=$?"',
      String(gamma.port),
      String(f.upstream.port),
    ], env);
    assert.equal(rb.stdout, "200\nacme=60\n", rb.stderr);
    assert.equal(gamma.seen.at(-1)!.headers["x-api-key"], GAMMA_KEY);

    // The audit log: each run names its identity; no secret anywhere in it.
    const log = await runCli(["log", "--identity", "agent-a", "--json"], { home: f.home });
    const entries = JSON.parse(log.stdout).entries as Array<Record<string, unknown>>;
    // Each request the proxy handled for it is an entry of its own (action "proxy").
    assert.deepEqual(entries.map((e) => [e.action, e.identity, e.outcome]), [
      ["identity-create", "agent-a", "ok"],
      ["proxy", "agent-a", "injected"],
      ["proxy", "agent-a", "injected"],
      ["proxy", "agent-a", "denied"],
      ["proxy", "agent-a", "denied"],
      ["proxy", "agent-a", "tunnelled"],
      ["run", "agent-a", "ok"],
    ]);
    const audit = await Deno.readTextFile(join(f.home, "audit.log"));
    for (const secret of [KEY, WORK_KEY, BETA_KEY, GAMMA_KEY]) {
      assert.ok(!audit.includes(secret), "a secret reached the audit log");
    }
    // (The echo upstream shows the injected key in its bodies; authsome's own output does not.)
    noSecret(r.stderr + rb.stderr, "the runs' messages");
  } finally {
    await beta.close();
    await gamma.close();
  }
});

Deno.test("identities in the library: only the allowed connection, no token for a limited provider, no changes; an edited policy is refused", async () => {
  await using f = await fixture();
  const created = await runCli(
    ["identity", "create", "lib-agent", "--allow", "acme/work", "--expires", "1h"],
    { home: f.home },
  );
  assert.equal(created.code, 0, created.stderr);
  assert.equal(
    (await runCli(["identity", "create", "reader", "--allow", "acme", "--read-only", "acme"], {
      home: f.home,
    })).code,
    0,
  );
  const refused = (message: RegExp) => (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, String(e));
    assert.equal(e.exitCode, 4, e.message);
    assert.match(e.message, message);
    return true;
  };
  const agent = await createAuthService({ home: f.home, identity: "lib-agent", env: {} });
  try {
    assert.equal(await agent.getAccessToken("acme"), WORK_KEY);
    await assert.rejects(
      agent.getAccessToken("acme", { connection: "default" }),
      refused(/may use only the acme connection "work"/),
    );
    await assert.rejects(agent.getAuthHeaders("openai"), refused(/may not use openai/));
    await assert.rejects(agent.setDefaultConnection("acme", "work"), refused(/cannot change/));
    await assert.rejects(agent.export(undefined), refused(/one provider at a time/));
    assert.deepEqual((await agent.export("acme")).vars, { ACME_API_KEY: WORK_KEY });
  } finally {
    await agent.close();
  }
  const reader = await createAuthService({ home: f.home, identity: "reader", env: {} });
  try {
    await assert.rejects(reader.getAccessToken("acme"), refused(/only through 'authsome run'/));
    assert.equal((await reader.getConnection("acme")).connection, "default");
  } finally {
    await reader.close();
  }
  // The audit entries of the library's uses name the identity.
  const log = await runCli(["log", "--identity", "lib-agent", "--json"], { home: f.home });
  const actions = (JSON.parse(log.stdout).entries as Array<{ action: string }>).map((e) =>
    e.action
  );
  assert.deepEqual(actions, ["identity-create", "export"]);

  // An edited policy record fails authentication: exit 10, for show and for run --as.
  const row = storedRows(f.home, "default").find((r) => r.key === "identity/lib-agent")!;
  tamperRow(f.home, "default", row.key, { ciphertext: flipBase64(row.ciphertext) });
  const shown = await runCli(["identity", "show", "lib-agent"], { home: f.home });
  assert.equal(shown.code, 10, shown.stderr);
  const ran = await f.run(["run", "--as", "lib-agent", "--", "true"]);
  assert.equal(ran.code, 10, ran.stderr);
  assert.equal((await runCli(["identity", "show", "reader"], { home: f.home })).code, 0);
});

Deno.test("run: only secret export variables become placeholders; a URL is passed as it is; every common CA variable points at the bundle", async () => {
  await using f = await fixture();
  const file = join(f.dir, "urlacme.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      name: "urlacme",
      display_name: "URL Acme",
      auth_type: "api_key",
      api_url: "api.urlacme.test",
      api_key: { header_name: "x-key", header_prefix: null, env_var: "URLACME_KEY" },
      export: { env: { api_key: ["URLACME_KEY"], api_url: ["URLACME_URL"] } },
    }),
  );
  assert.equal((await runCli(["provider", "register", file], { home: f.home })).code, 0);
  const login = await runCli(["login", "urlacme"], {
    home: f.home,
    env: { URLACME_KEY: "urlacme-real-key-123" },
  });
  assert.equal(login.code, 0, login.stderr);
  const r = await f.run(["run", "--", "env"], { URLACME_URL: "stale", PIP_CERT: "/etc/old.pem" });
  assert.equal(r.code, 0, r.stderr);
  const env = Object.fromEntries(
    r.stdout.trim().split("\n").map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assert.equal(env.URLACME_KEY, "authsome-proxy-managed");
  assert.equal(env.URLACME_URL, "api.urlacme.test");
  for (
    const name of [
      "SSL_CERT_FILE",
      "REQUESTS_CA_BUNDLE",
      "CURL_CA_BUNDLE",
      "GIT_SSL_CAINFO",
      "DENO_CERT",
      "PIP_CERT",
      "AWS_CA_BUNDLE",
      "HTTPLIB2_CA_CERTS",
      "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    ]
  ) {
    assert.match(env[name] ?? "", /\/authsome-run-[^/]+\/ca-bundle\.pem$/, name);
  }
  assert.ok(!r.stdout.includes("urlacme-real-key-123"));
});
