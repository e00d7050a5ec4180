/**
 * What an `authsome mcp` session may use: without an identity, what `run` gives (every
 * connection, the provider's default unless `--connection P=C` named another); with `--as NAME`,
 * the identity's policy (its providers, the connection its grant names, else the provider's
 * default at the time of use). Each refusal is a {@linkcode ToolRefusal} naming the rule.
 *
 * @module
 */
import { checkName } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { grantFor, type IdentityPolicy } from "../proxy/policy.ts";
import { defaultOf } from "../service/connections.ts";
import type { ServiceContext } from "../service/context.ts";
import { activePolicy } from "../service/identities.ts";

/** Options of an MCP session, as `authsome mcp` takes them. */
export interface McpOptions {
  /** Act as this agent identity (its policy limits every tool). */
  as?: string | undefined;
  /** The connection to use per provider instead of its default (`--connection P=C`). */
  connections?: Record<string, string> | undefined;
}

/**
 * A tool call refused by a rule: the tool answers with an error result naming `rule`, and
 * nothing is sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ToolRefusal } from "./access.ts";
 * const refusal = new ToolRefusal("host", "evil.test is not a host of acme");
 * assert.equal(refusal.rule, "host");
 * ```
 */
export class ToolRefusal extends Error {
  /** The rule that refused the call, e.g. `host`, `https-only`, `read-only`. */
  readonly rule: string;
  /** @param rule the rule's name; @param message one sentence, never a secret */
  constructor(rule: string, message: string) {
    super(message);
    this.name = "ToolRefusal";
    this.rule = rule;
  }
}

/** What the audit entry of one tool call says, filled in as the call goes (names, never values). */
export interface CallFacts {
  provider?: string;
  connection?: string;
  method?: string;
  host?: string;
  status?: number;
  /** What `request_login` returned: `logged_in`, `already_logged_in` or `waiting`. */
  login?: string;
}

/** What a session may use, decided once at its start. */
export interface McpAccess {
  /** The identity's policy; undefined without `--as`. */
  readonly policy: IdentityPolicy | undefined;
  /** The connections named with `--connection P=C`. */
  readonly chosen: Readonly<Record<string, string>>;
}

/**
 * Builds the session's access: the identity's active policy (exit 3 when it does not exist, 4
 * when it expired) and the `--connection` choices, refused (exit 4) when the identity may not
 * use them, as `run --as` refuses them.
 *
 * @example
 * ```ts ignore
 * const access = await openAccess(ctx, { as: "agent" });
 * ```
 */
export async function openAccess(ctx: ServiceContext, opts: McpOptions): Promise<McpAccess> {
  const policy = opts.as === undefined ? undefined : await activePolicy(ctx, opts.as);
  const chosen = { ...opts.connections };
  for (const [provider, connection] of Object.entries(chosen)) {
    checkName("provider", provider);
    checkName("connection", connection);
    await ctx.registry.get(provider); // an unknown provider: exit 4 with its hint
    if (policy === undefined) continue;
    const grant = grantFor(policy, provider);
    if (grant === undefined || (grant.connection ?? connection) !== connection) {
      throw new AuthsomeError(
        "NOT_ALLOWED",
        `The identity "${policy.name}" may not use the ${provider} connection "${connection}"`,
        { hint: `Its policy: authsome identity show ${policy.name}` },
      );
    }
  }
  return { policy, chosen };
}

/**
 * The connection a tool call of `provider` uses: the one asked for, else the `--connection`
 * choice, else the provider's default. With an identity: refused (rule `provider`) when it may
 * not use the provider, (rule `connection`) when it asks for another connection than its grant
 * names or, for a grant of the provider alone, than the default; refused (rule `expired`) once
 * the identity has expired. Returns undefined when no connection is named and there is no
 * default.
 *
 * @example
 * ```ts ignore
 * const connection = await connectionFor(ctx, access, "github", undefined);
 * ```
 */
export async function connectionFor(
  ctx: ServiceContext,
  access: McpAccess,
  provider: string,
  asked: string | undefined,
): Promise<string | undefined> {
  const { policy } = access;
  if (policy === undefined) {
    return asked ?? access.chosen[provider] ?? await defaultOf(ctx.vault, provider) ?? undefined;
  }
  checkPolicyAlive(ctx, policy);
  const grant = grantFor(policy, provider);
  if (grant === undefined) {
    throw new ToolRefusal("provider", `identity "${policy.name}" may not use ${provider}`);
  }
  const allowed = grant.connection ?? access.chosen[provider] ??
    await defaultOf(ctx.vault, provider) ?? undefined;
  if (asked !== undefined && allowed !== undefined && asked !== allowed) {
    throw new ToolRefusal(
      "connection",
      `identity "${policy.name}" may use only the ${provider} connection "${allowed}"`,
    );
  }
  return asked ?? allowed;
}

/**
 * Refuses (rule `expired`) every call of an identity whose policy expired during the session.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPolicyAlive } from "./access.ts";
 * const ctx = { now: () => new Date("2030-01-02T00:00:00Z") };
 * const policy = { name: "a", expiresAt: "2030-01-01T00:00:00.000Z", grants: [] };
 * assert.throws(() => checkPolicyAlive(ctx, policy), /expired/);
 * ```
 */
export function checkPolicyAlive(
  ctx: Pick<ServiceContext, "now">,
  policy: IdentityPolicy,
): void {
  if (policy.expiresAt !== null && Date.parse(policy.expiresAt) <= ctx.now().getTime()) {
    throw new ToolRefusal("expired", `identity "${policy.name}" expired at ${policy.expiresAt}`);
  }
}
