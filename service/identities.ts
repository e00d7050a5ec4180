/**
 * Agent identities: a name with a policy (which providers and connections it may use, read-only
 * and path limits, an expiry), kept as a sealed record of the vault (`identity/<name>`), so an
 * edited policy fails authentication like any other record (exit 10). Each identity also gets an
 * Ed25519 key pair, sealed with it, for identities that authenticate remotely later.
 *
 * @module
 */
import { checkName } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
import { grantFor, type IdentityPolicy, isExpired, parseDuration } from "../proxy/policy.ts";
import type { VaultReader } from "../storage/vault.ts";
import { audited, type ServiceContext } from "./context.ts";
import type { IdentityInfo, IdentitySpec } from "./types.ts";
import { toBase64 } from "../runtime/bytes.ts";

/** An identity as stored (sealed) in the vault. */
export interface IdentityRecord {
  name: string;
  created_at: string;
  expires_at: string | null;
  grants: Array<{
    provider: string;
    connection: string | null;
    read_only: boolean;
    paths: string[];
  }>;
  /** An Ed25519 key pair (JWK), for remote authentication later; the private half never leaves. */
  key: { public_jwk: JsonWebKey; private_jwk: JsonWebKey };
}

/** The record key of an identity. */
export const identityKey = (name: string): string => `identity/${name}`;

/**
 * `identity create`: validates the spec (known providers, limits only on allowed providers,
 * prefixes starting with `/`, a duration like `12h`), then stores the identity; exit 6 when it
 * exists already.
 *
 * @example
 * ```ts ignore
 * await createIdentity(ctx, "reader", { allow: ["github/work"], readOnly: ["github"] });
 * ```
 */
export async function createIdentity(
  ctx: ServiceContext,
  name: string,
  spec: IdentitySpec,
): Promise<IdentityInfo> {
  checkName("identity", name);
  return await audited(ctx, "identity-create", { identity: name }, async () => {
    const now = ctx.now();
    const grants = new Map<string, IdentityRecord["grants"][number]>();
    for (const entry of spec.allow) {
      const [provider, connection, extra] = entry.split("/");
      if (provider === undefined || extra !== undefined || connection === "") {
        throw new AuthsomeError("USAGE", `--allow takes PROVIDER or PROVIDER/CONNECTION`, {
          hint: "Example: --allow github/work --allow openai",
        });
      }
      checkName("provider", provider);
      if (connection !== undefined) checkName("connection", connection);
      await ctx.registry.get(provider); // an unknown provider is exit 4 with its hint
      if (grants.has(provider)) {
        throw new AuthsomeError("USAGE", `${provider} is allowed twice`, {
          hint: "Give one --allow per provider",
        });
      }
      grants.set(provider, {
        provider,
        connection: connection ?? null,
        read_only: false,
        paths: [],
      });
    }
    if (grants.size === 0) {
      throw new AuthsomeError("USAGE", "An identity needs at least one --allow", {
        hint: "Example: authsome identity create agent --allow github",
      });
    }
    const limited = (provider: string, option: string) => {
      const grant = grants.get(provider);
      if (grant === undefined) {
        throw new AuthsomeError("USAGE", `${option} ${provider}: ${provider} is not allowed`, {
          hint: `Add --allow ${provider}`,
        });
      }
      return grant;
    };
    for (const provider of spec.readOnly ?? []) limited(provider, "--read-only").read_only = true;
    for (const entry of spec.paths ?? []) {
      const m = /^([^=]+)=(\/[^\s?#]*)$/.exec(entry);
      if (m === null) {
        throw new AuthsomeError("USAGE", `--path takes PROVIDER=/PREFIX, not "${entry}"`, {
          hint: "Example: --path github=/repos/acme",
        });
      }
      limited(m[1]!, "--path").paths.push(m[2]!);
    }
    let expires_at: string | null = null;
    if (spec.expires !== undefined) {
      const ms = parseDuration(spec.expires);
      if (ms === undefined) {
        throw new AuthsomeError("USAGE", `--expires takes a duration, not "${spec.expires}"`, {
          hint: "Use minutes, hours, days or weeks, e.g. 90m, 12h, 7d, 2w",
        });
      }
      expires_at = new Date(now.getTime() + ms).toISOString();
    }
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const record: IdentityRecord = {
      name,
      created_at: now.toISOString(),
      expires_at,
      grants: [...grants.values()],
      key: {
        public_jwk: await crypto.subtle.exportKey("jwk", pair.publicKey),
        private_jwk: await crypto.subtle.exportKey("jwk", pair.privateKey),
      },
    };
    await ctx.vault.update(async (tx) => {
      if (await tx.get(identityKey(name)) !== undefined) {
        throw new AuthsomeError("IDENTITY_EXISTS", `The identity "${name}" exists already`, {
          hint: `Remove it first: authsome identity remove ${name}`,
        });
      }
      tx.set(identityKey(name), record);
    });
    return await infoOf(ctx, record);
  });
}

/** `identity list`: every identity, by name. */
export async function listIdentities(ctx: ServiceContext): Promise<IdentityInfo[]> {
  const out: IdentityInfo[] = [];
  for (const key of (await ctx.vault.keys("identity/")).sort()) {
    const record = await ctx.vault.get<IdentityRecord>(key);
    if (record !== undefined) out.push(await infoOf(ctx, record));
  }
  return out;
}

/** `identity show`: one identity; exit 3 when there is none of that name. */
export async function getIdentity(ctx: ServiceContext, name: string): Promise<IdentityInfo> {
  return await infoOf(ctx, await loadIdentityRecord(ctx, name));
}

/** `identity remove`: deletes the identity; exit 3 when there is none of that name. */
export async function removeIdentity(ctx: ServiceContext, name: string): Promise<void> {
  checkName("identity", name);
  await audited(ctx, "identity-remove", { identity: name }, async () => {
    await ctx.vault.update(async (tx) => {
      if (await tx.get(identityKey(name)) === undefined) throw await notFound(tx, name);
      tx.delete(identityKey(name));
    });
  });
}

/**
 * The policy of an identity that may act now: exit 3 when it does not exist, exit 4 when it has
 * expired.
 */
export async function activePolicy(ctx: ServiceContext, name: string): Promise<IdentityPolicy> {
  const record = await loadIdentityRecord(ctx, name);
  const policy = policyOf(record);
  if (isExpired(policy, ctx.now())) {
    throw new AuthsomeError(
      "NOT_ALLOWED",
      `The identity "${name}" expired at ${record.expires_at}`,
      {
        hint:
          `Create it again: authsome identity remove ${name}; authsome identity create ${name} …`,
      },
    );
  }
  return policy;
}

/** The policy part of a stored identity. */
export function policyOf(record: IdentityRecord): IdentityPolicy {
  return {
    name: record.name,
    expiresAt: record.expires_at,
    grants: record.grants.map((g) => ({
      provider: g.provider,
      connection: g.connection,
      readOnly: g.read_only,
      paths: g.paths,
    })),
  };
}

async function loadIdentityRecord(ctx: ServiceContext, name: string): Promise<IdentityRecord> {
  checkName("identity", name);
  const record = await ctx.vault.get<IdentityRecord>(identityKey(name));
  if (record === undefined) throw await notFound(ctx.vault, name);
  return record;
}

/** `No identity "agnt"`, with the nearest identity's name when one is close. */
async function notFound(reader: VaultReader, name: string): Promise<AuthsomeError> {
  const names = (await reader.keys(identityKey(""))).map((k) => k.slice(identityKey("").length));
  return new AuthsomeError("IDENTITY_NOT_FOUND", `No identity "${name}"`, {
    hint: `${didYouMean(name, names)}Run: authsome identity list`,
  });
}

/** What `identity show` prints: the policy and the public key's fingerprint, never the key. */
async function infoOf(ctx: ServiceContext, record: IdentityRecord): Promise<IdentityInfo> {
  const publicKey = new TextEncoder().encode(record.key.public_jwk.x ?? "");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey));
  return {
    name: record.name,
    created_at: record.created_at,
    expires_at: record.expires_at,
    expired: isExpired(policyOf(record), ctx.now()),
    allow: record.grants.map((g) => ({
      provider: g.provider,
      connection: g.connection,
      read_only: g.read_only,
      paths: [...g.paths],
    })),
    public_key: `ed25519:${record.key.public_jwk.x}`,
    key_fingerprint: `SHA256:${toBase64(digest).replace(/=+$/, "")}`,
  };
}

/**
 * For a service acting as an identity (`ctx.identity`): the connection of `provider` it may use —
 * the policy's, else the one asked for — or `NOT_ALLOWED` (exit 4). `credential`: the caller
 * wants a secret handed out, which a grant with read-only or path limits never allows (only the
 * proxy can hold a request to them). Without an identity, `connection` is returned unchanged.
 *
 * @example
 * ```ts ignore
 * const connection = await allowedConnection(ctx, "github", undefined, "credential");
 * ```
 */
export async function allowedConnection(
  ctx: ServiceContext,
  provider: string,
  connection: string | undefined,
  purpose: "credential" | "metadata",
): Promise<string | undefined> {
  if (ctx.identity === undefined) return connection;
  const policy = await activePolicy(ctx, ctx.identity);
  const who = `The identity "${policy.name}"`;
  const grant = grantFor(policy, provider);
  if (grant === undefined) {
    throw new AuthsomeError("NOT_ALLOWED", `${who} may not use ${provider}`, {
      hint: `Its policy: authsome identity show ${policy.name}`,
    });
  }
  if (grant.connection !== null && connection !== undefined && connection !== grant.connection) {
    throw new AuthsomeError(
      "NOT_ALLOWED",
      `${who} may use only the ${provider} connection "${grant.connection}"`,
      { hint: `Its policy: authsome identity show ${policy.name}` },
    );
  }
  if (purpose === "credential" && (grant.readOnly || grant.paths.length > 0)) {
    throw new AuthsomeError(
      "NOT_ALLOWED",
      `${who} may use ${provider} only through 'authsome run', which enforces its limits`,
      { hint: `Run the agent with: authsome run --as ${policy.name} -- COMMAND` },
    );
  }
  return grant.connection ?? connection;
}

/** Refuses a change to the vault (login, logout, providers, identities) by an identity. */
export function refuseChangeAsIdentity(ctx: ServiceContext): void {
  if (ctx.identity === undefined) return;
  throw new AuthsomeError("NOT_ALLOWED", `The identity "${ctx.identity}" cannot change the vault`, {
    hint: "Do this without an identity",
  });
}
