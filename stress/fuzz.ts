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
import { COMMANDS } from "../cli/commands.ts";
import { OPTIONS } from "../cli/args.ts";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import {
  baseEnv,
  type CliCase,
  type CliOutcome,
  copyTree,
  InProcessCli,
  judge,
  parallel,
  Random,
  spawnCli,
  type Tally,
  tally,
} from "./harness.ts";

/** Commands whose failure is a report on stdout/stderr, not one error line. */
const REPORTS = new Set(["status", "doctor"]);

/** Cases per kind at each size. */
export const FUZZ_CASES = { slice: 60, full: 1000 } as const;
/** A case running longer than this is a hang. */
const LIMIT_MS = 10_000;
/** How many cases run at once. */
const WIDTH = 3;

/** One generated case: what it is (for the report), the invocation, and the value it may print. */
interface FuzzCase {
  what: string;
  cli: CliCase;
  /** When the run exits 0, stdout must be exactly this (a secret read back from a mutated store). */
  expect?: string;
  /** Before the run: writes the case's files. */
  prepare(): Promise<void>;
  /** Runs only as a real process (the command serves stdio). */
  spawnOnly?: boolean;
  /** On this exit code, the error must name what is wrong by matching this. */
  names?: { code: number; pattern: RegExp };
}

const KEYS = {
  openaiDefault: `sk-fuzzDefault${"A".repeat(24)}1`,
  openaiWork: `sk-fuzzWork${"B".repeat(24)}2`,
  anthropic: `sk-ant-fuzz${"C".repeat(24)}3`,
};

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

let homes = 0;
function freshHome(scratch: string): string {
  return join(scratch, `case-${++homes}`, "home");
}

// ---------------------------------------------------------------- provider files

const BASE_API_KEY = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "api_key",
  flow: "api_key",
  api_url: "api.acme.test",
  api_key: {
    header_name: "x-acme-key",
    header_prefix: null,
    env_var: "ACME_API_KEY",
    key_pattern: "^ak_[a-z0-9]{8,}$",
  },
  export: { env: { api_key: "ACME_API_KEY" } },
};

const BASE_OAUTH = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  flow: "pkce",
  api_url: "{base_url}/api",
  oauth: {
    base_url: "https://acme.test",
    authorization_url: "{base_url}/authorize",
    token_url: "{base_url}/token",
    scopes: ["read"],
  },
};

const ODD_TEXT = [
  "\u202eemca",
  "a\u0000b",
  "\ud800",
  "e\u0301\u0301\u0301",
  "😀".repeat(50),
  "\ufeffacme",
  "acme\r\nX-Injected: 1",
  "../../etc/passwd",
  "..",
  "ACME",
  "",
  " ",
];

const BAD_PATTERNS = [
  "^(ak_[a-z]+$",
  "^(a+)+$",
  "^(a|a)*$",
  "^(a|aa)+$",
  "^([a-z0-9]+)*$",
  "^(a+)\\1$",
  "[",
  "*",
  "(?<",
  "a".repeat(5000),
];

const BASE_URL_ABUSE = [
  "{base_url}{base_url}/x",
  "http://{base_url}/x",
  "{base_url}",
  "javascript:{base_url}",
  "https://user:pw@{base_url}/x",
  "{BASE_URL}/x",
  "{base_url}/../../x",
  "https://acme.test/{base_url}",
  "file:///etc/passwd",
  "http://169.254.169.254/latest",
];

type Json = unknown;

/** How many kinds of provider-file mutation there are; case i gets kind i modulo this. */
const PROVIDER_MUTATIONS = 12;

function mutateProvider(
  random: Random,
  op: number,
): { what: string; text: string; key?: string } {
  const doc = structuredClone(random.next() < 0.5 ? BASE_API_KEY : BASE_OAUTH) as Record<
    string,
    Json
  >;
  const paths = leafPaths(doc);
  switch (op) {
    case 0: {
      const text = JSON.stringify(doc);
      const bytes = new TextEncoder().encode(text);
      for (let n = 1 + random.int(4); n > 0; n--) {
        flip(bytes, random.int(bytes.length), random.int(8));
      }
      return { what: "flipped bytes", text: new TextDecoder().decode(bytes) };
    }
    case 1: {
      const path = random.pick(paths);
      deleteAt(doc, path);
      return { what: `deleted ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 2: {
      const path = random.pick(paths);
      const value = random.pick<Json>([42, true, null, [], {}, [1, "x"], -1e308, "x"]);
      setAt(doc, path, value);
      return { what: `wrong type at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 3: {
      const path = random.pick(paths);
      setAt(doc, path, "x".repeat(1_000_000));
      return { what: `1 MB string at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 4: {
      const depth = 10_000;
      const nested = "[".repeat(depth) + "]".repeat(depth);
      const text = JSON.stringify(doc).replace('"read"', nested).replace('"x-acme-key"', nested);
      return { what: "10,000-deep nesting", text };
    }
    case 5: {
      const path = random.pick([["name"], ["display_name"], ["api_url"], ["flow"]]);
      setAt(doc, path, random.pick(ODD_TEXT));
      return { what: `odd Unicode at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 6:
      return { what: "byte order mark", text: "\ufeff" + JSON.stringify(doc, null, 2) };
    case 7: {
      const text = JSON.stringify(doc).replace('"name":"acme"', '"name":"acme","name":"other"')
        .replace('"flow":', '"flow":"device_code","flow":');
      return { what: "duplicate keys", text };
    }
    case 8: {
      const api = structuredClone(BASE_API_KEY) as Record<string, Json>;
      const pattern = random.pick(BAD_PATTERNS);
      setAt(api, ["api_key", "key_pattern"], pattern);
      if (random.next() < 0.5) api.api_url = `regex:${pattern}`;
      return {
        what: `key_pattern ${JSON.stringify(pattern.slice(0, 20))}`,
        text: JSON.stringify(api),
        key: "a".repeat(20_000) + "!",
      };
    }
    case 9: {
      const oauth = structuredClone(BASE_OAUTH) as Record<string, Json>;
      const path = random.pick([
        ["oauth", "authorization_url"],
        ["oauth", "token_url"],
        ["api_url"],
        [
          "oauth",
          "base_url",
        ],
      ]);
      setAt(oauth, path, random.pick(BASE_URL_ABUSE));
      return { what: `{base_url} abuse at ${path.join(".")}`, text: JSON.stringify(oauth) };
    }
    case 10: {
      setAt(doc, ["name"], random.pick(["../acme", "..", "acme/../../x", "./acme", "acme\\..\\x"]));
      return { what: `name ${String(doc.name)}`, text: JSON.stringify(doc) };
    }
    default: {
      const text = JSON.stringify(doc);
      return { what: "truncated", text: text.slice(0, random.int(text.length)) };
    }
  }
}

function providerCases(random: Random, count: number, scratch: string): FuzzCase[] {
  const commands = [
    ["provider", "inspect", "acme"],
    ["list", "--all"],
    ["list", "--json"],
    ["login", "acme"],
    ["get", "acme"],
    ["export", "acme"],
    ["provider", "register", "FILE"],
    ["provider", "register", "FILE", "--force"],
  ];
  return Array.from({ length: count }, (_, i) => {
    const op = i % PROVIDER_MUTATIONS;
    const mutation = mutateProvider(random, op);
    const home = freshHome(scratch);
    const file = join(home, "..", "acme.json");
    // A key pattern is used when a key is checked: at login.
    const argv = (op === 8 && i % 2 === 0 ? commands[3]! : random.pick(commands))
      .map((word) => word === "FILE" ? file : word);
    const key = mutation.key ?? `ak_${"k".repeat(12)}`;
    return {
      what: mutation.what,
      cli: { argv, env: baseEnv(home, { ACME_API_KEY: key }), cwd: scratch },
      // A bad provider file is named by its file name (and the field, where there is one).
      names: { code: 65, pattern: /acme\.json/ },
      async prepare() {
        await Deno.mkdir(join(home, "providers"), { recursive: true, mode: 0o700 });
        await Deno.writeTextFile(join(home, "providers", "acme.json"), mutation.text);
        await Deno.writeTextFile(file, mutation.text);
      },
    };
  });
}

// ---------------------------------------------------------------- stores

/** The reads of a mutated store: argv, the value it must print, the record it reads. */
const READS: Array<{ argv: string[]; expect?: string; record?: string }> = [
  {
    argv: ["get", "openai", "--field", "api_key", "--show-secret"],
    expect: KEYS.openaiDefault,
    record: "connection/openai/default",
  },
  {
    argv: ["get", "openai", "-c", "work", "--field", "api_key", "--show-secret"],
    expect: KEYS.openaiWork,
    record: "connection/openai/work",
  },
  {
    argv: ["get", "anthropic", "--field", "api_key", "--show-secret"],
    expect: KEYS.anthropic,
    record: "connection/anthropic/default",
  },
  {
    argv: ["export", "openai", "--format", "json"],
    expect: JSON.stringify({ OPENAI_API_KEY: KEYS.openaiDefault }),
    record: "connection/openai/default",
  },
  { argv: ["list", "--json"] },
  { argv: ["status"] },
  { argv: ["connections", "list"] },
];

/** How many kinds of store mutation there are; case i gets kind i modulo this. */
const STORE_MUTATIONS = 8;

/**
 * Mutates the store file `db` by kind `op`; the record kinds (3, 4) put another record's sealed
 * bytes where `target` (the record the case reads) is, when there is one.
 */
function mutateStore(random: Random, db: string, op: number, target: string | undefined): string {
  if (op <= 1) {
    const bytes = Deno.readFileSync(db);
    const n = 1 + random.int(8);
    // Half the cases hit the first pages (schema, headers), half anywhere.
    const span = op === 0 ? Math.min(bytes.length, 8192) : bytes.length;
    for (let i = 0; i < n; i++) flip(bytes, random.int(span), random.int(8));
    Deno.writeFileSync(db, bytes);
    return `${n} flipped bytes`;
  }
  if (op === 2) {
    const bytes = Deno.readFileSync(db);
    const keep = random.int(bytes.length);
    Deno.writeFileSync(db, bytes.subarray(0, keep));
    return `truncated to ${keep} bytes`;
  }
  const sql = new DatabaseSync(db);
  try {
    const rows = sql.prepare("SELECT vault, key FROM records").all() as Array<
      { vault: string; key: string }
    >;
    const others = rows.filter((row) => row.key !== target);
    const targeted = rows.find((row) => row.key === target);
    const a = op === 3 && targeted ? targeted : random.pick(op === 4 && targeted ? others : rows);
    const b = op === 4 && targeted ? targeted : random.pick(op === 3 && targeted ? others : rows);
    switch (op) {
      case 3:
        sql.prepare(
          "UPDATE records SET (nonce, ciphertext) = (SELECT nonce, ciphertext FROM records WHERE vault = ? AND key = ?) WHERE vault = ? AND key = ?",
        ).run(b.vault, b.key, a.vault, a.key);
        return `record ${a.key} holds ${b.key}'s sealed bytes`;
      case 4:
        if (a.key === b.key) return "nothing changed";
        sql.prepare("DELETE FROM records WHERE vault = ? AND key = ?").run(b.vault, b.key);
        sql.prepare("UPDATE records SET key = ? WHERE vault = ? AND key = ?").run(
          b.key,
          a.vault,
          a.key,
        );
        return `record ${a.key} renamed to ${b.key}`;
      case 5: {
        const version = random.pick([0, 2, 3, 99, -1, 2147483647]);
        sql.exec(`PRAGMA user_version = ${version}`);
        return `format version ${version}`;
      }
      case 6: {
        const cols = (sql.prepare("PRAGMA table_info(vaults)").all() as Array<{ name: string }>)
          .map((c) => c.name).filter((c) => c !== "name");
        const col = random.pick(cols);
        sql.prepare(`UPDATE vaults SET ${col} = ?`).run(random.pick(["", "x", "AAAA", "{}", "99"]));
        return `vault header ${col} changed`;
      }
      default: {
        const col = random.pick(["nonce", "ciphertext"]);
        sql.prepare(`UPDATE records SET ${col} = ? WHERE vault = ? AND key = ?`).run(
          random.pick(["", "AAAA", "!!", "A".repeat(100)]),
          a.vault,
          a.key,
        );
        return `record ${a.key} ${col} replaced`;
      }
    }
  } finally {
    sql.close();
  }
}

function storeCases(random: Random, count: number, scratch: string, golden: string): FuzzCase[] {
  return Array.from({ length: count }, (_, i) => {
    const home = freshHome(scratch);
    const seed = random.int(2 ** 31);
    const op = i % STORE_MUTATIONS;
    // Half the record swaps and renames are read where they land.
    const read = (op === 3 || op === 4) && Math.floor(i / STORE_MUTATIONS) % 2 === 0
      ? READS[random.int(4)]!
      : random.pick(READS);
    const { argv, expect } = read;
    const c: FuzzCase = {
      what: "",
      cli: { argv, env: baseEnv(home), cwd: scratch },
      async prepare() {
        await copyTree(golden, home);
        c.what = mutateStore(new Random(seed), join(home, "authsome.db"), op, read.record);
      },
      // A store that cannot be opened is named as the store, a vault or one of its records.
      names: { code: 10, pattern: /store|vault|record/i },
    };
    if (expect !== undefined) c.expect = expect;
    return c;
  });
}

// ---------------------------------------------------------------- argv

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

function argvCases(random: Random, count: number, scratch: string, golden: string): FuzzCase[] {
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

function leafPaths(value: Json, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Object.entries(value as Record<string, Json>);
  return entries.length === 0
    ? [prefix]
    : entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

function setAt(doc: Record<string, Json>, path: string[], value: Json): void {
  let at = doc as Record<string, Json>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, Json>;
  at[path[path.length - 1]!] = value;
}

function deleteAt(doc: Record<string, Json>, path: string[]): void {
  let at = doc as Record<string, Json>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, Json>;
  delete at[path[path.length - 1]!];
}

function flip(bytes: Uint8Array, at: number, bit: number): void {
  bytes[at] = bytes[at]! ^ (1 << bit);
}
