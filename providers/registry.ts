/**
 * The provider registry: bundled definitions (`providers/bundled/<name>.json`) and user files
 * (`<home>/providers/<name>.json`), which override bundled ones of the same name.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
import { ensurePrivateDir, readTextIfExists, writeFileAtomic } from "../storage/files.ts";
import { runtime } from "../runtime/runtime.ts";
import { BUNDLED_PROVIDERS } from "./bundled_index.ts";
import { parseProvider, type ProviderDefinition } from "./schema.ts";

/** A definition with where it came from. */
export interface LoadedProvider {
  /** The validated definition. */
  definition: ProviderDefinition;
  /** `bundled`, or `user` for a file in the home folder. */
  origin: "bundled" | "user";
  /** The file it was read from. */
  path: string;
  /** True when a user file hides a bundled definition of the same name. */
  overrides: boolean;
}

/** The result of listing: the good definitions and one line per file that could not be used. */
export interface ProviderListing {
  /** Every usable provider, sorted by name. */
  providers: LoadedProvider[];
  /** Problems such as `acme.json: oauth.token_url: must be an https URL`. */
  problems: string[];
}

/** The registry operations. */
export interface Registry {
  /** One provider by name; `PROVIDER_NOT_FOUND` or `INVALID_INPUT` when it cannot be used. */
  get(name: string): Promise<LoadedProvider>;
  /** Every provider; invalid user files are reported, not fatal. */
  list(): Promise<ProviderListing>;
  /** Validates and installs a definition as a user file. */
  register(document: unknown, source: string, options?: { force?: boolean }): Promise<
    LoadedProvider
  >;
  /** Deletes a user file; the bundled definition of the same name, if any, applies again. */
  remove(name: string): Promise<{ restoredBundled: boolean }>;
}

/**
 * Creates a registry over a home folder.
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { createRegistry } from "./registry.ts";
 * const registry = createRegistry({ home: "/tmp/authsome-home" });
 * const { definition } = await registry.get("openai");
 * assert.equal(definition.api_key?.env_var, "OPENAI_API_KEY");
 * ```
 */
export function createRegistry(options: {
  home: string;
  /** The bundled provider files by name; default {@linkcode BUNDLED_PROVIDERS}. */
  bundled?: Readonly<Record<string, string>>;
}): Registry {
  const bundled = options.bundled ?? BUNDLED_PROVIDERS;
  const userDir = joinPath(options.home, "providers");
  const userPath = (name: string) => joinPath(userDir, `${name}.json`);
  const isBundled = (name: string) => Object.hasOwn(bundled, name);

  // Bundled definitions are embedded in a module (no file access), so they load wherever the
  // package comes from: a checkout, an HTTP server, JSR, Node or Bun.
  function readBundled(name: string): LoadedProvider | undefined {
    if (!isBundled(name)) return undefined;
    const path = `providers/bundled/${name}.json`;
    const definition = load(bundled[name]!, `bundled/${name}.json`, name);
    return { definition, origin: "bundled", path, overrides: false };
  }

  async function readUser(name: string): Promise<LoadedProvider | undefined> {
    const path = userPath(name);
    const text = await readTextIfExists(path);
    if (text === undefined) return undefined;
    const definition = load(text, `providers/${name}.json`, name);
    return { definition, origin: "user", path, overrides: false };
  }

  /** Every provider's name, bundled or the user's (the files, read or not). */
  async function allNames(): Promise<string[]> {
    return [...new Set([...Object.keys(bundled), ...await jsonNames(userDir)])];
  }

  async function get(name: string): Promise<LoadedProvider> {
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) throw notFound(name, await allNames());
    const user = await readUser(name);
    if (user !== undefined) {
      user.overrides = isBundled(name);
      return user;
    }
    const found = readBundled(name);
    if (found === undefined) throw notFound(name, await allNames());
    return found;
  }

  return {
    get,
    async list() {
      const problems: string[] = [];
      const byName = new Map<string, LoadedProvider>();
      for (const name of Object.keys(bundled).sort()) {
        try {
          const p = readBundled(name);
          if (p !== undefined) byName.set(name, p);
        } catch (error) {
          problems.push(describe(error));
        }
      }
      for (const name of await jsonNames(userDir)) {
        try {
          const p = await readUser(name);
          if (p === undefined) continue;
          p.overrides = byName.has(name);
          byName.set(name, p);
        } catch (error) {
          problems.push(describe(error));
        }
      }
      const providers = [...byName.values()].sort((a, b) =>
        a.definition.name < b.definition.name ? -1 : 1
      );
      return { providers, problems };
    },
    async register(document, source, { force = false } = {}) {
      const definition = parseProvider(document, source);
      const name = definition.name;
      const existing = await readTextIfExists(userPath(name)) !== undefined
        ? "a user provider"
        : isBundled(name)
        ? "a bundled provider"
        : undefined;
      if (existing !== undefined && !force) {
        throw new AuthsomeError(
          "PROVIDER_EXISTS",
          `Provider "${name}" exists already as ${existing}`,
          {
            hint: `Add --force to replace it: authsome provider register ${source} --force`,
          },
        );
      }
      await ensurePrivateDir(userDir);
      await writeFileAtomic(userPath(name), JSON.stringify(document, null, 2) + "\n");
      return get(name);
    },
    async remove(name) {
      const path = userPath(name);
      if (await readTextIfExists(path) === undefined) {
        if (isBundled(name)) {
          throw new AuthsomeError(
            "NOT_ALLOWED",
            `Provider "${name}" is bundled and has no user file to remove`,
            { hint: "Only providers added with 'authsome provider register' can be removed" },
          );
        }
        // Only the user's own providers can be removed, so only their names are suggested.
        throw notFound(name, await jsonNames(userDir));
      }
      await runtime.remove(path);
      return { restoredBundled: isBundled(name) };
    },
  };
}

function load(text: string, source: string, fileName: string): ProviderDefinition {
  let doc: unknown;
  try {
    // Editors on Windows may start a UTF-8 file with a byte order mark; JSON has no use for it.
    doc = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new AuthsomeError("INVALID_INPUT", `${source}: is not valid JSON (${firstLine(error)})`, {
      hint: "Fix the file, or remove it with: authsome provider remove " + fileName,
    });
  }
  const def = parseProvider(doc, source);
  if (def.name !== fileName) {
    throw new AuthsomeError(
      "INVALID_INPUT",
      `${source}: name: is "${def.name}" but the file is named ${fileName}.json`,
      { hint: `Rename the file to ${def.name}.json or fix the name` },
    );
  }
  return def;
}

async function jsonNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for (const entry of await runtime.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) {
        names.push(entry.name.slice(0, -".json".length));
      }
    }
  } catch (error) {
    if (runtime.failure(error) !== "not-found") throw error;
  }
  return names.sort();
}

/** `Unknown provider "githb"`, with the nearest of `names` as a did-you-mean when one is close. */
function notFound(name: string, names: readonly string[]): AuthsomeError {
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  return new AuthsomeError("PROVIDER_NOT_FOUND", `Unknown provider "${shown}"`, {
    hint: `${didYouMean(name, names)}See the providers with: authsome provider list`,
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
