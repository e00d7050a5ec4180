/**
 * `import python [HOME]`: brings the connections, defaults, OAuth clients and custom provider
 * files of the Python original of authsome into the current vault.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { usage } from "./args.ts";
import type { Command } from "./command.ts";
import { table } from "./output.ts";

/** The commands of this group, by name. */
export const IMPORT_COMMANDS: Record<string, Command> = {
  import: {
    usage: "import python [HOME] [--profile NAME] [--force]",
    summary: "Import the store of the Python authsome (default ~/.authsome) into this vault",
    options: ["profile", "force"],
    subcommands: {
      python: {
        usage: "[HOME] [--profile NAME] [--force]",
        summary: "The home of the Python authsome (default ~/.authsome)",
      },
    },
    details: [
      "Reads HOME/profiles/<profile>/store.db and HOME/master.key of the Python original and",
      "writes every connection, default connection and OAuth client it can map into the current",
      "vault in one transaction, sealed authsome's way; HOME/providers/*.json become your",
      "providers. The source is only read. What exists here already is kept (--force replaces",
      "it), so running it again imports nothing new. What cannot be mapped is named and skipped.",
      "A key kept in the OS keyring (mode keyring) cannot be read: export it (base64) to",
      "AUTHSOME_PYTHON_MASTER_KEY or AUTHSOME_MASTER_KEY first.",
    ],
    optionHelp: {
      force: "Replace connections, clients, defaults and providers that exist here already",
    },
    examples: [
      "authsome import python",
      "authsome import python /backup/.authsome --profile work",
      'AUTHSOME_PYTHON_MASTER_KEY="$KEY" authsome import python --force',
    ],
    exitCodes: {
      0: "imported (also when everything was here already, or some items were skipped)",
      10: "the source's master key is missing, in the OS keyring, or does not open its store",
      65: "HOME is not a home of the Python authsome",
    },
    args: [1, 2],
    async run({ values, args, io, out, service }) {
      const [kind, home] = args;
      if (kind !== "python") {
        throw usage(
          `Unknown import source "${kind}"`,
          "The one source is the Python authsome: authsome import python [HOME]",
        );
      }
      const source = home ?? joinPath(io.env.get("HOME") ?? "~", ".authsome");
      const auth = await service();
      const report = await auth.importPython({
        source,
        profile: values.profile,
        force: values.force === true,
      });
      if (out.json) {
        out.doc(report);
        return 0;
      }
      if (report.items.length > 0) {
        out.data(table(
          ["WHAT", "PROVIDER", "CONNECTION", "RESULT"],
          report.items.map((i) => [
            i.kind,
            i.provider,
            i.connection ?? "-",
            i.reason === undefined ? i.outcome : `${i.outcome}: ${i.reason}`,
          ]),
        ));
      }
      const count = (kind: string, outcome: string[]) =>
        report.items.filter((i) => i.kind === kind && outcome.includes(i.outcome)).length;
      const done = ["imported", "replaced"];
      const skipped = report.items.filter((i) => i.outcome === "skipped").length;
      out.note(
        `Imported ${count("connection", done)} connection(s), ${count("client", done)} ` +
          `client(s) and ${count("provider", done)} provider(s) from ${report.source} ` +
          `(profile ${report.profile}, key from ${report.key_source}) into vault ` +
          `"${report.vault}"; ${skipped} skipped, ` +
          `${report.items.filter((i) => i.outcome === "exists").length} already here.`,
      );
      return 0;
    },
  },
};
