/**
 * The `fuzz` part of the adversarial suite: mutated provider files, mutated stores and random
 * argv for every command, each case judged by the rules of harness.ts (no crash, no stack trace,
 * no hang over 10 s, a documented exit code, one `error:` line) and, for a store that still
 * opens, the value read back must be the original one. Cases come from a seeded random source
 * (seed 13): four in five run inside a worker calling `main`, one in five as a real process.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import {
  baseEnv,
  type CliOutcome,
  InProcessCli,
  judge,
  parallel,
  Random,
  spawnCli,
  type Tally,
  tally,
} from "./harness.ts";
import { type FuzzCase, KEYS } from "./fuzz_case.ts";
import { providerCases } from "./fuzz_providers.ts";
import { storeCases } from "./fuzz_stores.ts";
import { argvCases } from "./fuzz_argv.ts";

/** Commands whose failure is a report on stdout/stderr, not one error line. */
const REPORTS = new Set(["status", "doctor"]);

/** Cases per kind at each size. */
export const FUZZ_CASES = { slice: 60, full: 1000 } as const;
/** A case running longer than this is a hang. */
const LIMIT_MS = 10_000;
/** How many cases run at once. */
const WIDTH = 3;

/**
 * The fuzz part: `deno task stress fuzz`.
 *
 * @example
 * ```ts ignore
 * import { fuzzPart } from "./fuzz.ts";
 * const report = await fuzzPart.run({ size: "slice", scratch: "/tmp/x", log: console.error });
 * ```
 */
export const fuzzPart: StressPart = {
  name: "fuzz",
  run: runFuzz,
};

async function runFuzz(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const count = FUZZ_CASES[ctx.size];
  const golden = join(ctx.scratch, "golden");
  await makeGoldenHome(golden, ctx.scratch);
  const random = new Random(13);
  const kinds: Array<[string, FuzzCase[]]> = [
    ["provider files", providerCases(random, count, ctx.scratch)],
    ["stores", storeCases(random, count, ctx.scratch, golden)],
    ["argv", argvCases(random, count, ctx.scratch, golden)],
  ];
  const problems: string[] = [];
  const figures: Array<[string, string | number]> = [];
  const workers = Array.from({ length: WIDTH }, () => new InProcessCli());
  try {
    for (const [kind, cases] of kinds) {
      const counts = tally();
      await parallel(cases, WIDTH, async (c, index, slot) => {
        await c.prepare();
        const spawned = index % 5 === 0 || c.spawnOnly === true;
        const outcome = spawned
          ? await spawnCli(c.cli, LIMIT_MS)
          : await workers[slot]!.run(c.cli, LIMIT_MS);
        counts.cases++;
        if (spawned) counts.spawned++;
        if (c.expect !== undefined && outcome.code === 0) counts.opened++;
        const finding = judgeCase(c, outcome);
        if (finding) {
          counts[finding.kind]++;
          if (problems.length < 40) {
            problems.push(
              `${kind} #${index} (${c.what}; ${
                c.cli.argv.join(" ").slice(0, 120)
              }): ${finding.line}`,
            );
          }
        }
        await Deno.remove(c.cli.env.AUTHSOME_HOME!, { recursive: true }).catch(() => {});
      });
      ctx.log(`${kind}: ${counts.cases} cases`);
      figures.push(...tallyFigures(kind, counts));
    }
  } finally {
    for (const worker of workers) await worker.close();
  }
  return { title: "Fuzzed inputs", figures, problems, seconds: secondsSince(started) };
}

function judgeCase(
  c: FuzzCase,
  r: CliOutcome,
): { kind: "hang" | "crash" | "exit" | "message" | "value"; line: string } | undefined {
  const finding = judge(r, {
    json: c.cli.argv.includes("--json"),
    report: REPORTS.has(c.cli.argv[0] ?? ""),
  });
  if (finding) return finding;
  const report = REPORTS.has(c.cli.argv[0] ?? "");
  if (c.names && !report && r.code === c.names.code && !c.names.pattern.test(r.stderr)) {
    return {
      kind: "message",
      line: `the error does not name ${c.names.pattern}: ${r.stderr.slice(0, 200)}`,
    };
  }
  if (c.expect !== undefined && r.code === 0 && normal(r.stdout) !== normal(c.expect)) {
    return { kind: "value", line: "a mutated store yielded a value other than the original one" };
  }
  return undefined;
}

/** Text as printed, JSON compared by value. */
function normal(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text.trim();
  }
}

function tallyFigures(kind: string, t: Tally): Array<[string, string | number]> {
  return [
    [`${kind}: cases (real processes)`, `${t.cases} (${t.spawned})`],
    [`${kind}: crashes / hangs > 10 s`, `${t.crash} / ${t.hang}`],
    [`${kind}: wrong exit codes / bad messages`, `${t.exit} / ${t.message}`],
    ...(kind === "stores"
      ? [[
        `${kind}: secrets read back from a mutated store / other than the original`,
        `${t.opened} / ${t.value}`,
      ] as [string, string]]
      : []),
  ];
}

/** A home with three connections in two providers, made by the real CLI. */
async function makeGoldenHome(home: string, cwd: string): Promise<void> {
  const logins: Array<[string[], Record<string, string>, string?]> = [
    [["login", "openai"], { OPENAI_API_KEY: KEYS.openaiDefault }],
    [["login", "openai", "--connection", "work", "--stdin"], {}, KEYS.openaiWork],
    [["login", "anthropic"], { ANTHROPIC_API_KEY: KEYS.anthropic }],
  ];
  for (const [argv, extra, stdin] of logins) {
    const r = await spawnCli(
      { argv, env: baseEnv(home, extra), cwd, ...(stdin ? { stdin } : {}) },
      30_000,
    );
    if (r.code !== 0) {
      throw new Error(`golden home: ${argv.join(" ")} exited ${r.code}: ${r.stderr}`);
    }
  }
  // Fold the write-ahead log into the file so a copy is the whole store.
  const db = new DatabaseSync(join(home, "authsome.db"));
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}
