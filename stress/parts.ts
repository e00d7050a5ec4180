/**
 * The parts of the adversarial suite, in the order `deno task stress` runs them.
 *
 * @module
 */
import type { StressPart } from "./part.ts";
import { canariesPart } from "./canaries.ts";
import { concurrency } from "./concurrency.ts";
import { crash } from "./crash.ts";
import { fuzzPart } from "./fuzz.ts";
import { hostilePart } from "./hostile.ts";
import { keys } from "./keys.ts";

/**
 * Every part of the suite.
 *
 * @example
 * ```ts
 * import { PARTS } from "./parts.ts";
 * console.log(PARTS.map((part) => part.name));
 * ```
 */
export const PARTS: StressPart[] = [
  crash,
  concurrency,
  keys,
  fuzzPart,
  canariesPart,
  hostilePart,
];
