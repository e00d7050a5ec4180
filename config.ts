/**
 * Settings that come from the environment: the home folder, the vault name and the key sources.
 * The one place that reads environment variables; everything else receives the result.
 *
 * @module
 */
import { AuthsomeError } from "./errors.ts";
import { fromBase64 } from "./runtime/bytes.ts";

/** A read-only view of environment variables; `Deno.env` fits, and so does a plain map in tests. */
export interface EnvSource {
  /** The value of `name`, or undefined when unset. */
  get(name: string): string | undefined;
}

/** Creates an {@linkcode EnvSource} from a plain object. */
export function envFromRecord(record: Record<string, string | undefined>): EnvSource {
  return { get: (name) => record[name] };
}

/** Resolved settings. */
export interface Settings {
  /** The authsome home folder (`AUTHSOME_HOME`, default `~/.authsome`). */
  home: string;
  /** The vault in use (`--vault`, `AUTHSOME_VAULT`, default `default`). */
  vault: string;
  /** Base64 of a 32-byte master key from `AUTHSOME_MASTER_KEY`, when set. */
  masterKey: string | undefined;
  /** A passphrase from `AUTHSOME_PASSPHRASE`, when set. */
  passphrase: string | undefined;
  /**
   * `AUTHSOME_LOCK_TIMEOUT` in milliseconds, when set: how long a process waits for another's
   * write or refresh before giving up (default 15 s for writes, 60 s for refreshes).
   */
  lockTimeoutMs?: number | undefined;
  /**
   * The shared store's `postgres://` URL (`--store`, `AUTHSOME_STORE`), or undefined for the
   * embedded store in the home folder. May hold a password: never show it (see `redactUrl`).
   */
  store: string | undefined;
}

/** Environment variables authsome reads, with what each does (shown by the README and `--help`). */
export const ENV_VARS: Readonly<Record<string, string>> = {
  AUTHSOME_HOME: "Home folder (default ~/.authsome)",
  AUTHSOME_VAULT: "Vault to use when --vault is not given (default: default)",
  AUTHSOME_MASTER_KEY: "Base64 of a 32-byte master key; wins over every other key source",
  AUTHSOME_PASSPHRASE: "Passphrase the master key is derived from (PBKDF2-SHA-256)",
  AUTHSOME_BACKUP_PASSPHRASE: "Passphrase of 'backup --passphrase' and 'restore --passphrase'",
  AUTHSOME_NEW_PASSPHRASE: "The new passphrase of 'rekey --to passphrase' (else typed twice)",
  AUTHSOME_NEW_MASTER_KEY: "The new base64 32-byte key of 'rekey --to env'",
  AUTHSOME_LOCK_TIMEOUT:
    "Seconds to wait for another authsome process's write (default 15) or refresh (60)",
  AUTHSOME_PYTHON_MASTER_KEY:
    "import python: base64 key of the Python authsome's store, when it has no master.key",
  AUTHSOME_STORE: "postgres:// URL of a shared PostgreSQL store (unset: the embedded store)",
  NO_COLOR: "Turns off colour when not empty, like --no-color",
  FORCE_COLOR: "Colour even when stderr is not a terminal (not when 0; NO_COLOR wins)",
  CLICOLOR_FORCE: "The same as FORCE_COLOR",
};

/**
 * What a provider, connection, vault or identity name looks like: 1-64 lower-case letters,
 * digits, `_` or `-`, starting with a letter or digit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NAME_PATTERN } from "./config.ts";
 * assert.ok(NAME_PATTERN.test("work"));
 * assert.ok(!NAME_PATTERN.test("Work"));
 * ```
 */
export const NAME_PATTERN: RegExp = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Checks a connection, vault or provider name: lower-case letters, digits, `_` and `-`,
 * starting with a letter or digit, at most 64 characters.
 *
 * @example
 * ```ts
 * import { checkName } from "./config.ts";
 * checkName("connection", "work"); // ok
 * ```
 */
export function checkName(
  kind: "connection" | "vault" | "provider" | "identity",
  name: string,
): string {
  if (!NAME_PATTERN.test(name)) {
    const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
    throw new AuthsomeError("USAGE", `Invalid ${kind} name ${shown}`, {
      hint: "Use 1-64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
    });
  }
  return name;
}

/**
 * Resolves the settings from explicit options first, then the environment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { envFromRecord, resolveSettings } from "./config.ts";
 * const s = resolveSettings(envFromRecord({ HOME: "/home/ada" }));
 * assert.deepEqual([s.home, s.vault], ["/home/ada/.authsome", "default"]);
 * ```
 */
export function resolveSettings(
  env: EnvSource,
  options: { home?: string | undefined; vault?: string | undefined; store?: string | undefined } =
    {},
): Settings {
  let home = options.home ?? nonEmpty(env.get("AUTHSOME_HOME"));
  if (home === undefined) {
    const userHome = nonEmpty(env.get("HOME"));
    if (userHome === undefined) {
      throw new AuthsomeError("USAGE", "Cannot find the authsome home folder: HOME is not set", {
        hint: "Set AUTHSOME_HOME to a folder authsome may use",
      });
    }
    home = joinPath(userHome, ".authsome");
  }
  const vault = checkName(
    "vault",
    options.vault ?? nonEmpty(env.get("AUTHSOME_VAULT")) ?? "default",
  );
  return {
    home,
    vault,
    masterKey: masterKey(nonEmpty(env.get("AUTHSOME_MASTER_KEY"))),
    passphrase: nonEmpty(env.get("AUTHSOME_PASSPHRASE")),
    lockTimeoutMs: lockTimeout(nonEmpty(env.get("AUTHSOME_LOCK_TIMEOUT"))),
    store: checkStoreUrl(options.store ?? nonEmpty(env.get("AUTHSOME_STORE"))),
  };
}

/**
 * `AUTHSOME_MASTER_KEY`, checked as soon as it is read: a key that is not the base64 of 32 bytes
 * is refused by every command that uses the home (exit 10), before it reads or creates anything,
 * not only by the first one that needs the key.
 */
function masterKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let length = 0;
  try {
    length = fromBase64(value).length;
  } catch {
    // reported below
  }
  if (length !== 32) {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      "AUTHSOME_MASTER_KEY is not the base64 of 32 bytes",
      {
        hint: "Make one with: openssl rand -base64 32",
      },
    );
  }
  return value;
}

/** `AUTHSOME_LOCK_TIMEOUT` (seconds, decimals allowed, 0.1 to 3600) in milliseconds. */
function lockTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds < 0.1 || seconds > 3600) {
    throw new AuthsomeError(
      "USAGE",
      `AUTHSOME_LOCK_TIMEOUT must be a number of seconds from 0.1 to 3600, not ${
        JSON.stringify(value.slice(0, 20))
      }`,
      { hint: "Example: AUTHSOME_LOCK_TIMEOUT=30, or unset it for the defaults (15 s, 60 s)" },
    );
  }
  return Math.round(seconds * 1000);
}

/**
 * Checks a store URL: `postgres://` or `postgresql://`. The value is never repeated in the
 * message, since it may hold a password.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStoreUrl } from "./config.ts";
 * assert.equal(checkStoreUrl("postgres://db/authsome"), "postgres://db/authsome");
 * assert.throws(() => checkStoreUrl("mysql://db/authsome"), /must be a postgres:\/\/ URL/);
 * ```
 */
export function checkStoreUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  let valid = /^postgres(ql)?:\/\//i.test(url);
  if (valid) {
    try {
      new URL(url);
    } catch {
      valid = false;
    }
  }
  if (!valid) {
    throw new AuthsomeError(
      "USAGE",
      "The store must be a postgres:// URL (from --store or AUTHSOME_STORE)",
      {
        hint:
          "Example: postgres://authsome@db.internal:5432/authsome?sslmode=verify-full; unset AUTHSOME_STORE for the embedded store",
      },
    );
  }
  return url;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/**
 * Joins POSIX path segments with `/`. Written here instead of importing `node:path`, whose
 * Node-compat start-up costs about 10 ms on every command (see docs/BENCHMARKS.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinPath } from "./config.ts";
 * assert.equal(joinPath("/home/ada/", ".authsome", "vaults"), "/home/ada/.authsome/vaults");
 * ```
 */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}
