/**
 * `store status | copy --to URL|DIR`: which store is used and its health, and copying every
 * vault to another store (nothing is decrypted).
 *
 * @module
 */
import { usage } from "./args.ts";
import type { SharedAuditEntry } from "../mod.ts";
import type { Command, Output } from "./command.ts";
import { table } from "./output.ts";

/**
 * Prints the audit entries of every host sharing the store (`store log`, `log --all-hosts`): one
 * line each, with its host; a missing provider leaves its cell out (never a `-`).
 *
 * @example
 * ```ts ignore
 * printFleetLog(out, await auth.fleetAuditLog(20));
 * ```
 */
export function printFleetLog(out: Output, entries: SharedAuditEntry[]): void {
  if (out.json) out.doc({ entries });
  else if (entries.length === 0) out.note("No audit entries yet.");
  else {
    out.data(
      entries.map(({ host, entry: e }) =>
        [
          String(e.time),
          `host=${host}`,
          String(e.action),
          ...(e.provider === undefined ? [] : [`${e.provider}/${e.connection ?? "*"}`]),
          `vault=${e.vault}`,
          ...(e.identity === undefined ? [] : [`identity=${e.identity}`]),
          e.outcome === "error" ? `error ${e.error ?? ""}`.trim() : String(e.outcome),
        ].join("  ")
      ).join("\n"),
    );
  }
}

/** The commands of this group, by name. */
export const STORE_COMMANDS: Record<string, Command> = {
  store: {
    usage: "store status | store copy --to URL|DIR | store log [-n N]",
    summary:
      "Show which store is used and its health, copy every vault to another store, or show every host's audit entries",
    options: ["to", "n"],
    args: [1, 1],
    details: [
      "status lists the vaults and their record counts (nothing sealed is opened).",
      "copy --to moves every vault, sealed as it is, into a PostgreSQL database",
      "(postgres://…; its password from PGPASSWORD or ~/.pgpass, never on the command line) or",
      "into the embedded store of a home folder, in one transaction, and counts again there.",
      "log shows the last N (default 50) audit entries of every host sharing a PostgreSQL store.",
    ],
    examples: [
      "authsome store status",
      "authsome store copy --to postgres://authsome@db.internal:5432/authsome?sslmode=verify-full",
      "AUTHSOME_STORE=postgres://authsome@db.internal/authsome authsome store copy --to ~/.authsome",
      "authsome store log -n 20",
    ],
    exitCodes: {
      10: "the store (or the destination) cannot be reached or read",
      64: "the destination already has one of the vaults, or --to holds a password",
    },
    optionHelp: { to: "A postgres:// URL (no password) or a home folder" },
    async run({ args, values, out, service }) {
      const [sub] = args;
      if (sub === "status") {
        const s = await (await service()).storeStatus();
        if (out.json) out.doc(s);
        else {
          out.data(`store: ${s.kind} ${s.location} (answered in ${s.elapsed_ms} ms)`);
          if (s.vaults.length === 0) out.note("No vaults yet.");
          else {out.data(
              table(["VAULT", "RECORDS"], s.vaults.map((v) => [v.name, String(v.records)])),
            );}
        }
        return 0;
      }
      if (sub === "log") {
        const n = values.n === undefined ? 50 : Number(values.n);
        if (!Number.isInteger(n) || n < 0) {
          throw usage("-n needs a whole number", "Example: authsome store log -n 20");
        }
        printFleetLog(out, await (await service()).fleetAuditLog(n));
        return 0;
      }
      if (sub !== "copy") {
        throw usage(
          `Unknown store command "${sub}"`,
          "Use: authsome store status | store copy --to URL|DIR | store log [-n N]",
        );
      }
      const to = values.to;
      if (to === undefined || to === "") {
        throw usage(
          "store copy needs --to URL|DIR",
          "Example: authsome store copy --to postgres://authsome@db/authsome",
        );
      }
      if (hasPassword(to)) {
        throw usage(
          "--to must not hold a password: other processes can read the command line",
          "Put the destination's password in PGPASSWORD or ~/.pgpass",
        );
      }
      const r = await (await service()).copyStore(to);
      if (out.json) out.doc(r);
      else {
        out.data(
          `Copied ${r.vaults.length} vault(s), ${r.records} records, from ${r.from} to ${r.to}; ` +
            "counts checked in the destination, nothing decrypted.",
        );
      }
      return 0;
    },
  },
};

function hasPassword(url: string): boolean {
  try {
    const parsed = new URL(url);
    return /^postgres(ql)?:$/i.test(parsed.protocol) &&
      (parsed.password !== "" || parsed.searchParams.has("password"));
  } catch {
    return false;
  }
}
