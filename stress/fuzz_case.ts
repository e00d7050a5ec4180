/**
 * What the fuzz part's case generators share: the case shape, the secrets of the golden home,
 * and small helpers.
 *
 * @module
 */
import { join } from "node:path";
import type { CliCase } from "./harness.ts";

/** One generated case: what it is (for the report), the invocation, and the value it may print. */
export interface FuzzCase {
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

/** The secrets the golden home holds (fuzz.ts logs them in; stores read them back). */
export const KEYS = {
  openaiDefault: `sk-fuzzDefault${"A".repeat(24)}1`,
  openaiWork: `sk-fuzzWork${"B".repeat(24)}2`,
  anthropic: `sk-ant-fuzz${"C".repeat(24)}3`,
};

let homes = 0;

/**
 * A new, not yet existing `AUTHSOME_HOME` under `scratch`, one per case.
 *
 * @example
 * ```ts
 * import { freshHome } from "./fuzz_case.ts";
 * console.log(freshHome("/tmp/scratch") !== freshHome("/tmp/scratch")); // true
 * ```
 */
export function freshHome(scratch: string): string {
  return join(scratch, `case-${++homes}`, "home");
}

/**
 * Flips bit `bit` of byte `at`.
 *
 * @example
 * ```ts
 * import { flip } from "./fuzz_case.ts";
 * const bytes = new Uint8Array([0]);
 * flip(bytes, 0, 1);
 * console.log(bytes[0]); // 2
 * ```
 */
export function flip(bytes: Uint8Array, at: number, bit: number): void {
  bytes[at] = bytes[at]! ^ (1 << bit);
}
