/**
 * OAuth client credentials (an app's `client_id`/`client_secret`), shared by a provider's
 * connections in a vault: gathered from a flag or variable, else asked for; never from a flag
 * for the secret.
 *
 * @module
 */
import { AuthsomeError } from "../errors.ts";
import type { ProviderDefinition } from "../providers/schema.ts";
import type { ServiceContext } from "./context.ts";
import type { ClientRecord, InputField, InputRequest, LoginOptions } from "./types.ts";

/** The client as the OAuth steps take it (no bookkeeping fields). */
export function oauthClientOf(client: ClientRecord): { client_id: string; client_secret?: string } {
  return client.client_secret === undefined
    ? { client_id: client.client_id }
    : { client_id: client.client_id, client_secret: client.client_secret };
}

/**
 * Gathers OAuth client credentials: flag or variable, then input; secrets never from flags.
 *
 * @example
 * ```ts ignore
 * const client = await collectClient(ctx, def, { clientId: "abc" }, "http://127.0.0.1:7998/callback");
 * ```
 */
export async function collectClient(
  ctx: ServiceContext,
  def: ProviderDefinition,
  opts: LoginOptions,
  redirectUri: string | undefined,
): Promise<ClientRecord> {
  const names = def.oauth?.client;
  const idEnv = names?.client_id_env;
  const secretEnv = names?.client_secret_env;
  const fromEnv = (name: string | undefined) => {
    const v = name === undefined ? undefined : ctx.env.get(name)?.trim();
    return v === "" ? undefined : v;
  };
  let clientId = opts.clientId ?? fromEnv(idEnv);
  // A secret variable that is set but empty marks a public client: nothing is asked for it.
  // An explicit source (--stdin) wins over the variable.
  let secret = secretEnv === undefined || opts.explicitInput
    ? undefined
    : ctx.env.get(secretEnv)?.trim();
  let source: ClientRecord["source"] = opts.clientId !== undefined ? "flag" : "env";
  if (clientId === undefined || secret === undefined) {
    source = "input";
    const idField: InputField = {
      name: "client_id",
      label: "Client ID",
      secret: false,
      required: true,
    };
    if (clientId !== undefined) idField.value = clientId;
    const request: InputRequest = {
      provider: def.display_name,
      title: `Connect your ${def.display_name} OAuth app`,
      intro: `authsome needs the client ID and secret of an OAuth app you registered with ` +
        `${def.display_name}. They are stored encrypted and shared by all your ` +
        `${def.display_name} connections in this vault.`,
      fields: [idField, {
        name: "client_secret",
        label: "Client secret",
        secret: true,
        required: false,
        hint: "Leave empty for a public client",
      }],
      envVars: [idEnv, secretEnv].filter((v): v is string => v !== undefined),
    };
    if (redirectUri !== undefined) {
      request.info = [{ label: "Redirect URI to register", value: redirectUri, copy: true }];
    }
    if (def.docs) request.docsUrl = def.docs;
    const values = await opts.readFields?.(request);
    clientId = values?.client_id?.trim() || clientId;
    secret = values?.client_secret?.trim() || secret;
  }
  if (clientId === undefined || clientId === "") {
    throw new AuthsomeError("AUTH_FAILED", `No OAuth client ID for ${def.display_name}`, {
      hint: idEnv ? `Set ${idEnv} or pass --client-id` : "Pass --client-id",
    });
  }
  const client: ClientRecord = { client_id: clientId, source };
  if (secret !== undefined && secret !== "") client.client_secret = secret;
  return client;
}
