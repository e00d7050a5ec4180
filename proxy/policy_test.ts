import assert from "node:assert/strict";
import { checkRequest, grantFor, type IdentityPolicy, isExpired, parseDuration } from "./policy.ts";

const NOW = new Date("2030-06-01T12:00:00.000Z");

function policy(grants: IdentityPolicy["grants"], expiresAt: string | null = null): IdentityPolicy {
  return { name: "agent", expiresAt, grants };
}

const open = { provider: "github", connection: null, readOnly: false, paths: [] };

Deno.test("a request is refused for a provider the identity may not use, and allowed for one it may", () => {
  const p = policy([open]);
  assert.deepEqual(checkRequest(p, "github", "DELETE", "/anything", NOW), { allowed: true });
  assert.deepEqual(checkRequest(p, "openai", "GET", "/v1/models", NOW), {
    allowed: false,
    rule: "provider",
    message: 'identity "agent" may not use openai',
  });
  assert.equal(grantFor(p, "github"), open);
  assert.equal(grantFor(p, "git"), undefined);
});

Deno.test("expiry: allowed up to the instant before, refused from the instant on, for every provider", () => {
  const at = "2030-06-01T12:00:00.000Z";
  const p = policy([open], at);
  assert.equal(isExpired(p, new Date(Date.parse(at) - 1)), false);
  assert.equal(isExpired(p, new Date(at)), true);
  assert.equal(isExpired(policy([open]), new Date(8.64e15)), false);
  assert.deepEqual(checkRequest(p, "github", "GET", "/", NOW), {
    allowed: false,
    rule: "expired",
    message: `identity "agent" expired at ${at}`,
  });
  assert.equal(checkRequest(p, "github", "GET", "/", new Date(Date.parse(at) - 1)).allowed, true);
});

Deno.test("read-only allows GET, HEAD and OPTIONS in any case, and refuses every other method", () => {
  const p = policy([{ ...open, readOnly: true }]);
  for (const method of ["GET", "HEAD", "OPTIONS", "get", "Head"]) {
    assert.deepEqual(checkRequest(p, "github", method, "/x", NOW), { allowed: true }, method);
  }
  for (const method of ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND"]) {
    assert.deepEqual(checkRequest(p, "github", method, "/x", NOW), {
      allowed: false,
      rule: "read-only",
      message: `identity "agent" may only read from github (GET, HEAD, OPTIONS), not ${method}`,
    }, method);
  }
});

Deno.test("path prefixes hold segment-wise after dot segments are resolved; encoded slashes are refused", () => {
  const p = policy([{ ...open, paths: ["/repos/acme/", "/user"] }]);
  const allowed = [
    "/repos/acme",
    "/repos/acme/",
    "/repos/acme/app?x=/other",
    "/repos/acme/app/../lib",
    "//repos//acme//app",
    "/user",
    "/user/keys",
  ];
  for (const path of allowed) {
    assert.deepEqual(checkRequest(p, "github", "GET", path, NOW), { allowed: true }, path);
  }
  const refused = [
    "/repos/acmex",
    "/repos/acme/../other",
    "/repos/acme/%2e%2e/other",
    "/repos/acme/app%2F..%2F..%2Fother",
    "/repos/acme/app%5c..",
    "/users",
    "/",
    "/repo",
  ];
  for (const path of refused) {
    assert.deepEqual(checkRequest(p, "github", "GET", path, NOW), {
      allowed: false,
      rule: "path",
      message: 'identity "agent" may use github only under /repos/acme/, /user',
    }, path);
  }
  // An encoded slash in the query is not part of the path.
  assert.equal(checkRequest(p, "github", "GET", "/user?next=%2Fadmin", NOW).allowed, true);
  // The prefix "/" allows every path.
  const everything = policy([{ ...open, paths: ["/"] }]);
  assert.equal(checkRequest(everything, "github", "GET", "/a/b", NOW).allowed, true);
});

Deno.test("read-only is checked before paths, and both apply to a limited provider only", () => {
  const p = policy([{ ...open, readOnly: true, paths: ["/v1"] }, {
    provider: "openai",
    connection: "work",
    readOnly: false,
    paths: [],
  }]);
  assert.equal(
    (checkRequest(p, "github", "POST", "/v2", NOW) as { rule: string }).rule,
    "read-only",
  );
  assert.equal((checkRequest(p, "github", "GET", "/v2", NOW) as { rule: string }).rule, "path");
  assert.equal(checkRequest(p, "openai", "POST", "/v2", NOW).allowed, true);
});

Deno.test("durations: minutes, hours, days and weeks; anything else is not a duration", () => {
  assert.equal(parseDuration("1m"), 60_000);
  assert.equal(parseDuration("12h"), 43_200_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  assert.equal(parseDuration("2w"), 1_209_600_000);
  assert.equal(parseDuration("999999d"), 999_999 * 86_400_000);
  for (
    const bad of [
      "",
      "0m",
      "01h",
      "1",
      "h",
      "1.5h",
      "1s",
      "1y",
      "1 h",
      " 1h",
      "1h ",
      "1000000d",
      "-1h",
    ]
  ) {
    assert.equal(parseDuration(bad), undefined, bad);
  }
});
