/**
 * The authsome command line: argv → command → service. The only module that prints to the
 * terminal or sets an exit code.
 *
 * @example
 * ```sh
 * ./authsome login openai --connection work
 * ./authsome export openai --connection work --format shell
 * ```
 *
 * @module
 */
import { ENV_VARS } from "./config.ts";
import { AuthsomeError, EXIT_CODES } from "./errors.ts";
import type { Flow } from "./providers/schema.ts";
import type { ExportFormat } from "./proxy/env_format.ts";
import {
  type AuthService,
  type ConnectionInfo,
  createAuthService,
  type InputRequest,
  SECRET_FIELDS,
  type SecretField,
} from "./service.ts";

/** The version printed by `--version`; kept equal to deno.json's by a test. */
export const VERSION = "0.1.0";

/** Where the CLI reads and writes; `Deno` streams by default, replaced in tests. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  stdinIsTerminal(): boolean;
  stderrIsTerminal(): boolean;
  /** Reads one line without echo; undefined when there is no terminal. */
  readMasked(prompt: string): Promise<string | undefined>;
  /** Reads one line with echo; undefined when there is no terminal. */
  readLine(prompt: string): Promise<string | undefined>;
  env: { get(name: string): string | undefined };
}

const OPTIONS = {
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "no-color": { type: "boolean" },
  vault: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  connection: { type: "string", short: "c" },
  force: { type: "boolean" },
  flow: { type: "string" },
  scopes: { type: "string" },
  "base-url": { type: "string" },
  "client-id": { type: "string" },
  stdin: { type: "boolean" },
  env: { type: "boolean" },
  "reset-client": { type: "boolean" },
  "callback-port": { type: "string" },
  timeout: { type: "string" },
  field: { type: "string" },
  "show-secret": { type: "boolean" },
  format: { type: "string" },
  n: { type: "string", short: "n" },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: typeof OPTIONS[K]["type"] extends "string" ? string : boolean };

const GLOBAL: OptionName[] = ["json", "quiet", "no-color", "vault", "help", "version"];

interface Command {
  usage: string;
  summary: string;
  options: OptionName[];
  /** Extra help lines. */
  details?: string[];
  /** Positional arguments: min and max count. */
  args: [number, number];
  run(ctx: Context): Promise<number>;
}

interface Context {
  values: Values;
  /** Every value of options given more than once (e.g. run's --connection P=C). */
  all: Partial<Record<OptionName, string[]>>;
  args: string[];
  io: CliIO;
  out: Output;
  service(): Promise<AuthService>;
}

class Output {
  constructor(private io: CliIO, readonly json: boolean, readonly quiet: boolean) {}
  /** Data: always printed. */
  data(text: string): void {
    this.io.stdout(text.endsWith("\n") || text === "" ? text : text + "\n");
  }
  /** A JSON document on stdout. */
  doc(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 2) + "\n");
  }
  /** A status line for people: stderr, hidden by --quiet and --json. */
  note(text: string): void {
    if (!this.quiet && !this.json) this.io.stderr(text + "\n");
  }
}

const FLOWS: Flow[] = ["pkce", "device_code", "dcr_pkce", "api_key"];
const FORMATS: ExportFormat[] = ["env", "shell", "json"];

const COMMANDS: Record<string, Command> = {
  login: {
    usage: "login PROVIDER [--connection NAME] [--force] [--flow FLOW] [--scopes a,b] " +
      "[--base-url URL] [--client-id ID] [--reset-client] [--callback-port N] [--timeout S] [--stdin]",
    summary: "Log in to a provider and store the connection",
    options: [
      "connection",
      "force",
      "flow",
      "scopes",
      "base-url",
      "client-id",
      "reset-client",
      "callback-port",
      "timeout",
      "stdin",
    ],
    details: [
      "Secrets are never taken as arguments. An API key (or OAuth client secret) comes from the",
      "provider's environment variable (e.g. OPENAI_API_KEY), else stdin with --stdin, else a",
      "local browser form (when $BROWSER is set or a desktop is there), else a hidden prompt.",
      "--force replaces an existing connection and makes it the default.",
      "OAuth2 (flows pkce, device_code, dcr_pkce): the browser login redirects to",
      "http://127.0.0.1:7998/auth/callback/oauth unless the provider or --callback-port says",
      "otherwise; register that exact URI in your OAuth app. $BROWSER opens the URL when set.",
      "The client ID and secret are stored once per provider and vault; --reset-client asks again.",
    ],
    args: [1, 1],
    async run({ values, args, io, out, service }) {
      const provider = args[0]!;
      const flow = values.flow === undefined ? undefined : choice("--flow", values.flow, FLOWS);
      const callbackPort = values["callback-port"] === undefined
        ? undefined
        : wholeNumber("--callback-port", values["callback-port"], 0, 65535);
      const timeoutSeconds = values.timeout === undefined
        ? undefined
        : wholeNumber("--timeout", values.timeout, 1, 86400);
      const auth = await service();
      const abort = new AbortController();
      // Ctrl-C cancels (exit 2): a waiting browser, form or device login stops and closes its
      // server; anything that does not stop within a second (a read of stdin) is ended here.
      const cancel = () => {
        io.stderr("\nerror: Cancelled\nhint: Nothing was stored\n");
        Deno.exit(EXIT_CODES.AUTH_FAILED);
      };
      const onSigint = () => {
        if (abort.signal.aborted) cancel();
        abort.abort();
        Deno.unrefTimer(setTimeout(cancel, 1000));
      };
      Deno.addSignalListener("SIGINT", onSigint);
      let waiting = false;
      let devicePage: {
        setStatus(s: "approved" | "denied" | "expired"): void;
        close(): Promise<void>;
      } | undefined;
      try {
        const result = await auth.login(provider, {
          connection: values.connection,
          force: values.force,
          flow,
          scopes: values.scopes?.split(",").map((s) => s.trim()).filter((s) => s !== ""),
          baseUrl: values["base-url"],
          clientId: values["client-id"],
          resetClient: values["reset-client"],
          callbackPort,
          timeoutSeconds,
          signal: abort.signal,
          readFields: (request) =>
            readFields(io, request, {
              fromStdin: values.stdin === true,
              timeoutSeconds: timeoutSeconds ?? 300,
              signal: abort.signal,
            }),
          onAuthorizationUrl: (url) => {
            io.stderr(`Open this page to log in to ${provider}:\n\n  ${url}\n\n`);
            openBrowser(io, url);
            io.stderr(
              `Waiting for the browser (up to ${timeoutSeconds ?? 300} s; Ctrl-C cancels)...\n`,
            );
          },
          onDeviceCode: async (d) => {
            if (canOpenBrowser(io)) {
              const { startDevicePage } = await import("./providers/device_page.ts");
              const page = startDevicePage(d);
              devicePage = page;
              io.stderr(`Showing the code in your browser: ${page.url}\n`);
              openBrowser(io, page.url);
            }
            io.stderr(
              `To log in to ${provider}, open ${d.verification_uri}\nand enter the code:\n\n    ${d.user_code}\n\n` +
                (d.verification_uri_complete
                  ? `Or open ${d.verification_uri_complete} (code filled in).\n`
                  : "") +
                `The code expires in ${d.expires_in} s. Ctrl-C cancels.\n`,
            );
          },
          onDeviceWaiting: (left) => {
            if (!io.stderrIsTerminal()) return;
            waiting = true;
            io.stderr(`\rWaiting for approval... ${Math.max(0, Math.round(left))} s left `);
          },
        });
        if (waiting) io.stderr("\n");
        devicePage?.setStatus("approved");
        if (out.json) out.doc({ status: "logged_in", ...result });
        else {
          out.note(
            `Logged in to ${provider} (${result.connection})${
              result.account ? ` as ${result.account}` : ""
            }${result.default ? ", the default connection" : ""}.`,
          );
        }
        return 0;
      } catch (error) {
        const expired = error instanceof Error && /expired/i.test(error.message);
        devicePage?.setStatus(expired ? "expired" : "denied");
        throw error;
      } finally {
        Deno.removeSignalListener("SIGINT", onSigint);
        await devicePage?.close();
      }
    },
  },
  logout: {
    usage: "logout PROVIDER [--connection NAME]",
    summary: "Delete one connection locally (the provider is not contacted)",
    options: ["connection"],
    args: [1, 1],
    async run({ values, args, out, service }) {
      const r = await (await service()).logout(args[0]!, { connection: values.connection });
      if (out.json) {
        out.doc({
          status: "logged_out",
          provider: r.provider,
          connection: r.connection,
          default_connection: r.newDefault,
        });
      } else {
        out.note(
          `Logged out of ${r.provider} (${r.connection}).` +
            (r.newDefault === null ? "" : ` Default connection: ${r.newDefault}.`),
        );
      }
      return 0;
    },
  },
  revoke: {
    usage: "revoke PROVIDER [--connection NAME]",
    summary: "Revoke and delete one connection, or every connection and the client credentials",
    options: ["connection"],
    details: ["API keys have no remote revocation: revoke them in the provider's console too."],
    args: [1, 1],
    async run({ values, args, out, service }) {
      const r = await (await service()).revoke(args[0]!, { connection: values.connection });
      if (out.json) out.doc({ status: "revoked", ...r });
      else out.note(`Revoked ${r.provider}: ${r.connections.join(", ") || "client credentials"}.`);
      return 0;
    },
  },
  get: {
    usage: "get PROVIDER [--connection NAME] [--field FIELD [--show-secret]]",
    summary: "Show a connection's metadata, or one field",
    options: ["connection", "field", "show-secret"],
    details: [
      `Secret fields (${SECRET_FIELDS.join(", ")}) need --field F --show-secret,`,
      "which prints the raw value alone.",
    ],
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
            hint: `Fields: ${[...Object.keys(shown), ...SECRET_FIELDS].join(", ")}`,
          });
        }
        const value = shown[field];
        if (out.json) out.doc({ [field]: value });
        else out.data(textValue(value));
        return 0;
      }
      if (out.json) out.doc(shown);
      else out.data(Object.entries(shown).map(([k, v]) => `${k}: ${textValue(v)}`).join("\n"));
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
    usage: "list",
    summary: "List every provider with its state and connections",
    options: [],
    args: [0, 0],
    async run({ io, out, service }) {
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
      const rows: string[][] = [];
      for (const p of r.providers) {
        if (p.connections.length === 0) {
          rows.push([p.name, p.auth_type, p.state, "-", "-", "-"]);
        }
        for (const c of p.connections) {
          rows.push([
            p.name,
            p.auth_type,
            p.state,
            c.default ? `${c.name} (default)` : c.name,
            c.status,
            c.expires_at === null ? "never" : c.expires_at,
          ]);
        }
      }
      const connected = r.providers.filter((p) => p.state === "connected").length;
      out.note(`Vault "${r.vault}": ${r.providers.length} providers, ${connected} connected`);
      out.data(table(["PROVIDER", "AUTH", "STATE", "CONNECTION", "STATUS", "EXPIRES"], rows));
      return 0;
    },
  },
  inspect: {
    usage: "inspect PROVIDER",
    summary: "Show a provider's definition and every connection (secrets redacted)",
    options: [],
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
          }, scopes ${c.scopes.join(" ") || "-"}, secrets ${
            c.secret_fields.map((f) => `${f}=***`).join(" ") || "-"
          }`,
        );
      }
      out.data(lines.join("\n"));
      return 0;
    },
  },
  connections: {
    usage: "connections set-default PROVIDER CONNECTION",
    summary: "Make a connection its provider's default",
    options: [],
    args: [3, 3],
    async run({ args, out, service }) {
      if (args[0] !== "set-default") {
        throw usage(
          `Unknown subcommand "connections ${args[0]}"`,
          "Run: authsome connections --help",
        );
      }
      const [, provider, connection] = args as [string, string, string];
      await (await service()).setDefaultConnection(provider, connection);
      if (out.json) out.doc({ status: "ok", provider, default_connection: connection });
      else out.note(`The default ${provider} connection is now ${connection}.`);
      return 0;
    },
  },
  provider: {
    usage: "provider list | inspect PROVIDER | register FILE [--force] | remove PROVIDER",
    summary: "Manage provider definitions",
    options: ["force"],
    args: [1, 2],
    async run(ctx) {
      const [sub, arg] = ctx.args;
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
            doc = JSON.parse(text);
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
          if (out.json) {
            out.doc({ status: "registered", provider: loaded.definition.name, path: loaded.path });
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
        default:
          throw usage(`Unknown subcommand "provider ${sub}"`, "Run: authsome provider --help");
      }
    },
  },
  run: {
    usage: "run [--connection PROVIDER=NAME]... [--env] -- COMMAND [ARGS...]",
    summary: "Run a command behind the proxy that adds your credentials to its HTTPS requests",
    options: ["connection", "env"],
    details: [
      "The command gets placeholders (e.g. OPENAI_API_KEY=authsome-proxy-managed), proxy variables",
      "and a CA bundle; the proxy adds the real auth header to HTTPS requests for hosts of",
      "providers you are logged in to, so the command never holds the secret. Other hosts are",
      "tunnelled untouched. --env passes the real values as variables instead (no proxy).",
      "Exit status: the command's; 125 the proxy could not start; 126 not executable;",
      "127 not found; 128+N killed by signal N.",
    ],
    args: [1, Number.POSITIVE_INFINITY],
    async run({ values, all, args, io, service }) {
      const connections: Record<string, string> = {};
      for (const pair of all.connection ?? []) {
        const m = /^([^=]+)=([^=]+)$/.exec(pair);
        if (m === null) {
          throw usage(
            `--connection for run takes PROVIDER=NAME, not "${pair}"`,
            "Example: authsome run --connection github=work -- gh repo list",
          );
        }
        connections[m[1]!] = m[2]!;
      }
      const auth = await service();
      return await auth.run(args, {
        connections,
        env: values.env === true,
        onWarning: (message) => io.stderr(`warning: ${message}\n`),
      });
    },
  },
  whoami: {
    usage: "whoami",
    summary: "Show the home folder, vault and master-key source",
    options: [],
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
    usage: "log [-n N]",
    summary: "Show the last N audit entries (default 50)",
    options: ["n"],
    args: [0, 0],
    async run({ values, out, service }) {
      const n = values.n === undefined ? 50 : Number(values.n);
      if (!Number.isInteger(n) || n < 0) {
        throw usage("-n needs a whole number", "Example: authsome log -n 20");
      }
      const entries = await (await service()).auditLog(n);
      if (out.json) out.doc({ entries });
      else if (entries.length === 0) out.note("No audit entries yet.");
      else {
        out.data(
          entries.map((e) =>
            [
              e.time,
              e.action,
              e.provider === undefined ? "-" : `${e.provider}/${e.connection ?? "*"}`,
              `vault=${e.vault}`,
              e.outcome === "ok" ? "ok" : `error ${e.error ?? ""}`.trim(),
              ...Object.entries(e.detail ?? {}).map(([k, v]) => `${k}=${v}`),
            ].join("  ")
          ).join("\n"),
        );
      }
      return 0;
    },
  },
};

/**
 * Parses argv against {@linkcode OPTIONS}: `--name value`, `--name=value`, `-c value`, boolean
 * flags, and `--` to end the options. Hand-written instead of `node:util`'s `parseArgs`, whose
 * Node-compat start-up costs about 10 ms on every command.
 */
export function parseArgv(
  argv: string[],
): { values: Values; positionals: string[]; all: Partial<Record<OptionName, string[]>> } {
  const values: Record<string, string | boolean> = {};
  const all: Partial<Record<OptionName, string[]>> = {};
  const positionals: string[] = [];
  const shorts = new Map<string, OptionName>();
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if ("short" in spec) shorts.set(spec.short, name as OptionName);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      // `run CMD ARGS...`: everything from the command on belongs to the command.
      if (positionals.length === 2 && positionals[0] === "run") {
        positionals.push(...argv.slice(i + 1));
        break;
      }
      continue;
    }
    const long = arg.startsWith("--");
    const eq = long ? arg.indexOf("=") : -1;
    const key = long ? arg.slice(2, eq === -1 ? undefined : eq) : arg.slice(1);
    const name = long ? (key in OPTIONS ? key as OptionName : undefined) : shorts.get(key);
    if (name === undefined) {
      throw usage(`Unknown option ${long ? "--" : "-"}${key}`, "Run: authsome --help");
    }
    const shown = long ? `--${name}` : `-${key}`;
    if (OPTIONS[name].type === "boolean") {
      if (eq !== -1) throw usage(`${shown} takes no value`, `Write ${shown} alone`);
      values[name] = true;
      continue;
    }
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw usage(`${shown} needs a value`, `Example: ${shown} VALUE`);
    values[name] = value;
    (all[name] ??= []).push(value);
  }
  return { values: values as Values, positionals, all };
}

function usage(message: string, hint: string): AuthsomeError {
  return new AuthsomeError("USAGE", message, { hint });
}

function wholeNumber(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw usage(
      `${flag} must be a whole number from ${min} to ${max}`,
      `Example: ${flag} ${max === 65535 ? 7998 : 300}`,
    );
  }
  return n;
}

/**
 * Opens `url` with $BROWSER when set, else xdg-open (when there is a display) or open (macOS).
 * Failing to open is not an error: the URL is always printed.
 */
function openBrowser(io: CliIO, url: string): void {
  const browser = io.env.get("BROWSER");
  let command: string | undefined;
  if (browser !== undefined && browser !== "") command = browser;
  else if (Deno.build.os === "darwin") command = "open";
  else if (io.env.get("DISPLAY") || io.env.get("WAYLAND_DISPLAY")) command = "xdg-open";
  if (command === undefined) return;
  try {
    const child = new Deno.Command(command, {
      args: [url],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
    child.status.catch(() => {});
  } catch {
    io.stderr(`(Could not start ${command}; open the page yourself.)\n`);
  }
}

function choice<T extends string>(flag: string, value: string, options: readonly T[]): T {
  if (!(options as readonly string[]).includes(value)) {
    throw usage(`${flag} must be one of ${options.join(", ")}`, `Example: ${flag} ${options[0]}`);
  }
  return value as T;
}

function publicConnection(info: ConnectionInfo): Record<string, unknown> {
  const { secret_fields: _, ...rest } = info;
  return rest;
}

function textValue(value: unknown): string {
  if (value === null || value === undefined) return "-";
  if (Array.isArray(value)) return value.join(" ") || "-";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** Whether a page can be shown: $BROWSER is set, or there is a desktop to open one on. */
function canOpenBrowser(io: CliIO): boolean {
  return (io.env.get("BROWSER") ?? "") !== "" || Deno.build.os === "darwin" ||
    (io.env.get("DISPLAY") ?? "") !== "" || (io.env.get("WAYLAND_DISPLAY") ?? "") !== "";
}

/**
 * Asks for the values of a login, in the documented order of sources (the provider's variables
 * were tried by the service): stdin with --stdin, else the local browser form when a browser can
 * be opened, else hidden prompts in a terminal.
 */
async function readFields(
  io: CliIO,
  request: InputRequest,
  options: { fromStdin: boolean; timeoutSeconds: number; signal: AbortSignal },
): Promise<Record<string, string> | undefined> {
  const values: Record<string, string> = {};
  for (const f of request.fields) if (f.value !== undefined) values[f.name] = f.value;
  if (options.fromStdin) {
    // stdin carries the one secret; other values must come from flags or variables.
    const secret = request.fields.find((f) => f.secret);
    if (secret !== undefined) values[secret.name] = (await io.readStdin()).replace(/\r?\n$/, "");
    return values;
  }
  if (canOpenBrowser(io)) return await readFieldsInBrowser(io, request, options);
  if (!io.stdinIsTerminal()) return undefined;
  io.stderr(`${request.title}\n`);
  for (const info of request.info ?? []) io.stderr(`${info.label}: ${info.value}\n`);
  if (request.docsUrl) io.stderr(`Docs: ${request.docsUrl}\n`);
  for (const f of request.fields) {
    if (f.value !== undefined) continue;
    if (f.hint) io.stderr(`${f.hint}\n`);
    const prompt = `${request.provider} ${f.label}${f.secret ? " (input hidden)" : ""}: `;
    const value = f.secret ? await io.readMasked(prompt) : await io.readLine(prompt);
    if (value === undefined) return undefined;
    values[f.name] = value;
  }
  return values;
}

/** Serves the local form, opens it, and waits with a countdown until it is submitted. */
async function readFieldsInBrowser(
  io: CliIO,
  request: InputRequest,
  options: { timeoutSeconds: number; signal: AbortSignal },
): Promise<Record<string, string>> {
  const { startFormServer } = await import("./providers/input_form.ts");
  const { validate, envVars, ...formRequest } = request;
  const form = startFormServer({
    request: formRequest,
    timeoutMs: options.timeoutSeconds * 1000,
    signal: options.signal,
    ...(validate ? { validate } : {}),
  });
  const asked = request.fields.map((f) => f.label.toLowerCase()).join(" and ");
  io.stderr(`Enter the ${asked} in your browser:\n\n  ${form.url}\n\n`);
  if (envVars.length > 0) io.stderr(`(Or set ${envVars.join(", ")} and run this again.)\n`);
  openBrowser(io, form.url);
  const tty = io.stderrIsTerminal();
  const tick = () => {
    const left = Math.max(0, Math.round((form.deadline.getTime() - Date.now()) / 1000));
    const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    io.stderr(`${tty ? "\r" : ""}Waiting for the form... ${clock} left (Ctrl-C cancels) `);
    if (!tty) io.stderr("\n");
  };
  tick();
  const timer = tty ? setInterval(tick, 1000) : undefined;
  try {
    const values = await form.waitForSubmit();
    io.stderr(tty ? "\rReceived from the browser form.                              \n" : "");
    return values;
  } catch (error) {
    if (tty) io.stderr("\n");
    throw error;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await form.close();
  }
}

function helpText(name?: string): string {
  if (name !== undefined) {
    const c = COMMANDS[name]!;
    const opts = c.options.map((o) => `--${o}`).join(" ");
    return [
      `Usage: authsome ${c.usage}`,
      "",
      c.summary,
      ...(c.details ? ["", ...c.details] : []),
      "",
      `Options: ${opts || "none"}; global: --json --quiet --no-color --vault NAME --help`,
    ].join("\n");
  }
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.split(" ")[0]!.length));
  return [
    `authsome ${VERSION}: a local credential broker for AI agents and developer tools`,
    "",
    "Usage: authsome COMMAND [ARGS] [--json] [--quiet] [--no-color] [--vault NAME]",
    "",
    "Commands:",
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(width + 2)}${c.summary}`),
    "",
    "Environment:",
    ...Object.entries(ENV_VARS).map(([k, v]) => `  ${k.padEnd(22)}${v}`),
    "",
    "Run 'authsome COMMAND --help' for a command's options.",
  ].join("\n");
}

/**
 * Runs the CLI with `argv` and returns the exit status. Never throws.
 *
 * @example
 * ```ts ignore
 * import { main } from "./cli.ts";
 * Deno.exitCode = await main(["list", "--json"]);
 * ```
 */
export async function main(argv: string[], io: CliIO = denoIO()): Promise<number> {
  let json = argv.includes("--json");
  let color = io.stderrIsTerminal() && io.env.get("NO_COLOR") === undefined &&
    !argv.includes("--no-color");
  let auth: AuthService | undefined;
  try {
    const parsed = parseArgv(argv);
    const values = parsed.values;
    json = values.json === true;
    if (values["no-color"]) color = false;
    const [name, ...args] = parsed.positionals;
    if (values.version) {
      io.stdout(json ? JSON.stringify({ version: VERSION }) + "\n" : `authsome ${VERSION}\n`);
      return 0;
    }
    if (name === undefined) {
      if (values.help) {
        io.stdout(helpText() + "\n");
        return 0;
      }
      throw usage("No command given", "Run: authsome --help");
    }
    const command = COMMANDS[name];
    if (command === undefined) {
      throw usage(`Unknown command "${name}"`, "Run: authsome --help to see the commands");
    }
    if (values.help) {
      io.stdout(helpText(name) + "\n");
      return 0;
    }
    for (const key of Object.keys(values) as OptionName[]) {
      if (!GLOBAL.includes(key) && !command.options.includes(key)) {
        throw usage(
          `${key.length === 1 ? "-" : "--"}${key} is not an option of "${name}"`,
          `Run: authsome ${name} --help`,
        );
      }
    }
    const [min, max] = command.args;
    if (args.length < min || args.length > max) {
      throw usage(
        args.length < min ? `Missing arguments for "${name}"` : `Too many arguments for "${name}"`,
        `Usage: authsome ${command.usage}`,
      );
    }
    const out = new Output(io, json, values.quiet === true);
    return await command.run({
      values,
      all: parsed.all,
      args,
      io,
      out,
      service: async () => auth ??= await createAuthService({ vault: values.vault, env: io.env }),
    });
  } catch (error) {
    return reportError(error, io, json, color);
  } finally {
    await auth?.close();
  }
}

function reportError(error: unknown, io: CliIO, json: boolean, color: boolean): number {
  const known = error instanceof AuthsomeError ? error : new AuthsomeError(
    "UNEXPECTED",
    `Unexpected error: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`,
    { hint: "Run 'authsome doctor'; if this persists, report it with the command you ran" },
  );
  if (io.env.get("AUTHSOME_DEBUG") && !(error instanceof AuthsomeError)) {
    io.stderr(`${error instanceof Error ? error.stack : String(error)}\n`);
  }
  if (json) {
    io.stderr(
      JSON.stringify({ error: known.code, message: known.message, hint: known.hint ?? null }) +
        "\n",
    );
  } else {
    const label = color ? "\x1b[31merror\x1b[0m" : "error";
    io.stderr(`${label}: ${known.message}\n`);
    if (known.hint) io.stderr(`${color ? "\x1b[2mhint\x1b[0m" : "hint"}: ${known.hint}\n`);
  }
  return known.exitCode;
}

function denoIO(): CliIO {
  const encoder = new TextEncoder();
  const write = (stream: { writeSync(p: Uint8Array): number }, text: string) => {
    const bytes = encoder.encode(text);
    let done = 0;
    try {
      while (done < bytes.length) done += stream.writeSync(bytes.subarray(done));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    }
  };
  return {
    stdout: (text) => write(Deno.stdout, text),
    stderr: (text) => write(Deno.stderr, text),
    readStdin: async () => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of Deno.stdin.readable) chunks.push(chunk);
      return new TextDecoder().decode(concat(chunks));
    },
    stdinIsTerminal: () => Deno.stdin.isTerminal(),
    stderrIsTerminal: () => Deno.stderr.isTerminal(),
    readMasked: (prompt) => readTerminalLine(prompt, false),
    readLine: (prompt) => readTerminalLine(prompt, true),
    env: { get: (name) => Deno.env.get(name) },
  };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Reads a line from the terminal (echo off unless `echo`); Ctrl-C or Ctrl-D cancels (exit 2). */
async function readTerminalLine(prompt: string, echo: boolean): Promise<string | undefined> {
  if (!Deno.stdin.isTerminal()) return undefined;
  Deno.stderr.writeSync(new TextEncoder().encode(prompt));
  Deno.stdin.setRaw(true);
  const decoder = new TextDecoder();
  let value = "";
  const buffer = new Uint8Array(256);
  try {
    while (true) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const ch of decoder.decode(buffer.subarray(0, n), { stream: true })) {
        if (ch === "\r" || ch === "\n") return value;
        if (ch === "\x03" || ch === "\x04") {
          throw new AuthsomeError("AUTH_FAILED", "Cancelled", { hint: "Nothing was stored" });
        }
        if (ch === "\x7f" || ch === "\b") {
          if (echo && value !== "") Deno.stderr.writeSync(new TextEncoder().encode("\b \b"));
          value = value.slice(0, -1);
        } else if (ch === "\x15") value = "";
        else if (ch >= " ") {
          value += ch;
          if (echo) Deno.stderr.writeSync(new TextEncoder().encode(ch));
        }
      }
    }
    return value;
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}

if (import.meta.main) {
  Deno.exitCode = await main(Deno.args);
}
