/**
 * The one-time notice of a command that created the key file (`login`, `scan --import`,
 * `restore` into a new home): where it is, and that it must be backed up.
 *
 * @module
 */
import type { AuthService } from "../mod.ts";
import type { Output } from "./command.ts";

/**
 * Notes whether the key file exists now; the returned function prints the notice when the
 * command created it.
 *
 * @example
 * ```ts ignore
 * const announce = await watchKeyFile(auth);
 * await auth.login("openai");
 * await announce(out);
 * ```
 */
export async function watchKeyFile(auth: AuthService): Promise<(out: Output) => Promise<void>> {
  const keyFile = auth.settings.masterKey === undefined && auth.settings.passphrase === undefined
    ? `${auth.settings.home}/master.key`
    : undefined;
  const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
  const had = keyFile === undefined || await exists(keyFile);
  return async (out) => {
    if (had || !await exists(keyFile!)) return;
    out.note(
      `Created the master key ${keyFile}: back it up somewhere safe; without it the ` +
        "vaults cannot be opened.",
    );
  };
}
