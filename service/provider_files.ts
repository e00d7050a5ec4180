/**
 * Provider definitions the user adds or removes (files in `$AUTHSOME_HOME/providers`).
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import { type IgnoredField, legacyNotice } from "../providers/legacy.ts";
import { MCP_PSEUDO_PROVIDER } from "../providers/mcp_provider.ts";
import type { LoadedProvider } from "../providers/registry.ts";
import { parseProvider } from "../providers/schema.ts";
import { connectionNames } from "./connections.ts";
import { audited, type ServiceContext } from "./context.ts";

/**
 * Validates and installs a provider definition (audited). A file of the Python original is
 * installed as is; `notice` then names the fields it has that authsome ignores.
 */
export async function registerProvider(
  ctx: ServiceContext,
  definition: unknown,
  opts: { force?: boolean; source?: string } = {},
): Promise<LoadedProvider & { notice?: string }> {
  const source = opts.source ?? "definition";
  const name = typeof definition === "object" && definition !== null &&
      typeof (definition as { name?: unknown }).name === "string"
    ? (definition as { name: string }).name
    : undefined;
  const ignored: IgnoredField[] = [];
  const loaded = await audited(
    ctx,
    "provider-register",
    name === undefined ? {} : { provider: name },
    () => {
      const def = parseProvider(definition, source, ignored);
      if (def.name === MCP_PSEUDO_PROVIDER) {
        throw new AuthsomeError(
          "INVALID_INPUT",
          `${source}: name: "mcp" is reserved for 'authsome login mcp URL'`,
          { hint: "Choose another name, e.g. mcp-tools" },
        );
      }
      return ctx.registry.register(definition, source, { force: opts.force === true });
    },
  );
  const notice = legacyNotice(source, ignored);
  return notice === undefined ? loaded : { ...loaded, notice };
}

/** Removes a user provider definition; refused while the current vault has its connections. */
export async function removeProvider(
  ctx: ServiceContext,
  name: string,
): Promise<{ restoredBundled: boolean }> {
  return await audited(ctx, "provider-remove", { provider: name }, async () => {
    const loaded = await ctx.registry.get(name).catch(() => undefined);
    const connections = await connectionNames(ctx.vault, name);
    if (loaded?.origin === "user" && !loaded.overrides && connections.length > 0) {
      throw new AuthsomeError(
        "NOT_ALLOWED",
        `Provider "${name}" still has ${connections.length} connection(s) in vault "${ctx.settings.vault}"`,
        { hint: `Remove them first: authsome revoke ${name}` },
      );
    }
    return await ctx.registry.remove(name);
  });
}
