/**
 * `deno task stress [PART…]`: runs the adversarial suite at its full sizes and writes the figures
 * into docs/RELIABILITY.md between the `stress:begin` and `stress:end` markers. `--size slice`
 * runs the small sizes `npm test` uses; `--no-write` leaves the document alone. Exits 1 when a
 * part found a problem (after writing the figures, which list it).
 *
 * @module
 */
import { join } from "node:path";
import type { StressReport, StressSize } from "./part.ts";
import { secondsSince } from "./part.ts";
import { PARTS } from "./parts.ts";

const DOC = join(import.meta.dirname ?? ".", "..", "docs", "RELIABILITY.md");
const BEGIN = "<!-- stress:begin -->";
const END = "<!-- stress:end -->";

/**
 * The figures of a run as Markdown: one table per part, its problems, and its wall time.
 *
 * @example
 * ```ts
 * import { renderReports } from "./main.ts";
 * const text = renderReports([{ title: "Nothing", figures: [["runs", 1]], problems: [], seconds: 0.1 }], "full", "2026-12-04");
 * console.log(text.includes("| runs | 1 |")); // true
 * ```
 */
export function renderReports(reports: StressReport[], size: StressSize, date: string): string {
  const lines = [
    `Latest run: ${date}, \`deno task stress\` (size \`${size}\`) on this machine (2 cores, Deno ${Deno.version.deno}).`,
    "",
  ];
  for (const report of reports) {
    lines.push(`### ${report.title}`, "", "| figure | value |", "| --- | ---: |");
    for (const [label, value] of report.figures) lines.push(`| ${label} | ${value} |`);
    lines.push(`| wall time | ${report.seconds} s |`, "");
    if (report.problems.length > 0) {
      lines.push("Problems found:", "", ...report.problems.map((problem) => `- ${problem}`), "");
    }
  }
  return lines.join("\n");
}

/**
 * Replaces the text between the markers of `doc` with `body` (appends a section when the markers
 * are missing).
 *
 * @example
 * ```ts
 * import { replaceBetweenMarkers } from "./main.ts";
 * const doc = "a\n<!-- stress:begin -->\nold\n<!-- stress:end -->\nb";
 * console.log(replaceBetweenMarkers(doc, "new"));
 * ```
 */
export function replaceBetweenMarkers(doc: string, body: string): string {
  const start = doc.indexOf(BEGIN);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) {
    return `${doc.trimEnd()}\n\n## Adversarial suite figures\n\n${BEGIN}\n${body}\n${END}\n`;
  }
  return `${doc.slice(0, start + BEGIN.length)}\n${body}\n${doc.slice(end)}`;
}

async function main(args: string[]): Promise<number> {
  const size: StressSize = args.includes("--size") && args[args.indexOf("--size") + 1] === "slice"
    ? "slice"
    : "full";
  const names = args.filter((arg, i) => !arg.startsWith("--") && args[i - 1] !== "--size");
  const unknown = names.filter((name) => !PARTS.some((part) => part.name === name));
  if (unknown.length > 0) {
    console.error(`error: No stress part "${unknown[0]}"`);
    console.error(`hint: The parts are: ${PARTS.map((part) => part.name).join(", ")}`);
    return 64;
  }
  const chosen = names.length === 0 ? PARTS : PARTS.filter((part) => names.includes(part.name));
  const reports: StressReport[] = [];
  for (const part of chosen) {
    const scratch = await Deno.makeTempDir({ prefix: `authsome-stress-${part.name}-` });
    const started = performance.now();
    console.error(`stress: ${part.name} (${size})…`);
    try {
      const report = await part.run({ size, scratch, log: (line) => console.error(`  ${line}`) });
      reports.push(report);
      console.error(
        `stress: ${part.name}: ${report.problems.length} problem(s), ${secondsSince(started)} s`,
      );
    } finally {
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  }
  if (!args.includes("--no-write")) {
    const doc = await Deno.readTextFile(DOC);
    const date = new Date().toISOString().slice(0, 10);
    await Deno.writeTextFile(DOC, replaceBetweenMarkers(doc, renderReports(reports, size, date)));
  }
  return reports.some((report) => report.problems.length > 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
