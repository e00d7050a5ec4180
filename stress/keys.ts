/**
 * Key handling (`deno task stress keys`), every case through the real CLI: a key file that
 * others may read or write is refused (every such mode); an `AUTHSOME_MASTER_KEY` that is not the
 * base64 of 32 bytes is refused, and creates nothing in an empty home; a store written with one
 * key never opens with another (random keys, one-bit flips, another home's key file); a sealed
 * record copied into another slot, another vault or another home with the same master key never
 * opens there. Each refusal must be one `error:` line and a hint with exit 10, and print no
 * secret of the vault.
 *
 * @module
 */
import { join } from "node:path";
import type { StressContext, StressPart, StressReport } from "./part.ts";
import { secondsSince } from "./part.ts";
import { type Outcome, readVault, runAuthsome, untidyFailure } from "./process_harness.ts";
import { insertRow, storedRows, tamperRow } from "../tests/support/store_file.ts";

/** Wrong keys tried against one store: 50 at full size, 5 in the `npm test` slice. */
export const WRONG_KEYS = { full: 50, slice: 5 } as const;

/** A random 32-byte key, base64. */
function randomKey(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64();
}

function apiKey(label: string): string {
  return `sk-keys_${label}_${crypto.randomUUID().replaceAll("-", "")}`;
}

/** Tally of one kind of case. */
interface Tally {
  tried: number;
  refused: number;
}

/** What the part collects while it runs. */
interface Run {
  problems: string[];
  secrets: string[];
  tallies: Map<string, Tally>;
  messages: Map<string, string>;
}

/**
 * Records a case that must be refused: exit 10, one error line and a hint, no secret printed;
 * `message` (when given) must be the error line's start.
 */
function expectRefused(run: Run, kind: string, what: string, r: Outcome, message?: string) {
  const tally = run.tallies.get(kind) ?? { tried: 0, refused: 0 };
  run.tallies.set(kind, tally);
  tally.tried++;
  const text = r.stdout + r.stderr;
  const leaked = run.secrets.filter((secret) => text.includes(secret));
  const error = r.stderr.trim().split("\n")[0] ?? "";
  const issues: string[] = [];
  if (r.code !== 10) issues.push(`exit ${r.code}, not 10`);
  const untidy = untidyFailure(r);
  if (untidy !== undefined) issues.push(untidy);
  if (!/^error: .+\nhint: .+$/.test(r.stderr.trim())) issues.push("not one error line and a hint");
  if (message !== undefined && !error.startsWith(`error: ${message}`)) {
    issues.push(`said "${error}"`);
  }
  if (leaked.length > 0) issues.push(`printed ${leaked.length} secret(s) of the vault`);
  if (issues.length === 0) {
    tally.refused++;
    if (!run.messages.has(kind)) run.messages.set(kind, error.replace(/(^|\s)\/\S*\//g, "$1…/"));
  } else run.problems.push(`${kind}: ${what}: ${issues.join(", ")}: ${r.stderr.trim()}`);
}

/** The commands each wrong key is tried with: a secret read, a listing, a write. */
const PROBES: Array<{ args: string[]; stdin?: string }> = [
  { args: ["get", "openai", "-c", "a", "--field", "api_key", "--show-secret"] },
  { args: ["list"] },
  { args: ["login", "openai", "-c", "new", "--stdin"], stdin: "sk-keys_probe_0123456789abcdef" },
];

/** Logs in connections `a` and `b` of openai (and `c` in vault `work`); returns their keys. */
async function seed(home: string, env: Record<string, string>, run: Run): Promise<void> {
  for (const [vault, name] of [["default", "a"], ["default", "b"], ["work", "c"]] as const) {
    const key = apiKey(name);
    run.secrets.push(key);
    const r = await runAuthsome(["--vault", vault, "login", "openai", "-c", name, "--stdin"], {
      home,
      env,
      stdin: key,
    });
    if (r.code !== 0) throw new Error(`seeding ${vault}/${name} failed: ${r.stderr}`);
  }
}

/** Modes of the key file that others may read or write; each must be refused. */
const SHARED_MODES = [0o644, 0o640, 0o604, 0o660, 0o606, 0o666, 0o620, 0o602, 0o610, 0o601];

async function sharedKeyFile(ctx: StressContext, run: Run): Promise<void> {
  const home = join(ctx.scratch, "modes", "home");
  await seed(home, {}, run);
  const file = join(home, "master.key");
  for (const mode of ctx.size === "full" ? SHARED_MODES : SHARED_MODES.slice(0, 4)) {
    await Deno.chmod(file, mode);
    const r = await runAuthsome(PROBES[0]!.args, { home });
    expectRefused(
      run,
      "key file others may read",
      `mode ${mode.toString(8)}`,
      r,
      "Refusing to use",
    );
  }
  for (const mode of [0o600, 0o400]) {
    await Deno.chmod(file, mode);
    const r = await runAuthsome(PROBES[0]!.args, { home });
    if (r.code !== 0) {
      run.problems.push(`key file mode ${mode.toString(8)} was refused: ${r.stderr.trim()}`);
    }
  }
}

async function badEnvKeys(ctx: StressContext, run: Run): Promise<void> {
  const home = join(ctx.scratch, "env", "home");
  const bytes = (n: number) => crypto.getRandomValues(new Uint8Array(n)).toBase64();
  const bad: Array<[string, string]> = [
    ["1 byte", bytes(1)],
    ["16 bytes", bytes(16)],
    ["31 bytes", bytes(31)],
    ["33 bytes", bytes(33)],
    ["64 bytes", bytes(64)],
    ["hex of 32 bytes", crypto.getRandomValues(new Uint8Array(32)).toHex()],
    ["not base64", "this is not a key!"],
    ["32 bytes with a stray character", `${bytes(32)}*`],
  ];
  for (const [i, [label, key]] of bad.entries()) {
    // Full size: every key with every probe; the slice: the probes in turn.
    for (const probe of ctx.size === "full" ? PROBES : [PROBES[i % PROBES.length]!]) {
      const r = await runAuthsome(probe.args, {
        home,
        env: { AUTHSOME_MASTER_KEY: key },
        ...(probe.stdin === undefined ? {} : { stdin: probe.stdin }),
      });
      expectRefused(
        run,
        "wrong-length AUTHSOME_MASTER_KEY",
        `${label}, ${probe.args[0]}`,
        r,
        "AUTHSOME_MASTER_KEY is not the base64 of 32 bytes",
      );
    }
  }
  const left = await Deno.stat(home).then(
    () => [...Deno.readDirSync(home)].map((e) => e.name),
    () => [],
  );
  if (left.length > 0) {
    run.problems.push(`a refused key left files in an empty home: ${left.join(", ")}`);
  }
}

async function wrongKeys(ctx: StressContext, run: Run): Promise<void> {
  const home = join(ctx.scratch, "wrong", "home");
  const right = randomKey();
  await seed(home, { AUTHSOME_MASTER_KEY: right }, run);
  const flipped = Uint8Array.fromBase64(right);
  flipped[31]! ^= 1;
  const keys = [flipped.toBase64(), ...Array.from({ length: WRONG_KEYS[ctx.size] }, randomKey)];
  for (const [i, key] of keys.entries()) {
    const probe = PROBES[i % PROBES.length]!;
    const r = await runAuthsome(probe.args, {
      home,
      env: { AUTHSOME_MASTER_KEY: key },
      ...(probe.stdin === undefined ? {} : { stdin: probe.stdin }),
    });
    expectRefused(
      run,
      "another AUTHSOME_MASTER_KEY",
      i === 0 ? "the right key with one bit flipped" : `random key ${i}`,
      r,
    );
  }
  // The key file of another home in place of this home's (both made by a first login).
  const other = join(ctx.scratch, "other", "home");
  const fileHome = join(ctx.scratch, "file", "home");
  await seed(fileHome, {}, run);
  await seed(other, {}, run);
  await Deno.copyFile(join(other, "master.key"), join(fileHome, "master.key"));
  for (const probe of PROBES) {
    const r = await runAuthsome(probe.args, {
      home: fileHome,
      ...(probe.stdin === undefined ? {} : { stdin: probe.stdin }),
    });
    expectRefused(run, "another home's key file", probe.args[0]!, r);
  }
  // The right key still opens everything.
  const state = await readVault(home, right).catch(() => undefined);
  if (state?.connections.size !== 2) run.problems.push("the right key no longer opens the vault");
}

async function copiedRecords(ctx: StressContext, run: Run): Promise<void> {
  const key = randomKey();
  const env = { AUTHSOME_MASTER_KEY: key };
  const home = join(ctx.scratch, "copy", "home");
  const twin = join(ctx.scratch, "twin", "home");
  await seed(home, env, run);
  await seed(twin, env, run);
  const rows = storedRows(home);
  const row = (vault: string, key: string) => rows.find((r) => r.vault === vault && r.key === key)!;
  const a = row("default", "connection/openai/a");
  const get = (at: string, vault: string, name: string) =>
    runAuthsome(
      ["--vault", vault, "get", "openai", "-c", name, "--field", "api_key", "--show-secret"],
      { home: at, env },
    );
  // Into another slot of the same vault: a's sealed bytes as b.
  tamperRow(home, "default", "connection/openai/b", { nonce: a.nonce, ciphertext: a.ciphertext });
  expectRefused(
    run,
    "a record copied elsewhere",
    "into another slot",
    await get(home, "default", "b"),
  );
  // Into another vault of the same store: a's sealed bytes as work/c, and as a new work/a.
  tamperRow(home, "work", "connection/openai/c", { nonce: a.nonce, ciphertext: a.ciphertext });
  expectRefused(
    run,
    "a record copied elsewhere",
    "into another vault",
    await get(home, "work", "c"),
  );
  insertRow(home, { ...a, vault: "work" });
  expectRefused(
    run,
    "a record copied elsewhere",
    "into another vault, same key",
    await get(home, "work", "a"),
  );
  // Into another home sealed with the same master key, same vault and slot.
  tamperRow(twin, "default", "connection/openai/a", { nonce: a.nonce, ciphertext: a.ciphertext });
  expectRefused(
    run,
    "a record copied elsewhere",
    "into another home with the same key",
    await get(twin, "default", "a"),
  );
  // A connection's bytes in place of the provider record (the default) of the same vault.
  tamperRow(home, "default", "provider/openai", { nonce: a.nonce, ciphertext: a.ciphertext });
  expectRefused(
    run,
    "a record copied elsewhere",
    "into the provider record",
    await runAuthsome(["get", "openai", "--field", "api_key", "--show-secret"], { home, env }),
  );
}

/** Runs the key-handling part. */
export async function runKeys(ctx: StressContext): Promise<StressReport> {
  const started = performance.now();
  const run: Run = { problems: [], secrets: [], tallies: new Map(), messages: new Map() };
  await sharedKeyFile(ctx, run);
  await badEnvKeys(ctx, run);
  await wrongKeys(ctx, run);
  await copiedRecords(ctx, run);
  const figures: Array<[string, string]> = [];
  for (const [kind, tally] of run.tallies) {
    figures.push([`${kind}: refused / tried`, `${tally.refused} / ${tally.tried}`]);
  }
  for (const [kind, message] of run.messages) figures.push([`${kind}: the error`, message]);
  return { title: "Key handling", figures, problems: run.problems, seconds: secondsSince(started) };
}

/**
 * The key-handling part of the suite.
 *
 * @example
 * ```ts
 * import { keys } from "./keys.ts";
 * console.log(keys.name); // "keys"
 * ```
 */
export const keys: StressPart = { name: "keys", run: runKeys };
