/**
 * `provider list | inspect | register | remove`: provider definitions.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { unknownSubcommand, usage } from "./args.ts";
import type { Command } from "./command.ts";
import { table } from "./output.ts";

/** The subcommands, as `--help` lists them. */
const SUBCOMMANDS = {
  list: { usage: "", summary: "List every provider: name, auth type, flow and origin" },
  inspect: { usage: "PROVIDER", summary: "Print a provider's definition as JSON" },
  register: {
    usage: "FILE [--force]",
    summary: "Add a provider from a JSON file (docs/PROVIDERS.md)",
  },
  remove: {
    usage: "PROVIDER",
    summary: "Delete a provider you registered (a bundled one of that name applies again)",
  },
};

/** The commands of this group, by name. */
export const PROVIDER_COMMANDS: Record<string, Command> = {
  provider: {
    usage: "provider list | inspect PROVIDER | register FILE [--force] | remove PROVIDER",
    summary: "Manage provider definitions",
    options: ["force"],
    subcommands: SUBCOMMANDS,
    optionHelp: {
      force: "register: replace a provider of the same name, bundled or yours",
    },
    examples: [
      "authsome provider list",
      "authsome provider register ./acme.json",
      "authsome provider remove acme",
    ],
    exitCodes: {
      0: "done",
      4: "unknown provider, or removing a bundled one",
      7: "a provider of that name exists already (add --force to replace it)",
      65: "the file cannot be read or is not a valid definition",
    },
    args: [1, 2],
    async run(ctx) {
      const [sub, arg] = ctx.args as [keyof typeof SUBCOMMANDS, string | undefined];
      if (!Object.hasOwn(SUBCOMMANDS, sub)) {
        throw unknownSubcommand("provider", sub, Object.keys(SUBCOMMANDS));
      }
      const auth = await ctx.service();
      const { out } = ctx;
      const need = (what: string) => {
        if (arg === undefined) {
          throw usage(`provider ${sub} needs ${what}`, "Run: authsome provider --help");
        }
        return arg;
      };
      switch (sub) {
        case "list": {
          const r = await auth.listProviders();
          for (const p of r.problems) ctx.io.stderr(`warning: skipped ${p}\n`);
          if (out.json) {
            out.doc({
              providers: r.providers.map((p) => ({
                name: p.name,
                display_name: p.display_name,
                auth_type: p.auth_type,
                flow: p.flow,
                origin: p.origin,
              })),
            });
          } else {
            out.data(table(
              ["NAME", "DISPLAY NAME", "AUTH", "FLOW", "ORIGIN"],
              r.providers.map((p) => [p.name, p.display_name, p.auth_type, p.flow, p.origin]),
            ));
          }
          return 0;
        }
        case "inspect": {
          const loaded = await auth.getProvider(need("a provider name"));
          out.doc(
            out.json ? { ...loaded.definition, origin: loaded.origin } : loaded.definition,
          );
          return 0;
        }
        case "register": {
          const file = need("a file");
          let text: string;
          try {
            text = await Deno.readTextFile(file);
          } catch {
            throw new AuthsomeError("INVALID_INPUT", `Cannot read ${file}`, {
              hint: "Check the path of the provider file",
            });
          }
          let doc: unknown;
          try {
            doc = JSON.parse(text.replace(/^\uFEFF/, "")); // a UTF-8 byte order mark is no error
          } catch (error) {
            throw new AuthsomeError(
              "INVALID_INPUT",
              `${file}: is not valid JSON (${(error as Error).message.split("\n")[0]})`,
              { hint: "See docs/PROVIDERS.md for the provider file format" },
            );
          }
          const loaded = await auth.registerProvider(doc, {
            force: ctx.values.force === true,
            source: file,
          });
          if (loaded.notice !== undefined) out.note(`notice: ${loaded.notice}`);
          if (out.json) {
            out.doc({
              status: "registered",
              provider: loaded.definition.name,
              path: loaded.path,
              ...(loaded.notice === undefined ? {} : { notice: loaded.notice }),
            });
          } else out.note(`Registered ${loaded.definition.name} (${loaded.path}).`);
          return 0;
        }
        case "remove": {
          const name = need("a provider name");
          const r = await auth.removeProvider(name);
          if (out.json) {
            out.doc({ status: "removed", provider: name, restored_bundled: r.restoredBundled });
          } else {
            out.note(
              `Removed ${name}.${
                r.restoredBundled ? " The bundled definition applies again." : ""
              }`,
            );
          }
          return 0;
        }
      }
    },
  },
};
