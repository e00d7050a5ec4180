/**
 * The MCP server of `authsome mcp`: the three tools (their zod schemas, the descriptions an LLM
 * acts on), input checking (an unknown field is an error naming it), one audit entry per call,
 * and errors as tool results (`isError`) that name the rule. The tools are served by hand on
 * {@linkcode ToolServer} (the SDK's protocol layer), so every call — a malformed one too — goes
 * through the same audited path.
 *
 * @module
 */
// The SDK's "./*" export maps types to "*.js.d.ts"; this directive names the real ones.
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { VERSION } from "../cli/version.ts";
import { NAME_PATTERN } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import type { ServiceContext } from "../service/context.ts";
import { appendAudit, type AuditEntry } from "../storage/audit.ts";
import { readTextIfExists } from "../storage/files.ts";
import { type CallFacts, type McpAccess, ToolRefusal } from "./access.ts";
import { ToolServer } from "./protocol.ts";
import { listConnectionsTool } from "./connections.ts";
import {
  httpRequest,
  type HttpSession,
  REQUEST_BODY_LIMIT,
  RESPONSE_BODY_LIMIT,
} from "./http_request.ts";
import { abortLogins, LOGIN_LIMIT_SECONDS, type LoginSession, requestLogin } from "./login.ts";
import type { Upstream, UpstreamOptions } from "./upstream.ts";

const NAME = z.string().regex(NAME_PATTERN, "1-64 lower-case letters, digits, '_' or '-'");

const LIST_INPUT = z.strictObject({});
const LOGIN_INPUT = z.strictObject({
  provider: NAME.describe("The provider to log in to, e.g. github or openai"),
  connection: NAME.optional().describe(
    "The connection name to store the login under (default: the provider's default, else " +
      '"default")',
  ),
  scopes: z.array(z.string().min(1).max(200)).max(50).optional().describe(
    "OAuth scopes to ask for (default: the provider's); ignored for API keys",
  ),
  wait_seconds: z.int().min(0).max(LOGIN_LIMIT_SECONDS).optional().describe(
    `How long this call waits for the human, in seconds (default and limit ${LOGIN_LIMIT_SECONDS}); ` +
      "0 returns as soon as there is a page or code to show them",
  ),
});
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const HTTP_INPUT = z.strictObject({
  provider: NAME.describe("The provider whose credential authenticates the request"),
  connection: NAME.optional().describe(
    "Which of the provider's connections (default: the one this session uses for it)",
  ),
  method: z.enum(METHODS).describe("The HTTP method"),
  url: z.string().min(1).max(8192).describe(
    "The full https URL, on one of the provider's hosts (see list_connections)",
  ),
  headers: z.record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/),
    z.string().max(8192).regex(/^[^\r\n\0]*$/, "a header value has no line breaks"),
  )
    .optional().describe(
      "Extra request headers (content-type, accept, …). Leave out authentication: authsome adds " +
        "it, and replaces any you give",
    ),
  body: z.string().optional().describe(
    `The request body as text, e.g. JSON (at most ${REQUEST_BODY_LIMIT} bytes)`,
  ),
});

/** The tools: name, description, input schema. */
const TOOLS = {
  list_connections: {
    title: "List connections",
    description:
      "List the accounts (connections) authsome can use on your behalf: provider, connection " +
      "name, whether it is the provider's default, its status (ok; refresh_due: usable, refreshed " +
      "on next use; expired or login_required: call request_login), OAuth scopes, expiry, and " +
      "the hosts http_request may call with it. Never returns a secret. Call this first.",
    input: LIST_INPUT,
    annotations: { readOnlyHint: true, openWorldHint: false },
  },
  request_login: {
    title: "Ask the human to log in",
    description:
      "Ask the human to log in to a provider (when list_connections shows none, or expired / " +
      "login_required). authsome opens a local page in their browser — a form for an API key, " +
      "the provider's sign-in page, or a device code — and waits (reporting progress) until " +
      `they finish, up to ${LOGIN_LIMIT_SECONDS} s. The secret never passes through you. If the ` +
      "result is status=waiting, tell the human the prompt (URL, code) and call again with the " +
      "same provider and connection to keep waiting.",
    input: LOGIN_INPUT,
    annotations: { readOnlyHint: false, openWorldHint: true, idempotentHint: true },
  },
  http_request: {
    title: "Call a provider's API",
    description: "Send an HTTPS request to a provider's API with the human's credential added by " +
      "authsome (you never see it). The URL must be https and on one of the connection's hosts " +
      "from list_connections; an identity's policy may allow only some methods or paths. " +
      "Redirects are followed only within those hosts. Returns status, headers (without " +
      "authorization/set-cookie/credential headers) and the body: text as is, binary as base64, " +
      `cut at ${RESPONSE_BODY_LIMIT} bytes with a note. Do not put credentials in headers or body.`,
    input: HTTP_INPUT,
    annotations: { readOnlyHint: false, openWorldHint: true },
  },
} as const;

type ToolName = keyof typeof TOOLS;

/** What {@linkcode createMcpServer} works with. */
export interface McpServerOptions {
  ctx: ServiceContext;
  access: McpAccess;
  /** Opens a URL in the human's browser when one can be opened (a login's page). */
  openUrl: (url: string) => void;
  /** How `http_request` connects (tests map host names to 127.0.0.1). */
  upstream?: UpstreamOptions;
}

/** A server with its session state; {@linkcode McpHandle.close} ends logins and connections. */
export interface McpHandle {
  server: ToolServer;
  /** Resolves once no tool call is under way (before closing on the end of input). */
  settled(): Promise<void>;
  /**
   * Ends the logins under way (the host has gone: nobody can tell the human the page any more);
   * their `request_login` calls end with the cancellation, audited, and nothing is stored.
   */
  endLogins(): Promise<void>;
  /** Ends logins under way and closes idle upstream connections. */
  close(): Promise<void>;
}

/**
 * Builds the MCP server (not yet connected to a transport).
 *
 * @example
 * ```ts ignore
 * const { server } = createMcpServer({ ctx, access, openUrl: () => {} });
 * await server.connect(new StdioServerTransport());
 * ```
 */
export function createMcpServer(options: McpServerOptions): McpHandle {
  const { ctx, access } = options;
  const server = new ToolServer(
    { name: "authsome", title: "authsome", version: VERSION },
    "authsome holds the human's API credentials. Use list_connections to see what you can use, " +
      "http_request to call those APIs (authsome adds the credential), and request_login to ask " +
      "the human to log in. You never receive a secret; do not ask for one.",
  );
  let upstream: Promise<Upstream> | undefined;
  const http: HttpSession = {
    ctx,
    access,
    upstream: () =>
      upstream ??= (async () => {
        const { openUpstream } = await import("./upstream.ts");
        return openUpstream({ ...await extraCa(ctx), ...options.upstream });
      })(),
    cache: new Map(),
  };
  const logins: LoginSession = { ctx, access, openUrl: options.openUrl, pending: new Map() };
  let listed: unknown[] | undefined;
  server.setRequestHandler(ListToolsRequestSchema, () => {
    listed ??= Object.entries(TOOLS).map(([name, tool]) => {
      const { $schema: _, ...inputSchema } = z.toJSONSchema(tool.input) as Record<string, unknown>;
      return {
        name,
        title: tool.title,
        description: tool.description,
        inputSchema,
        annotations: tool.annotations,
      };
    });
    return { tools: listed } as never;
  });
  const inFlight = new Set<Promise<unknown>>();
  server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
    const call = callTool(request, extra);
    inFlight.add(call);
    call.finally(() => inFlight.delete(call)).catch(() => {});
    return call as never;
  });
  const callTool = async (
    request: CallToolRequest,
    extra: { signal: AbortSignal; sendNotification: (n: never) => Promise<void> },
  ): Promise<CallToolResult> => {
    const { name, arguments: args } = request.params;
    const facts: CallFacts = {};
    const started = performance.now();
    let result: CallToolResult;
    let outcome: Pick<AuditEntry, "outcome" | "error"> & { rule?: string } = { outcome: "ok" };
    try {
      if (!Object.hasOwn(TOOLS, name)) {
        throw new ToolRefusal(
          "tool",
          `there is no tool "${name}"; the tools: ${Object.keys(TOOLS).join(", ")}`,
        );
      }
      const tool = name as ToolName;
      const input = parseInput(tool, args ?? {});
      if (typeof input.provider === "string") facts.provider = input.provider;
      const token = request.params._meta?.progressToken;
      let step = 0;
      const value = tool === "list_connections"
        ? { connections: await listConnectionsTool(ctx, access) }
        : tool === "request_login"
        ? await requestLogin(logins, input as z.infer<typeof LOGIN_INPUT>, facts, (message) => {
          if (token === undefined) return;
          extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: ++step, message },
          } as never).catch(() => {});
        }, extra.signal)
        : await httpRequest(http, input as z.infer<typeof HTTP_INPUT>, facts);
      result = { content: [{ type: "text", text: JSON.stringify(value, null, 2) }] };
      // The small answers also come as structured content; a response body is sent once.
      if (tool !== "http_request") result.structuredContent = value as Record<string, unknown>;
    } catch (error) {
      const { text, ...how } = describeFailure(error);
      outcome = how;
      result = { content: [{ type: "text", text }], isError: true };
    }
    await audit(ctx, access, name, facts, outcome, performance.now() - started);
    return result;
  };
  return {
    server,
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    endLogins: () => abortLogins(logins),
    async close() {
      await abortLogins(logins);
      if (upstream !== undefined) (await upstream).close();
    },
  };
}

/** The tool's input, checked against its schema: unknown fields and bad values are refused. */
function parseInput(tool: ToolName, args: Record<string, unknown>): Record<string, unknown> {
  const parsed = TOOLS[tool].input.safeParse(args);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const known = Object.keys(TOOLS[tool].input.shape);
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return `unknown field${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((k) => `"${k}"`).join(", ")
      } (${tool} takes ${known.length === 0 ? "no fields" : known.join(", ")})`;
    }
    const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    return `${where}${issue.message}`;
  });
  throw new ToolRefusal("input", problems.join("; "));
}

/** The tool result's text and the audit outcome of a failed call. Never a secret. */
function describeFailure(
  error: unknown,
): { text: string; outcome: AuditEntry["outcome"]; error?: string; rule?: string } {
  if (error instanceof ToolRefusal) {
    return {
      text: `refused (rule: ${error.rule}): ${error.message}. Nothing was sent.`,
      outcome: "denied",
      rule: error.rule,
    };
  }
  if (error instanceof AuthsomeError) {
    return {
      text: `error: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ""}`,
      outcome: "error",
      error: error.code,
    };
  }
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return {
    text: `error: the request failed: ${message}`,
    outcome: "error",
    error: "UNEXPECTED",
  };
}

/** One audit entry per call (action `mcp`): names, method, host and status, never a value. */
async function audit(
  ctx: ServiceContext,
  access: McpAccess,
  tool: string,
  facts: CallFacts,
  outcome: Pick<AuditEntry, "outcome" | "error"> & { rule?: string },
  ms: number,
): Promise<void> {
  const detail: Record<string, string | number> = { tool: tool.slice(0, 64) };
  if (facts.method !== undefined) detail.method = facts.method;
  if (facts.host !== undefined) detail.host = facts.host;
  if (facts.status !== undefined) detail.status = facts.status;
  if (facts.login !== undefined) detail.login = facts.login;
  if (outcome.rule !== undefined) detail.rule = outcome.rule;
  detail.ms = Math.round(ms);
  const entry: AuditEntry = {
    time: ctx.now().toISOString(),
    action: "mcp",
    vault: ctx.settings.vault,
    ...(facts.provider !== undefined ? { provider: facts.provider } : {}),
    ...(facts.connection !== undefined ? { connection: facts.connection } : {}),
    ...(access.policy !== undefined ? { identity: access.policy.name } : {}),
    outcome: outcome.outcome,
    ...(outcome.error !== undefined ? { error: outcome.error } : {}),
    detail,
  };
  await appendAudit(ctx.settings.home, entry).catch(() => {});
  await ctx.store.appendAudit?.(entry).catch(() => {});
}

/** The certificates of `NODE_EXTRA_CA_CERTS` (as the proxy trusts them), one PEM each. */
async function extraCa(ctx: ServiceContext): Promise<{ extraCa?: string[] }> {
  const file = ctx.env.get("NODE_EXTRA_CA_CERTS");
  if (!file) return {};
  const text = await readTextIfExists(file).catch(() => undefined);
  const pems = text?.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  return pems ? { extraCa: [...pems] } : {};
}
