/**
 * The fuzz part's mutated stores: copies of the golden home's store with one of eight kinds of
 * damage (each kind in turn), read by a command that prints a secret or lists.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { baseEnv, copyTree, Random } from "./harness.ts";
import { flip, freshHome, type FuzzCase, KEYS } from "./fuzz_case.ts";

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

/**
 * `count` store cases over copies of the store in `golden`.
 *
 * @example
 * ```ts
 * import { Random } from "./harness.ts";
 * import { storeCases } from "./fuzz_stores.ts";
 * console.log(storeCases(new Random(1), 8, "/tmp/x", "/tmp/golden").length); // 8
 * ```
 */
export function storeCases(
  random: Random,
  count: number,
  scratch: string,
  golden: string,
): FuzzCase[] {
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
