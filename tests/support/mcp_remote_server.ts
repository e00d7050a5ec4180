/**
 * A remote MCP server for `login mcp` tests: the SDK's McpServer over its Streamable HTTP server
 * transport (the Web-standard one, served by `Deno.serve`) on HTTPS with a test certificate for
 * `host`, behind a bearer-token check: an RS256 JWT access token signed by the test OAuth server
 * (tests/oauth/server.mjs, keys at `/jwks`), issued by it, for this server's resource (`aud`),
 * not expired, with the scope `mcp:tools`. Anything else gets the MCP authorization spec's 401:
 * `WWW-Authenticate: Bearer resource_metadata="…", scope="mcp:tools"`.
 *
 * It serves its protected-resource metadata (RFC 9728) at the well-known path of `/mcp`, and a
 * second, hostile "authorization server" under `/evil-as` whose metadata a test sets, so each
 * broken-metadata case is one change to {@linkcode McpRemoteServer.metadata}.
 *
 * Tools: `echo` (returns its text) and `whoami` (the token's `sub`).
 *
 * @module
 */
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { z } from "zod";

/** The scope the server's tools need. */
export const MCP_SCOPE = "mcp:tools";

/** One request the MCP endpoint received. */
export interface McpSeen {
  method: string;
  path: string;
  /** Whether it carried a token, and whether that token was accepted. */
  token: "none" | "accepted" | "refused";
  /** The response's content type. */
  contentType: string | null;
}

/** The documents a test can replace (a value, or a raw body string). */
export interface McpMetadata {
  /** The 401's `WWW-Authenticate` value; undefined = the default challenge, null = none. */
  challenge?: string | null | undefined;
  /** The protected-resource metadata document (default: resource + the real issuer). */
  resource?: unknown | undefined;
  /** The metadata of the hostile authorization server at `/evil-as`. */
  evilAs?: unknown | undefined;
}

/** A running server; dispose with `await using`. */
export interface McpRemoteServer extends AsyncDisposable {
  /** The MCP endpoint, `https://HOST:PORT/mcp`. */
  url: string;
  /** Its origin. */
  origin: string;
  port: number;
  /** Where the protected-resource metadata is served. */
  resourceMetadataUrl: string;
  /** The hostile authorization server's issuer (`ORIGIN/evil-as`). */
  evilIssuer: string;
  /** Requests to the MCP endpoint, in order. */
  seen: McpSeen[];
  /** What the metadata endpoints serve; change it between tests. */
  metadata: McpMetadata;
  /** The test OAuth server that issues its tokens: set it before the first request. */
  authServer: { issuer: string; origin: string };
  close(): Promise<void>;
}

/** Starts the server for `host` with that certificate. */
export function startMcpRemoteServer(options: {
  host: string;
  certPem: string;
  keyPem: string;
}): McpRemoteServer {
  const seen: McpSeen[] = [];
  const metadata: McpMetadata = {};
  const authServer = { issuer: "", origin: "" };
  let origin = "";
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: options.certPem,
    key: options.keyPem,
    onListen() {},
  }, async (req) => {
    const url = new URL(req.url);
    const prmUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
    if (url.pathname === "/.well-known/oauth-protected-resource/mcp") {
      return serveDoc(
        metadata.resource ?? {
          resource: `${origin}/mcp`,
          authorization_servers: [authServer.issuer],
          scopes_supported: [MCP_SCOPE],
          bearer_methods_supported: ["header"],
        },
      );
    }
    if (url.pathname === "/.well-known/oauth-authorization-server/evil-as") {
      return metadata.evilAs === undefined
        ? new Response("not found", { status: 404 })
        : serveDoc(metadata.evilAs);
    }
    if (url.pathname !== "/mcp") return new Response("not found", { status: 404 });
    const header = req.headers.get("authorization");
    const claims = header === null ? undefined : await verify(header, {
      issuer: authServer.issuer,
      asOrigin: authServer.origin,
      resource: `${origin}/mcp`,
    });
    if (claims === undefined) {
      seen.push({
        method: req.method,
        path: url.pathname,
        token: header === null ? "none" : "refused",
        contentType: null,
      });
      await req.body?.cancel();
      const challenge = metadata.challenge === undefined
        ? `Bearer resource_metadata="${prmUrl}", scope="${MCP_SCOPE}"`
        : metadata.challenge;
      return Response.json(
        { error: "invalid_token" },
        { status: 401, headers: challenge === null ? {} : { "www-authenticate": challenge } },
      );
    }
    const mcp = new McpServer({ name: "authsome-test-remote", version: "1.0.0" });
    mcp.registerTool("echo", {
      description: "Returns the text it is given",
      inputSchema: { text: z.string() },
    }, ({ text }) => ({ content: [{ type: "text", text }] }));
    mcp.registerTool("whoami", {
      description: "Names the user the access token was issued to",
    }, () => ({ content: [{ type: "text", text: String(claims.sub) }] }));
    // No session ID generator: stateless, one transport per request.
    const transport = new WebStandardStreamableHTTPServerTransport({});
    await mcp.connect(transport);
    const response = await transport.handleRequest(req);
    seen.push({
      method: req.method,
      path: url.pathname,
      token: "accepted",
      contentType: response.headers.get("content-type"),
    });
    return response;
  });
  const port = server.addr.port;
  origin = `https://${options.host}:${port}`;
  const close = async () => {
    await server.shutdown();
  };
  return {
    url: `${origin}/mcp`,
    origin,
    port,
    resourceMetadataUrl: `${origin}/.well-known/oauth-protected-resource/mcp`,
    evilIssuer: `${origin}/evil-as`,
    seen,
    metadata,
    authServer,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A document; a string is sent as is, streamed without a Content-Length (as chunks). */
function serveDoc(doc: unknown): Response {
  if (typeof doc !== "string") return Response.json(doc);
  const bytes = new TextEncoder().encode(doc);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
      controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
}

/** The claims of a valid access token for this server, else undefined. */
async function verify(
  header: string,
  expected: { issuer: string; asOrigin: string; resource: string },
): Promise<Record<string, unknown> | undefined> {
  const match = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(header);
  if (match === null) return undefined;
  const [, h, p, s] = match as unknown as [string, string, string, string];
  try {
    const head = JSON.parse(new TextDecoder().decode(b64url(h)));
    const claims = JSON.parse(new TextDecoder().decode(b64url(p)));
    if (head.alg !== "RS256") return undefined;
    const jwks = await (await fetch(`${expected.asOrigin}/jwks`)).json();
    const jwk = jwks.keys.find((k: { kid?: string }) => k.kid === head.kid);
    if (jwk === undefined) return undefined;
    const key = await crypto.subtle.importKey(
      "jwk",
      jwk,
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["verify"],
    );
    const ok = await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key,
      b64url(s),
      new TextEncoder().encode(`${h}.${p}`),
    );
    const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const scopes = String(claims.scope ?? "").split(" ");
    if (
      !ok || claims.iss !== expected.issuer || !audience.includes(expected.resource) ||
      typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now() ||
      !scopes.includes(MCP_SCOPE)
    ) {
      return undefined;
    }
    return claims;
  } catch {
    return undefined;
  }
}

function b64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
