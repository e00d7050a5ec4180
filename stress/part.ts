/**
 * The shape every part of the adversarial suite (`deno task stress`, issue 13) shares: a part
 * runs at a size (`slice` in `npm test`, `full` in `deno task stress`), and reports its figures
 * and every problem it found. A part never throws for a finding; it lists it in `problems`.
 *
 * @module
 */

/** How big a run is: `slice` (seconds, in `npm test`) or `full` (the documented sizes). */
export type StressSize = "slice" | "full";

/** What a part is given: its size, a line logger for progress, and a scratch directory it owns. */
export interface StressContext {
  /** `slice` in `npm test`, `full` in `deno task stress`. */
  size: StressSize;
  /** Progress lines (stderr of `deno task stress`); never a secret. */
  log: (line: string) => void;
  /** An empty directory the part may fill and leave behind; removed by the runner. */
  scratch: string;
}

/** One row of a part's figures table: what was measured and its value. */
export type StressFigure = readonly [label: string, value: string | number];

/** What a part reports. */
export interface StressReport {
  /** The part's heading in docs/RELIABILITY.md, e.g. "Crash safety". */
  title: string;
  /** The figures, in the order they are shown. */
  figures: StressFigure[];
  /** Every rule the part found broken, one line each (empty when all held). */
  problems: string[];
  /** Wall time of the part, seconds. */
  seconds: number;
}

/**
 * A part of the suite.
 *
 * @example
 * ```ts
 * import type { StressPart } from "./part.ts";
 * const noop: StressPart = {
 *   name: "noop",
 *   run: (ctx) =>
 *     Promise.resolve({ title: "Nothing", figures: [["size", ctx.size]], problems: [], seconds: 0 }),
 * };
 * ```
 */
export interface StressPart {
  /** Short name used on the command line: `deno task stress crash`. */
  name: string;
  /** Runs the part and reports. */
  run(ctx: StressContext): Promise<StressReport>;
}

/**
 * Seconds since `started` (a `performance.now()` reading), rounded to 0.1 s.
 *
 * @example
 * ```ts
 * import { secondsSince } from "./part.ts";
 * const started = performance.now();
 * console.log(secondsSince(started) >= 0); // true
 * ```
 */
export function secondsSince(started: number): number {
  return Math.round((performance.now() - started) / 100) / 10;
}
