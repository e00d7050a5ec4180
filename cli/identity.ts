/**
 * `identity`: agent identities and their policies (create, list, show, remove).
 *
 * @module
 */
import type { IdentityInfo } from "../mod.ts";
import { unknownSubcommand, usage } from "./args.ts";
import type { Command } from "./command.ts";

/** One line per allowed provider: `github/work  read-only  paths /repos/acme`. */
function grantLines(info: IdentityInfo): string[] {
  return info.allow.map((g) =>
    [
      `  ${g.provider}/${g.connection ?? "(default)"}`,
      g.read_only ? "read-only" : "read-write",
      g.paths.length > 0 ? `paths ${g.paths.join(", ")}` : "any path",
    ].join("  ")
  );
}

function describe(info: IdentityInfo): string {
  return [
    `identity: ${info.name}`,
    `created: ${info.created_at}`,
    `expires: ${info.expires_at ?? "never"}${info.expired ? " (expired)" : ""}`,
    "allows:",
    ...grantLines(info),
    `key: ${info.key_fingerprint}`,
  ].join("\n");
}

/** The subcommands, as `--help` lists them. */
const SUBCOMMANDS = {
  create: {
    usage: "NAME --allow P[/C]... [--read-only P]... [--path P=/PREFIX]... [--expires D]",
    summary: "Create an identity with what it may use",
  },
  list: { usage: "", summary: "List the identities" },
  show: { usage: "NAME", summary: "Show an identity's policy and key fingerprint" },
  remove: { usage: "NAME", summary: "Delete an identity" },
};

/** The commands of this group, by name. */
export const IDENTITY_COMMANDS: Record<string, Command> = {
  identity: {
    usage: "identity create NAME --allow P[/C]... [OPTIONS] | list | show NAME | remove NAME",
    summary: "Manage agent identities: which connections an agent may use, and how",
    options: ["allow", "read-only", "path", "expires"],
    subcommands: SUBCOMMANDS,
    details: [
      "An identity names what one agent may use, and how. Run the agent with:",
      "authsome run --as NAME -- CMD. See docs/IDENTITIES.md.",
    ],
    examples: [
      "authsome identity create agent --allow github/work --read-only github --expires 12h",
      "authsome run --as agent -- ./agent.sh",
      "authsome identity show agent --json",
    ],
    exitCodes: {
      0: "done",
      3: "no such identity",
      4: "unknown provider in --allow",
      6: "the identity exists already",
      64: "usage error (no --allow, a bad --path or --expires)",
    },
    args: [1, 2],
    async run({ values, all, args, out, service }) {
      const [action, name] = args as [keyof typeof SUBCOMMANDS, string | undefined];
      if (!Object.hasOwn(SUBCOMMANDS, action)) {
        throw unknownSubcommand("identity", action, Object.keys(SUBCOMMANDS));
      }
      const needsName = () => {
        if (name === undefined) {
          throw usage(
            `identity ${action} needs a NAME`,
            `Example: authsome identity ${action} agent`,
          );
        }
        return name;
      };
      const auth = await service();
      switch (action) {
        case "create": {
          const info = await auth.createIdentity(needsName(), {
            allow: all.allow ?? [],
            readOnly: all["read-only"],
            paths: all.path,
            expires: values.expires,
          });
          if (out.json) out.doc(info);
          else out.note(`Created identity ${info.name}.\n${describe(info)}`);
          return 0;
        }
        case "list": {
          if (name !== undefined) {
            throw usage("identity list takes no NAME", "Run: authsome identity list");
          }
          const list = await auth.listIdentities();
          if (out.json) out.doc({ identities: list });
          else if (list.length === 0) out.note("No identities yet.");
          else {
            out.data(
              list.map((i) =>
                `${i.name}  ${i.allow.map((g) => g.provider).join(",")}  expires ${
                  i.expires_at ?? "never"
                }${i.expired ? " (expired)" : ""}`
              ).join("\n"),
            );
          }
          return 0;
        }
        case "show": {
          const info = await auth.getIdentity(needsName());
          if (out.json) out.doc(info);
          else out.data(describe(info));
          return 0;
        }
        case "remove": {
          await auth.removeIdentity(needsName());
          out.note(`Removed identity ${name}.`);
          return 0;
        }
      }
    },
  },
};
