/**
 * `scan`: the API keys a user already has in dotenv files and the environment, compared with
 * what authsome holds, and their import. Values are compared here and never leave this module
 * except into the vault: a finding carries at most a short fingerprint of each side.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import type { ProviderDefinition } from "../providers/schema.ts";
import { runtime } from "../runtime/runtime.ts";
import { toHex } from "../runtime/bytes.ts";
import { listConnections } from "./connections.ts";
import { audited, connKey, type ServiceContext } from "./context.ts";
import { DOTENV_FILES, parseDotenv } from "./dotenv.ts";
import { refuseChangeAsIdentity } from "./identities.ts";
import { login } from "./login.ts";
import type { ConnectionRecord } from "./types.ts";

/** How a provider's key in the files or environment compares with the vault. */
export type ScanStatus = "matches" | "differs" | "only-environment" | "only-authsome" | "neither";

/** One API-key provider's result. */
export interface ScanFinding {
  /** Provider name, e.g. `openai`. */
  provider: string;
  /** The variable looked up, e.g. `OPENAI_API_KEY`. */
  variable: string;
  /** How the found value compares with the stored connections. */
  status: ScanStatus;
  /** Where the value was found: `.env.local:3`, or `environment`; null when nowhere. */
  source: string | null;
  /** The provider's stored connections. */
  connections: string[];
  /** The connection holding the same value (status `matches`). */
  matched: string | null;
  /** Status `differs`: a short fingerprint of the found value and of each stored one. */
  fingerprints: { found: string; stored: Record<string, string> } | null;
}

/** What `scan` found in a folder and the environment. */
export interface ScanReport {
  /** The folder whose dotenv files were read. */
  dir: string;
  /** The dotenv files found there, in the order read (a later one overrides). */
  files: string[];
  /** Lines that could not be read, e.g. `{ file: ".env", line: 4, reason: "…" }`. */
  problems: Array<{ file: string; line: number; reason: string }>;
  /** One entry per API-key provider, sorted by provider. */
  findings: ScanFinding[];
}

/** What `scan --import` did with one provider. */
export interface ScanImport {
  /** Provider name. */
  provider: string;
  /** The connection it was (or would have been) stored as. */
  connection: string;
  /** `.env:3` or `environment`. */
  source: string;
  /** `imported`, `refused` (the login checks said no) or `skipped` (the connection exists). */
  outcome: "imported" | "refused" | "skipped";
  /** Why it was refused or skipped (never the value). */
  reason: string | null;
}

interface Found {
  variable: string;
  value: string;
  source: string;
}

/**
 * Compares every API-key provider's variable in `dir`'s dotenv files (then the environment,
 * which wins) with the stored connections. Audited as one `scan` entry.
 *
 * @example
 * ```ts ignore
 * const report = await scanCredentials(ctx, { dir: "." });
 * report.findings.filter((f) => f.status === "only-environment");
 * ```
 */
export async function scanCredentials(
  ctx: ServiceContext,
  options: { dir: string },
): Promise<ScanReport> {
  refuseChangeAsIdentity(ctx);
  return await audited(ctx, "scan", { detail: { dir: options.dir } }, async () => {
    const { report } = await collect(ctx, options.dir);
    return report;
  });
}

/**
 * Imports what {@linkcode scanCredentials} finds only in the environment, or different from the
 * vault, through the normal login checks (the placeholder of `run` and the provider's key
 * pattern are refused). The target is `connection`, else `default` for a provider without
 * connections, else `imported`; an existing target is skipped. Each import is audited with its
 * source (file and line), never the value.
 */
export async function importScanned(
  ctx: ServiceContext,
  options: { dir: string; connection?: string | undefined },
): Promise<ScanImport[]> {
  refuseChangeAsIdentity(ctx);
  const { report, found } = await collect(ctx, options.dir);
  const out: ScanImport[] = [];
  for (const finding of report.findings) {
    if (finding.status !== "only-environment" && finding.status !== "differs") continue;
    const value = found.get(finding.provider)!;
    const connection = options.connection ??
      (finding.connections.length === 0 ? "default" : "imported");
    const base = { provider: finding.provider, connection, source: value.source };
    if (finding.connections.includes(connection)) {
      out.push({
        ...base,
        outcome: "skipped",
        reason: `the connection "${connection}" exists; choose another with --connection`,
      });
      continue;
    }
    try {
      await audited(
        ctx,
        "import",
        { provider: finding.provider, connection, detail: { source: value.source } },
        () =>
          login(ctx, finding.provider, {
            connection,
            explicitInput: true,
            readFields: () => Promise.resolve({ api_key: value.value }),
          }),
      );
      out.push({ ...base, outcome: "imported", reason: null });
    } catch (error) {
      if (!(error instanceof AuthsomeError)) throw error;
      out.push({ ...base, outcome: "refused", reason: error.message });
    }
  }
  return out;
}

async function collect(
  ctx: ServiceContext,
  dir: string,
): Promise<{ report: ScanReport; found: Map<string, Found> }> {
  const files: string[] = [];
  const problems: ScanReport["problems"] = [];
  const fromFiles = new Map<string, { value: string; source: string }>();
  for (const name of DOTENV_FILES) {
    let text: string;
    try {
      text = await runtime.readTextFile(joinPath(dir, name));
    } catch (error) {
      if (runtime.failure(error) === "not-found") continue;
      throw new AuthsomeError("INVALID_INPUT", `Cannot read ${joinPath(dir, name)}`, {
        cause: error,
        hint: "Check the file's permissions",
      });
    }
    files.push(name);
    const parsed = parseDotenv(text);
    for (const p of parsed.problems) problems.push({ file: name, ...p });
    for (const [variable, entry] of parsed.entries) {
      fromFiles.set(variable, { value: entry.value, source: `${name}:${entry.line}` });
    }
  }
  const { providers } = await ctx.registry.list();
  const findings: ScanFinding[] = [];
  const found = new Map<string, Found>();
  for (const { definition } of providers) {
    if (definition.auth_type !== "api_key") continue;
    const variables = variablesOf(definition);
    let hit: Found | undefined;
    for (const variable of variables) {
      const fromEnv = ctx.env.get(variable);
      if (fromEnv !== undefined && fromEnv !== "") {
        hit = { variable, value: fromEnv, source: "environment" };
        break;
      }
      const inFile = fromFiles.get(variable);
      if (inFile !== undefined && inFile.value !== "") {
        hit = { variable, ...inFile };
        break;
      }
    }
    const stored = await storedKeys(ctx, definition.name);
    findings.push(await compare(definition.name, variables[0]!, hit, stored));
    if (hit !== undefined) found.set(definition.name, hit);
  }
  return { report: { dir, files, problems, findings }, found };
}

/** The variables a provider's key is known by: `api_key.env_var`, then its export names. */
function variablesOf(def: ProviderDefinition): string[] {
  const names = [def.api_key?.env_var, ...(def.export.env.api_key ?? [])]
    .filter((n): n is string => n !== undefined);
  return names.length > 0 ? [...new Set(names)] : [`${def.name.toUpperCase()}_API_KEY`];
}

async function storedKeys(ctx: ServiceContext, provider: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const info of await listConnections(ctx, provider)) {
    const record = await ctx.vault.get<ConnectionRecord>(connKey(provider, info.connection));
    const key = record?.secrets.api_key;
    if (key !== undefined) out.set(info.connection, key);
  }
  return out;
}

async function compare(
  provider: string,
  defaultVariable: string,
  hit: Found | undefined,
  stored: Map<string, string>,
): Promise<ScanFinding> {
  const connections = [...stored.keys()];
  const base = {
    provider,
    variable: hit?.variable ?? defaultVariable,
    source: hit?.source ?? null,
    connections,
    matched: null,
    fingerprints: null,
  };
  if (hit === undefined) {
    return { ...base, status: connections.length === 0 ? "neither" : "only-authsome" };
  }
  if (connections.length === 0) return { ...base, status: "only-environment" };
  const matched = connections.find((c) => stored.get(c) === hit.value);
  if (matched !== undefined) return { ...base, status: "matches", matched };
  const storedPrints: Record<string, string> = {};
  for (const [c, v] of stored) storedPrints[c] = await fingerprint(v);
  return {
    ...base,
    status: "differs",
    fingerprints: { found: await fingerprint(hit.value), stored: storedPrints },
  };
}

/**
 * A short, one-way fingerprint of a key, enough to tell two keys apart by eye.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fingerprint } from "./scan.ts";
 * assert.match(await fingerprint("sk-secret"), /^sha256:[0-9a-f]{8}$/);
 * ```
 */
export async function fingerprint(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return `sha256:${toHex(new Uint8Array(digest)).slice(0, 8)}`;
}
