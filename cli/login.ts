/**
 * `login`, `logout` and `revoke`: getting and dropping connections, with Ctrl-C handling and the
 * device-code page.
 *
 * @module
 */
import { EXIT_CODES } from "../errors.ts";
import type { Flow } from "../providers/schema.ts";
import type { LoginOptions } from "../mod.ts";
import { choice, OPTIONS, usage, wholeNumber } from "./args.ts";
import type { Command } from "./command.ts";
import { canOpenBrowser, openBrowser, readFields } from "./input.ts";
import { watchKeyFile } from "./key_notice.ts";

const FLOWS: readonly Flow[] = OPTIONS.flow.values;
/** `login mcp URL`: the reserved word in the provider position (MCP_PSEUDO_PROVIDER). */
const MCP = "mcp";

/** The commands of this group, by name. */
export const LOGIN_COMMANDS: Record<string, Command> = {
  login: {
    usage: "login PROVIDER [--connection NAME] [--force] [--flow FLOW] [--scopes a,b] " +
      "[--base-url URL] [--client-id ID] [--reset-client] [--callback-port N] [--timeout S] " +
      "[--stdin]\n       authsome login mcp URL [--name NAME] [--connection NAME] [--force] [--scopes a,b] " +
      "[--client-id ID] [--callback-port N] [--timeout S]",
    summary: "Log in to a provider (or a remote MCP server) and store the connection",
    options: [
      "connection",
      "name",
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
      "Secrets are never taken as arguments. An API key (or OAuth client secret) comes from",
      "stdin with --stdin, else the provider's environment variable (e.g. OPENAI_API_KEY), else a",
      "local browser form (when $BROWSER is set or a desktop is there), else a hidden prompt.",
      "OAuth2 (flows pkce, device_code, dcr_pkce): the browser login redirects to",
      "http://127.0.0.1:7998/auth/callback/oauth unless the provider or --callback-port says",
      "otherwise; register that exact URI in your OAuth app. $BROWSER opens the URL when set.",
      "The client ID and secret are stored once per provider and vault; --reset-client asks again.",
      "login mcp URL: a remote MCP server that uses OAuth. authsome discovers its authorization",
      "server (RFC 9728, RFC 8414), registers a client (RFC 7591) unless --client-id is given, and",
      "logs in with PKCE bound to the server (RFC 8707). It writes the provider file",
      "$AUTHSOME_HOME/providers/NAME.json (NAME from the host, or --name), so the connection",
      "refreshes and works with 'authsome run -- <agent host>' like any other. See docs/MCP.md.",
    ],
    optionHelp: {
      connection: 'The name to store the connection under (default: "default")',
      force: "Replace an existing connection of that name, and make it the default",
    },
    examples: [
      "authsome login openai                 # key from $OPENAI_API_KEY, a browser form or a prompt",
      "printf '%s' \"$KEY\" | authsome login openai -c work --stdin",
      "authsome login github --flow device_code --scopes repo,read:org",
      "authsome login mcp https://mcp.example.com/mcp       # provider mcp-example-com",
    ],
    exitCodes: {
      0: "logged in",
      2: "the login failed or was cancelled (nothing stored)",
      4: "unknown provider, or login inside 'authsome run'",
      6: "the connection exists already (add --force to replace it)",
      7: "login mcp: a provider of that name exists for another server (use --name)",
      8: "the provider's endpoint (or the MCP server) cannot be reached",
      64: "usage error (a bad flag value)",
      65: "the key or client details given are not valid",
    },
    args: [1, 2],
    async run({ values, args, io, out, service }) {
      const mcpUrl = mcpArgument(args, values);
      const provider = args[0]!;
      /** Who the login is for, in the lines shown while it waits. */
      const label = mcpUrl === undefined ? provider : `the MCP server ${mcpUrl}`;
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
      /** How the secret was given, when it was asked for: "stdin", "the browser form", … */
      let inputSource: string | undefined;
      let devicePage: {
        setStatus(s: "approved" | "denied" | "expired"): void;
        close(): Promise<void>;
      } | undefined;
      // The first login creates the key file: say so once, with the advice that matters.
      const announceKeyFile = await watchKeyFile(auth);
      try {
        const options: LoginOptions = {
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
          explicitInput: values.stdin === true,
          readFields: (request) =>
            readFields(io, request, {
              fromStdin: values.stdin === true,
              timeoutSeconds: timeoutSeconds ?? 300,
              signal: abort.signal,
              onSource: (how) => void (inputSource = how),
            }),
          onAuthorizationUrl: (url) => {
            io.stderr(`Open this page to log in to ${label}:\n\n  ${url}\n\n`);
            openBrowser(io, url);
            io.stderr(
              `Waiting for the browser (up to ${timeoutSeconds ?? 300} s; Ctrl-C cancels)...\n`,
            );
          },
          onDeviceCode: async (d) => {
            if (canOpenBrowser(io)) {
              const { startDevicePage } = await import("../providers/device_page.ts");
              const page = startDevicePage(d);
              devicePage = page;
              io.stderr(`Showing the code in your browser: ${page.url}\n`);
              openBrowser(io, page.url);
            }
            io.stderr(
              `To log in to ${label}, open ${d.verification_uri}\nand enter the code:\n\n    ${d.user_code}\n\n` +
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
        };
        const mcp = mcpUrl === undefined
          ? undefined
          : await auth.loginMcp(mcpUrl, { ...options, name: values.name });
        const result = mcp ?? await auth.login(provider, options);
        if (waiting) io.stderr("\n");
        devicePage?.setStatus("approved");
        for (const warning of result.warnings) io.stderr(`warning: ${warning}\n`);

        if (out.json) out.doc({ status: "logged_in", ...result });
        else {
          if (mcp !== undefined) {
            const verb = mcp.provider_created ? "Wrote" : "Updated";
            out.note(`${verb} the provider file ${mcp.provider_file} for ${mcp.mcp_server}.`);
          }
          const from = result.sourceVariable ??
            (result.source === "input" ? inputSource : undefined);
          out.note(
            `Logged in to ${result.provider} (${result.connection})${
              result.account ? ` as ${result.account}` : ""
            }${from ? ` from ${from}` : ""}${result.default ? ", the default connection" : ""}.`,
          );
        }
        await announceKeyFile(out);
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
    details: ['When the default connection goes, "default" (else the first one left) becomes it.'],
    optionHelp: {
      connection: "The connection to delete (default: the provider's default connection)",
    },
    examples: [
      "authsome logout openai -c work",
      "authsome logout openai              # the default connection",
    ],
    exitCodes: {
      0: "deleted",
      3: "no such connection (the hint lists them)",
      4: "unknown provider",
    },
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
    usage: "revoke PROVIDER [--connection NAME] [--yes]",
    summary: "Revoke and delete one connection, or every connection and the client credentials",
    options: ["connection", "yes"],
    details: [
      "OAuth tokens are revoked at the provider when it has a revocation endpoint, then deleted",
      "here. API keys cannot be revoked by authsome: they are deleted here only, and stay valid",
      "until you revoke them in the provider's console (the message says where).",
      "Without --connection every connection and the client credentials go: at a terminal you",
      "are asked first; elsewhere --yes is required.",
    ],
    optionHelp: {
      connection:
        "The one connection to revoke (default: every connection and the client credentials)",
      yes: "Revoke every connection without asking (required without a terminal)",
    },
    examples: [
      "authsome revoke github -c work",
      "authsome revoke openai --yes        # every connection and the client credentials",
    ],
    exitCodes: {
      0: "revoked, or deleted here only (the message says which); or the question answered no",
      3: "no such connection, or nothing to revoke",
      4: "unknown provider",
      8: "the revocation endpoint cannot be reached (nothing was deleted)",
      64: "every connection would go, without a terminal to ask and without --yes",
    },
    args: [1, 1],
    async run({ values, args, io, out, service }) {
      const provider = args[0]!;
      const auth = await service();
      if (values.connection === undefined && values.yes !== true) {
        const names = (await auth.listConnections(provider)).map((c) => c.connection);
        const what = `every ${provider} connection (${names.join(", ") || "none"}) and its ` +
          "client credentials";
        if (!io.stdinIsTerminal()) {
          throw usage(
            `revoke ${provider} without --connection deletes ${what}`,
            `Add --yes to confirm, or name one: authsome revoke ${provider} --connection NAME`,
          );
        }
        const answer = await io.readLine(`Revoke and delete ${what}? [y/N] `);
        if (!/^y(es)?$/i.test(answer?.trim() ?? "")) {
          out.note("Nothing was revoked.");
          return 0;
        }
      }
      const r = await auth.revoke(provider, { connection: values.connection });
      const list = r.connections.join(", ") || "client credentials";
      if (out.json) out.doc({ status: r.remote ? "revoked" : "deleted", ...r });
      else if (r.remote) {
        out.note(`Revoked ${r.provider} at the provider and deleted here: ${list}.`);
      } else {
        const what = r.auth_type === "api_key"
          ? "An API key cannot be revoked by authsome: it"
          : "The provider has no revocation endpoint: the token";
        out.note(
          `Deleted ${r.provider} here: ${list}. ${what} stays valid until you revoke it at ` +
            `${r.provider}${r.docs ? ` (${r.docs})` : ""}.`,
        );
      }
      return 0;
    },
  },
};

/**
 * The MCP server URL of `login mcp URL`, or undefined for any other provider. `login mcp` without
 * a URL, and a second argument after another provider, are usage errors; so is `--name` without
 * `mcp`.
 */
function mcpArgument(args: string[], values: { name?: string | undefined }): string | undefined {
  if (args[0] === MCP) {
    if (args[1] === undefined) {
      throw usage(
        "login mcp needs the MCP server's URL",
        "E.g. authsome login mcp https://mcp.example.com/mcp",
      );
    }
    return args[1];
  }
  if (args.length > 1) {
    throw usage(
      `login takes one provider, got ${args.length} arguments`,
      "E.g. authsome login openai",
    );
  }
  if (values.name !== undefined) {
    throw usage("--name applies only to 'login mcp URL'", "Leave out --name");
  }
  return undefined;
}
