import assert from "node:assert/strict";
import {
  buildRoutes,
  hostIsRouted,
  isLoopbackHost,
  type Route,
  type RouteDecision,
  routeRequest,
  type RouteSource,
} from "./routing.ts";

function source(
  provider: string,
  api_url: string[],
  authEndpoints: string[] = [],
  connection = "default",
): RouteSource {
  return { provider, connection, api_url, authEndpoints };
}

function routesOf(...sources: RouteSource[]): Route[] {
  const { routes, warnings } = buildRoutes(sources);
  assert.deepEqual(warnings, []);
  return routes;
}

/** "provider/connection" when injected, else "pass:<reason>". */
function outcome(decision: RouteDecision): string {
  if (decision.action === "inject") {
    return `${decision.route.provider}/${decision.route.connection}`;
  }
  assert.equal(decision.action, "pass", JSON.stringify(decision));
  return `pass:${decision.reason}`;
}

type Row = [scheme: "http" | "https", host: string, path: string, expected: string];

function check(routes: Route[], table: Row[]): void {
  for (const [scheme, host, path, expected] of table) {
    assert.equal(
      outcome(routeRequest(routes, { scheme, host, path })),
      expected,
      `${scheme}://${host}${path}`,
    );
  }
}

const EXAMPLE = routesOf(source("example", ["api.example.com"]));
const EXAMPLE_REGEX = routesOf(source("example", ["regex:^api\\.example\\.com$"]));

Deno.test("an exact host matches whatever its case, brackets, port or trailing dot", () => {
  check(EXAMPLE, [
    ["https", "api.example.com", "/v1", "example/default"],
    ["https", "API.Example.COM", "/v1", "example/default"],
    ["https", " api.example.com ", "/v1", "example/default"],
    ["https", "api.example.com.", "/v1", "example/default"],
    ["https", "api.example.com:8443", "/v1", "example/default"],
    ["https", "example.com", "/v1", "pass:no_match"],
    ["https", "xapi.example.com", "/v1", "pass:no_match"],
    ["https", "api.example.com.evil.test", "/v1", "pass:no_match"],
    ["https", "api.example.com..", "/v1", "pass:no_match"],
  ]);
  const v6 = routesOf(source("v6", ["https://[2001:DB8::1]/"]));
  assert.equal(v6[0]?.host, "2001:db8::1");
  check(v6, [
    ["https", "[2001:db8::1]", "/", "v6/default"],
    ["https", "2001:DB8::1", "/", "v6/default"],
    ["https", "[2001:db8::1]:443", "/", "v6/default"],
  ]);
});

Deno.test("the port is ignored", () => {
  for (const port of [443, 8443, undefined]) {
    const request = { scheme: "https" as const, host: "api.example.com", path: "/" };
    const decision = routeRequest(EXAMPLE, port === undefined ? request : { ...request, port });
    assert.equal(outcome(decision), "example/default", String(port));
  }
});

Deno.test("a regex matches the whole host only, case-insensitively", () => {
  check(EXAMPLE_REGEX, [
    ["https", "api.example.com", "/", "example/default"],
    ["https", "API.EXAMPLE.COM.", "/", "example/default"],
    ["https", "api.example.com.evil.test", "/", "pass:no_match"],
    ["https", "evil-api.example.com", "/", "pass:no_match"],
    ["https", "apixexample.com", "/", "pass:no_match"],
  ]);
  // Unanchored patterns are anchored too: a full match, never a substring.
  const unanchored = routesOf(source("gh", ["regex:[a-z0-9-]+\\.githubusercontent\\.com"]));
  check(unanchored, [
    ["https", "raw.githubusercontent.com", "/x", "gh/default"],
    ["https", "raw.githubusercontent.com.evil.test", "/x", "pass:no_match"],
    ["https", "evil.test.raw.githubusercontent.com", "/x", "pass:no_match"],
  ]);
  // Alternation stays inside the anchors.
  const alternation = routesOf(source("alt", ["regex:a\\.test|b\\.test"]));
  check(alternation, [
    ["https", "a.test", "/", "alt/default"],
    ["https", "b.test", "/", "alt/default"],
    ["https", "a.test.evil", "/", "pass:no_match"],
    ["https", "evil.b.test", "/", "pass:no_match"],
  ]);
});

Deno.test("a host that is not a DNS name or IP literal never matches, even a loose regex", () => {
  const loose = routesOf(source("loose", ["regex:.*\\.example\\.com"]));
  check(loose, [
    ["https", "api.example.com", "/", "loose/default"],
    ["https", "evil.test/x.example.com", "/", "pass:no_match"],
    ["https", "evil.test#.example.com", "/", "pass:no_match"],
    ["https", "user@evil.test.example.com", "/", "pass:no_match"],
    ["https", "evil.test\n.example.com", "/", "pass:no_match"],
    ["https", "", "/", "pass:no_match"],
  ]);
  assert.equal(hostIsRouted(loose, "evil.test/x.example.com"), false);
});

Deno.test("a URL target's path is a prefix constraint", () => {
  const cloudflare = routesOf(source("cloudflare", ["https://api.cloudflare.com/client/v4"]));
  check(cloudflare, [
    ["https", "api.cloudflare.com", "/client/v4", "cloudflare/default"],
    ["https", "api.cloudflare.com", "/client/v4/", "cloudflare/default"],
    ["https", "api.cloudflare.com", "/client/v4/zones", "cloudflare/default"],
    ["https", "api.cloudflare.com", "/client/v4/zones?page=2", "cloudflare/default"],
    ["https", "api.cloudflare.com", "/client/v40", "pass:no_match"],
    ["https", "api.cloudflare.com", "/client", "pass:no_match"],
    ["https", "api.cloudflare.com", "/", "pass:no_match"],
    ["https", "api.cloudflare.com", "", "pass:no_match"],
    ["https", "api.cloudflare.com", "/Client/v4/zones", "pass:no_match"],
    // Dot segments are resolved before matching, so they cannot climb out of the prefix.
    ["https", "api.cloudflare.com", "/client/v4/../v40", "pass:no_match"],
    ["https", "api.cloudflare.com", "/client/v4/%2e%2e/%2E%2E/other", "pass:no_match"],
    ["https", "api.cloudflare.com", "/client/v4\\..\\..\\other", "pass:no_match"],
    ["https", "api.cloudflare.com", "/other/../client/v4/zones", "cloudflare/default"],
    ["https", "api.cloudflare.com", "//client//v4/./zones", "cloudflare/default"],
  ]);
});

Deno.test("buildRoutes normalises targets", () => {
  const { routes } = buildRoutes([
    source("a", [
      "API.Example.COM",
      "https://api.example.com/v1/",
      "https://api.example.com/",
      "api.example.com/v2",
      "  api.example.com.:443  ",
      "https://bücher.example/",
      "https://api.example.com/a//b/./c/../d?x=1#f",
    ]),
  ]);
  assert.deepEqual(
    routes.map((r) => [r.host, r.pathPrefix]),
    [
      ["api.example.com", undefined],
      ["api.example.com", "/v1"],
      ["api.example.com", undefined],
      ["api.example.com", "/v2"],
      ["api.example.com", undefined],
      ["xn--bcher-kva.example", undefined],
      ["api.example.com", "/a/b/d"],
    ],
  );
  for (const route of routes) assert.equal("pathPrefix" in route, route.pathPrefix !== undefined);
});

Deno.test("the most specific route wins", () => {
  const table: Array<[string, RouteSource[], Row[]]> = [
    [
      "a path prefix beats no prefix",
      [source("broad", ["api.example.com"]), source("narrow", ["https://api.example.com/v2"])],
      [
        ["https", "api.example.com", "/v2/items", "narrow/default"],
        ["https", "api.example.com", "/v1/items", "broad/default"],
      ],
    ],
    [
      "a longer prefix beats a shorter one",
      [
        source("short", ["https://api.example.com/v2"]),
        source("long", ["https://api.example.com/v2/admin"]),
      ],
      [
        ["https", "api.example.com", "/v2/admin/users", "long/default"],
        ["https", "api.example.com", "/v2/users", "short/default"],
      ],
    ],
    [
      "an exact host beats a regex",
      [source("wild", ["regex:.*\\.example\\.com"]), source("exact", ["api.example.com"])],
      [
        ["https", "api.example.com", "/", "exact/default"],
        ["https", "other.example.com", "/", "wild/default"],
      ],
    ],
    [
      "a prefix on a regex host's sibling still beats the regex",
      [source("wild", ["regex:.*\\.example\\.com"]), source("v9", ["https://api.example.com/v9"])],
      [
        ["https", "api.example.com", "/v9/x", "v9/default"],
        ["https", "api.example.com", "/v1/x", "wild/default"],
      ],
    ],
  ];
  for (const [name, sources, rows] of table) {
    const routes = routesOf(...sources);
    for (const [scheme, host, path, expected] of rows) {
      assert.equal(outcome(routeRequest(routes, { scheme, host, path })), expected, name);
    }
  }
});

Deno.test("a tie between different connections passes through as ambiguous", () => {
  const table: Array<[string, RouteSource[], string]> = [
    [
      "two providers, same host",
      [source("one", ["api.example.com"]), source("two", ["api.example.com"])],
      "pass:ambiguous",
    ],
    [
      "two providers, same prefix",
      [
        source("one", ["https://api.example.com/v1"]),
        source("two", ["https://api.example.com/v1/"]),
      ],
      "pass:ambiguous",
    ],
    [
      "two regexes",
      [source("one", ["regex:api\\..*"]), source("two", ["regex:.*\\.example\\.com"])],
      "pass:ambiguous",
    ],
    [
      "two connections of one provider",
      [
        source("one", ["api.example.com"], [], "work"),
        source("one", ["api.example.com"], [], "home"),
      ],
      "pass:ambiguous",
    ],
    [
      "one connection listing the host twice is not a tie",
      [source("one", ["api.example.com", "https://api.example.com/", "API.EXAMPLE.COM"])],
      "one/default",
    ],
  ];
  for (const [name, sources, expected] of table) {
    const routes = routesOf(...sources);
    const decision = routeRequest(routes, {
      scheme: "https",
      host: "api.example.com",
      path: "/v1/x",
    });
    assert.equal(outcome(decision), expected, name);
  }
});

Deno.test("plain HTTP is never injected", () => {
  check(EXAMPLE, [
    ["http", "api.example.com", "/v1", "pass:not_https"],
    ["http", "localhost", "/v1", "pass:not_https"],
  ]);
});

Deno.test("loopback hosts are never injected, even when a regex matches them", () => {
  const everything = routesOf(source("all", ["regex:.*"]));
  const loopback = [
    "127.0.0.1",
    "127.5.5.5",
    "127.0.0.1.",
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0.0.0.0",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "foo.localhost",
    "a.b.localhost",
    "[::1]",
    "::1",
    "[::1]:8080",
    "127.0.0.1:8443",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "::",
    "127.10.200.30",
    "::ffff:7f00:1234",
  ];
  // Loopback-looking strings with something before or after are not loopback.
  for (
    const host of ["127.1.2.3x", "x127.0.0.1", "127.0.0.1.evil.test", "a::ffff:7f00:1", "[::1]x"]
  ) {
    assert.equal(isLoopbackHost(host), false, host);
  }
  for (const host of loopback) {
    assert.equal(isLoopbackHost(host), true, host);
    assert.equal(
      outcome(routeRequest(everything, { scheme: "https", host, path: "/" })),
      "pass:loopback",
      host,
    );
    assert.equal(hostIsRouted(everything, host), false, host);
  }
  for (
    const host of [
      "api.example.com",
      "128.0.0.1",
      "localhost.example.com",
      "notlocalhost",
      "::2",
    ]
  ) {
    assert.equal(isLoopbackHost(host), false, host);
    assert.equal(
      outcome(routeRequest(everything, { scheme: "https", host, path: "/" })),
      "all/default",
    );
  }
});

Deno.test("the provider's auth endpoints on a routed host are never injected", () => {
  const endpoints = [
    "https://api.example.com/login/oauth/access_token",
    "https://api.example.com/oauth/revoke/",
    "https://auth.example.com/authorize",
  ];
  const routes = routesOf(source("example", ["api.example.com"], endpoints));
  assert.deepEqual(
    [...routes[0]!.excludedPaths],
    ["/login/oauth/access_token", "/oauth/revoke"],
  );
  check(routes, [
    ["https", "api.example.com", "/login/oauth/access_token", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login/oauth/access_token?code=1", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login/oauth/access_token/", "pass:auth_endpoint"],
    ["https", "api.example.com", "/LOGIN/OAuth/Access_Token", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login/oauth/access%5Ftoken", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login%2Foauth%2Faccess_token", "pass:auth_endpoint"],
    ["https", "api.example.com", "//login/./oauth/access_token", "pass:auth_endpoint"],
    ["https", "api.example.com", "/x/../login/oauth/access_token", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login/oauth/access_token;jsessionid=1", "pass:auth_endpoint"],
    ["https", "api.example.com", "/oauth/revoke", "pass:auth_endpoint"],
    ["https", "api.example.com", "/login/oauth", "example/default"],
    ["https", "api.example.com", "/login/oauth/access_token2", "example/default"],
    ["https", "api.example.com", "/authorize", "example/default"],
    ["https", "auth.example.com", "/authorize", "pass:no_match"],
  ]);
});

Deno.test("auth endpoints on hosts a regex route matches are excluded too", () => {
  const routes = routesOf(
    source("google", ["regex:^([a-z0-9-]+\\.)+googleapis\\.com$"], [
      "https://accounts.google.com/o/oauth2/v2/auth",
      "https://oauth2.googleapis.com/token",
      "https://oauth2.googleapis.com/revoke",
    ]),
  );
  assert.deepEqual([...routes[0]!.excludedPaths], ["/token", "/revoke"]);
  check(routes, [
    ["https", "oauth2.googleapis.com", "/token", "pass:auth_endpoint"],
    ["https", "oauth2.googleapis.com", "/tokeninfo", "google/default"],
    ["https", "www.googleapis.com", "/drive/v3/files", "google/default"],
  ]);
});

Deno.test("an auth endpoint excludes only its own provider's route", () => {
  const routes = routesOf(
    source("a", ["api.example.com"], ["https://api.example.com/token"]),
    source("b", ["https://api.example.com/v2"]),
  );
  check(routes, [
    ["https", "api.example.com", "/token", "pass:auth_endpoint"],
    ["https", "api.example.com", "/v2/token", "b/default"],
  ]);
  // Another route that still matches is used: the exclusion is not the only reason.
  const shared = routesOf(
    source("a", ["https://api.example.com/v1"], ["https://api.example.com/v1/token"]),
    source("b", ["api.example.com"]),
  );
  check(shared, [["https", "api.example.com", "/v1/token", "b/default"]]);
});

Deno.test("the query string and fragment are ignored", () => {
  const routes = routesOf(source("api", ["https://api.example.com/v1"]));
  check(routes, [
    ["https", "api.example.com", "/v1?x=/v2", "api/default"],
    ["https", "api.example.com", "/v2?x=/v1", "pass:no_match"],
    ["https", "api.example.com", "/v1#frag", "api/default"],
    ["https", "api.example.com", "?/v1", "pass:no_match"],
  ]);
});

Deno.test("buildRoutes skips bad targets with a warning", () => {
  const table: Array<[string, string]> = [
    ["regex:(", "not a valid regular expression"],
    ["regex:a)|(.*", "not a valid regular expression"],
    ["regex:", "empty regular expression"],
    ["regex:   ", "empty regular expression"],
    ["", "empty target"],
    ["   ", "empty target"],
    ["{base_url}/api/v4", "{base_url} is not filled in"],
    ["http://api.example.com", "not an https URL (plain HTTP is never injected)"],
    ["ftp://api.example.com", "not an https URL (plain HTTP is never injected)"],
    ["https://", "not a host or URL"],
    ["bad host.example.com", "not a host or URL"],
    ["localhost", "loopback hosts are never injected"],
    ["127.0.0.1", "loopback hosts are never injected"],
    ["127.9.9.9:8080", "loopback hosts are never injected"],
    ["https://LOCALHOST/api", "loopback hosts are never injected"],
    ["https://app.localhost/api", "loopback hosts are never injected"],
    ["https://[::1]/", "loopback hosts are never injected"],
    ["0.0.0.0", "loopback hosts are never injected"],
  ];
  for (const [target, reason] of table) {
    const { routes, warnings } = buildRoutes([source("acme", [target, "api.acme.test"])]);
    assert.deepEqual(routes.map((r) => r.host), ["api.acme.test"], target);
    assert.deepEqual(warnings, [`acme (default): skipped api_url "${target}": ${reason}`]);
  }
});

Deno.test("buildRoutes warns about a connection with no api_url and a bad auth endpoint", () => {
  const { routes, warnings } = buildRoutes([
    source("empty", []),
    source("acme", ["api.acme.test"], ["not a url", "https://api.acme.test/token"]),
  ]);
  assert.equal(routes.length, 1);
  assert.deepEqual([...routes[0]!.excludedPaths], ["/token"]);
  assert.deepEqual(warnings, [
    "empty (default): no api_url, so the proxy sends its credential nowhere",
    'acme (default): ignored auth endpoint "not a url": not a URL',
  ]);
});

Deno.test("hostIsRouted is true only for hosts some route matches", () => {
  const routes = routesOf(
    source("github", ["api.github.com", "regex:^[a-z0-9-]+\\.githubusercontent\\.com$"]),
    source("cloudflare", ["https://api.cloudflare.com/client/v4"]),
  );
  const table: Array<[string, boolean]> = [
    ["api.github.com", true],
    ["API.GITHUB.COM.", true],
    ["[api.github.com]", true],
    ["raw.githubusercontent.com", true],
    ["api.cloudflare.com", true],
    ["github.com", false],
    ["a.b.githubusercontent.com", false],
    ["raw.githubusercontent.com.evil.test", false],
    ["api.github.com.evil.test", false],
    ["localhost", false],
    ["", false],
  ];
  for (const [host, expected] of table) assert.equal(hostIsRouted(routes, host), expected, host);
  assert.equal(hostIsRouted([], "api.github.com"), false);
});

Deno.test("a hand-made route's regex is still checked as a full match", () => {
  const routes: Route[] = [{
    provider: "p",
    connection: "c",
    regex: /example\.com/gi,
    excludedPaths: new Set(),
  }];
  check(routes, [
    ["https", "example.com", "/", "p/c"],
    ["https", "example.com", "/", "p/c"],
    ["https", "example.com.evil.test", "/", "pass:no_match"],
  ]);
});

Deno.test("an IPv6-looking host with other characters is not an IP literal, so no regex matches it", () => {
  const anything = routesOf(source("any", ["regex:.+"]));
  check(anything, [
    ["https", "[2001:db8::1]", "/", "any/default"],
    ["https", "g::1", "/", "pass:no_match"],
    ["https", "1::g", "/", "pass:no_match"],
  ]);
});

Deno.test("specificity decides whatever order the routes come in", () => {
  const broad = source("broad", ["api.example.com"]);
  const narrow = source("narrow", ["https://api.example.com/v1"]);
  const wild = source("wild", ["regex:api\\.example\\.com"]);
  for (const order of [[broad, narrow], [narrow, broad]]) {
    check(routesOf(...order), [
      ["https", "api.example.com", "/v1/x", "narrow/default"],
      ["https", "api.example.com", "/v2", "broad/default"],
    ]);
  }
  for (const order of [[wild, narrow], [narrow, wild]]) {
    check(routesOf(...order), [
      ["https", "api.example.com", "/v1/x", "narrow/default"],
      ["https", "api.example.com", "/v2", "wild/default"],
    ]);
  }
  for (const order of [[wild, broad], [broad, wild]]) {
    check(routesOf(...order), [["https", "api.example.com", "/v2", "broad/default"]]);
  }
});

Deno.test("IPv4-mapped and bracketed loopback spellings, and near misses", () => {
  assert.equal(isLoopbackHost("[::ffff:0.0.0.0]"), true);
  assert.equal(isLoopbackHost("::ffff:0:0"), true);
  assert.equal(isLoopbackHost("[::ffff:7f00:1]"), true);
  assert.equal(isLoopbackHost("[::ffff:7f00:1:2]"), false, "not an IPv4-mapped address");
  assert.equal(isLoopbackHost("evil[::1]"), false);
  assert.equal(isLoopbackHost("[::1]x"), false);
});

Deno.test("a regex target may have spaces after regex: and any letter case", () => {
  check(routesOf(source("spaced", ["regex:   api\\.example\\.com"])), [
    ["https", "api.example.com", "/", "spaced/default"],
  ]);
  check(routesOf(source("upper", ["regex:API\\.Example\\.COM"])), [
    ["https", "api.example.com", "/", "upper/default"],
  ]);
});

Deno.test("a scheme is recognised only at the start of a target", () => {
  const routes = routesOf(source("odd", ["api.example.com/proxy/http://x"]));
  assert.deepEqual(routes.map((r) => [r.host, r.pathPrefix]), [
    ["api.example.com", "/proxy/http:/x"],
  ]);
  const plain = buildRoutes([source("plain", ["http://api.example.com/https://x"])]);
  assert.deepEqual(plain.routes, []);
  assert.match(plain.warnings.join("\n"), /not an https URL/);
  const star = buildRoutes([source("star", ["a*b.example.com"])]);
  assert.deepEqual(star.routes, []);
  assert.deepEqual(star.warnings, [
    'star (default): skipped api_url "a*b.example.com": not a host or URL',
  ]);
});

Deno.test("an escaped ? or # after an auth endpoint path still counts as that endpoint", () => {
  const routes = routesOf(
    source("gh", ["api.example.com"], ["https://api.example.com/oauth/token"]),
  );
  check(routes, [
    ["https", "api.example.com", "/oauth/token%3F", "pass:auth_endpoint"],
    ["https", "api.example.com", "/oauth/token%23", "pass:auth_endpoint"],
    ["https", "api.example.com", "/oauth/token%3Fx", "gh/default"],
    ["https", "api.example.com", "/oauth/tokens", "gh/default"],
  ]);
});

Deno.test("dot segments in any case and repeated slashes resolve before the prefix is checked", () => {
  const routes = routesOf(source("v1", ["https://api.example.com/v1"]));
  check(routes, [
    ["https", "api.example.com", "/v1//x", "v1/default"],
    ["https", "api.example.com", "/v1/./x", "v1/default"],
    ["https", "api.example.com", "/v1/%2E/x", "v1/default"],
    ["https", "api.example.com", "/x/%2E%2E/v1/y", "v1/default"],
    ["https", "api.example.com", "/v1/%2E%2E/admin", "pass:no_match"],
    ["https", "api.example.com", "/v1/%2e%2E/admin", "pass:no_match"],
    ["https", "api.example.com", "/v1\\..\\admin", "pass:no_match"],
    ["https", "api.example.com", "/v1?/../admin", "v1/default"],
    ["https", "api.example.com", "/v1#/../../admin", "v1/default"],
    ["https", "api.example.com", "/v1x", "pass:no_match"],
  ]);
});
