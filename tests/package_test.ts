/**
 * The package as people get it without a checkout: the tree served over HTTP on 127.0.0.1 (as
 * JSR serves it: remote modules, bare imports mapped to `npm:` the way deno.json's `imports`
 * does), `mod.ts` run as the CLI, a consumer program outside the repository that imports the
 * library and passes `deno check`, and a missing permission reported in one line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertCleanError, cliEnv, ROOT, tempHome } from "./helpers.ts";

const DENO = Deno.execPath();
const KEY = "sk-package-test-0123456789abcdefghij";

interface Served extends AsyncDisposable {
  base: string;
}

/** Serves the repository's files read-only on 127.0.0.1 (no listing, nothing outside ROOT). */
function serveTree(): Served {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..") || path.startsWith("/node_modules/")) {
      return new Response("not here", { status: 404 });
    }
    try {
      const body = await Deno.readFile(ROOT + path);
      const type = path.endsWith(".json") ? "application/json" : "application/typescript";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/**
 * A consumer project in a temp folder: its own deno.json mapping `@authsome/cli` to the served
 * `mod.ts` and the bare dependencies to `npm:` as the package's deno.json does; its
 * node_modules (a link to the repository's) stands in for the packages a registry would give it.
 */
async function consumerProject(base: string, dir: string): Promise<void> {
  const ours = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    join(dir, "deno.json"),
    JSON.stringify({
      imports: { ...ours.imports, "@authsome/cli": `${base}/mod.ts` },
      nodeModulesDir: "manual",
      lock: false,
    }),
  );
  await Deno.symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
}

async function deno(
  args: string[],
  options: { cwd: string; home: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(DENO, {
    args,
    cwd: options.cwd,
    clearEnv: true,
    env: cliEnv(options.home, { DENO_NO_UPDATE_CHECK: "1", ...options.env }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: r.code, stdout: text.decode(r.stdout), stderr: text.decode(r.stderr) };
}

Deno.test("the package served over HTTP: the CLI, the library and a custom provider work", async () => {
  await using served = serveTree();
  await using h = await tempHome();
  const project = join(h.home, "..", "project");
  await consumerProject(served.base, project);
  const remote = ["run", "-A", "--quiet", `--reload=${served.base}`];
  const run = (args: string[], env?: Record<string, string>) =>
    deno([...remote, ...args], { cwd: project, home: h.home, ...(env ? { env } : {}) });

  // The bundled providers load from a remote module (they used to be read as local files).
  const list = await run([`${served.base}/cli.ts`, "list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const names = (JSON.parse(list.stdout).providers as Array<{ name: string }>).map((p) => p.name);
  assert.ok(names.length >= 50 && names.includes("openai") && names.includes("github"));

  // mod.ts run as the main module is the CLI (`deno run -A jsr:@authsome/cli login …`).
  const login = await run([`${served.base}/mod.ts`, "login", "openai"], { OPENAI_API_KEY: KEY });
  assert.equal(login.code, 0, login.stderr);
  assert.match(login.stderr, /Logged in to openai \(default\) from OPENAI_API_KEY/);
  const doctor = await run([`${served.base}/mod.ts`, "doctor"]);
  assert.match(doctor.stdout, /ok +providers: \d+ valid/);

  // A custom provider registered through the remote CLI.
  const file = join(project, "acme.json");
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      schema_version: 1,
      name: "acme",
      display_name: "Acme",
      auth_type: "api_key",
      flow: "api_key",
      api_url: "api.acme.test",
      api_key: { header_name: "X-Acme-Key", env_var: "ACME_KEY" },
      export: { env: { api_key: "ACME_KEY" } },
    }),
  );
  const register = await run([`${served.base}/cli.ts`, "provider", "register", file]);
  assert.equal(register.code, 0, register.stderr);
  const acme = await run([`${served.base}/cli.ts`, "login", "acme"], { ACME_KEY: "acme-secret-1" });
  assert.equal(acme.code, 0, acme.stderr);

  // A program outside the repository imports the library, type-checks, and reads the headers.
  await Deno.writeTextFile(
    join(project, "agent.ts"),
    [
      'import { createAuthService } from "@authsome/cli";',
      "const auth = await createAuthService();",
      'const openai: Record<string, string> = await auth.getAuthHeaders("openai");',
      'const acme = await auth.getAuthHeaders("acme");',
      "await auth.close();",
      "console.log(JSON.stringify({ openai, acme }));",
    ].join("\n"),
  );
  const host = served.base.slice("http://".length);
  const check = await deno([
    "check",
    "--quiet",
    `--allow-import=${host}`,
    `--reload=${served.base}`,
    "agent.ts",
  ], {
    cwd: project,
    home: h.home,
  });
  assert.equal(check.code, 0, check.stderr);
  const agent = await run(["agent.ts"]);
  assert.equal(agent.code, 0, agent.stderr);
  assert.deepEqual(JSON.parse(agent.stdout), {
    openai: { Authorization: `Bearer ${KEY}` },
    acme: { "X-Acme-Key": "Bearer acme-secret-1" },
  });
});

Deno.test("importing mod.ts does nothing by itself; run as main it is the CLI", async () => {
  await using h = await tempHome();
  const project = join(h.home, "..", "project");
  await Deno.mkdir(project, { recursive: true });
  await Deno.writeTextFile(
    join(project, "quiet.ts"),
    `import * as authsome from "${
      join(ROOT, "mod.ts")
    }";\nconsole.log(typeof authsome.createAuthService);\n`,
  );
  const imported = await deno([
    "run",
    "-A",
    "--quiet",
    "--config",
    join(ROOT, "deno.json"),
    "quiet.ts",
    "list",
  ], {
    cwd: project,
    home: h.home,
  });
  assert.deepEqual(imported, { code: 0, stdout: "function\n", stderr: "" });

  const version = await deno(["run", "-A", "--quiet", join(ROOT, "mod.ts"), "--version"], {
    cwd: project,
    home: h.home,
  });
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^authsome \d+\.\d+\.\d+\n$/);
  const unknown = await deno(["run", "-A", "--quiet", join(ROOT, "mod.ts"), "lsit"], {
    cwd: project,
    home: h.home,
  });
  assertCleanError(unknown, 64, 'Unknown command "lsit"', 'Did you mean "list"?');
});

Deno.test("a permission Deno did not grant is one line naming the flag to add", async () => {
  await using h = await tempHome();
  const mod = join(ROOT, "mod.ts");
  const noEnv = await deno(["run", "--quiet", mod, "list"], { cwd: ROOT, home: h.home });
  assertCleanError(noEnv, 64, "Deno did not give authsome env access", "--allow-env", "-A");
  const noWrite = await deno(
    ["run", "--quiet", "--allow-env", "--allow-read", mod, "login", "openai"],
    { cwd: ROOT, home: h.home, env: { OPENAI_API_KEY: KEY } },
  );
  assertCleanError(noWrite, 64, "Deno did not give authsome write access", "--allow-write");
  assert.ok(!noWrite.stderr.includes(KEY));
});
