/**
 * `backup` and `restore`: every vault of the home in one sealed file, and back.
 *
 * @module
 */
import { usage } from "./args.ts";
import type { CliIO, Command } from "./command.ts";
import { watchKeyFile } from "./key_notice.ts";

/** Where a backup passphrase comes from: never an argument. */
const PASSPHRASE_VAR = "AUTHSOME_BACKUP_PASSPHRASE";

/** The commands of this group, by name. */
export const BACKUP_COMMANDS: Record<string, Command> = {
  backup: {
    usage: "backup FILE [--passphrase] [--force]",
    summary: "Write every vault and your provider files to one sealed file",
    options: ["passphrase", "force"],
    details: [
      "The file is sealed as a whole (AES-256-GCM): with the master key by default (restore it",
      "with the same key), or with --passphrase by a backup passphrase (PBKDF2-SHA-256, 600,000",
      `iterations), taken from ${PASSPHRASE_VAR} or typed twice at a terminal; such a file`,
      "restores on any machine. Nothing in it is readable without the key.",
    ],
    examples: [
      "authsome backup ~/safe/authsome.backup",
      `${PASSPHRASE_VAR}=… authsome backup /mnt/usb/authsome.backup --passphrase`,
    ],
    exitCodes: {
      6: "FILE exists (add --force)",
      10: "a vault cannot be opened with the current key",
      64: "--passphrase without the variable and without a terminal",
    },
    args: [1, 1],
    async run({ values, args, io, out, service }) {
      const passphrase = values.passphrase ? await askPassphrase(io, true) : undefined;
      const r = await (await service()).backup({ file: args[0]!, passphrase, force: values.force });
      if (out.json) out.doc({ status: "written", ...r });
      else {
        const total = Object.values(r.vaults).reduce((a, b) => a + b, 0);
        out.note(
          `Wrote ${r.file}: ${Object.keys(r.vaults).length} vault(s), ${total} record(s), ` +
            `${r.providers} provider file(s), sealed with ${
              r.protection === "passphrase" ? "the backup passphrase" : "the master key"
            }.`,
        );
      }
      return 0;
    },
  },
  restore: {
    usage: "restore FILE [--into-empty | --merge] [--passphrase]",
    summary: "Restore a backup: into empty vaults, or beside what is there with --merge",
    options: ["into-empty", "merge", "passphrase"],
    details: [
      "The whole file is opened and checked before anything is written: a damaged or changed",
      "file, or the wrong key, changes nothing (exit 10). By default (--into-empty) every vault",
      "in the backup must be empty here; --merge keeps what is here and lists what differs.",
      `A passphrase-protected file needs --passphrase (${PASSPHRASE_VAR}, or typed).`,
    ],
    examples: [
      "authsome restore ~/safe/authsome.backup",
      "authsome restore /mnt/usb/authsome.backup --passphrase --merge",
    ],
    exitCodes: {
      6: "a vault of the backup is not empty here (add --merge)",
      10: "the file is damaged or changed, or the key is not the one it was made with",
      64: "no such file; --merge with --into-empty",
    },
    args: [1, 1],
    async run({ values, args, io, out, service }) {
      if (values.merge && values["into-empty"]) {
        throw usage("--merge and --into-empty exclude each other", "Choose one");
      }
      const passphrase = values.passphrase ? await askPassphrase(io, false) : undefined;
      const auth = await service();
      const announceKeyFile = await watchKeyFile(auth);
      const r = await auth.restore({
        file: args[0]!,
        passphrase,
        merge: values.merge,
      });
      if (out.json) out.doc({ status: "restored", ...r });
      else {
        for (const [vault, n] of Object.entries(r.restored)) {
          out.note(`Restored ${n} of ${r.vaults[vault]} record(s) into vault "${vault}".`);
        }
        for (const c of r.conflicts) out.note(`Kept ${c}: the home holds another value.`);
      }
      await announceKeyFile(out);
      return 0;
    },
  },
};

/** The backup passphrase from its variable, else typed at a terminal (twice to make one). */
async function askPassphrase(io: CliIO, twice: boolean): Promise<string> {
  const fromEnv = io.env.get(PASSPHRASE_VAR);
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const first = await io.readMasked("Backup passphrase: ");
  if (first === undefined) {
    throw usage(
      "--passphrase needs the passphrase, and there is no terminal to type it",
      `Set ${PASSPHRASE_VAR}`,
    );
  }
  if (twice && await io.readMasked("Again: ") !== first) {
    throw usage("The two passphrases differ", "Run the command again");
  }
  return first;
}
