/**
 * `whoami`, `doctor` and `log`: what authsome uses, whether it is healthy, what it did.
 *
 * @module
 */
import { EXIT_CODES } from "../errors.ts";
import { usage } from "./args.ts";
import type { Command } from "./command.ts";
import { VERSION } from "./version.ts";

/** The commands of this group, by name. */
export const ADMIN_COMMANDS: Record<string, Command> = {
  whoami: {
    usage: "whoami",
    summary: "Show the home folder, vault and master-key source",
    options: [],
    examples: ["authsome whoami", "authsome --vault clients whoami --json"],
    args: [0, 0],
    async run({ out, service }) {
      const w = await (await service()).whoami();
      if (out.json) out.doc({ version: VERSION, ...w });
      else {
        out.data(
          [
            `home: ${w.home}`,
            `vault: ${w.vault}${w.vault_exists ? "" : " (empty)"}`,
            `vaults: ${(w.vaults as string[]).join(", ") || "none yet"}`,
            `store: ${w.store} ${w.store_location}`,
            `master key: ${w.key_detail}`,
            `connections: ${w.connections} across ${w.providers_connected} provider(s)`,
            `version: ${VERSION}`,
          ].join("\n"),
        );
      }
      return 0;
    },
  },
  doctor: {
    usage: "doctor",
    summary: "Run health checks (exit 0 only when all pass)",
    options: [],
    examples: ["authsome doctor", "authsome doctor --json"],
    exitCodes: { 0: "every check passed", 1: "a check failed (the FAIL lines say which)" },
    args: [0, 0],
    async run({ out, service }) {
      const checks = await (await service()).doctor();
      const ok = checks.every((c) => c.ok);
      if (out.json) out.doc({ ok, checks });
      else {
        out.data(checks.map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}`).join("\n"));
      }
      return ok ? 0 : EXIT_CODES.UNEXPECTED;
    },
  },
  log: {
    usage: "log [-n N] [--identity NAME] [--provider P] [--connection C]",
    summary:
      "Show the last N audit entries (default 50): of one agent identity, provider or connection",
    options: ["n", "identity", "provider", "connection"],
    examples: [
      "authsome log -n 20",
      "authsome log --identity agent --json",
      "authsome log --provider openai --connection work",
    ],
    exitCodes: { 0: "shown (also when there are none yet)", 64: "-n is not a whole number" },
    args: [0, 0],
    async run({ values, out, service }) {
      const n = values.n === undefined ? 50 : Number(values.n);
      if (!Number.isInteger(n) || n < 0) {
        throw usage("-n needs a whole number", "Example: authsome log -n 20");
      }
      const entries = await (await service()).auditLog(n, {
        identity: values.identity,
        provider: values.provider,
        connection: values.connection,
      });
      if (out.json) out.doc({ entries });
      else if (entries.length === 0) out.note("No audit entries yet.");
      else {
        out.data(
          entries.map((e) =>
            [
              e.time,
              e.action,
              // Nothing is printed for an entry about no provider (never a "-" that reads as data).
              ...(e.provider === undefined ? [] : [`${e.provider}/${e.connection ?? "*"}`]),
              `vault=${e.vault}`,
              ...(e.identity === undefined ? [] : [`identity=${e.identity}`]),
              e.outcome === "error" ? `error ${e.error ?? ""}`.trim() : e.outcome,
              ...Object.entries(e.detail ?? {}).map(([k, v]) => `${k}=${v}`),
            ].join("  ")
          ).join("\n"),
        );
      }
      return 0;
    },
  },
};
