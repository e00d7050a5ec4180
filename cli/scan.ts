/**
 * `scan`: the API keys in dotenv files and the environment against the vault, and `--import`.
 *
 * @module
 */
import type { ScanFinding, ScanImport, ScanReport } from "../mod.ts";
import { usage } from "./args.ts";
import type { Command, Output } from "./command.ts";
import { table } from "./output.ts";
import { watchKeyFile } from "./key_notice.ts";

const STATUS_WORDS: Record<ScanFinding["status"], string> = {
  "matches": "matches",
  "differs": "differs",
  "only-environment": "only in the environment",
  "only-authsome": "only in authsome",
  "neither": "neither",
};

/** The commands of this group, by name. */
export const SCAN_COMMANDS: Record<string, Command> = {
  scan: {
    usage: "scan [DIR] [--import [--connection NAME] [--yes]]",
    summary: "Compare the API keys in .env files and the environment with the vault; import them",
    options: ["import", "connection", "yes"],
    details: [
      "Reads .env, .env.local, .env.development(.local), .env.test(.local), .env.production(.local)",
      "in DIR (default: the current folder; a later file wins), then the environment (which wins",
      "over the files), for every API-key provider's variable. Values are never printed; a key",
      "that differs is shown as a short fingerprint of each side.",
      "--import stores what is only in the environment or differs: into --connection NAME, else",
      "`default` for a provider without connections, else `imported`. At a terminal you are asked",
      "first; elsewhere --yes is required. Files are never edited.",
    ],
    examples: [
      "authsome scan",
      "authsome scan ~/projects/agent --json",
      "authsome scan --import --yes",
    ],
    exitCodes: {
      0: "scanned (and everything asked for was imported)",
      64: "--import without a terminal and without --yes",
      65: "a key was refused on import (the placeholder of run, or not the provider's format)",
    },
    optionHelp: {
      connection:
        "The connection to import into (default: `default` for a provider without connections, else `imported`)",
    },
    args: [0, 1],
    async run({ values, args, io, out, service }) {
      const auth = await service();
      const dir = args[0] ?? ".";
      const report = await auth.scan({ dir });
      for (const p of report.problems) {
        io.stderr(`warning: ${p.file}:${p.line}: ${p.reason} (line skipped)\n`);
      }
      const importable = report.findings.filter((f) =>
        f.status === "only-environment" || f.status === "differs"
      );
      if (values.import !== true) {
        if (out.json) out.doc(report);
        else printReport(out, report, importable.length);
        return 0;
      }
      if (importable.length === 0) {
        if (out.json) out.doc({ ...report, imports: [] });
        else {
          printReport(out, report, 0);
          out.note("Nothing to import.");
        }
        return 0;
      }
      if (values.yes !== true) {
        const names = importable.map((f) => f.provider).join(", ");
        if (!io.stdinIsTerminal()) {
          throw usage(
            `scan --import would store ${importable.length} key(s) (${names})`,
            "Add --yes to confirm: authsome scan --import --yes",
          );
        }
        if (!out.json) printReport(out, report, importable.length);
        const answer = await io.readLine(
          `Import ${importable.length} key(s) (${names}) into the vault? [y/N] `,
        );
        if (!/^y(es)?$/i.test(answer?.trim() ?? "")) {
          out.note("Nothing was imported.");
          return 0;
        }
      }
      const announceKeyFile = await watchKeyFile(auth);
      const imports = await auth.importScanned({ dir, connection: values.connection });
      if (out.json) out.doc({ ...report, imports });
      else printImports(out, report, imports);
      await announceKeyFile(out);
      return imports.some((i) => i.outcome === "refused") ? 65 : 0;
    },
  },
};

function printReport(out: Output, report: ScanReport, importable: number): void {
  const shown = report.findings.filter((f) => f.status !== "neither");
  const neither = report.findings.length - shown.length;
  const files = report.files.length === 0 ? "no .env files" : report.files.join(", ");
  out.note(`Scanned ${report.dir} (${files}) and the environment.`);
  if (shown.length > 0) {
    out.data(table(
      ["PROVIDER", "VARIABLE", "STATUS", "FOUND IN", "IN AUTHSOME"],
      shown.map((f) => [
        f.provider,
        f.variable,
        STATUS_WORDS[f.status],
        f.source ?? "",
        stored(f),
      ]),
    ));
  }
  out.note(
    `${neither} other API-key provider${neither === 1 ? "" : "s"} in neither.` +
      (importable > 0 ? " Import what is missing or different: authsome scan --import" : ""),
  );
}

/** The stored side of a finding, without any value: names, and fingerprints when they differ. */
function stored(f: ScanFinding): string {
  if (f.status === "matches") return `${f.matched} (the same key)`;
  if (f.fingerprints !== null) {
    const theirs = Object.entries(f.fingerprints.stored).map(([c, p]) => `${c} ${p}`);
    return `${theirs.join(", ")}; found ${f.fingerprints.found}`;
  }
  return f.connections.join(", ");
}

function printImports(out: Output, report: ScanReport, imports: ScanImport[]): void {
  for (const i of imports) {
    if (i.outcome === "imported") {
      out.note(`Imported ${i.provider} (${i.connection}) from ${i.source}.`);
    } else {
      out.note(`${i.outcome === "refused" ? "Refused" : "Skipped"} ${i.provider}: ${i.reason}`);
    }
  }
  const fromFiles = imports.filter((i) => i.outcome === "imported" && i.source !== "environment");
  if (fromFiles.length > 0) {
    const used = new Set(fromFiles.map((i) => i.source.slice(0, i.source.lastIndexOf(":"))));
    const files = report.files.filter((f) => used.has(f)).join(", ");
    out.note(
      `Remove the imported keys from ${files} (authsome never edits them): ` +
        "'authsome export' and 'authsome run' give them to your programs now.",
    );
  }
}
