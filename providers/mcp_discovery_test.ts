import assert from "node:assert/strict";
import { AuthsomeError } from "../errors.ts";
import { discoverMcpServer, parseBearerChallenge } from "./mcp_discovery.ts";

const AS = "https://auth.example";
const asMetadata = {
  issuer: AS,
  authorization_endpoint: `${AS}/authorize`,
  token_endpoint: `${AS}/token`,
  code_challenge_methods_supported: ["S256"],
};

/** A fetch over a table of documents; every other URL is a 401 (the probe) or a 404. */
function serve(docs: Record<string, unknown>, challenge: string | null = null) {
  const asked: string[] = [];
  const fetchFn = (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    asked.push(`${init?.method ?? "GET"} ${url}`);
    if (url in docs) return Promise.resolve(Response.json(docs[url]));
    if (init?.method === "POST") {
      return Promise.resolve(
        new Response("", {
          status: 401,
          headers: challenge === null ? {} : { "www-authenticate": challenge },
        }),
      );
    }
    return Promise.resolve(new Response("not found", { status: 404 }));
  };
  return { fetch: fetchFn as typeof fetch, asked };
}

function failsWith(code: number, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof AuthsomeError, String(e));
    assert.equal(e.exitCode, code);
    assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"));
    return true;
  };
}

Deno.test("without resource_metadata the well-known paths are tried: the URL's path, then the origin", async () => {
  const { fetch, asked } = serve({
    "https://mcp.example/.well-known/oauth-protected-resource": {
      resource: "https://mcp.example",
      authorization_servers: [AS],
      scopes_supported: ["tools", "bad scope"],
    },
    [`${AS}/.well-known/oauth-authorization-server`]: asMetadata,
  });
  const found = await discoverMcpServer({ serverUrl: "https://mcp.example/v1/mcp", fetch });
  assert.deepEqual(asked, [
    "POST https://mcp.example/v1/mcp",
    "GET https://mcp.example/.well-known/oauth-protected-resource/v1/mcp",
    "GET https://mcp.example/.well-known/oauth-protected-resource",
    `GET ${AS}/.well-known/oauth-authorization-server`,
  ]);
  // A resource that is a whole-segment prefix of the server's URL names it.
  assert.equal(found.resource, "https://mcp.example");
  assert.deepEqual(found.scopes, ["tools"]);
  assert.equal(found.registration_endpoint, undefined);
});

Deno.test("an issuer with a path: RFC 8414 inserted, then OpenID inserted and appended", async () => {
  const issuer = `${AS}/tenant/a`;
  const { fetch, asked } = serve({
    "https://mcp.example/prm": {
      resource: "https://mcp.example/mcp",
      authorization_servers: [issuer],
    },
    [`${AS}/tenant/a/.well-known/openid-configuration`]: { ...asMetadata, issuer },
  }, 'Bearer realm="x", resource_metadata="https://mcp.example/prm", scope="a b"');
  const found = await discoverMcpServer({ serverUrl: "https://mcp.example/mcp", fetch });
  assert.deepEqual(asked.slice(2), [
    `GET ${AS}/.well-known/oauth-authorization-server/tenant/a`,
    `GET ${AS}/.well-known/openid-configuration/tenant/a`,
    `GET ${AS}/tenant/a/.well-known/openid-configuration`,
  ]);
  assert.equal(found.issuer, issuer);
  assert.deepEqual(found.scopes, ["a", "b"], "the 401's scope wins over scopes_supported");
});

Deno.test("a resource on another path or origin, or a look-alike prefix, is refused", async () => {
  for (
    const resource of [
      "https://mcp.example/mcp2",
      "https://evil.example/mcp",
      "https://mcp.example/m",
    ]
  ) {
    const { fetch } = serve({
      "https://mcp.example/.well-known/oauth-protected-resource/mcp": {
        resource,
        authorization_servers: [AS],
      },
      [`${AS}/.well-known/oauth-authorization-server`]: asMetadata,
    });
    await assert.rejects(
      discoverMcpServer({ serverUrl: "https://mcp.example/mcp", fetch }),
      failsWith(2, /is for .*, not https:\/\/mcp\.example\/mcp$/),
    );
  }
});

Deno.test("a named resource_metadata that is missing is an error, not a fallback", async () => {
  const { fetch } = serve({}, 'Bearer resource_metadata="https://mcp.example/gone"');
  await assert.rejects(
    discoverMcpServer({ serverUrl: "https://mcp.example/mcp", fetch }),
    failsWith(2, /^mcp\.example\/gone answered HTTP 404 instead of its metadata$/),
  );
});

Deno.test("no metadata anywhere, and a server that cannot be reached", async () => {
  await assert.rejects(
    discoverMcpServer({ serverUrl: "https://mcp.example/mcp", fetch: serve({}).fetch }),
    failsWith(2, /^mcp\.example publishes no protected-resource metadata/),
  );
  const down = () => Promise.reject(new TypeError("connection refused"));
  await assert.rejects(
    discoverMcpServer({ serverUrl: "https://mcp.example/mcp", fetch: down as typeof fetch }),
    failsWith(8, /^Cannot reach mcp\.example$/),
  );
});

Deno.test("challenge parsing: other schemes, escapes, token values", () => {
  assert.deepEqual(parseBearerChallenge(null), {});
  assert.deepEqual(parseBearerChallenge('Basic realm="x"'), {});
  assert.deepEqual(
    parseBearerChallenge('Basic realm="a", Bearer resource_metadata=https://x.example/m'),
    { resourceMetadata: "https://x.example/m" },
  );
  assert.deepEqual(parseBearerChallenge('bearer scope="a \\"b\\""'), { scope: ["a", '"b"'] });
});
