/**
 * `rekey`: a new master key, or a move to another key source. New secrets never come from argv:
 * a new passphrase from `AUTHSOME_NEW_PASSPHRASE` (or typed twice at a terminal), a new env key
 * from `AUTHSOME_NEW_MASTER_KEY`; a new key file is generated.
 *
 * @module
 */
import type { KeySource } from "../mod.ts";
import { usage } from "./args.ts";
import type { CliIO, Command } from "./command.ts";

const NEW_PASSPHRASE = "AUTHSOME_NEW_PASSPHRASE";
const NEW_MASTER_KEY = "AUTHSOME_NEW_MASTER_KEY";
const SOURCES: readonly string[] = ["file", "passphrase", "env"];
/** How each source is named to people. */
const SOURCE_NAMES: Record<KeySource, string> = {
  file: "the key file",
  passphrase: "AUTHSOME_PASSPHRASE",
  env: "AUTHSOME_MASTER_KEY",
};

/** The commands of this group, by name. */
export const REKEY_COMMANDS: Record<string, Command> = {
  rekey: {
    usage: "rekey [--to file|passphrase|env] [--records]",
    summary: "Make a new master key, or move to another key source",
    options: ["to", "records"],
    details: [
      "Every vault's data key is wrapped again with the new master key, in one transaction:",
      "the time does not depend on the number of connections. --records also gives every vault",
      "a new data key and seals every record again. A rekey killed at any moment leaves a home",
      "that opens with exactly one of the two keys; the next command finishes or undoes it.",
      `The new key: a new key file is generated; a new passphrase comes from ${NEW_PASSPHRASE}`,
      `(or is typed twice at a terminal); a new env key from ${NEW_MASTER_KEY} (authsome`,
      "cannot keep it for you). Afterwards it says what to set or unset in your environment.",
    ],
    examples: [
      "authsome rekey",
      `${NEW_PASSPHRASE}=… authsome rekey --to passphrase`,
      `${NEW_MASTER_KEY}="$(openssl rand -base64 32)" authsome rekey --to env --records`,
    ],
    exitCodes: {
      3: "there is no vault yet",
      10: "a vault does not open with the current key",
      64:
        `--to env without ${NEW_MASTER_KEY}; a new passphrase without ${NEW_PASSPHRASE} or a terminal`,
      65: "the new key or passphrase is invalid, or the one in use",
    },
    optionHelp: {
      to: "The key source to move to: {file|passphrase|env} (default: the source in use)",
    },
    args: [0, 0],
    async run({ values, io, out, service }) {
      const to = values.to;
      if (to !== undefined && !SOURCES.includes(to)) {
        throw usage(`Unknown key source "${to}"`, "Use --to file, --to passphrase or --to env");
      }
      const auth = await service();
      const { masterKey, passphrase } = auth.settings;
      const current: KeySource = masterKey !== undefined
        ? "env"
        : passphrase !== undefined
        ? "passphrase"
        : "file";
      const target = (to ?? current) as KeySource;
      const fromEnv: string[] = [];
      let newPassphrase: string | undefined;
      let newMasterKey: string | undefined;
      if (target === "passphrase") {
        newPassphrase = nonEmpty(io.env.get(NEW_PASSPHRASE));
        if (newPassphrase !== undefined) fromEnv.push(NEW_PASSPHRASE);
        else newPassphrase = await typePassphrase(io);
      }
      if (target === "env") {
        newMasterKey = nonEmpty(io.env.get(NEW_MASTER_KEY));
        if (newMasterKey !== undefined) fromEnv.push(NEW_MASTER_KEY);
      }
      const r = await auth.rekey({
        to: target,
        records: values.records,
        newPassphrase,
        newMasterKey,
      });
      const nextSteps = [...r.nextSteps, ...fromEnv.map((name) => `Unset ${name}`)];
      if (out.json) {
        out.doc({
          status: "rekeyed",
          from: r.from,
          to: r.to,
          vaults: r.vaults,
          records_resealed: r.records,
          key_file: r.keyFile ?? null,
          next_steps: nextSteps,
        });
        return 0;
      }
      out.note(
        `Rekeyed ${r.vaults.length} vault(s): the master key now comes from ${SOURCE_NAMES[r.to]}${
          r.from === r.to ? "" : ` (before: ${SOURCE_NAMES[r.from]})`
        }; ${
          values.records
            ? `${r.records} record(s) sealed again under new data keys`
            : "the data keys were wrapped again"
        }. The old key opens nothing now.`,
      );
      for (const step of nextSteps) out.note(`Next: ${step}.`);
      return 0;
    },
  },
};

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** The new passphrase typed twice at a terminal. */
async function typePassphrase(io: CliIO): Promise<string> {
  const first = await io.readMasked("New passphrase: ");
  if (first === undefined) {
    throw usage(
      "rekey to a passphrase needs the new passphrase, and there is no terminal to type it",
      `Set ${NEW_PASSPHRASE}`,
    );
  }
  if (await io.readMasked("Again: ") !== first) {
    throw usage("The two passphrases differ", "Run the command again");
  }
  return first;
}
