/**
 * The fuzz part's random argv: every command in turn, with known and unknown options, junk
 * values and long words, run on a copy of the golden home.
 *
 * @module
 */
import { join } from "node:path";
import { COMMANDS } from "../cli/commands.ts";
import { OPTIONS } from "../cli/args.ts";
import { baseEnv, copyTree, type Random } from "./harness.ts";
import { freshHome, type FuzzCase } from "./fuzz_case.ts";

/** Commands whose random argv runs only as a real process (they serve stdio). */
const SPAWN_ONLY = new Set(["mcp"]);

function junkWords(scratch: string): string[] {
  return [
    "",
    "-",
    "--",
    "openai",
    "anthropic",
    "work",
    "default",
    "github",
    "../../etc/passwd",
    "x".repeat(5000),
    "\u202eé😀",
    "-1",
    "1e309",
    "NaN",
    "0x10",
    "999999999999",
    "a=b",
    "openai=work",
    "openai/work",
    "env",
    "json",
    "shell",
    "passphrase",
    "bash",
    "true",
    "nonexistent-command-xyz",
    "http://127.0.0.1:1/mcp",
    "postgres://127.0.0.1:1/authsome",
    join(scratch, "out.bin"),
    join(scratch, "missing-dir", "x"),
    scratch,
  ];
}

/**
 * `count` argv cases, cycling through every command.
 *
 * @example
 * ```ts
 * import { Random } from "./harness.ts";
 * import { argvCases } from "./fuzz_argv.ts";
 * console.log(argvCases(new Random(1), 5, "/tmp/x", "/tmp/golden").length); // 5
 * ```
 */
export function argvCases(
  random: Random,
  count: number,
  scratch: string,
  golden: string,
): FuzzCase[] {
  const names = Object.keys(COMMANDS);
  const options = Object.keys(OPTIONS);
  const words = junkWords(scratch);
  return Array.from({ length: count }, (_, i) => {
    // Every command gets its share: cycle through the names.
    const name = names[i % names.length]!;
    const command = COMMANDS[name]!;
    const argv = [name];
    // Under `run` a word may become the child: never one of the real programs in the list.
    const pool = name === "run" ? words.filter((w) => !["env", "true", "bash"].includes(w)) : words;
    const subs = Object.keys(command.subcommands ?? {});
    if (subs.length > 0 && random.next() < 0.8) argv.push(random.pick(subs));
    for (let n = random.int(6); n > 0; n--) {
      const r = random.next();
      if (r < 0.35) {
        const option = random.pick(
          random.next() < 0.7 && command.options.length > 0 ? command.options : options,
        );
        argv.push(option.length === 1 ? `-${option}` : `--${option}`);
        if (random.next() < 0.8) argv.push(random.pick(pool));
      } else if (r < 0.4) argv.push(random.pick(["--bogus", "-Z", "--=x", "---x", "--json=1"]));
      else argv.push(random.pick(pool));
    }
    // An OAuth login waits for a browser (up to --timeout): give it one second.
    if (name === "login") argv.push("--timeout", "1");
    if (name === "run" && !argv.includes("--")) {
      argv.push("--", random.pick(["true", "nonexistent-command-xyz"]));
    }
    const home = freshHome(scratch);
    return {
      what: `argv of ${name}`,
      cli: { argv, env: baseEnv(home), cwd: scratch },
      async prepare() {
        await copyTree(golden, home);
      },
      ...(SPAWN_ONLY.has(name) ? { spawnOnly: true } : {}),
    };
  });
}
