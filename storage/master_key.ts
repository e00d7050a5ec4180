/**
 * Where the master key comes from. First found wins: `AUTHSOME_MASTER_KEY`, then a passphrase
 * (`AUTHSOME_PASSPHRASE`, PBKDF2-SHA-256), then the key file `master.key` in the home folder,
 * created on first use.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import {
  deriveFromPassphrase,
  importAesKey,
  MIN_PBKDF2_ITERATIONS,
  randomBytes,
} from "./crypto.ts";
import { createFileExclusive, ensurePrivateDir, readTextIfExists } from "./files.ts";
import { runtime } from "../runtime/runtime.ts";
import { fromBase64, toBase64 } from "../runtime/bytes.ts";

/** The kinds of master-key source. */
export type KeySource = "env" | "passphrase" | "file";

/** A loaded master key. */
export interface MasterKey {
  /** Where it came from. */
  source: KeySource;
  /** The AES-256-GCM key that wraps each vault's data key. */
  key: CryptoKey;
}

/** What the key source will be, without loading or creating anything (for `whoami`). */
export interface KeySourceInfo {
  /** The source that wins with these settings. */
  source: KeySource;
  /** A human description, e.g. `key file /home/ada/.authsome/master.key`. */
  detail: string;
}

/** Inputs of the master-key lookup. */
export interface MasterKeyOptions {
  /** The home folder. */
  home: string;
  /** Base64 key from `AUTHSOME_MASTER_KEY`. */
  masterKey?: string | undefined;
  /** Passphrase from `AUTHSOME_PASSPHRASE`. */
  passphrase?: string | undefined;
}

/** File names under the home folder. */
export const KEY_FILE = "master.key";
/** The PBKDF2 parameters file (salt and iteration count; no secret). */
export const PASSPHRASE_FILE = "passphrase.json";

/**
 * The text of a key file holding the 32-byte key `raw` (the format of {@linkcode KEY_FILE}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyFileText } from "./master_key.ts";
 * const doc = JSON.parse(keyFileText(new Uint8Array(32)));
 * assert.deepEqual([doc.version, doc.algorithm, doc.key.length], [1, "AES-256-GCM", 44]);
 * ```
 */
export function keyFileText(raw: Uint8Array): string {
  return JSON.stringify(
    {
      version: 1,
      algorithm: "AES-256-GCM",
      key: toBase64(raw),
      note:
        "authsome master key: keep this file private and backed up; without it the vaults are lost",
    },
    null,
    2,
  ) + "\n";
}

/**
 * The text of a passphrase parameters file (the format of {@linkcode PASSPHRASE_FILE}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { passphraseParamsText } from "./master_key.ts";
 * const doc = JSON.parse(passphraseParamsText(new Uint8Array(16), 600_000));
 * assert.deepEqual(doc, { version: 1, kdf: "PBKDF2-SHA-256", iterations: 600000, salt: "AAAAAAAAAAAAAAAAAAAAAA==" });
 * ```
 */
export function passphraseParamsText(salt: Uint8Array, iterations: number): string {
  return JSON.stringify(
    { version: 1, kdf: "PBKDF2-SHA-256", iterations, salt: toBase64(salt) },
    null,
    2,
  ) +
    "\n";
}

/** Tells which source {@linkcode loadMasterKey} would use. */
export function describeKeySource(options: MasterKeyOptions): KeySourceInfo {
  if (options.masterKey !== undefined) {
    return { source: "env", detail: "environment variable AUTHSOME_MASTER_KEY" };
  }
  if (options.passphrase !== undefined) {
    return {
      source: "passphrase",
      detail: `passphrase from AUTHSOME_PASSPHRASE (PBKDF2-SHA-256, ${
        joinPath(options.home, PASSPHRASE_FILE)
      })`,
    };
  }
  return { source: "file", detail: `key file ${joinPath(options.home, KEY_FILE)}` };
}

/**
 * Loads the master key from the first source found. With `create`, a missing key file (or
 * passphrase parameters file) is created; without it a missing file is `CREDENTIAL_MISSING`.
 */
export async function loadMasterKey(
  options: MasterKeyOptions,
  { create }: { create: boolean },
): Promise<MasterKey> {
  if (options.masterKey !== undefined) {
    return { source: "env", key: await importAesKey(decodeEnvKey(options.masterKey)) };
  }
  if (options.passphrase !== undefined) {
    const params = await loadPassphraseParams(options.home, create);
    const raw = await deriveFromPassphrase(options.passphrase, params.salt, params.iterations);
    return { source: "passphrase", key: await importAesKey(raw) };
  }
  return { source: "file", key: await importAesKey(await loadKeyFile(options.home, create)) };
}

function decodeEnvKey(value: string): Uint8Array<ArrayBuffer> {
  let raw: Uint8Array<ArrayBuffer> | undefined;
  try {
    raw = fromBase64(value); // skips surrounding whitespace and newlines itself
  } catch {
    // reported below
  }
  if (raw?.length !== 32) {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      "AUTHSOME_MASTER_KEY is not the base64 of 32 bytes",
      { hint: "Make one with: openssl rand -base64 32" },
    );
  }
  return raw;
}

async function loadKeyFile(home: string, create: boolean): Promise<Uint8Array<ArrayBuffer>> {
  const path = joinPath(home, KEY_FILE);
  let text = await readTextIfExists(path);
  if (text === undefined) {
    if (await readTextIfExists(joinPath(home, PASSPHRASE_FILE)) !== undefined) {
      // The home is sealed with a passphrase (e.g. after `rekey --to passphrase`) and the
      // variable is not set. Never start a key file beside it.
      throw new AuthsomeError(
        "VAULT_UNAVAILABLE",
        `The vaults in ${home} are sealed with a passphrase (${PASSPHRASE_FILE}), not the key file`,
        { hint: "Set AUTHSOME_PASSPHRASE to the passphrase" },
      );
    }
    if (!create) {
      throw new AuthsomeError("VAULT_UNAVAILABLE", `The key file ${path} is missing`, {
        hint: "Restore master.key from a backup, or set AUTHSOME_MASTER_KEY",
      });
    }
    await ensurePrivateDir(home);
    // Another process may win the race; read what is there.
    await createFileExclusive(path, keyFileText(randomBytes(32)));
    text = await runtime.readTextFile(path);
  }
  await refuseIfShared(path);
  let raw: Uint8Array<ArrayBuffer> | undefined;
  try {
    const parsed = JSON.parse(text) as { version?: unknown; key?: unknown };
    // A key that is not a base64 string throws here and is reported below.
    if (parsed.version === 1) raw = fromBase64(parsed.key as string);
  } catch {
    // reported below
  }
  if (raw?.length !== 32) {
    throw new AuthsomeError("VAULT_UNAVAILABLE", `The key file ${path} is damaged`, {
      hint: "Restore master.key from a backup; without it the vaults cannot be opened",
    });
  }
  return raw;
}

async function refuseIfShared(path: string): Promise<void> {
  const info = await runtime.stat(path);
  // Stryker disable next-line ConditionalExpression: equivalent on Linux, where mode is never null.
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8);
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `Refusing to use ${path}: it is readable by other users (mode ${mode})`,
      { hint: `Run: chmod 600 ${path}` },
    );
  }
}

interface PassphraseParams {
  salt: Uint8Array<ArrayBuffer>;
  iterations: number;
}

async function loadPassphraseParams(home: string, create: boolean): Promise<PassphraseParams> {
  const path = joinPath(home, PASSPHRASE_FILE);
  let text = await readTextIfExists(path);
  if (text === undefined) {
    if (await readTextIfExists(joinPath(home, KEY_FILE)) !== undefined) {
      // The home was sealed with its key file; the passphrase was set by mistake. Never start a
      // second key source beside it (its vaults would not open with the new key).
      throw new AuthsomeError(
        "VAULT_UNAVAILABLE",
        `The vaults in ${home} are sealed with the key file ${KEY_FILE}, not a passphrase`,
        { hint: "Unset AUTHSOME_PASSPHRASE to use the key file" },
      );
    }
    if (!create) {
      throw new AuthsomeError(
        "VAULT_UNAVAILABLE",
        `The passphrase parameters ${path} are missing`,
        {
          hint: `Restore ${PASSPHRASE_FILE} from a backup (it holds the salt and iteration count)`,
        },
      );
    }
    await ensurePrivateDir(home);
    await createFileExclusive(path, passphraseParamsText(randomBytes(16), MIN_PBKDF2_ITERATIONS));
    text = await runtime.readTextFile(path);
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; iterations?: unknown; salt?: unknown };
    const iterations = parsed.iterations as number;
    if (
      parsed.version === 1 && Number.isInteger(iterations) && iterations >= MIN_PBKDF2_ITERATIONS
    ) {
      // A salt that is not a base64 string throws here and is reported below.
      const salt = fromBase64(parsed.salt as string);
      if (salt.length >= 16) return { salt, iterations };
    }
  } catch {
    // reported below
  }
  throw new AuthsomeError("VAULT_UNAVAILABLE", `The passphrase parameters in ${path} are invalid`, {
    hint: `Restore ${PASSPHRASE_FILE} from a backup (it holds the salt and iteration count)`,
  });
}
