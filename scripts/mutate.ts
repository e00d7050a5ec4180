/**
 * Mutation testing of the security-critical modules with StrykerJS (`@stryker-mutator/core`,
 * its `command` test runner driving `deno test`). Each module is mutated against the tests that
 * guard it; the score per module and every surviving mutant are printed (and, with `--write`,
 * saved to `.mutation/`). `--ci` runs the CI slice and fails when a module's score drops below
 * its recorded floor.
 *
 * Usage: ./scripts/deno run -A scripts/mutate.ts [--ci] [MODULE...]
 *
 * @module
 */
const root = new URL("../", import.meta.url).pathname;

/** A module, the tests that guard it, and the lowest score accepted in CI (the last measured). */
interface Target {
  module: string;
  tests: string[];
  floor: number;
  ci: boolean;
}

const TARGETS: Target[] = [
  { module: "proxy/routing.ts", tests: ["proxy/routing_test.ts"], floor: 100, ci: true },
  { module: "proxy/child_env.ts", tests: ["proxy/child_env_test.ts"], floor: 100, ci: true },
  {
    module: "storage/vault.ts",
    tests: ["storage/vault_test.ts", "storage/golden_store_test.ts", "storage/vault_v1_test.ts"],
    floor: 100,
    ci: true,
  },
  {
    module: "storage/crypto.ts",
    tests: ["storage/crypto_test.ts", "storage/master_key_test.ts"],
    floor: 100,
    ci: true,
  },
  {
    module: "storage/sqlite_store.ts",
    tests: ["storage/store_contract_test.ts", "storage/sqlite_store_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "storage/master_key.ts",
    tests: ["storage/master_key_test.ts"],
    floor: 100,
    ci: true,
  },
  {
    module: "providers/callback_server.ts",
    tests: ["providers/callback_server_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "providers/input_form.ts",
    tests: ["providers/input_form_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "providers/device_page.ts",
    tests: ["providers/device_page_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "providers/oauth.ts",
    tests: ["providers/oauth_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "providers/oauth_errors.ts",
    tests: ["providers/oauth_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "proxy/env_format.ts",
    tests: ["proxy/env_format_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "service/tokens.ts",
    tests: ["service/tokens_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "proxy/server.ts",
    tests: ["proxy/server_wire_test.ts", "proxy/server_test.ts"],
    floor: 0,
    ci: false,
  },
  {
    module: "proxy/http1.ts",
    tests: ["proxy/http1_test.ts", "proxy/server_wire_test.ts"],
    floor: 0,
    ci: false,
  },
];

interface Mutant {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number; column: number } };
}

const args = Deno.args.filter((a) => !a.startsWith("--"));
const ci = Deno.args.includes("--ci");
const write = Deno.args.includes("--write");
const chosen = TARGETS.filter((t) => args.length > 0 ? args.includes(t.module) : ci ? t.ci : true);
const work = await Deno.makeTempDir({ prefix: "authsome-mutate-" });
let failed = false;
const rows: string[] = [];
for (const target of chosen) {
  const report = `${work}/${target.module.replaceAll("/", "_")}.json`;
  const config = {
    testRunner: "command",
    commandRunner: {
      command: `./scripts/deno test -A --no-check ${target.tests.join(" ")}`,
    },
    mutate: [target.module],
    inPlace: true,
    concurrency: 2,
    coverageAnalysis: "off",
    reporters: ["json"],
    jsonReporter: { fileName: report },
    tempDirName: `${work}/stryker-tmp`,
    timeoutMS: 30_000,
    // The tests run with --no-check, so no file but the mutated one needs touching.
    disableTypeChecks: false,
    cleanTempDir: true,
  };
  const configFile = `${work}/stryker.conf.json`;
  await Deno.writeTextFile(configFile, JSON.stringify(config));
  const start = performance.now();
  const out = await new Deno.Command(`${root}node_modules/.bin/stryker`, {
    args: ["run", configFile],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!out.success) {
    console.error(new TextDecoder().decode(out.stdout).slice(-3000));
    console.error(new TextDecoder().decode(out.stderr).slice(-3000));
    throw new Error(`stryker failed on ${target.module}`);
  }
  const json = JSON.parse(await Deno.readTextFile(report)) as {
    files: Record<string, { mutants: Mutant[] }>;
  };
  const mutants = Object.values(json.files).flatMap((f) => f.mutants);
  const count = (s: string) => mutants.filter((m) => m.status === s).length;
  const killed = count("Killed") + count("Timeout");
  const survived = mutants.filter((m) => m.status === "Survived" || m.status === "NoCoverage");
  const scored = killed + survived.length;
  const score = scored === 0 ? 100 : (100 * killed) / scored;
  rows.push(
    `| ${target.module} | ${mutants.length} | ${killed} | ${survived.length} | ${
      score.toFixed(1)
    } % | ${seconds.toFixed(0)} s |`,
  );
  const lines = survived.map((m) =>
    `${target.module}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName}` +
    (m.replacement ? ` → ${m.replacement.replaceAll("\n", " ").slice(0, 80)}` : "")
  );
  if (write) {
    await Deno.mkdir(`${root}.mutation`, { recursive: true });
    await Deno.writeTextFile(
      `${root}.mutation/${target.module.replaceAll("/", "_")}.survivors.txt`,
      lines.join("\n") + "\n",
    );
  }
  console.error(`${target.module}: ${score.toFixed(1)} % (${survived.length} survived)`);
  if (ci && score < target.floor) {
    failed = true;
    console.error(`  below its floor of ${target.floor} %:\n  ${lines.join("\n  ")}`);
  }
}
await Deno.remove(work, { recursive: true });
console.log("| module | mutants | killed | survived | score | time |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
if (failed) Deno.exit(1);
