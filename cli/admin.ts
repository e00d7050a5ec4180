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
    usage: "log [-n N] [--identity NAME] [--provider P] [--connection C] [--all-hosts]",
    summary:
      "Show the last N audit entries (default 50): of one agent identity, provider or connection",
    options: ["n", "identity", "provider", "connection", "all-hosts"],
    details: [
      "--all-hosts shows the entries of every host sharing a PostgreSQL store, with their host",
      "names (the same as 'authsome store log').",
    ],
    examples: [
      "authsome log -n 20",
      "authsome log --identity agent --json",
      "authsome log --provider openai --connection work",
      "AUTHSOME_STORE=postgres://authsome@db.internal/authsome authsome log --all-hosts",
    ],
    exitCodes: {
      0: "shown (also when there are none yet)",
      64: "-n is not a whole number; --all-hosts without a shared store",
    },
    args: [0, 0],
    async run({ values, out, service }) {
      const n = values.n === undefined ? 50 : Number(values.n);
      if (!Number.isInteger(n) || n < 0) {
        throw usage("-n needs a whole number", "Example: authsome log -n 20");
      }
      if (values["all-hosts"]) {
        const { printFleetLog } = await import("./store.ts");
        const filtered = values.identity !== undefined || values.provider !== undefined ||
          values.connection !== undefined;
        // With a filter, look further back so that N matching entries can be shown.
        const all = await (await service()).fleetAuditLog(filtered ? Math.max(n * 50, 5000) : n);
        const matching = all.filter(({ entry: e }) =>
          (values.identity === undefined || e.identity === values.identity) &&
          (values.provider === undefined || e.provider === values.provider) &&
          (values.connection === undefined || e.connection === values.connection)
        );
        printFleetLog(out, n === 0 ? [] : matching.slice(-n));
        return 0;
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
