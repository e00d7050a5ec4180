/**
 * Defence in depth inside an `authsome run` child: the commands that would reveal a secret or
 * move one into the child are refused there, even when the child can reach a vault.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { Values } from "./args.ts";

/**
 * Throws `NOT_ALLOWED` (exit 4) when `AUTHSOME_PROXY_MODE` is set (authsome run sets it in its
 * child) and the command reveals or moves a secret: `get --show-secret`, `export`, `run --env`,
 * `login`, and `mcp` (an MCP server there would give the child's agent the vault's connections
 * without the run's identity).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refuseInRunChild } from "./run_child.ts";
 * const inChild = { get: (name: string) => name === "AUTHSOME_PROXY_MODE" ? "true" : undefined };
 * assert.throws(() => refuseInRunChild("export", {}, inChild), /inside 'authsome run'/);
 * refuseInRunChild("list", {}, inChild); // allowed
 * ```
 */
export function refuseInRunChild(
  command: string,
  values: Values,
  env: { get(name: string): string | undefined },
): void {
  if (env.get("AUTHSOME_PROXY_MODE") === undefined) return;
  const refused = command === "get" && values["show-secret"] === true
    ? "get --show-secret"
    : command === "run" && values.env === true
    ? "run --env"
    : command === "export" || command === "login" || command === "mcp"
    ? command
    : undefined;
  if (refused === undefined) return;
  throw new AuthsomeError("NOT_ALLOWED", `"authsome ${refused}" is refused inside 'authsome run'`, {
    hint: "Programs under 'authsome run' get credentials through its proxy only; " +
      "run this command outside it",
  });
}
