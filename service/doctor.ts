/**
 * `whoami` and `doctor`: what authsome uses and whether it is healthy.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { runtime } from "../runtime/runtime.ts";
import { listHomeVaults } from "../storage/home.ts";
import { readTextIfExists } from "../storage/files.ts";
import { storeStatus } from "../storage/store_copy.ts";
import { describeKeySource, KEY_FILE } from "../storage/master_key.ts";
import type { ServiceContext } from "./context.ts";
import type { DoctorCheck } from "./types.ts";

/** `whoami`: home, vault, store, key source and counts (opens nothing sealed). */
export async function whoami(ctx: ServiceContext): Promise<Record<string, unknown>> {
  const { settings, keyOptions, vault, store } = ctx;
  const key = describeKeySource(keyOptions);
  const connections = await vault.keys("connection/");
  return {
    home: settings.home,
    vault: settings.vault,
    vaults: await listHomeVaults(settings.home, store),
    store: store.kind,
    store_location: store.location,
    key_source: key.source,
    key_detail: key.detail,
    vault_exists: await vault.exists(),
    connections: connections.length,
    providers_connected: new Set(connections.map((k) => k.split("/")[1])).size,
  };
}

/**
 * `doctor`: the home's mode, the master key, every record of the vault (all must open), the
 * provider files and the file modes under the home; and, as a report that never fails, whether
 * `run` can hide the home from its command.
 *
 * @example
 * ```ts ignore
 * const failed = (await doctor(ctx)).filter((check) => !check.ok);
 * if (failed.length > 0) Deno.exitCode = 1; // `authsome doctor` exits 1
 * ```
 */
export async function doctor(ctx: ServiceContext): Promise<DoctorCheck[]> {
  const { settings, keyOptions, vault, registry } = ctx;
  const checks: DoctorCheck[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await fn() });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      checks.push({ name, ok: false, detail: message });
    }
  };
  await check("home", async () => {
    let mode: number | null;
    try {
      mode = (await runtime.stat(settings.home)).mode;
    } catch (error) {
      if (runtime.failure(error) === "not-found") {
        return `${settings.home} (created on first login)`;
      }
      throw error;
    }
    if (mode !== null && (mode & 0o077) !== 0) {
      throw new Error(
        `${settings.home} is mode ${(mode & 0o777).toString(8)}; run: chmod 700 ${settings.home}`,
      );
    }
    return `${settings.home} (0700)`;
  });
  await check("store", async () => {
    const s = await storeStatus(ctx.store);
    return `${s.kind} ${s.location} (${s.vaults.length} vault(s), answered in ${s.elapsed_ms} ms)`;
  });
  await check("master key", async () => {
    const described = describeKeySource(keyOptions);
    if (
      described.source === "file" &&
      await readTextIfExists(joinPath(settings.home, KEY_FILE)) === undefined
    ) {
      return `${described.detail} (created on first login)`;
    }
    await ctx.masterKey(false); // settles a rekey a killed process left, first
    return described.detail;
  });
  await check(`vault "${settings.vault}"`, async () => {
    if (!await vault.exists()) return "empty (created on first login)";
    const keys = await vault.keys();
    for (const key of keys) await vault.get(key);
    return `${keys.length} record(s), all open`;
  });
  await check("providers", async () => {
    const { providers, problems } = await registry.list();
    if (problems.length > 0) throw new Error(problems.join("; "));
    return `${providers.length} valid`;
  });
  await check("file modes", async () => {
    const loose: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await runtime.readDir(dir)) {
        const path = joinPath(dir, e.name);
        const mode = (await runtime.lstat(path)).mode;
        if (mode === null) continue;
        if (e.isDirectory) {
          if ((mode & 0o077) !== 0) loose.push(`${path} (${(mode & 0o777).toString(8)})`);
          await walk(path);
        } else if ((mode & 0o077) !== 0) loose.push(`${path} (${(mode & 0o777).toString(8)})`);
      }
    };
    try {
      await walk(settings.home);
    } catch (error) {
      if (runtime.failure(error) !== "not-found") throw error;
    }
    if (loose.length > 0) throw new Error(`readable by others: ${loose.join(", ")}`);
    return "every file 0600, every folder 0700";
  });
  // A report, not a failure: many systems (macOS, containers without user namespaces) cannot
  // hide the home, and authsome still works there.
  await check("run isolation", async () => {
    if (runtime.name !== "deno") {
      return `not checked: 'authsome run' needs Deno (this is ${runtime.name})`;
    }
    const { probeIsolation } = await import("../proxy/isolation.ts");
    let probeHome = settings.home;
    try {
      await runtime.stat(probeHome);
    } catch {
      probeHome = "/tmp"; // the home does not exist yet: try the mechanism on another folder
    }
    const isolation = await probeIsolation(probeHome, "/");
    return isolation.kind === "hidden"
      ? "commands under 'authsome run' cannot see the home (private mount namespace)"
      : `commands under 'authsome run' can read the home: ${isolation.reason}`;
  });
  return checks;
}
