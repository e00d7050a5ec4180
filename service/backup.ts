/**
 * `backup` and `restore`: every vault of the home (and the user's provider files) in one
 * self-contained file, sealed as a whole with AES-256-GCM under the master key or, with a
 * passphrase, under a PBKDF2-SHA-256 key (600,000 iterations, 16-byte salt). Nothing in the file
 * is readable without the key, not even provider or connection names; a flipped byte anywhere
 * fails the one authentication check before anything is written. The format is in
 * docs/STORAGE.md.
 *
 * @module
 */
import { joinPath } from "../config.ts";
import { AuthsomeError } from "../errors.ts";
import { fromBase64, toBase64 } from "../runtime/bytes.ts";
import { runtime } from "../runtime/runtime.ts";
import {
  deriveFromPassphrase,
  importAesKey,
  MIN_PBKDF2_ITERATIONS,
  openSealed,
  randomBytes,
  seal,
} from "../storage/crypto.ts";
import { ensurePrivateDir, readTextIfExists, writeFileAtomic } from "../storage/files.ts";
import { listHomeVaults } from "../storage/home.ts";
import { INDEX_PREFIX } from "../storage/vault.ts";
import { audited, type ServiceContext, vaultNamed } from "./context.ts";
import { refuseChangeAsIdentity } from "./identities.ts";

/** The `format` field of a backup file. */
export const BACKUP_FORMAT = "authsome-backup";
/** The version of the format this code writes and reads. */
export const BACKUP_VERSION = 1;
const AAD = "authsome/backup/v1";

/** The outer, readable part of a backup file; `payload` is the sealed content. */
export interface BackupFile {
  /** Always `authsome-backup`. */
  format: "authsome-backup";
  /** The format version (1). */
  version: number;
  /** When it was written (ISO-8601 UTC). */
  created_at: string;
  /** What the payload is sealed with. */
  protection: BackupProtection;
  /** The content, sealed with AES-256-GCM (associated data `authsome/backup/v1`): base64. */
  payload: { nonce: string; ciphertext: string };
}

/** The key of a backup: the home's master key, or a passphrase with its PBKDF2 parameters. */
export type BackupProtection =
  | { kind: "master-key"; key_source: string }
  | { kind: "passphrase"; kdf: "PBKDF2-SHA-256"; iterations: number; salt: string };

/** The sealed content: every record of every vault, and the user provider files. */
interface BackupContent {
  vaults: Record<string, Record<string, unknown>>;
  providers: Record<string, string>;
}

/** What a backup holds, counted (no names of secrets, no values). */
export interface BackupSummary {
  /** The file written or read. */
  file: string;
  /** Per vault: how many records (connections, clients, defaults, identities). */
  vaults: Record<string, number>;
  /** How many user provider files. */
  providers: number;
  /** `master-key` or `passphrase`. */
  protection: "master-key" | "passphrase";
}

/** What `restore` did. */
export interface RestoreResult extends BackupSummary {
  /** Records written, per vault. */
  restored: Record<string, number>;
  /** With `merge`: records (or provider files) kept because the home holds another value. */
  conflicts: string[];
}

/**
 * Writes a backup of every vault of the home to `file` (0600; an existing file is refused
 * unless `force`). With `passphrase` the file opens without this home's master key.
 *
 * @example
 * ```ts ignore
 * await backupHome(ctx, { file: "/safe/authsome.backup", passphrase: "correct horse" });
 * ```
 */
export async function backupHome(
  ctx: ServiceContext,
  options: { file: string; passphrase?: string | undefined; force?: boolean | undefined },
): Promise<BackupSummary> {
  refuseChangeAsIdentity(ctx);
  return await audited(ctx, "backup", { detail: { file: options.file } }, async () => {
    if (!options.force && await readTextIfExists(options.file) !== undefined) {
      throw new AuthsomeError("CONNECTION_EXISTS", `${options.file} exists already`, {
        hint: "Choose another file, or add --force to replace it",
      });
    }
    const content: BackupContent = { vaults: {}, providers: {} };
    for (const name of await listHomeVaults(ctx.settings.home, ctx.store)) {
      const vault = vaultNamed(ctx, name);
      const records: Record<string, unknown> = {};
      for (const key of await vault.keys()) {
        if (!key.startsWith(INDEX_PREFIX)) records[key] = await vault.get(key);
      }
      content.vaults[name] = records;
    }
    content.providers = await readProviderFiles(ctx);
    const { key, protection } = options.passphrase === undefined
      ? {
        key: (await ctx.masterKey(false)).key,
        protection: {
          kind: "master-key",
          key_source: (await ctx.masterKey(false)).source,
        } as const,
      }
      : await passphraseKey(options.passphrase);
    const payload = await seal(key, new TextEncoder().encode(JSON.stringify(content)), AAD);
    const doc: BackupFile = {
      format: BACKUP_FORMAT,
      version: BACKUP_VERSION,
      created_at: ctx.now().toISOString(),
      protection,
      payload,
    };
    await writeFileAtomic(options.file, JSON.stringify(doc, null, 2) + "\n");
    return summarize(options.file, content, protection.kind);
  });
}

/**
 * Restores a backup. The whole file is opened and checked before anything is written. By
 * default every vault of the backup must be absent (or empty) in the home; with `merge`,
 * existing records are kept and each differing one is reported as a conflict.
 *
 * @example
 * ```ts ignore
 * await restoreHome(ctx, { file: "/safe/authsome.backup", passphrase: "correct horse" });
 * ```
 */
export async function restoreHome(
  ctx: ServiceContext,
  options: { file: string; passphrase?: string | undefined; merge?: boolean | undefined },
): Promise<RestoreResult> {
  refuseChangeAsIdentity(ctx);
  return await audited(ctx, "restore", { detail: { file: options.file } }, async () => {
    const content = await openBackup(ctx, options.file, options.passphrase);
    const kind = options.passphrase === undefined ? "master-key" : "passphrase";
    const conflicts: string[] = [];
    if (!options.merge) {
      const taken = [];
      for (const name of Object.keys(content.vaults)) {
        if ((await vaultNamed(ctx, name).keys()).some((k) => !k.startsWith(INDEX_PREFIX))) {
          taken.push(name);
        }
      }
      if (taken.length > 0) {
        throw new AuthsomeError(
          "CONNECTION_EXISTS",
          `The home already holds the vault${taken.length > 1 ? "s" : ""} ${taken.join(", ")}`,
          { hint: "Restore into an empty home, or add --merge to keep what is there" },
        );
      }
    }
    const restored: Record<string, number> = {};
    for (const [name, records] of Object.entries(content.vaults)) {
      restored[name] = await vaultNamed(ctx, name).update(async (tx) => {
        let written = 0;
        for (const [key, value] of Object.entries(records)) {
          const existing = await tx.get(key);
          if (existing !== undefined) {
            if (JSON.stringify(existing) !== JSON.stringify(value)) {
              conflicts.push(`${name}/${key}`);
            }
            continue;
          }
          tx.set(key, value);
          written++;
        }
        return written;
      });
    }
    const dir = joinPath(ctx.settings.home, "providers");
    for (const [name, text] of Object.entries(content.providers)) {
      const path = joinPath(dir, `${name}.json`);
      const existing = await readTextIfExists(path);
      if (existing !== undefined) {
        if (existing !== text) conflicts.push(`providers/${name}.json`);
        continue;
      }
      await ensurePrivateDir(dir);
      await writeFileAtomic(path, text);
    }
    return { ...summarize(options.file, content, kind), restored, conflicts };
  });
}

/** Opens and checks a backup file; every failure is one line with exit 10 or 64. */
async function openBackup(
  ctx: ServiceContext,
  file: string,
  passphrase: string | undefined,
): Promise<BackupContent> {
  const text = await readTextIfExists(file);
  if (text === undefined) {
    throw new AuthsomeError("USAGE", `No file ${file}`, {
      hint: "Name the backup file to restore",
    });
  }
  const damaged = (why: string) =>
    new AuthsomeError("VAULT_UNAVAILABLE", `${file} is not a usable authsome backup: ${why}`, {
      hint: "Use another copy of the backup; nothing was changed",
    });
  let doc: BackupFile;
  try {
    doc = JSON.parse(text);
  } catch {
    throw damaged("it is not JSON");
  }
  if (doc?.format !== BACKUP_FORMAT) throw damaged("it has no authsome backup header");
  if (doc.version !== BACKUP_VERSION) {
    throw damaged(`it is version ${doc.version}, this authsome reads version ${BACKUP_VERSION}`);
  }
  let key: CryptoKey;
  if (doc.protection?.kind === "passphrase") {
    if (passphrase === undefined) {
      throw new AuthsomeError("USAGE", `${file} is protected by a backup passphrase`, {
        hint: "Give it with --passphrase (AUTHSOME_BACKUP_PASSPHRASE, or typed at a terminal)",
      });
    }
    const { iterations, salt } = doc.protection;
    if (!Number.isInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS) {
      throw damaged("its key parameters are invalid");
    }
    let saltBytes: Uint8Array<ArrayBuffer>;
    try {
      saltBytes = fromBase64(salt);
    } catch {
      throw damaged("its key parameters are invalid");
    }
    key = await importAesKey(await deriveFromPassphrase(passphrase, saltBytes, iterations));
  } else if (doc.protection?.kind === "master-key") {
    key = (await ctx.masterKey(false)).key;
  } else {
    throw damaged("its protection is unknown");
  }
  let plain: Uint8Array;
  try {
    plain = await openSealed(key, doc.payload, AAD, "the backup");
  } catch {
    throw new AuthsomeError(
      "VAULT_UNAVAILABLE",
      `Cannot open ${file}: it was changed, or the ${
        doc.protection.kind === "passphrase" ? "passphrase" : "master key"
      } is not the one it was made with`,
      {
        hint: doc.protection.kind === "passphrase"
          ? "Check the passphrase; nothing was changed"
          : "Use the master key of the home that made it (see authsome whoami); nothing was changed",
      },
    );
  }
  const content = JSON.parse(new TextDecoder().decode(plain)) as BackupContent;
  return content;
}

async function passphraseKey(passphrase: string): Promise<
  { key: CryptoKey; protection: BackupProtection }
> {
  if (passphrase.length < 8) {
    throw new AuthsomeError("INVALID_INPUT", "The backup passphrase is shorter than 8 characters", {
      hint: "Choose a longer passphrase",
    });
  }
  const salt = randomBytes(16);
  const iterations = MIN_PBKDF2_ITERATIONS;
  return {
    key: await importAesKey(await deriveFromPassphrase(passphrase, salt, iterations)),
    protection: { kind: "passphrase", kdf: "PBKDF2-SHA-256", iterations, salt: toBase64(salt) },
  };
}

async function readProviderFiles(ctx: ServiceContext): Promise<Record<string, string>> {
  const dir = joinPath(ctx.settings.home, "providers");
  const out: Record<string, string> = {};
  let entries: Array<{ name: string; isFile: boolean }>;
  try {
    entries = await runtime.readDir(dir);
  } catch (error) {
    if (runtime.failure(error) === "not-found") return out;
    throw error;
  }
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    out[e.name.slice(0, -5)] = await runtime.readTextFile(joinPath(dir, e.name));
  }
  return out;
}

function summarize(
  file: string,
  content: BackupContent,
  protection: "master-key" | "passphrase",
): BackupSummary {
  return {
    file,
    vaults: Object.fromEntries(
      Object.entries(content.vaults).map(([name, records]) => [name, Object.keys(records).length]),
    ),
    providers: Object.keys(content.providers).length,
    protection,
  };
}
