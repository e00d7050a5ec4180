/**
 * The fuzz part's mutated provider files: a valid API-key or OAuth definition with one of twelve
 * kinds of damage (each kind in turn), then a random command that reads it.
 *
 * @module
 */
import { join } from "node:path";
import { baseEnv, type Random } from "./harness.ts";
import { flip, freshHome, type FuzzCase } from "./fuzz_case.ts";

const BASE_API_KEY = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "api_key",
  flow: "api_key",
  api_url: "api.acme.test",
  api_key: {
    header_name: "x-acme-key",
    header_prefix: null,
    env_var: "ACME_API_KEY",
    key_pattern: "^ak_[a-z0-9]{8,}$",
  },
  export: { env: { api_key: "ACME_API_KEY" } },
};

const BASE_OAUTH = {
  schema_version: 1,
  name: "acme",
  display_name: "Acme",
  auth_type: "oauth2",
  flow: "pkce",
  api_url: "{base_url}/api",
  oauth: {
    base_url: "https://acme.test",
    authorization_url: "{base_url}/authorize",
    token_url: "{base_url}/token",
    scopes: ["read"],
  },
};

const ODD_TEXT = [
  "\u202eemca",
  "a\u0000b",
  "\ud800",
  "e\u0301\u0301\u0301",
  "😀".repeat(50),
  "\ufeffacme",
  "acme\r\nX-Injected: 1",
  "../../etc/passwd",
  "..",
  "ACME",
  "",
  " ",
];

const BAD_PATTERNS = [
  "^(ak_[a-z]+$",
  "^(a+)+$",
  "^(a|a)*$",
  "^(a|aa)+$",
  "^([a-z0-9]+)*$",
  "^(a+)\\1$",
  "[",
  "*",
  "(?<",
  "a".repeat(5000),
];

const BASE_URL_ABUSE = [
  "{base_url}{base_url}/x",
  "http://{base_url}/x",
  "{base_url}",
  "javascript:{base_url}",
  "https://user:pw@{base_url}/x",
  "{BASE_URL}/x",
  "{base_url}/../../x",
  "https://acme.test/{base_url}",
  "file:///etc/passwd",
  "http://169.254.169.254/latest",
];

type Json = unknown;

/** How many kinds of provider-file mutation there are; case i gets kind i modulo this. */
const PROVIDER_MUTATIONS = 12;

function mutateProvider(
  random: Random,
  op: number,
): { what: string; text: string; key?: string } {
  const doc = structuredClone(random.next() < 0.5 ? BASE_API_KEY : BASE_OAUTH) as Record<
    string,
    Json
  >;
  const paths = leafPaths(doc);
  switch (op) {
    case 0: {
      const text = JSON.stringify(doc);
      const bytes = new TextEncoder().encode(text);
      for (let n = 1 + random.int(4); n > 0; n--) {
        flip(bytes, random.int(bytes.length), random.int(8));
      }
      return { what: "flipped bytes", text: new TextDecoder().decode(bytes) };
    }
    case 1: {
      const path = random.pick(paths);
      deleteAt(doc, path);
      return { what: `deleted ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 2: {
      const path = random.pick(paths);
      const value = random.pick<Json>([42, true, null, [], {}, [1, "x"], -1e308, "x"]);
      setAt(doc, path, value);
      return { what: `wrong type at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 3: {
      const path = random.pick(paths);
      setAt(doc, path, "x".repeat(1_000_000));
      return { what: `1 MB string at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 4: {
      const depth = 10_000;
      const nested = "[".repeat(depth) + "]".repeat(depth);
      const text = JSON.stringify(doc).replace('"read"', nested).replace('"x-acme-key"', nested);
      return { what: "10,000-deep nesting", text };
    }
    case 5: {
      const path = random.pick([["name"], ["display_name"], ["api_url"], ["flow"]]);
      setAt(doc, path, random.pick(ODD_TEXT));
      return { what: `odd Unicode at ${path.join(".")}`, text: JSON.stringify(doc) };
    }
    case 6:
      return { what: "byte order mark", text: "\ufeff" + JSON.stringify(doc, null, 2) };
    case 7: {
      const text = JSON.stringify(doc).replace('"name":"acme"', '"name":"acme","name":"other"')
        .replace('"flow":', '"flow":"device_code","flow":');
      return { what: "duplicate keys", text };
    }
    case 8: {
      const api = structuredClone(BASE_API_KEY) as Record<string, Json>;
      const pattern = random.pick(BAD_PATTERNS);
      setAt(api, ["api_key", "key_pattern"], pattern);
      if (random.next() < 0.5) api.api_url = `regex:${pattern}`;
      return {
        what: `key_pattern ${JSON.stringify(pattern.slice(0, 20))}`,
        text: JSON.stringify(api),
        key: "a".repeat(20_000) + "!",
      };
    }
    case 9: {
      const oauth = structuredClone(BASE_OAUTH) as Record<string, Json>;
      const path = random.pick([
        ["oauth", "authorization_url"],
        ["oauth", "token_url"],
        ["api_url"],
        [
          "oauth",
          "base_url",
        ],
      ]);
      setAt(oauth, path, random.pick(BASE_URL_ABUSE));
      return { what: `{base_url} abuse at ${path.join(".")}`, text: JSON.stringify(oauth) };
    }
    case 10: {
      setAt(doc, ["name"], random.pick(["../acme", "..", "acme/../../x", "./acme", "acme\\..\\x"]));
      return { what: `name ${String(doc.name)}`, text: JSON.stringify(doc) };
    }
    default: {
      const text = JSON.stringify(doc);
      return { what: "truncated", text: text.slice(0, random.int(text.length)) };
    }
  }
}

/**
 * `count` provider-file cases.
 *
 * @example
 * ```ts
 * import { Random } from "./harness.ts";
 * import { providerCases } from "./fuzz_providers.ts";
 * console.log(providerCases(new Random(1), 12, "/tmp/x").length); // 12
 * ```
 */
export function providerCases(random: Random, count: number, scratch: string): FuzzCase[] {
  const commands = [
    ["provider", "inspect", "acme"],
    ["list", "--all"],
    ["list", "--json"],
    ["login", "acme"],
    ["get", "acme"],
    ["export", "acme"],
    ["provider", "register", "FILE"],
    ["provider", "register", "FILE", "--force"],
  ];
  return Array.from({ length: count }, (_, i) => {
    const op = i % PROVIDER_MUTATIONS;
    const mutation = mutateProvider(random, op);
    const home = freshHome(scratch);
    const file = join(home, "..", "acme.json");
    // A key pattern is used when a key is checked: at login.
    const argv = (op === 8 && i % 2 === 0 ? commands[3]! : random.pick(commands))
      .map((word) => word === "FILE" ? file : word);
    const key = mutation.key ?? `ak_${"k".repeat(12)}`;
    return {
      what: mutation.what,
      cli: { argv, env: baseEnv(home, { ACME_API_KEY: key }), cwd: scratch },
      // A bad provider file is named by its file name (and the field, where there is one).
      names: { code: 65, pattern: /acme\.json/ },
      async prepare() {
        await Deno.mkdir(join(home, "providers"), { recursive: true, mode: 0o700 });
        await Deno.writeTextFile(join(home, "providers", "acme.json"), mutation.text);
        await Deno.writeTextFile(file, mutation.text);
      },
    };
  });
}

function leafPaths(value: Json, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== "object") return [prefix];
  const entries = Object.entries(value as Record<string, Json>);
  return entries.length === 0
    ? [prefix]
    : entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

function setAt(doc: Record<string, Json>, path: string[], value: Json): void {
  let at = doc as Record<string, Json>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, Json>;
  at[path[path.length - 1]!] = value;
}

function deleteAt(doc: Record<string, Json>, path: string[]): void {
  let at = doc as Record<string, Json>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string, Json>;
  delete at[path[path.length - 1]!];
}
