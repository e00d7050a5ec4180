/**
 * `get`, `export`, `list` and `inspect`: reading connections (secrets only when asked for).
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
// From its own module, not mod.ts: --help loads this file, and must not load the service.
import { SECRET_FIELDS, type SecretField } from "../service/types.ts";
import type { ExportFormat } from "../proxy/env_format.ts";
import { choice, OPTIONS, usage } from "./args.ts";
import type { Command } from "./command.ts";
import { publicConnection, table, textValue } from "./output.ts";

const FORMATS: readonly ExportFormat[] = OPTIONS.format.values;

/** The columns of one connection in `list` and `connections list`. */
export const CONNECTION_COLUMNS = ["CONNECTION", "DEFAULT", "STATUS", "EXPIRES"];

/** A connection's cells under {@linkcode CONNECTION_COLUMNS}: never `-`, words instead. */
export function connectionCells(
  c: { name: string; default: boolean; status: string; expires_at: string | null },
): string[] {
  return [c.name, c.default ? "yes" : "no", c.status, c.expires_at ?? "never"];
}

/** The commands of this group, by name. */
export const READ_COMMANDS: Record<string, Command> = {
  get: {
    usage: "get PROVIDER [--connection NAME] [--field FIELD [--show-secret]]",
    summary: "Show a connection's metadata, or one field",
    options: ["connection", "field", "show-secret"],
    details: [
      `Secret fields (${SECRET_FIELDS.join(", ")}) need --field F --show-secret,`,
      "which prints the raw value alone. An OAuth token due to expire is refreshed first.",
    ],
    examples: [
      "authsome get openai",
      "authsome get openai -c work --json",
      "authsome get github --field access_token --show-secret",
    ],
    exitCodes: {
      0: "shown",
      3: "no such connection (the hint lists them)",
      4: "unknown provider, or --show-secret inside 'authsome run'",
      5: "the token expired and could not be refreshed (log in again)",
      64: "usage error (a secret field without --show-secret, an unknown field)",
    },
    args: [1, 1],
    async run({ values, args, out, service }) {
      const auth = await service();
      const provider = args[0]!;
      const field = values.field;
      const isSecret = field !== undefined && (SECRET_FIELDS as readonly string[]).includes(field);
      if (values["show-secret"] && field === undefined) {
        throw usage(
          "--show-secret needs --field",
          "Example: authsome get openai --field api_key --show-secret",
        );
      }
      if (isSecret && !values["show-secret"]) {
        throw usage(
          `"${field}" is a secret field`,
          `Add --show-secret to print it: authsome get ${provider} --field ${field} --show-secret`,
        );
      }
      if (isSecret) {
        const value = await auth.getSecret(provider, field as SecretField, {
          connection: values.connection,
        });
        if (out.json) out.doc({ [field]: value });
        else out.data(value);
        return 0;
      }
      const info = await auth.getConnection(provider, { connection: values.connection });
      const shown = publicConnection(info);
      if (field !== undefined) {
        if (!(field in shown)) {
          throw new AuthsomeError("USAGE", `Unknown field "${field}"`, {
            hint: `${didYouMean(field, [...Object.keys(shown), ...SECRET_FIELDS])}Fields: ${
              [...Object.keys(shown), ...SECRET_FIELDS].join(", ")
            }`,
          });
        }
        const value = shown[field];
        if (out.json) out.doc({ [field]: value });
        else out.data(textValue(value));
        return 0;
      }
      if (out.json) out.doc(shown);
      else {
        out.data(
          Object.entries(shown).map(([k, v]) =>
            `${k}: ${textValue(v, k === "expires_at" ? "never" : "none")}`
          ).join("\n"),
        );
      }
      return 0;
    },
  },
  export: {
    usage: "export [PROVIDER] [--connection NAME] [--format env|shell|json]",
    summary: "Print the provider's environment variables (no provider: every default connection)",
    options: ["connection", "format"],
    details: [
      "env: dotenv lines (K=v, quoted only when needed); shell: export K='v' lines for eval;",
      'json: {"K": "v"}. Refresh tokens are never exported.',
    ],
    optionHelp: {
      connection: "The connection to export (default: the provider's default connection; " +
        "needs PROVIDER)",
    },
    examples: [
      "authsome export openai -c work > .env",
      'eval "$(authsome export openai --format shell)"',
      "authsome export --format json          # every provider's default connection",
    ],
    exitCodes: {
      0: "printed",
      3: "no such connection",
      4: "unknown provider, or export inside 'authsome run'",
      5: "the token expired and could not be refreshed (log in again)",
      64: "usage error (an unknown --format, --connection without PROVIDER)",
    },
    args: [0, 1],
    async run({ values, args, out, service }) {
      const format = values.format === undefined
        ? (out.json ? "json" : "env")
        : choice("--format", values.format, FORMATS);
      const r = await (await service()).export(args[0], {
        connection: values.connection,
        format,
      });
      out.data(r.text);
      return 0;
    },
  },
  list: {
    usage: "list [--all]",
    summary: "List your connections (--all: every provider, with or without one)",
    options: ["all"],
    details: [
      "One row per connection: provider, connection, default (yes/no), auth type, status and",
      "expiry (never when it does not expire), then a count of the providers without one.",
      "--all lists every provider; a provider without a connection has its connection cells empty.",
      "--json is the same document either way: every provider with its connections.",
    ],
    examples: ["authsome list", "authsome list --all", "authsome list --json"],
    exitCodes: { 0: "listed (also when the vault is empty)", 10: "the vault cannot be opened" },
    optionHelp: { all: "every provider, also those without a connection" },
    args: [0, 0],
    async run({ values, io, out, service }) {
      const r = await (await service()).listProviders();
      for (const p of r.problems) io.stderr(`warning: skipped ${p}\n`);
      if (out.json) {
        out.doc({
          vault: r.vault,
          providers: r.providers.map((p) => ({
            name: p.name,
            display_name: p.display_name,
            auth_type: p.auth_type,
            origin: p.origin,
            state: p.state,
            connections: p.connections,
          })),
        });
        return 0;
      }
      const connected = r.providers.filter((p) => p.connections.length > 0);
      const rest = r.providers.length - connected.length;
      if (values.all) {
        const rows = r.providers.flatMap((p) =>
          p.connections.length === 0
            ? [[p.name, p.auth_type, p.state]]
            : p.connections.map((c) => [p.name, p.auth_type, p.state, ...connectionCells(c)])
        );
        out.data(table(["PROVIDER", "AUTH", "STATE", ...CONNECTION_COLUMNS], rows));
        out.note(
          `Vault "${r.vault}": ${r.providers.length} providers, ${connected.length} with a connection`,
        );
        return 0;
      }
      if (connected.length === 0) {
        out.note(
          `No connections in vault "${r.vault}" yet. Log in with: authsome login PROVIDER ` +
            `(${rest} providers: authsome list --all)`,
        );
        return 0;
      }
      const rows = connected.flatMap((p) =>
        p.connections.map((c) => [p.name, p.auth_type, ...connectionCells(c)])
      );
      out.data(table(["PROVIDER", "AUTH", ...CONNECTION_COLUMNS], rows));
      out.note(`${rest} more providers without a connection: authsome list --all`);
      return 0;
    },
  },
  inspect: {
    usage: "inspect PROVIDER",
    summary: "Show a provider's definition and every connection (secrets redacted)",
    options: [],
    examples: ["authsome inspect github", "authsome inspect openai --json"],
    exitCodes: {
      0: "shown",
      4: "unknown provider",
      65: "the provider's file is not a valid definition",
    },
    args: [1, 1],
    async run({ args, out, service }) {
      const auth = await service();
      const loaded = await auth.getProvider(args[0]!);
      const connections = await auth.listConnections(loaded.definition.name);
      const doc = {
        ...loaded.definition,
        origin: loaded.origin,
        connections: connections.map(publicConnection),
      };
      if (out.json) {
        out.doc(doc);
        return 0;
      }
      const d = loaded.definition;
      const lines = [
        `${d.display_name} (${d.name}), ${d.auth_type} via ${d.flow}, ${loaded.origin} definition`,
        `API hosts: ${d.api_url.join(", ") || "none"}`,
        `Exports: ${Object.values(d.export.env).flat().join(", ") || "nothing"}`,
      ];
      if (d.docs) lines.push(`Docs: ${d.docs}`);
      lines.push(`Connections: ${connections.length === 0 ? "none" : ""}`);
      for (const c of connections) {
        lines.push(
          `  ${c.connection}${c.default ? " (default)" : ""}: ${c.status}, expires ${
            c.expires_at ?? "never"
          }, scopes ${c.scopes.join(" ") || "none"}, secrets ${
            c.secret_fields.map((f) => `${f}=***`).join(" ") || "none"
          }`,
        );
      }
      out.data(lines.join("\n"));
      return 0;
    },
  },
};
