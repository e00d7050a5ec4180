/**
 * `rekey`: a new master key from the same source, or a move to another source (key file,
 * passphrase, `AUTHSOME_MASTER_KEY`). Without `records` only the wrapped data keys are rewritten
 * (one transaction for every vault, whatever the number of connections); with it every vault
 * also gets a new data key and every record is sealed again. The crash safety is in
 * storage/rekey.ts and docs/STORAGE.md.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { fromBase64 } from "../runtime/bytes.ts";
import {
  deriveFromPassphrase,
  importAesKey,
  MIN_PBKDF2_ITERATIONS,
  randomBytes,
} from "../storage/crypto.ts";
import { listHomeVaults } from "../storage/home.ts";
import {
  describeKeySource,
  KEY_FILE,
  keyFileText,
  type KeySource,
  type MasterKey,
  PASSPHRASE_FILE,
  passphraseParamsText,
} from "../storage/master_key.ts";
import {
  finishRekey,
  type PendingRekey,
  REKEY_LOCK,
  rekeyStore,
  settleLocked,
  writePendingRekey,
} from "../storage/rekey.ts";
import { audited, type ServiceContext, vaultNamed } from "./context.ts";
import { refuseChangeAsIdentity } from "./identities.ts";

/** The key sources `rekey --to` takes. */
export const KEY_SOURCES: readonly KeySource[] = ["file", "passphrase", "env"];

/** Options of {@linkcode rekeyHome}. */
export interface RekeyOptions {
  /** The new source; default: the one in use. */
  to?: KeySource | undefined;
  /** Also a new data key per vault, every record sealed again. */
  records?: boolean | undefined;
  /** The new passphrase (for `to: "passphrase"`), at least 8 characters. */
  newPassphrase?: string | undefined;
  /** The new key, base64 of 32 bytes (for `to: "env"`); authsome cannot keep it for the user. */
  newMasterKey?: string | undefined;
}

/** What a rekey did, and what the user must change now. */
export interface RekeyResult {
  /** The source before. */
  from: KeySource;
  /** The source now. */
  to: KeySource;
  /** The vaults rekeyed. */
  vaults: string[];
  /** Records sealed again under new data keys (0 without `records`). */
  records: number;
  /** The new key file, when the new source is the key file. */
  keyFile?: string | undefined;
  /** What to change in the environment, e.g. `Unset AUTHSOME_PASSPHRASE`. */
  nextSteps: string[];
}

/** The new master key, and the file that will keep it (none for `env`). */
interface NewKey {
  master: MasterKey;
  write?: { file: string; text: string } | undefined;
}

/**
 * Changes the master key of every vault of the home. Refused, before anything is written, when
 * the new key could not be kept (no new passphrase, no new env key) or a vault does not open
 * with the current key.
 *
 * @example
 * ```ts ignore
 * const r = await rekeyHome(ctx, { to: "passphrase", newPassphrase: "correct horse battery" });
 * console.log(r.nextSteps); // ["Set AUTHSOME_PASSPHRASE to the new passphrase"]
 * ```
 */
export async function rekeyHome(ctx: ServiceContext, options: RekeyOptions): Promise<RekeyResult> {
  refuseChangeAsIdentity(ctx);
  const from = describeKeySource(ctx.keyOptions).source;
  const to = options.to ?? from;
  const detail = { from, to, records: options.records === true };
  return await audited(ctx, "rekey", { detail }, async () => {
    const next = await newKey(ctx, from, to, options);
    const home = ctx.settings.home;
    return await ctx.store.withLock(REKEY_LOCK, async () => {
      await settleLocked(home, ctx.store);
      const vaults = await listHomeVaults(home, ctx.store);
      if (vaults.length === 0) {
        throw new AuthsomeError("VAULT_NOT_FOUND", `There is no vault to rekey in ${home}`, {
          hint:
            "The first login creates the master key from the source in use (see authsome whoami)",
        });
      }
      // Opening each vault moves a version-1 vault file into the store first.
      for (const name of vaults) await vaultNamed(ctx, name).exists();
      const current = await ctx.masterKey(false);
      const base = {
        version: 1 as const,
        from,
        to,
        write: next.write,
        remove: removedFiles(from, to),
      };
      let pending: PendingRekey | undefined;
      let records: number;
      try {
        records = await rekeyStore(ctx.store, {
          vaults,
          from: current,
          to: next.master,
          records: options.records === true,
          beforeCommit: async (commit) => {
            pending = { ...base, commit };
            await writePendingRekey(home, pending);
          },
        });
      } catch (error) {
        // Nothing committed: the side file, if written, is stale.
        await settleLocked(home, ctx.store).catch(() => {});
        throw error;
      }
      await finishRekey(home, pending!);
      return {
        from,
        to,
        vaults,
        records,
        keyFile: to === "file" ? joinPath(home, KEY_FILE) : undefined,
        nextSteps: nextSteps(ctx, to),
      };
    }, ctx.lockWait("changing the master key"));
  });
}

/** Makes (or checks) the new key; every refusal comes before anything is locked or written. */
async function newKey(
  ctx: ServiceContext,
  from: KeySource,
  to: KeySource,
  options: RekeyOptions,
): Promise<NewKey> {
  if (to === "file") {
    const raw = randomBytes(32);
    return {
      master: { source: "file", key: await importAesKey(raw) },
      write: { file: KEY_FILE, text: keyFileText(raw) },
    };
  }
  if (to === "passphrase") {
    const passphrase = options.newPassphrase;
    if (passphrase === undefined) {
      throw new AuthsomeError("USAGE", "rekey to a passphrase needs the new passphrase", {
        hint: "Set AUTHSOME_NEW_PASSPHRASE, or run it at a terminal to type it",
      });
    }
    if (passphrase.length < 8) {
      throw new AuthsomeError("INVALID_INPUT", "The new passphrase is shorter than 8 characters", {
        hint: "Choose a longer passphrase",
      });
    }
    if (from === "passphrase" && passphrase === ctx.settings.passphrase) {
      throw new AuthsomeError("INVALID_INPUT", "The new passphrase is the one in use", {
        hint: "Choose another passphrase",
      });
    }
    const salt = randomBytes(16);
    const raw = await deriveFromPassphrase(passphrase, salt, MIN_PBKDF2_ITERATIONS);
    return {
      master: { source: "passphrase", key: await importAesKey(raw) },
      write: { file: PASSPHRASE_FILE, text: passphraseParamsText(salt, MIN_PBKDF2_ITERATIONS) },
    };
  }
  if (options.newMasterKey === undefined) {
    throw new AuthsomeError(
      "USAGE",
      "rekey to a key in AUTHSOME_MASTER_KEY needs the new key in AUTHSOME_NEW_MASTER_KEY: authsome cannot keep a key in your environment",
      {
        hint:
          'Run: export AUTHSOME_NEW_MASTER_KEY="$(openssl rand -base64 32)"; then rekey, then set AUTHSOME_MASTER_KEY to it',
      },
    );
  }
  const raw = decodeKey(options.newMasterKey);
  if (from === "env" && sameBytes(raw, ctx.settings.masterKey)) {
    throw new AuthsomeError("INVALID_INPUT", "AUTHSOME_NEW_MASTER_KEY is the key in use", {
      hint: "Make a new one with: openssl rand -base64 32",
    });
  }
  return { master: { source: "env", key: await importAesKey(raw) } };
}

function decodeKey(value: string): Uint8Array<ArrayBuffer> {
  let raw: Uint8Array<ArrayBuffer> | undefined;
  try {
    raw = fromBase64(value);
  } catch {
    // reported below
  }
  if (raw?.length !== 32) {
    throw new AuthsomeError(
      "INVALID_INPUT",
      "AUTHSOME_NEW_MASTER_KEY is not the base64 of 32 bytes",
      {
        hint: "Make one with: openssl rand -base64 32",
      },
    );
  }
  return raw;
}

/** Whether `base64` (the key in use) decodes to the bytes `raw`. */
function sameBytes(raw: Uint8Array, base64: string | undefined): boolean {
  let other: Uint8Array;
  try {
    other = fromBase64(base64 ?? "");
  } catch {
    return false;
  }
  return raw.length === other.length && raw.every((byte, i) => byte === other[i]);
}

/** The files of the old source that go once the new key is in place. */
function removedFiles(from: KeySource, to: KeySource): string[] {
  if (from === to) return [];
  return from === "file" ? [KEY_FILE] : from === "passphrase" ? [PASSPHRASE_FILE] : [];
}

/** What the user must change so that the next command finds the new key. */
function nextSteps(ctx: ServiceContext, to: KeySource): string[] {
  const steps: string[] = [];
  const { masterKey, passphrase } = ctx.settings;
  if (to === "env") {
    steps.push("Set AUTHSOME_MASTER_KEY to the value of AUTHSOME_NEW_MASTER_KEY");
  } else if (masterKey !== undefined) steps.push("Unset AUTHSOME_MASTER_KEY");
  if (to === "passphrase") steps.push("Set AUTHSOME_PASSPHRASE to the new passphrase");
  else if (passphrase !== undefined) steps.push("Unset AUTHSOME_PASSPHRASE");
  if (to === "file") {
    steps.push(
      `Back up the new key file ${
        joinPath(ctx.settings.home, KEY_FILE)
      }: copies of the old one open nothing now`,
    );
  }
  return steps;
}
