/**
 * `run`: the child's environment (placeholders, proxy and CA variables, or the real values with
 * `--env`) and the proxy session that injects the chosen connections' headers. The proxy, the
 * certificate code and `node:tls` are loaded only here.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { randomToken } from "../providers/page_style.ts";
import type { ProviderDefinition } from "../providers/schema.ts";
import type { CertificateAuthority, LeafCertificate, LeafIssuer } from "../proxy/certs.ts";
import type { InterceptedRequest, ProxyEvent, ProxyRefusal } from "../proxy/server.ts";
import type { Route, RouteSource } from "../proxy/routing.ts";
import { openAuditBatch } from "../storage/audit.ts";
import { readTextIfExists, writeFileAtomic } from "../storage/files.ts";
import { checkRequest, grantFor, type IdentityPolicy } from "../proxy/policy.ts";
import { resolveConnection } from "./connections.ts";
import { activePolicy } from "./identities.ts";
import { audited, connKey, type ServiceContext } from "./context.ts";
import { proxiedRequest, requestAuditEntry } from "./run_requests.ts";
import {
  exportVars,
  fresh,
  getAuthHeaders,
  plainExportValue,
  REFRESH_WINDOW_MS,
} from "./tokens.ts";
import type { ConnectionRecord, RunOptions } from "./types.ts";

/**
 * `run`: starts `command` behind the injecting proxy (default) or with the real variables
 * (`env: true`) and resolves with its exit status (126/127 when it cannot start, 128+N when
 * killed by signal N).
 *
 * @example
 * ```ts ignore
 * const status = await run(ctx, ["curl", "https://api.openai.com/v1/models"]);
 * ```
 */
export async function run(
  ctx: ServiceContext,
  command: string[],
  opts: RunOptions = {},
): Promise<number> {
  if (command.length === 0) {
    throw new AuthsomeError("USAGE", "No command to run", {
      hint: "Example: authsome run -- python agent.py",
    });
  }
  const { spawnChild } = await import("../proxy/runner.ts");
  const parent = opts.parentEnv ?? Deno.env.toObject();
  const { providers } = await ctx.registry.list();
  const defs = new Map(providers.map((p) => [p.definition.name, p.definition]));
  const withConnections = new Set(
    (await ctx.vault.keys("connection/")).map((k) => k.split("/")[1]!),
  );
  // The variables of every provider authsome holds a connection for are removed from the
  // child's environment (and become placeholders); other variables are the user's own.
  const credentialVars = new Set<string>();
  // The shared store's URL may hold its password, and PGPASSWORD is then the store's.
  credentialVars.add("AUTHSOME_STORE");
  if (ctx.settings.store !== undefined) credentialVars.add("PGPASSWORD");
  for (const def of defs.values()) {
    if (!withConnections.has(def.name)) continue;
    for (const names of Object.values(def.export.env)) {
      names.forEach((n) => credentialVars.add(n));
    }
    if (def.api_key?.env_var) credentialVars.add(def.api_key.env_var);
    if (def.oauth?.client?.client_id_env) credentialVars.add(def.oauth.client.client_id_env);
    if (def.oauth?.client?.client_secret_env) {
      credentialVars.add(def.oauth.client.client_secret_env);
    }
  }
  // An identity's policy limits what is routed (and, in the proxy, what each request may do).
  const policy = opts.as === undefined ? undefined : await activePolicy(ctx, opts.as);
  if (policy !== undefined && opts.env) {
    throw new AuthsomeError("NOT_ALLOWED", "run --env cannot be limited to an identity's policy", {
      hint: `Use the proxy: authsome run --as ${policy.name} -- COMMAND`,
    });
  }
  // The connection of each provider: the default, or the one asked for.
  const chosen: Array<{ def: ProviderDefinition; record: ConnectionRecord }> = [];
  for (const provider of opts.connections ? Object.keys(opts.connections) : []) {
    if (!defs.has(provider)) await ctx.registry.get(provider); // a clear "unknown provider" error
    if (policy !== undefined) {
      const granted = grantFor(policy, provider);
      const asked = opts.connections![provider];
      if (granted === undefined || (granted.connection ?? asked) !== asked) {
        throw new AuthsomeError(
          "NOT_ALLOWED",
          `The identity "${policy.name}" may not use the ${provider} connection "${asked}"`,
          { hint: `Its policy: authsome identity show ${policy.name}` },
        );
      }
    }
  }
  const routed = new Set<string>();
  for (const provider of withConnections) {
    const def = defs.get(provider);
    if (def === undefined) continue;
    const grant = policy === undefined ? undefined : grantFor(policy, provider);
    if (policy !== undefined && grant === undefined) continue; // tunnelled, never injected
    const wanted = grant?.connection ?? opts.connections?.[provider];
    const { record } = await resolveConnection(ctx.vault, provider, wanted).catch((error) => {
      if (wanted === undefined && error instanceof AuthsomeError) return { record: undefined };
      throw error;
    }) as { record: ConnectionRecord | undefined };
    if (record !== undefined) {
      chosen.push({ def, record });
      routed.add(provider);
    }
  }
  for (const [provider, name] of Object.entries(opts.connections ?? {})) {
    if (!withConnections.has(provider)) await resolveConnection(ctx.vault, provider, name);
  }
  const program = command[0]!.split("/").pop()!;
  const mode = opts.env ? "env" : "proxy";
  return await audited(
    ctx,
    "run",
    {
      ...(policy !== undefined ? { identity: policy.name } : {}),
      detail: { program, mode, connections: chosen.length },
    },
    async () => {
      const spawn = async (env: Record<string, string>, prefix: string[] = []) => {
        const result = await spawnChild(command, env, prefix);
        if (typeof result === "number") return result;
        throw result.code === 127
          ? new AuthsomeError("COMMAND_NOT_FOUND", `Command not found: ${result.program}`, {
            hint: "Check the command name and PATH",
          })
          : new AuthsomeError("COMMAND_NOT_EXECUTABLE", `Cannot execute: ${result.program}`, {
            hint: "Check that it is a program and has execute permission",
          });
      };
      if (opts.env) {
        const { realEnv } = await import("../proxy/child_env.ts");
        const values: Record<string, string> = {};
        for (const { def, record } of chosen) {
          for (const [k, v] of exportVars(ctx, def, await fresh(ctx, def, record))) values[k] = v;
        }
        const env = realEnv({ parent, credentialVars: [...credentialVars], values });
        return await spawn(env);
      }
      // One audit entry per proxied request, written in batches (at least once a second, and
      // when the proxy stops), never one write per request.
      const batch = openAuditBatch(ctx.settings.home);
      const onEvent = (event: ProxyEvent) => {
        const request = proxiedRequest(event);
        batch.add(requestAuditEntry(request, {
          time: ctx.now().toISOString(),
          vault: ctx.settings.vault,
          program,
          identity: policy?.name ?? ctx.identity,
        }));
        opts.onRequest?.(request);
      };
      const session = await startRunProxy(ctx, chosen, policy, opts.onWarning, onEvent).catch(
        async (error) => {
          await batch.close();
          if (error instanceof AuthsomeError && error.code !== "UNEXPECTED") throw error;
          throw new AuthsomeError(
            "PROXY_FAILED",
            `The proxy could not start: ${
              error instanceof Error ? error.message.split("\n")[0] : String(error)
            }`,
            { cause: error, hint: "Run 'authsome doctor', or use 'authsome run --env'" },
          );
        },
      );
      try {
        const { childEnv } = await import("../proxy/child_env.ts");
        // Secret fields become placeholders; a base or API URL is passed as it is.
        const placeholders = new Set<string>();
        for (const provider of policy === undefined ? withConnections : routed) {
          for (const [field, names] of Object.entries(defs.get(provider)?.export.env ?? {})) {
            if (field === "api_key" || field === "access_token") {
              names.forEach((n) => placeholders.add(n));
            }
          }
        }
        const values: Record<string, string> = {};
        for (const { def, record } of chosen) {
          for (const [field, names] of Object.entries(def.export.env)) {
            if (field !== "base_url" && field !== "api_url") continue;
            const value = plainExportValue(def, record, field);
            if (value !== undefined) names.forEach((n) => values[n] = value);
          }
        }
        const env = childEnv({
          parent,
          proxyUrl: session.proxyUrl,
          caBundlePath: session.caBundlePath,
          caCertPath: session.caCertPath,
          placeholders: [...placeholders],
          values,
          credentialVars: [...credentialVars],
        });
        let prefix: string[] = [];
        if (opts.isolate !== false) {
          const { probeIsolation } = await import("../proxy/isolation.ts");
          const isolation = await probeIsolation(ctx.settings.home, Deno.cwd());
          if (isolation.kind === "hidden") prefix = isolation.prefix;
          else {
            opts.onWarning?.(
              `the command can read the authsome home ${ctx.settings.home} (${isolation.reason})`,
            );
          }
        }
        return await spawn(env, prefix);
      } finally {
        await session.close();
        await batch.close();
      }
    },
  );
}

/**
 * Starts the injecting proxy for `run`: the CA from the vault (created once), its files under
 * `<home>/proxy/`, the routes of the chosen connections, and headers from getAuthHeaders (cached
 * until the token is due for refresh).
 */
async function startRunProxy(
  ctx: ServiceContext,
  chosen: Array<{ def: ProviderDefinition; record: ConnectionRecord }>,
  policy: IdentityPolicy | undefined,
  onWarning: ((message: string) => void) | undefined,
  onEvent: (event: ProxyEvent) => void,
) {
  const [
    { buildRoutes, hostIsRouted, routeRequest },
    { Injection, startProxy, ProxyRefusal },
    tls,
  ] = await Promise.all([
    import("../proxy/routing.ts"),
    import("../proxy/server.ts"),
    import("node:tls"),
  ]);
  // The CA is created once and kept sealed in the vault, with the leaf certificates it issued,
  // so a run starts without generating keys (or loading the certificate library) after the first.
  let ca = await ctx.vault.get<CertificateAuthority>("proxy/ca");
  if (ca === undefined) {
    const { createCa } = await import("../proxy/certs.ts");
    const created = await createCa();
    ca = await ctx.vault.update(async (tx) => {
      const stored = await tx.get<CertificateAuthority>("proxy/ca");
      if (stored !== undefined) return stored;
      tx.set("proxy/ca", created);
      return created;
    });
  }
  const authority = ca;
  let issuer: LeafIssuer | undefined;
  // Kept in memory too: every CONNECT asks, and reading the sealed record each time cost a store
  // read and a decryption on the way to a new connection's first byte.
  const issued = new Map<string, LeafCertificate & { renew_after: number }>();
  const leaves: LeafIssuer = {
    async issue(host) {
      const key = `proxy/leaf/${host.toLowerCase()}`;
      const known = issued.get(key);
      if (known !== undefined && known.renew_after > ctx.now().getTime()) return known;
      const stored = await ctx.vault.get<LeafCertificate & { renew_after: number }>(key);
      if (stored !== undefined && stored.renew_after > ctx.now().getTime()) {
        issued.set(key, stored);
        return stored;
      }
      issuer ??= (await import("../proxy/certs.ts")).createLeafIssuer(authority);
      const leaf = await issuer.issue(host);
      // Leaves live 30 days; renew after 25.
      const renew_after = ctx.now().getTime() + 25 * 86_400_000;
      await ctx.vault.update((tx) => tx.set(key, { ...leaf, renew_after }));
      issued.set(key, { ...leaf, renew_after });
      return leaf;
    },
  };
  // The child's CA files live in a private folder of this run, outside the home (which the
  // child may not see), so runs of different vaults never overwrite each other's.
  const caDir = await Deno.makeTempDir({ prefix: "authsome-run-" }).catch((error) => {
    throw new AuthsomeError("PROXY_FAILED", "The proxy could not start: no temporary folder", {
      cause: error,
      hint: "Check TMPDIR, or use 'authsome run --env'",
    });
  });
  const removeCaDir = () => Deno.remove(caDir, { recursive: true }).catch(() => {});
  const { caCertPath, caBundlePath } = await writeCaFiles(
    caDir,
    authority.certPem,
    tls.rootCertificates,
  ).catch(async (error) => {
    await removeCaDir();
    throw error;
  });

  const oauth = chosen.some((c) => c.def.auth_type === "oauth2")
    ? await import("../providers/oauth_login.ts")
    : undefined;
  const routeSource = (def: ProviderDefinition, record: ConnectionRecord): RouteSource => {
    const endpoints = oauth && def.oauth
      ? oauth.endpointsFor(def, record.base_url ?? undefined)
      : undefined;
    return {
      provider: def.name,
      connection: record.connection,
      api_url: record.api_url,
      authEndpoints: endpoints
        // The resource indicator (RFC 8707) names the API itself, not an auth endpoint.
        ? Object.entries(endpoints).filter(([k, v]) => k !== "resource" && typeof v === "string")
          .map(([, v]) => v as string)
        : [],
    };
  };
  const { routes, warnings } = buildRoutes(
    chosen.map(({ def, record }) => routeSource(def, record)),
  );
  for (const w of warnings) onWarning?.(w);
  const defs = new Map(chosen.map(({ def }) => [def.name, def]));
  // The routes of each connection a request asked for by name, built once.
  const askedRoutes = new Map<string, Route[]>();
  const lookup: ConnectionLookup = {
    ctx,
    policy,
    refuse: (status, body) => new ProxyRefusal(status, body),
    routesOf: (provider, record) => {
      const key = `${provider}/${record.connection}`;
      let found = askedRoutes.get(key);
      if (found === undefined) {
        found = buildRoutes([routeSource(defs.get(provider)!, record)]).routes;
        askedRoutes.set(key, found);
      }
      return found;
    },
    routeRequest,
  };
  const cache = new Map<string, { headers: Record<string, string>; until: number }>();
  const secret = randomToken();
  // Upstream TLS is verified against the built-in roots plus, as Node does, the certificates in
  // NODE_EXTRA_CA_CERTS (e.g. a company's TLS-inspecting proxy).
  const extraCaFile = ctx.env.get("NODE_EXTRA_CA_CERTS");
  const extraCaText = extraCaFile ? await readTextIfExists(extraCaFile) : undefined;
  // One entry per certificate: the file may hold several (a company's chain), and only the first
  // PEM of an entry is used.
  const extraCa = extraCaText?.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g);
  const proxy = await startProxy({
    secret,
    ca: authority,
    leaves,
    ...(extraCa ? { upstreamCa: extraCa } : {}),
    shouldIntercept: (host) => hostIsRouted(routes, host),
    onEvent,
    headersFor: async (request) => {
      const decision = routeRequest(routes, request);
      if (decision.action !== "inject") return undefined;
      const { provider } = decision.route;
      const connection = request.connection === undefined
        ? decision.route.connection
        : await askedConnection(
          lookup,
          request,
          provider,
          request.connection,
          decision.route.connection,
        );
      if (policy !== undefined) {
        const verdict = checkRequest(policy, provider, request.method, request.path, ctx.now());
        if (!verdict.allowed) {
          throw new ProxyRefusal(403, {
            error: "authsome_policy",
            identity: policy.name,
            provider,
            rule: verdict.rule,
            message: verdict.message,
          });
        }
      }
      const key = `${provider}/${connection}`;
      const hit = cache.get(key);
      if (hit !== undefined && hit.until > ctx.now().getTime()) {
        return new Injection(hit.headers, provider, connection);
      }
      const headers = await getAuthHeaders(ctx, provider, connection);
      const record = await ctx.vault.get<ConnectionRecord>(connKey(provider, connection));
      const until = record?.expires_at == null
        ? Number.POSITIVE_INFINITY
        : Date.parse(record.expires_at) - REFRESH_WINDOW_MS;
      cache.set(key, { headers, until });
      return new Injection(headers, provider, connection);
    },
  }).catch(async (error) => {
    await removeCaDir();
    throw error;
  });
  return {
    proxyUrl: `http://authsome:${secret}@127.0.0.1:${proxy.port}`,
    caCertPath,
    caBundlePath,
    close: async () => {
      await proxy.close();
      await removeCaDir();
    },
  };
}

/** What {@linkcode askedConnection} needs of the run. */
interface ConnectionLookup {
  ctx: ServiceContext;
  policy: IdentityPolicy | undefined;
  /** Builds the refusal the proxy answers with (its class is loaded with the proxy). */
  refuse(status: number, body: Record<string, unknown>): ProxyRefusal;
  /** The routes of one connection's own api_url. */
  routesOf(provider: string, record: ConnectionRecord): Route[];
  routeRequest: typeof import("../proxy/routing.ts").routeRequest;
}

/**
 * The connection a request named with `X-Authsome-Connection`, for the provider its host and
 * path are routed to. Refused (never sent with another connection): with 403 when the identity
 * may use only another connection of the provider (the one its grant names, or for a grant of
 * the provider alone the default one, `routed`); with 400 when the provider has no connection
 * of that name (the body lists those it has), or when that connection's own api_url does not
 * cover the request (its credential belongs to another host).
 */
async function askedConnection(
  lookup: ConnectionLookup,
  request: InterceptedRequest,
  provider: string,
  name: string,
  routed: string,
): Promise<string> {
  const { ctx, policy, refuse } = lookup;
  const grant = policy === undefined ? undefined : grantFor(policy, provider);
  // A grant of the provider alone allows its default connection (the one routed), no other.
  const allowed = grant?.connection ?? routed;
  if (policy !== undefined && allowed !== name) {
    throw refuse(403, {
      error: "authsome_policy",
      identity: policy.name,
      provider,
      connection: name,
      rule: "connection",
      message: `identity "${policy.name}" may use only the ${provider} connection ` +
        `"${allowed}"`,
    });
  }
  const record = await ctx.vault.get<ConnectionRecord>(connKey(provider, name));
  if (record === undefined) {
    const available = (await ctx.vault.keys(`connection/${provider}/`))
      .map((key) => key.slice(`connection/${provider}/`.length));
    throw refuse(400, {
      error: "authsome_unknown_connection",
      provider,
      connection: name,
      available,
      message: `${provider} has no connection "${name}"; available: ${available.join(", ")}`,
    });
  }
  const decision = lookup.routeRequest(lookup.routesOf(provider, record), request);
  if (decision.action !== "inject") {
    throw refuse(400, {
      error: "authsome_connection_not_for_host",
      provider,
      connection: name,
      message: `the ${provider} connection "${name}" is not for ${request.host}${request.path}`,
    });
  }
  return name;
}

/**
 * Writes the CA certificate and the bundle (system roots + the CA) the child trusts; a failure
 * is the proxy failing to start (exit 125), with the reason.
 */
async function writeCaFiles(
  dir: string,
  certPem: string,
  roots: readonly string[],
): Promise<{ caCertPath: string; caBundlePath: string }> {
  const caCertPath = joinPath(dir, "ca.pem");
  const caBundlePath = joinPath(dir, "ca-bundle.pem");
  const bundle = [...roots, certPem].join("\n") + "\n";
  try {
    await writeFileAtomic(caCertPath, certPem);
    await writeFileAtomic(caBundlePath, bundle);
  } catch (error) {
    throw new AuthsomeError(
      "PROXY_FAILED",
      `The proxy could not start: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
        hint: "Check TMPDIR, or use 'authsome run --env'",
      },
    );
  }
  return { caCertPath, caBundlePath };
}
